/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * URBs: a queue per endpoint, each URB run against the device when it gets
 * to the head, completed after its bus time, handed to the reaper; and the
 * readiness of a FIFO device node, which tells the program under test that
 * an URB can be reaped.
 */
#include "tb-internal.h"

#include <errno.h>
#include <linux/usbdevice_fs.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* device nodes: FIFO readiness */

void fifo_fill(int fd) {
        static const char page[4096];
        while (write(fd, page, sizeof page) > 0)
                ;
}

void dev_update_ready(struct tb_usbdev *d) {
        bool want = false;

        if (d->fifo_fd < 0)
                return;
        for (guint i = 0; i < d->clients->len && !want; i++) {
                struct tb_client *c = g_ptr_array_index(d->clients, i);
                if (!g_queue_is_empty(&c->completed) && umockdev_ioctl_client_get_connected(c->client))
                        want = true;
        }
        if (want == d->ready)
                return;
        if (want) {
                char page[4096];
                if (read(d->fifo_fd, page, sizeof page) < 0 && errno != EAGAIN)
                        tb_event(d->tb, "FIFO drain of %s: %s", d->devnode, g_strerror(errno));
        } else {
                fifo_fill(d->fifo_fd);
        }
        d->ready = want;
}

/* ------------------------------------------------------------------ */
/* URBs */

void urb_free(struct tb_urb *u) {
        drop_source(&u->timer);
        if (u->data)
                g_object_unref(u->data);
        g_free(u);
}

/* Hands a completed URB to a REAPURB(NDELAY) in progress, and completes that ioctl. */
void deliver_reap(struct tb_client *c, UMockdevIoctlClient *client, struct tb_urb *u) {
        GError *error = NULL;
        UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(client);
        UMockdevIoctlData *cell = umockdev_ioctl_data_resolve(arg, 0, sizeof(void *), &error);

        if (!cell) {
                tb_event(c->tb, "REAPURB: cannot resolve the argument: %s", error ? error->message : "NULL");
                g_clear_error(&error);
                umockdev_ioctl_client_complete(client, -1, EFAULT);
                urb_free(u);
                return;
        }
        /* The pointer cell now points at the URB as it was submitted; status,
         * actual_length and (for IN) the buffer are written back on completion. */
        umockdev_ioctl_data_set_ptr(cell, 0, u->data);
        g_object_unref(cell);
        c->tb->stats.urbs_reaped++;
        urb_free(u);
        umockdev_ioctl_client_complete(client, 0, 0);
}

void complete_urb(struct tb_urb *u, int status, int actual) {
        struct tb_client *c = u->c;
        struct tb_usbdev *d = c->dev;
        struct usbdevfs_urb *urb = (struct usbdevfs_urb *) u->data->data;

        g_queue_remove(&d->ep_queue[ep_index(u->ep)], u);
        drop_source(&u->timer);
        u->done = true;
        urb->status = status;
        urb->actual_length = actual;
        urb->error_count = 0;
        if (c->blocked_reap) {
                UMockdevIoctlClient *client = c->blocked_reap;
                c->blocked_reap = NULL;
                deliver_reap(c, client, u);
        } else {
                g_queue_push_tail(&c->completed, u);
        }
        dev_update_ready(d);
        wake(c->tb);
}

/* The rest of a bulk transfer that libusb split into URBs after u failed or was
 * discarded: usbfs cancels those (-ECONNRESET) when an URB of the transfer fails. */
void cancel_continuations(struct tb_usbdev *d, struct tb_urb *after) {
        GQueue *q = &d->ep_queue[ep_index(after->ep)];
        GList *l = q->head;
        while (l) {
                struct tb_urb *u = l->data;
                l = l->next;
                if (u->c == after->c && (u->flags & USBDEVFS_URB_BULK_CONTINUATION))
                        complete_urb(u, -ECONNRESET, 0);
                else if (u->c == after->c)
                        break;
        }
}

/* ---- bus time ----
 * A transfer takes time on a real bus, and the device's next URB cannot start
 * before the previous one ended. An emulation that completed URBs at submit
 * time would also change what the host program does: libusb reaps in a loop
 * until EAGAIN, so one board's whole session would run inside one
 * libusb_handle_events() call while the other boards and the udev monitor
 * starve. So an URB completes after its bus time: per transfer, a high-speed
 * device takes 125 us (control 250 us) + bytes at 40 MB/s, a full-speed one
 * 1 ms + bytes at 1 MB/s, scaled by tb_options.bus_time_percent; transfers on
 * one bus (boards behind hubs) share it, one after the other. GLib's timers on
 * the ioctl thread round up to whole milliseconds. */

static gboolean ready_time_dispatch(GSource *source, GSourceFunc callback, gpointer data) {
        return callback(data);
}

static GSourceFuncs ready_time_funcs = { .dispatch = ready_time_dispatch };

static void finish_urb(struct tb_urb *u) {
        struct tb_usbdev *d = u->c->dev;
        unsigned idx = ep_index(u->ep);

        if (u->result == -EPIPE && u->type != USBDEVFS_URB_TYPE_CONTROL)
                d->halted[idx] = true;
        complete_urb(u, u->result, u->actual);
        if (u->result == -EPIPE)
                cancel_continuations(d, u);
        process_ep(d, idx);
}

/* The URB runs against the board again (a busy board woke): at the head of its queue, not yet started. */
static void rerun_urb(struct tb_urb *u) {
        u->waking = false;
        u->started = false;
        process_ep(u->c->dev, ep_index(u->ep));
}

/* The end of an URB's bus time, or the moment a busy board takes it (u->waking). */
static gboolean urb_timer_cb(gpointer data) {
        struct tb_urb *u = data;
        tb_testbed *tb = u->c->tb;

        g_rec_mutex_lock(&tb->lock);
        g_source_unref(u->timer);
        u->timer = NULL;
        if (!u->done) {
                if (u->waking)
                        rerun_urb(u);
                else
                        finish_urb(u);
        }
        g_rec_mutex_unlock(&tb->lock);
        return G_SOURCE_REMOVE;
}

static void arm_urb_timer(struct tb_usbdev *d, struct tb_urb *u, int64_t ready_usec) {
        tb_testbed *tb = d->tb;

        u->timer = g_source_new(&ready_time_funcs, sizeof(GSource));
        g_source_set_callback(u->timer, urb_timer_cb, u, NULL);
        g_source_set_ready_time(u->timer, ready_usec);
        g_source_attach(u->timer, tb->worker_ctx ? tb->worker_ctx : g_main_context_get_thread_default());
}

/* Returns when the URB completes (CLOCK_MONOTONIC, us). */
static int64_t schedule_completion(struct tb_usbdev *d, struct tb_urb *u, size_t bytes) {
        tb_testbed *tb = d->tb;
        bool hs = d->high_speed;
        double base = u->type == USBDEVFS_URB_TYPE_CONTROL ? (hs ? 250.0 : 1000.0) : (hs ? 125.0 : 1000.0);
        double us = (base + (double) bytes / (hs ? 40.0 : 1.0)) * tb->opt.bus_time_percent / 100.0;
        int64_t now = g_get_monotonic_time();
        int64_t start = now;

        if (us < 20.0)
                us = 20.0;
        if (!tb->opt.no_bus_sharing && tb->bus_busy_until[d->busnum] > start)
                start = tb->bus_busy_until[d->busnum];
        int64_t end = start + (int64_t) us;
        if (!tb->opt.no_bus_sharing)
                tb->bus_busy_until[d->busnum] = end;

        arm_urb_timer(d, u, end);
        return end;
}

/* A busy board (EMU_FAULT_PAUSE) said when it takes the operation: the URB runs again then. */
static void schedule_wake(struct tb_usbdev *d, struct tb_urb *u, uint64_t wake_ms) {
        u->waking = true;
        arm_urb_timer(d, u, (int64_t) wake_ms * 1000);
}

void dev_wake_urbs(struct tb_usbdev *d) {
        for (unsigned i = 0; i < TB_MAX_EP; i++) {
                struct tb_urb *u = g_queue_peek_head(&d->ep_queue[i]);
                if (u && u->waking && !u->done) {
                        drop_source(&u->timer);
                        rerun_urb(u);
                }
        }
}

void dev_clear_halt(struct tb_usbdev *d, uint8_t ep) {
        tb_board *b = dev_live_board(d);

        d->halted[ep_index(ep)] = false;
        if (b)
                emu_board_clear_halt(&b->emu, ep);
}

void dev_set_configuration(struct tb_usbdev *d) {
        tb_board *b = dev_live_board(d);

        for (unsigned i = 0; i < TB_MAX_EP; i++)
                d->halted[i] = false;
        if (b)
                emu_board_set_configuration(&b->emu);
}

/* Runs the head URB of an endpoint queue; returns true if it completed at once. */
static bool run_urb(struct tb_usbdev *d, struct tb_urb *u) {
        tb_testbed *tb = d->tb;
        unsigned idx = ep_index(u->ep);
        enum emu_verdict v;
        size_t actual = 0;
        tb_board *b = dev_live_board(d);

        u->started = true;
        if (d->gone) {
                complete_urb(u, -ESHUTDOWN, 0);
                return true;
        }
        if (u->type == USBDEVFS_URB_TYPE_CONTROL) {
                if (u->len < 8) {
                        complete_urb(u, -EINVAL, 0);
                        return true;
                }
                if (d->board && !b) {
                        v = EMU_GONE;
                } else {
                        v = control_request(d, u->buf, u->buf + 8, (size_t) u->len - 8, &actual);
                }
        } else if (d->halted[idx]) {
                complete_urb(u, -EPIPE, 0);
                return true;
        } else if (!(u->ep & 0x80) && b) {
                v = emu_board_bulk_out(&b->emu, u->buf, (size_t) u->len, &actual);
                tb->stats.bulk_bytes += actual;
                if (v == EMU_ACK && actual < (size_t) u->len)
                        v = EMU_NO_ANSWER; /* the board does not take more than announced: it NAKs */
        } else if (d->board && !b) {
                v = EMU_GONE;
        } else {
                v = EMU_NO_ANSWER; /* IN endpoints of a board, hub status changes: nothing to say */
        }

        if (b && v == EMU_GONE && b->emu.stage != EMU_STAGE_OFF && b->emu.pending_bus_action == EMU_BUS_NONE)
                v = EMU_STALL; /* not a boot-protocol device any more (its gadget): it stalls vendor requests */
        u->actual = (int) actual;

        int64_t end = 0;
        if (v == EMU_ACK || v == EMU_STALL) {
                u->result = v == EMU_ACK ? 0 : -EPIPE;
                end = schedule_completion(d, u, actual);
        }
        if (b)
                handle_bus_action(b, v, end);

        switch (v) {
        case EMU_ACK:
        case EMU_STALL:
                return false; /* at the end of its bus time */
        case EMU_NO_ANSWER: {
                uint64_t wake_ms = b ? emu_board_wake_at(&b->emu) : 0;
                if (wake_ms) {
                        schedule_wake(d, u, wake_ms);
                        return false; /* runs again when the board is no longer busy, or DISCARDURB */
                }
                tb->stats.urbs_timed_out++;
                return false; /* until DISCARDURB */
        }
        case EMU_GONE:
        default:
                return false; /* until the device is removed: -ESHUTDOWN */
        }
}

void process_ep(struct tb_usbdev *d, unsigned idx) {
        struct tb_urb *u;
        while ((u = g_queue_peek_head(&d->ep_queue[idx])) && !u->started)
                if (!run_urb(d, u))
                        break;
}

/* Kills the URBs of a client (or of all clients if c is NULL) with status. */
void kill_urbs(struct tb_usbdev *d, struct tb_client *c, int status, bool ep0_too) {
        for (unsigned i = 0; i < TB_MAX_EP; i++) {
                if (i == 0 && !ep0_too)
                        continue;
                GList *l = d->ep_queue[i].head;
                while (l) {
                        struct tb_urb *u = l->data;
                        l = l->next;
                        if (!c || u->c == c)
                                complete_urb(u, status, u->actual);
                }
        }
}
