/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What udev needs to know of the configured nodes, one file per port in
 * the runtime directory ($RUNTIME_DIRECTORY/ports/PORT, i.e.
 * /run/clusterboot/ports/1-1.3 under systemd), read by the rules in
 * 61-clusterboot-nodes.rules at every event of a device on that port:
 *
 *   CLUSTERBOOT_NODE=node3         the node's name
 *   CLUSTERBOOT_INTERFACE=node3    the name its gadget's network interface gets
 *
 * With them udev names the booted board's network interface after its node
 * and starts clusterboot-up@NODE.target while its gadget is on the bus.
 * udev reads the files at each event, so a reload needs no `udevadm control
 * --reload` (which the daemon could not do unprivileged).
 */

#include "config.h"

/*
 * Makes DIRECTORY/ports hold exactly the configuration's nodes: each file
 * written beside and renamed, stale ones removed. Returns 0 or a negative
 * errno (logged).
 */
int cb_port_files_write(const char *directory, const struct cb_config *config);
/* The same at start and reload, in $RUNTIME_DIRECTORY; nothing when it is not set (not run by systemd). */
int cb_port_files_update(const struct cb_config *config);
