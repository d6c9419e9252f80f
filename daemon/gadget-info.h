/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * How to reach a booted board: the network interfaces (with their MAC
 * addresses) and serial ttys its USB gadget offers, as the kernel lists them
 * under the port's device in sysfs. Read when asked (status NODE), not
 * tracked: the kernel is the authority, and a few directory reads cost less
 * than following every net and tty event.
 */

#include <json-c/json.h>

/* Where the kernel lists USB devices by port. */
#define CB_SYSFS_USB_DEVICES "/sys/bus/usb/devices"

/*
 * {"interfaces": [{"name": "node3", "mac": "02:..."}...], "ttys": ["ttyACM0"...]} for the device on
 * `port` under `root` (CB_SYSFS_USB_DEVICES; tests give another); both lists empty when there is no
 * device or it offers neither. Returns 0 or -ENOMEM.
 */
int cb_gadget_info_json(const char *root, const char *port, struct json_object **ret);
