/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "inproc.h"

#include <errno.h>
#include <string.h>

void emu_port_announce(struct emu_port *p) {
        uint8_t desc[256];
        struct cb_node_device dev = { 0 };

        size_t n = emu_board_descriptors(&p->board, desc, sizeof desc);
        p->connected = true;
        dev.vid = emu_board_vid(&p->board);
        dev.pid = emu_board_pid(&p->board);
        dev.stage = cb_proto_classify(dev.vid, dev.pid, n >= 18 ? desc[16] : 0, NULL);
        dev.transport = (struct cb_transport){ &emu_port_transport_ops, p };
        if (p->node)
                cb_node_device_added(p->node, &dev);
}

static void depart(struct emu_port *p) {
        if (!p->connected)
                return;
        p->connected = false;
        if (p->node)
                cb_node_device_removed(p->node);
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        struct emu_port *p = userdata;

        emu_board_reconnect(&p->board);
        if (p->board.stage != EMU_STAGE_OFF)
                emu_port_announce(p);
        return 0;
}

static int on_disconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        struct emu_port *p = userdata;
        bool forever = p->board.next_stage == EMU_STAGE_OFF;

        depart(p);
        if (!forever) {
                sd_event_source_disable_unref(p->bus_source);
                sd_event_add_time_relative(p->event, &p->bus_source, CLOCK_MONOTONIC, p->reconnect_delay, 1,
                                           on_reconnect, p);
        }
        return 0;
}

/* Carries out what the board asked of the bus after an operation. */
static void bus_follow_up(struct emu_port *p) {
        enum emu_bus_action a = emu_board_take_bus_action(&p->board);

        if (a == EMU_BUS_NONE)
                return;
        sd_event_source_disable_unref(p->bus_source);
        /* the removal is seen a moment after the transfer completes, as on a real bus */
        sd_event_add_time_relative(p->event, &p->bus_source, CLOCK_MONOTONIC, 500, 1, on_disconnect, p);
}

static int on_complete(sd_event_source *s, void *userdata) {
        struct emu_port *p = userdata;
        cb_transfer_done_t done = p->op_done;

        p->op_pending = false;
        p->op_source = sd_event_source_disable_unref(p->op_source);
        done(p->op_userdata, p->op_status, p->op_actual);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        struct emu_port *p = userdata;

        p->timeouts++;
        return on_complete(s, userdata);
}

static int begin(struct emu_port *p, cb_transfer_done_t done, void *userdata) {
        if (!p->connected)
                return -ENODEV;
        if (p->op_pending)
                return -EBUSY;
        p->op_pending = true;
        p->op_done = done;
        p->op_userdata = userdata;
        p->op_actual = 0;
        p->transfers++;
        return 0;
}

static void conclude(struct emu_port *p, enum emu_verdict v, size_t actual, usec_t timeout) {
        p->op_actual = actual;
        if (v == EMU_NO_ANSWER) {
                p->op_status = -ETIMEDOUT;
                sd_event_add_time_relative(p->event, &p->op_source, CLOCK_MONOTONIC, timeout, 1, on_timeout, p);
        } else {
                p->op_status = v == EMU_ACK ? 0 : v == EMU_STALL ? -EPIPE : -ENODEV;
                sd_event_add_defer(p->event, &p->op_source, on_complete, p);
        }
        bus_follow_up(p);
}

static int port_control_out(void *impl, uint16_t value, uint16_t index, usec_t timeout, cb_transfer_done_t done,
                            void *userdata) {
        struct emu_port *p = impl;
        int r = begin(p, done, userdata);

        if (r < 0)
                return r;
        conclude(p, emu_board_control_out(&p->board, value, index), 0, timeout);
        return 0;
}

static int port_control_in(void *impl, uint16_t value, uint16_t index, uint8_t *buf, uint16_t length, usec_t timeout,
                           cb_transfer_done_t done, void *userdata) {
        struct emu_port *p = impl;
        size_t actual = 0;
        int r = begin(p, done, userdata);

        if (r < 0)
                return r;
        enum emu_verdict v = emu_board_control_in(&p->board, value, index, buf, length, &actual);
        conclude(p, v, actual, timeout);
        return 0;
}

static int port_bulk_out(void *impl, const uint8_t *buf, size_t length, usec_t timeout, cb_transfer_done_t done,
                         void *userdata) {
        struct emu_port *p = impl;
        size_t taken = 0;
        int r = begin(p, done, userdata);

        if (r < 0)
                return r;
        enum emu_verdict v = emu_board_bulk_out(&p->board, buf, length, &taken);
        conclude(p, v, taken, timeout);
        return 0;
}

static void port_cancel(void *impl) {
        struct emu_port *p = impl;

        if (!p->op_pending)
                return;
        p->op_source = sd_event_source_disable_unref(p->op_source);
        p->op_status = -ECANCELED;
        sd_event_add_defer(p->event, &p->op_source, on_complete, p);
}

static int port_reset(void *impl, cb_transfer_done_t done, void *userdata) {
        struct emu_port *p = impl;
        int r = begin(p, done, userdata);

        if (r < 0)
                return r;
        p->transfers--; /* not a transfer */
        emu_board_reset(&p->board);
        p->op_actual = 0;
        p->op_status = p->board.stage == EMU_STAGE_OFF ? -ENODEV : 0;
        sd_event_add_defer(p->event, &p->op_source, on_complete, p);
        bus_follow_up(p);
        return 0;
}

const struct cb_transport_ops emu_port_transport_ops = {
        .control_out = port_control_out,
        .control_in = port_control_in,
        .bulk_out = port_bulk_out,
        .cancel = port_cancel,
        .reset = port_reset,
};

void emu_port_init(struct emu_port *p, sd_event *event, const struct emu_board_config *config,
                   struct cb_node *node) {
        memset(p, 0, sizeof *p);
        p->event = event;
        p->node = node;
        p->reconnect_delay = 2000;
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

void emu_port_unplug(struct emu_port *p) {
        emu_board_unplug(&p->board);
        p->bus_source = sd_event_source_disable_unref(p->bus_source);
        depart(p);
}
