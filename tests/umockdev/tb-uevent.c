/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * uevents: the harness sends them itself, in libudev's wire format, to every
 * listener in the testbed; and waiting for a listener.
 */
#include "tb-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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
                int64_t now = g_get_monotonic_time();

                if (m->due > now) {
                        /* late, and in order: nothing behind it goes first */
                        if (!tb->uevent_retry)
                                tb->uevent_retry =
                                        attach_timeout(tb, (int) ((m->due - now + 999) / 1000), uevent_retry_cb, tb);
                        return;
                }

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

void send_uevent(tb_testbed *tb, const char *syspath, const char *action, GPtrArray *props,
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
                        m->due = g_get_monotonic_time() + (int64_t) tb->opt.uevent_delay_ms * 1000;
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
