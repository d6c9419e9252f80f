/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A node's story from the journal: the entries the daemon logged with the
 * node's fields (CLUSTERBOOT_NODE=, and CLUSTERBOOT_PORT= so that a node
 * renamed in the configuration keeps its past), read with sd-journal.
 */

#include <stdbool.h>
#include <stdio.h>

struct journal_query {
        const char *name;      /* CLUSTERBOOT_NODE= */
        const char *port;      /* CLUSTERBOOT_PORT=; may be NULL */
        const char *directory; /* journal files there instead of the system's (-D); may be NULL */
        unsigned lines;        /* the last N entries; 0: all */
        bool follow;           /* then wait for more, until interrupted or the reader of f goes */
        bool colours;          /* errors red, warnings yellow */
        const char *heading;   /* printed before the first entry, if any; may be NULL */
};

/*
 * Prints the entries, one a line: local time with milliseconds, then the
 * message. Returns the number of entries printed (>= 0), or a negative errno
 * (the journal cannot be opened or read: -EPERM, -ENOENT, ...).
 */
int journal_show(FILE *f, const struct journal_query *q);

/* Set from a signal handler: a follow ends at its next wake-up. */
extern volatile int journal_stop;
