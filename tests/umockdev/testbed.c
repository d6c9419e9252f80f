/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * umockdev integration-test harness: emulated boards (tests/emu) behind fake
 * usbdevfs nodes. See testbed.h for the overview and the README beside this
 * file for what a libusb program sees under it.
 *
 * This file: the testbed object (tb_new, tb_free, its lock), the small helpers
 * every part uses, and running the main loop. The rest is in tb-*.c, by
 * concern; tb-internal.h holds the shared structs.
 */
#include "tb-internal.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_RECONNECT_MS 50
#define DEFAULT_DROP_MS 5

/* ------------------------------------------------------------------ */
/* small helpers */

void die(const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        fputs("testbed: ", stderr);
        vfprintf(stderr, format, ap);
        fputc('\n', stderr);
        va_end(ap);
        abort();
}

void wake(tb_testbed *tb) {
        g_main_context_wakeup(tb->main_ctx);
}

GSource *attach_timeout(tb_testbed *tb, int ms, GSourceFunc fn, void *data) {
        GSource *s = ms > 0 ? g_timeout_source_new((guint) ms) : g_idle_source_new();
        g_source_set_callback(s, fn, data, NULL);
        g_source_attach(s, tb->main_ctx);
        return s;
}

void drop_source(GSource **s) {
        if (*s) {
                g_source_destroy(*s);
                g_source_unref(*s);
                *s = NULL;
        }
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
