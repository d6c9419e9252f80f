/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Runs one blocking call off the event loop and reports back on it.
 *
 * The loop never blocks, yet a few kernel operations have no asynchronous
 * form: a USB port reset (USBDEVFS_RESET waits for re-enumeration) and
 * libusb's wrapping of a device fd (it asks the device for its active
 * configuration with a synchronous control request). Each such call runs in
 * a short-lived thread; its result comes back through an eventfd as an
 * ordinary loop event. The job function must touch nothing but its own data.
 */

#include <systemd/sd-event.h>

typedef int (*cb_worker_job_t)(void *data);
typedef void (*cb_worker_done_t)(void *data, int result);

/* Starts `job(data)` in a thread; `done(data, result)` then runs on `event`'s loop. */
int cb_worker_run(sd_event *event, cb_worker_job_t job, cb_worker_done_t done, void *data);
