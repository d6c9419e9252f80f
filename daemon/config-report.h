/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What is wrong with a configuration file, as a list of messages that each
 * point at a line ("file:line: message"). The parser and the environment
 * checks fill a report; the daemon logs it, `--check-config` prints it the
 * way compilers do (editors jump to the line), and a failed reload hands
 * its first errors back to the client that asked.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct cb_config_message {
        bool warning; /* false: an error, and the configuration is refused */
        unsigned line; /* 0: about the file as a whole */
        char *text;
};

struct cb_config_report {
        char *path; /* the file the lines are in */
        struct cb_config_message *messages;
        size_t n_messages;
        unsigned n_errors, n_warnings;
};

/* Starts an empty report about `path`. Returns 0 or -ENOMEM. */
int cb_config_report_init(struct cb_config_report *r, const char *path);
void cb_config_report_done(struct cb_config_report *r);

/* Adds one message. Returns 0 or -ENOMEM (the message is then lost, the count is still kept). */
int cb_config_report_add(struct cb_config_report *r, bool warning, unsigned line, const char *format, ...)
        __attribute__((format(printf, 4, 5)));

/* "path:line: message", "path:line: warning: message", "path: message": into buf, which is returned. */
char *cb_config_message_format(const struct cb_config_report *r, const struct cb_config_message *m, char *buf,
                               size_t size);
/* Every message, one a line, as above. */
void cb_config_report_print(const struct cb_config_report *r, FILE *f);
/* Every message into the log, errors as errors and warnings as warnings. */
void cb_config_report_log(const struct cb_config_report *r);

/*
 * The known word nearest to `word` (a misspelling: another case, or at most
 * two letters added, dropped, changed or swapped), or NULL. For "did you
 * mean ...?".
 */
const char *cb_config_suggest(const char *word, const char *const *known, size_t n_known);
