/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "history-view.h"

#include <string.h>

#include "clusterboot/varlink.h"
#include "format.h"
#include "json-util.h"
#include "table.h"

static uint64_t u64(struct json_object *o, const char *key) {
        return cb_json_u64_or(o, key, 0);
}

static const char *start_text(char *buf, size_t size, struct json_object *boot) {
        return format_timestamp(buf, size, u64(boot, CB_VL_FIELD_START_USEC));
}

static const char *took_text(char *buf, size_t size, struct json_object *boot) {
        uint64_t start = u64(boot, CB_VL_FIELD_START_USEC), end = 0;

        if (cb_json_get_u64(boot, CB_VL_FIELD_END_USEC, &end) <= 0)
                return "running";
        return format_duration(buf, size, end > start ? end - start : 0);
}

static const char *outcome_text(char *buf, size_t size, struct json_object *boot) {
        return cb_json_string_or(boot, CB_VL_FIELD_OUTCOME, "running");
}

static const char *outcome_colour(struct json_object *boot) {
        const char *outcome = cb_json_string_or(boot, CB_VL_FIELD_OUTCOME, NULL);

        if (!outcome)
                return ANSI_BLUE;
        if (strcmp(outcome, "up") == 0)
                return ANSI_GREEN;
        return strcmp(outcome, "interrupted") == 0 ? ANSI_YELLOW : ANSI_RED;
}

static const char *served_text(char *buf, size_t size, struct json_object *boot) {
        char b[32];
        uint64_t files = u64(boot, CB_VL_FIELD_FILES_SERVED);

        snprintf(buf, size, "%llu file%s, %s", (unsigned long long) files, files == 1 ? "" : "s",
                 format_bytes(b, sizeof b, u64(boot, CB_VL_FIELD_BYTES_SERVED)));
        return buf;
}

/* "-", or how many faults and how many the boot got past: "2, 1 recovered". */
static const char *faults_text(char *buf, size_t size, struct json_object *boot) {
        struct json_object *faults = NULL;
        size_t n = 0, recovered = 0;

        if (cb_json_get_array(boot, CB_VL_FIELD_FAULTS, &faults) > 0)
                n = json_object_array_length(faults);
        for (size_t i = 0; i < n; i++)
                recovered += cb_json_bool_or(json_object_array_get_idx(faults, i), CB_VL_FIELD_RECOVERED, false);
        n += u64(boot, CB_VL_FIELD_FAULTS_DROPPED);
        if (n == 0)
                return "-";
        snprintf(buf, size, "%zu, %zu recovered", n, recovered);
        return buf;
}

static const char *faults_colour(struct json_object *boot) {
        struct json_object *faults = NULL;

        return cb_json_get_array(boot, CB_VL_FIELD_FAULTS, &faults) > 0 && json_object_array_length(faults) > 0
                       ? ANSI_YELLOW
                       : NULL;
}

/* Time per state, in the order first entered: "rom 120ms, loading 1.3s, serving 2.1s". */
static const char *stages_text(char *buf, size_t size, struct json_object *boot) {
        struct json_object *durations = NULL;
        size_t at = 0;

        buf[0] = '\0';
        if (cb_json_get_object(boot, CB_VL_FIELD_DURATIONS, &durations) <= 0)
                return "-";
        json_object_object_foreach(durations, state, value) {
                char d[32];
                int64_t usec = json_object_get_int64(value);

                if (at >= size)
                        break;
                at += (size_t) snprintf(buf + at, size - at, "%s%s %s", at ? ", " : "", state,
                                        format_duration(d, sizeof d, usec > 0 ? (uint64_t) usec : 0));
        }
        return buf[0] ? buf : "-";
}

const struct column history_columns[] = {
        { "NODE", { CB_VL_FIELD_NODE }, NULL, NULL, false },
        { "START", { CB_VL_FIELD_START_USEC }, start_text, NULL, false },
        { "TOOK", { CB_VL_FIELD_END_USEC, CB_VL_FIELD_START_USEC }, took_text, NULL, false },
        { "OUTCOME", { CB_VL_FIELD_OUTCOME }, outcome_text, outcome_colour, false },
        { "ATTEMPTS", { CB_VL_FIELD_ATTEMPTS }, NULL, NULL, false },
        { "SERVED", { CB_VL_FIELD_FILES_SERVED, CB_VL_FIELD_BYTES_SERVED }, served_text, NULL, false },
        { "FAULTS", { CB_VL_FIELD_FAULTS, CB_VL_FIELD_FAULTS_DROPPED }, faults_text, faults_colour, false },
        { "STAGES", { CB_VL_FIELD_DURATIONS }, stages_text, NULL, false },
};
const size_t n_history_columns = sizeof history_columns / sizeof history_columns[0];

/* "power-cycle, attempt 2": what was done about one fault. */
static void steps_text(char *buf, size_t size, struct json_object *fault) {
        struct json_object *steps = NULL;
        size_t at = 0, n = 0;

        buf[0] = '\0';
        if (cb_json_get_array(fault, CB_VL_FIELD_STEPS, &steps) > 0)
                n = json_object_array_length(steps);
        for (size_t i = 0; i < n && at < size; i++) {
                struct json_object *s = json_object_array_get_idx(steps, i);
                const char *action = cb_json_string_or(s, CB_VL_FIELD_ACTION, "?");
                char shown[64];

                format_sanitize(shown, sizeof shown, action);
                if (strcmp(action, "attempt") == 0)
                        at += (size_t) snprintf(buf + at, size - at, "%sattempt %llu", at ? ", " : "",
                                                (unsigned long long) u64(s, CB_VL_FIELD_ATTEMPT));
                else
                        at += (size_t) snprintf(buf + at, size - at, "%s%s", at ? ", " : "", shown);
        }
}

/* Each fault on a line of its own: when, where, why, what was done, and whether the boot went on. */
static void print_faults(FILE *f, struct json_object *boots, const struct view_options *o) {
        bool any = false;

        for (size_t i = 0; i < json_object_array_length(boots); i++) {
                struct json_object *boot = json_object_array_get_idx(boots, i), *faults = NULL;
                uint64_t start = u64(boot, CB_VL_FIELD_START_USEC);

                if (cb_json_get_array(boot, CB_VL_FIELD_FAULTS, &faults) <= 0)
                        continue;
                for (size_t j = 0; j < json_object_array_length(faults); j++) {
                        struct json_object *fault = json_object_array_get_idx(faults, j);
                        char node[128], when[32], state[64], reason[512], steps[256];
                        bool recovered = cb_json_bool_or(fault, CB_VL_FIELD_RECOVERED, false);

                        if (!any && o->legend)
                                fprintf(f, "\nFaults:\n");
                        any = true;
                        format_sanitize(node, sizeof node, cb_json_string_or(boot, CB_VL_FIELD_NODE, "?"));
                        format_sanitize(state, sizeof state, cb_json_string_or(fault, CB_VL_FIELD_STATE, "?"));
                        format_sanitize(reason, sizeof reason, cb_json_string_or(fault, CB_VL_FIELD_REASON, "?"));
                        steps_text(steps, sizeof steps, fault);
                        fprintf(f, "  %s %s attempt %llu, %s: %s; %s%s%s%s\n", node,
                                format_time_of_day(when, sizeof when, start + u64(fault, CB_VL_FIELD_OFFSET_USEC)),
                                (unsigned long long) u64(fault, CB_VL_FIELD_ATTEMPT), state, reason,
                                steps[0] ? steps : "", steps[0] ? "; " : "",
                                o->colours ? (recovered ? ANSI_GREEN : ANSI_RED) : "",
                                recovered ? "recovered" : "not recovered");
                        if (o->colours)
                                fputs(ANSI_NORMAL, f);
                }
        }
}

int view_history(FILE *f, struct json_object *history, const struct view_options *o) {
        struct json_object *boots = NULL;
        size_t n;
        int r;

        if (o->json != JSON_OFF) {
                print_json(f, history, o->json);
                return 0;
        }
        (void) cb_json_get_array(history, CB_VL_FIELD_BOOTS, &boots);
        n = boots ? json_object_array_length(boots) : 0;
        if (n == 0) {
                if (o->legend)
                        fprintf(f, "No boots recorded.\n");
                return 0;
        }
        r = rows_print_table(f, boots, history_columns, n_history_columns,
                             &(struct table_print_options){ .colours = o->colours, .header = o->legend, .width = o->width });
        if (r < 0)
                return r;
        print_faults(f, boots, o);
        if (o->legend)
                fprintf(f, "\n%zu boot%s.\n", n, n == 1 ? "" : "s");
        return 0;
}
