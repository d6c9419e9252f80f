/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The daemon's cb_hub_link: the hub's device node found through sysfs
 * (/sys/bus/usb/devices/HUB/busnum, devnum -> /dev/bus/usb/BBB/DDD; its
 * device descriptor from HUB/descriptors), opened and driven through usb.c
 * (libusb on the loop, the open on the worker), and the port's sysfs
 * `disable` file written on the worker thread (the write blocks while the
 * kernel disconnects the device on the port).
 */

#include <systemd/sd-event.h>

#include "power-hub.h"

struct cb_usb;

/*
 * The usb-hub power backend of one node, as the manager builds it:
 * cb_power_hub_new() over this link. `usb` must outlive the backend.
 */
int cb_power_usb_hub_new(sd_event *event, struct cb_usb *usb, const struct cb_power_hub_settings *s,
                         struct cb_power **ret);
