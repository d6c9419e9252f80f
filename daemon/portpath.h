/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Where the kernel lists USB devices by their sysfs names ("1-1.3", "usb2"). */
#define CB_SYSFS_USB_DEVICES "/sys/bus/usb/devices"

/*
 * A USB port path as the kernel spells a device's place in sysfs:
 * BUS-PORT[.PORT]..., e.g. "1-1.3". Root hubs ("usb1") and interfaces
 * ("1-1.3:1.0") are not port paths. Numbers are 1..255 without leading
 * zeros (paths are compared as strings with sysfs names), at most 7 levels.
 * The one definition for the configuration's Port= and for udev's devices.
 */
bool cb_port_path_valid(const char *path);

/*
 * The hub a port path hangs off and the port number on it: "1-1.3" -> ("1-1", 3),
 * "2-1" -> ("usb2", 1) (a root hub), "2-1.4.2" -> ("2-1.4", 2). Returns 0,
 * -EINVAL for an invalid port path, -ENOBUFS when `parent` (of `size` bytes)
 * is too small. Pure: no sysfs look-up.
 */
int cb_port_parent(const char *port, char *parent, size_t size, unsigned *port_number);

/*
 * The kernel's `disable` file of port `port` of hub `hub` ("1-1", "usb2"):
 * CB_SYSFS_USB_DEVICES "/1-1:1.0/1-1-port3/disable",
 * CB_SYSFS_USB_DEVICES "/2-0:1.0/usb2-port1/disable". Returns 0, -EINVAL or
 * -ENOBUFS.
 */
int cb_port_disable_path(const char *hub, unsigned port, char *buf, size_t size);

/*
 * The hub and port number of a port's own sysfs directory name, as the
 * kernel's `peer` links of USB 3 hubs name it: "2-1-port3" -> ("2-1", 3),
 * "usb2-port1" -> ("usb2", 1). Returns 0, -EINVAL if `name` is not such a
 * name, -ENOBUFS when `hub` (of `size` bytes) is too small.
 */
int cb_port_dir_parse(const char *name, char *hub, size_t size, unsigned *port);
