/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The seam between the manager and the devices it hands its nodes: "open
 * the Pi boot device this presence names, and give me a transport for it".
 * The daemon implements it with libusb (usb.c, cb_usb_opener_ops); the unit
 * tests with the in-process emulated boards (tests/unit/test-manager.c).
 *
 * Everything runs on the event loop and nothing may block it: an open that
 * must wait for the device happens elsewhere and reports back on the loop.
 */

#include "presence.h"
#include "transport.h"

/* `device` is the implementation's own handle (NULL when result < 0). */
typedef void (*cb_device_open_done_t)(void *userdata, int result, void *device);

struct cb_device_opener_ops {
        /*
         * Opens the Pi boot device `presence` names (its fields are valid
         * during the call only) and readies it for a session: its data
         * interface claimed. Returns 0 and later runs `done` once, from the
         * loop and never from inside this call, or a negative errno when the
         * open cannot even start (then `done` never runs). Failures are not
         * logged here: the caller says them for the node that wanted the
         * device.
         */
        int (*open)(void *impl, const struct cb_presence *presence, cb_device_open_done_t done, void *userdata);
        /* The transport of an opened device: valid until close(). */
        struct cb_transport (*transport)(void *impl, void *device);
        /* The device left its port, or is given up: what is in flight is cancelled, and the handle released. */
        void (*close)(void *impl, void *device);
        /*
         * The manager is going away: every open still pending reports now
         * (`done` with -ECANCELED, or its result if it finished), while the
         * nodes that wait for them still exist. Nothing opens afterwards.
         */
        void (*cancel_pending)(void *impl);
};

struct cb_device_opener {
        const struct cb_device_opener_ops *ops;
        void *impl;
};
