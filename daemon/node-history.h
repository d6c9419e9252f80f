/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A node's recent events, for `clusterbootctl status NODE`: a fixed ring,
 * oldest dropped first. Messages longer than an entry holds are cut on a
 * character boundary and end in "…".
 */

#include "node.h"

struct cb_node_history {
        struct cb_node_event events[CB_NODE_EVENTS_MAX];
        unsigned n; /* total recorded; the ring holds the last CB_NODE_EVENTS_MAX */
};

void cb_node_history_add(struct cb_node_history *h, enum cb_node_state state, unsigned attempt, const char *message);
/* How many entries are held (at most CB_NODE_EVENTS_MAX). */
unsigned cb_node_history_count(const struct cb_node_history *h);
/* Entry i, 0 = the oldest held; NULL past the end. */
const struct cb_node_event *cb_node_history_at(const struct cb_node_history *h, unsigned i);
