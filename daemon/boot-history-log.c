/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "boot-history-log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "util.h"

/* What was last seen of one node, to tell what changed. */
struct cb_boot_tracked {
        const void *key;
        enum cb_node_state state;
        unsigned attempt;
        uint64_t resets, power_cycles;

        uint64_t started_seen; /* boot_started of the last boot opened (monotonic): one record per boot */
        uint64_t open_id;      /* the boot running; 0: none */
        uint64_t up_id;        /* the boot that brought the node up, while it stays up; 0: none */

        /* the running boot's current stretch, also once its stages are no longer kept */
        char stretch_state[CB_BOOT_WORD_MAX];
        uint64_t stretch_since;

        bool in_fault;          /* between a fault and the node's next good state */
        int fault_index;        /* the fault's place in the boot; -1: not kept (too many) */
        char fault_reason[CB_BOOT_REASON_MAX];
};

/* Copies a string, cut on a character boundary with "…" when it does not fit. */
static void copy_text(char *dst, size_t size, const char *src) {
        size_t len = strlen(src);

        if (len < size) {
                memcpy(dst, src, len + 1);
                return;
        }
        /* one byte short of full, so that the cut sees there is more and says so */
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        cb_text_cut(dst, size - 2);
}

void cb_boot_log_init(struct cb_boot_log *log) {
        *log = (struct cb_boot_log){ .next_id = 1 };
}

void cb_boot_log_done(struct cb_boot_log *log) {
        free(log->boots);
        free(log->tracked);
        *log = (struct cb_boot_log){ 0 };
}

size_t cb_boot_log_count(const struct cb_boot_log *log) {
        return log->n_boots;
}

const struct cb_boot *cb_boot_log_at(const struct cb_boot_log *log, size_t i) {
        return i < log->n_boots ? &log->boots[i] : NULL;
}

bool cb_boot_matches(const struct cb_boot *boot, const char *name_or_port) {
        return strcmp(boot->node, name_or_port) == 0 || strcmp(boot->port, name_or_port) == 0;
}

static struct cb_boot *find_boot(struct cb_boot_log *log, uint64_t id) {
        if (id == 0)
                return NULL;
        for (size_t i = log->n_boots; i > 0; i--)
                if (log->boots[i - 1].id == id)
                        return &log->boots[i - 1];
        return NULL;
}

static bool boot_running(const struct cb_boot_log *log, uint64_t id) {
        for (size_t i = 0; i < log->n_tracked; i++)
                if (log->tracked[i].open_id == id)
                        return true;
        return false;
}

static void remove_boot(struct cb_boot_log *log, size_t i) {
        memmove(&log->boots[i], &log->boots[i + 1], (log->n_boots - i - 1) * sizeof *log->boots);
        log->n_boots--;
}

/* The oldest boot (of `port`, or of any node when NULL) that is not running; SIZE_MAX if none. */
static size_t oldest_finished(const struct cb_boot_log *log, const char *port) {
        for (size_t i = 0; i < log->n_boots; i++)
                if ((!port || strcmp(log->boots[i].port, port) == 0) && !boot_running(log, log->boots[i].id))
                        return i;
        return SIZE_MAX;
}

/* Room for one more boot of `port`: the node's oldest goes at its limit, the oldest of all at the total's. */
static int make_room(struct cb_boot_log *log, const char *port) {
        size_t of_node = 0, i;

        for (i = 0; i < log->n_boots; i++)
                of_node += strcmp(log->boots[i].port, port) == 0;
        while (of_node >= CB_BOOT_HISTORY_NODE_BOOTS_MAX && (i = oldest_finished(log, port)) != SIZE_MAX) {
                remove_boot(log, i);
                of_node--;
        }
        while (log->n_boots >= CB_BOOT_HISTORY_BOOTS_MAX) {
                i = oldest_finished(log, NULL);
                /* every kept boot is running (as many nodes booting as boots kept): the oldest goes anyway */
                remove_boot(log, i == SIZE_MAX ? 0 : i);
        }
        if (log->n_boots == log->allocated) {
                size_t n = log->allocated ? log->allocated * 2 : 8;
                struct cb_boot *boots;

                n = MIN(n, (size_t) CB_BOOT_HISTORY_BOOTS_MAX);
                boots = realloc(log->boots, n * sizeof *boots);
                if (!boots)
                        return -ENOMEM;
                log->boots = boots;
                log->allocated = n;
        }
        return 0;
}

static struct cb_boot_tracked *track(struct cb_boot_log *log, const struct cb_boot_observation *o) {
        struct cb_boot_tracked *t;

        for (size_t i = 0; i < log->n_tracked; i++)
                if (log->tracked[i].key == o->key)
                        return &log->tracked[i];
        t = realloc(log->tracked, (log->n_tracked + 1) * sizeof *t);
        if (!t)
                return NULL;
        log->tracked = t;
        t = &log->tracked[log->n_tracked++];
        *t = (struct cb_boot_tracked){
                .key = o->key,
                .state = o->state,
                .attempt = o->attempt,
                .resets = o->resets,
                .power_cycles = o->power_cycles,
                .fault_index = -1,
        };
        return t;
}

static void add_duration(struct cb_boot *b, const char *state, uint64_t usec) {
        for (unsigned i = 0; i < b->n_durations; i++)
                if (strcmp(b->durations[i].state, state) == 0) {
                        b->durations[i].usec += usec;
                        return;
                }
        if (b->n_durations == CB_BOOT_DURATIONS_MAX)
                return;
        struct cb_boot_duration *d = &b->durations[b->n_durations++];
        copy_text(d->state, sizeof d->state, state);
        d->usec = usec;
}

/* The running stretch ends at `offset`: its time counts for its state. */
static void end_stretch(struct cb_boot *b, struct cb_boot_tracked *t, uint64_t offset) {
        if (t->stretch_state[0])
                add_duration(b, t->stretch_state, offset >= t->stretch_since ? offset - t->stretch_since : 0);
        t->stretch_state[0] = '\0';
}

static void add_stage(struct cb_boot *b, struct cb_boot_tracked *t, const char *state, uint64_t offset,
                      unsigned attempt) {
        end_stretch(b, t, offset);
        copy_text(t->stretch_state, sizeof t->stretch_state, state);
        t->stretch_since = offset;
        if (b->n_stages == CB_BOOT_STAGES_MAX) {
                b->stages_dropped++;
                return;
        }
        struct cb_boot_stage *s = &b->stages[b->n_stages++];
        copy_text(s->state, sizeof s->state, state);
        s->offset_usec = offset;
        s->attempt = attempt;
}

static void end_boot(struct cb_boot *b, struct cb_boot_tracked *t, const char *outcome, uint64_t offset) {
        /* the state a boot ends in is where it ended, not a stretch of it */
        if (offset > t->stretch_since)
                end_stretch(b, t, offset);
        t->stretch_state[0] = '\0';
        b->end_usec = b->start_usec + offset;
        copy_text(b->outcome, sizeof b->outcome, outcome);
        t->open_id = 0;
        t->in_fault = false;
        t->fault_index = -1;
}

static uint64_t offset_now(const struct cb_boot_tracked *t, const struct cb_boot_observation *o) {
        return o->now_monotonic > t->started_seen ? o->now_monotonic - t->started_seen : 0;
}

static int open_boot(struct cb_boot_log *log, struct cb_boot_tracked *t, const struct cb_boot_observation *o,
                     struct cb_boot **ret) {
        char port[CB_BOOT_NAME_MAX];
        int r;

        copy_text(port, sizeof port, o->port);
        r = make_room(log, port);
        if (r < 0)
                return r;
        struct cb_boot *b = &log->boots[log->n_boots++];
        uint64_t since = o->now_monotonic > o->boot_started ? o->now_monotonic - o->boot_started : 0;

        *b = (struct cb_boot){
                .id = log->next_id++,
                .start_usec = o->now_realtime > since ? o->now_realtime - since : 0,
        };
        copy_text(b->node, sizeof b->node, o->name);
        memcpy(b->port, port, sizeof port);
        t->open_id = b->id;
        t->started_seen = o->boot_started;
        t->stretch_state[0] = '\0';
        t->in_fault = false;
        t->fault_index = -1;
        /* a fresh boot counts from zero: only what happens from here on is its own */
        t->attempt = o->attempt;
        t->resets = o->resets;
        t->power_cycles = o->power_cycles;
        add_stage(b, t, cb_node_state_name(o->state), offset_now(t, o), o->attempt);
        *ret = b;
        return 0;
}

/* States a node is in because something went wrong. */
static bool in_trouble(enum cb_node_state s) {
        return s == CB_NODE_RETRYING || s == CB_NODE_POWER_CYCLING || s == CB_NODE_NEEDS_POWER || s == CB_NODE_FAILED;
}

static void add_step(struct cb_boot_fault *f, const char *action, uint64_t offset, unsigned attempt) {
        if (f->n_steps == CB_BOOT_RECOVERY_MAX) {
                f->steps_dropped++;
                return;
        }
        struct cb_boot_step *s = &f->steps[f->n_steps++];
        copy_text(s->action, sizeof s->action, action);
        s->offset_usec = offset;
        s->attempt = attempt;
}

/* Faults, and the steps taken for them; returns true if the record changed. */
static bool follow_faults(struct cb_boot *b, struct cb_boot_tracked *t, const struct cb_boot_observation *o,
                          uint64_t offset, bool boot_goes_on) {
        bool changed = false;

        if (in_trouble(o->state)) {
                char reason[CB_BOOT_REASON_MAX];

                copy_text(reason, sizeof reason, o->last_error ? o->last_error : cb_node_state_name(o->state));
                /* the same reason again is the same fault, one rung further up the ladder */
                if (!t->in_fault || strcmp(reason, t->fault_reason) != 0) {
                        if (b->n_faults < CB_BOOT_FAULTS_MAX) {
                                struct cb_boot_fault *f = &b->faults[b->n_faults];
                                *f = (struct cb_boot_fault){ .offset_usec = offset, .attempt = t->attempt };
                                copy_text(f->state, sizeof f->state, cb_node_state_name(t->state));
                                memcpy(f->reason, reason, sizeof reason);
                                t->fault_index = (int) b->n_faults++;
                        } else {
                                b->faults_dropped++;
                                t->fault_index = -1;
                        }
                        t->in_fault = true;
                        memcpy(t->fault_reason, reason, sizeof reason);
                        changed = true;
                }
        }
        if (t->in_fault && t->fault_index >= 0) {
                struct cb_boot_fault *f = &b->faults[t->fault_index];

                if (o->resets > t->resets)
                        add_step(f, CB_BOOT_STEP_RESET, offset, t->attempt), changed = true;
                if (o->power_cycles > t->power_cycles)
                        add_step(f, CB_BOOT_STEP_POWER_CYCLE, offset, t->attempt), changed = true;
                if (o->attempt > t->attempt)
                        add_step(f, CB_BOOT_STEP_ATTEMPT, offset, o->attempt), changed = true;
        }
        if (t->in_fault && !in_trouble(o->state)) {
                if (t->fault_index >= 0 && (boot_goes_on || o->state == CB_NODE_UP))
                        b->faults[t->fault_index].recovered = true;
                t->in_fault = false;
                t->fault_index = -1;
                changed = true;
        }
        return changed;
}

int cb_boot_log_observe(struct cb_boot_log *log, const struct cb_boot_observation *o) {
        struct cb_boot_tracked *t = track(log, o);
        struct cb_boot *b;
        bool changed = false;
        int r;

        if (!t)
                return -ENOMEM;
        b = find_boot(log, t->open_id);
        if (!b)
                t->open_id = 0; /* pushed out by newer boots */

        if (t->up_id && o->state != CB_NODE_UP) {
                struct cb_boot *up = find_boot(log, t->up_id);
                if (up && !up->up_until_usec) {
                        up->up_until_usec = o->now_realtime;
                        changed = true;
                }
                t->up_id = 0;
        }

        /* a boot runs while the node has a start for it, except once it is powered off by request */
        bool booting = o->boot_started != 0 && o->state != CB_NODE_OFF;

        if (booting && o->boot_started != t->started_seen) {
                if (b)
                        end_boot(b, t, CB_BOOT_OUTCOME_INTERRUPTED, offset_now(t, o)); /* a new one took its place */
                r = open_boot(log, t, o, &b);
                if (r < 0)
                        return r;
                changed = true;
        } else if (b && (o->state != t->state || o->attempt != t->attempt)) {
                add_stage(b, t, cb_node_state_name(o->state), offset_now(t, o), o->attempt);
                changed = true;
        }

        if (b) {
                uint64_t offset = offset_now(t, o);

                b->attempts = MAX(b->attempts, o->attempt);
                b->bytes_served = o->bytes_served;
                b->files_served = o->files_served;
                b->step_retries = o->step_retries;
                b->resets = o->resets;
                b->power_cycles = o->power_cycles;
                if (follow_faults(b, t, o, offset, booting))
                        changed = true;
                if (!booting) {
                        end_boot(b, t, cb_node_state_name(o->state), offset);
                        if (o->state == CB_NODE_UP)
                                t->up_id = b->id;
                        changed = true;
                }
        }

        t->state = o->state;
        t->attempt = o->attempt;
        t->resets = o->resets;
        t->power_cycles = o->power_cycles;
        return changed;
}

int cb_boot_log_append(struct cb_boot_log *log, const struct cb_boot *boot) {
        int r = make_room(log, boot->port);

        if (r < 0)
                return r;
        struct cb_boot *b = &log->boots[log->n_boots++];

        *b = *boot;
        b->id = log->next_id++;
        if (!b->end_usec || !b->outcome[0]) {
                /* written while it ran, and the daemon never came back to finish it: it ended where it was last seen */
                uint64_t last = b->n_stages ? b->stages[b->n_stages - 1].offset_usec : 0;
                b->end_usec = MAX(b->end_usec, b->start_usec + last);
                copy_text(b->outcome, sizeof b->outcome, CB_BOOT_OUTCOME_INTERRUPTED);
        }
        return 0;
}

bool cb_boot_log_interrupt_all(struct cb_boot_log *log, uint64_t now_monotonic) {
        bool any = false;

        for (size_t i = 0; i < log->n_tracked; i++) {
                struct cb_boot_tracked *t = &log->tracked[i];
                struct cb_boot *b = find_boot(log, t->open_id);

                t->up_id = 0; /* how long it stays up is not seen any more */
                if (!b)
                        continue;
                end_boot(b, t, CB_BOOT_OUTCOME_INTERRUPTED,
                         now_monotonic > t->started_seen ? now_monotonic - t->started_seen : 0);
                any = true;
        }
        return any;
}
