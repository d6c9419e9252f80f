/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "power-op.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

#include "event-priority.h"
#include "power-queue.h"
#include "power.h"

enum step {
        STEP_SWITCHING_OFF,
        STEP_AWAITING_LEAVE, /* switched off; the board should leave the bus */
        STEP_SETTLING,
        STEP_QUEUED,         /* waiting for its power-on turn */
        STEP_SWITCHING_ON,
        STEP_DONE,
};

struct cb_power_op {
        enum cb_power_op_kind kind;
        struct cb_power_op_settings settings;
        struct cb_power_op_callbacks callbacks;
        void *userdata;

        enum step step;
        bool board_present;
        /* allocated up front, so that no result ever has to be delivered from inside a call */
        sd_event_source *timer;
        sd_event_source *refusal;
        int refused;
};

const char *cb_power_op_kind_name(enum cb_power_op_kind kind) {
        switch (kind) {
        case CB_POWER_OP_OFF:
                return "power off";
        case CB_POWER_OP_ON:
                return "power on";
        case CB_POWER_OP_CYCLE:
                return "power cycle";
        }
        return "power operation";
}

static void eventf(struct cb_power_op *op, enum cb_power_op_event event, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
static void eventf(struct cb_power_op *op, enum cb_power_op_event event, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        _cleanup_free_ char *message = cb_vformat(format, ap);
        va_end(ap);
        op->callbacks.event(op->userdata, event, message ? message : CB_NO_MEMORY_TEXT);
}

static void finish(struct cb_power_op *op, int result, const char *message) {
        op->step = STEP_DONE;
        op->callbacks.done(op->userdata, result, message);
}

static void switch_power(struct cb_power_op *op, bool on);

static void arm(struct cb_power_op *op, enum step step, usec_t delay) {
        op->step = step;
        (void) sd_event_source_set_time_relative(op->timer, delay);
        (void) sd_event_source_set_enabled(op->timer, SD_EVENT_ONESHOT);
}

static void on_turn(void *userdata) {
        switch_power(userdata, true);
}

static void queue_on(struct cb_power_op *op) {
        int r;

        op->step = STEP_QUEUED;
        if (!op->settings.queue) {
                switch_power(op, true);
                return;
        }
        r = cb_power_queue_add(op->settings.queue, on_turn, op);
        if (r < 0) {
                /* no turn to wait for: better on now than never */
                switch_power(op, true);
                return;
        }
        eventf(op, CB_POWER_OP_EVENT_WAITING_TURN, "waiting for its power-on turn");
}

/* Off, and the board is gone (or there was none): what the operation calls for next. */
static void off_done(struct cb_power_op *op) {
        if (op->kind == CB_POWER_OP_OFF) {
                finish(op, 0, NULL);
                return;
        }
        arm(op, STEP_SETTLING, op->settings.settle);
}

static void board_off(struct cb_power_op *op, const char *why) {
        op->board_present = false;
        eventf(op, CB_POWER_OP_EVENT_BOARD_OFF, "%s: its power is off", why);
        off_done(op);
}

static void switched(void *userdata, int result, const char *message) {
        struct cb_power_op *op = userdata;
        const char *describe = cb_power_describe(op->settings.backend);
        bool on = op->step == STEP_SWITCHING_ON;

        if (result < 0) {
                _cleanup_free_ char *why =
                        message ? NULL : cb_format("%s: cannot switch %s: %s", describe, on ? "on" : "off", strerror(-result));
                finish(op, result, message ? message : why ? why : "the switch failed");
                return;
        }
        if (on) {
                eventf(op, CB_POWER_OP_EVENT_SWITCHED_ON, "power switched on (%s)", describe);
                finish(op, 0, NULL);
                return;
        }
        eventf(op, CB_POWER_OP_EVENT_SWITCHED_OFF, "power switched off (%s)", describe);
        if (!op->board_present) {
                board_off(op, "no board on the bus");
                return;
        }
        if (result == CB_POWER_OFF_CONFIRMED) {
                /* the board is dead, though the kernel may list its device until the port has power again */
                board_off(op, "the switch reports the port unpowered");
                return;
        }
        arm(op, STEP_AWAITING_LEAVE, op->settings.off_timeout);
}

static int on_refusal(sd_event_source *s, void *userdata) {
        struct cb_power_op *op = userdata;

        switched(op, op->refused, NULL);
        return 0;
}

/* Whatever happens, the result arrives from the loop. */
static void switch_power(struct cb_power_op *op, bool on) {
        int r;

        op->step = on ? STEP_SWITCHING_ON : STEP_SWITCHING_OFF;
        r = cb_power_set(op->settings.backend, on, switched, op);
        if (r >= 0)
                return;
        op->refused = r;
        (void) sd_event_source_set_enabled(op->refusal, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct cb_power_op *op = userdata;
        _cleanup_free_ char *why = NULL;

        if (op->step == STEP_SETTLING) {
                queue_on(op);
                return 0;
        }
        assert(op->step == STEP_AWAITING_LEAVE);
        why = cb_format("%s was switched off, but the board was still on the bus %.1fs later: this switch does not "
                        "really cut its power",
                        cb_power_describe(op->settings.backend), (double) op->settings.off_timeout / USEC_PER_SEC);
        if (op->kind == CB_POWER_OP_OFF) {
                finish(op, -EIO, why ? why : "the switch does not cut the power");
                return 0;
        }
        /* a cycle goes on (the port must be switched on again), but it did not do what it was for */
        op->callbacks.event(op->userdata, CB_POWER_OP_EVENT_NOT_CUT, why ? why : "the switch does not cut the power");
        off_done(op);
        return 0;
}

void cb_power_op_board_left(struct cb_power_op *op) {
        if (!op)
                return;
        if (op->step == STEP_AWAITING_LEAVE) {
                (void) sd_event_source_set_enabled(op->timer, SD_EVENT_OFF);
                board_off(op, "the board left the bus");
                return;
        }
        op->board_present = false;
}

bool cb_power_op_only_queued(const struct cb_power_op *op) {
        return op && op->kind == CB_POWER_OP_ON && op->step == STEP_QUEUED;
}

struct cb_power_op *cb_power_op_free(struct cb_power_op *op) {
        if (!op)
                return NULL;
        if (op->settings.queue)
                (void) cb_power_queue_remove(op->settings.queue, op);
        sd_event_source_disable_unref(op->timer);
        sd_event_source_disable_unref(op->refusal);
        free(op);
        return NULL;
}

int cb_power_op_start(enum cb_power_op_kind kind, const struct cb_power_op_settings *settings, bool board_present,
                      const struct cb_power_op_callbacks *callbacks, void *userdata, struct cb_power_op **ret) {
        struct cb_power_op *op;
        int r;

        assert(settings->backend && callbacks->event && callbacks->done);
        op = calloc(1, sizeof *op);
        if (!op)
                return -ENOMEM;
        *op = (struct cb_power_op){
                .kind = kind,
                .settings = *settings,
                .callbacks = *callbacks,
                .userdata = userdata,
                .board_present = board_present,
        };
        r = sd_event_add_time_relative(settings->event, &op->timer, CLOCK_MONOTONIC, 0, 1000, on_timer, op);
        if (r >= 0)
                r = sd_event_source_set_priority(op->timer, CB_EVENT_PRIORITY_BOARDS);
        if (r >= 0)
                r = sd_event_source_set_enabled(op->timer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_defer(settings->event, &op->refusal, on_refusal, op);
        if (r >= 0)
                r = sd_event_source_set_enabled(op->refusal, SD_EVENT_OFF);
        if (r < 0) {
                cb_power_op_free(op);
                return r;
        }
        if (kind == CB_POWER_OP_ON)
                queue_on(op);
        else
                switch_power(op, false);
        *ret = op;
        return 0;
}
