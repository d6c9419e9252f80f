/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Follows udev's net and tty devices into a gadget table (gadget-info.h):
 * the devices present at start, then every add, move, change and remove.
 * The status of a node then costs no sysfs read, however often it is asked.
 */

#include <systemd/sd-event.h>

struct cb_gadget_table;
struct cb_gadget_watch;

/* Errors are logged; without the watch, status lists no gadget (nothing else depends on it). */
int cb_gadget_watch_new(sd_event *event, struct cb_gadget_watch **ret);
struct cb_gadget_watch *cb_gadget_watch_free(struct cb_gadget_watch *w);
const struct cb_gadget_table *cb_gadget_watch_table(const struct cb_gadget_watch *w);
