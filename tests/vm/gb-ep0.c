/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gadget-boards: a board's answers on ep0: the standard requests
 * (descriptors and strings from the model; SET_CONFIGURATION enables the
 * configuration's endpoints and starts the bulk thread, SET_INTERFACE
 * switches an interface's), the protocol's vendor requests, which go to the
 * model once it has the preceding write's bulk data, and the class requests
 * of the booted board's CDC functions.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include <linux/usb/cdc.h>
#include <linux/usb/ch9.h>
#include <linux/usb/raw_gadget.h>

#include "gadget-boards.h"

/*
 * The configuration's descriptors are walked by interface and alternate
 * setting: a stage's endpoints are enabled per interface, alternate setting
 * 0 at SET_CONFIGURATION and whichever the host picks with SET_INTERFACE
 * (an ECM data interface has no endpoints until its driver selects 1).
 */
static bool has_alt(const uint8_t *desc, size_t n, unsigned interface, unsigned alt) {
        for (size_t at = 18; at + 4 <= n && desc[at] >= 2; at += desc[at])
                if (desc[at + 1] == USB_DT_INTERFACE && desc[at + 2] == interface && desc[at + 3] == alt)
                        return true;
        return false;
}

/* Enables the endpoints of one interface's alternate setting; remembers the model's bulk OUT. Lock held. */
static void enable_alt(struct gboard *g, int fd, const uint8_t *desc, size_t n, unsigned interface, unsigned alt) {
        bool here = false;

        if (interface >= MAX_INTERFACES)
                return;
        for (size_t at = 18; at + 2 <= n && desc[at] >= 2; at += desc[at]) {
                if (desc[at + 1] == USB_DT_INTERFACE && at + 4 <= n) {
                        here = desc[at + 2] == interface && desc[at + 3] == alt;
                        continue;
                }
                if (!here || desc[at + 1] != USB_DT_ENDPOINT || at + 7 > n)
                        continue;
                struct usb_endpoint_descriptor ed;
                memset(&ed, 0, sizeof ed);
                ed.bLength = USB_DT_ENDPOINT_SIZE;
                ed.bDescriptorType = USB_DT_ENDPOINT;
                ed.bEndpointAddress = desc[at + 2];
                ed.bmAttributes = desc[at + 3];
                ed.wMaxPacketSize = htole16((uint16_t) (desc[at + 4] | desc[at + 5] << 8));
                ed.bInterval = desc[at + 6];
                int h = ioctl(fd, USB_RAW_IOCTL_EP_ENABLE, &ed);
                if (h < 0) {
                        blog(g, "cannot enable endpoint 0x%02x: %s", ed.bEndpointAddress, strerror(errno));
                        continue;
                }
                vlog(g, "endpoint 0x%02x of interface %u.%u enabled (handle %d)", ed.bEndpointAddress, interface, alt,
                     h);
                if (g->n_interface_eps[interface] < MAX_INTERFACE_EPS)
                        g->interface_eps[interface][g->n_interface_eps[interface]++] = h;
                if (ed.bEndpointAddress == emu_board_bulk_endpoint(&g->emu) &&
                    (ed.bmAttributes & USB_ENDPOINT_XFERTYPE_MASK) == USB_ENDPOINT_XFER_BULK) {
                        g->ep_out = h;
                        g->ep_out_mps = (uint16_t) (desc[at + 4] | desc[at + 5] << 8);
                }
        }
        g->alt[interface] = (uint8_t) alt;
}

/* Enables every interface's alternate setting 0 (SET_CONFIGURATION). Lock held. */
static void enable_endpoints(struct gboard *g, int fd, const uint8_t *desc, size_t n) {
        g->ep_out = -1;
        for (size_t at = 18; at + 4 <= n && desc[at] >= 2; at += desc[at])
                if (desc[at + 1] == USB_DT_INTERFACE && desc[at + 3] == 0)
                        enable_alt(g, fd, desc, n, desc[at + 2], 0);
        g->eps_enabled = true;
}

/*
 * Moves an interface to another alternate setting: its endpoints are
 * disabled (raw-gadget refuses while a read is queued on one, so the bulk
 * thread stops first if it reads there) and the new setting's enabled.
 * Lock held; dropped while the bulk thread ends.
 */
static void select_alt(struct gboard *g, int fd, const uint8_t *desc, size_t n, unsigned interface, unsigned alt) {
        bool owns_bulk = false;

        for (unsigned i = 0; i < g->n_interface_eps[interface]; i++)
                owns_bulk |= g->interface_eps[interface][i] == g->ep_out;
        if (owns_bulk) {
                stop_bulk(g);
                g->ep_out = -1;
        }
        for (unsigned i = 0; i < g->n_interface_eps[interface]; i++)
                if (ioctl(fd, USB_RAW_IOCTL_EP_DISABLE, (unsigned long) g->interface_eps[interface][i]) < 0)
                        blog(g, "cannot disable endpoint handle %d: %s", g->interface_eps[interface][i],
                             strerror(errno));
        g->n_interface_eps[interface] = 0;
        enable_alt(g, fd, desc, n, interface, alt);
        if (g->configured)
                start_bulk(g);
}

void handle_standard(struct gboard *g, int fd, const struct usb_ctrlrequest *c) {
        uint16_t value = le16toh(c->wValue), length = le16toh(c->wLength);
        unsigned interface = le16toh(c->wIndex) & 0xff;
        uint8_t desc[512], buf[256];
        size_t n = 0;
        int r = 0;

        switch (c->bRequest) {
        case USB_REQ_GET_DESCRIPTOR: {
                uint8_t type = (uint8_t) (value >> 8), index = (uint8_t) value;
                pthread_mutex_lock(&g->lock);
                size_t total = g->emu.stage == EMU_STAGE_OFF ? 0 : emu_board_descriptors(&g->emu, desc, sizeof desc);
                if (type == USB_DT_STRING && g->emu.stage != EMU_STAGE_OFF)
                        n = emu_board_string_descriptor(&g->emu, index, buf, sizeof buf);
                pthread_mutex_unlock(&g->lock);
                if (total > sizeof desc)
                        total = 0;
                if (type == USB_DT_DEVICE && total >= 18) {
                        r = ep0_write(fd, desc, length < 18 ? length : 18);
                } else if (type == USB_DT_CONFIG && total > 18 && index == 0) {
                        n = total - 18;
                        r = ep0_write(fd, desc + 18, length < n ? length : n);
                } else if (type == USB_DT_STRING && n > 0) {
                        r = ep0_write(fd, buf, length < n ? length : n);
                } else {
                        /* device qualifier, BOS, other-speed, unknown strings: not offered */
                        r = ep0_stall(fd);
                }
                break;
        }
        case USB_REQ_SET_CONFIGURATION:
                pthread_mutex_lock(&g->lock);
                if ((value & 0xff) != 0) {
                        size_t total = emu_board_descriptors(&g->emu, desc, sizeof desc);
                        if (!g->eps_enabled && total <= sizeof desc) {
                                enable_endpoints(g, fd, desc, total);
                        } else if (total <= sizeof desc) {
                                /* a configuration set again starts every interface in its setting 0 */
                                for (unsigned i = 0; i < MAX_INTERFACES; i++)
                                        if (g->alt[i] != 0)
                                                select_alt(g, fd, desc, total, i, 0);
                                /* and its endpoints afresh, halts too */
                                if (g->ep_out >= 0 && g->emu.halted)
                                        (void) ioctl(fd, USB_RAW_IOCTL_EP_CLEAR_HALT, (unsigned long) g->ep_out);
                        }
                        emu_board_set_configuration(&g->emu);
                        (void) ioctl(fd, USB_RAW_IOCTL_VBUS_DRAW, total > 26 ? desc[18 + 8] : 50);
                        (void) ioctl(fd, USB_RAW_IOCTL_CONFIGURE, 0);
                        g->configured = true;
                        /* a boot starts when the host takes the ROM up (a ROM after a power cut
                         * attaches while its port is still dark: its connection is too early) */
                        if (g->emu.stage == EMU_STAGE_ROM)
                                g->rom_ms = now_ms() - t_start;
                        start_bulk(g);
                }
                pthread_mutex_unlock(&g->lock);
                r = ep0_read(fd, NULL, 0);
                vlog(g, "configured");
                break;
        case USB_REQ_GET_CONFIGURATION:
                buf[0] = g->configured ? 1 : 0;
                r = ep0_write(fd, buf, length < 1 ? length : 1);
                break;
        case USB_REQ_GET_INTERFACE:
                pthread_mutex_lock(&g->lock);
                buf[0] = interface < MAX_INTERFACES ? g->alt[interface] : 0;
                pthread_mutex_unlock(&g->lock);
                r = ep0_write(fd, buf, length < 1 ? length : 1);
                break;
        case USB_REQ_GET_STATUS:
                buf[0] = buf[1] = 0;
                r = ep0_write(fd, buf, length < 2 ? length : 2);
                break;
        case USB_REQ_SET_INTERFACE: {
                bool known;
                pthread_mutex_lock(&g->lock);
                size_t total = g->emu.stage == EMU_STAGE_OFF ? 0 : emu_board_descriptors(&g->emu, desc, sizeof desc);
                known = total <= sizeof desc && interface < MAX_INTERFACES && has_alt(desc, total, interface, value);
                if (known && g->eps_enabled && g->alt[interface] != value)
                        select_alt(g, fd, desc, total, interface, value);
                if (known)
                        g->set_interfaces++;
                pthread_mutex_unlock(&g->lock);
                r = known ? ep0_read(fd, NULL, 0) : ep0_stall(fd);
                vlog(g, "SET_INTERFACE %u.%u: %s", interface, value, known ? "selected" : "no such setting, stall");
                status_changed();
                break;
        }
        default:
                vlog(g, "standard request 0x%02x/%u not handled: stall", c->bRequestType, c->bRequest);
                r = ep0_stall(fd);
                break;
        }
        if (r < 0 && r != -EINTR)
                vlog(g, "answering standard request %u: %s", c->bRequest, strerror(-r));
}

/*
 * The race the protocol documents: the host's bulk transfer completes when
 * the kernel took the data, possibly before this program's bulk thread gave
 * it to the model. A control request after a write waits (a little) until
 * the model has the whole write. Called with the lock held.
 */
static void wait_drained(struct gboard *g) {
        struct timespec ts = deadline_in(DRAIN_WAIT_MS);

        while (g->emu.write_pending && g->bulk_running && !g->bulk_hold && !g->stop_conn)
                if (pthread_cond_timedwait(&g->cond, &g->lock, &ts) != 0)
                        break;
}

void handle_vendor(struct gboard *g, int fd, const struct usb_ctrlrequest *c) {
        uint16_t value = le16toh(c->wValue), index = le16toh(c->wIndex), length = le16toh(c->wLength);
        bool in = c->bRequestType & USB_DIR_IN;
        uint8_t buf[EP0_BUF];
        size_t actual = 0;
        enum emu_verdict v;
        enum emu_bus_action a;
        int r = 0;

        if (!in && length > 0) {
                /* the protocol never sends a data stage with a write; take it and let the model judge */
                r = ep0_read(fd, buf, length < sizeof buf ? length : sizeof buf);
                if (r < 0)
                        return;
        }
        pthread_mutex_lock(&g->lock);
        wait_drained(g);
        if (in) {
                v = emu_board_control_in(&g->emu, value, index, buf, length < sizeof buf ? length : sizeof buf,
                                         &actual);
        } else {
                v = emu_board_control_out(&g->emu, value, index);
                if (v == EMU_ACK) {
                        g->bulk_hold = false; /* a new write: the bulk thread sizes its next read */
                        g->kept_len = 0;      /* what was kept belonged to the old one */
                        pthread_cond_broadcast(&g->cond);
                }
        }
        a = emu_board_take_bus_action(&g->emu);
        vlog(g, "vendor %s value %u index %u length %u -> %s, %zu bytes%s", in ? "IN" : "OUT", value, index, length,
             emu_verdict_name(v), actual, a != EMU_BUS_NONE ? ", then off the bus" : "");
        if (v == EMU_NO_ANSWER) {
                g->hold_pending = true;
                g->hold_deadline = now_ms() + opt.hold_ms;
                snprintf(g->last_event, sizeof g->last_event, "control %s not answered (fault)", in ? "IN" : "OUT");
                blog(g, "%s", g->last_event);
        }
        pthread_mutex_unlock(&g->lock);
        status_changed();

        switch (v) {
        case EMU_ACK:
                if (in)
                        r = ep0_write(fd, buf, actual);
                else if (length == 0)
                        r = ep0_read(fd, NULL, 0);
                break;
        case EMU_STALL:
                r = ep0_stall(fd);
                break;
        case EMU_NO_ANSWER:
                break; /* the host's transfer times out; see the hold in the runner */
        case EMU_GONE:
                if (a == EMU_BUS_NONE)
                        r = ep0_stall(fd); /* not a protocol device any more: refuse */
                break;
        }
        if (r < 0 && r != -EINTR)
                blog(g, "answering vendor %s: %s", in ? "IN" : "OUT", strerror(-r));

        if (a != EMU_BUS_NONE) {
                sleep_ms(ANSWER_SETTLE_MS); /* the host gets its completion before the board leaves */
                pthread_mutex_lock(&g->lock);
                snprintf(g->last_event, sizeof g->last_event, "left the bus (%s, next: %s)",
                         a == EMU_BUS_DISCONNECT ? "comes back" : "stays away", emu_stage_name(g->emu.next_stage));
                blog(g, "%s", g->last_event);
                g->stop_conn = true;
                pthread_mutex_unlock(&g->lock);
        }
}

/* The CDC function whose control interface is `interface` in the current stage, if any. */
enum cdc_function { CDC_NONE, CDC_ECM, CDC_ACM };

static enum cdc_function function_of(const uint8_t *desc, size_t n, unsigned interface) {
        for (size_t at = 18; at + 7 <= n && desc[at] >= 2; at += desc[at]) {
                if (desc[at + 1] != USB_DT_INTERFACE || desc[at + 2] != interface || desc[at + 3] != 0)
                        continue;
                if (desc[at + 5] == USB_CLASS_COMM && desc[at + 6] == USB_CDC_SUBCLASS_ETHERNET)
                        return CDC_ECM;
                if (desc[at + 5] == USB_CLASS_COMM && desc[at + 6] == USB_CDC_SUBCLASS_ACM)
                        return CDC_ACM;
                return CDC_NONE;
        }
        return CDC_NONE;
}

/*
 * What the host's cdc_ether and cdc_acm send a booted board's functions:
 * taken and acknowledged, as a gadget that carries no traffic can. Anything
 * else, and any class request before the board runs its gadget, stalls.
 */
void handle_class(struct gboard *g, int fd, const struct usb_ctrlrequest *c) {
        static const uint8_t default_line[7] = { 0x80, 0x25, 0, 0, 0, 0, 8 }; /* 9600 8N1 */
        uint16_t length = le16toh(c->wLength);
        unsigned interface = le16toh(c->wIndex) & 0xff;
        enum cdc_function fn = CDC_NONE;
        uint8_t desc[512], buf[64];
        bool ok = false;
        int r;

        pthread_mutex_lock(&g->lock);
        if (g->emu.stage == EMU_STAGE_GADGET && (c->bRequestType & USB_RECIP_MASK) == USB_RECIP_INTERFACE) {
                size_t total = emu_board_descriptors(&g->emu, desc, sizeof desc);
                if (total <= sizeof desc)
                        fn = function_of(desc, total, interface);
        }
        pthread_mutex_unlock(&g->lock);

        if (fn == CDC_ECM && c->bRequest == USB_CDC_SET_ETHERNET_PACKET_FILTER && length == 0) {
                ok = (r = ep0_read(fd, NULL, 0)) >= 0;
        } else if (fn == CDC_ACM && c->bRequest == USB_CDC_REQ_SET_LINE_CODING && length == sizeof default_line) {
                r = ep0_read(fd, buf, length);
                if ((ok = r == (int) length)) {
                        pthread_mutex_lock(&g->lock);
                        memcpy(g->line_coding, buf, sizeof g->line_coding);
                        g->line_coding_set = true;
                        pthread_mutex_unlock(&g->lock);
                }
        } else if (fn == CDC_ACM && c->bRequest == USB_CDC_REQ_GET_LINE_CODING && (c->bRequestType & USB_DIR_IN)) {
                pthread_mutex_lock(&g->lock);
                memcpy(buf, g->line_coding_set ? g->line_coding : default_line, sizeof default_line);
                pthread_mutex_unlock(&g->lock);
                ok = (r = ep0_write(fd, buf, length < sizeof default_line ? length : sizeof default_line)) >= 0;
        } else if (fn == CDC_ACM && length == 0 &&
                   (c->bRequest == USB_CDC_REQ_SET_CONTROL_LINE_STATE || c->bRequest == USB_CDC_REQ_SEND_BREAK)) {
                ok = (r = ep0_read(fd, NULL, 0)) >= 0;
        } else {
                r = ep0_stall(fd);
        }
        pthread_mutex_lock(&g->lock);
        if (ok)
                g->class_acked++;
        else
                g->class_stalled++;
        pthread_mutex_unlock(&g->lock);
        vlog(g, "class request 0x%02x/0x%02x to interface %u: %s", c->bRequestType, c->bRequest, interface,
             ok ? "answered" : "stall");
        if (r < 0 && r != -EINTR)
                vlog(g, "answering class request 0x%02x: %s", c->bRequest, strerror(-r));
        status_changed();
}
