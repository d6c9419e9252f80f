/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * redir-boards: one board's usbredir connection, the "usb host" end of a
 * QEMU usb-redir device. The board is the shared model (tests/emu/board.c);
 * this is only its adapter to the wire:
 *
 *   - on the bus: interface and endpoint info, then device_connect, with the
 *     current stage's descriptors at full speed (QEMU's usb-hub is USB 1.1:
 *     bulk endpoints announce 64-byte packets, as a high-speed device does
 *     behind a full-speed hub);
 *   - off the bus: device_disconnect (between two stages, a fault, a power
 *     cut, an unplug);
 *   - QEMU's control packets: GET_DESCRIPTOR from the model, the protocol's
 *     vendor requests to emu_board_control_out/_in; bulk OUT packets to
 *     emu_board_bulk_out; reset (after SET_CONFIGURATION: the host's reset,
 *     to emu_board_reset; before: enumeration); EMU_NO_ANSWER holds the
 *     packet until QEMU cancels it (the host's timeout), EMU_STALL stalls.
 *
 * QEMU processes what it receives in order, so a reply sent before a
 * device_disconnect completes the host's transfer before the board leaves.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rb.h"

#define USB_REQ_GET_STATUS 0
#define USB_REQ_CLEAR_FEATURE 1
#define USB_REQ_SET_FEATURE 3
#define USB_REQ_GET_DESCRIPTOR 6
#define USB_DT_DEVICE 1
#define USB_DT_CONFIG 2
#define USB_DT_STRING 3
#define USB_DT_INTERFACE 4
#define USB_DT_ENDPOINT 5
#define USB_TYPE_MASK 0x60
#define USB_TYPE_STANDARD 0x00
#define USB_TYPE_VENDOR 0x40
#define USB_RECIP_ENDPOINT 0x02
#define FULL_SPEED_BULK_MAX 64
#define DESC_BUF 512

static int ep_index(uint8_t ep) {
        return ((ep & 0x80) >> 3) | (ep & 0x0f);
}

/* The current stage's descriptors as the board shows them on a full-speed port. */
static size_t stage_descriptors(const struct rb_board *b, uint8_t *buf, size_t size) {
        size_t n = emu_board_descriptors(&b->emu, buf, size);

        if (n > size)
                return 0;
        for (size_t at = 18; at + 2 <= n && buf[at] >= 2; at += buf[at]) {
                if (buf[at + 1] != USB_DT_ENDPOINT || at + 7 > n || (buf[at + 3] & 0x03) != 0x02)
                        continue;
                uint16_t mps = (uint16_t) (buf[at + 4] | buf[at + 5] << 8);
                if (mps > FULL_SPEED_BULK_MAX) {
                        buf[at + 4] = FULL_SPEED_BULK_MAX;
                        buf[at + 5] = 0;
                }
        }
        return n;
}

static void flush(struct rb_board *b) {
        if (!b->parser)
                return;
        if (usbredirparser_has_data_to_write(b->parser))
                (void) usbredirparser_do_write(b->parser);
        if (b->io_source)
                (void) sd_event_source_set_io_events(
                        b->io_source, EPOLLIN | (usbredirparser_has_data_to_write(b->parser) ? EPOLLOUT : 0));
}

/* ------------------------------------------------------------------ on and off the bus */

void rb_board_connect(struct rb_board *b) {
        struct usb_redir_interface_info_header ii;
        struct usb_redir_ep_info_header ei;
        struct usb_redir_device_connect_header dc;
        uint8_t desc[DESC_BUF];
        size_t n;
        int interface = -1;
        unsigned n_interfaces;

        if (b->on_bus || !b->parser || !b->peer_ready || !b->powered || b->emu.stage == EMU_STAGE_OFF)
                return;
        n = stage_descriptors(b, desc, sizeof desc);
        if (n < 18 + 9) {
                rb_log(b, "the model gave %zu bytes of descriptors: not connecting", n);
                return;
        }
        memset(&ii, 0, sizeof ii);
        memset(&ei, 0, sizeof ei);
        for (size_t i = 0; i < 32; i++)
                ei.type[i] = usb_redir_type_invalid;
        ei.type[0] = ei.type[16] = usb_redir_type_control;
        ei.max_packet_size[0] = ei.max_packet_size[16] = desc[7];
        n_interfaces = desc[18 + 4];
        b->ep_out = 0;
        for (size_t at = 18; at + 2 <= n && desc[at] >= 2; at += desc[at]) {
                if (desc[at + 1] == USB_DT_INTERFACE && at + 9 <= n && ii.interface_count < 32) {
                        interface = desc[at + 2];
                        ii.interface[ii.interface_count] = desc[at + 2];
                        ii.interface_class[ii.interface_count] = desc[at + 5];
                        ii.interface_subclass[ii.interface_count] = desc[at + 6];
                        ii.interface_protocol[ii.interface_count] = desc[at + 7];
                        ii.interface_count++;
                } else if (desc[at + 1] == USB_DT_ENDPOINT && at + 7 <= n) {
                        uint8_t ep = desc[at + 2];
                        int i = ep_index(ep);
                        ei.type[i] = desc[at + 3] & 0x03;
                        ei.interval[i] = desc[at + 6];
                        /*
                         * The model's gadget gives its notification endpoint bInterval 0, which
                         * the kernel corrects on its own but QEMU refuses the device for; QEMU
                         * only uses the interval for its polling, so it gets the smallest valid one.
                         */
                        if (ei.type[i] == usb_redir_type_interrupt && ei.interval[i] == 0)
                                ei.interval[i] = 1;
                        ei.interface[i] = (uint8_t) (interface < 0 ? 0 : interface);
                        ei.max_packet_size[i] = (uint16_t) (desc[at + 4] | desc[at + 5] << 8);
                        /* the protocol's data goes to the bulk OUT endpoint of its interface (1 on a 2837 ROM) */
                        if (!(ep & 0x80) && ei.type[i] == usb_redir_type_bulk && !b->ep_out &&
                            interface == (n_interfaces > 1 ? 1 : 0))
                                b->ep_out = ep;
                }
        }
        memset(&dc, 0, sizeof dc);
        dc.speed = usb_redir_speed_full;
        dc.device_class = desc[4];
        dc.device_subclass = desc[5];
        dc.device_protocol = desc[6];
        dc.vendor_id = (uint16_t) (desc[8] | desc[9] << 8);
        dc.product_id = (uint16_t) (desc[10] | desc[11] << 8);
        dc.device_version_bcd = (uint16_t) (desc[12] | desc[13] << 8);

        usbredirparser_send_interface_info(b->parser, &ii);
        usbredirparser_send_ep_info(b->parser, &ei);
        usbredirparser_send_device_connect(b->parser, &dc);
        b->on_bus = true;
        b->configured = false;
        b->bulk_hold = false;
        b->connections++;
        snprintf(b->last_event, sizeof b->last_event, "on the bus in stage %s (%04x:%04x)",
                 emu_stage_name(b->emu.stage), dc.vendor_id, dc.product_id);
        rb_log(b, "%s", b->last_event);
        flush(b);
        rb_changed();
}

/* Forgets the packets held unanswered: the board left the bus, QEMU drops them. */
static void drop_held(struct rb_board *b) {
        b->n_held = 0;
        b->bulk_hold = false;
}

void rb_board_disconnect(struct rb_board *b) {
        b->reconnect_timer = sd_event_source_disable_unref(b->reconnect_timer);
        drop_held(b);
        if (!b->on_bus)
                return;
        b->on_bus = false;
        b->configured = false;
        if (b->parser) {
                usbredirparser_send_device_disconnect(b->parser);
                flush(b);
        }
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        struct rb_board *b = userdata;

        b->reconnect_timer = sd_event_source_disable_unref(b->reconnect_timer);
        if (!b->powered)
                return 0;
        emu_board_reconnect(&b->emu);
        rb_board_connect(b);
        return 0;
}

/* The model asked to leave the bus: off now, back in its next stage later (unless it stays away). */
static void take_bus_action(struct rb_board *b, const char *during) {
        enum emu_bus_action a = emu_board_take_bus_action(&b->emu);

        if (a == EMU_BUS_NONE)
                return;
        snprintf(b->last_event, sizeof b->last_event, "left the bus %s (%s, next: %s)", during,
                 a == EMU_BUS_DISCONNECT ? "comes back" : "stays away", emu_stage_name(b->emu.next_stage));
        rb_log(b, "%s", b->last_event);
        rb_board_disconnect(b);
        if (a == EMU_BUS_DISCONNECT)
                (void) sd_event_add_time_relative(rb_event, &b->reconnect_timer, CLOCK_MONOTONIC,
                                                  (uint64_t) rb_opt.reconnect_ms * 1000u, 1000, on_reconnect, b);
        rb_changed();
}

void rb_board_power_lost(struct rb_board *b, const char *why) {
        snprintf(b->last_event, sizeof b->last_event, "%s: the board loses its power", why);
        rb_log(b, "%s", b->last_event);
        rb_board_disconnect(b);
        if (b->emu.stage != EMU_STAGE_OFF || b->emu.next_stage != EMU_STAGE_OFF)
                b->power_cuts++;
        emu_board_unplug(&b->emu);
        (void) emu_board_take_bus_action(&b->emu);
}

void rb_board_power_back(struct rb_board *b) {
        rb_log(b, "the board has power: it starts in its boot ROM");
        emu_board_plug(&b->emu);
        rb_board_connect(b);
}

/* ------------------------------------------------------------------ QEMU's packets */

static struct rb_board *board_of(void *priv) {
        return priv;
}

static void hold(struct rb_board *b, uint64_t id, bool bulk, const struct usb_redir_control_packet_header *c,
                 const struct usb_redir_bulk_packet_header *bh) {
        if (b->n_held >= RB_MAX_HELD) {
                rb_log(b, "too many packets held: dropping the oldest");
                memmove(b->held, b->held + 1, (RB_MAX_HELD - 1) * sizeof b->held[0]);
                b->n_held--;
        }
        struct rb_held *h = &b->held[b->n_held++];
        memset(h, 0, sizeof *h);
        h->id = id;
        h->bulk = bulk;
        if (c)
                h->control = *c;
        if (bh)
                h->bulk_header = *bh;
}

static void answer_control(struct rb_board *b, uint64_t id, struct usb_redir_control_packet_header *c, uint8_t status,
                           const uint8_t *data, size_t len) {
        c->status = status;
        c->length = (uint16_t) len;
        usbredirparser_send_control_packet(b->parser, id, c, len ? (uint8_t *) data : NULL, (int) len);
}

static void standard_request(struct rb_board *b, uint64_t id, struct usb_redir_control_packet_header *c) {
        uint8_t desc[DESC_BUF], buf[256];
        size_t n;

        if (c->request == USB_REQ_GET_DESCRIPTOR && (c->requesttype & 0x80)) {
                uint8_t type = (uint8_t) (c->value >> 8), index = (uint8_t) c->value;
                size_t total = b->emu.stage == EMU_STAGE_OFF ? 0 : stage_descriptors(b, desc, sizeof desc);

                if (type == USB_DT_DEVICE && total >= 18) {
                        answer_control(b, id, c, usb_redir_success, desc, MIN((size_t) c->length, (size_t) 18));
                } else if (type == USB_DT_CONFIG && index == 0 && total > 18) {
                        answer_control(b, id, c, usb_redir_success, desc + 18, MIN((size_t) c->length, total - 18));
                } else if (type == USB_DT_STRING &&
                           (n = emu_board_string_descriptor(&b->emu, index, buf, sizeof buf)) > 0) {
                        answer_control(b, id, c, usb_redir_success, buf, MIN((size_t) c->length, n));
                } else {
                        /* device qualifier, BOS, unknown strings: a full-speed Pi offers none */
                        answer_control(b, id, c, usb_redir_stall, NULL, 0);
                }
                return;
        }
        if (c->request == USB_REQ_GET_STATUS && (c->requesttype & 0x80)) {
                memset(buf, 0, 2);
                answer_control(b, id, c, usb_redir_success, buf, MIN((size_t) c->length, (size_t) 2));
                return;
        }
        if (c->request == USB_REQ_CLEAR_FEATURE && (c->requesttype & 0x1f) == USB_RECIP_ENDPOINT && c->value == 0) {
                /* CLEAR_FEATURE(ENDPOINT_HALT): the model's endpoint halt ends here */
                rb_vlog(b, "CLEAR_FEATURE(ENDPOINT_HALT) endpoint 0x%02x", (unsigned) c->index);
                b->bulk_hold = false;
                answer_control(b, id, c, usb_redir_success, NULL, 0);
                return;
        }
        if ((c->request == USB_REQ_CLEAR_FEATURE || c->request == USB_REQ_SET_FEATURE) && !(c->requesttype & 0x80)) {
                answer_control(b, id, c, usb_redir_success, NULL, 0); /* remote wakeup and the like */
                return;
        }
        rb_vlog(b, "standard request 0x%02x/%u not handled: stall", c->requesttype, c->request);
        answer_control(b, id, c, usb_redir_stall, NULL, 0);
}

static void vendor_request(struct rb_board *b, uint64_t id, struct usb_redir_control_packet_header *c) {
        bool in = c->requesttype & 0x80;
        uint8_t buf[4096];
        size_t actual = 0;
        enum emu_verdict v;

        if (in)
                v = emu_board_control_in(&b->emu, c->value, c->index, buf, MIN((size_t) c->length, sizeof buf),
                                         &actual);
        else
                v = emu_board_control_out(&b->emu, c->value, c->index);
        rb_vlog(b, "vendor %s value %u index %u length %u -> %s, %zu bytes", in ? "IN" : "OUT", c->value, c->index,
                c->length, emu_verdict_name(v), actual);
        if (!in && v == EMU_ACK)
                b->bulk_hold = false; /* a new write was announced: bulk data is taken again */
        switch (v) {
        case EMU_ACK:
                answer_control(b, id, c, usb_redir_success, buf, in ? actual : 0);
                break;
        case EMU_STALL:
                answer_control(b, id, c, usb_redir_stall, NULL, 0);
                break;
        case EMU_NO_ANSWER:
                snprintf(b->last_event, sizeof b->last_event, "control %s not answered (fault)", in ? "IN" : "OUT");
                rb_log(b, "%s", b->last_event);
                hold(b, id, false, c, NULL);
                break;
        case EMU_GONE:
                /* dropping off during it: no answer (QEMU fails the transfer when the device leaves) */
                if (b->emu.pending_bus_action == EMU_BUS_NONE)
                        answer_control(b, id, c, usb_redir_stall, NULL, 0);
                break;
        }
        take_bus_action(b, in ? "after a control IN" : "after a control OUT");
}

static void on_control_packet(void *priv, uint64_t id, struct usb_redir_control_packet_header *c, uint8_t *data,
                              int data_len) {
        struct rb_board *b = board_of(priv);

        if (!b->on_bus) {
                answer_control(b, id, c, usb_redir_ioerror, NULL, 0);
        } else if ((c->requesttype & USB_TYPE_MASK) == USB_TYPE_VENDOR) {
                vendor_request(b, id, c);
        } else if ((c->requesttype & USB_TYPE_MASK) == USB_TYPE_STANDARD) {
                standard_request(b, id, c);
        } else {
                answer_control(b, id, c, usb_redir_stall, NULL, 0);
        }
        if (data)
                usbredirparser_free_packet_data(b->parser, data);
        flush(b);
        rb_changed();
}

static void answer_bulk(struct rb_board *b, uint64_t id, struct usb_redir_bulk_packet_header *h, uint8_t status,
                        uint32_t len) {
        h->status = status;
        h->length = (uint16_t) len;
        h->length_high = (uint16_t) (len >> 16);
        usbredirparser_send_bulk_packet(b->parser, id, h, NULL, 0);
}

static void on_bulk_packet(void *priv, uint64_t id, struct usb_redir_bulk_packet_header *h, uint8_t *data,
                           int data_len) {
        struct rb_board *b = board_of(priv);
        uint32_t len = (uint32_t) h->length | (uint32_t) h->length_high << 16;
        size_t off = 0;
        enum emu_verdict v = EMU_ACK;

        if (!b->on_bus) {
                answer_bulk(b, id, h, usb_redir_ioerror, 0);
        } else if ((h->endpoint & 0x80) || h->endpoint != b->ep_out) {
                /* the protocol reads nothing in bulk, and writes only to its one OUT endpoint */
                answer_bulk(b, id, h, usb_redir_stall, 0);
        } else if (b->bulk_hold || b->n_held > 0) {
                /* the board stopped taking data: this waits behind what is held, until QEMU cancels it */
                hold(b, id, true, NULL, h);
        } else {
                while (off < (size_t) data_len) {
                        size_t taken = 0;
                        v = emu_board_bulk_out(&b->emu, data + off, (size_t) data_len - off, &taken);
                        off += taken;
                        if (v != EMU_ACK || taken == 0)
                                break;
                }
                b->bulk_bytes += off;
                rb_vlog(b, "bulk OUT %d bytes -> %s, %zu taken", data_len, emu_verdict_name(v), off);
                switch (v) {
                case EMU_ACK:
                        answer_bulk(b, id, h, usb_redir_success, len);
                        break;
                case EMU_STALL:
                        rb_log(b, "bulk data refused (%s): stall", b->emu.error);
                        answer_bulk(b, id, h, usb_redir_stall, 0);
                        break;
                case EMU_NO_ANSWER:
                        rb_log(b, "bulk data no longer taken (fault), %zu of %d bytes kept", off, data_len);
                        b->bulk_hold = true;
                        hold(b, id, true, NULL, h);
                        break;
                case EMU_GONE:
                        break; /* the bus action follows */
                }
                take_bus_action(b, "during bulk data");
        }
        if (data)
                usbredirparser_free_packet_data(b->parser, data);
        flush(b);
        rb_changed();
}

static void on_cancel(void *priv, uint64_t id) {
        struct rb_board *b = board_of(priv);

        for (size_t i = 0; i < b->n_held; i++) {
                struct rb_held *h = &b->held[i];
                if (h->id != id)
                        continue;
                rb_vlog(b, "QEMU cancelled held packet %llu", (unsigned long long) id);
                if (h->bulk)
                        answer_bulk(b, id, &h->bulk_header, usb_redir_cancelled, 0);
                else
                        answer_control(b, id, &h->control, usb_redir_cancelled, NULL, 0);
                memmove(h, h + 1, (b->n_held - i - 1) * sizeof *h);
                b->n_held--;
                flush(b);
                return;
        }
        /* answered already: QEMU ignores the late cancel */
}

static void on_reset(void *priv) {
        struct rb_board *b = board_of(priv);

        if (!b->on_bus)
                return;
        if (!b->configured) {
                b->enumeration_resets++;
                rb_vlog(b, "reset during enumeration");
                return;
        }
        /* a reset of a configured device: the host's own (libusb_reset_device); the model decides */
        b->host_resets++;
        b->configured = false;
        drop_held(b);
        snprintf(b->last_event, sizeof b->last_event, "reset by the host in stage %s", emu_stage_name(b->emu.stage));
        rb_log(b, "%s", b->last_event);
        emu_board_reset(&b->emu);
        take_bus_action(b, "after a reset");
        rb_changed();
}

static void on_set_configuration(void *priv, uint64_t id, struct usb_redir_set_configuration_header *sc) {
        struct rb_board *b = board_of(priv);
        struct usb_redir_configuration_status_header st = { .status = usb_redir_success,
                                                            .configuration = sc->configuration };

        if (sc->configuration > 1 || !b->on_bus)
                st.status = usb_redir_stall;
        else
                b->configured = sc->configuration != 0;
        rb_vlog(b, "SET_CONFIGURATION %u", sc->configuration);
        usbredirparser_send_configuration_status(b->parser, id, &st);
        flush(b);
}

static void on_get_configuration(void *priv, uint64_t id) {
        struct rb_board *b = board_of(priv);
        struct usb_redir_configuration_status_header st = { .status = usb_redir_success,
                                                            .configuration = b->configured ? 1 : 0 };

        usbredirparser_send_configuration_status(b->parser, id, &st);
        flush(b);
}

static void on_set_alt_setting(void *priv, uint64_t id, struct usb_redir_set_alt_setting_header *sa) {
        struct rb_board *b = board_of(priv);
        struct usb_redir_alt_setting_status_header st = { .status = sa->alt == 0 ? usb_redir_success : usb_redir_stall,
                                                          .interface = sa->interface, .alt = 0 };

        usbredirparser_send_alt_setting_status(b->parser, id, &st);
        flush(b);
}

static void on_get_alt_setting(void *priv, uint64_t id, struct usb_redir_get_alt_setting_header *ga) {
        struct rb_board *b = board_of(priv);
        struct usb_redir_alt_setting_status_header st = { .status = usb_redir_success, .interface = ga->interface,
                                                          .alt = 0 };

        usbredirparser_send_alt_setting_status(b->parser, id, &st);
        flush(b);
}

static void on_start_interrupt_receiving(void *priv, uint64_t id,
                                         struct usb_redir_start_interrupt_receiving_header *s) {
        struct rb_board *b = board_of(priv);
        struct usb_redir_interrupt_receiving_status_header st = { .status = usb_redir_success,
                                                                  .endpoint = s->endpoint };

        /* the gadget's notification endpoint: accepted, never sends anything */
        usbredirparser_send_interrupt_receiving_status(b->parser, id, &st);
        flush(b);
}

static void on_stop_interrupt_receiving(void *priv, uint64_t id, struct usb_redir_stop_interrupt_receiving_header *s) {
        struct rb_board *b = board_of(priv);
        struct usb_redir_interrupt_receiving_status_header st = { .status = usb_redir_success,
                                                                  .endpoint = s->endpoint };

        usbredirparser_send_interrupt_receiving_status(b->parser, id, &st);
        flush(b);
}

/* Packets a Pi's protocol never causes: answered as a device without such endpoints would. */
static void on_disconnect_ack(void *priv) {
}

static void on_start_iso_stream(void *priv, uint64_t id, struct usb_redir_start_iso_stream_header *s) {
        struct rb_board *b = board_of(priv);
        struct usb_redir_iso_stream_status_header st = { .status = usb_redir_stall, .endpoint = s->endpoint };

        usbredirparser_send_iso_stream_status(b->parser, id, &st);
        flush(b);
}

static void on_stop_iso_stream(void *priv, uint64_t id, struct usb_redir_stop_iso_stream_header *s) {
        struct rb_board *b = board_of(priv);
        struct usb_redir_iso_stream_status_header st = { .status = usb_redir_success, .endpoint = s->endpoint };

        usbredirparser_send_iso_stream_status(b->parser, id, &st);
        flush(b);
}

static void on_alloc_bulk_streams(void *priv, uint64_t id, struct usb_redir_alloc_bulk_streams_header *a) {
        struct rb_board *b = board_of(priv);
        struct usb_redir_bulk_streams_status_header st = { .endpoints = a->endpoints, .status = usb_redir_stall };

        usbredirparser_send_bulk_streams_status(b->parser, id, &st);
        flush(b);
}

static void on_free_bulk_streams(void *priv, uint64_t id, struct usb_redir_free_bulk_streams_header *f) {
        struct rb_board *b = board_of(priv);
        struct usb_redir_bulk_streams_status_header st = { .endpoints = f->endpoints, .status = usb_redir_success };

        usbredirparser_send_bulk_streams_status(b->parser, id, &st);
        flush(b);
}

static void on_start_bulk_receiving(void *priv, uint64_t id, struct usb_redir_start_bulk_receiving_header *s) {
        struct rb_board *b = board_of(priv);
        struct usb_redir_bulk_receiving_status_header st = { .stream_id = s->stream_id, .endpoint = s->endpoint,
                                                             .status = usb_redir_stall };

        usbredirparser_send_bulk_receiving_status(b->parser, id, &st);
        flush(b);
}

static void on_stop_bulk_receiving(void *priv, uint64_t id, struct usb_redir_stop_bulk_receiving_header *s) {
        struct rb_board *b = board_of(priv);
        struct usb_redir_bulk_receiving_status_header st = { .stream_id = s->stream_id, .endpoint = s->endpoint,
                                                             .status = usb_redir_success };

        usbredirparser_send_bulk_receiving_status(b->parser, id, &st);
        flush(b);
}

static void on_iso_packet(void *priv, uint64_t id, struct usb_redir_iso_packet_header *h, uint8_t *data,
                          int data_len) {
        struct rb_board *b = board_of(priv);

        if (data)
                usbredirparser_free_packet_data(b->parser, data);
}

static void on_interrupt_packet(void *priv, uint64_t id, struct usb_redir_interrupt_packet_header *h, uint8_t *data,
                                int data_len) {
        struct rb_board *b = board_of(priv);

        /* an interrupt OUT: the Pi has none */
        h->status = usb_redir_stall;
        h->length = 0;
        usbredirparser_send_interrupt_packet(b->parser, id, h, NULL, 0);
        if (data)
                usbredirparser_free_packet_data(b->parser, data);
        flush(b);
}

static void on_filter_reject(void *priv) {
}

static void on_filter_filter(void *priv, struct usbredirfilter_rule *rules, int rules_count) {
        free(rules);
}

static void on_hello(void *priv, struct usb_redir_hello_header *hello) {
        struct rb_board *b = board_of(priv);

        rb_vlog(b, "QEMU's usbredir: %s", hello->version);
        b->peer_ready = true;
        rb_board_connect(b);
}

static void on_parser_log(void *priv, int level, const char *msg) {
        struct rb_board *b = board_of(priv);

        if (level <= usbredirparser_warning || rb_opt.verbose)
                rb_log(b, "usbredirparser: %s", msg);
}

static int on_parser_read(void *priv, uint8_t *data, int count) {
        struct rb_board *b = board_of(priv);
        ssize_t n = read(b->fd, data, (size_t) count);

        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -1;
        if (n == 0)
                return -1; /* QEMU closed: the caller sees the error */
        return (int) n;
}

static int on_parser_write(void *priv, uint8_t *data, int count) {
        struct rb_board *b = board_of(priv);
        ssize_t n = write(b->fd, data, (size_t) count);

        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -1;
        return (int) n;
}

/* ------------------------------------------------------------------ the socket */

void rb_board_close_connection(struct rb_board *b, const char *why) {
        if (b->fd < 0)
                return;
        rb_vlog(b, "usbredir connection closed (%s)", why);
        b->reconnect_timer = sd_event_source_disable_unref(b->reconnect_timer);
        b->io_source = sd_event_source_disable_unref(b->io_source);
        if (b->parser)
                usbredirparser_destroy(b->parser);
        b->parser = NULL;
        close(b->fd);
        b->fd = -1;
        b->peer_ready = false;
        b->on_bus = false;
        b->configured = false;
        drop_held(b);
        rb_changed();
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct rb_board *b = userdata;

        if (revents & EPOLLIN) {
                int r = usbredirparser_do_read(b->parser);
                if (r == usbredirparser_read_io_error) {
                        rb_board_close_connection(b, "QEMU closed it");
                        return 0;
                }
        }
        if (b->parser && (revents & (EPOLLHUP | EPOLLERR)) && !(revents & EPOLLIN)) {
                rb_board_close_connection(b, "hang-up");
                return 0;
        }
        flush(b);
        return 0;
}

static int create_parser(struct rb_board *b) {
        uint32_t caps[USB_REDIR_CAPS_SIZE] = { 0 };
        struct usbredirparser *p = usbredirparser_create();

        if (!p)
                return -ENOMEM;
        p->priv = b;
        p->log_func = on_parser_log;
        p->read_func = on_parser_read;
        p->write_func = on_parser_write;
        p->hello_func = on_hello;
        p->reset_func = on_reset;
        p->set_configuration_func = on_set_configuration;
        p->get_configuration_func = on_get_configuration;
        p->set_alt_setting_func = on_set_alt_setting;
        p->get_alt_setting_func = on_get_alt_setting;
        p->start_interrupt_receiving_func = on_start_interrupt_receiving;
        p->stop_interrupt_receiving_func = on_stop_interrupt_receiving;
        p->cancel_data_packet_func = on_cancel;
        p->control_packet_func = on_control_packet;
        p->bulk_packet_func = on_bulk_packet;
        p->device_disconnect_ack_func = on_disconnect_ack;
        p->start_iso_stream_func = on_start_iso_stream;
        p->stop_iso_stream_func = on_stop_iso_stream;
        p->alloc_bulk_streams_func = on_alloc_bulk_streams;
        p->free_bulk_streams_func = on_free_bulk_streams;
        p->start_bulk_receiving_func = on_start_bulk_receiving;
        p->stop_bulk_receiving_func = on_stop_bulk_receiving;
        p->iso_packet_func = on_iso_packet;
        p->interrupt_packet_func = on_interrupt_packet;
        p->filter_reject_func = on_filter_reject;
        p->filter_filter_func = on_filter_filter;
        usbredirparser_caps_set_cap(caps, usb_redir_cap_connect_device_version);
        usbredirparser_caps_set_cap(caps, usb_redir_cap_device_disconnect_ack);
        usbredirparser_caps_set_cap(caps, usb_redir_cap_ep_info_max_packet_size);
        usbredirparser_caps_set_cap(caps, usb_redir_cap_64bits_ids);
        usbredirparser_caps_set_cap(caps, usb_redir_cap_32bits_bulk_length);
        usbredirparser_init(p, "clusterboot redir-boards", caps, USB_REDIR_CAPS_SIZE, usbredirparser_fl_usb_host);
        b->parser = p;
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct rb_board *b = userdata;
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (cfd < 0)
                return 0;
        if (b->fd >= 0)
                rb_board_close_connection(b, "QEMU connected again");
        b->fd = cfd;
        if (create_parser(b) < 0 ||
            sd_event_add_io(rb_event, &b->io_source, cfd, EPOLLIN, on_io, b) < 0) {
                rb_log(b, "cannot set up the usbredir connection");
                rb_board_close_connection(b, "setup failed");
                return 0;
        }
        rb_vlog(b, "QEMU connected its usb-redir chardev");
        flush(b);
        return 0;
}

int rb_board_listen(struct rb_board *b) {
        int fd, r;

        if (b->listen_fd >= 0)
                return 0;
        snprintf(b->socket_path, sizeof b->socket_path, "%s/board-%u.sock", rb_opt.dir, b->index);
        r = rb_listen_unix(b->socket_path, &fd);
        if (r < 0)
                return r;
        if (sd_event_add_io(rb_event, &b->listen_source, fd, EPOLLIN, on_accept, b) < 0) {
                close(fd);
                return -ENOMEM;
        }
        b->listen_fd = fd;
        return 0;
}
