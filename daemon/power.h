/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A node's power switch. A bus-powered Pi restarts only when its power is
 * cut (a USB reset does not reboot it), so power is how a node is rebooted,
 * kept off, and recovered when nothing else brings it back.
 *
 * A backend switches one node. Backends: usb-hub (power-hub.c: the port on
 * its parent hub, per-port power switching) and command (power-command.c:
 * the configured commands, e.g. a ClusterHAT's `clusterctrl`). A node with
 * Power=none has no backend at all (NULL).
 *
 * cb_power_set() starts switching and returns 0, or a negative errno if it
 * could not start (then `done` never runs). `done` runs exactly once per
 * started call, on the event loop, never from inside cb_power_set(), with
 *    0             switched
 *    CB_POWER_OFF_CONFIRMED (1)
 *                  switched off, and the switch itself reports the port
 *                  unpowered (a hub's port status): the board is dead even if
 *                  the kernel still lists it (some hubs, dummy_hcd among
 *                  them, do not report the disconnect until power returns)
 *   -ECANCELED     cb_power_cancel() was called
 *   -ETIMEDOUT     the switch did not finish in time
 *   -EOPNOTSUPP    this hardware cannot switch this port (say why)
 *   -EIO, ...      anything else
 * and `message`: on failure, one human-readable sentence saying what went
 * wrong and, where there is one, what to do (NULL on success). It is only
 * valid during the call.
 * One call at a time per backend: a second cb_power_set() while one runs
 * returns -EBUSY.
 */

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "util.h"

#define CB_POWER_OFF_CONFIRMED 1

typedef void (*cb_power_done_t)(void *userdata, int result, const char *message);

struct cb_power_ops {
        int (*set)(void *impl, bool on, cb_power_done_t done, void *userdata);
        /* Stops the call in flight, if any; its `done` still runs, with -ECANCELED. */
        void (*cancel)(void *impl);
        /* Frees the backend; a call in flight is cancelled first and its `done` is NOT run. */
        void (*free)(void *impl);
        /* "usb-hub port 3 of 1-1", "command": for messages */
        const char *(*describe)(void *impl);
};

struct cb_power {
        const struct cb_power_ops *ops;
        void *impl;
};

static inline int cb_power_set(struct cb_power *p, bool on, cb_power_done_t done, void *userdata) {
        return p->ops->set(p->impl, on, done, userdata);
}
static inline void cb_power_cancel(struct cb_power *p) {
        p->ops->cancel(p->impl);
}
static inline const char *cb_power_describe(struct cb_power *p) {
        return p->ops->describe(p->impl);
}
/* Frees the backend and the struct (allocated by the backend's constructor). */
static inline struct cb_power *cb_power_free(struct cb_power *p) {
        if (p) {
                p->ops->free(p->impl);
                free(p);
        }
        return NULL;
}
static inline void cb_power_freep(struct cb_power **p) {
        cb_power_free(*p);
}
