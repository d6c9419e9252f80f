/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gadget-boards: a board's power: losing it (a DISCONNECT event, or its
 * port seen unpowered), and, while the board is off the bus, watching its
 * port's power (sysfs `disable`, else GET_STATUS through usbfs) until it is
 * due back in its next stage.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/usb/ch9.h>
#include <linux/usbdevice_fs.h>

#include "gadget-boards.h"

/*
 * The board loses its power: whatever it was doing (a transfer included) is
 * gone; the runner brings it back as a fresh board in its boot ROM. Called
 * with the lock held.
 */
static void lose_power(struct gboard *g, const char *why) {
        snprintf(g->last_event, sizeof g->last_event, "%s: the board loses power", why);
        blog(g, "%s", g->last_event);
        emu_board_unplug(&g->emu);
        (void) emu_board_take_bus_action(&g->emu);
        g->power_cut = true;
        g->power_cuts++;
        g->hold_pending = false;
        if (g->connected)
                g->stop_conn = true;
        pthread_cond_broadcast(&g->cond);
}

/* DISCONNECT: dummy_hcd saw the port's power bit go from on to off (a reset is a RESET event). */
void handle_power_cut(struct gboard *g) {
        pthread_mutex_lock(&g->lock);
        lose_power(g, "port power cut");
        pthread_mutex_unlock(&g->lock);
        status_changed();
}

/*
 * Whether the board's port has power: 1 yes, 0 no, -errno cannot tell. Only
 * for a board off the bus: both ways take the root hub's lock, which the host
 * holds while it enumerates a device on the bus, and the enumeration of this
 * board would wait for this very thread to answer it. Runner thread only.
 */
static int port_power(struct gboard *g) {
        char buf[8];
        int fd, r;

        if (g->power_path[0] && (fd = open(g->power_path, O_RDONLY | O_CLOEXEC)) >= 0) {
                ssize_t n = read(fd, buf, sizeof buf - 1);
                r = n < 0 ? -errno : 0;
                close(fd);
                if (n > 0 && (buf[0] == '0' || buf[0] == '1'))
                        return buf[0] == '0'; /* "disable" */
                return r < 0 ? r : -EIO;
        }
        /* no `disable` file (before Linux 6.0?): GET_STATUS(port 1) to the root hub through usbfs */
        if (g->power_fd < 0) {
                char path[64];
                if (g->bus <= 0)
                        return -ENODEV;
                snprintf(path, sizeof path, "/dev/bus/usb/%03d/001", g->bus);
                g->power_fd = open(path, O_RDWR | O_CLOEXEC);
                if (g->power_fd < 0)
                        return -errno;
        }
        uint8_t st[4] = { 0 };
        struct usbdevfs_ctrltransfer c = {
                .bRequestType = USB_DIR_IN | USB_TYPE_CLASS | USB_RECIP_OTHER,
                .bRequest = USB_REQ_GET_STATUS,
                .wValue = 0,
                .wIndex = 1,
                .wLength = sizeof st,
                .timeout = 1000,
                .data = st,
        };
        r = ioctl(g->power_fd, USBDEVFS_CONTROL, &c);
        if (r < 0)
                return -errno;
        return r < 2 ? -EIO : (st[1] & 0x01) != 0; /* wPortStatus bit 8: PORT_POWER */
}

/*
 * A board off the bus, with power: between two stages (back after
 * --reconnect-ms) or wedged (a fault: it stays away until power or a plug
 * revives it). Watches the port's power meanwhile. Called with the lock held;
 * returns when something changed.
 */
void wait_off_bus(struct gboard *g) {
        enum emu_stage next = g->emu.next_stage;
        uint64_t due = next != EMU_STAGE_OFF ? now_ms() + opt.reconnect_ms : UINT64_MAX;

        for (;;) {
                uint64_t now = now_ms();
                unsigned wait = POWER_POLL_MS;
                int p;

                if (due != UINT64_MAX)
                        wait = due <= now ? 0 : (due - now < wait ? (unsigned) (due - now) : wait);
                if (wait) {
                        struct timespec ts = deadline_in(wait);
                        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
                }
                if (g->quit || g->unplugged || g->power_cut || g->emu.stage != EMU_STAGE_OFF ||
                    g->emu.next_stage != next)
                        return;
                pthread_mutex_unlock(&g->lock);
                p = port_power(g);
                pthread_mutex_lock(&g->lock);
                if (g->quit || g->unplugged || g->power_cut || g->emu.stage != EMU_STAGE_OFF ||
                    g->emu.next_stage != next)
                        return;
                if (p < 0 && !g->power_warned) {
                        g->power_warned = true;
                        blog(g, "cannot read its port's power (%s): a power cut while off the bus goes unnoticed",
                             strerror(-p));
                }
                if (p == 0) {
                        lose_power(g, next != EMU_STAGE_OFF ? "port power cut between two stages"
                                                            : "port power cut while off the bus");
                        status_changed();
                        return;
                }
                if (now_ms() >= due) {
                        /* the power was there a moment ago: back in the next stage */
                        emu_board_reconnect(&g->emu);
                        status_changed();
                        return;
                }
        }
}
