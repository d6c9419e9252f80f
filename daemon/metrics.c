/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "metrics-textfile.h"
#include "util.h"

/* After a change, the file is written at most this often: progress would otherwise rewrite it per file served. */
#define WRITE_INTERVAL USEC_PER_SEC

/* Failed attempts of one node in one stage, since the daemon started. */
struct stage_count {
        char *stage;
        uint64_t n;
};

/* What is remembered of a node between its changes. */
struct tracked {
        const struct cb_node *node;
        enum cb_node_state state; /* as last seen */
        struct stage_count *failures;
        size_t n_failures;
};

struct cb_metrics {
        sd_event *event;
        struct cb_metrics_nodes nodes;
        struct tracked *tracked;
        size_t n_tracked;
        struct cb_metrics_textfile *textfile; /* NULL: no MetricsDirectory= */
        sd_event_source *write_timer;
        usec_t last_write;
};

static struct tracked *track(struct cb_metrics *m, const struct cb_node *node) {
        struct tracked *t;

        for (size_t i = 0; i < m->n_tracked; i++)
                if (m->tracked[i].node == node)
                        return &m->tracked[i];
        t = realloc(m->tracked, (m->n_tracked + 1) * sizeof *t);
        if (!t)
                return NULL;
        m->tracked = t;
        t = &m->tracked[m->n_tracked++];
        *t = (struct tracked){ .node = node, .state = cb_node_state(node) };
        return t;
}

static int count_failure(struct tracked *t, const char *stage) {
        struct stage_count *c;

        for (size_t i = 0; i < t->n_failures; i++)
                if (strcmp(t->failures[i].stage, stage) == 0) {
                        t->failures[i].n++;
                        return 0;
                }
        c = realloc(t->failures, (t->n_failures + 1) * sizeof *c);
        if (!c)
                return -ENOMEM;
        t->failures = c;
        c[t->n_failures] = (struct stage_count){ .stage = strdup(stage), .n = 1 };
        if (!c[t->n_failures].stage)
                return -ENOMEM;
        t->n_failures++;
        return 0;
}

static bool is_failure(enum cb_node_state s) {
        return s == CB_NODE_RETRYING || s == CB_NODE_FAILED;
}

/* ---- the text ---- */

/* A label value as the format wants it: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *value) {
        for (const char *p = value; *p; p++) {
                if (*p == '\\' || *p == '"')
                        fputc('\\', f);
                if (*p == '\n') {
                        fputs("\\n", f);
                        continue;
                }
                fputc(*p, f);
        }
}

static void family(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{node="...",port="..."[,extra="..."]} value */
static void sample(FILE *f, const char *name, const struct cb_node *node, const char *extra_label,
                   const char *extra_value, const char *format, ...) __attribute__((format(printf, 6, 7)));
static void sample(FILE *f, const char *name, const struct cb_node *node, const char *extra_label,
                   const char *extra_value, const char *format, ...) {
        va_list ap;

        fprintf(f, "%s{node=\"", name);
        put_label(f, cb_node_name(node));
        fputs("\",port=\"", f);
        put_label(f, cb_node_port(node));
        if (extra_label) {
                fprintf(f, "\",%s=\"", extra_label);
                put_label(f, extra_value);
        }
        fputs("\"} ", f);
        va_start(ap, format);
        vfprintf(f, format, ap);
        va_end(ap);
        fputc('\n', f);
}

/* One family over every node; `put` writes the node's samples. */
static void each_node(struct cb_metrics *m, FILE *f, const char *name, const char *type, const char *help,
                      void (*put)(struct cb_metrics *m, FILE *f, const char *name, const struct cb_node *node,
                                  const struct cb_node_status *st)) {
        size_t n = m->nodes.n_nodes(m->nodes.userdata);

        family(f, name, type, help);
        for (size_t i = 0; i < n; i++) {
                const struct cb_node *node = m->nodes.node(m->nodes.userdata, i);
                struct cb_node_status st;

                if (!node)
                        continue;
                cb_node_get_status(node, &st);
                put(m, f, name, node, &st);
        }
}

static void put_state(struct cb_metrics *m, FILE *f, const char *name, const struct cb_node *node,
                      const struct cb_node_status *st) {
        sample(f, name, node, "state", cb_node_state_name(st->state), "1");
}
static void put_up(struct cb_metrics *m, FILE *f, const char *name, const struct cb_node *node,
                   const struct cb_node_status *st) {
        sample(f, name, node, NULL, NULL, "%d", st->state == CB_NODE_UP);
}
static void put_boots(struct cb_metrics *m, FILE *f, const char *name, const struct cb_node *node,
                      const struct cb_node_status *st) {
        sample(f, name, node, NULL, NULL, "%u", st->boots);
}
static void put_failures(struct cb_metrics *m, FILE *f, const char *name, const struct cb_node *node,
                         const struct cb_node_status *st) {
        const struct tracked *t = NULL;

        for (size_t i = 0; i < m->n_tracked && !t; i++)
                if (m->tracked[i].node == node)
                        t = &m->tracked[i];
        for (size_t i = 0; t && i < t->n_failures; i++)
                sample(f, name, node, "stage", t->failures[i].stage, "%llu", (unsigned long long) t->failures[i].n);
}
static void put_attempt(struct cb_metrics *m, FILE *f, const char *name, const struct cb_node *node,
                        const struct cb_node_status *st) {
        sample(f, name, node, NULL, NULL, "%u", st->attempt);
}
static void put_step_retries(struct cb_metrics *m, FILE *f, const char *name, const struct cb_node *node,
                             const struct cb_node_status *st) {
        sample(f, name, node, NULL, NULL, "%u", st->step_retries);
}
static void put_resets(struct cb_metrics *m, FILE *f, const char *name, const struct cb_node *node,
                       const struct cb_node_status *st) {
        sample(f, name, node, NULL, NULL, "%u", st->resets);
}
static void put_power_cycles(struct cb_metrics *m, FILE *f, const char *name, const struct cb_node *node,
                             const struct cb_node_status *st) {
        sample(f, name, node, NULL, NULL, "%u", st->power_cycles);
}
static void put_bytes(struct cb_metrics *m, FILE *f, const char *name, const struct cb_node *node,
                      const struct cb_node_status *st) {
        sample(f, name, node, NULL, NULL, "%llu", (unsigned long long) st->bytes_served);
}
static void put_last_boot(struct cb_metrics *m, FILE *f, const char *name, const struct cb_node *node,
                          const struct cb_node_status *st) {
        if (st->last_boot_duration_usec > 0)
                sample(f, name, node, NULL, NULL, "%.6f", (double) st->last_boot_duration_usec / (double) USEC_PER_SEC);
}

int cb_metrics_format(struct cb_metrics *m, char **ret) {
        char *data = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&data, &size);

        if (!f)
                return -ENOMEM;
        each_node(m, f, "clusterboot_node_state", "gauge", "The node's state (1 for the state it is in).", put_state);
        each_node(m, f, "clusterboot_node_up", "gauge", "1 if the node is up.", put_up);
        each_node(m, f, "clusterboot_node_boots_total", "counter", "Successful boots since the daemon started.",
                  put_boots);
        each_node(m, f, "clusterboot_node_failed_attempts_total", "counter",
                  "Failed boot attempts since the daemon started, by the state the attempt failed in.", put_failures);
        each_node(m, f, "clusterboot_node_attempt", "gauge", "The current boot attempt (0: none yet).", put_attempt);
        each_node(m, f, "clusterboot_node_step_retries", "gauge", "Step retries in the current boot.",
                  put_step_retries);
        each_node(m, f, "clusterboot_node_resets", "gauge", "Device resets in the current boot.", put_resets);
        each_node(m, f, "clusterboot_node_power_cycles", "gauge", "Power cycles by recovery in the current boot.",
                  put_power_cycles);
        each_node(m, f, "clusterboot_node_bytes_served", "gauge", "Bytes served in the current boot.", put_bytes);
        each_node(m, f, "clusterboot_node_last_boot_duration_seconds", "gauge",
                  "How long the last successful boot took, first ROM request to up.", put_last_boot);
        if (fclose(f) != 0) {
                free(data);
                return -ENOMEM;
        }
        *ret = data;
        return 0;
}

/* ---- the textfile ---- */

static void write_now(struct cb_metrics *m) {
        char *text = NULL;

        if (!m->textfile)
                return;
        m->last_write = now_usec();
        if (cb_metrics_format(m, &text) < 0) {
                log_warning("metrics: out of memory; %s not updated", CB_METRICS_FILE);
                return;
        }
        cb_metrics_textfile_write(m->textfile, text); /* takes it */
}

static int on_write_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        write_now(userdata);
        return 0;
}

/* Soon, but not more than once per WRITE_INTERVAL: the first change is written at once. */
static void schedule_write(struct cb_metrics *m) {
        usec_t now = now_usec(), when = m->last_write + WRITE_INTERVAL;
        int r;

        if (!m->textfile)
                return;
        if (m->write_timer) {
                int enabled = SD_EVENT_OFF;
                if (sd_event_source_get_enabled(m->write_timer, &enabled) >= 0 && enabled != SD_EVENT_OFF)
                        return; /* already due */
        }
        if (m->last_write == 0 || when <= now) {
                write_now(m);
                return;
        }
        if (!m->write_timer)
                r = sd_event_add_time(m->event, &m->write_timer, CLOCK_MONOTONIC, when, USEC_PER_MSEC * 10,
                                      on_write_timer, m);
        else
                r = sd_event_source_set_time(m->write_timer, when);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->write_timer, SD_EVENT_ONESHOT);
        if (r < 0)
                write_now(m); /* no timer: better too often than stale */
}

void cb_metrics_node_changed(struct cb_metrics *m, struct cb_node *node) {
        struct tracked *t;
        enum cb_node_state now;

        if (!m)
                return;
        t = track(m, node);
        if (t) {
                now = cb_node_state(node);
                /* a failed attempt is the step into retrying or failed from a state of the attempt itself */
                if (is_failure(now) && !is_failure(t->state) && now != t->state &&
                    count_failure(t, cb_node_state_name(t->state)) < 0)
                        log_warning("metrics: out of memory; a failed attempt of %s is not counted", cb_node_name(node));
                t->state = now;
        }
        schedule_write(m);
}

int cb_metrics_set_directory(struct cb_metrics *m, const char *directory) {
        const char *old = m->textfile ? cb_metrics_textfile_directory(m->textfile) : NULL;
        int r;

        if (streq_ptr(old, directory))
                return 0;
        m->textfile = cb_metrics_textfile_free(m->textfile);
        if (!directory)
                return 0;
        r = cb_metrics_textfile_new(directory, &m->textfile);
        if (r < 0)
                return r;
        m->last_write = 0;
        schedule_write(m);
        return 0;
}

int cb_metrics_new(sd_event *event, const struct cb_metrics_nodes *nodes, const char *directory,
                   struct cb_metrics **ret) {
        struct cb_metrics *m = calloc(1, sizeof *m);
        int r;

        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        m->nodes = *nodes;
        r = cb_metrics_set_directory(m, directory);
        if (r < 0) {
                cb_metrics_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

struct cb_metrics *cb_metrics_free(struct cb_metrics *m) {
        if (!m)
                return NULL;
        /* the last word goes out before the writer stops */
        if (m->textfile && m->write_timer) {
                int enabled = SD_EVENT_OFF;
                if (sd_event_source_get_enabled(m->write_timer, &enabled) >= 0 && enabled != SD_EVENT_OFF)
                        write_now(m);
        }
        sd_event_source_disable_unref(m->write_timer);
        cb_metrics_textfile_free(m->textfile);
        for (size_t i = 0; i < m->n_tracked; i++) {
                for (size_t k = 0; k < m->tracked[i].n_failures; k++)
                        free(m->tracked[i].failures[k].stage);
                free(m->tracked[i].failures);
        }
        free(m->tracked);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}
