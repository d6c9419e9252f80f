/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A power switch for an in-process emulated board, behind the daemon's
 * power backend interface (power.h): "off" takes the board off its port
 * (it loses everything, as a bus-powered Pi does), "on" plugs it back in,
 * and it starts in its boot ROM. Settings make it a switch that does not
 * really cut power, or one that fails.
 */

#include "inproc.h"
#include "power.h"

struct emu_power_settings {
        usec_t delay;           /* how long a switch takes */
        bool does_not_cut;      /* "off" succeeds but the board stays on the bus */
        bool keeps_power;       /* "off" reports the port unpowered (as a hub's status does) and the host loses
                                 * the board, but the board keeps its power: "on" brings it back as it was */
        int fail_off, fail_on;  /* negative errno: the switch fails that way */
        int refuse;             /* negative errno: set() refuses to start, synchronously */
};

struct emu_power_log {
        unsigned offs, ons;
        usec_t on_times[16];    /* CLOCK_MONOTONIC of each "on" (the first 16) */
        usec_t off_times[16];   /* and of each "off" */
        unsigned asked_ons;
        usec_t on_asked_times[16]; /* when each "on" was asked for: what a power-on queue spaces */
};

/* `log` (may be NULL) must outlive the backend. */
int emu_power_new(struct emu_port *port, const struct emu_power_settings *s, struct emu_power_log *log,
                  struct cb_power **ret);
