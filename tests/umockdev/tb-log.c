/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The testbed's captured log: lines of the children's output and the
 * harness's own events, with CLOCK_MONOTONIC times, and finding and waiting
 * for lines in it.
 */
#include "tb-internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void log_add(tb_testbed *tb, const char *source, const char *text) {
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

void tb_event(tb_testbed *tb, const char *format, ...) {
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

void free_log_line(gpointer p) {
        struct tb_log_line *l = p;
        g_free((char *) l->source);
        g_free((char *) l->text);
        g_free(l);
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
