/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Staggers power-ons. Several Zeros switched on at once draw their inrush
 * current together and can brown out the hub that feeds them, so every
 * power-on in the daemon (at start, `power on` of several nodes, the "on"
 * half of a reboot or a recovery power cycle) waits for its turn: turns are
 * at least `spacing` apart, in the order they were asked for.
 */

#include <systemd/sd-event.h>

#include "util.h"

struct cb_power_queue;

typedef void (*cb_power_queue_fn)(void *userdata);

int cb_power_queue_new(sd_event *event, usec_t spacing, struct cb_power_queue **ret);
struct cb_power_queue *cb_power_queue_free(struct cb_power_queue *q);
/* From now on; a turn already scheduled moves to fit. */
void cb_power_queue_set_spacing(struct cb_power_queue *q, usec_t spacing);

/* Queues a turn: `fn(userdata)` runs from the loop (never from inside this call) when it comes. */
int cb_power_queue_add(struct cb_power_queue *q, cb_power_queue_fn fn, void *userdata);
/* Drops the turns queued for `userdata` (0 if there were none, else how many). */
unsigned cb_power_queue_remove(struct cb_power_queue *q, void *userdata);
size_t cb_power_queue_length(const struct cb_power_queue *q);
