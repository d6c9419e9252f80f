/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "power-queue.h"

#include "event-priority.h"
#include "log.h"

struct turn {
        cb_power_queue_fn fn;
        void *userdata;
};

struct cb_power_queue {
        sd_event *event;
        usec_t spacing;
        struct turn *turns;
        size_t n_turns, allocated;
        usec_t last_turn; /* CLOCK_MONOTONIC of the last turn given, 0 = none yet */
        sd_event_source *timer;
};

static int on_turn(sd_event_source *s, uint64_t usec, void *userdata);

/* Arms the timer for the first waiting turn, or disarms it. */
static void schedule(struct cb_power_queue *q) {
        usec_t now = now_usec(), when;
        int r;

        if (q->n_turns == 0) {
                if (q->timer)
                        (void) sd_event_source_set_enabled(q->timer, SD_EVENT_OFF);
                return;
        }
        when = q->last_turn ? q->last_turn + q->spacing : now;
        if (when < now)
                when = now;
        if (!q->timer) {
                r = sd_event_add_time(q->event, &q->timer, CLOCK_MONOTONIC, when, USEC_PER_MSEC, on_turn, q);
                if (r < 0)
                        log_error_errno(r, "power: cannot arm the power-on timer; power-ons wait");
                else {
                        (void) sd_event_source_set_priority(q->timer, CB_EVENT_PRIORITY_BOARDS);
                        (void) sd_event_source_set_description(q->timer, "power-on-queue");
                }
                return;
        }
        (void) sd_event_source_set_time(q->timer, when);
        (void) sd_event_source_set_enabled(q->timer, SD_EVENT_ONESHOT);
}

static int on_turn(sd_event_source *s, uint64_t usec, void *userdata) {
        struct cb_power_queue *q = userdata;
        struct turn t;

        if (q->n_turns == 0)
                return 0;
        t = q->turns[0];
        memmove(q->turns, q->turns + 1, (q->n_turns - 1) * sizeof *q->turns);
        q->n_turns--;
        q->last_turn = now_usec();
        schedule(q);
        /* last: the callback may queue again */
        t.fn(t.userdata);
        return 0;
}

int cb_power_queue_new(sd_event *event, usec_t spacing, struct cb_power_queue **ret) {
        struct cb_power_queue *q = calloc(1, sizeof *q);

        if (!q)
                return -ENOMEM;
        q->event = sd_event_ref(event);
        q->spacing = spacing;
        *ret = q;
        return 0;
}

struct cb_power_queue *cb_power_queue_free(struct cb_power_queue *q) {
        if (!q)
                return NULL;
        sd_event_source_disable_unref(q->timer);
        sd_event_unref(q->event);
        free(q->turns);
        free(q);
        return NULL;
}

void cb_power_queue_set_spacing(struct cb_power_queue *q, usec_t spacing) {
        q->spacing = spacing;
        schedule(q);
}

int cb_power_queue_add(struct cb_power_queue *q, cb_power_queue_fn fn, void *userdata) {
        if (q->n_turns == q->allocated) {
                size_t n = q->allocated ? q->allocated * 2 : 8;
                struct turn *t = realloc(q->turns, n * sizeof *t);

                if (!t)
                        return -ENOMEM;
                q->turns = t;
                q->allocated = n;
        }
        q->turns[q->n_turns++] = (struct turn){ .fn = fn, .userdata = userdata };
        if (q->n_turns == 1)
                schedule(q);
        return 0;
}

unsigned cb_power_queue_remove(struct cb_power_queue *q, void *userdata) {
        size_t kept = 0;
        unsigned removed = 0;

        for (size_t i = 0; i < q->n_turns; i++) {
                if (q->turns[i].userdata == userdata) {
                        removed++;
                        continue;
                }
                q->turns[kept++] = q->turns[i];
        }
        q->n_turns = kept;
        if (removed)
                schedule(q);
        return removed;
}

size_t cb_power_queue_length(const struct cb_power_queue *q) {
        return q->n_turns;
}
