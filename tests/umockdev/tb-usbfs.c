/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The usbdevfs emulation: umockdev's ioctl handler for every device node
 * (runs on umockdev's worker thread). It answers the ioctls libusb issues
 * (SUBMITURB, REAPURB(NDELAY), DISCARDURB, CONTROL, CLAIMINTERFACE, RESET, ...)
 * and read() of the descriptors.
 */
#include "tb-internal.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <linux/usbdevice_fs.h>
#include <stdlib.h>
#include <string.h>

#define SYNC_CONTROL_DEFAULT_TIMEOUT_MS 5000

/* USB_SPEED_* from linux/usb/ch9.h, as USBDEVFS_GET_SPEED returns them */
#define SPEED_FULL 2
#define SPEED_HIGH 3

/* ------------------------------------------------------------------ */
/* the ioctl handler (umockdev's worker thread) */

static struct tb_client *client_of(UMockdevIoctlClient *client) {
        return g_object_get_data(G_OBJECT(client), "tb-client");
}

void on_client_connected(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, gpointer data) {
        tb_testbed *tb = data;
        struct tb_client *c = g_new0(struct tb_client, 1);

        g_rec_mutex_lock(&tb->lock);
        if (!tb->worker_ctx)
                tb->worker_ctx = g_main_context_ref_thread_default();
        c->tb = tb;
        c->client = g_object_ref(client);
        c->dev = g_hash_table_lookup(tb->by_devnode, umockdev_ioctl_client_get_devnode(client));
        g_queue_init(&c->completed);
        if (c->dev)
                g_ptr_array_add(c->dev->clients, c);
        else
                tb_event(tb, "open of %s: no such device in the testbed", umockdev_ioctl_client_get_devnode(client));
        g_object_set_data(G_OBJECT(client), "tb-client", c);
        g_rec_mutex_unlock(&tb->lock);
}

static void *resolve_arg(UMockdevIoctlClient *client, size_t len, UMockdevIoctlData **ret) {
        GError *error = NULL;
        UMockdevIoctlData *d = umockdev_ioctl_data_resolve(umockdev_ioctl_client_get_arg(client), 0, len, &error);
        g_clear_error(&error);
        *ret = d;
        return d ? d->data : NULL;
}

static uint64_t arg_value(UMockdevIoctlClient *client) {
        UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(client);
        uint64_t v = 0;
        memcpy(&v, arg->data, MIN((size_t) arg->data_len, sizeof v));
        return v;
}

/* SUBMITURB */
static void ioctl_submit(struct tb_client *c, UMockdevIoctlClient *client, long *res, int *err) {
        struct tb_usbdev *d = c->dev;
        GError *error = NULL;
        UMockdevIoctlData *ud;
        struct usbdevfs_urb *urb = resolve_arg(client, sizeof(struct usbdevfs_urb), &ud);

        if (!urb) {
                *res = -1, *err = EFAULT;
                return;
        }
        if (d->gone) {
                g_object_unref(ud);
                *res = -1, *err = ENODEV;
                return;
        }
        if ((urb->type != USBDEVFS_URB_TYPE_CONTROL && urb->type != USBDEVFS_URB_TYPE_BULK &&
             urb->type != USBDEVFS_URB_TYPE_INTERRUPT) ||
            urb->buffer_length < 0 || (urb->type == USBDEVFS_URB_TYPE_CONTROL && urb->buffer_length < 8)) {
                g_object_unref(ud);
                *res = -1, *err = EINVAL;
                return;
        }
        if (urb->type != USBDEVFS_URB_TYPE_CONTROL && !dev_has_endpoint(d, urb->endpoint)) {
                g_object_unref(ud);
                *res = -1, *err = ENOENT;
                return;
        }

        struct tb_urb *u = g_new0(struct tb_urb, 1);
        u->c = c;
        u->data = ud;
        u->uaddr = ud->client_addr;
        u->type = urb->type;
        u->ep = urb->type == USBDEVFS_URB_TYPE_CONTROL ? 0 : urb->endpoint;
        u->flags = urb->flags;
        u->len = urb->buffer_length;
        if (urb->buffer_length > 0) {
                UMockdevIoctlData *bd = umockdev_ioctl_data_resolve(ud, offsetof(struct usbdevfs_urb, buffer),
                                                                    (gsize) urb->buffer_length, &error);
                if (!bd) {
                        g_clear_error(&error);
                        urb_free(u);
                        *res = -1, *err = EFAULT;
                        return;
                }
                u->buf = bd->data; /* kept alive by ud */
                g_object_unref(bd);
        }
        c->tb->stats.urbs_submitted++;
        if (u->type == USBDEVFS_URB_TYPE_BULK && (uint64_t) u->len > c->tb->stats.bulk_urb_max)
                c->tb->stats.bulk_urb_max = (uint64_t) u->len;
        unsigned idx = ep_index(u->ep);
        g_queue_push_tail(&d->ep_queue[idx], u);
        *res = 0, *err = 0;
        process_ep(d, idx);
}

static void ioctl_reap(struct tb_client *c, UMockdevIoctlClient *client, bool block, long *res, int *err,
                       bool *deferred) {
        struct tb_urb *u = g_queue_pop_head(&c->completed);

        if (u) {
                dev_update_ready(c->dev);
                deliver_reap(c, client, u);
                *deferred = true;
                return;
        }
        if (c->dev->gone) {
                *res = -1, *err = ENODEV;
                return;
        }
        if (!block) {
                *res = -1, *err = EAGAIN;
                return;
        }
        c->blocked_reap = client;
        *deferred = true;
}

static void ioctl_discard(struct tb_client *c, UMockdevIoctlClient *client, long *res, int *err) {
        struct tb_usbdev *d = c->dev;
        uint64_t uaddr = arg_value(client);

        for (unsigned i = 0; i < TB_MAX_EP; i++)
                for (GList *l = d->ep_queue[i].head; l; l = l->next) {
                        struct tb_urb *u = l->data;
                        if (u->c != c || u->uaddr != uaddr)
                                continue;
                        c->tb->stats.urbs_discarded++;
                        bool was_head = l == d->ep_queue[i].head;
                        complete_urb(u, -ENOENT, u->actual);
                        if (u->type != USBDEVFS_URB_TYPE_CONTROL)
                                cancel_continuations(d, u);
                        if (was_head)
                                process_ep(d, i);
                        *res = 0, *err = 0;
                        return;
                }
        *res = -1, *err = EINVAL; /* already completed (libusb then reaps it) or unknown */
}

static gboolean sync_control_timeout(gpointer data) {
        UMockdevIoctlClient *client = data;
        umockdev_ioctl_client_complete(client, -1, ETIMEDOUT);
        g_object_unref(client);
        return G_SOURCE_REMOVE;
}

/* USBDEVFS_CONTROL: a synchronous control transfer (libusb uses it for GET_CONFIGURATION). */
static void ioctl_control(struct tb_client *c, UMockdevIoctlClient *client, long *res, int *err, bool *deferred) {
        struct tb_usbdev *d = c->dev;
        UMockdevIoctlData *cd, *dd = NULL;
        struct usbdevfs_ctrltransfer *ct = resolve_arg(client, sizeof *ct, &cd);
        uint8_t setup[8];
        uint8_t *data = NULL;
        size_t actual = 0;
        GError *error = NULL;

        if (!ct) {
                *res = -1, *err = EFAULT;
                return;
        }
        if (d->gone) {
                g_object_unref(cd);
                *res = -1, *err = ENODEV;
                return;
        }
        setup[0] = ct->bRequestType, setup[1] = ct->bRequest;
        setup[2] = (uint8_t) ct->wValue, setup[3] = (uint8_t) (ct->wValue >> 8);
        setup[4] = (uint8_t) ct->wIndex, setup[5] = (uint8_t) (ct->wIndex >> 8);
        setup[6] = (uint8_t) ct->wLength, setup[7] = (uint8_t) (ct->wLength >> 8);
        if (ct->wLength > 0) {
                dd = umockdev_ioctl_data_resolve(cd, offsetof(struct usbdevfs_ctrltransfer, data), ct->wLength, &error);
                g_clear_error(&error);
                if (!dd) {
                        g_object_unref(cd);
                        *res = -1, *err = EFAULT;
                        return;
                }
                data = dd->data;
        }
        tb_board *b = dev_live_board(d);
        enum emu_verdict v = (d->board && !b) ? EMU_GONE : control_request(d, setup, data, ct->wLength, &actual);
        unsigned timeout = ct->timeout ? ct->timeout : SYNC_CONTROL_DEFAULT_TIMEOUT_MS;
        if (b)
                handle_bus_action(b, v, 0);
        if (dd)
                g_object_unref(dd);
        g_object_unref(cd);
        switch (v) {
        case EMU_ACK:
                *res = (long) actual, *err = 0;
                return;
        case EMU_STALL:
                *res = -1, *err = EPIPE;
                return;
        default: {
                /* no answer: the kernel gives up after the transfer's timeout */
                GSource *s = g_timeout_source_new(timeout);
                g_source_set_callback(s, sync_control_timeout, g_object_ref(client), NULL);
                g_source_attach(s, g_main_context_get_thread_default());
                g_source_unref(s);
                *deferred = true;
                return;
        }
        }
}

gboolean on_handle_ioctl(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, gpointer data) {
        tb_testbed *tb = data;
        unsigned long req = umockdev_ioctl_client_get_request(client);
        long res = 0;
        int err = 0;
        bool deferred = false;
        UMockdevIoctlData *ad = NULL;

        g_rec_mutex_lock(&tb->lock);
        tb->stats.ioctls++;
        struct tb_client *c = client_of(client);
        if (!c || !c->dev) {
                g_rec_mutex_unlock(&tb->lock);
                umockdev_ioctl_client_complete(client, -1, ENODEV);
                return TRUE;
        }
        struct tb_usbdev *d = c->dev;
        c->ioctl_since_read = true;

        /* After a disconnect only reaping works (USBDEVFS_CAP_REAP_AFTER_DISCONNECT). */
        if (d->gone && req != USBDEVFS_REAPURB && req != USBDEVFS_REAPURBNDELAY) {
                g_rec_mutex_unlock(&tb->lock);
                umockdev_ioctl_client_complete(client, -1, ENODEV);
                wake(tb);
                return TRUE;
        }

        if (req == USBDEVFS_SUBMITURB) {
                ioctl_submit(c, client, &res, &err);
        } else if (req == USBDEVFS_REAPURBNDELAY || req == USBDEVFS_REAPURB) {
                ioctl_reap(c, client, req == USBDEVFS_REAPURB, &res, &err, &deferred);
        } else if (req == USBDEVFS_DISCARDURB) {
                ioctl_discard(c, client, &res, &err);
        } else if (req == USBDEVFS_CONTROL) {
                ioctl_control(c, client, &res, &err, &deferred);
        } else if (req == USBDEVFS_GET_CAPABILITIES) {
                uint32_t *caps = resolve_arg(client, sizeof *caps, &ad);
                if (caps)
                        *caps = tb->opt.usbfs_caps;
                else
                        res = -1, err = EFAULT;
        } else if (req == USBDEVFS_GET_SPEED) {
                res = d->high_speed ? SPEED_HIGH : SPEED_FULL;
        } else if (req == USBDEVFS_CONNECTINFO) {
                struct usbdevfs_connectinfo *ci = resolve_arg(client, sizeof *ci, &ad);
                if (ci)
                        ci->devnum = d->devnum, ci->slow = 0;
                else
                        res = -1, err = EFAULT;
        } else if (_IOC_TYPE(req) == 'U' && _IOC_NR(req) == 32 && _IOC_DIR(req) == _IOC_READ) {
                /* USBDEVFS_CONNINFO_EX(len) */
                size_t len = _IOC_SIZE(req);
                uint8_t *p = resolve_arg(client, len, &ad);
                struct usbdevfs_conninfo_ex ci = { .size = sizeof ci,
                                                   .busnum = d->busnum,
                                                   .devnum = d->devnum,
                                                   .speed = d->high_speed ? SPEED_HIGH : SPEED_FULL };
                const char *s = strchr(d->sysname, '-');
                while (s && ci.num_ports < 7) {
                        ci.ports[ci.num_ports++] = (uint8_t) atoi(s + 1);
                        s = strchr(s + 1, '.');
                }
                if (p)
                        memcpy(p, &ci, MIN(len, sizeof ci));
                else
                        res = -1, err = EFAULT;
        } else if (req == USBDEVFS_CLAIMINTERFACE || req == USBDEVFS_DISCONNECT_CLAIM) {
                unsigned *ifno = resolve_arg(client, req == USBDEVFS_CLAIMINTERFACE ? sizeof(unsigned)
                                                                                    : sizeof(struct usbdevfs_disconnect_claim),
                                             &ad);
                if (!ifno)
                        res = -1, err = EFAULT;
                else if (*ifno >= TB_MAX_IF || !dev_has_interface(d, *ifno))
                        res = -1, err = ENOENT;
                else if (d->claimed[*ifno] && d->claimed[*ifno] != c)
                        res = -1, err = EBUSY;
                else
                        d->claimed[*ifno] = c;
        } else if (req == USBDEVFS_RELEASEINTERFACE) {
                unsigned *ifno = resolve_arg(client, sizeof(unsigned), &ad);
                if (!ifno)
                        res = -1, err = EFAULT;
                else if (*ifno >= TB_MAX_IF || d->claimed[*ifno] != c)
                        res = -1, err = EINVAL;
                else {
                        d->claimed[*ifno] = NULL;
                        kill_urbs(d, c, -ENOENT, false);
                }
        } else if (req == USBDEVFS_SETINTERFACE) {
                struct usbdevfs_setinterface *si = resolve_arg(client, sizeof *si, &ad);
                if (!si)
                        res = -1, err = EFAULT;
                else if (!dev_has_interface(d, si->interface) || si->altsetting != 0)
                        res = -1, err = EINVAL;
        } else if (req == USBDEVFS_SETCONFIGURATION) {
                int *cfg = resolve_arg(client, sizeof(int), &ad);
                if (!cfg)
                        res = -1, err = EFAULT;
                else if (*cfg != 1 && *cfg != -1)
                        res = -1, err = EINVAL;
                else
                        dev_set_configuration(d);
        } else if (req == USBDEVFS_CLEAR_HALT || req == USBDEVFS_RESETEP) {
                unsigned *ep = resolve_arg(client, sizeof(unsigned), &ad);
                if (!ep)
                        res = -1, err = EFAULT;
                else if (!dev_has_endpoint(d, (uint8_t) *ep))
                        res = -1, err = ENOENT;
                else if (req == USBDEVFS_CLEAR_HALT)
                        dev_clear_halt(d, (uint8_t) *ep); /* the kernel sends CLEAR_FEATURE(ENDPOINT_HALT) */
                /* RESETEP only resets the host's data toggle: the device hears nothing */
        } else if (req == USBDEVFS_GETDRIVER) {
                res = -1, err = ENODATA; /* no kernel driver on any interface */
        } else if (req == USBDEVFS_IOCTL) {
                struct usbdevfs_ioctl *io = resolve_arg(client, sizeof *io, &ad);
                if (!io)
                        res = -1, err = EFAULT;
                else if (io->ioctl_code == (int) USBDEVFS_DISCONNECT)
                        res = -1, err = ENODATA;
                else if (io->ioctl_code == (int) USBDEVFS_CONNECT)
                        res = 0;
                else
                        res = -1, err = ENOTTY;
        } else if (req == USBDEVFS_RESET) {
                tb->stats.resets++;
                tb_board *b = dev_live_board(d);
                if (b) {
                        emu_board_reset(&b->emu);
                        tb_event(tb, "reset %s (%s)", b->port, b->emu.pending_bus_action ? "restarts" : "kept");
                        if (b->emu.pending_bus_action != EMU_BUS_NONE) {
                                /* it re-enumerates: the kernel reports the device gone */
                                kill_urbs(d, NULL, -ESHUTDOWN, true);
                                handle_bus_action(b, EMU_GONE, 0);
                                res = -1, err = ENODEV;
                        } else {
                                kill_urbs(d, NULL, -ENOENT, true);
                        }
                }
        } else if (req == USBDEVFS_CLAIM_PORT || req == USBDEVFS_RELEASE_PORT || req == USBDEVFS_DROP_PRIVILEGES ||
                   req == USBDEVFS_FORBID_SUSPEND || req == USBDEVFS_ALLOW_SUSPEND ||
                   req == USBDEVFS_WAIT_FOR_RESUME) {
                res = 0;
        } else {
                tb->stats.unhandled_ioctls++;
                tb_event(tb, "unhandled ioctl 0x%lx on %s", req, d->devnode);
                res = -1, err = ENOTTY;
        }
        if (ad)
                g_object_unref(ad);
        g_rec_mutex_unlock(&tb->lock);
        if (!deferred)
                umockdev_ioctl_client_complete(client, res, err);
        wake(tb);
        return TRUE;
}

/* read() on a node: the descriptors, like usbfs. libusb lseek()s to 0 first, which the
 * handler cannot see: a read after any ioctl starts again at offset 0. */
gboolean on_handle_read(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, gpointer data) {
        tb_testbed *tb = data;
        UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(client);
        long n = 0;

        g_rec_mutex_lock(&tb->lock);
        tb->stats.reads++;
        struct tb_client *c = client_of(client);
        if (c && c->dev) {
                if (c->ioctl_since_read)
                        c->read_off = 0;
                c->ioctl_since_read = false;
                size_t left = c->dev->desc_len > c->read_off ? c->dev->desc_len - c->read_off : 0;
                n = (long) MIN(left, (size_t) arg->data_len);
                memcpy(arg->data, c->dev->desc + c->read_off, (size_t) n);
                c->read_off += (size_t) n;
        }
        g_rec_mutex_unlock(&tb->lock);
        umockdev_ioctl_client_complete(client, n, 0);
        return TRUE;
}

gboolean on_handle_write(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, gpointer data) {
        umockdev_ioctl_client_complete(client, -1, EINVAL);
        return TRUE;
}
