/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Builds the power backend a [Node] section asks for (Power=usb-hub or command). */

#include <systemd/sd-event.h>

#include "config.h"
#include "power.h"

struct cb_usb;

/* *ret is NULL for Power=none. */
int cb_power_backend_new(sd_event *event, struct cb_usb *usb, const struct cb_config *config,
                         const struct cb_node_config *node, struct cb_power **ret);
