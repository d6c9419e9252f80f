/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Metrics in the Prometheus text format, per node: its state, successful
 * boots, failed attempts by the stage they failed in, the current attempt,
 * step retries, resets and power cycles of the current boot, the last boot's
 * duration, bytes served. Counters that the node does not keep itself
 * (failed attempts) are counted here from the state changes it reports, so
 * they start at 0 with the daemon, as Prometheus counters may.
 *
 * `clusterbootctl metrics` asks for the text over the control socket; with
 * MetricsDirectory= it is also written for node-exporter's textfile
 * collector (metrics-textfile.c), at most once a second after a change.
 */

#include <stddef.h>

#include <systemd/sd-event.h>

#include "node.h"

struct cb_metrics;

/* Where the nodes come from (the manager's list, or a test's). */
struct cb_metrics_nodes {
        size_t (*n_nodes)(void *userdata);
        struct cb_node *(*node)(void *userdata, size_t i);
        void *userdata;
};

/* `directory`: MetricsDirectory=, or NULL for none. Returns 0 or a negative errno. */
int cb_metrics_new(sd_event *event, const struct cb_metrics_nodes *nodes, const char *directory,
                   struct cb_metrics **ret);
struct cb_metrics *cb_metrics_free(struct cb_metrics *m);
/* A reload changed MetricsDirectory= (NULL: stop writing). Returns 0 or -ENOMEM. */
int cb_metrics_set_directory(struct cb_metrics *m, const char *directory);

/* The node changed (a state change or progress): shaped to be called from the manager's listener. */
void cb_metrics_node_changed(struct cb_metrics *m, struct cb_node *node);

/* The whole text, allocated (free() it). Returns 0 or -ENOMEM. */
int cb_metrics_format(struct cb_metrics *m, char **ret);

/* The file written in MetricsDirectory=. */
#define CB_METRICS_FILE "clusterboot.prom"
