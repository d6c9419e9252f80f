/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The seam between the usb-hub power backend (power-hub.c) and one USB hub.
 * The daemon implements it with libusb and sysfs (hub-link-usb.c); the unit
 * tests with a model hub (tests/emu/hub.c).
 *
 * A link is opened for one operation and closed after it: hubs re-enumerate,
 * and a power-cycled hub comes back as a new device node.
 *
 * Calls that take `done` start one asynchronous operation and return 0, or a
 * negative errno if it could not be started (then `done` is never called).
 * `done` runs exactly once per started operation, on the event loop, never
 * from inside the starting call, with the status of transport.h:
 *    0            completed (actual = bytes moved)
 *   -ETIMEDOUT    the request's timeout expired
 *   -EPIPE        the hub stalled it
 *   -ENODEV       the hub is gone
 *   -ECANCELED    cancelled by cancel() or close()
 *   -EIO, ...     anything else
 * One operation at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport.h"
#include "util.h"

#include "usb-sysfs.h"

#define CB_HUB_LINK_DEVICE_DESCRIPTOR_SIZE CB_USB_DEVICE_DESCRIPTOR_SIZE

struct cb_hub_link_ops {
        /*
         * Finds and opens the hub by its sysfs name ("1-1", "usb2"). -ENODEV
         * (synchronously or through `done`) when there is no such device.
         * Its device descriptor comes with it, from the kernel's copy (no
         * request to the hub): up to CB_HUB_LINK_DEVICE_DESCRIPTOR_SIZE bytes
         * in `device_descriptor` once `done` reports 0, actual = how many.
         */
        int (*open)(void *impl, const char *hub, uint8_t *device_descriptor, cb_transfer_done_t done,
                    void *userdata);
        /*
         * Control transfer on the opened hub's endpoint 0: IN when
         * request_type & 0x80 (`buf` receives up to `length` bytes), else OUT
         * with `length` bytes from `buf` (NULL when 0).
         */
        int (*control)(void *impl, uint8_t request_type, uint8_t request, uint16_t value, uint16_t index,
                       uint8_t *buf, uint16_t length, usec_t timeout, cb_transfer_done_t done, void *userdata);
        /*
         * Writes "1"/"0" to the kernel's `disable` file of port `port` of the
         * opened hub (the kernel then switches the port's power and keeps its
         * hub driver from switching it back). -ENOENT synchronously when the
         * kernel has no such file; other synchronous errors (-EROFS, -EACCES)
         * when it cannot be opened for writing.
         */
        int (*set_port_disabled)(void *impl, unsigned port, bool disabled, cb_transfer_done_t done, void *userdata);
        /*
         * The peer of port `port` of the opened hub: on a USB 3 hub, the port
         * of its other half (a USB 3 hub is a USB 2 hub and a SuperSpeed hub
         * sharing VBUS; the kernel's `port/peer` link). Synchronous: 0 with
         * the peer hub's sysfs name in `hub` (`size` bytes) and its port
         * number, -ENOENT when the port has no peer, another negative errno
         * when it cannot be told. NULL in a link whose hubs have no peers.
         */
        int (*port_peer)(void *impl, unsigned port, char *hub, size_t size, unsigned *peer_port);
        /* Asks the operation in flight to stop; its `done` still runs (-ECANCELED, unless it finished). */
        void (*cancel)(void *impl);
        /*
         * Gives the hub up; an operation in flight is cancelled and its `done`
         * is NOT run. A no-op when nothing is open; may be called from inside
         * a `done`.
         */
        void (*close)(void *impl);
        /* Frees the link; closes it first. */
        void (*free)(void *impl);
};

struct cb_hub_link {
        const struct cb_hub_link_ops *ops;
        void *impl;
};
