/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * libusb on the sd-event loop. The context does no device discovery of its
 * own (udev is the one source of truth for presence); devices are opened
 * from the device node udev names and wrapped. All transfers are
 * asynchronous; libusb's event handling runs when one of its fds is ready.
 */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "device-opener.h"
#include "transport.h"

struct cb_usb;
struct cb_usb_device;

int cb_usb_new(sd_event *event, struct cb_usb **ret);
/* Finishes the worker's jobs (their callbacks run, cancelled); first step of shutting down. */
void cb_usb_stop_worker(struct cb_usb *u);
/* At exit, after every device was given up: lets cancelled transfers complete (at most ~2 s). */
void cb_usb_drain(struct cb_usb *u);
struct cb_usb *cb_usb_free(struct cb_usb *u);

typedef void (*cb_usb_open_done_t)(void *userdata, int result, struct cb_usb_device *device);

/*
 * Opens the device node and wraps it, off the loop; with `boot` (a Pi boot
 * device, as the caller classified it) its data interface and bulk OUT
 * endpoint are found from the active configuration and the interface is
 * claimed. `done` runs on the loop with a new reference (or result < 0 and
 * NULL). A node that cannot be opened fails at once (negative errno),
 * unlogged: the caller says it for whoever wanted the device.
 */
int cb_usb_open(struct cb_usb *u, const char *devnode, bool boot, cb_usb_open_done_t done, void *userdata);

struct cb_transport cb_usb_device_transport(struct cb_usb_device *d);

/*
 * Any control transfer on endpoint 0 of an opened device (hubs: class
 * requests to the hub and its ports need no claimed interface). IN when
 * request_type & 0x80: up to `length` bytes land in `buf` (kept valid until
 * `done`); OUT: `length` bytes are copied from `buf` at once. Statuses as
 * in transport.h.
 */
int cb_usb_device_control(struct cb_usb_device *d, uint8_t request_type, uint8_t request, uint16_t value,
                          uint16_t index, uint8_t *buf, uint16_t length, usec_t timeout, cb_transfer_done_t done,
                          void *userdata);
/* Cancels every transfer in flight on the device; their `done` still runs (-ECANCELED). */
void cb_usb_device_cancel(struct cb_usb_device *d);

/* The device left the bus: cancel what is in flight, start nothing new. */
void cb_usb_device_gone(struct cb_usb_device *d);

struct cb_usb_device *cb_usb_device_ref(struct cb_usb_device *d);
struct cb_usb_device *cb_usb_device_unref(struct cb_usb_device *d);

/*
 * The manager's device opener (device-opener.h) over this context; its impl
 * is the struct cb_usb. An open claims the boot interface; close is
 * cb_usb_device_gone() and the opener's reference dropped; cancel_pending
 * is cb_usb_stop_worker().
 */
extern const struct cb_device_opener_ops cb_usb_opener_ops;
