/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What clusterbootctl shows, made from the daemon's JSON (field names in
 * clusterboot/varlink.h): the status table, one node's detailed view, and
 * the lines of `watch`. Output goes to a FILE so the tests can read it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "rows.h"

/* Fields clusterbootctl adds to the daemon's node objects. */
#define CB_CTL_FIELD_HOST "host" /* the controller the node is on (several -H); absent otherwise */
#define CB_CTL_FIELD_DAEMONS "daemons" /* several -H, --json status: each host's daemon object, with "host" */

struct view_options {
        bool colours;
        bool legend;  /* the table's header and closing summary */
        size_t width; /* terminal width; 0: no limit */
        enum json_mode json;
};

/* The columns of the status table, each with the JSON fields it shows. */
extern const struct column status_columns[];
extern const size_t n_status_columns;

/* The colour of a state name (NULL: plain). */
const char *state_colour(const char *state);
/* "start.elf 45%", "8 files, 8.1M" or "-". */
char *node_progress(char *buf, size_t size, struct json_object *node);
/* "up 2h 3min", "boot 12.3s" or "-". */
char *node_time(char *buf, size_t size, struct json_object *node);

/*
 * All nodes, from GetStatus's reply parameters (sorted in place): the table,
 * or with o->json the same rows as JSON. Returns 0 or -ENOMEM.
 */
int view_status(FILE *f, struct json_object *status, const struct view_options *o);
/* One node's detailed view (with its events, when the reply carried them). */
void view_node_detail(FILE *f, struct json_object *node, const struct view_options *o);
/* Watch: the nodes as they are when watching starts, one line each. */
void view_watch_nodes(FILE *f, struct json_object *nodes, uint64_t now_realtime, const struct view_options *o);
/* Watch: one line for one event. */
void view_watch_event(FILE *f, struct json_object *event, const struct view_options *o);
