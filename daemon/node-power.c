/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A node's power: the user's off / on / reboot, the power-on at daemon
 * start, and the power cycle that is the last step of recovery. One power
 * operation runs at a time; it is a short sequence of steps:
 *
 *   off ──► verify the board left ──► (settle ──► wait for its turn ──► on)
 *
 * While one runs (except the start-up power-on), device arrivals are noted
 * but not booted: the board comes and goes under the switch, and the end of
 * the sequence decides what to do with whatever is then on the port.
 */
#include <stdarg.h>

#include "config.h"
#include "node-internal.h"
#include "power-queue.h"

static const char *const purpose_names[] = {
        [PURPOSE_NONE] = "none",
        [PURPOSE_OFF] = "power off",
        [PURPOSE_ON] = "power on",
        [PURPOSE_REBOOT] = "reboot",
        [PURPOSE_RECOVER] = "power cycle",
        [PURPOSE_REVIVE] = "power cycle",
        [PURPOSE_ENSURE_ON] = "power on (boot not held)",
};

static const struct cb_config *config(const struct cb_node *n) {
        return n->env->config;
}

bool cb_node_has_power(const struct cb_node *n) {
        return n->power.backend != NULL;
}

bool node_power_blocks_boot(const struct cb_node *n) {
        return n->power.purpose != PURPOSE_NONE && n->power.purpose != PURPOSE_ENSURE_ON;
}

bool node_power_should_cycle(const struct cb_node *n) {
        return n->power.backend && n->power.purpose == PURPOSE_NONE && n->last_recovery == RECOVERY_RESET;
}

int cb_node_set_power(struct cb_node *n, struct cb_power *power) {
        if (n->power.purpose != PURPOSE_NONE) {
                cb_power_free(power);
                return -EBUSY;
        }
        cb_power_free(n->power.backend);
        n->power.backend = power;
        if (!power && n->state == CB_NODE_OFF) {
                /* nothing could ever power it on again: it stops being kept off */
                if (n->env->power_requested)
                        n->env->power_requested(n, false, n->env->userdata);
                node_fresh_boot(n);
                if (n->device_present) {
                        node_log(n, LOG_NOTICE, "its power switch is no longer configured; booting the board on its port");
                        node_boot_present(n);
                } else {
                        node_set_state(n, CB_NODE_ABSENT, NULL,
                                       "its power switch is no longer configured: no longer kept off");
                }
        }
        return 0;
}

static void switch_power(struct cb_node *n, bool on);
static void finish(struct cb_node *n, int result, const char *message);
static void begin(struct cb_node *n, enum power_purpose purpose, cb_node_power_done_t done, void *userdata);

/* ---- the steps ---- */

static void on_turn(void *userdata) {
        struct cb_node *n = userdata;

        switch_power(n, true);
}

static void queue_on(struct cb_node *n) {
        int r;

        n->power.step = STEP_QUEUED_ON;
        if (!n->env->power_queue) {
                switch_power(n, true);
                return;
        }
        r = cb_power_queue_add(n->env->power_queue, on_turn, n);
        if (r < 0) {
                node_log(n, LOG_WARNING, "cannot queue the power-on (%s); switching on now", strerror(-r));
                switch_power(n, true);
        }
}

/* Off, and the board is gone (or there was none): what the purpose calls for next. */
static void off_done(struct cb_node *n) {
        if (n->power.purpose == PURPOSE_OFF) {
                finish(n, 0, NULL);
                return;
        }
        n->power.step = STEP_SETTLING;
        node_arm_timer(n, TIMER_POWER_SETTLE, config(n)->power_settle);
}

static void switched(void *userdata, int result, const char *message) {
        struct cb_node *n = userdata;
        char why[512];

        if (result < 0) {
                if (!message) {
                        snprintf(why, sizeof why, "%s: cannot switch %s: %s", cb_power_describe(n->power.backend),
                                 n->power.step == STEP_SWITCHING_ON ? "on" : "off", strerror(-result));
                        message = why;
                }
                finish(n, result, message);
                return;
        }
        if (n->power.step == STEP_SWITCHING_ON) {
                node_log(n, LOG_INFO, "power switched on (%s)", cb_power_describe(n->power.backend));
                finish(n, 0, NULL);
                return;
        }
        node_log(n, LOG_INFO, "power switched off (%s)", cb_power_describe(n->power.backend));
        if (!n->device_present) {
                node_log(n, LOG_INFO, "no board on the bus: its power is off");
                off_done(n);
                return;
        }
        if (result == CB_POWER_OFF_CONFIRMED) {
                /*
                 * The board is dead, though the kernel may list its device
                 * until the port has power again: forget that device, so
                 * that what shows up after power-on is taken as new.
                 */
                node_log(n, LOG_INFO, "the switch reports the port unpowered: its power is off");
                n->device_present = false;
                n->device.transport = (struct cb_transport){ 0 };
                off_done(n);
                return;
        }
        n->power.step = STEP_VERIFYING_OFF;
        node_arm_timer(n, TIMER_POWER_VERIFY, config(n)->power_off_timeout);
}

static int on_refusal(sd_event_source *s, void *userdata) {
        struct cb_node *n = userdata;

        switched(n, n->power.refused, NULL);
        return 0;
}

/*
 * Whatever happens, the result arrives from the loop: a caller of
 * cb_node_power() never hears back from inside its own call.
 */
static void switch_power(struct cb_node *n, bool on) {
        int r;

        n->power.step = on ? STEP_SWITCHING_ON : STEP_SWITCHING_OFF;
        r = cb_power_set(n->power.backend, on, switched, n);
        if (r >= 0)
                return;
        n->power.refused = r;
        if (!n->power.refusal && sd_event_add_defer(n->env->event, &n->power.refusal, on_refusal, n) < 0) {
                switched(n, r, NULL); /* out of memory: better now than never */
                return;
        }
        (void) sd_event_source_set_enabled(n->power.refusal, SD_EVENT_ONESHOT);
}

void node_power_device_removed(struct cb_node *n) {
        if (n->power.step != STEP_VERIFYING_OFF)
                return;
        node_disarm_timer(n);
        node_log(n, LOG_INFO, "the board left the bus: its power is off");
        off_done(n);
}

void node_power_timer(struct cb_node *n, enum node_timer purpose) {
        char why[512];

        if (purpose == TIMER_POWER_SETTLE) {
                queue_on(n);
                return;
        }
        /* TIMER_POWER_VERIFY */
        snprintf(why, sizeof why,
                 "%s was switched off, but the board was still on the bus %.1fs later: this switch does not really "
                 "cut its power",
                 cb_power_describe(n->power.backend), node_seconds(config(n)->power_off_timeout));
        if (n->power.purpose == PURPOSE_OFF) {
                finish(n, -EIO, why);
                return;
        }
        /* a cycle goes on (the port must be switched on again), but it did not do what it was for */
        node_log(n, LOG_WARNING, "%s", why);
        (void) strdup_to(&n->power.error, why);
        off_done(n);
}

/* ---- starting and ending ---- */

static void start(struct cb_node *n, enum power_purpose purpose, cb_node_power_done_t done, void *userdata) {
        n->power.purpose = purpose;
        n->power.done = done;
        n->power.done_userdata = userdata;
        n->power.error = xfree(n->power.error);
        if (purpose == PURPOSE_ON || purpose == PURPOSE_ENSURE_ON) {
                queue_on(n);
                return;
        }
        switch_power(n, false);
}

/* Stops the boot in progress, for an operation that takes the board away. */
static void stop_boot(struct cb_node *n) {
        node_stop_session(n);
        node_disarm_timer(n);
}

static void state_after(struct cb_node *n, enum power_purpose purpose, int result, const char *message,
                        const char *reason) {
        char why[1024];

        switch (purpose) {
        case PURPOSE_OFF:
                if (result < 0) {
                        node_set_last_error(n, message);
                        node_set_state(n, CB_NODE_OFF, NULL, "power off failed: %s", message);
                } else {
                        node_set_state(n, CB_NODE_OFF, NULL, "powered off");
                }
                break;
        case PURPOSE_ON:
        case PURPOSE_REBOOT:
                if (result < 0) {
                        snprintf(why, sizeof why, "cannot power on: %s", message);
                        node_give_up(n, why);
                        break;
                }
                node_fresh_boot(n);
                if (n->device_present) {
                        node_log(n, LOG_INFO, "powered on; the board is already on its port");
                        node_boot_present(n);
                } else {
                        node_set_state(n, CB_NODE_ABSENT, NULL, "powered on; waiting for the board");
                }
                break;
        case PURPOSE_RECOVER:
                if (result < 0) {
                        snprintf(why, sizeof why, "%s; the power cycle failed: %s", reason, message);
                        node_give_up(n, why);
                        break;
                }
                node_attempt_failed(n, reason);
                break;
        case PURPOSE_REVIVE:
                if (result < 0) {
                        snprintf(why, sizeof why, "%s; the board did not come back and the power cycle failed: %s",
                                 n->last_error ? n->last_error : "attempt failed", message);
                        node_give_up(n, why);
                        break;
                }
                if (n->device_present) {
                        node_resume(n);
                        break;
                }
                node_log(n, LOG_INFO, "power cycled; waiting up to %.1fs for the board",
                         node_seconds(config(n)->reenumerate_timeout));
                node_arm_timer(n, TIMER_COMEBACK, config(n)->reenumerate_timeout);
                break;
        case PURPOSE_ENSURE_ON: /* the boot was never held: nothing to resume; a failure is logged by finish() */
        case PURPOSE_NONE:
                break;
        }
}

static void finish(struct cb_node *n, int result, const char *message) {
        enum power_purpose purpose = n->power.purpose;
        cb_node_power_done_t done = n->power.done;
        void *userdata = n->power.done_userdata;
        _cleanup_free_ char *reason = TAKE_PTR(n->power.reason);
        _cleanup_free_ char *error = TAKE_PTR(n->power.error);

        n->power.purpose = PURPOSE_NONE;
        n->power.step = STEP_IDLE;
        n->power.done = NULL;
        n->power.done_userdata = NULL;
        if (result < 0)
                node_log(n, LOG_WARNING, "%s failed: %s", purpose_names[purpose], message);

        state_after(n, purpose, result, message, reason ? reason : "attempt failed");

        /* the board did not leave: the cycle ran, but it is reported as what it was */
        if (result >= 0 && error && purpose != PURPOSE_RECOVER && purpose != PURPOSE_REVIVE) {
                result = -EIO;
                message = error;
        }
        if (done)
                done(userdata, result, message);

        if (n->power.purpose == PURPOSE_NONE && n->power.next_purpose != PURPOSE_NONE) {
                enum power_purpose next = n->power.next_purpose;
                cb_node_power_done_t next_done = n->power.next_done;
                void *next_userdata = n->power.next_userdata;

                n->power.next_purpose = PURPOSE_NONE;
                n->power.next_done = NULL;
                n->power.next_userdata = NULL;
                begin(n, next, next_done, next_userdata);
        }
}

/* A user's action: the boot in progress stops unless it is a plain power-on. */
static void begin(struct cb_node *n, enum power_purpose purpose, cb_node_power_done_t done, void *userdata) {
        if (purpose != PURPOSE_ENSURE_ON)
                stop_boot(n);
        switch (purpose) {
        case PURPOSE_OFF:
                node_set_state(n, CB_NODE_OFF, NULL, "powering off on request (%s)",
                               cb_power_describe(n->power.backend));
                break;
        case PURPOSE_ON:
                node_set_state(n, CB_NODE_OFF, NULL, "powering on on request; waiting for its turn");
                break;
        case PURPOSE_REBOOT:
                node_set_state(n, CB_NODE_OFF, NULL, "rebooting on request: power off, %.1fs, power on",
                               node_seconds(config(n)->power_settle));
                break;
        default:
                break;
        }
        start(n, purpose, done, userdata);
}

/* ---- what the rest of the node calls ---- */

void node_power_recover(struct cb_node *n, const char *reason) {
        stop_boot(n);
        n->last_recovery = RECOVERY_POWER_CYCLE;
        n->power_cycles++;
        (void) strdup_to(&n->power.reason, reason);
        node_set_state(n, CB_NODE_RETRYING, NULL, "%s; a reset did not help: power-cycling the board (%s)", reason,
                       cb_power_describe(n->power.backend));
        start(n, PURPOSE_RECOVER, NULL, NULL);
}

bool node_power_revive(struct cb_node *n) {
        if (!n->power.backend || n->revived || n->power.purpose != PURPOSE_NONE)
                return false;
        n->revived = true;
        n->last_recovery = RECOVERY_POWER_CYCLE;
        n->power_cycles++;
        node_set_state(n, CB_NODE_RETRYING, NULL,
                       "the board did not come back on its port within %.1fs: power-cycling it (%s)",
                       node_seconds(config(n)->reenumerate_timeout), cb_power_describe(n->power.backend));
        start(n, PURPOSE_REVIVE, NULL, NULL);
        return true;
}

int cb_node_power(struct cb_node *n, enum cb_node_power_action action, cb_node_power_done_t done,
                  void *userdata) {
        static const enum power_purpose purposes[] = {
                [CB_NODE_POWER_OFF] = PURPOSE_OFF,
                [CB_NODE_POWER_ON] = PURPOSE_ON,
                [CB_NODE_REBOOT] = PURPOSE_REBOOT,
        };
        enum power_purpose purpose = purposes[action];

        /* on a node that is not off, nothing blocks the boot: an already-on switch stays on */
        if (action == CB_NODE_POWER_ON && n->state != CB_NODE_OFF)
                purpose = PURPOSE_ENSURE_ON;
        if (!n->power.backend)
                return -EOPNOTSUPP;
        if (action == CB_NODE_REBOOT && n->state == CB_NODE_OFF && n->power.purpose == PURPOSE_NONE)
                return -EHOSTDOWN;
        if (n->resetting && n->power.purpose == PURPOSE_NONE)
                return -EBUSY;
        if (n->power.purpose == PURPOSE_ENSURE_ON && n->power.step == STEP_QUEUED_ON && !n->power.done &&
            n->env->power_queue && cb_power_queue_remove(n->env->power_queue, n) > 0) {
                /* a start-up power-on that has not begun gives way */
                n->power.purpose = PURPOSE_NONE;
                n->power.step = STEP_IDLE;
        }
        if (n->power.purpose != PURPOSE_NONE) {
                /* the user's word comes right after the operation in flight; one such word waits */
                if (n->power.next_purpose != PURPOSE_NONE)
                        return -EBUSY;
                n->power.next_purpose = purpose;
                n->power.next_done = done;
                n->power.next_userdata = userdata;
                node_log(n, LOG_INFO, "%s requested; it follows the %s in progress", purpose_names[purpose],
                         purpose_names[n->power.purpose]);
                goto accepted;
        }
        begin(n, purpose, done, userdata);
accepted:
        if (action != CB_NODE_REBOOT && n->env->power_requested)
                n->env->power_requested(n, action == CB_NODE_POWER_OFF, n->env->userdata);
        return 0;
}

void cb_node_power_at_start(struct cb_node *n, bool was_off) {
        if (!n->power.backend || n->power.purpose != PURPOSE_NONE)
                return;
        if (was_off) {
                node_set_state(n, CB_NODE_OFF, NULL, "was powered off before the daemon restarted; switching it off");
                start(n, PURPOSE_OFF, NULL, NULL);
                return;
        }
        start(n, PURPOSE_ENSURE_ON, NULL, NULL);
}

void node_power_free(struct cb_node *n) {
        cb_node_power_done_t done = n->power.done, next_done = n->power.next_done;
        void *userdata = n->power.done_userdata, *next_userdata = n->power.next_userdata;

        if (n->env->power_queue)
                (void) cb_power_queue_remove(n->env->power_queue, n);
        /* freeing the backend drops its call in flight without a callback */
        n->power.backend = cb_power_free(n->power.backend);
        n->power.purpose = n->power.next_purpose = PURPOSE_NONE;
        n->power.done = n->power.next_done = NULL;
        n->power.refusal = sd_event_source_disable_unref(n->power.refusal);
        free(n->power.reason);
        free(n->power.error);
        if (done)
                done(userdata, -ECANCELED, "the daemon is shutting down");
        if (next_done)
                next_done(next_userdata, -ECANCELED, "the daemon is shutting down");
}
