/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "timeline.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clusterboot/varlink.h"
#include "format.h"
#include "json-util.h"
#include "order.h"

#define USEC_PER_SEC_ 1000000ULL

/* The page, in SVG user units (pixels). */
#define WIDTH 1100
#define LEFT 170      /* node names and boot start times */
#define RIGHT 190     /* each boot's outcome */
#define PLOT (WIDTH - LEFT - RIGHT)
#define TOP 78        /* title, summary, legend */
#define NODE_GAP 22   /* a node's name line */
#define LANE 24       /* one boot */
#define BAR 12
#define AXIS 40

static uint64_t u64(struct json_object *o, const char *key) {
        return cb_json_u64_or(o, key, 0);
}

/* Text for XML: markup characters escaped; control characters (not allowed in XML 1.0) shown as '?'. */
static void put_text(FILE *f, const char *s) {
        char clean[1024];

        format_sanitize(clean, sizeof clean, s ? s : "");
        for (const char *p = clean; *p; p++)
                switch (*p) {
                case '&': fputs("&amp;", f); break;
                case '<': fputs("&lt;", f); break;
                case '>': fputs("&gt;", f); break;
                case '"': fputs("&quot;", f); break;
                case '\'': fputs("&apos;", f); break;
                default: fputc(*p, f);
                }
}

static const char *stage_colour(const char *state) {
        static const struct {
                const char *state, *colour;
        } colours[] = {
                { "rom", "#4e79a7" },         { "loading", "#a0cbe8" },     { "serving", "#59a14f" },
                { "booted", "#8cd17d" },      { "up", "#2f7d32" },          { "retrying", "#f1ce63" },
                { "power-cycling", "#f28e2b" }, { "rebooting", "#ffbe7d" }, { "needs-power", "#e15759" },
                { "failed", "#9c2222" },      { "absent", "#bab0ac" },      { "off", "#79706e" },
        };

        for (size_t i = 0; state && i < sizeof colours / sizeof colours[0]; i++)
                if (strcmp(colours[i].state, state) == 0)
                        return colours[i].colour;
        return "#d0d0d0"; /* a state this tool does not know yet: drawn, plainly */
}

static const char *outcome_colour(const char *outcome) {
        if (!outcome)
                return "#4e79a7";
        if (strcmp(outcome, "up") == 0)
                return "#2f7d32";
        return strcmp(outcome, "interrupted") == 0 ? "#b07a00" : "#c62828";
}

struct boot_ref {
        struct json_object *boot;
        const char *node;
        uint64_t start;
};

static int compare_refs(const void *a, const void *b) {
        const struct boot_ref *x = a, *y = b;
        int c = natural_compare(x->node, y->node);

        if (c != 0)
                return c;
        return x->start < y->start ? -1 : x->start > y->start;
}

static uint64_t boot_end(struct json_object *boot, const struct timeline_options *o) {
        uint64_t end = 0, start = u64(boot, CB_VL_FIELD_START_USEC);

        if (cb_json_get_u64(boot, CB_VL_FIELD_END_USEC, &end) <= 0) {
                struct json_object *stages = NULL;
                size_t n = cb_json_get_array(boot, CB_VL_FIELD_STAGES, &stages) > 0 ? json_object_array_length(stages) : 0;

                /* still running: up to now, or (a saved history, now_usec 0) to the last moment known of it */
                end = o->now_usec ? o->now_usec
                                  : start + (n ? u64(json_object_array_get_idx(stages, n - 1), CB_VL_FIELD_OFFSET_USEC) : 0);
        }
        return end > start ? end : start;
}

/* A round step for the axis: 1, 2 or 5 times a power of ten microseconds, at most ten steps to `span`. */
static uint64_t axis_step(uint64_t span) {
        uint64_t step = 1000; /* 1 ms */

        for (;;) {
                for (int m = 1; m <= 5; m = m == 1 ? 2 : m + 3)
                        if (span / (step * (uint64_t) m) <= 10)
                                return step * (uint64_t) m;
                step *= 10;
        }
}

static double x_of(uint64_t offset, uint64_t axis_max) {
        return LEFT + (double) PLOT * (double) offset / (double) axis_max;
}

static void legend(FILE *f) {
        static const char *const states[] = { "rom", "loading", "serving", "booted", "retrying",
                                              "power-cycling", "rebooting", "needs-power", "failed" };
        double x = LEFT;

        for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
                fprintf(f, "<rect x=\"%.1f\" y=\"52\" width=\"12\" height=\"10\" fill=\"%s\"/>", x, stage_colour(states[i]));
                fprintf(f, "<text x=\"%.1f\" y=\"61\">%s</text>\n", x + 15, states[i]);
                x += 22 + 6.2 * (double) strlen(states[i]);
        }
        fprintf(f, "<path d=\"M%.1f 52 l8 0 l-4 9 z\" fill=\"#c62828\"/><text x=\"%.1f\" y=\"61\">fault</text>", x, x + 11);
        x += 48;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"57\" r=\"4\" fill=\"#ff7f0e\" stroke=\"#000\" stroke-width=\"0.5\"/>"
                   "<text x=\"%.1f\" y=\"61\">reset</text>", x + 4, x + 11);
        x += 48;
        fprintf(f, "<path d=\"M%.1f 57 l4 -5 l4 5 l-4 5 z\" fill=\"#7b1fa2\"/><text x=\"%.1f\" y=\"61\">power cycle</text>",
                x, x + 11);
        x += 84;
        fprintf(f, "<line x1=\"%.1f\" y1=\"51\" x2=\"%.1f\" y2=\"63\" stroke=\"#000\" stroke-width=\"1.5\"/>"
                   "<text x=\"%.1f\" y=\"61\">next attempt</text>\n", x, x, x + 4);
}

static void axis(FILE *f, double y_top, double y_bottom, uint64_t axis_max, uint64_t step) {
        char label[32];

        fprintf(f, "<g class=\"axis\" data-axis-max-usec=\"%llu\">\n", (unsigned long long) axis_max);
        for (uint64_t t = 0; t <= axis_max; t += step) {
                double x = x_of(t, axis_max);
                fprintf(f, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#ddd\" stroke-width=\"1\"/>", x,
                        y_top, x, y_bottom);
                fprintf(f, "<text x=\"%.2f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, y_bottom + 14,
                        t == 0 ? "0" : format_duration(label, sizeof label, t));
        }
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#444\" stroke-width=\"1\"/>", LEFT,
                y_bottom, LEFT + PLOT, y_bottom);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">time since the boot started</text>\n",
                LEFT + PLOT / 2, y_bottom + 30);
        fprintf(f, "</g>\n");
}

/* One boot's lane: its bars, its marks, its outcome. */
static void lane(FILE *f, struct json_object *boot, double y, uint64_t axis_max, const struct timeline_options *o) {
        uint64_t start = u64(boot, CB_VL_FIELD_START_USEC), end = boot_end(boot, o), length = end - start;
        struct json_object *stages = NULL, *faults = NULL;
        const char *outcome = cb_json_string_or(boot, CB_VL_FIELD_OUTCOME, NULL);
        double bar_y = y + (LANE - BAR) / 2.0;
        char when[32], d[32];
        uint64_t previous_attempt = 0;
        size_t n = 0;

        fprintf(f, "<g class=\"boot\" data-start-usec=\"%llu\" data-end-usec=\"%llu\" data-outcome=\"",
                (unsigned long long) start, (unsigned long long) end);
        put_text(f, outcome ? outcome : "running");
        fprintf(f, "\" data-attempts=\"%llu\">\n", (unsigned long long) u64(boot, CB_VL_FIELD_ATTEMPTS));
        format_timestamp(when, sizeof when, start);
        fprintf(f, "<text class=\"boot-start\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">%s</text>\n",
                LEFT - 6, y + 14, when);

        if (cb_json_get_array(boot, CB_VL_FIELD_STAGES, &stages) > 0)
                n = json_object_array_length(stages);
        for (size_t i = 0; i < n; i++) {
                struct json_object *s = json_object_array_get_idx(stages, i);
                const char *state = cb_json_string_or(s, CB_VL_FIELD_STATE, "?");
                uint64_t from = u64(s, CB_VL_FIELD_OFFSET_USEC), attempt = u64(s, CB_VL_FIELD_ATTEMPT);
                uint64_t to = i + 1 < n ? u64(json_object_array_get_idx(stages, i + 1), CB_VL_FIELD_OFFSET_USEC) : length;

                from = from < length ? from : length;
                to = to < from ? from : to < length ? to : length;
                fprintf(f,
                        "<rect class=\"stage\" data-state=\"");
                put_text(f, state);
                fprintf(f, "\" data-attempt=\"%llu\" data-offset-usec=\"%llu\" data-usec=\"%llu\" x=\"%.3f\" y=\"%.1f\" "
                           "width=\"%.3f\" height=\"%d\" fill=\"%s\"><title>",
                        (unsigned long long) attempt, (unsigned long long) from, (unsigned long long) (to - from),
                        x_of(from, axis_max), bar_y, x_of(to, axis_max) - x_of(from, axis_max), BAR, stage_colour(state));
                put_text(f, state);
                fprintf(f, ", attempt %llu: %s</title></rect>\n", (unsigned long long) attempt,
                        format_duration(d, sizeof d, to - from));
                if (previous_attempt && attempt > previous_attempt)
                        fprintf(f,
                                "<line class=\"attempt\" data-attempt=\"%llu\" data-offset-usec=\"%llu\" x1=\"%.3f\" "
                                "y1=\"%.1f\" x2=\"%.3f\" y2=\"%.1f\" stroke=\"#000\" stroke-width=\"1.5\"><title>attempt "
                                "%llu starts</title></line>\n",
                                (unsigned long long) attempt, (unsigned long long) from, x_of(from, axis_max), y + 1,
                                x_of(from, axis_max), y + LANE - 1, (unsigned long long) attempt);
                previous_attempt = attempt;
        }

        n = 0;
        if (cb_json_get_array(boot, CB_VL_FIELD_FAULTS, &faults) > 0)
                n = json_object_array_length(faults);
        for (size_t i = 0; i < n; i++) {
                struct json_object *fault = json_object_array_get_idx(faults, i), *steps = NULL;
                uint64_t at = u64(fault, CB_VL_FIELD_OFFSET_USEC);
                bool recovered = cb_json_bool_or(fault, CB_VL_FIELD_RECOVERED, false);
                double x = x_of(at < length ? at : length, axis_max);

                fprintf(f, "<path class=\"fault\" data-attempt=\"%llu\" data-state=\"",
                        (unsigned long long) u64(fault, CB_VL_FIELD_ATTEMPT));
                put_text(f, cb_json_string_or(fault, CB_VL_FIELD_STATE, "?"));
                fprintf(f, "\" data-offset-usec=\"%llu\" data-recovered=\"%s\" d=\"M%.2f %.1f l-4.5 -7 l9 0 z\" "
                           "fill=\"#c62828\" stroke=\"#fff\" stroke-width=\"0.5\"><title>attempt %llu, ",
                        (unsigned long long) at, recovered ? "true" : "false", x, bar_y + 3,
                        (unsigned long long) u64(fault, CB_VL_FIELD_ATTEMPT));
                put_text(f, cb_json_string_or(fault, CB_VL_FIELD_STATE, "?"));
                fputs(": ", f);
                put_text(f, cb_json_string_or(fault, CB_VL_FIELD_REASON, "?"));
                fprintf(f, "%s</title></path>\n", recovered ? " (recovered)" : " (not recovered)");

                size_t n_steps = cb_json_get_array(fault, CB_VL_FIELD_STEPS, &steps) > 0 ? json_object_array_length(steps) : 0;
                for (size_t j = 0; j < n_steps; j++) {
                        struct json_object *step = json_object_array_get_idx(steps, j);
                        const char *action = cb_json_string_or(step, CB_VL_FIELD_ACTION, "");
                        uint64_t sat = u64(step, CB_VL_FIELD_OFFSET_USEC);
                        double sx = x_of(sat < length ? sat : length, axis_max);

                        if (strcmp(action, "reset") == 0)
                                fprintf(f,
                                        "<circle class=\"reset\" data-offset-usec=\"%llu\" cx=\"%.2f\" cy=\"%.1f\" r=\"4\" "
                                        "fill=\"#ff7f0e\" stroke=\"#000\" stroke-width=\"0.5\"><title>USB reset</title></circle>\n",
                                        (unsigned long long) sat, sx, bar_y + BAR + 2);
                        else if (strcmp(action, "power-cycle") == 0)
                                fprintf(f,
                                        "<path class=\"power-cycle\" data-offset-usec=\"%llu\" d=\"M%.2f %.1f l4 -5 l4 5 "
                                        "l-4 5 z\" fill=\"#7b1fa2\"><title>power cycle</title></path>\n",
                                        (unsigned long long) sat, sx - 4, bar_y + BAR + 2);
                        /* "attempt" steps are the attempt lines already */
                }
        }

        char took[32];
        fprintf(f, "<text class=\"outcome\" x=\"%d\" y=\"%.1f\" fill=\"%s\">", LEFT + PLOT + 8, y + 14,
                outcome_colour(outcome));
        put_text(f, outcome ? outcome : "running");
        fprintf(f, ", %llu attempt%s, %s</text>\n</g>\n", (unsigned long long) u64(boot, CB_VL_FIELD_ATTEMPTS),
                u64(boot, CB_VL_FIELD_ATTEMPTS) == 1 ? "" : "s", format_duration(took, sizeof took, length));
}

int timeline_svg(FILE *f, struct json_object *history, const struct timeline_options *o) {
        struct json_object *boots = NULL;
        size_t n = 0, n_refs = 0, n_nodes = 0;
        uint64_t span = 0, first = UINT64_MAX, last = 0;
        struct boot_ref *refs;

        if (cb_json_get_array(history, CB_VL_FIELD_BOOTS, &boots) > 0)
                n = json_object_array_length(boots);
        refs = calloc(n ? n : 1, sizeof *refs);
        if (!refs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                struct json_object *b = json_object_array_get_idx(boots, i);
                uint64_t start = u64(b, CB_VL_FIELD_START_USEC);

                if (!json_object_is_type(b, json_type_object) || start < o->since_usec)
                        continue;
                refs[n_refs++] = (struct boot_ref){ b, cb_json_string_or(b, CB_VL_FIELD_NODE, "?"), start };
        }
        qsort(refs, n_refs, sizeof *refs, compare_refs);
        if (o->last > 0) {
                /* each node's newest N: drop the older ones of each run of the same node */
                size_t kept = 0;
                for (size_t i = 0; i < n_refs;) {
                        size_t j = i;
                        while (j < n_refs && strcmp(refs[j].node, refs[i].node) == 0)
                                j++;
                        for (size_t k = j - (j - i > o->last ? o->last : j - i); k < j; k++)
                                refs[kept++] = refs[k];
                        i = j;
                }
                n_refs = kept;
        }
        for (size_t i = 0; i < n_refs; i++) {
                uint64_t length = boot_end(refs[i].boot, o) - refs[i].start;
                span = length > span ? length : span;
                first = refs[i].start < first ? refs[i].start : first;
                last = boot_end(refs[i].boot, o) > last ? boot_end(refs[i].boot, o) : last;
                n_nodes += i == 0 || strcmp(refs[i].node, refs[i - 1].node) != 0;
        }
        uint64_t step = axis_step(span ? span : USEC_PER_SEC_);
        uint64_t axis_max = ((span ? span : USEC_PER_SEC_) + step - 1) / step * step;
        double height = TOP + (double) n_nodes * NODE_GAP + (double) n_refs * LANE + AXIS + 10;
        char from[32], to[32];

        fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" "
                   "font-family=\"DejaVu Sans, Verdana, sans-serif\" font-size=\"11\" data-boots=\"%zu\" data-nodes=\"%zu\">\n",
                WIDTH, height, WIDTH, height, n_refs, n_nodes);
        fprintf(f, "<title>clusterboot: %zu boot%s of %zu node%s</title>\n", n_refs, n_refs == 1 ? "" : "s", n_nodes,
                n_nodes == 1 ? "" : "s");
        fprintf(f, "<rect width=\"%d\" height=\"%.0f\" fill=\"#fff\"/>\n", WIDTH, height);
        fprintf(f, "<text x=\"12\" y=\"22\" font-size=\"15\" font-weight=\"bold\">clusterboot: boot timeline</text>\n");
        if (n_refs > 0)
                fprintf(f, "<text x=\"12\" y=\"40\" fill=\"#555\">%zu boot%s of %zu node%s, %s to %s; each lane a boot, "
                           "from its start</text>\n",
                        n_refs, n_refs == 1 ? "" : "s", n_nodes, n_nodes == 1 ? "" : "s",
                        format_timestamp(from, sizeof from, first), format_timestamp(to, sizeof to, last));
        else
                fprintf(f, "<text x=\"12\" y=\"40\" fill=\"#555\">no boots recorded</text>\n");
        legend(f);

        double y = TOP;
        for (size_t i = 0; i < n_refs; i++) {
                if (i == 0 || strcmp(refs[i].node, refs[i - 1].node) != 0) {
                        if (i > 0)
                                fprintf(f, "</g>\n");
                        fprintf(f, "<g class=\"node\" data-node=\"");
                        put_text(f, refs[i].node);
                        fprintf(f, "\">\n<line x1=\"12\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>", y + 2,
                                WIDTH - 12, y + 2);
                        fprintf(f, "<text class=\"node-name\" x=\"12\" y=\"%.1f\" font-weight=\"bold\">", y + 16);
                        put_text(f, refs[i].node);
                        fprintf(f, "</text>\n");
                        y += NODE_GAP;
                }
                lane(f, refs[i].boot, y, axis_max, o);
                y += LANE;
        }
        if (n_refs > 0)
                fprintf(f, "</g>\n");
        axis(f, TOP, y + 4, axis_max, step);
        fprintf(f, "</svg>\n");
        free(refs);
        return (int) n_refs;
}

int timeline_parse_since(const char *text, uint64_t now, uint64_t *ret) {
        static const char *const formats[] = { "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S",
                                               "%Y-%m-%d", "%H:%M:%S", "%H:%M" };
        uint64_t ago;

        if (!text || !text[0])
                return -EINVAL;
        if (text[0] == '@') {
                char *end;
                unsigned long long s = strtoull(text + 1, &end, 10);
                if (!text[1] || *end || s > UINT64_MAX / USEC_PER_SEC_)
                        return -EINVAL;
                *ret = s * USEC_PER_SEC_;
                return 0;
        }
        for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
                struct tm tm = { 0 };
                time_t t = (time_t) (now / USEC_PER_SEC_);
                const char *end;

                if (!strchr(formats[i], 'Y')) {
                        /* a time of day: today's */
                        if (!localtime_r(&t, &tm))
                                return -EINVAL;
                        tm.tm_sec = 0;
                }
                end = strptime(text, formats[i], &tm);
                if (!end || *end)
                        continue;
                tm.tm_isdst = -1;
                t = mktime(&tm);
                if (t < 0)
                        return -EINVAL;
                *ret = (uint64_t) t * USEC_PER_SEC_;
                return 0;
        }
        if (parse_duration(text, &ago) == 0) {
                *ret = ago < now ? now - ago : 0;
                return 0;
        }
        return -EINVAL;
}
