/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "inproc.h"

#include <errno.h>
#include <string.h>

/*
 * The board and its bus keep their own schedule, whatever the host does.
 * On a loaded machine (valgrind, CI) the loop can stall for longer than
 * the node's short test timeouts; when it wakes, a bus event and the
 * node's deadline can be due together, and sd-event orders sources due in
 * one go by priority only. So the bus's timers (leaving, coming back, a
 * busy board waking) come first: one due before the node's deadline runs
 * before it, as it would have on time. They are armed from when they were
 * due, never from a late "now", and a board that leaves after a transfer
 * only starts leaving once the host has seen that transfer complete (unless
 * the leave order says the bus tells first). Completions keep the loop's
 * normal priority: boards and the control socket share the loop as they do
 * in the daemon.
 */
#define PRIORITY_BUS SD_EVENT_PRIORITY_IMPORTANT

static struct emu_device *current_device(struct emu_port *p) {
        struct emu_device *d = &p->devices[p->board.generation % EMU_PORT_DEVICES];

        d->port = p;
        d->generation = p->board.generation;
        return d;
}

static bool device_alive(const struct emu_device *d) {
        const struct emu_port *p = d->port;

        return p->board.stage != EMU_STAGE_OFF && d->generation == p->board.generation;
}

struct cb_transport emu_port_transport(struct emu_port *p) {
        return (struct cb_transport){ &emu_port_transport_ops, current_device(p) };
}

void emu_port_announce(struct emu_port *p) {
        uint8_t desc[256];
        struct cb_node_device dev = { 0 };

        size_t n = emu_board_descriptors(&p->board, desc, sizeof desc);
        p->connected = true;
        if (p->listener) {
                p->listener->arrived(p->listener->userdata, p);
                return;
        }
        dev.vid = emu_board_vid(&p->board);
        dev.pid = emu_board_pid(&p->board);
        dev.stage = cb_proto_classify(dev.vid, dev.pid, n >= 18 ? desc[16] : 0, NULL);
        dev.transport = (struct cb_transport){ &emu_port_transport_ops, current_device(p) };
        if (p->node)
                cb_node_device_added(p->node, &dev);
}

static void depart(struct emu_port *p) {
        if (!p->connected)
                return;
        p->connected = false;
        if (p->listener)
                p->listener->left(p->listener->userdata, p);
        else if (p->node)
                cb_node_device_removed(p->node);
}

static void complete_now(struct emu_port *p, int status);

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        struct emu_port *p = userdata;

        /*
         * The kernel gave back the old device's transfers when it left, well
         * before the new one enumerates. On a stalled loop this timer can come
         * due before that completion was dispatched: deliver it first, or the
         * new device would find the port's one transfer slot still taken.
         */
        if (p->op_pending)
                complete_now(p, p->op_answered ? p->op_status : -ENODEV);
        emu_board_reconnect(&p->board);
        if (p->board.stage != EMU_STAGE_OFF)
                emu_port_announce(p);
        return 0;
}

/* udev reports the departure: only now does the node hear of it (and of what comes next). */
static int on_disconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        struct emu_port *p = userdata;
        bool forever = p->board.next_stage == EMU_STAGE_OFF;

        depart(p);
        p->bus_source = sd_event_source_disable_unref(p->bus_source);
        /* from when it was due, not from now: a stalled loop must not push the board's return late */
        if (!forever && sd_event_add_time(p->event, &p->bus_source, CLOCK_MONOTONIC, usec + p->reconnect_delay, 1,
                                          on_reconnect, p) >= 0)
                (void) sd_event_source_set_priority(p->bus_source, PRIORITY_BUS);
        return 0;
}

/* Carries out what the board asked of the bus after an operation. */
static void bus_follow_up(struct emu_port *p) {
        enum emu_bus_action a = emu_board_take_bus_action(&p->board);

        if (a == EMU_BUS_NONE)
                return;
        p->bus_source = sd_event_source_disable_unref(p->bus_source);
        /* the kernel knows at once (the device answers -ENODEV); udev tells a moment, or a while, later */
        if (sd_event_add_time_relative(p->event, &p->bus_source, CLOCK_MONOTONIC,
                                       p->leave_order == EMU_LEAVE_REMOVAL_FIRST ? 0 : p->remove_delay, 1,
                                       on_disconnect, p) >= 0)
                (void) sd_event_source_set_priority(p->bus_source, PRIORITY_BUS);
}

static void complete_now(struct emu_port *p, int status) {
        cb_transfer_done_t done = p->op_done;

        p->op_pending = false;
        p->op_answered = false;
        p->op_source = sd_event_source_disable_unref(p->op_source);
        if (p->leave_after_completion) {
                p->leave_after_completion = false;
                bus_follow_up(p);
        }
        done(p->op_userdata, status, p->op_actual);
}

static int on_complete(sd_event_source *s, void *userdata) {
        struct emu_port *p = userdata;

        complete_now(p, p->op_status);
        return 0;
}

static void complete_later(struct emu_port *p, int status) {
        p->op_source = sd_event_source_disable_unref(p->op_source);
        p->op_status = status;
        p->op_answered = true;
        sd_event_add_defer(p->event, &p->op_source, on_complete, p);
}

static void run_op(struct emu_port *p);

/* An operation the board took; if it also left the bus, `leave_order` says what the host hears first. */
static void complete_acked(struct emu_port *p) {
        bool leaving = p->board.pending_bus_action != EMU_BUS_NONE;

        if (!leaving || p->leave_order == EMU_LEAVE_AFTER_COMPLETION) {
                complete_later(p, 0);
                return;
        }
        p->early_leaves++;
        if (p->leave_order == EMU_LEAVE_TRANSFER_FAILS) {
                complete_later(p, -ENODEV);
                return;
        }
        /* the removal (a timer due now, see bus_follow_up()) is dispatched before this completion */
        complete_later(p, 0);
        sd_event_source_set_priority(p->op_source, SD_EVENT_PRIORITY_IDLE);
}

static int on_op_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct emu_port *p = userdata;

        if (now_usec() >= p->op_deadline) {
                p->timeouts++;
                complete_now(p, -ETIMEDOUT);
                return 0;
        }
        run_op(p); /* the board was busy until now: ask it again */
        return 0;
}

/* The board did not answer: it may when it is no longer busy, else the host's timeout ends the transfer. */
static void wait_for_answer(struct emu_port *p) {
        uint64_t wake_ms = emu_board_wake_at(&p->board);
        usec_t when = p->op_deadline;

        if (wake_ms && wake_ms * USEC_PER_MSEC < when)
                when = wake_ms * USEC_PER_MSEC;
        p->op_source = sd_event_source_disable_unref(p->op_source);
        /* the board waking is the board's event; the host's own timeout is the host's */
        if (sd_event_add_time(p->event, &p->op_source, CLOCK_MONOTONIC, when, 1, on_op_timer, p) >= 0 &&
            when < p->op_deadline)
                (void) sd_event_source_set_priority(p->op_source, PRIORITY_BUS);
}

static void run_op(struct emu_port *p) {
        bool completes_later = true;
        enum emu_verdict v = EMU_ACK;
        size_t actual = 0;

        switch (p->op_kind) {
        case EMU_OP_CONTROL_OUT:
                v = emu_board_control_out(&p->board, p->op_value, p->op_index);
                break;
        case EMU_OP_CONTROL_IN:
                v = emu_board_control_in(&p->board, p->op_value, p->op_index, p->op_in, p->op_len, &actual);
                p->op_actual = actual;
                break;
        case EMU_OP_BULK_OUT:
                v = emu_board_bulk_out(&p->board, p->op_out + p->op_actual, p->op_len - p->op_actual, &actual);
                p->op_actual += actual;
                if (v == EMU_ACK && p->op_actual < p->op_len)
                        v = EMU_NO_ANSWER; /* took part of it: the rest waits (a fault's offset) */
                break;
        case EMU_OP_CLEAR_HALT:
                p->clear_halts++;
                v = emu_board_clear_halt(&p->board, emu_board_bulk_endpoint(&p->board));
                break;
        case EMU_OP_RESET:
                emu_board_reset(&p->board);
                v = p->board.stage == EMU_STAGE_OFF ? EMU_GONE : EMU_ACK;
                break;
        }
        switch (v) {
        case EMU_ACK:
                complete_acked(p);
                break;
        case EMU_STALL:
                complete_later(p, -EPIPE);
                break;
        case EMU_GONE:
                complete_later(p, -ENODEV);
                if (p->leave_order == EMU_LEAVE_REMOVAL_FIRST) {
                        /* the board left during the operation: udev may tell before the failed transfer does */
                        p->early_leaves++;
                        sd_event_source_set_priority(p->op_source, SD_EVENT_PRIORITY_IDLE);
                }
                break;
        case EMU_NO_ANSWER:
                wait_for_answer(p);
                completes_later = false;
                break;
        }
        if (completes_later && p->leave_order != EMU_LEAVE_REMOVAL_FIRST)
                p->leave_after_completion = true;
        else
                bus_follow_up(p);
}

static int begin(struct emu_device *d, enum emu_op_kind kind, usec_t timeout, cb_transfer_done_t done,
                 void *userdata) {
        struct emu_port *p = d->port;

        if (!device_alive(d))
                return -ENODEV; /* usbfs refuses a device that was disconnected, before udev says so */
        if (p->op_pending)
                return -EBUSY;
        p->op_pending = true;
        p->op_kind = kind;
        p->op_done = done;
        p->op_userdata = userdata;
        p->op_actual = 0;
        p->op_deadline = now_usec() + timeout;
        if (kind != EMU_OP_RESET && kind != EMU_OP_CLEAR_HALT)
                p->transfers++;
        return 0;
}

static int port_control_out(void *impl, uint16_t value, uint16_t index, usec_t timeout, cb_transfer_done_t done,
                            void *userdata) {
        struct emu_device *d = impl;
        int r = begin(d, EMU_OP_CONTROL_OUT, timeout, done, userdata);

        if (r < 0)
                return r;
        d->port->op_value = value;
        d->port->op_index = index;
        run_op(d->port);
        return 0;
}

static int port_control_in(void *impl, uint16_t value, uint16_t index, uint8_t *buf, uint16_t length, usec_t timeout,
                           cb_transfer_done_t done, void *userdata) {
        struct emu_device *d = impl;
        int r = begin(d, EMU_OP_CONTROL_IN, timeout, done, userdata);

        if (r < 0)
                return r;
        d->port->op_value = value;
        d->port->op_index = index;
        d->port->op_in = buf;
        d->port->op_len = length;
        run_op(d->port);
        return 0;
}

static int port_bulk_out(void *impl, const uint8_t *buf, size_t length, usec_t timeout, cb_transfer_done_t done,
                         void *userdata) {
        struct emu_device *d = impl;
        int r = begin(d, EMU_OP_BULK_OUT, timeout, done, userdata);

        if (r < 0)
                return r;
        d->port->op_out = buf;
        d->port->op_len = length;
        run_op(d->port);
        return 0;
}

static void port_cancel(void *impl) {
        struct emu_device *d = impl;
        struct emu_port *p = d->port;

        if (!p->op_pending)
                return;
        complete_later(p, device_alive(d) ? -ECANCELED : -ENODEV);
}

/* Not transfers, but they take the device the same way (one at a time, answered from the loop). */
static int port_clear_halt(void *impl, cb_transfer_done_t done, void *userdata) {
        struct emu_device *d = impl;
        int r = begin(d, EMU_OP_CLEAR_HALT, USEC_INFINITY / 2, done, userdata);

        if (r < 0)
                return r;
        run_op(d->port);
        return 0;
}

static int port_reset(void *impl, cb_transfer_done_t done, void *userdata) {
        struct emu_device *d = impl;
        int r = begin(d, EMU_OP_RESET, USEC_INFINITY / 2, done, userdata);

        if (r < 0)
                return r;
        run_op(d->port);
        return 0;
}

const struct cb_transport_ops emu_port_transport_ops = {
        .control_out = port_control_out,
        .control_in = port_control_in,
        .bulk_out = port_bulk_out,
        .cancel = port_cancel,
        .clear_halt = port_clear_halt,
        .reset = port_reset,
};

void emu_port_init(struct emu_port *p, sd_event *event, const struct emu_board_config *config,
                   struct cb_node *node) {
        memset(p, 0, sizeof *p);
        p->event = event;
        p->node = node;
        p->reconnect_delay = 2000;
        p->remove_delay = 500;
        emu_board_init(&p->board, config);
}

void emu_port_done(struct emu_port *p) {
        p->op_source = sd_event_source_disable_unref(p->op_source);
        p->bus_source = sd_event_source_disable_unref(p->bus_source);
}

void emu_port_plug(struct emu_port *p) {
        emu_board_plug(&p->board);
        emu_port_announce(p);
}

void emu_port_depart(struct emu_port *p) {
        p->board.generation++; /* the host lost it: it comes back as a new device, in the same stage */
        p->bus_source = sd_event_source_disable_unref(p->bus_source);
        p->leave_after_completion = false;
        depart(p);
}

void emu_port_unplug(struct emu_port *p) {
        emu_board_unplug(&p->board);
        p->bus_source = sd_event_source_disable_unref(p->bus_source);
        p->leave_after_completion = false;
        depart(p);
}
