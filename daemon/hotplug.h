/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * USB device presence from libudev: what is plugged in at start, then add
 * and remove events, on the sd-event loop. A device is reported with its
 * port path (the sysfs name, e.g. "1-1.3", stable across re-enumerations)
 * and its IDs read from sysfs, so nothing needs to be opened to tell a Pi
 * boot device from anything else.
 */

#include <stdint.h>

#include <systemd/sd-event.h>

struct cb_hotplug;

struct cb_hotplug_device {
        const char *port;    /* "1-1.3" */
        const char *devnode; /* "/dev/bus/usb/001/005" */
        uint16_t vid, pid;
        uint8_t serial_index; /* iSerialNumber: tells a ROM from a second stage */
        const char *serial;   /* the serial string (sysfs "serial"), or NULL; 2711/2712 ROM: the SoC serial */
};

typedef void (*cb_hotplug_added_t)(void *userdata, const struct cb_hotplug_device *device);
typedef void (*cb_hotplug_removed_t)(void *userdata, const char *port);

int cb_hotplug_new(sd_event *event, cb_hotplug_added_t added, cb_hotplug_removed_t removed, void *userdata,
                   struct cb_hotplug **ret);
/* Reports every USB device present now as added. Call once, after cb_hotplug_new(). */
int cb_hotplug_enumerate(struct cb_hotplug *h);
struct cb_hotplug *cb_hotplug_free(struct cb_hotplug *h);
