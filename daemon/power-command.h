/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The `command` power backend: a node is switched by running the configured
 * PowerOnCommand= / PowerOffCommand=, e.g. `clusterctrl on p3`.
 *
 * Command line syntax (no shell is involved unless the user runs one, as in
 * `PowerOnCommand=/bin/sh -c "relay on 3 && sleep 1"`):
 *
 *  - Words are separated by unquoted blanks (space, tab, newline, CR, VT, FF).
 *  - Outside quotes, a backslash takes the next character literally
 *    (`a\ b` is one word "a b"); a backslash at the end is an error.
 *  - 'Single quotes' take everything up to the next single quote literally,
 *    backslashes included.
 *  - "Double quotes" take everything up to the next unescaped double quote
 *    literally, except that \" and \\ stand for " and \ (a backslash before
 *    any other character is kept as it is).
 *  - Quoted and unquoted parts next to each other form one word (`x"a b"y` is
 *    "xa by"); '' or "" alone is an empty word. An unbalanced quote is an
 *    error.
 *  - Specifiers are expanded in every word after quotes and escapes are
 *    removed, so a '%' is always a specifier, even when quoted: %n is the
 *    node name, %p its port, %% a percent sign; anything else after '%' is an
 *    error. A substituted value is never split or unquoted again.
 *  - The first word (the program) must be an absolute path or a bare name
 *    (no '/') looked up in the daemon's PATH. An empty command is an error.
 *  - '#', ';', '|', '$', '*', '>' have no special meaning.
 *
 * Running: the program gets its own process group, stdin from /dev/null,
 * stdout and stderr logged line by line to the journal with the node's
 * fields, and the daemon's environment plus CLUSTERBOOT_NODE=,
 * CLUSTERBOOT_PORT= and CLUSTERBOOT_POWER=on|off. Exit status 0 is success.
 * When the program exits (or is killed), whatever it left behind in its
 * process group is killed too: a left-over process would keep the output
 * pipe open and escape the timeout. After the timeout the group gets SIGTERM,
 * then SIGKILL once the kill grace has passed.
 */

#include <systemd/sd-event.h>

#include "power.h"
#include "util.h"

/* Used when the settings' timeout is 0. */
#define CB_POWER_COMMAND_TIMEOUT_DEFAULT (30 * USEC_PER_SEC)
/* Between SIGTERM and SIGKILL after a timeout; used when the settings' kill_grace is 0. */
#define CB_POWER_COMMAND_KILL_GRACE_DEFAULT (2 * USEC_PER_SEC)

struct cb_power_command_settings {
        const char *node_name;   /* for the journal fields and %n, $CLUSTERBOOT_NODE */
        const char *port;        /* %p, $CLUSTERBOOT_PORT */
        const char *on_command;  /* PowerOnCommand= text */
        const char *off_command; /* PowerOffCommand= text */
        usec_t timeout;          /* PowerCommandTimeoutSec=; 0 = CB_POWER_COMMAND_TIMEOUT_DEFAULT, USEC_INFINITY = none */
        usec_t kill_grace;       /* 0 = CB_POWER_COMMAND_KILL_GRACE_DEFAULT; the tests shorten it */
};

/*
 * Creates the backend. All settings but the timeouts are required; the
 * strings are copied. Returns -EINVAL if a command does not parse (the
 * configuration has already checked them with cb_command_split()).
 */
int cb_power_command_new(sd_event *event, const struct cb_power_command_settings *s, struct cb_power **ret);

/*
 * Splits a command line into a NULL-terminated argv (free it with
 * cb_strv_free()), following the rules above, for config validation and for
 * running. Specifiers are checked but left in place (they are expanded when
 * the backend is created). On a syntax error returns -EINVAL and sets *error
 * to a static message, e.g. "unbalanced double quote"; -ENOMEM otherwise.
 * `ret_argv` may be NULL to only check the syntax.
 */
int cb_command_split(const char *text, char ***ret_argv, const char **error);

char **cb_strv_free(char **v);
static inline void cb_strv_freep(char ***v) {
        cb_strv_free(*v);
}
