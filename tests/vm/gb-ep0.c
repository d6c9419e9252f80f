/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gadget-boards: a board's answers on ep0: the standard requests
 * (descriptors and strings from the model; SET_CONFIGURATION enables the
 * configuration's endpoints and starts the bulk thread) and the protocol's
 * vendor requests, which go to the model once it has the preceding write's
 * bulk data.
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

#include <linux/usb/ch9.h>
#include <linux/usb/raw_gadget.h>

#include "gadget-boards.h"

/* Enables the endpoints of the current stage's configuration; remembers the protocol's bulk OUT. */
static void enable_endpoints(struct gboard *g, int fd, const uint8_t *desc, size_t n) {
        unsigned n_interfaces = n >= 18 + 9 ? desc[18 + 4] : 0;
        unsigned want_interface = n_interfaces > 1 ? 1 : 0; /* the protocol's interface */
        int interface = -1;

        g->ep_out = -1;
        for (size_t at = 18; at + 2 <= n && desc[at] >= 2; at += desc[at]) {
                if (desc[at + 1] == USB_DT_INTERFACE && at + 3 <= n) {
                        interface = desc[at + 2];
                        continue;
                }
                if (desc[at + 1] != USB_DT_ENDPOINT || at + 7 > n)
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
                vlog(g, "endpoint 0x%02x enabled (handle %d)", ed.bEndpointAddress, h);
                if (interface == (int) want_interface && !(ed.bEndpointAddress & USB_DIR_IN) &&
                    (ed.bmAttributes & USB_ENDPOINT_XFERTYPE_MASK) == USB_ENDPOINT_XFER_BULK && g->ep_out < 0) {
                        g->ep_out = h;
                        g->ep_out_mps = (uint16_t) (desc[at + 4] | desc[at + 5] << 8);
                }
        }
        g->eps_enabled = true;
}

void handle_standard(struct gboard *g, int fd, const struct usb_ctrlrequest *c) {
        uint16_t value = le16toh(c->wValue), length = le16toh(c->wLength);
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
                        if (!g->eps_enabled && total <= sizeof desc)
                                enable_endpoints(g, fd, desc, total);
                        else if (g->ep_out >= 0 && g->emu.halted)
                                /* a configuration set again starts the endpoints afresh, halts too */
                                (void) ioctl(fd, USB_RAW_IOCTL_EP_CLEAR_HALT, (unsigned long) g->ep_out);
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
                buf[0] = 0;
                r = ep0_write(fd, buf, length < 1 ? length : 1);
                break;
        case USB_REQ_GET_STATUS:
                buf[0] = buf[1] = 0;
                r = ep0_write(fd, buf, length < 2 ? length : 2);
                break;
        case USB_REQ_SET_INTERFACE:
                r = ep0_read(fd, NULL, 0);
                break;
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
