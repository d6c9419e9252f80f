/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The one model of a USB hub's port power, for every tier that emulates a
 * hub: its ports' power bits, how they switch (per port, ganged, not at
 * all; a "liar" that accepts power-off and keeps the port powered), the two
 * halves of a USB 3 hub sharing VBUS, and the hub class requests that read
 * and change them (hub descriptor, hub and port status, SET/CLEAR_FEATURE
 * PORT_POWER). No transport and no clock: the in-process link (hub.c) and
 * the umockdev testbed's hubs (tests/umockdev/tb-hub.c) carry the requests
 * to it and act on what it switched.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMU_HUB_MAX_PORTS 15

enum emu_hub_switching {
        EMU_HUB_INDIVIDUAL,   /* wHubCharacteristics bits 1:0 = 01 */
        EMU_HUB_GANGED,       /* 00: all ports at once */
        EMU_HUB_NO_SWITCHING, /* 1x */
};

struct emu_hub_model {
        unsigned n_ports; /* bNbrPorts; 0 = 4 */
        enum emu_hub_switching switching;
        bool superspeed;  /* the 0x2A descriptor, power bit 9 (and bit 8 set: link state) */
        bool liar;        /* accepts power-off, keeps the port powered */
        bool port_power[EMU_HUB_MAX_PORTS + 1];
        /* a device is attached to the port (reported while it is powered); high speed: bit 10 */
        bool connected[EMU_HUB_MAX_PORTS + 1];
        bool high_speed[EMU_HUB_MAX_PORTS + 1];
        struct emu_hub_model *peer; /* the other half of its USB 3 hub, or NULL */
};

/* Every port powered, none connected. */
void emu_hub_model_init(struct emu_hub_model *m, unsigned n_ports, enum emu_hub_switching switching,
                        bool superspeed);
unsigned emu_hub_model_ports(const struct emu_hub_model *m);
/* Port N of each is the peer of port N of the other; a port has VBUS while either powers it. */
void emu_hub_model_pair(struct emu_hub_model *a, struct emu_hub_model *b);
/* Whether a device on port `port` gets VBUS: its power bit, or its peer's. */
bool emu_hub_model_vbus(const struct emu_hub_model *m, unsigned port);
/*
 * A hub class request (bmRequestType, bRequest, wValue, wIndex): 0 with the
 * IN data in `data` (*actual bytes, at most `size`), or -EPIPE for a stall.
 * SET/CLEAR_FEATURE(PORT_POWER) switches the ports the hub's switching mode
 * says; compare emu_hub_model_vbus() before and after to see whose power
 * changed.
 */
int emu_hub_model_request(struct emu_hub_model *m, uint8_t request_type, uint8_t request, uint16_t value,
                          uint16_t index, uint8_t *data, size_t size, size_t *actual);
/* Switches port `port` as a PORT_POWER request would (the kernel's sysfs `disable` file sends one). */
void emu_hub_model_set_power(struct emu_hub_model *m, unsigned port, bool on);
