/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Runs blocking calls off the event loop, one at a time, and reports back on
 * the loop.
 *
 * The loop never blocks, yet a few kernel operations have no asynchronous
 * form: a USB port reset (USBDEVFS_RESET waits for re-enumeration) and
 * libusb's wrapping of a device fd (it asks the device for its active
 * configuration with a synchronous control request). They run on one worker
 * thread, in order; each result comes back through an eventfd as an
 * ordinary loop event. One thread rather than one per job: jobs are rare and
 * short, and file descriptors are then only ever opened and closed by the
 * loop's thread. A job function must touch nothing but its own data.
 */

#include <systemd/sd-event.h>

struct cb_worker;

typedef int (*cb_worker_job_t)(void *data);
typedef void (*cb_worker_done_t)(void *data, int result);

int cb_worker_new(sd_event *event, struct cb_worker **ret);
/*
 * Waits for the job in progress (if any); every job's `done` runs, with
 * -ECANCELED for those never started. The worker then refuses jobs
 * (-ESHUTDOWN) until it is freed, so whoever still holds it may try.
 */
void cb_worker_stop(struct cb_worker *w);
/*
 * Like cb_worker_stop(), but every job queued runs first, and each `done`
 * gets the job's own result: for work that must not be lost at exit (a
 * board's file being written).
 */
void cb_worker_finish(struct cb_worker *w);
/* Stops it first. */
struct cb_worker *cb_worker_free(struct cb_worker *w);

/* Queues `job(data)`; `done(data, result)` then runs on the loop. -ESHUTDOWN once stopped. */
int cb_worker_run(struct cb_worker *w, cb_worker_job_t job, cb_worker_done_t done, void *data);
