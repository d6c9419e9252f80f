/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The manager owns the nodes and turns the outside world into node events:
 * presence (a device added at or removed from a port) into device
 * added/removed, opening Pi boot devices first, and configuration into
 * nodes; it is the node table the control server looks nodes up in (a
 * user's retry or power action then goes to that node itself, whose rules
 * they are; what must outlast the daemon, a node powered off, comes back
 * here through the node's callbacks). It is the only place that knows
 * which USB device sits on which node's port, and the one place a device's
 * stage is classified.
 *
 * It does no I/O on the bus itself: presence is told to it
 * (cb_manager_device_added()/removed(); the daemon's source is hotplug.c),
 * devices are opened through a cb_device_opener (usb.c in the daemon) and
 * power backends made by a cb_power_factory (power-backends.c). The unit
 * tests put the in-process emulated boards behind the same seams.
 */

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "device-opener.h"
#include "node.h"
#include "presence.h"

struct cb_manager;
struct cb_power;

/* Makes the power backend a [Node] section asks for, where its board is (`port`); *ret NULL: none. */
struct cb_power_factory {
        int (*make)(void *impl, const struct cb_config *config, const struct cb_node_config *node, const char *port,
                    struct cb_power **ret);
        void *impl;
};

/* What the manager is given to reach the bus; each must outlive the manager. */
struct cb_manager_seams {
        struct cb_device_opener opener;
        struct cb_power_factory power; /* make NULL: no node gets a power backend */
};

/* Takes ownership of `config`. */
int cb_manager_new(sd_event *event, struct cb_config *config, const struct cb_manager_seams *seams,
                   struct cb_manager **ret);
/*
 * Before the first device is reported: each node with a switch is powered
 * on in its turn, or kept off if it was left off (the StateDirectory's list).
 */
int cb_manager_start(struct cb_manager *m);
struct cb_manager *cb_manager_free(struct cb_manager *m);

/*
 * Presence. A device appeared on `presence->port` (fields valid during the
 * call): a Pi boot device is opened and given to the node of its port (or
 * of its SoC serial), made for it with AutoNodes=yes; anything else is
 * told to the node of its port as what its booted board may show. An add
 * without a remove replaces what was on the port.
 */
void cb_manager_device_added(struct cb_manager *m, const struct cb_presence *presence);
/* The device on `port` left. */
void cb_manager_device_removed(struct cb_manager *m, const char *port);

size_t cb_manager_n_nodes(const struct cb_manager *m);
struct cb_node *cb_manager_node(const struct cb_manager *m, size_t i);
struct cb_node *cb_manager_find_node(const struct cb_manager *m, const char *name_or_port);
const struct cb_config *cb_manager_config(const struct cb_manager *m);

/*
 * Before exiting: takes no more presence and lets each node finish the write in
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
