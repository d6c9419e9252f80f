/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The daemon's cb_hub_link: the hub's device node found through sysfs
 * (/sys/bus/usb/devices/HUB/busnum, devnum -> /dev/bus/usb/BBB/DDD; its
 * device descriptor from HUB/descriptors), opened and driven through usb.c
 * (libusb on the loop, the open on usb.c's worker), and the port's sysfs
 * `disable` file written on a worker of its owner's (the write blocks while
 * the kernel disconnects the device on the port; on a thread apart from
 * usb.c's, a slow one never holds up a board's open or reset).
 */

#include <systemd/sd-event.h>

#include "power-hub.h"

struct cb_usb;
struct cb_worker;

/*
 * The usb-hub power backend of one node (power-backends.c builds it):
 * cb_power_hub_new() over this link. `usb` and `sysfs` must outlive the
 * backend.
 */
int cb_power_usb_hub_new(sd_event *event, struct cb_usb *usb, struct cb_worker *sysfs,
                         const struct cb_power_hub_settings *s, struct cb_power **ret);
