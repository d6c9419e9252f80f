/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <syslog.h>

/*
 * Structured logging. In the journal every line carries the node's fields
 * (CLUSTERBOOT_NODE=, _PORT=, _STATE=, _ATTEMPT=, and _SERIAL= once the
 * board showed one; a board's properties add _PROPERTY= and
 * _PROPERTY_VALUE=) so that
 * `journalctl -u clusterboot CLUSTERBOOT_NODE=node3` shows one node's story.
 * On a terminal (or when stderr is not the journal) lines go to stderr with a
 * monotonic timestamp, which the tests read.
 */

enum cb_log_target {
        CB_LOG_AUTO,    /* journal when stderr is connected to it, else stderr */
        CB_LOG_JOURNAL,
        CB_LOG_STDERR,
};

/* The fields that identify a node in a log line; every member may be NULL/0. */
struct cb_log_node {
        const char *name;
        const char *port;
        const char *state;
        unsigned attempt;
        const char *serial;         /* CLUSTERBOOT_SERIAL=: the board's SoC serial, if it showed one */
        const char *property;       /* CLUSTERBOOT_PROPERTY=: a "*KEY*VALUE" the board sent: its KEY */
        const char *property_value; /* CLUSTERBOOT_PROPERTY_VALUE=: and its VALUE (escaped) */
};

/* MESSAGE_IDs for events a monitoring system wants to match on. */
#define CB_MESSAGE_NODE_UP "8d1f3c6a2b7e4e0f9a51c2d47b3e9f10"
#define CB_MESSAGE_NODE_FAILED "3a9b7c1e5d2f4a86b0e4d7c92f1a6b55"
/* The board is stuck and only a power cut helps: replug it, or configure Power=. */
#define CB_MESSAGE_NODE_NEEDS_POWER "33b8c8e6297d4e2fb35737bee2c05ca4"

void cb_log_open(enum cb_log_target target);
void cb_log_set_max_level(int priority);
/* Would a line of this priority be written? (So that lines never shown do not use up a rate limit.) */
bool cb_log_enabled(int priority);

/* Returns -error (if error > 0) or 0, so callers can `return log_...(r, ...)`. */
int cb_log_full(int priority, int error, const struct cb_log_node *node, const char *message_id,
                const char *file, int line, const char *format, ...) __attribute__((format(printf, 7, 8)));

#define cb_log(prio, err, node, ...) cb_log_full((prio), (err), (node), NULL, __FILE__, __LINE__, __VA_ARGS__)

#define log_debug(...) cb_log(LOG_DEBUG, 0, NULL, __VA_ARGS__)
#define log_info(...) cb_log(LOG_INFO, 0, NULL, __VA_ARGS__)
#define log_notice(...) cb_log(LOG_NOTICE, 0, NULL, __VA_ARGS__)
#define log_warning(...) cb_log(LOG_WARNING, 0, NULL, __VA_ARGS__)
#define log_error(...) cb_log(LOG_ERR, 0, NULL, __VA_ARGS__)
/* With an errno: the message gets ": <strerror>" appended and the call returns -|err|. */
#define log_error_errno(err, ...) cb_log(LOG_ERR, (err), NULL, __VA_ARGS__)
#define log_warning_errno(err, ...) cb_log(LOG_WARNING, (err), NULL, __VA_ARGS__)
