/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

/*
 * A USB port path as the kernel spells a device's place in sysfs:
 * BUS-PORT[.PORT]..., e.g. "1-1.3". Root hubs ("usb1") and interfaces
 * ("1-1.3:1.0") are not port paths. Numbers are 1..255 without leading
 * zeros (paths are compared as strings with sysfs names), at most 7 levels.
 * The one definition for the configuration's Port= and for udev's devices.
 */
bool cb_port_path_valid(const char *path);
