/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The usb-hub power backend: switches the node's port on its parent hub
 * (Port=1-1.3: port 3 of hub 1-1; Port=2-1: port 1 of root hub usb2) with
 * per-port power switching, over a cb_hub_link (hub-link.h).
 *
 * One switch, all asynchronous:
 *   1. open the hub (per operation: a power-cycled hub is a new device);
 *   2. its device descriptor, which the link gives with the open (the
 *      kernel's copy: no request): a hub at all, SuperSpeed or not;
 *   3. GET_DESCRIPTOR(HUB) (0xA0/6, type 0x29, or 0x2A for SuperSpeed):
 *      refuses (-EOPNOTSUPP) ganged or non-switching hubs and a port beyond
 *      bNbrPorts;
 *   4. the switch: the port's sysfs `disable` file, or
 *      SET_FEATURE/CLEAR_FEATURE(PORT_POWER) (0x23/3 or 1, wValue 8), as
 *      HubPowerMethod= says (auto: sysfs when the kernel has the file);
 *   5. GET_STATUS of the port (0xA3/0, 4 bytes): the power bit (0x0100, or
 *      0x0200 on SuperSpeed hubs) must be clear after "off" (else -EIO: the
 *      hub does not really cut power) and set after "on";
 *   6. close the hub;
 *   7. a USB 3 hub is two hubs sharing VBUS: if the link names the port's
 *      peer on the other half (found with step 1), steps 1 to 6 again on
 *      the peer's hub and port, so that the port really loses its power
 *      and both halves are checked.
 * Each request is given `timeout`; the open and the sysfs write, which may
 * wait for the worker thread and the kernel, `slow_timeout`.
 */

#include <systemd/sd-event.h>

#include "config.h"
#include "hub-link.h"
#include "power.h"

#define CB_POWER_HUB_SLOW_TIMEOUT (5 * USEC_PER_SEC)

struct cb_power_hub_settings {
        const char *node;                /* node name, for log fields and messages; may be NULL */
        const char *port;                /* the node's port path, "1-1.3" */
        enum cb_hub_power_method method; /* HubPowerMethod= */
        usec_t timeout;                  /* one request to the hub; 0 = 1 s */
        usec_t slow_timeout;             /* the open and the sysfs write; 0 = MAX(timeout, 5 s) (tests shorten it) */
};

/*
 * A backend for `s->port` that reaches the hub through `link`. Takes the
 * link in every case (it is freed with the backend, or here on failure).
 * -EINVAL if the port path is not valid.
 */
int cb_power_hub_new(sd_event *event, const struct cb_power_hub_settings *s, struct cb_hub_link link,
                     struct cb_power **ret);
