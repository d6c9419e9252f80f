/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * One switching of a node's power, as a short sequence of steps:
 *
 *   off ──► the board is off ──► settle ──► wait for its turn ──► on
 *
 * "The board is off" is proven by the switch itself (a hub that reports
 * the port unpowered) or by the board leaving the bus within
 * `off_timeout`; a switch that says "off" while the board stays is
 * reported (CB_POWER_OP_NOT_CUT), and the sequence goes on. An OFF
 * operation stops after the proof; ON is only the last two steps.
 *
 * The operation owns its timers and its place in the power-on queue, and
 * reports to its owner through two callbacks: events along the way, and
 * `done` exactly once, always from the loop (never from inside a call of
 * the owner's). The owner tells it when the board leaves the bus; it never
 * looks at the node.
 */

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "util.h"

struct cb_power;
struct cb_power_queue;
struct cb_power_op;

enum cb_power_op_kind {
        CB_POWER_OP_OFF,
        CB_POWER_OP_ON,
        CB_POWER_OP_CYCLE,
};

enum cb_power_op_event {
        CB_POWER_OP_EVENT_SWITCHED_OFF,  /* the switch says off */
        CB_POWER_OP_EVENT_BOARD_OFF,     /* proven off: a device still listed for the port is dead, forget it */
        CB_POWER_OP_EVENT_NOT_CUT,       /* the board stayed on the bus: message says so (a warning) */
        CB_POWER_OP_EVENT_WAITING_TURN,  /* queued for its power-on turn */
        CB_POWER_OP_EVENT_SWITCHED_ON,
};

struct cb_power_op_callbacks {
        /* `message`: one sentence for the log; valid during the call. */
        void (*event)(void *userdata, enum cb_power_op_event event, const char *message);
        /*
         * The sequence ended: 0, or a negative errno and `message` saying what
         * failed (valid during the call). A switch that did not cut the power
         * ends in -EIO for OFF; a CYCLE goes on and reports it as an event.
         */
        void (*done)(void *userdata, int result, const char *message);
};

struct cb_power_op_settings {
        sd_event *event;
        struct cb_power *backend;     /* not owned; must outlive the operation */
        struct cb_power_queue *queue; /* NULL: switch on at once */
        usec_t settle;                /* CYCLE: off at least this long */
        usec_t off_timeout;           /* how long the board may take to leave the bus once switched off */
};

/*
 * Starts an operation. `board_present`: a board is on the port now (then
 * the off step waits for it to leave, unless the switch proves it off).
 */
int cb_power_op_start(enum cb_power_op_kind kind, const struct cb_power_op_settings *settings, bool board_present,
                      const struct cb_power_op_callbacks *callbacks, void *userdata, struct cb_power_op **ret);
/* The board left the bus. */
void cb_power_op_board_left(struct cb_power_op *op);
/* True while the operation only waits for its power-on turn (nothing was switched yet by an ON). */
bool cb_power_op_only_queued(const struct cb_power_op *op);
/* Stops the operation without a callback (a switch in flight is cancelled). */
struct cb_power_op *cb_power_op_free(struct cb_power_op *op);
const char *cb_power_op_kind_name(enum cb_power_op_kind kind);
