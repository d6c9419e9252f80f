/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Builds the power backend a [Node] section asks for (Power=usb-hub or command). */

#include <systemd/sd-event.h>

#include "config.h"
#include "power.h"

struct cb_usb;

/*
 * `port` is where the node's board is: the section's Port=, or for a node
 * named by Serial= the port its board was last seen on (a hub port is
 * switched where the board is). *ret is NULL for Power=none.
 */
int cb_power_backend_new(sd_event *event, struct cb_usb *usb, const struct cb_config *config,
                         const struct cb_node_config *node, const char *port, struct cb_power **ret);
