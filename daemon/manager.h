/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The manager owns the nodes and turns the outside world into node events:
 * udev presence into device added/removed (opening Pi boot devices with
 * libusb first), configuration into nodes, and control requests into node
 * actions. It is the only place that knows which USB device sits on which
 * node's port.
 */

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "node.h"

struct cb_manager;

/* Takes ownership of `config`. */
int cb_manager_new(sd_event *event, struct cb_config *config, struct cb_manager **ret);
/* Starts watching udev and boots what is already plugged in. */
int cb_manager_start(struct cb_manager *m);
struct cb_manager *cb_manager_free(struct cb_manager *m);

size_t cb_manager_n_nodes(const struct cb_manager *m);
struct cb_node *cb_manager_node(const struct cb_manager *m, size_t i);
struct cb_node *cb_manager_find_node(const struct cb_manager *m, const char *name_or_port);
const struct cb_config *cb_manager_config(const struct cb_manager *m);

/*
 * Before exiting: stops watching udev and lets each node finish the write in
 * flight (boards are left between two requests, where the next daemon can
 * take them over). Returns 1 if nothing is in flight, else 0 and calls
 * `drained` once everything is.
 */
int cb_manager_drain(struct cb_manager *m, void (*drained)(void *userdata), void *userdata);

/* Replaces the configuration (takes ownership); boots in flight keep going. */
int cb_manager_reload(struct cb_manager *m, struct cb_config *config);

/* Writes "4 nodes: 3 up, 1 serving" into buf. */
void cb_manager_summary(const struct cb_manager *m, char *buf, size_t size);

/* Called after any node changed (for the control socket's watchers); one listener. */
void cb_manager_set_listener(struct cb_manager *m, void (*changed)(struct cb_node *node, void *userdata),
                             void *userdata);
