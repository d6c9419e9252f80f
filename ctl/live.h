/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * `clusterbootctl watch` on a terminal: the node table redrawn in place as
 * events arrive (no polling of the daemon: each Watch reply is one redraw),
 * per node its state, attempt, a bar for the file being served (bytes of
 * its size, and the rate measured between events), the time in its boot
 * or up, and the last thing it said; nodes in trouble stand out in colour
 * (none with NO_COLOR). Into a pipe, watch keeps printing one line per
 * event (views.h); this is only for a terminal.
 *
 * The model (live_nodes, live_event) is apart from the drawing, so that
 * the tests can feed replies and read the frame.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

struct live;

struct live_draw_options {
        bool colours;
        size_t width;  /* the terminal's columns; 0: 80 */
        uint64_t now;  /* CLOCK_REALTIME, for the clocks */
};

int live_new(struct live **ret);
struct live *live_free(struct live *l);

/* Watch's first reply: every node as it is. 0 or -ENOMEM. */
int live_nodes(struct live *l, struct json_object *nodes, uint64_t now);
/* A later reply's event: the node's row follows it (a node not seen before is added). 0 or -ENOMEM. */
int live_event(struct live *l, struct json_object *event, uint64_t now);

/*
 * One frame: the cursor goes back to the first line of the previous frame,
 * each line is rewritten and the rest of the screen cleared, so the table
 * stays in one place (and what was on the terminal before stays above it).
 * Returns the number of lines drawn.
 */
size_t live_draw(struct live *l, FILE *f, const struct live_draw_options *o);
