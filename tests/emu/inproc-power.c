/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "inproc-power.h"

#include <errno.h>
#include <stdlib.h>

struct emu_power {
        struct emu_port *port;
        struct emu_power_settings settings;
        struct emu_power_log *log;
        sd_event_source *pending;
        bool on;
        cb_power_done_t done;
        void *userdata;
};

static int on_switched(sd_event_source *s, uint64_t usec, void *userdata) {
        struct emu_power *p = userdata;
        cb_power_done_t done = p->done;
        int fail = p->on ? p->settings.fail_on : p->settings.fail_off;

        p->pending = sd_event_source_disable_unref(p->pending);
        p->done = NULL;
        if (fail < 0) {
                done(p->userdata, fail, p->on ? "the emulated switch failed to switch on"
                                               : "the emulated switch failed to switch off");
                return 0;
        }
        if (p->on) {
                if (p->log) {
                        if (p->log->ons < ELEMENTSOF(p->log->on_times))
                                p->log->on_times[p->log->ons] = now_usec();
                        p->log->ons++;
                }
                if (p->settings.keeps_power) {
                        /* it never lost its power: back on the bus in the stage it was in */
                        emu_port_announce(p->port);
                        done(p->userdata, 0, NULL);
                        return 0;
                }
                if (p->port->board.stage != EMU_STAGE_OFF || p->port->board.next_stage != EMU_STAGE_OFF) {
                        /*
                         * It has power (on the bus, or between two stages; or the off did not cut): switching
                         * on changes nothing. Plugging it again would announce a second device while the
                         * first is still on its way.
                         */
                        done(p->userdata, 0, NULL);
                        return 0;
                }
                /* a board whose power comes back starts from its ROM with nothing in memory */
                p->port->board.n_files = 0;
                emu_port_plug(p->port);
        } else {
                if (p->log) {
                        if (p->log->offs < ELEMENTSOF(p->log->off_times))
                                p->log->off_times[p->log->offs] = now_usec();
                        p->log->offs++;
                }
                if (p->settings.keeps_power) {
                        emu_port_depart(p->port);
                        done(p->userdata, CB_POWER_OFF_CONFIRMED, NULL);
                        return 0;
                }
                if (!p->settings.does_not_cut)
                        emu_port_unplug(p->port);
        }
        done(p->userdata, 0, NULL);
        return 0;
}

static int power_set(void *impl, bool on, cb_power_done_t done, void *userdata) {
        struct emu_power *p = impl;
        int r;

        if (p->done)
                return -EBUSY;
        if (p->settings.refuse < 0)
                return p->settings.refuse;
        r = sd_event_add_time_relative(p->port->event, &p->pending, CLOCK_MONOTONIC, p->settings.delay, 1,
                                       on_switched, p);
        if (r < 0)
                return r;
        p->on = on;
        p->done = done;
        p->userdata = userdata;
        if (on && p->log) {
                if (p->log->asked_ons < ELEMENTSOF(p->log->on_asked_times))
                        p->log->on_asked_times[p->log->asked_ons] = now_usec();
                p->log->asked_ons++;
        }
        return 0;
}

static void power_cancel(void *impl) {
        struct emu_power *p = impl;
        cb_power_done_t done = p->done;

        if (!done)
                return;
        p->pending = sd_event_source_disable_unref(p->pending);
        p->done = NULL;
        done(p->userdata, -ECANCELED, "cancelled");
}

static void power_free(void *impl) {
        struct emu_power *p = impl;

        sd_event_source_disable_unref(p->pending);
        free(p);
}

static const char *power_describe(void *impl) {
        return "emulated switch";
}

static const struct cb_power_ops emu_power_ops = {
        .set = power_set,
        .cancel = power_cancel,
        .free = power_free,
        .describe = power_describe,
};

int emu_power_new(struct emu_port *port, const struct emu_power_settings *s, struct emu_power_log *log,
                  struct cb_power **ret) {
        struct cb_power *power = calloc(1, sizeof *power);
        struct emu_power *p = calloc(1, sizeof *p);

        if (!power || !p) {
                free(power);
                free(p);
                return -ENOMEM;
        }
        p->port = port;
        p->settings = s ? *s : (struct emu_power_settings){ .delay = 1000 };
        p->log = log;
        *power = (struct cb_power){ .ops = &emu_power_ops, .impl = p };
        *ret = power;
        return 0;
}
