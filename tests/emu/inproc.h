/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The emulated board attached in-process: it implements the daemon's
 * cb_transport on an sd-event loop (transfers complete from the loop,
 * unanswered ones time out on real timers) and tells a cb_node when the
 * board appears on and leaves its port, as the manager does for real
 * devices.
 */

#include <systemd/sd-event.h>

#include "board.h"
#include "node.h"
#include "transport.h"

struct emu_port {
        sd_event *event;
        struct emu_board board;
        struct cb_node *node;      /* told of arrivals and departures; may be NULL */
        usec_t reconnect_delay;    /* off the bus between stages */

        /* the one transfer in flight */
        bool op_pending;
        cb_transfer_done_t op_done;
        void *op_userdata;
        int op_status;
        size_t op_actual;
        sd_event_source *op_source;

        sd_event_source *bus_source;
        bool connected;

        unsigned transfers; /* started, for tests */
        unsigned timeouts;
};

void emu_port_init(struct emu_port *p, sd_event *event, const struct emu_board_config *config,
                   struct cb_node *node);
void emu_port_done(struct emu_port *p);
/* Plug the board in: it appears in ROM at once. */
void emu_port_plug(struct emu_port *p);
/* Tells the port's node about the device on it, as a (re)started daemon finds it. */
void emu_port_announce(struct emu_port *p);
/* Pull it out (it stays out). */
void emu_port_unplug(struct emu_port *p);

extern const struct cb_transport_ops emu_port_transport_ops;
