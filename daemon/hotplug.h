/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * USB device presence from libudev: what is plugged in at start, then add
 * and remove events, on the sd-event loop. It is the daemon's source of
 * presence for the manager (presence.h): a device is reported with its
 * port path (the sysfs name, e.g. "1-1.3", stable across re-enumerations)
 * and what sysfs says of it, so nothing needs to be opened to tell a Pi
 * boot device from anything else. "change", "bind" and "unbind" events say
 * nothing about presence and are not reported.
 */

#include <systemd/sd-event.h>

#include "presence.h"

struct cb_hotplug;

typedef void (*cb_hotplug_added_t)(void *userdata, const struct cb_presence *device);
typedef void (*cb_hotplug_removed_t)(void *userdata, const char *port);

int cb_hotplug_new(sd_event *event, cb_hotplug_added_t added, cb_hotplug_removed_t removed, void *userdata,
                   struct cb_hotplug **ret);
/* Reports every USB device present now as added. Call once, after cb_hotplug_new(). */
int cb_hotplug_enumerate(struct cb_hotplug *h);
struct cb_hotplug *cb_hotplug_free(struct cb_hotplug *h);
