/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The emulated board attached in-process: it implements the daemon's
 * cb_transport on an sd-event loop (transfers complete from the loop,
 * unanswered ones time out on real timers, a busy board answers when it is
 * free again) and tells a cb_node when the board appears on and leaves its
 * port, as the manager does for real devices.
 *
 * As on a real bus, each appearance of the board is a device of its own:
 * a transport handed out for one appearance answers -ENODEV as soon as the
 * board has left, whenever the departure is reported (`remove_delay`
 * models udev telling late), and never talks to the board's next
 * appearance.
 */

#include <systemd/sd-event.h>

#include "board.h"
#include "node.h"
#include "transport.h"

#define EMU_PORT_DEVICES 16

struct emu_port;

/* One appearance of the board on the bus: the impl behind the transport the node is given. */
struct emu_device {
        struct emu_port *port;
        unsigned generation; /* the board's generation it belongs to */
};

enum emu_op_kind {
        EMU_OP_CONTROL_OUT,
        EMU_OP_CONTROL_IN,
        EMU_OP_BULK_OUT,
        EMU_OP_CLEAR_HALT,
        EMU_OP_RESET,
};

/*
 * A board leaves the bus as it answers (the ROM its status, a board its
 * Done): which the host hears of first.
 */
enum emu_leave_order {
        EMU_LEAVE_AFTER_COMPLETION, /* the transfer completes, then udev reports the removal */
        EMU_LEAVE_TRANSFER_FAILS,   /* the kernel saw the disconnect first: that transfer ends with -ENODEV */
        EMU_LEAVE_REMOVAL_FIRST,    /* udev's removal reaches the node before the transfer's completion (or,
                                       for a board that left during the operation, its failure) */
};

/*
 * Told of the board's arrivals and departures instead of a node: a test
 * with a manager between the bus and its nodes (test-manager.c) reports
 * them to it as udev would, and opens the device through its own opener.
 */
struct emu_bus_listener {
        void (*arrived)(void *userdata, struct emu_port *p);
        void (*left)(void *userdata, struct emu_port *p);
        void *userdata;
};

struct emu_port {
        sd_event *event;
        struct emu_board board;
        struct cb_node *node;      /* told of arrivals and departures; may be NULL */
        const struct emu_bus_listener *listener; /* when set, told instead of `node` */
        usec_t reconnect_delay;    /* off the bus between stages */
        usec_t remove_delay;       /* how late a departure is reported (udev's remove event) */
        enum emu_leave_order leave_order;

        struct emu_device devices[EMU_PORT_DEVICES]; /* a ring, indexed by generation */

        /* the one operation in flight */
        bool op_pending;
        enum emu_op_kind op_kind;
        uint16_t op_value, op_index;
        uint8_t *op_in;
        const uint8_t *op_out;
        size_t op_len, op_actual;
        usec_t op_deadline;
        int op_status;
        bool op_answered; /* op_status holds the answer, its completion is on the way */
        cb_transfer_done_t op_done;
        void *op_userdata;
        sd_event_source *op_source;

        sd_event_source *bus_source;
        bool connected;            /* the node has been told the board is on the port */

        unsigned transfers; /* started, for tests */
        unsigned timeouts;
        unsigned clear_halts;
        unsigned early_leaves; /* departures `leave_order` put before their completion */
        bool leave_after_completion; /* the board leaves once the host has its transfer's completion */
};

void emu_port_init(struct emu_port *p, sd_event *event, const struct emu_board_config *config,
                   struct cb_node *node);
void emu_port_done(struct emu_port *p);
/* Plug the board in: it appears in ROM at once. */
void emu_port_plug(struct emu_port *p);
/* The transport of the board's current appearance on the bus (tests that drive a session themselves). */
struct cb_transport emu_port_transport(struct emu_port *p);
/* Tells the port's node about the device on it, as a (re)started daemon finds it. */
void emu_port_announce(struct emu_port *p);
/* The host loses the board, which keeps its power and state (emu_port_announce() brings it back). */
void emu_port_depart(struct emu_port *p);
/* Pull it out (it stays out). */
void emu_port_unplug(struct emu_port *p);

extern const struct cb_transport_ops emu_port_transport_ops;
