/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "boot-history.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boot-history-file.h"
#include "boot-history-json.h"
#include "boot-history-log.h"
#include "json-util.h"
#include "log.h"
#include "util.h"

/* A change is on disk within this; a boot brings a handful of changes, a cluster booting many at once. */
#define WRITE_DELAY_USEC USEC_PER_SEC

struct cb_boot_history {
        sd_event *event;
        char *directory;
        struct cb_boot_log log;
        sd_event_source *write_timer; /* armed while a change waits to be written */

        /* the writer thread: it takes `pending` (the newest document), the loop never waits for it */
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        char *pending;
        size_t pending_size;
        bool stop;
        int last_error; /* told once, not at every write */
};

static void *writer(void *userdata) {
        struct cb_boot_history *h = userdata;

        pthread_mutex_lock(&h->lock);
        for (;;) {
                while (!h->pending && !h->stop)
                        pthread_cond_wait(&h->wake, &h->lock);
                if (!h->pending)
                        break;
                char *text = TAKE_PTR(h->pending);
                size_t size = h->pending_size;
                pthread_mutex_unlock(&h->lock);

                int r = cb_boot_history_save(h->directory, text, size);
                free(text);
                if (r < 0 && r != h->last_error)
                        log_warning_errno(r, "boot history: cannot write %s/" CB_BOOT_HISTORY_FILE
                                          " (kept in memory, written again at the next change)", h->directory);
                else if (r == 0 && h->last_error != 0)
                        log_info("boot history: %s/" CB_BOOT_HISTORY_FILE " written again", h->directory);
                h->last_error = r;

                pthread_mutex_lock(&h->lock);
        }
        pthread_mutex_unlock(&h->lock);
        return NULL;
}

/* Builds the document now and hands it to the writer (any older one not written yet is dropped). */
static void write_now(struct cb_boot_history *h) {
        char *text = NULL;
        size_t size = 0;
        int r = cb_boot_history_format(&h->log, &text, &size);

        if (r < 0) {
                log_warning_errno(r, "boot history: cannot build the file; kept in memory");
                return;
        }
        pthread_mutex_lock(&h->lock);
        free(h->pending);
        h->pending = text;
        h->pending_size = size;
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->lock);
}

static int on_write_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct cb_boot_history *h = userdata;

        h->write_timer = sd_event_source_unref(h->write_timer);
        write_now(h);
        return 0;
}

static void schedule_write(struct cb_boot_history *h) {
        int r;

        if (h->write_timer)
                return;
        r = sd_event_add_time_relative(h->event, &h->write_timer, CLOCK_MONOTONIC, WRITE_DELAY_USEC, 0,
                                       on_write_timer, h);
        if (r < 0) {
                log_warning_errno(r, "boot history: cannot schedule a write; writing now");
                write_now(h);
        }
}

static uint64_t clock_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

void cb_boot_history_node_changed(struct cb_boot_history *h, struct cb_node *node) {
        struct cb_node_status st;
        int r;

        if (!h)
                return;
        cb_node_get_status(node, &st);
        r = cb_boot_log_observe(&h->log, &(struct cb_boot_observation){
                                                 .key = node,
                                                 .name = cb_node_name(node),
                                                 .port = cb_node_port(node),
                                                 .state = st.state,
                                                 .attempt = st.attempt,
                                                 .last_error = st.last_error,
                                                 .bytes_served = st.bytes_served,
                                                 .files_served = st.files_served,
                                                 .step_retries = st.step_retries,
                                                 .resets = st.resets,
                                                 .power_cycles = st.power_cycles,
                                                 .boot_started = st.boot_started_usec,
                                                 .now_monotonic = clock_usec(CLOCK_MONOTONIC),
                                                 .now_realtime = clock_usec(CLOCK_REALTIME),
                                         });
        if (r < 0)
                log_warning_errno(r, "boot history: %s's change not recorded", cb_node_name(node));
        else if (r > 0)
                schedule_write(h);
}

int cb_boot_history_json(const struct cb_boot_history *h, const char *name_or_port, struct json_object **ret) {
        struct cb_boot_log empty;

        if (!h) {
                cb_boot_log_init(&empty);
                return cb_boot_log_json(&empty, NULL, CB_BOOT_JSON_BUDGET, ret, NULL);
        }
        return cb_boot_log_json(&h->log, name_or_port, CB_BOOT_JSON_BUDGET, ret, NULL);
}

int cb_boot_history_new(sd_event *event, const char *state_directory, struct cb_boot_history **ret) {
        struct cb_boot_history *h = calloc(1, sizeof *h);
        int r;

        if (!h)
                return -ENOMEM;
        cb_boot_log_init(&h->log);
        h->directory = strdup(state_directory);
        if (!h->directory) {
                free(h);
                return -ENOMEM;
        }
        r = cb_boot_history_load(h->directory, &h->log);
        if (r < 0) {
                cb_boot_log_done(&h->log);
                free(h->directory);
                free(h);
                return r;
        }
        pthread_mutex_init(&h->lock, NULL);
        pthread_cond_init(&h->wake, NULL);
        r = -pthread_create(&h->thread, NULL, writer, h);
        if (r < 0) {
                pthread_mutex_destroy(&h->lock);
                pthread_cond_destroy(&h->wake);
                cb_boot_log_done(&h->log);
                free(h->directory);
                free(h);
                return log_error_errno(r, "boot history: cannot start the writer thread");
        }
        h->event = sd_event_ref(event);
        *ret = h;
        return 0;
}

struct cb_boot_history *cb_boot_history_free(struct cb_boot_history *h) {
        if (!h)
                return NULL;
        bool unwritten = h->write_timer != NULL;

        h->write_timer = sd_event_source_disable_unref(h->write_timer);
        /* the daemon stops: what ran is written as interrupted, and the next daemon starts a boot of its own */
        if (cb_boot_log_interrupt_all(&h->log, clock_usec(CLOCK_MONOTONIC)) || unwritten)
                write_now(h);
        pthread_mutex_lock(&h->lock);
        h->stop = true;
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->lock);
        pthread_join(h->thread, NULL);
        pthread_mutex_destroy(&h->lock);
        pthread_cond_destroy(&h->wake);
        free(h->pending);
        cb_boot_log_done(&h->log);
        free(h->directory);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}
