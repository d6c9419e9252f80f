/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hubs: the root hub of each bus and the hubs of port paths like "1-2.3",
 * made on demand, with their descriptors and class requests (hub and port
 * status, SET/CLEAR_FEATURE(PORT_POWER), which powers the board on the port).
 */
#include "tb-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* hubs */

static tb_board *board_on_port(tb_testbed *tb, struct tb_hub *h, unsigned port) {
        for (guint i = 0; i < tb->boards->len; i++) {
                tb_board *b = g_ptr_array_index(tb->boards, i);
                if (b->hub == h && b->hub_port == port)
                        return b;
        }
        return NULL;
}

struct power_request {
        tb_board *board;
        bool on;
};

static gboolean power_request_cb(gpointer data) {
        struct power_request *pr = data;
        set_power(pr->board, pr->on, true);
        g_free(pr);
        return G_SOURCE_REMOVE;
}

enum emu_verdict hub_class_request(struct tb_usbdev *d, uint8_t rt, uint8_t req, uint16_t value,
                                          uint16_t index, uint8_t *data, size_t len, size_t *actual) {
        struct tb_hub *h = d->hub;
        tb_testbed *tb = d->tb;

        if (rt == 0xa0 && req == 6 && (value >> 8) == 0x29) { /* hub descriptor */
                const uint8_t hd[9] = { 9, 0x29, (uint8_t) h->nports, 0x09, 0x00, 50, 100, 0x00, 0xff };
                *actual = MIN(len, sizeof hd);
                memcpy(data, hd, *actual);
                return EMU_ACK;
        }
        if (rt == 0xa0 && req == 0) { /* hub status */
                *actual = MIN(len, (size_t) 4);
                memset(data, 0, *actual);
                return EMU_ACK;
        }
        if (index < 1 || index > h->nports)
                return EMU_STALL;
        tb_board *b = board_on_port(tb, h, index);
        if (rt == 0xa3 && req == 0) { /* port status */
                uint16_t st = 0;
                if (h->port_power[index])
                        st |= 0x0100;
                if (b && b->dev && h->port_power[index])
                        st |= 0x0003 | (b->dev->high_speed ? 0x0400 : 0);
                uint8_t ps[4] = { (uint8_t) st, (uint8_t) (st >> 8), 0, 0 };
                *actual = MIN(len, sizeof ps);
                memcpy(data, ps, *actual);
                return EMU_ACK;
        }
        if (rt == 0x23 && (req == 1 || req == 3)) { /* CLEAR/SET_FEATURE on a port */
                if (value == 8) { /* PORT_POWER */
                        bool on = req == 3;
                        h->port_power[index] = on;
                        if (b) {
                                struct power_request *pr = g_new0(struct power_request, 1);
                                pr->board = b;
                                pr->on = on;
                                attach_timeout(tb, 0, power_request_cb, pr);
                        }
                        tb_event(tb, "hub %s port %u power %s", h->port, index, on ? "on" : "off");
                }
                return EMU_ACK;
        }
        return EMU_STALL;
}

static size_t hub_descriptors(const struct tb_hub *h, uint8_t *buf, size_t size) {
        uint16_t vid = h->root ? 0x1d6b : 0x2109, pid = h->root ? 0x0002 : 0x2817;
        uint16_t bcd = h->root ? 0x0601 : 0x0473;
        const uint8_t dev[18] = { 18, 1, 0x00, 0x02, 9, 0, h->root ? 1 : 2, 64, (uint8_t) vid, (uint8_t) (vid >> 8),
                                  (uint8_t) pid, (uint8_t) (pid >> 8), (uint8_t) bcd, (uint8_t) (bcd >> 8), 1, 2,
                                  0, 1 };
        const uint8_t cfg[9 + 9 + 7] = {
                9, 2, 25, 0, 1, 1, 0, 0xe0, 0,          /* configuration, self powered */
                9, 4, 0, 0, 1, 9, 0, 0, 0,              /* hub interface */
                7, 5, 0x81, 0x03, (uint8_t) ((h->nports + 1 + 7) / 8), 0, 12, /* status change endpoint */
        };
        if (size < sizeof dev + sizeof cfg)
                return 0;
        memcpy(buf, dev, sizeof dev);
        memcpy(buf + sizeof dev, cfg, sizeof cfg);
        return sizeof dev + sizeof cfg;
}

struct tb_hub *get_hub(tb_testbed *tb, unsigned busnum, const char *port) {
        for (guint i = 0; i < tb->hubs->len; i++) {
                struct tb_hub *h = g_ptr_array_index(tb->hubs, i);
                if (strcmp(h->port, port) == 0)
                        return h;
        }

        struct tb_hub *h = g_new0(struct tb_hub, 1);
        g_strlcpy(h->port, port, sizeof h->port);
        h->busnum = busnum;
        h->root = g_str_has_prefix(port, "usb");
        h->nports = h->root ? 15 : 7;
        for (unsigned i = 1; i <= TB_MAX_PORTS; i++)
                h->port_power[i] = true;
        if (!h->root) {
                char *parent = g_strdup(port);
                char *dot = strrchr(parent, '.');
                char *dash = strrchr(parent, '-');
                char *cut = dot ? dot : dash;
                h->parent_port = (unsigned) atoi(cut + 1);
                if (dot) {
                        *dot = '\0';
                        h->parent = get_hub(tb, busnum, parent);
                } else {
                        char root[16];
                        snprintf(root, sizeof root, "usb%u", busnum);
                        h->parent = get_hub(tb, busnum, root);
                }
                g_free(parent);
        }
        g_ptr_array_add(tb->hubs, h);

        struct tb_usbdev *d = dev_new(tb, busnum, port);
        d->hub = h;
        d->high_speed = true;
        d->desc_len = hub_descriptors(h, d->desc, sizeof d->desc);
        h->dev = d;
        dev_publish(d, h->parent ? h->parent->dev->syspath : NULL, h->root);
        return h;
}
