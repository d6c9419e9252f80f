/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Boards: adding them, their enumerations, power (plug, unplug, the power
 * hook), and their life on the bus: dropping off when the model says so and
 * coming back in the next stage.
 */
#include "tb-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The board a device's operations reach, NULL if the device is not (any more) on the bus. */
tb_board *dev_live_board(struct tb_usbdev *d) {
        if (!d->board || d->gone || d->board->dev != d)
                return NULL;
        return d->board;
}

static struct tb_usbdev *dev_add_board(tb_board *b) {
        tb_testbed *tb = b->tb;
        struct tb_usbdev *d = dev_new(tb, b->busnum, b->port);

        d->board = b;
        d->generation = b->emu.generation;
        d->desc_len = emu_board_descriptors(&b->emu, d->desc, sizeof d->desc);
        if (d->desc_len > sizeof d->desc)
                die("descriptors of %s too long", b->port);
        d->high_speed = emu_board_high_speed(&b->emu);
        b->dev = d;
        b->enumerations++;
        dev_publish(d, b->hub->dev->syspath, false);
        return d;
}

/* ------------------------------------------------------------------ */
/* bus actions: drop off, come back */

/* A board's one-shot timer fired: forgets its source, runs `fn` under the lock, wakes the loop. */
static gboolean board_timer_fired(tb_board *b, GSource **src, void (*fn)(tb_board *b)) {
        tb_testbed *tb = b->tb;

        g_rec_mutex_lock(&tb->lock);
        g_source_unref(*src);
        *src = NULL;
        fn(b);
        g_rec_mutex_unlock(&tb->lock);
        wake(tb);
        return G_SOURCE_REMOVE;
}

static void reconnect(tb_board *b) {
        if (b->powered && !b->dev) {
                emu_board_reconnect(&b->emu);
                if (b->emu.stage != EMU_STAGE_OFF)
                        dev_add_board(b);
        }
}

static gboolean reconnect_cb(gpointer data) {
        tb_board *b = data;

        return board_timer_fired(b, &b->reconnect_src, reconnect);
}

static void drop(tb_board *b) {
        if (b->dev) {
                dev_remove(b->dev);
                b->dev = NULL;
        }
        if (b->powered && b->emu.next_stage != EMU_STAGE_OFF && !b->reconnect_src) {
                int ms = b->tb->opt.reconnect_delay_ms;
                b->reconnect_src = attach_timeout(b->tb, ms < 0 ? 0 : ms, reconnect_cb, b);
        }
}

static gboolean drop_cb(gpointer data) {
        tb_board *b = data;

        return board_timer_fired(b, &b->drop_src, drop);
}

/* After a board operation (lock held, any thread). answered_at: when the host gets the
 * answer of that operation (its URB's completion), 0 if at once. */
void handle_bus_action(tb_board *b, enum emu_verdict v, int64_t answered_at) {
        tb_testbed *tb = b->tb;
        enum emu_bus_action a = emu_board_take_bus_action(&b->emu);

        if (a == EMU_BUS_NONE || b->drop_src)
                return;
        if (a == EMU_BUS_DISCONNECT_FOREVER)
                b->emu.next_stage = EMU_STAGE_OFF;
        /* A board that vanished mid-operation is gone now; one that answered and then
         * restarts (loader running, kernel booting) leaves a little after the host
         * got that answer, never before. */
        int ms = 0;
        if (v == EMU_ACK) {
                int64_t wait_us = answered_at - g_get_monotonic_time();
                ms = (tb->opt.drop_delay_ms < 0 ? 0 : tb->opt.drop_delay_ms) + (wait_us > 0 ? (int) (wait_us / 1000) + 1 : 0);
        }
        b->drop_src = attach_timeout(tb, ms, drop_cb, b);
}

/* ------------------------------------------------------------------ */
/* public: boards */

tb_board *tb_add_board(tb_testbed *tb, const char *port, const struct emu_board_config *config) {
        struct emu_board_config def = { 0 };
        unsigned busnum;
        int n = 0;

        if (sscanf(port, "%u-%n", &busnum, &n) != 1 || n == 0 || busnum < 1 || busnum > 127 || !port[n] ||
            strlen(port) >= sizeof ((tb_board *) NULL)->port)
                die("bad port path '%s' (expected like 1-1 or 1-1.3)", port);
        for (const char *p = port + n; *p; p++)
                if (!g_ascii_isdigit(*p) && *p != '.')
                        die("bad port path '%s'", port);
        if (tb_find_board(tb, port))
                die("port %s already has a board", port);

        g_rec_mutex_lock(&tb->lock);
        tb_board *b = g_new0(tb_board, 1);
        b->tb = tb;
        g_strlcpy(b->port, port, sizeof b->port);
        b->busnum = busnum;
        emu_board_init(&b->emu, config ? config : &def);

        char *parent = g_strdup(port);
        char *dot = strrchr(parent, '.');
        if (dot) {
                b->hub_port = (unsigned) atoi(dot + 1);
                *dot = '\0';
                b->hub = get_hub(tb, busnum, parent);
        } else {
                char root[16];
                b->hub_port = (unsigned) atoi(strchr(port, '-') + 1);
                snprintf(root, sizeof root, "usb%u", busnum);
                b->hub = get_hub(tb, busnum, root);
        }
        g_free(parent);
        if (b->hub_port < 1 || b->hub_port > emu_hub_model_ports(&b->hub->model))
                die("port %s: hub %s has ports 1..%u", port, b->hub->port, emu_hub_model_ports(&b->hub->model));
        g_ptr_array_add(tb->boards, b);
        g_rec_mutex_unlock(&tb->lock);
        return b;
}

size_t tb_n_boards(tb_testbed *tb) {
        return tb->boards->len;
}

tb_board *tb_board_at(tb_testbed *tb, size_t i) {
        return i < tb->boards->len ? g_ptr_array_index(tb->boards, i) : NULL;
}

tb_board *tb_find_board(tb_testbed *tb, const char *port) {
        for (guint i = 0; i < tb->boards->len; i++) {
                tb_board *b = g_ptr_array_index(tb->boards, i);
                if (strcmp(b->port, port) == 0)
                        return b;
        }
        return NULL;
}

const char *tb_board_port(const tb_board *b) {
        return b->port;
}

struct emu_board *tb_board_emu(tb_board *b) {
        return &b->emu;
}

enum emu_stage tb_board_stage(tb_board *b) {
        g_rec_mutex_lock(&b->tb->lock);
        enum emu_stage s = b->emu.stage;
        g_rec_mutex_unlock(&b->tb->lock);
        return s;
}

unsigned tb_board_enumerations(tb_board *b) {
        g_rec_mutex_lock(&b->tb->lock);
        unsigned n = b->enumerations;
        g_rec_mutex_unlock(&b->tb->lock);
        return n;
}

void tb_board_end_pause(tb_board *b) {
        g_rec_mutex_lock(&b->tb->lock);
        b->emu.busy_until_ms = 0;
        tb_event(b->tb, "pause of %s ended%s", b->port, b->dev ? "" : " (off the bus)");
        if (b->dev)
                dev_wake_urbs(b->dev);
        g_rec_mutex_unlock(&b->tb->lock);
        wake(b->tb);
}

bool tb_board_powered(tb_board *b) {
        g_rec_mutex_lock(&b->tb->lock);
        bool p = b->powered;
        g_rec_mutex_unlock(&b->tb->lock);
        return p;
}

void set_power(tb_board *b, bool on, bool by_hub) {
        tb_testbed *tb = b->tb;

        g_rec_mutex_lock(&tb->lock);
        if (on == b->powered) {
                g_rec_mutex_unlock(&tb->lock);
                return;
        }
        b->powered = on;
        drop_source(&b->drop_src);
        drop_source(&b->reconnect_src);
        if (on) {
                tb_event(tb, "power on %s", b->port);
                emu_board_plug(&b->emu);
                emu_board_take_bus_action(&b->emu);
                if (b->dev) { /* cannot happen, but never leave two enumerations */
                        dev_remove(b->dev);
                        b->dev = NULL;
                }
                dev_add_board(b);
        } else {
                tb_event(tb, "power off %s", b->port);
                emu_board_unplug(&b->emu);
                emu_board_take_bus_action(&b->emu);
                if (b->dev) {
                        dev_remove(b->dev);
                        b->dev = NULL;
                }
        }
        tb_power_hook hook = tb->power_hook;
        void *ud = tb->power_hook_data;
        g_rec_mutex_unlock(&tb->lock);
        if (hook)
                hook(b, on, by_hub, ud);
        wake(tb);
}

void tb_plug(tb_board *b) {
        set_power(b, true, false);
}

void tb_unplug(tb_board *b) {
        set_power(b, false, false);
}

void tb_power(tb_board *b, bool on) {
        set_power(b, on, false);
}

void tb_set_power_hook(tb_testbed *tb, tb_power_hook hook, void *userdata) {
        g_rec_mutex_lock(&tb->lock);
        tb->power_hook = hook;
        tb->power_hook_data = userdata;
        g_rec_mutex_unlock(&tb->lock);
}
