/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "hub-model.h"

#include <errno.h>
#include <string.h>

/* USB 2.0 ch. 11, USB 3.x ch. 10 */
#define PORT_STAT_CONNECTION 0x0001
#define PORT_STAT_ENABLE 0x0002
#define PORT_STAT_POWER 0x0100
#define PORT_STAT_HIGH_SPEED 0x0400
#define PORT_STAT_SS_POWER 0x0200
/* link state (bits 5..8) Loopback: bit 8 is set and is not power, which a host must not mistake */
#define PORT_STAT_SS_LINK_LOOPBACK (0xb << 5)
#define FEATURE_PORT_POWER 8

void emu_hub_model_init(struct emu_hub_model *m, unsigned n_ports, enum emu_hub_switching switching,
                        bool superspeed) {
        memset(m, 0, sizeof *m);
        m->n_ports = n_ports;
        m->switching = switching;
        m->superspeed = superspeed;
        for (unsigned i = 1; i <= EMU_HUB_MAX_PORTS; i++)
                m->port_power[i] = true;
}

unsigned emu_hub_model_ports(const struct emu_hub_model *m) {
        unsigned n = m->n_ports ? m->n_ports : 4;
        return n > EMU_HUB_MAX_PORTS ? EMU_HUB_MAX_PORTS : n;
}

void emu_hub_model_pair(struct emu_hub_model *a, struct emu_hub_model *b) {
        a->peer = b;
        b->peer = a;
}

bool emu_hub_model_vbus(const struct emu_hub_model *m, unsigned port) {
        if (port < 1 || port > EMU_HUB_MAX_PORTS)
                return false;
        return m->port_power[port] || (m->peer && m->peer->port_power[port]);
}

void emu_hub_model_set_power(struct emu_hub_model *m, unsigned port, bool on) {
        if (port < 1 || port > emu_hub_model_ports(m) || m->switching == EMU_HUB_NO_SWITCHING)
                return;
        if (!on && m->liar)
                return;
        if (m->switching == EMU_HUB_GANGED)
                for (unsigned i = 1; i <= emu_hub_model_ports(m); i++)
                        m->port_power[i] = on;
        else
                m->port_power[port] = on;
}

static size_t hub_descriptor(const struct emu_hub_model *m, uint8_t *d) {
        static const uint16_t lpsm[] = {
                [EMU_HUB_INDIVIDUAL] = 0x0001,
                [EMU_HUB_GANGED] = 0x0000,
                [EMU_HUB_NO_SWITCHING] = 0x0002,
        };
        uint16_t characteristics = lpsm[m->switching] | 0x0008; /* | per-port over-current */
        uint8_t n = (uint8_t) emu_hub_model_ports(m);

        if (m->superspeed) {
                const uint8_t ss[12] = { 12, 0x2a, n, (uint8_t) characteristics, (uint8_t) (characteristics >> 8),
                                         50, 100, 0, 0, 0, 0, 0 };
                memcpy(d, ss, sizeof ss);
                return sizeof ss;
        }
        const uint8_t hs[9] = { 9, 0x29, n, (uint8_t) characteristics, (uint8_t) (characteristics >> 8), 50, 100, 0,
                                0xff };
        memcpy(d, hs, sizeof hs);
        return sizeof hs;
}

static uint16_t port_status(const struct emu_hub_model *m, unsigned port) {
        uint16_t st = 0;

        if (m->port_power[port]) {
                st |= m->superspeed ? PORT_STAT_SS_POWER : PORT_STAT_POWER;
                if (m->connected[port])
                        st |= PORT_STAT_CONNECTION | PORT_STAT_ENABLE |
                              (!m->superspeed && m->high_speed[port] ? PORT_STAT_HIGH_SPEED : 0);
        }
        if (m->superspeed)
                st |= PORT_STAT_SS_LINK_LOOPBACK;
        return st;
}

int emu_hub_model_request(struct emu_hub_model *m, uint8_t rt, uint8_t req, uint16_t value, uint16_t index,
                          uint8_t *data, size_t size, size_t *actual) {
        uint8_t d[16] = { 0 };
        size_t n = 0;

        *actual = 0;
        if (rt == 0xa0 && req == 6 && value == (m->superspeed ? 0x2a00 : 0x2900) && index == 0)
                n = hub_descriptor(m, d);
        else if (rt == 0xa0 && req == 0 && value == 0 && index == 0)
                n = 4; /* hub status: local power good, no over-current */
        else if (index < 1 || index > emu_hub_model_ports(m))
                return -EPIPE;
        else if (rt == 0xa3 && req == 0 && value == 0) {
                uint16_t st = port_status(m, index);
                d[0] = (uint8_t) st, d[1] = (uint8_t) (st >> 8);
                n = 4; /* wPortChange: 0 */
        } else if (rt == 0x23 && (req == 1 || req == 3) && value == FEATURE_PORT_POWER)
                emu_hub_model_set_power(m, index, req == 3);
        else
                return -EPIPE;
        *actual = n < size ? n : size;
        memcpy(data, d, *actual);
        return 0;
}
