/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The daemon's power backends, as the manager asks for them (its
 * cb_power_factory): Power=usb-hub through usb.c, with the port's sysfs
 * writes on a worker thread of their own, and Power=command.
 */

#include <systemd/sd-event.h>

#include "config.h"
#include "power.h"

struct cb_usb;
struct cb_power_backends;

/* `usb` must outlive it. */
int cb_power_backends_new(sd_event *event, struct cb_usb *usb, struct cb_power_backends **ret);
/* Finishes the sysfs writes queued (their callbacks run; cancelled if not started): before the nodes go. */
void cb_power_backends_stop(struct cb_power_backends *b);
/* After every backend it made is freed. */
struct cb_power_backends *cb_power_backends_free(struct cb_power_backends *b);

/*
 * cb_power_factory.make, its impl a struct cb_power_backends. `port` is
 * where the node's board is: the section's Port=, or for a node named by
 * Serial= the port its board was last seen on (a hub port is switched where
 * the board is). *ret is NULL for Power=none.
 */
int cb_power_backends_make(void *impl, const struct cb_config *config, const struct cb_node_config *node,
                           const char *port, struct cb_power **ret);
