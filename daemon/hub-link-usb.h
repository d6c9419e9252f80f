/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The daemon's cb_hub_link: the hub's device node found through sysfs
 * (/sys/bus/usb/devices/HUB/busnum, devnum -> /dev/bus/usb/BBB/DDD), opened
 * and driven through usb.c (libusb on the loop, the open on the worker),
 * and the port's sysfs `disable` file written on the worker thread (the
 * write blocks while the kernel disconnects the device on the port).
 */

#include <systemd/sd-event.h>

#include "hub-link.h"
#include "power-hub.h"

struct cb_usb;

/* A link for hubs reached through `usb`; both must outlive it. */
int cb_hub_link_usb_new(sd_event *event, struct cb_usb *usb, struct cb_hub_link *ret);

/*
 * The usb-hub power backend of one node, as the manager builds it:
 * cb_power_hub_new() over a cb_hub_link_usb_new() link. `usb` must outlive
 * the backend.
 */
int cb_power_usb_hub_new(sd_event *event, struct cb_usb *usb, const struct cb_power_hub_settings *s,
                         struct cb_power **ret);
