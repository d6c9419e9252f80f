/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * How to reach a booted board: the network interfaces (with their MAC
 * addresses) and serial ttys its USB gadget offers, as udev's events for
 * the net and tty devices under the port's device told them (gadget-watch.c
 * feeds them in). Kept, not read when asked: a status call from any local
 * user must not read sysfs on the loop. A device is taken when it appears
 * (or is renamed, or changes) and dropped when it goes.
 */

#include <json-c/json.h>

struct cb_gadget_table;

int cb_gadget_table_new(struct cb_gadget_table **ret);
struct cb_gadget_table *cb_gadget_table_free(struct cb_gadget_table *t);

/*
 * The port a net or tty device's devpath puts it on, and its name:
 * ".../1-1.3/1-1.3:1.0/net/node3" is "node3" of the gadget on "1-1.3", an
 * interface of the device itself (one behind a hub on it is not). `port`
 * holds at least 64 bytes. Returns 0, or -EINVAL for any other devpath.
 */
int cb_gadget_parse_devpath(const char *devpath, const char *subsystem, char port[static 64], const char **ret_name);

/*
 * One udev event of a net or tty device (`action` as udev says it: "add",
 * "change", "move" with `devpath_old`, "remove"...). `mac` is a net
 * device's address (NULL for a tty, or if unknown). Events of devices that
 * are not a gadget's interface are ignored. Returns 0 or -ENOMEM / -ENOSPC.
 */
int cb_gadget_table_event(struct cb_gadget_table *t, const char *action, const char *subsystem, const char *devpath,
                          const char *devpath_old, const char *mac);

/*
 * {"interfaces": [{"name": "node3", "mac": "02:..."}...], "ttys": ["ttyACM0"...]} of the gadget on
 * `port`, sorted by name; both lists empty when none is known (or `t` is NULL). No I/O. Returns 0
 * or -ENOMEM.
 */
int cb_gadget_table_json(const struct cb_gadget_table *t, const char *port, struct json_object **ret);
