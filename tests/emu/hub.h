/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A model USB hub behind the daemon's cb_hub_link seam (hub-link.h), on an
 * sd-event loop: the port power model of hub-model.h (shared with the
 * umockdev testbed's hubs), its device descriptor given with the open, the
 * hub class requests the usb-hub power backend sends carried to that model,
 * and the kernel's per-port sysfs `disable` file. Configurable: per-port / ganged / no power
 * switching, USB 2.0 or SuperSpeed, a "liar" that accepts power-off but
 * keeps reporting the port powered, a stall or no answer on a request, the
 * sysfs file present or not. It records what it was asked, in order.
 *
 * Two of them can be the halves of one USB 3 hub (emu_hub_pair): port N of
 * one is the peer of port N of the other, they share VBUS (a port is
 * powered while either half powers it), and the link of the first opens
 * either by name.
 */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "hub-link.h"
#include "hub-model.h"

#define EMU_HUB_MAX_OPS 64

enum emu_hub_fault_kind {
        EMU_HUB_FAULT_NONE,
        EMU_HUB_FAULT_STALL,
        EMU_HUB_FAULT_NO_ANSWER, /* the transfer times out after its timeout */
};

/* n_ports, switching, superspeed, liar: the model's, read at every request (a test may change them) */
struct emu_hub_config {
        unsigned n_ports; /* bNbrPorts; 0 = 4 */
        enum emu_hub_switching switching;
        bool superspeed;     /* bDeviceProtocol 3, 0x2A descriptor, power bit 9 (and bit 8 set: link state) */
        bool liar;           /* accepts power-off, keeps the port powered */
        bool not_a_hub;      /* bDeviceClass 0 */
        bool absent;         /* open fails at once with -ENODEV */
        bool has_disable_file;
        int disable_open_error;   /* opening the disable file fails with this (e.g. -EROFS); 0 = it opens */
        bool sysfs_no_answer;     /* the write never returns (until cancelled) */
        int sysfs_error;          /* the write fails with this */
        bool open_no_answer;      /* the open never completes (until cancelled) */
        /* a fault on every request with this bmRequestType and bRequest */
        struct {
                enum emu_hub_fault_kind kind;
                uint8_t request_type, request;
        } fault;
};

enum emu_hub_op_kind {
        EMU_HUB_OP_OPEN,
        EMU_HUB_OP_CONTROL,
        EMU_HUB_OP_SYSFS,
};

/* One thing the hub was asked to do. */
struct emu_hub_op {
        enum emu_hub_op_kind kind;
        /* EMU_HUB_OP_CONTROL: the setup packet */
        uint8_t request_type, request;
        uint16_t value, index, length;
        usec_t timeout;
        /* EMU_HUB_OP_SYSFS */
        unsigned port;
        bool disabled;
        /* EMU_HUB_OP_OPEN */
        char hub[32];
};

struct emu_hub {
        sd_event *event;
        struct emu_hub_config config;
        char name[32];         /* its sysfs name, for emu_hub_pair's open by name */
        struct emu_hub *peer;  /* the other half of its USB 3 hub, or NULL */
        struct emu_hub *opened; /* the link's open hub: this one or its peer */
        struct emu_hub_model model; /* its ports' power (model.port_power[N]) */
        bool port_disabled[EMU_HUB_MAX_PORTS + 1]; /* the sysfs `disable` value */

        bool open;
        bool freed; /* the link's free() was called */
        unsigned opens, closes, cancels;
        struct emu_hub_op ops[EMU_HUB_MAX_OPS];
        size_t n_ops;

        /* the one operation in flight */
        bool pending;
        cb_transfer_done_t done;
        void *userdata;
        int status;
        size_t actual;
        sd_event_source *source;
};

void emu_hub_init(struct emu_hub *h, sd_event *event, const struct emu_hub_config *config);
void emu_hub_done(struct emu_hub *h);
/* The link to hand to cb_power_hub_new(); its free() leaves the emu_hub to the test (sets `freed`). */
struct cb_hub_link emu_hub_link(struct emu_hub *h);
/*
 * Makes `a` ("1-1") and `b` ("2-1") the two halves of one USB 3 hub; the
 * link of `a` (emu_hub_link) then reaches both, and tells each port's peer.
 */
void emu_hub_pair(struct emu_hub *a, const char *a_name, struct emu_hub *b, const char *b_name);
/* Whether port `port` gets VBUS: its power bit, or its peer's. */
bool emu_hub_vbus(const struct emu_hub *h, unsigned port);
/* Counts the recorded control requests with this bmRequestType and bRequest. */
unsigned emu_hub_count(const struct emu_hub *h, uint8_t request_type, uint8_t request);
