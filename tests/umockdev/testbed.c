/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * umockdev integration-test harness: emulated boards (tests/emu) behind fake
 * usbdevfs nodes. See testbed.h for the overview and the README beside this
 * file for what a libusb program sees under it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#endif
#include "testbed.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glob.h>
#include <inttypes.h>
#include <sys/ioctl.h>
#include <linux/usbdevice_fs.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <umockdev.h>

#define TB_MAX_EP 32
#define TB_MAX_IF 8
#define TB_MAX_PORTS 15
#define TB_DESC_MAX 512
#define TB_USB_MAJOR 189

#define DEFAULT_RECONNECT_MS 50
#define DEFAULT_DROP_MS 5
#define SYNC_CONTROL_DEFAULT_TIMEOUT_MS 5000

/* USB_SPEED_* from linux/usb/ch9.h, as USBDEVFS_GET_SPEED returns them */
#define SPEED_FULL 2
#define SPEED_HIGH 3

struct tb_hub;
struct tb_client;

/* One enumeration of a USB device: a board in one stage, a hub, a root hub. */
struct tb_usbdev {
        tb_testbed *tb;
        tb_board *board;     /* NULL for hubs */
        struct tb_hub *hub;  /* non-NULL for hubs */
        unsigned generation; /* board->emu.generation when enumerated */
        unsigned busnum, devnum;
        char sysname[48];
        char devnode[48];    /* /dev/bus/usb/BBB/DDD */
        char *nodepath;      /* the node inside the testbed */
        char *syspath;       /* /sys/devices/... */
        char *if_syspath[TB_MAX_IF];
        GPtrArray *if_props[TB_MAX_IF];
        unsigned n_if;
        GPtrArray *props;    /* "KEY=value" of the device (uevent file + messages) */
        uint8_t desc[TB_DESC_MAX];
        size_t desc_len;
        bool high_speed;
        bool present;        /* in sysfs */
        bool gone;           /* disconnected: ioctls fail with ENODEV */
        int fifo_fd;         /* harness end of a FIFO node, -1 for TB_NODE_FILE */
        bool ready;          /* FIFO drained: POLLOUT for the program under test */
        GPtrArray *clients;  /* struct tb_client *, never freed before the testbed */
        GQueue ep_queue[TB_MAX_EP];
        bool halted[TB_MAX_EP];
        struct tb_client *claimed[TB_MAX_IF];
};

struct tb_hub {
        char port[32];       /* "usb1" for a root hub, else "1-1", "1-1.2" */
        unsigned busnum;
        bool root;
        unsigned nports;
        struct tb_hub *parent;
        unsigned parent_port;
        struct tb_usbdev *dev;
        bool port_power[TB_MAX_PORTS + 1];
};

struct tb_board {
        tb_testbed *tb;
        char port[32];
        unsigned busnum;
        struct tb_hub *hub;  /* parent (root hub or hub) */
        unsigned hub_port;
        struct emu_board emu;
        bool powered;
        struct tb_usbdev *dev; /* current enumeration; NULL off the bus */
        GSource *drop_src;
        GSource *reconnect_src;
        unsigned enumerations;
};

/* An open fd of a node in the program under test (one umockdev ioctl client). */
struct tb_client {
        tb_testbed *tb;
        struct tb_usbdev *dev;
        UMockdevIoctlClient *client; /* ref */
        GQueue completed;            /* struct tb_urb *, waiting to be reaped */
        UMockdevIoctlClient *blocked_reap; /* a blocking REAPURB waiting */
        size_t read_off;
        bool ioctl_since_read;
};

struct tb_urb {
        struct tb_client *c;
        UMockdevIoctlData *data; /* the resolved struct usbdevfs_urb (ref) */
        uint64_t uaddr;          /* its address in the client, as DISCARDURB names it */
        uint8_t type, ep;
        unsigned flags;
        uint8_t *buf;            /* resolved buffer (local copy, synced back on reap) */
        int len;
        int actual;
        bool started;
        bool done;
        int result;     /* status it completes with, once its bus time is over */
        GSource *timer; /* completion at the end of its bus time */
};

struct tb_stream {
        tb_child *child;
        int fd;
        GString *buf;
        char name[32];
        GSource *src;
};

struct tb_child {
        tb_testbed *tb;
        unsigned id;
        GPid pid;
        bool running;
        int status;
        GSource *watch;
        struct tb_stream out, err;
};

struct uevent_msg {
        char *path;
        GBytes *bytes;
};

struct tb_testbed {
        struct tb_options opt;
        GRecMutex lock;
        GMainContext *main_ctx;
        UMockdevTestbed *umock;
        UMockdevIoctlBase *handler;
        char *root;
        char *shim_path;

        GPtrArray *boards;  /* tb_board * */
        GPtrArray *hubs;    /* struct tb_hub * */
        GPtrArray *devs;    /* every struct tb_usbdev ever made */
        GHashTable *by_devnode; /* devnode -> current struct tb_usbdev */
        GHashTable *attached;   /* devnodes with an ioctl handler attached */
        unsigned next_devnum[128];
        bool devnum_used[128][128];

        tb_power_hook power_hook;
        void *power_hook_data;

        GPtrArray *log;     /* struct tb_log_line * */
        GPtrArray *children;
        unsigned next_child_id;

        GMainContext *worker_ctx; /* umockdev's ioctl thread */
        int64_t bus_busy_until[128];

        int uevent_fd;
        GQueue uevent_queue;
        GSource *uevent_retry;
        unsigned long long seqnum;

        struct tb_stats stats;
};

static void dev_remove(struct tb_usbdev *d);
static void dev_update_ready(struct tb_usbdev *d);
static struct tb_usbdev *dev_add_board(tb_board *b);
static void process_ep(struct tb_usbdev *d, unsigned idx);
static void drop_source(GSource **s);
static void handle_bus_action(tb_board *b, enum emu_verdict v, int64_t answered_at);

/* ------------------------------------------------------------------ */
/* small helpers */

static void die(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        fputs("testbed: ", stderr);
        vfprintf(stderr, format, ap);
        fputc('\n', stderr);
        va_end(ap);
        abort();
}

static void log_add(tb_testbed *tb, const char *source, const char *text) {
        struct tb_log_line *l = g_new0(struct tb_log_line, 1);
        l->t_usec = g_get_monotonic_time();
        l->source = g_strdup(source);
        l->text = g_strdup(text);
        g_rec_mutex_lock(&tb->lock);
        g_ptr_array_add(tb->log, l);
        g_rec_mutex_unlock(&tb->lock);
        if (tb->opt.echo)
                fprintf(stderr, "%12s| %s\n", source, text);
}

static void tb_event(tb_testbed *tb, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void tb_event(tb_testbed *tb, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        char *s = g_strdup_vprintf(format, ap);
        va_end(ap);
        char *line = g_strconcat("tb: ", s, NULL);
        log_add(tb, "tb", line);
        g_free(line);
        g_free(s);
}

void tb_log(tb_testbed *tb, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        char *s = g_strdup_vprintf(format, ap);
        va_end(ap);
        log_add(tb, "test", s);
        g_free(s);
}

static void free_log_line(gpointer p) {
        struct tb_log_line *l = p;
        g_free((char *) l->source);
        g_free((char *) l->text);
        g_free(l);
}

static void wake(tb_testbed *tb) {
        g_main_context_wakeup(tb->main_ctx);
}

static unsigned ep_index(uint8_t ep) {
        return (ep & 0x0fu) | ((ep & 0x80u) ? 16u : 0u);
}

static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static GSource *attach_timeout(tb_testbed *tb, int ms, GSourceFunc fn, void *data) {
        GSource *s = ms > 0 ? g_timeout_source_new((guint) ms) : g_idle_source_new();
        g_source_set_callback(s, fn, data, NULL);
        g_source_attach(s, tb->main_ctx);
        return s;
}

static void drop_source(GSource **s) {
        if (*s) {
                g_source_destroy(*s);
                g_source_unref(*s);
                *s = NULL;
        }
}

/* ------------------------------------------------------------------ */
/* descriptors */

/* Walks the configuration: calls fn for each interface (alt 0) and endpoint. */
struct desc_walk {
        unsigned n_if;
        uint8_t if_number[TB_MAX_IF];
        uint8_t if_class[TB_MAX_IF][3];
        uint8_t if_n_ep[TB_MAX_IF];
        uint8_t ep_addr[TB_MAX_EP];
        uint8_t ep_if[TB_MAX_EP];
        unsigned n_ep;
};

static void desc_parse(const uint8_t *desc, size_t len, struct desc_walk *w) {
        memset(w, 0, sizeof *w);
        size_t at = 18;
        int cur_if = -1;
        while (at + 2 <= len && desc[at] >= 2 && at + desc[at] <= len) {
                const uint8_t *d = desc + at;
                if (d[1] == 4 && d[0] >= 9) {
                        cur_if = -1;
                        if (d[3] == 0 && w->n_if < TB_MAX_IF) {
                                cur_if = (int) w->n_if++;
                                w->if_number[cur_if] = d[2];
                                w->if_n_ep[cur_if] = d[4];
                                w->if_class[cur_if][0] = d[5];
                                w->if_class[cur_if][1] = d[6];
                                w->if_class[cur_if][2] = d[7];
                        }
                } else if (d[1] == 5 && d[0] >= 7 && cur_if >= 0 && w->n_ep < TB_MAX_EP) {
                        w->ep_addr[w->n_ep] = d[2];
                        w->ep_if[w->n_ep] = w->if_number[cur_if];
                        w->n_ep++;
                }
                at += d[0];
        }
}

static bool dev_has_endpoint(struct tb_usbdev *d, uint8_t ep) {
        struct desc_walk w;
        if ((ep & 0x0f) == 0)
                return true;
        desc_parse(d->desc, d->desc_len, &w);
        for (unsigned i = 0; i < w.n_ep; i++)
                if (w.ep_addr[i] == ep)
                        return true;
        return false;
}

static bool dev_has_interface(struct tb_usbdev *d, unsigned ifno) {
        struct desc_walk w;
        desc_parse(d->desc, d->desc_len, &w);
        for (unsigned i = 0; i < w.n_if; i++)
                if (w.if_number[i] == ifno)
                        return true;
        return false;
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

static size_t dev_string_descriptor(struct tb_usbdev *d, uint8_t index, uint8_t *buf, size_t size) {
        if (d->board)
                return emu_board_string_descriptor(&d->board->emu, index, buf, size);
        if (index == 0) {
                if (size < 4)
                        return 0;
                buf[0] = 4, buf[1] = 3, buf[2] = 0x09, buf[3] = 0x04;
                return 4;
        }
        if (index == 1)
                return emu_string_descriptor(d->hub->root ? "Linux 6.1.0 dummy_hcd" : "VIA Labs, Inc.", buf, size);
        if (index == 2)
                return emu_string_descriptor(d->hub->root ? "Dummy host controller" : "USB2.0 Hub", buf, size);
        return 0;
}

/* The string as a C string (for sysfs attributes), "" if none. */
static void dev_string(struct tb_usbdev *d, uint8_t index, char *out, size_t size) {
        uint8_t buf[256];
        size_t n = index ? dev_string_descriptor(d, index, buf, sizeof buf) : 0;
        size_t j = 0;
        for (size_t i = 2; i + 1 < n && j + 1 < size; i += 2)
                out[j++] = (char) buf[i];
        out[j] = '\0';
}

/* ------------------------------------------------------------------ */
/* uevents: sent by the harness itself, in libudev's wire format, to every
 * listener the preload made ($UMOCKDEV_DIR/eventN). umockdev's own sender
 * reads the device with libudev, which in a process without the preload sees
 * the real /sys, and aborts when a listener's queue (10 datagrams) is full;
 * this one carries every property (as udevd would) and waits for room. */

#define UDEV_MONITOR_MAGIC 0xfeedcafeu
struct udev_nlh {
        char prefix[8];
        uint32_t magic;
        uint32_t header_size;
        uint32_t properties_off;
        uint32_t properties_len;
        uint32_t filter_subsystem_hash;
        uint32_t filter_devtype_hash;
        uint32_t filter_tag_bloom_hi;
        uint32_t filter_tag_bloom_lo;
};

/* MurmurHash2 with seed 0, as libudev's socket filter computes it. */
static uint32_t murmur2(const char *str) {
        const uint32_t m = 0x5bd1e995;
        size_t len = strlen(str);
        uint32_t h = (uint32_t) len;
        const unsigned char *data = (const unsigned char *) str;

        while (len >= 4) {
                uint32_t k;
                memcpy(&k, data, 4);
                k *= m;
                k ^= k >> 24;
                k *= m;
                h *= m;
                h ^= k;
                data += 4;
                len -= 4;
        }
        if (len == 3)
                h ^= (uint32_t) data[2] << 16;
        if (len >= 2)
                h ^= (uint32_t) data[1] << 8;
        if (len >= 1) {
                h ^= data[0];
                h *= m;
        }
        h ^= h >> 13;
        h *= m;
        h ^= h >> 15;
        return h;
}

static gboolean uevent_retry_cb(gpointer data);

static void uevent_flush(tb_testbed *tb) {
        struct uevent_msg *m;

        while ((m = g_queue_peek_head(&tb->uevent_queue))) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                gsize len;
                const void *p = g_bytes_get_data(m->bytes, &len);

                g_strlcpy(sa.sun_path, m->path, sizeof sa.sun_path);
                ssize_t r = sendto(tb->uevent_fd, p, len, MSG_DONTWAIT, (struct sockaddr *) &sa, sizeof sa);
                if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
                        tb->stats.uevent_retries++;
                        if (!tb->uevent_retry)
                                tb->uevent_retry = attach_timeout(tb, 1, uevent_retry_cb, tb);
                        return;
                }
                if (r < 0 && errno == ECONNREFUSED)
                        unlink(m->path); /* its monitor was closed */
                else if (r < 0 && errno != ENOENT)
                        tb_event(tb, "uevent to %s failed: %s", m->path, g_strerror(errno));
                else if (r >= 0) {
                        tb->stats.uevents++;
                        if (getenv("TB_TRACE_UEVENTS"))
                                tb_event(tb, "uevent sent to %s", m->path);
                }
                g_queue_pop_head(&tb->uevent_queue);
                g_free(m->path);
                g_bytes_unref(m->bytes);
                g_free(m);
        }
}

static gboolean uevent_retry_cb(gpointer data) {
        tb_testbed *tb = data;
        g_rec_mutex_lock(&tb->lock);
        g_source_unref(tb->uevent_retry);
        tb->uevent_retry = NULL;
        uevent_flush(tb);
        g_rec_mutex_unlock(&tb->lock);
        return G_SOURCE_REMOVE;
}

static void send_uevent(tb_testbed *tb, const char *syspath, const char *action, GPtrArray *props,
                        const char *extra) {
        GByteArray *body = g_byte_array_new();
        const char *devtype = NULL;
        char seq[64];

#define PUT(s) g_byte_array_append(body, (const guint8 *) (s), (guint) strlen(s) + 1)
        char *a = g_strconcat("ACTION=", action, NULL);
        char *dp = g_strconcat("DEVPATH=", syspath + strlen("/sys"), NULL);
        snprintf(seq, sizeof seq, "SEQNUM=%llu", ++tb->seqnum);
        PUT(a);
        PUT(dp);
        PUT("SUBSYSTEM=usb");
        PUT(seq);
        for (guint i = 0; i < props->len; i++) {
                const char *p = g_ptr_array_index(props, i);
                if (g_str_has_prefix(p, "DEVTYPE="))
                        devtype = p + strlen("DEVTYPE=");
                PUT(p);
        }
        if (extra)
                PUT(extra);
#undef PUT
        g_free(a);
        g_free(dp);

        struct udev_nlh nlh = { .prefix = "libudev" };
        nlh.magic = htonl(UDEV_MONITOR_MAGIC);
        nlh.header_size = sizeof nlh;
        nlh.properties_off = sizeof nlh;
        nlh.properties_len = body->len;
        nlh.filter_subsystem_hash = htonl(murmur2("usb"));
        if (devtype)
                nlh.filter_devtype_hash = htonl(murmur2(devtype));

        GByteArray *msg = g_byte_array_sized_new((guint) sizeof nlh + body->len);
        g_byte_array_append(msg, (const guint8 *) &nlh, sizeof nlh);
        g_byte_array_append(msg, body->data, body->len);
        g_byte_array_unref(body);
        GBytes *bytes = g_byte_array_free_to_bytes(msg);

        char *pattern = g_strconcat(tb->root, "/event[0-9]*", NULL);
        glob_t gl;
        if (glob(pattern, 0, NULL, &gl) == 0) {
                for (size_t i = 0; i < gl.gl_pathc; i++) {
                        struct uevent_msg *m = g_new0(struct uevent_msg, 1);
                        m->path = g_strdup(gl.gl_pathv[i]);
                        m->bytes = g_bytes_ref(bytes);
                        g_queue_push_tail(&tb->uevent_queue, m);
                }
                globfree(&gl);
        }
        g_free(pattern);
        g_bytes_unref(bytes);
        uevent_flush(tb);
}

bool tb_wait_uevent_listener(tb_testbed *tb, int timeout_ms) {
        int64_t end = g_get_monotonic_time() + (int64_t) timeout_ms * 1000;
        char *pattern = g_strconcat(tb->root, "/event[0-9]*", NULL);
        bool found = false;

        for (;;) {
                glob_t gl;
                if (glob(pattern, 0, NULL, &gl) == 0) {
                        globfree(&gl);
                        found = true;
                        break;
                }
                if (g_get_monotonic_time() >= end)
                        break;
                tb_run_for(tb, 2);
        }
        g_free(pattern);
        return found;
}

/* ------------------------------------------------------------------ */
/* device nodes: FIFO readiness */

static void fifo_fill(int fd) {
        static const char page[4096];
        while (write(fd, page, sizeof page) > 0)
                ;
}

static void dev_update_ready(struct tb_usbdev *d) {
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

static void urb_free(struct tb_urb *u) {
        drop_source(&u->timer);
        if (u->data)
                g_object_unref(u->data);
        g_free(u);
}

/* Hands a completed URB to a REAPURB(NDELAY) in progress, and completes that ioctl. */
static void deliver_reap(struct tb_client *c, UMockdevIoctlClient *client, struct tb_urb *u) {
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

static void complete_urb(struct tb_urb *u, int status, int actual) {
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
static void cancel_continuations(struct tb_usbdev *d, struct tb_urb *after) {
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

/* ---- control requests ---- */

static enum emu_verdict hub_class_request(struct tb_usbdev *d, uint8_t rt, uint8_t req, uint16_t value,
                                          uint16_t index, uint8_t *data, size_t len, size_t *actual);

static enum emu_verdict standard_request(struct tb_usbdev *d, uint8_t rt, uint8_t req, uint16_t value,
                                         uint16_t index, uint8_t *data, size_t len, size_t *actual) {
        *actual = 0;
        if (rt == 0x80 && req == 6) { /* GET_DESCRIPTOR */
                uint8_t type = (uint8_t) (value >> 8), idx = (uint8_t) value;
                if (type == 1) {
                        *actual = MIN(len, (size_t) 18);
                        memcpy(data, d->desc, *actual);
                        return EMU_ACK;
                }
                if (type == 2 && idx == 0 && d->desc_len > 18) {
                        *actual = MIN(len, d->desc_len - 18);
                        memcpy(data, d->desc + 18, *actual);
                        return EMU_ACK;
                }
                if (type == 3) {
                        uint8_t s[256];
                        size_t n = dev_string_descriptor(d, idx, s, sizeof s);
                        if (n == 0)
                                return EMU_STALL;
                        *actual = MIN(len, n);
                        memcpy(data, s, *actual);
                        return EMU_ACK;
                }
                return EMU_STALL; /* qualifier, BOS, other speed: a USB 2.0 device without them */
        }
        if (rt == 0x80 && req == 8) { /* GET_CONFIGURATION */
                if (len >= 1)
                        data[0] = 1, *actual = 1;
                return EMU_ACK;
        }
        if ((rt & 0x80) && req == 0) { /* GET_STATUS */
                *actual = MIN(len, (size_t) 2);
                memset(data, 0, *actual);
                return EMU_ACK;
        }
        if (rt == 0x00 && req == 9) /* SET_CONFIGURATION */
                return value <= 1 ? EMU_ACK : EMU_STALL;
        if (rt == 0x01 && req == 11) /* SET_INTERFACE */
                return value == 0 ? EMU_ACK : EMU_STALL;
        if (rt == 0x02 && req == 1 && value == 0) { /* CLEAR_FEATURE(ENDPOINT_HALT) */
                d->halted[ep_index((uint8_t) index)] = false;
                return EMU_ACK;
        }
        if (rt == 0x00 && (req == 1 || req == 3)) /* device SET/CLEAR_FEATURE */
                return EMU_ACK;
        return EMU_STALL;
}

static enum emu_verdict control_request(struct tb_usbdev *d, const uint8_t setup[8], uint8_t *data, size_t len,
                                        size_t *actual) {
        uint8_t rt = setup[0], req = setup[1];
        uint16_t value = le16(setup + 2), index = le16(setup + 4), wlength = le16(setup + 6);
        size_t n = MIN(len, (size_t) wlength);

        *actual = 0;
        if ((rt & 0x60) == 0x20) { /* class */
                if (d->hub)
                        return hub_class_request(d, rt, req, value, index, data, n, actual);
                return EMU_STALL;
        }
        if ((rt & 0x60) == 0x40 && d->board) { /* vendor: the boot protocol */
                if (rt == 0x40)
                        return emu_board_control_out(&d->board->emu, value, index);
                if (rt == 0xc0)
                        return emu_board_control_in(&d->board->emu, value, index, data, n, actual);
                return EMU_STALL;
        }
        if ((rt & 0x60) == 0x00)
                return standard_request(d, rt, req, value, index, data, n, actual);
        return EMU_STALL;
}

/* The board a device's operations reach, NULL if the device is not (any more) on the bus. */
static tb_board *dev_live_board(struct tb_usbdev *d) {
        if (!d->board || d->gone || d->board->dev != d)
                return NULL;
        return d->board;
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

static gboolean urb_timer_cb(gpointer data) {
        struct tb_urb *u = data;
        tb_testbed *tb = u->c->tb;

        g_rec_mutex_lock(&tb->lock);
        g_source_unref(u->timer);
        u->timer = NULL;
        if (!u->done)
                finish_urb(u);
        g_rec_mutex_unlock(&tb->lock);
        return G_SOURCE_REMOVE;
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

        u->timer = g_source_new(&ready_time_funcs, sizeof(GSource));
        g_source_set_callback(u->timer, urb_timer_cb, u, NULL);
        g_source_set_ready_time(u->timer, end);
        g_source_attach(u->timer, tb->worker_ctx ? tb->worker_ctx : g_main_context_get_thread_default());
        return end;
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
        case EMU_NO_ANSWER:
                tb->stats.urbs_timed_out++;
                return false; /* until DISCARDURB */
        case EMU_GONE:
        default:
                return false; /* until the device is removed: -ESHUTDOWN */
        }
}

static void process_ep(struct tb_usbdev *d, unsigned idx) {
        struct tb_urb *u;
        while ((u = g_queue_peek_head(&d->ep_queue[idx])) && !u->started)
                if (!run_urb(d, u))
                        break;
}

/* ------------------------------------------------------------------ */
/* bus actions: drop off, come back */

static gboolean reconnect_cb(gpointer data) {
        tb_board *b = data;
        tb_testbed *tb = b->tb;

        g_rec_mutex_lock(&tb->lock);
        g_source_unref(b->reconnect_src);
        b->reconnect_src = NULL;
        if (b->powered && !b->dev) {
                emu_board_reconnect(&b->emu);
                if (b->emu.stage != EMU_STAGE_OFF)
                        dev_add_board(b);
        }
        g_rec_mutex_unlock(&tb->lock);
        wake(tb);
        return G_SOURCE_REMOVE;
}

static gboolean drop_cb(gpointer data) {
        tb_board *b = data;
        tb_testbed *tb = b->tb;

        g_rec_mutex_lock(&tb->lock);
        g_source_unref(b->drop_src);
        b->drop_src = NULL;
        if (b->dev) {
                dev_remove(b->dev);
                b->dev = NULL;
        }
        if (b->powered && b->emu.next_stage != EMU_STAGE_OFF && !b->reconnect_src) {
                int ms = tb->opt.reconnect_delay_ms;
                b->reconnect_src = attach_timeout(tb, ms < 0 ? 0 : ms, reconnect_cb, b);
        }
        g_rec_mutex_unlock(&tb->lock);
        wake(tb);
        return G_SOURCE_REMOVE;
}

/* After a board operation (lock held, any thread). answered_at: when the host gets the
 * answer of that operation (its URB's completion), 0 if at once. */
static void handle_bus_action(tb_board *b, enum emu_verdict v, int64_t answered_at) {
        tb_testbed *tb = b->tb;
        enum emu_bus_action a = emu_board_take_bus_action(&b->emu);

        if (a == EMU_BUS_NONE || b->drop_src)
                return;
        if (a == EMU_BUS_DISCONNECT_FOREVER)
                b->emu.next_stage = EMU_STAGE_OFF;
        /* A board that vanished mid-operation is gone now; one that answered and then
         * restarts (loader running, kernel booting) leaves a little after the host
         * got that answer, never before. */
        int ms = 0;
        if (v == EMU_ACK) {
                int64_t wait_us = answered_at - g_get_monotonic_time();
                ms = (tb->opt.drop_delay_ms < 0 ? 0 : tb->opt.drop_delay_ms) + (wait_us > 0 ? (int) (wait_us / 1000) + 1 : 0);
        }
        b->drop_src = attach_timeout(tb, ms, drop_cb, b);
}

/* ------------------------------------------------------------------ */
/* the ioctl handler (umockdev's worker thread) */

static struct tb_client *client_of(UMockdevIoctlClient *client) {
        return g_object_get_data(G_OBJECT(client), "tb-client");
}

static void on_client_connected(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, gpointer data) {
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

/* Kills the URBs of a client (or of all clients if c is NULL) with status. */
static void kill_urbs(struct tb_usbdev *d, struct tb_client *c, int status, bool ep0_too) {
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

static gboolean on_handle_ioctl(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, gpointer data) {
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
        } else if (req == USBDEVFS_CLEAR_HALT || req == USBDEVFS_RESETEP) {
                unsigned *ep = resolve_arg(client, sizeof(unsigned), &ad);
                if (!ep)
                        res = -1, err = EFAULT;
                else if (!dev_has_endpoint(d, (uint8_t) *ep))
                        res = -1, err = ENOENT;
                else
                        d->halted[ep_index((uint8_t) *ep)] = false;
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
static gboolean on_handle_read(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, gpointer data) {
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

static gboolean on_handle_write(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, gpointer data) {
        umockdev_ioctl_client_complete(client, -1, EINVAL);
        return TRUE;
}

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

static void set_power(tb_board *b, bool on, bool by_hub);

static gboolean power_request_cb(gpointer data) {
        struct power_request *pr = data;
        set_power(pr->board, pr->on, true);
        g_free(pr);
        return G_SOURCE_REMOVE;
}

static enum emu_verdict hub_class_request(struct tb_usbdev *d, uint8_t rt, uint8_t req, uint16_t value,
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

/* ------------------------------------------------------------------ */
/* adding and removing devices (main thread, lock held) */

static unsigned alloc_devnum(tb_testbed *tb, unsigned bus, bool root) {
        if (root) {
                tb->devnum_used[bus][1] = true;
                return 1;
        }
        for (unsigned i = 0; i < 126; i++) {
                unsigned n = tb->next_devnum[bus] + i;
                n = (n - 2) % 126 + 2;
                if (!tb->devnum_used[bus][n]) {
                        tb->devnum_used[bus][n] = true;
                        tb->next_devnum[bus] = n + 1;
                        return n;
                }
        }
        die("bus %u: out of device numbers", bus);
}

static void prop(GPtrArray *props, const char *key, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void prop(GPtrArray *props, const char *key, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        char *v = g_strdup_vprintf(format, ap);
        va_end(ap);
        g_ptr_array_add(props, g_strconcat(key, "=", v, NULL));
        g_free(v);
}

/* udev's ID_* encoding of a string: spaces to '_'. */
static char *udev_id(const char *s) {
        char *r = g_strdup(s);
        for (char *p = r; *p; p++)
                if (*p == ' ' || *p == '/')
                        *p = '_';
        return r;
}

static void split_props(GPtrArray *props, GPtrArray *out) {
        for (guint i = 0; i < props->len; i++) {
                const char *p = g_ptr_array_index(props, i);
                const char *eq = strchr(p, '=');
                g_ptr_array_add(out, g_strndup(p, (gsize) (eq - p)));
                g_ptr_array_add(out, g_strdup(eq + 1));
        }
        g_ptr_array_add(out, NULL);
}

static void attach_handler(tb_testbed *tb, const char *devnode) {
        GError *error = NULL;
        if (g_hash_table_contains(tb->attached, devnode)) {
                /* a device number used again after a wrap: new listener */
                umockdev_testbed_detach_ioctl(tb->umock, devnode, NULL);
                g_hash_table_remove(tb->attached, devnode);
        }
        if (!umockdev_testbed_attach_ioctl(tb->umock, devnode, tb->handler, &error))
                die("attach_ioctl %s: %s", devnode, error->message);
        g_hash_table_add(tb->attached, g_strdup(devnode));
}

/* umockdev_testbed_add_devicev() checks that a parent exists with a plain stat(), which
 * sees the real /sys unless this process runs under the preload. Giving no parent and
 * the path below /sys/devices as the name builds the same tree without that check. */
static char *add_devicev(tb_testbed *tb, const char *name, const char *parent_syspath, GPtrArray *attrs,
                         GPtrArray *props) {
        const char *prefix = "/sys/devices/";
        char *rel = parent_syspath ? g_strconcat(parent_syspath + strlen(prefix), "/", name, NULL) : g_strdup(name);
        if (parent_syspath && !g_str_has_prefix(parent_syspath, prefix))
                die("parent %s is not below %s", parent_syspath, prefix);
        char *sp = umockdev_testbed_add_devicev(tb->umock, "usb", rel, NULL, (gchar **) attrs->pdata,
                                                (gchar **) props->pdata);
        g_free(rel);
        return sp;
}

/* Adds d (desc, sysname, parent, board/hub filled in) to sysfs and /dev, sends "add". */
static void dev_publish(struct tb_usbdev *d, const char *parent_syspath, bool root) {
        tb_testbed *tb = d->tb;
        const uint8_t *dd = d->desc;
        uint16_t vid = le16(dd + 8), pid = le16(dd + 10), bcd = le16(dd + 12);
        char manufacturer[128], product[128], serial[128];
        struct desc_walk w;
        char minor[16], tmp[256];

        desc_parse(d->desc, d->desc_len, &w);
        d->devnum = alloc_devnum(tb, d->busnum, root);
        snprintf(d->devnode, sizeof d->devnode, "/dev/bus/usb/%03u/%03u", d->busnum, d->devnum);
        dev_string(d, dd[14], manufacturer, sizeof manufacturer);
        dev_string(d, dd[15], product, sizeof product);
        dev_string(d, dd[16], serial, sizeof serial);
        snprintf(minor, sizeof minor, "%u", (d->busnum - 1) * 128 + (d->devnum - 1));

        /* the node, and its handler, before the device exists */
        attach_handler(tb, d->devnode);
        d->nodepath = g_strconcat(tb->root, d->devnode, NULL);
        char *dir = g_path_get_dirname(d->nodepath);
        g_mkdir_with_parents(dir, 0755);
        g_free(dir);
        unlink(d->nodepath);
        if (tb->opt.node_kind == TB_NODE_FIFO) {
                if (mkfifo(d->nodepath, 0666) < 0)
                        die("mkfifo %s: %s", d->nodepath, g_strerror(errno));
                d->fifo_fd = open(d->nodepath, O_RDWR | O_NONBLOCK | O_CLOEXEC);
                if (d->fifo_fd < 0)
                        die("open %s: %s", d->nodepath, g_strerror(errno));
                (void) fcntl(d->fifo_fd, F_SETPIPE_SZ, 4096);
                fifo_fill(d->fifo_fd);
        } else {
                d->fifo_fd = -1;
                if (!g_file_set_contents(d->nodepath, (const char *) d->desc, (gssize) d->desc_len, NULL))
                        die("cannot write %s", d->nodepath);
        }
        d->ready = false;

        /* properties: the kernel's and what udev's builtins would add */
        const char *devpath = strchr(d->sysname, '-') ? strchr(d->sysname, '-') + 1 : "0";
        char *idv = udev_id(manufacturer), *idm = udev_id(product), *ids = udev_id(serial);
        char *path_tag;
        d->props = g_ptr_array_new_with_free_func(g_free);
        prop(d->props, "DEVNAME", "%s", d->devnode);
        prop(d->props, "DEVTYPE", "usb_device");
        prop(d->props, "DRIVER", "usb");
        prop(d->props, "PRODUCT", "%x/%x/%x", vid, pid, bcd);
        prop(d->props, "TYPE", "%u/%u/%u", dd[4], dd[5], dd[6]);
        prop(d->props, "BUSNUM", "%03u", d->busnum);
        prop(d->props, "DEVNUM", "%03u", d->devnum);
        prop(d->props, "MAJOR", "%d", TB_USB_MAJOR);
        prop(d->props, "MINOR", "%s", minor);
        prop(d->props, "ID_BUS", "usb");
        prop(d->props, "ID_VENDOR_ID", "%04x", vid);
        prop(d->props, "ID_MODEL_ID", "%04x", pid);
        prop(d->props, "ID_REVISION", "%04x", bcd);
        prop(d->props, "ID_VENDOR", "%s", idv);
        prop(d->props, "ID_MODEL", "%s", idm);
        if (serial[0]) {
                prop(d->props, "ID_SERIAL", "%s_%s_%s", idv, idm, ids);
                prop(d->props, "ID_SERIAL_SHORT", "%s", ids);
        } else {
                prop(d->props, "ID_SERIAL", "%s_%s", idv, idm);
        }
        GString *ifs = g_string_new(":");
        for (unsigned i = 0; i < w.n_if; i++)
                g_string_append_printf(ifs, "%02x%02x%02x:", w.if_class[i][0], w.if_class[i][1], w.if_class[i][2]);
        prop(d->props, "ID_USB_INTERFACES", "%s", ifs->str);
        g_string_free(ifs, TRUE);
        prop(d->props, "ID_PATH", "platform-dummy_hcd.%u-usb-0:%s", d->busnum - 1, devpath);
        path_tag = udev_id((const char *) g_ptr_array_index(d->props, d->props->len - 1) + strlen("ID_PATH="));
        for (char *p = path_tag; *p; p++)
                if (*p == '.' || *p == ':' || *p == '-')
                        *p = '_';
        prop(d->props, "ID_PATH_TAG", "%s", path_tag);
        prop(d->props, "USEC_INITIALIZED", "%" PRId64, g_get_monotonic_time());
        g_free(path_tag);
        g_free(idv);
        g_free(idm);
        g_free(ids);

        GPtrArray *attrs = g_ptr_array_new_with_free_func(g_free);
#define ATTR(k, ...)                                                    \
        do {                                                            \
                g_ptr_array_add(attrs, g_strdup(k));                    \
                g_ptr_array_add(attrs, g_strdup_printf(__VA_ARGS__));   \
        } while (0)
        ATTR("busnum", "%u", d->busnum);
        ATTR("devnum", "%u", d->devnum);
        ATTR("devpath", "%s", devpath);
        ATTR("dev", "%d:%s", TB_USB_MAJOR, minor);
        ATTR("idVendor", "%04x", vid);
        ATTR("idProduct", "%04x", pid);
        ATTR("bcdDevice", "%04x", bcd);
        ATTR("bDeviceClass", "%02x", dd[4]);
        ATTR("bDeviceSubClass", "%02x", dd[5]);
        ATTR("bDeviceProtocol", "%02x", dd[6]);
        ATTR("bMaxPacketSize0", "%u", dd[7]);
        ATTR("bNumConfigurations", "%u", dd[17]);
        ATTR("bConfigurationValue", "1");
        ATTR("bNumInterfaces", "%2u", w.n_if);
        ATTR("bmAttributes", "%02x", d->desc_len > 25 ? d->desc[25] : 0x80);
        ATTR("bMaxPower", "%umA", d->desc_len > 26 ? d->desc[26] * 2u : 0u);
        ATTR("speed", "%s", d->high_speed ? "480" : "12");
        ATTR("version", " 2.00");
        ATTR("maxchild", "%u", d->hub ? d->hub->nports : 0);
        ATTR("authorized", "1");
        ATTR("avoid_reset_quirk", "0");
        ATTR("quirks", "0x0");
        ATTR("removable", "%s", d->board ? "removable" : "unknown");
        ATTR("configuration", "%s", "");
        ATTR("ltm_capable", "no");
        ATTR("urbnum", "0");
        ATTR("rx_lanes", "1");
        ATTR("tx_lanes", "1");
        if (manufacturer[0])
                ATTR("manufacturer", "%s", manufacturer);
        if (product[0])
                ATTR("product", "%s", product);
        if (serial[0])
                ATTR("serial", "%s", serial);
        g_ptr_array_add(attrs, NULL);

        GPtrArray *pv = g_ptr_array_new_with_free_func(g_free);
        split_props(d->props, pv);
        char *sp = add_devicev(tb, d->sysname, parent_syspath, attrs, pv);
        g_ptr_array_unref(attrs);
        g_ptr_array_unref(pv);
        if (!sp)
                die("add_device %s failed", d->sysname);
        d->syspath = sp;
        umockdev_testbed_set_attribute_binary(tb->umock, sp, "descriptors", d->desc, (gint) d->desc_len);
        g_hash_table_replace(tb->by_devnode, g_strdup(d->devnode), d);
        d->present = true;
        tb->stats.enumerations++;

        /* the interfaces (the kernel adds them once the device is configured) */
        d->n_if = 0;
        if (!tb->opt.no_interfaces)
                for (unsigned i = 0; i < w.n_if && i < TB_MAX_IF; i++) {
                        char name[64];
                        GPtrArray *ip = g_ptr_array_new_with_free_func(g_free);
                        snprintf(name, sizeof name, "%s:1.%u", d->sysname, w.if_number[i]);
                        prop(ip, "DEVTYPE", "usb_interface");
                        prop(ip, "PRODUCT", "%x/%x/%x", vid, pid, bcd);
                        prop(ip, "TYPE", "%u/%u/%u", dd[4], dd[5], dd[6]);
                        prop(ip, "INTERFACE", "%u/%u/%u", w.if_class[i][0], w.if_class[i][1], w.if_class[i][2]);
                        prop(ip, "MODALIAS", "usb:v%04Xp%04Xd%04Xdc%02Xdsc%02Xdp%02Xic%02Xisc%02Xip%02Xin%02X", vid,
                             pid, bcd, dd[4], dd[5], dd[6], w.if_class[i][0], w.if_class[i][1], w.if_class[i][2],
                             w.if_number[i]);
                        GPtrArray *ia = g_ptr_array_new_with_free_func(g_free);
                        g_ptr_array_add(ia, g_strdup("bInterfaceNumber"));
                        g_ptr_array_add(ia, g_strdup_printf("%02x", w.if_number[i]));
                        g_ptr_array_add(ia, g_strdup("bAlternateSetting"));
                        g_ptr_array_add(ia, g_strdup(" 0"));
                        g_ptr_array_add(ia, g_strdup("bNumEndpoints"));
                        g_ptr_array_add(ia, g_strdup_printf("%02x", w.if_n_ep[i]));
                        g_ptr_array_add(ia, g_strdup("bInterfaceClass"));
                        g_ptr_array_add(ia, g_strdup_printf("%02x", w.if_class[i][0]));
                        g_ptr_array_add(ia, g_strdup("bInterfaceSubClass"));
                        g_ptr_array_add(ia, g_strdup_printf("%02x", w.if_class[i][1]));
                        g_ptr_array_add(ia, g_strdup("bInterfaceProtocol"));
                        g_ptr_array_add(ia, g_strdup_printf("%02x", w.if_class[i][2]));
                        g_ptr_array_add(ia, g_strdup("authorized"));
                        g_ptr_array_add(ia, g_strdup("1"));
                        g_ptr_array_add(ia, NULL);
                        GPtrArray *ipv = g_ptr_array_new_with_free_func(g_free);
                        split_props(ip, ipv);
                        char *isp = add_devicev(tb, name, sp, ia, ipv);
                        g_ptr_array_unref(ia);
                        g_ptr_array_unref(ipv);
                        if (!isp)
                                die("add_device %s failed", name);
                        d->if_syspath[d->n_if] = isp;
                        d->if_props[d->n_if] = ip;
                        d->n_if++;
                }

        snprintf(tmp, sizeof tmp, "add %s %04x:%04x %s%s", d->sysname, vid, pid, d->devnode,
                 d->board ? "" : " (hub)");
        tb_event(tb, "%s%s%s", tmp, d->board ? " stage " : "", d->board ? emu_stage_name(d->board->emu.stage) : "");

        /* uevents in the kernel's order: the device, its interfaces, the device's driver bind */
        send_uevent(tb, d->syspath, "add", d->props, NULL);
        for (unsigned i = 0; i < d->n_if; i++)
                send_uevent(tb, d->if_syspath[i], "add", d->if_props[i], NULL);
        if (!tb->opt.no_bind_events)
                send_uevent(tb, d->syspath, "bind", d->props, NULL);
}

static struct tb_usbdev *dev_new(tb_testbed *tb, unsigned busnum, const char *sysname) {
        struct tb_usbdev *d = g_new0(struct tb_usbdev, 1);
        d->tb = tb;
        d->busnum = busnum;
        d->fifo_fd = -1;
        g_strlcpy(d->sysname, sysname, sizeof d->sysname);
        d->clients = g_ptr_array_new();
        for (unsigned i = 0; i < TB_MAX_EP; i++)
                g_queue_init(&d->ep_queue[i]);
        g_ptr_array_add(tb->devs, d);
        return d;
}

static struct tb_usbdev *dev_add_board(tb_board *b) {
        tb_testbed *tb = b->tb;
        struct tb_usbdev *d = dev_new(tb, b->busnum, b->port);

        d->board = b;
        d->generation = b->emu.generation;
        d->desc_len = emu_board_descriptors(&b->emu, d->desc, sizeof d->desc);
        if (d->desc_len > sizeof d->desc)
                die("descriptors of %s too long", b->port);
        d->high_speed = emu_board_high_speed(&b->emu);
        b->dev = d;
        b->enumerations++;
        dev_publish(d, b->hub->dev->syspath, false);
        return d;
}

/* Disconnect: URBs in flight end with -ESHUTDOWN, later ioctls with ENODEV; the
 * device leaves sysfs and /dev ("remove" uevents, interfaces first). */
static void dev_remove(struct tb_usbdev *d) {
        tb_testbed *tb = d->tb;

        if (!d->present)
                return;
        d->gone = true;
        kill_urbs(d, NULL, -ESHUTDOWN, true);
        for (guint i = 0; i < d->clients->len; i++) {
                struct tb_client *c = g_ptr_array_index(d->clients, i);
                if (c->blocked_reap) {
                        UMockdevIoctlClient *client = c->blocked_reap;
                        c->blocked_reap = NULL;
                        umockdev_ioctl_client_complete(client, -1, ENODEV);
                }
        }
        for (unsigned i = d->n_if; i-- > 0;) {
                umockdev_testbed_remove_device(tb->umock, d->if_syspath[i]);
                send_uevent(tb, d->if_syspath[i], "remove", d->if_props[i], NULL);
        }
        umockdev_testbed_remove_device(tb->umock, d->syspath);
        unlink(d->nodepath);
        g_hash_table_remove(tb->by_devnode, d->devnode);
        tb->devnum_used[d->busnum][d->devnum] = false;
        d->present = false;
        tb->stats.removals++;
        tb_event(tb, "remove %s %s", d->sysname, d->devnode);
        if (!tb->opt.no_bind_events)
                send_uevent(tb, d->syspath, "unbind", d->props, NULL);
        send_uevent(tb, d->syspath, "remove", d->props, NULL);
        dev_update_ready(d);
}

static struct tb_hub *get_hub(tb_testbed *tb, unsigned busnum, const char *port) {
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

/* ------------------------------------------------------------------ */
/* public: testbed */

static char *find_shim(void) {
        const char *env = getenv("TB_USBFS_SHIM");
        if (env && *env)
                return g_strdup(env);
#ifdef TB_SHIM_PATH
        if (g_file_test(TB_SHIM_PATH, G_FILE_TEST_EXISTS))
                return g_strdup(TB_SHIM_PATH);
#endif
        char *exe = g_file_read_link("/proc/self/exe", NULL);
        if (exe) {
                char *dir = g_path_get_dirname(exe);
                char *p = g_build_filename(dir, "libtb-usbfs-shim.so", NULL);
                g_free(dir);
                g_free(exe);
                if (g_file_test(p, G_FILE_TEST_EXISTS))
                        return p;
                g_free(p);
        }
        return NULL;
}

tb_testbed *tb_new(const struct tb_options *options) {
        tb_testbed *tb = g_new0(tb_testbed, 1);

        if (options)
                tb->opt = *options;
        if (tb->opt.reconnect_delay_ms == 0)
                tb->opt.reconnect_delay_ms = DEFAULT_RECONNECT_MS;
        if (tb->opt.drop_delay_ms == 0)
                tb->opt.drop_delay_ms = DEFAULT_DROP_MS;
        if (tb->opt.usbfs_caps == 0)
                tb->opt.usbfs_caps = TB_CAPS_DEFAULT;
        if (tb->opt.bus_time_percent <= 0)
                tb->opt.bus_time_percent = 100;
        if (getenv("TB_ECHO") && *getenv("TB_ECHO") && strcmp(getenv("TB_ECHO"), "0") != 0)
                tb->opt.echo = true;

        g_rec_mutex_init(&tb->lock);
        tb->main_ctx = g_main_context_ref_thread_default();
        /* The testbed is thousands of small files made and removed as boards come and
         * go; on a disk filesystem every create costs ~0.5 ms (measured on ext4 here),
         * on tmpfs ~3 us. umockdev makes its directory in g_get_tmp_dir() ($TMPDIR). */
        const char *tmp = getenv("TB_TMPDIR");
        if (!tmp && g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) && access("/dev/shm", W_OK) == 0)
                tmp = "/dev/shm";
        char *saved_tmpdir = g_strdup(getenv("TMPDIR"));
        if (tmp && *tmp)
                g_setenv("TMPDIR", tmp, TRUE);
        tb->umock = umockdev_testbed_new();
        if (saved_tmpdir)
                g_setenv("TMPDIR", saved_tmpdir, TRUE);
        else
                g_unsetenv("TMPDIR");
        g_free(saved_tmpdir);
        tb->root = umockdev_testbed_get_root_dir(tb->umock);
        tb->boards = g_ptr_array_new();
        tb->hubs = g_ptr_array_new();
        tb->devs = g_ptr_array_new();
        tb->by_devnode = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        tb->attached = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        tb->log = g_ptr_array_new_with_free_func(free_log_line);
        tb->children = g_ptr_array_new();
        for (unsigned i = 0; i < 128; i++)
                tb->next_devnum[i] = 2;
        g_queue_init(&tb->uevent_queue);
        tb->uevent_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (tb->uevent_fd < 0)
                die("socket: %s", g_strerror(errno));

        if (tb->opt.node_kind == TB_NODE_FIFO) {
                tb->shim_path = find_shim();
                if (!tb->shim_path)
                        die("FIFO nodes need libtb-usbfs-shim.so (next to the test binary, or $TB_USBFS_SHIM)");
        }

        tb->handler = umockdev_ioctl_base_new();
        g_signal_connect(tb->handler, "client-connected", G_CALLBACK(on_client_connected), tb);
        g_signal_connect(tb->handler, "handle-ioctl", G_CALLBACK(on_handle_ioctl), tb);
        g_signal_connect(tb->handler, "handle-read", G_CALLBACK(on_handle_read), tb);
        g_signal_connect(tb->handler, "handle-write", G_CALLBACK(on_handle_write), tb);
        return tb;
}

const char *tb_root_dir(tb_testbed *tb) {
        return tb->root;
}

void tb_lock(tb_testbed *tb) {
        g_rec_mutex_lock(&tb->lock);
}

void tb_unlock(tb_testbed *tb) {
        g_rec_mutex_unlock(&tb->lock);
}

static void child_free(tb_child *c);

void tb_free(tb_testbed *tb) {
        if (!tb)
                return;
        const char *dump = getenv("TB_LOG");
        if (dump && *dump) {
                FILE *f = fopen(dump, "a");
                if (f) {
                        tb_log_dump(tb, f);
                        fclose(f);
                }
        }
        for (guint i = 0; i < tb->children->len; i++) {
                tb_child *c = g_ptr_array_index(tb->children, i);
                if (c->running) {
                        kill(c->pid, SIGKILL);
                        tb_child_wait(c, 5000);
                }
        }
        /* let the worker finish with the clients that went away */
        tb_run_for(tb, 5);

        g_rec_mutex_lock(&tb->lock);
        for (guint i = 0; i < tb->boards->len; i++) {
                tb_board *b = g_ptr_array_index(tb->boards, i);
                drop_source(&b->drop_src);
                drop_source(&b->reconnect_src);
        }
        drop_source(&tb->uevent_retry);
        g_rec_mutex_unlock(&tb->lock);

        for (guint i = 0; i < tb->children->len; i++)
                child_free(g_ptr_array_index(tb->children, i));
        g_ptr_array_unref(tb->children);

        /* Stop umockdev's worker before freeing what the handler uses. */
        g_object_unref(tb->umock);
        g_object_unref(tb->handler);

        for (guint i = 0; i < tb->devs->len; i++) {
                struct tb_usbdev *d = g_ptr_array_index(tb->devs, i);
                for (unsigned e = 0; e < TB_MAX_EP; e++) {
                        struct tb_urb *u;
                        while ((u = g_queue_pop_head(&d->ep_queue[e])))
                                urb_free(u);
                }
                for (guint k = 0; k < d->clients->len; k++) {
                        struct tb_client *c = g_ptr_array_index(d->clients, k);
                        struct tb_urb *u;
                        while ((u = g_queue_pop_head(&c->completed)))
                                urb_free(u);
                        g_object_set_data(G_OBJECT(c->client), "tb-client", NULL);
                        g_object_unref(c->client);
                        g_free(c);
                }
                g_ptr_array_unref(d->clients);
                for (unsigned k = 0; k < d->n_if; k++) {
                        g_free(d->if_syspath[k]);
                        g_ptr_array_unref(d->if_props[k]);
                }
                if (d->props)
                        g_ptr_array_unref(d->props);
                if (d->fifo_fd >= 0)
                        close(d->fifo_fd);
                g_free(d->nodepath);
                g_free(d->syspath);
                g_free(d);
        }
        g_ptr_array_unref(tb->devs);
        for (guint i = 0; i < tb->hubs->len; i++)
                g_free(g_ptr_array_index(tb->hubs, i));
        g_ptr_array_unref(tb->hubs);
        for (guint i = 0; i < tb->boards->len; i++)
                g_free(g_ptr_array_index(tb->boards, i));
        g_ptr_array_unref(tb->boards);
        g_hash_table_unref(tb->by_devnode);
        g_hash_table_unref(tb->attached);

        struct uevent_msg *m;
        while ((m = g_queue_pop_head(&tb->uevent_queue))) {
                g_free(m->path);
                g_bytes_unref(m->bytes);
                g_free(m);
        }
        close(tb->uevent_fd);
        g_ptr_array_unref(tb->log);
        g_main_context_unref(tb->main_ctx);
        if (tb->worker_ctx)
                g_main_context_unref(tb->worker_ctx);
        g_rec_mutex_clear(&tb->lock);
        g_free(tb->shim_path);
        g_free(tb->root);
        g_free(tb);
}

/* ------------------------------------------------------------------ */
/* public: boards */

tb_board *tb_add_board(tb_testbed *tb, const char *port, const struct emu_board_config *config) {
        struct emu_board_config def = { 0 };
        unsigned busnum;
        int n = 0;

        if (sscanf(port, "%u-%n", &busnum, &n) != 1 || n == 0 || busnum < 1 || busnum > 127 || !port[n] ||
            strlen(port) >= sizeof ((tb_board *) NULL)->port)
                die("bad port path '%s' (expected like 1-1 or 1-1.3)", port);
        for (const char *p = port + n; *p; p++)
                if (!g_ascii_isdigit(*p) && *p != '.')
                        die("bad port path '%s'", port);
        if (tb_find_board(tb, port))
                die("port %s already has a board", port);

        g_rec_mutex_lock(&tb->lock);
        tb_board *b = g_new0(tb_board, 1);
        b->tb = tb;
        g_strlcpy(b->port, port, sizeof b->port);
        b->busnum = busnum;
        emu_board_init(&b->emu, config ? config : &def);

        char *parent = g_strdup(port);
        char *dot = strrchr(parent, '.');
        if (dot) {
                b->hub_port = (unsigned) atoi(dot + 1);
                *dot = '\0';
                b->hub = get_hub(tb, busnum, parent);
        } else {
                char root[16];
                b->hub_port = (unsigned) atoi(strchr(port, '-') + 1);
                snprintf(root, sizeof root, "usb%u", busnum);
                b->hub = get_hub(tb, busnum, root);
        }
        g_free(parent);
        if (b->hub_port < 1 || b->hub_port > b->hub->nports)
                die("port %s: hub %s has ports 1..%u", port, b->hub->port, b->hub->nports);
        g_ptr_array_add(tb->boards, b);
        g_rec_mutex_unlock(&tb->lock);
        return b;
}

size_t tb_n_boards(tb_testbed *tb) {
        return tb->boards->len;
}

tb_board *tb_board_at(tb_testbed *tb, size_t i) {
        return i < tb->boards->len ? g_ptr_array_index(tb->boards, i) : NULL;
}

tb_board *tb_find_board(tb_testbed *tb, const char *port) {
        for (guint i = 0; i < tb->boards->len; i++) {
                tb_board *b = g_ptr_array_index(tb->boards, i);
                if (strcmp(b->port, port) == 0)
                        return b;
        }
        return NULL;
}

const char *tb_board_port(const tb_board *b) {
        return b->port;
}

struct emu_board *tb_board_emu(tb_board *b) {
        return &b->emu;
}

enum emu_stage tb_board_stage(tb_board *b) {
        g_rec_mutex_lock(&b->tb->lock);
        enum emu_stage s = b->emu.stage;
        g_rec_mutex_unlock(&b->tb->lock);
        return s;
}

unsigned tb_board_enumerations(tb_board *b) {
        g_rec_mutex_lock(&b->tb->lock);
        unsigned n = b->enumerations;
        g_rec_mutex_unlock(&b->tb->lock);
        return n;
}

bool tb_board_powered(tb_board *b) {
        g_rec_mutex_lock(&b->tb->lock);
        bool p = b->powered;
        g_rec_mutex_unlock(&b->tb->lock);
        return p;
}

static void set_power(tb_board *b, bool on, bool by_hub) {
        tb_testbed *tb = b->tb;

        g_rec_mutex_lock(&tb->lock);
        if (on == b->powered) {
                g_rec_mutex_unlock(&tb->lock);
                return;
        }
        b->powered = on;
        drop_source(&b->drop_src);
        drop_source(&b->reconnect_src);
        if (on) {
                tb_event(tb, "power on %s", b->port);
                emu_board_plug(&b->emu);
                emu_board_take_bus_action(&b->emu);
                if (b->dev) { /* cannot happen, but never leave two enumerations */
                        dev_remove(b->dev);
                        b->dev = NULL;
                }
                dev_add_board(b);
        } else {
                tb_event(tb, "power off %s", b->port);
                emu_board_unplug(&b->emu);
                emu_board_take_bus_action(&b->emu);
                if (b->dev) {
                        dev_remove(b->dev);
                        b->dev = NULL;
                }
        }
        tb_power_hook hook = tb->power_hook;
        void *ud = tb->power_hook_data;
        g_rec_mutex_unlock(&tb->lock);
        if (hook)
                hook(b, on, by_hub, ud);
        wake(tb);
}

void tb_plug(tb_board *b) {
        set_power(b, true, false);
}

void tb_unplug(tb_board *b) {
        set_power(b, false, false);
}

void tb_power(tb_board *b, bool on) {
        set_power(b, on, false);
}

void tb_set_power_hook(tb_testbed *tb, tb_power_hook hook, void *userdata) {
        g_rec_mutex_lock(&tb->lock);
        tb->power_hook = hook;
        tb->power_hook_data = userdata;
        g_rec_mutex_unlock(&tb->lock);
}

/* ------------------------------------------------------------------ */
/* public: running things */

static gboolean noop_cb(gpointer data) {
        return G_SOURCE_REMOVE;
}

bool tb_run_until(tb_testbed *tb, tb_predicate pred, void *userdata, int timeout_ms) {
        int64_t end = g_get_monotonic_time() + (int64_t) timeout_ms * 1000;
        bool r;

        for (;;) {
                g_rec_mutex_lock(&tb->lock);
                r = pred(tb, userdata);
                g_rec_mutex_unlock(&tb->lock);
                if (r)
                        return true;
                int64_t now = g_get_monotonic_time();
                if (now >= end)
                        return false;
                /* wake up for the deadline even if nothing else happens */
                GSource *t = g_timeout_source_new((guint) ((end - now + 999) / 1000));
                g_source_set_callback(t, noop_cb, NULL, NULL);
                g_source_attach(t, tb->main_ctx);
                g_main_context_iteration(tb->main_ctx, TRUE);
                g_source_destroy(t);
                g_source_unref(t);
        }
}

static bool pred_false(tb_testbed *tb, void *userdata) {
        return false;
}

void tb_run_for(tb_testbed *tb, int ms) {
        tb_run_until(tb, pred_false, NULL, ms);
}

bool tb_pred_all_in_stage(tb_testbed *tb, void *stage) {
        enum emu_stage s = *(enum emu_stage *) stage;
        for (guint i = 0; i < tb->boards->len; i++) {
                tb_board *b = g_ptr_array_index(tb->boards, i);
                if (b->emu.stage != s)
                        return false;
        }
        return true;
}

void tb_get_stats(tb_testbed *tb, struct tb_stats *stats) {
        g_rec_mutex_lock(&tb->lock);
        *stats = tb->stats;
        g_rec_mutex_unlock(&tb->lock);
}

/* ------------------------------------------------------------------ */
/* children and the log */

static void take_lines(tb_testbed *tb, GString *buf, const char *source, bool flush) {
        char *nl;
        while ((nl = memchr(buf->str, '\n', buf->len))) {
                *nl = '\0';
                log_add(tb, source, buf->str);
                g_string_erase(buf, 0, (gssize) (nl - buf->str) + 1);
        }
        if (flush && buf->len) {
                log_add(tb, source, buf->str);
                g_string_truncate(buf, 0);
        }
}

static gboolean stream_cb(gint fd, GIOCondition cond, gpointer data) {
        struct tb_stream *s = data;
        char buf[65536];

        for (;;) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n > 0) {
                        g_string_append_len(s->buf, buf, n);
                        take_lines(s->child->tb, s->buf, s->name, false);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return G_SOURCE_CONTINUE;
                /* EOF or error */
                take_lines(s->child->tb, s->buf, s->name, true);
                close(s->fd);
                s->fd = -1;
                g_source_unref(s->src);
                s->src = NULL;
                return G_SOURCE_REMOVE;
        }
}

static void stream_init(tb_child *c, struct tb_stream *s, int fd, const char *suffix) {
        s->child = c;
        s->fd = fd;
        s->buf = g_string_new(NULL);
        snprintf(s->name, sizeof s->name, "child%u:%s", c->id, suffix);
        g_unix_set_fd_nonblocking(fd, TRUE, NULL);
        s->src = g_unix_fd_source_new(fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
        g_source_set_callback(s->src, G_SOURCE_FUNC(stream_cb), s, NULL);
        g_source_attach(s->src, c->tb->main_ctx);
}

static void stream_free(struct tb_stream *s) {
        drop_source(&s->src);
        if (s->fd >= 0)
                close(s->fd);
        if (s->buf)
                g_string_free(s->buf, TRUE);
}

static void child_watch_cb(GPid pid, gint status, gpointer data) {
        tb_child *c = data;
        c->running = false;
        c->status = status;
        g_spawn_close_pid(pid);
        if (WIFEXITED(status))
                tb_event(c->tb, "child%u (pid %d) exited with %d", c->id, (int) pid, WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                tb_event(c->tb, "child%u (pid %d) killed by signal %d", c->id, (int) pid, WTERMSIG(status));
        wake(c->tb);
}

static void child_free(tb_child *c) {
        drop_source(&c->watch);
        stream_free(&c->out);
        stream_free(&c->err);
        g_free(c);
}

tb_child *tb_spawn(tb_testbed *tb, const char *const *argv, const char *const *extra_env) {
        char **env = g_get_environ();
        GPtrArray *args = g_ptr_array_new_with_free_func(g_free);
        GError *error = NULL;
        int out_fd = -1, err_fd = -1;
        GPid pid;

        env = g_environ_setenv(env, "UMOCKDEV_DIR", tb->root, TRUE);
        const char *old = g_environ_getenv(env, "LD_PRELOAD");
        GString *preload = g_string_new(NULL);
        if (!old || !strstr(old, "libumockdev-preload"))
                g_string_append(preload, "libumockdev-preload.so.0");
        if (old && *old) {
                if (preload->len)
                        g_string_append_c(preload, ':');
                g_string_append(preload, old);
        }
        if (tb->shim_path && (!old || !strstr(old, tb->shim_path)))
                g_string_append_printf(preload, ":%s", tb->shim_path);
        env = g_environ_setenv(env, "LD_PRELOAD", preload->str, TRUE);
        g_string_free(preload, TRUE);
        for (size_t i = 0; extra_env && extra_env[i]; i++) {
                const char *eq = strchr(extra_env[i], '=');
                if (!eq) {
                        env = g_environ_unsetenv(env, extra_env[i]);
                        continue;
                }
                char *k = g_strndup(extra_env[i], (gsize) (eq - extra_env[i]));
                env = g_environ_setenv(env, k, eq + 1, TRUE);
                g_free(k);
        }

        const char *wrapper = getenv("TB_CHILD_WRAPPER");
        if (wrapper && *wrapper) {
                char **w = NULL;
                if (!g_shell_parse_argv(wrapper, NULL, &w, &error)) {
                        fprintf(stderr, "testbed: TB_CHILD_WRAPPER: %s\n", error->message);
                        g_clear_error(&error);
                } else {
                        for (size_t i = 0; w[i]; i++)
                                g_ptr_array_add(args, g_strdup(w[i]));
                        g_strfreev(w);
                }
        }
        for (size_t i = 0; argv[i]; i++)
                g_ptr_array_add(args, g_strdup(argv[i]));
        g_ptr_array_add(args, NULL);

        bool ok = g_spawn_async_with_pipes(NULL, (char **) args->pdata, env,
                                           G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH_FROM_ENVP, NULL, NULL,
                                           &pid, NULL, &out_fd, &err_fd, &error);
        g_strfreev(env);
        if (!ok) {
                fprintf(stderr, "testbed: cannot start %s: %s\n", argv[0], error->message);
                g_clear_error(&error);
                g_ptr_array_unref(args);
                return NULL;
        }

        tb_child *c = g_new0(tb_child, 1);
        c->tb = tb;
        c->id = ++tb->next_child_id;
        c->pid = pid;
        c->running = true;
        stream_init(c, &c->out, out_fd, "out");
        stream_init(c, &c->err, err_fd, "err");
        c->watch = g_child_watch_source_new(pid);
        g_source_set_callback(c->watch, G_SOURCE_FUNC(child_watch_cb), c, NULL);
        g_source_attach(c->watch, tb->main_ctx);
        g_ptr_array_add(tb->children, c);

        char *cmd = g_strjoinv(" ", (char **) args->pdata);
        tb_event(tb, "child%u (pid %d): %s", c->id, (int) pid, cmd);
        g_free(cmd);
        g_ptr_array_unref(args);
        return c;
}

pid_t tb_child_pid(const tb_child *c) {
        return c->pid;
}

bool tb_child_running(const tb_child *c) {
        return c->running;
}

static bool pred_child_done(tb_testbed *tb, void *data) {
        tb_child *c = data;
        /* exited, and its output read to the end */
        return !c->running && !c->out.src && !c->err.src;
}

int tb_child_wait(tb_child *c, int timeout_ms) {
        if (!tb_run_until(c->tb, pred_child_done, c, timeout_ms))
                return c->running ? -1 : c->status;
        return c->status;
}

void tb_child_kill(tb_child *c, int sig) {
        if (c->running)
                kill(c->pid, sig);
}

size_t tb_log_count(tb_testbed *tb) {
        g_rec_mutex_lock(&tb->lock);
        size_t n = tb->log->len;
        g_rec_mutex_unlock(&tb->lock);
        return n;
}

const struct tb_log_line *tb_log_line(tb_testbed *tb, size_t i) {
        g_rec_mutex_lock(&tb->lock);
        const struct tb_log_line *l = i < tb->log->len ? g_ptr_array_index(tb->log, i) : NULL;
        g_rec_mutex_unlock(&tb->lock);
        return l;
}

const struct tb_log_line *tb_log_find(tb_testbed *tb, size_t *from, const char *needle) {
        const struct tb_log_line *found = NULL;

        g_rec_mutex_lock(&tb->lock);
        for (size_t i = from ? *from : 0; i < tb->log->len; i++) {
                const struct tb_log_line *l = g_ptr_array_index(tb->log, i);
                if (strstr(l->text, needle)) {
                        found = l;
                        if (from)
                                *from = i + 1;
                        break;
                }
        }
        g_rec_mutex_unlock(&tb->lock);
        return found;
}

size_t tb_log_count_matches(tb_testbed *tb, const char *needle) {
        size_t n = 0, from = 0;
        while (tb_log_find(tb, &from, needle))
                n++;
        return n;
}

struct wait_log {
        size_t from;
        const char *needle;
        const struct tb_log_line *found;
};

static bool pred_log(tb_testbed *tb, void *data) {
        struct wait_log *w = data;
        size_t from = w->from;
        w->found = tb_log_find(tb, &from, w->needle);
        return w->found != NULL;
}

const struct tb_log_line *tb_wait_log(tb_testbed *tb, size_t from, const char *needle, int timeout_ms) {
        struct wait_log w = { .from = from, .needle = needle };
        tb_run_until(tb, pred_log, &w, timeout_ms);
        return w.found;
}

void tb_log_dump(tb_testbed *tb, FILE *f) {
        g_rec_mutex_lock(&tb->lock);
        int64_t t0 = tb->log->len ? ((struct tb_log_line *) g_ptr_array_index(tb->log, 0))->t_usec : 0;
        for (guint i = 0; i < tb->log->len; i++) {
                const struct tb_log_line *l = g_ptr_array_index(tb->log, i);
                fprintf(f, "%+9.3f ms %12s| %s\n", (double) (l->t_usec - t0) / 1000.0, l->source, l->text);
        }
        g_rec_mutex_unlock(&tb->lock);
}
