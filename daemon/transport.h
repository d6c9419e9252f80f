/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The seam between a boot session and the wire. The daemon implements it
 * with libusb (usb.c); the unit tests with an in-process emulated board.
 *
 * Every call starts one asynchronous transfer and returns 0, or a negative
 * errno if it could not be started (then `done` is never called). `done`
 * is called exactly once per started transfer, from the event loop, never
 * from inside the starting call, with status:
 *    0            completed (actual = bytes moved)
 *   -ETIMEDOUT    the transfer's timeout expired
 *   -EPIPE        the board stalled it
 *   -ENODEV       the board is gone
 *   -ECANCELED    cancelled by cb_transport_cancel()
 *   -EIO, ...     anything else
 * The caller keeps `buf` valid until `done` runs.
 */

#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef void (*cb_transfer_done_t)(void *userdata, int status, size_t actual);

struct cb_transport_ops {
        /* Vendor control OUT, no data stage: bmRequestType 0x40, bRequest 0. */
        int (*control_out)(void *impl, uint16_t value, uint16_t index, usec_t timeout, cb_transfer_done_t done,
                           void *userdata);
        /* Vendor control IN: bmRequestType 0xC0, bRequest 0, wLength = length. */
        int (*control_in)(void *impl, uint16_t value, uint16_t index, uint8_t *buf, uint16_t length, usec_t timeout,
                          cb_transfer_done_t done, void *userdata);
        /* Bulk OUT on the board's data endpoint. */
        int (*bulk_out)(void *impl, const uint8_t *buf, size_t length, usec_t timeout, cb_transfer_done_t done,
                        void *userdata);
        /* Asks the transfer in flight to stop; its `done` still runs (usually with -ECANCELED). */
        void (*cancel)(void *impl);
        /*
         * CLEAR_FEATURE(ENDPOINT_HALT) on the board's data endpoint, with no
         * transfer in flight, and the host's side of the endpoint reset with
         * it (data toggle), as the kernel does for USBDEVFS_CLEAR_HALT.
         * `done` gets 0, -ENODEV if the board is gone, or another errno.
         */
        int (*clear_halt)(void *impl, cb_transfer_done_t done, void *userdata);
        /*
         * USB port reset, with no transfer in flight. `done` gets 0 if the
         * same device is still there afterwards, -ENODEV if it re-enumerates
         * (or left), another negative errno if the reset failed.
         */
        int (*reset)(void *impl, cb_transfer_done_t done, void *userdata);
};

struct cb_transport {
        const struct cb_transport_ops *ops;
        void *impl;
};
