/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hubs: the root hub of each bus and the hubs of port paths like "1-2.3",
 * made on demand, with their descriptors, sysfs ports and peers. Their class
 * requests (hub and port status, SET/CLEAR_FEATURE(PORT_POWER)) are answered
 * by the one hub model, tests/emu/hub-model.h; this file powers the board
 * on a port it switched.
 */
#include "tb-internal.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* hubs: the requests go to the port power model (tests/emu/hub-model.h); the boards get what it switched */

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

/*
 * The board on the port (of either half: they share VBUS) gets the port's
 * VBUS, on the main loop. Even when VBUS did not change: a hub request
 * powers off a board someone powered by hand meanwhile, as a real port would.
 */
static void apply_vbus(tb_testbed *tb, struct tb_hub *h, unsigned port) {
        tb_board *b = board_on_port(tb, h, port);

        if (!b && h->peer)
                b = board_on_port(tb, h->peer, port);
        if (b) {
                struct power_request *pr = g_new0(struct power_request, 1);
                pr->board = b;
                pr->on = emu_hub_model_vbus(&h->model, port);
                attach_timeout(tb, 0, power_request_cb, pr);
        }
}

/* What the model reports of a port's device: a board enumerated on it. */
static void sync_connections(tb_testbed *tb, struct tb_hub *h) {
        for (unsigned i = 1; i <= TB_MAX_PORTS; i++)
                h->model.connected[i] = h->model.high_speed[i] = false;
        for (guint i = 0; i < tb->boards->len; i++) {
                tb_board *b = g_ptr_array_index(tb->boards, i);
                if (b->hub == h && b->dev) {
                        h->model.connected[b->hub_port] = true;
                        h->model.high_speed[b->hub_port] = b->dev->high_speed;
                }
        }
}

enum emu_verdict hub_class_request(struct tb_usbdev *d, uint8_t rt, uint8_t req, uint16_t value,
                                          uint16_t index, uint8_t *data, size_t len, size_t *actual) {
        struct tb_hub *h = d->hub;
        tb_testbed *tb = d->tb;
        bool power[TB_MAX_PORTS + 1];

        sync_connections(tb, h);
        memcpy(power, h->model.port_power, sizeof power);
        if (emu_hub_model_request(&h->model, rt, req, value, index, data, len, actual) < 0)
                return EMU_STALL;
        if (rt != 0x23 || (req != 1 && req != 3) || value != 8) /* only SET/CLEAR_FEATURE(PORT_POWER) switches */
                return EMU_ACK;
        tb_event(tb, "hub %s port %u power %s", h->port, index, req == 3 ? "on" : "off");
        apply_vbus(tb, h, index);
        for (unsigned i = 1; i <= emu_hub_model_ports(&h->model); i++) {
                if (i == index || power[i] == h->model.port_power[i])
                        continue;
                tb_event(tb, "hub %s port %u power %s (ganged)", h->port, i, h->model.port_power[i] ? "on" : "off");
                apply_vbus(tb, h, i);
        }
        return EMU_ACK;
}

static size_t hub_descriptors(const struct tb_hub *h, uint8_t *buf, size_t size) {
        uint16_t vid = h->root ? 0x1d6b : 0x2109, pid = h->root ? 0x0002 : 0x2817;
        uint16_t bcd = h->root ? 0x0601 : 0x0473;
        bool superspeed = h->model.superspeed;
        if (superspeed)
                pid = 0x0817; /* the SuperSpeed half of the same hub */
        const uint8_t dev[18] = { 18, 1, 0x00, superspeed ? 0x03 : 0x02, 9, 0,
                                  superspeed ? 3 : h->root ? 1 : 2, superspeed ? 9 : 64, (uint8_t) vid,
                                  (uint8_t) (vid >> 8),
                                  (uint8_t) pid, (uint8_t) (pid >> 8), (uint8_t) bcd, (uint8_t) (bcd >> 8), 1, 2,
                                  0, 1 };
        const uint8_t cfg[9 + 9 + 7] = {
                9, 2, 25, 0, 1, 1, 0, 0xe0, 0,          /* configuration, self powered */
                9, 4, 0, 0, 1, 9, 0, 0, 0,              /* hub interface */
                7, 5, 0x81, 0x03, (uint8_t) ((emu_hub_model_ports(&h->model) + 1 + 7) / 8), 0, 12, /* status change endpoint */
        };
        if (size < sizeof dev + sizeof cfg)
                return 0;
        memcpy(buf, dev, sizeof dev);
        memcpy(buf + sizeof dev, cfg, sizeof cfg);
        return sizeof dev + sizeof cfg;
}

static struct tb_hub *make_hub(tb_testbed *tb, unsigned busnum, const char *port, bool superspeed);

struct tb_hub *get_hub(tb_testbed *tb, unsigned busnum, const char *port) {
        return make_hub(tb, busnum, port, false);
}

static struct tb_hub *make_hub(tb_testbed *tb, unsigned busnum, const char *port, bool superspeed) {
        for (guint i = 0; i < tb->hubs->len; i++) {
                struct tb_hub *h = g_ptr_array_index(tb->hubs, i);
                if (strcmp(h->port, port) == 0)
                        return h;
        }

        struct tb_hub *h = g_new0(struct tb_hub, 1);
        g_strlcpy(h->port, port, sizeof h->port);
        h->busnum = busnum;
        h->root = g_str_has_prefix(port, "usb");
        emu_hub_model_init(&h->model, h->root ? 15 : 7, EMU_HUB_INDIVIDUAL, superspeed);
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

/* The port's own directory under the hub's interface, with a `peer` link to the other half's. */
static void link_peer_port(tb_testbed *tb, struct tb_hub *h, unsigned port) {
        struct tb_hub *p = h->peer;
        char *dir, *target, *link;

        if (h->dev->n_if == 0 || p->dev->n_if == 0)
                die("hub %s: a USB 3 hub's ports need its interface (tb_options.no_interfaces)", h->port);
        dir = g_strdup_printf("%s%s/%s-port%u", tb->root, h->dev->if_syspath[0], h->port, port);
        target = g_strdup_printf("%s/%s-port%u", p->dev->if_syspath[0], p->port, port);
        link = g_strdup_printf("%s/peer", dir);
        if (g_mkdir_with_parents(dir, 0755) < 0)
                die("mkdir %s: %s", dir, g_strerror(errno));
        if (symlink(target, link) < 0 && errno != EEXIST)
                die("symlink %s: %s", link, g_strerror(errno));
        g_free(dir);
        g_free(target);
        g_free(link);
}

void tb_add_usb3_hub(tb_testbed *tb, const char *usb2_port, const char *ss_port) {
        unsigned usb2_bus = (unsigned) atoi(usb2_port), ss_bus = (unsigned) atoi(ss_port);
        struct tb_hub *a, *b;

        if (g_str_has_prefix(usb2_port, "usb") || g_str_has_prefix(ss_port, "usb") || !strchr(usb2_port, '-') ||
            !strchr(ss_port, '-') || usb2_bus == ss_bus)
                die("tb_add_usb3_hub(%s, %s): two hub port paths on two buses", usb2_port, ss_port);
        tb_lock(tb);
        for (guint i = 0; i < tb->hubs->len; i++)
                if (strcmp(((struct tb_hub *) g_ptr_array_index(tb->hubs, i))->port, ss_port) == 0)
                        die("tb_add_usb3_hub: hub %s already exists", ss_port);
        a = get_hub(tb, usb2_bus, usb2_port);
        b = make_hub(tb, ss_bus, ss_port, true);
        b->model.n_ports = a->model.n_ports;
        a->peer = b;
        b->peer = a;
        emu_hub_model_pair(&a->model, &b->model);
        for (unsigned i = 1; i <= emu_hub_model_ports(&a->model); i++) {
                link_peer_port(tb, a, i);
                link_peer_port(tb, b, i);
        }
        tb_unlock(tb);
}

void tb_add_ganged_hub(tb_testbed *tb, const char *port) {
        struct tb_hub *h;

        if (g_str_has_prefix(port, "usb") || !strchr(port, '-'))
                die("tb_add_ganged_hub(%s): a hub port path", port);
        tb_lock(tb);
        for (guint i = 0; i < tb->hubs->len; i++)
                if (strcmp(((struct tb_hub *) g_ptr_array_index(tb->hubs, i))->port, port) == 0)
                        die("tb_add_ganged_hub: hub %s already exists", port);
        h = get_hub(tb, (unsigned) atoi(port), port);
        h->model.switching = EMU_HUB_GANGED;
        tb_unlock(tb);
}
