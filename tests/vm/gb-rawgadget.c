/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gadget-boards: raw-gadget itself: ep0 reads, writes and stalls, attaching
 * a board to its dummy UDC (INIT + RUN at its stage's speed), and the event
 * loop of one connection (EVENT_FETCH, handing each event to the ep0,
 * reset and power-cut handlers) until the board leaves the bus.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/usb/ch9.h>
#include <linux/usb/raw_gadget.h>

#include "gadget-boards.h"

/* One ep0 data stage: `out` is sent (EP0_WRITE), or up to `len` bytes are read into `in` (EP0_READ). */
static int ep0_io(int fd, unsigned long request, const uint8_t *out, uint8_t *in, size_t len) {
        struct usb_raw_ep_io *io = malloc(sizeof *io + len + 1);
        int r;

        if (!io)
                return -ENOMEM;
        io->ep = 0;
        io->flags = 0;
        io->length = (uint32_t) len;
        if (out && len)
                memcpy(io->data, out, len);
        r = ioctl(fd, request, io);
        r = r < 0 ? -errno : r;
        if (r > 0 && in)
                memcpy(in, io->data, (size_t) r);
        free(io);
        return r;
}

int ep0_write(int fd, const uint8_t *data, size_t len) {
        return ep0_io(fd, USB_RAW_IOCTL_EP0_WRITE, data, NULL, len);
}

/* Reads an OUT data stage of `len` bytes (0: just acknowledges the status stage). */
int ep0_read(int fd, uint8_t *data, size_t len) {
        return ep0_io(fd, USB_RAW_IOCTL_EP0_READ, NULL, data, len);
}

int ep0_stall(int fd) {
        return ioctl(fd, USB_RAW_IOCTL_EP0_STALL, 0) < 0 ? -errno : 0;
}

static int connect_board(struct gboard *g) {
        struct usb_raw_init init;
        bool high;
        int fd;

        fd = open("/dev/raw-gadget", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        memset(&init, 0, sizeof init);
        snprintf((char *) init.driver_name, sizeof init.driver_name, "dummy_udc");
        snprintf((char *) init.device_name, sizeof init.device_name, "dummy_udc.%u", g->udc);
        pthread_mutex_lock(&g->lock);
        high = emu_board_high_speed(&g->emu);
        pthread_mutex_unlock(&g->lock);
        init.speed = high ? USB_SPEED_HIGH : USB_SPEED_FULL;
        if (ioctl(fd, USB_RAW_IOCTL_INIT, &init) < 0 || ioctl(fd, USB_RAW_IOCTL_RUN, 0) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* One connection: from RUN to the board leaving the bus. */
void run_connection(struct gboard *g) {
        struct usb_raw_event *ev = malloc(sizeof *ev + sizeof(struct usb_ctrlrequest) + 64);
        int fd;

        if (!ev)
                return;
        fd = connect_board(g);
        if (fd < 0) {
                blog(g, "cannot attach to dummy_udc.%u: %s", g->udc, strerror(-fd));
                free(ev);
                sleep_ms(1000);
                return;
        }
        pthread_mutex_lock(&g->lock);
        g->fd = fd;
        g->connected = true;
        g->configured = false;
        g->eps_enabled = false;
        g->ep_out = -1;
        memset(g->alt, 0, sizeof g->alt);
        memset(g->n_interface_eps, 0, sizeof g->n_interface_eps);
        g->hold_pending = false;
        g->connections++;
        snprintf(g->last_event, sizeof g->last_event, "%s as %04x:%04x (%s, %s speed)%s",
                 g->dark ? "attached again" : "on the bus", emu_board_vid(&g->emu), emu_board_pid(&g->emu),
                 emu_stage_name(g->emu.stage), emu_board_high_speed(&g->emu) ? "high" : "full",
                 g->dark ? ", on the bus as soon as its port has power" : "");
        g->dark = false;
        if (g->emu.stage == EMU_STAGE_GADGET)
                g->gadget_ms = now_ms() - t_start; /* its kernel runs: the boot is over */
        blog(g, "%s", g->last_event);
        pthread_mutex_unlock(&g->lock);
        status_changed();

        for (;;) {
                pthread_mutex_lock(&g->lock);
                if (g->stop_conn) {
                        pthread_mutex_unlock(&g->lock);
                        break;
                }
                if (g->hold_pending && now_ms() >= g->hold_deadline) {
                        /* Raw-gadget refuses every later request while one is unanswered, and it cannot
                         * drop one: once the host surely gave up, stall it (which only clears it). */
                        g->hold_pending = false;
                        pthread_mutex_unlock(&g->lock);
                        (void) ep0_stall(fd);
                        continue;
                }
                g->in_fetch = true;
                pthread_mutex_unlock(&g->lock);

                ev->type = 0;
                ev->length = sizeof(struct usb_ctrlrequest);
                int r = ioctl(fd, USB_RAW_IOCTL_EVENT_FETCH, ev);
                int err = errno;

                pthread_mutex_lock(&g->lock);
                g->in_fetch = false;
                pthread_mutex_unlock(&g->lock);
                if (r < 0) {
                        if (err == EINTR)
                                continue;
                        blog(g, "event fetch: %s", strerror(err));
                        break;
                }
                switch (ev->type) {
                case USB_RAW_EVENT_CONNECT:
                        vlog(g, "connect");
                        break;
                case USB_RAW_EVENT_CONTROL: {
                        struct usb_ctrlrequest c;
                        memcpy(&c, ev->data, sizeof c);
                        if ((c.bRequestType & USB_TYPE_MASK) == USB_TYPE_STANDARD)
                                handle_standard(g, fd, &c);
                        else if ((c.bRequestType & USB_TYPE_MASK) == USB_TYPE_VENDOR)
                                handle_vendor(g, fd, &c);
                        else if ((c.bRequestType & USB_TYPE_MASK) == USB_TYPE_CLASS)
                                handle_class(g, fd, &c);
                        else
                                (void) ep0_stall(fd);
                        break;
                }
                case RAW_EVENT_RESET:
                        handle_reset(g);
                        break;
                case RAW_EVENT_DISCONNECT:
                        handle_power_cut(g);
                        break;
                default:
                        vlog(g, "event type %u ignored", ev->type);
                        break;
                }
        }

        pthread_mutex_lock(&g->lock);
        stop_bulk(g);
        g->connected = false;
        g->fd = -1;
        g->stop_conn = false;
        pthread_mutex_unlock(&g->lock);
        close(fd); /* unregisters the gadget: the host sees the device leave */
        free(ev);
        status_changed();
}
