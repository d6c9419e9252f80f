/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "boot-history-json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clusterboot/varlink.h"
#include "json-util.h"
#include "util.h"

static int add_stages(struct json_object *o, const struct cb_boot *b) {
        struct json_object *a = json_object_new_array();

        if (!a)
                return -ENOMEM;
        for (unsigned i = 0; i < b->n_stages; i++) {
                struct json_object *s = json_object_new_object();
                if (!s || json_object_array_add(a, s) < 0) {
                        json_object_put(s);
                        json_object_put(a);
                        return -ENOMEM;
                }
                if (cb_json_add_string(s, CB_VL_FIELD_STATE, b->stages[i].state) < 0 ||
                    cb_json_add_u64(s, CB_VL_FIELD_OFFSET_USEC, b->stages[i].offset_usec) < 0 ||
                    cb_json_add_u64(s, CB_VL_FIELD_ATTEMPT, b->stages[i].attempt) < 0) {
                        json_object_put(a);
                        return -ENOMEM;
                }
        }
        return cb_json_add(o, CB_VL_FIELD_STAGES, a);
}

static int add_steps(struct json_object *o, const struct cb_boot_fault *f) {
        struct json_object *a = json_object_new_array();

        if (!a)
                return -ENOMEM;
        for (unsigned i = 0; i < f->n_steps; i++) {
                struct json_object *s = json_object_new_object();
                if (!s || json_object_array_add(a, s) < 0) {
                        json_object_put(s);
                        json_object_put(a);
                        return -ENOMEM;
                }
                if (cb_json_add_string(s, CB_VL_FIELD_ACTION, f->steps[i].action) < 0 ||
                    cb_json_add_u64(s, CB_VL_FIELD_OFFSET_USEC, f->steps[i].offset_usec) < 0 ||
                    cb_json_add_u64(s, CB_VL_FIELD_ATTEMPT, f->steps[i].attempt) < 0) {
                        json_object_put(a);
                        return -ENOMEM;
                }
        }
        return cb_json_add(o, CB_VL_FIELD_STEPS, a);
}

static int add_faults(struct json_object *o, const struct cb_boot *b) {
        struct json_object *a = json_object_new_array();

        if (!a)
                return -ENOMEM;
        for (unsigned i = 0; i < b->n_faults; i++) {
                const struct cb_boot_fault *f = &b->faults[i];
                struct json_object *fo = json_object_new_object();
                if (!fo || json_object_array_add(a, fo) < 0) {
                        json_object_put(fo);
                        json_object_put(a);
                        return -ENOMEM;
                }
                if (cb_json_add_u64(fo, CB_VL_FIELD_OFFSET_USEC, f->offset_usec) < 0 ||
                    cb_json_add_u64(fo, CB_VL_FIELD_ATTEMPT, f->attempt) < 0 ||
                    cb_json_add_string(fo, CB_VL_FIELD_STATE, f->state) < 0 ||
                    cb_json_add_string(fo, CB_VL_FIELD_REASON, f->reason) < 0 || add_steps(fo, f) < 0 ||
                    cb_json_add_u64(fo, CB_VL_FIELD_STEPS_DROPPED, f->steps_dropped) < 0 ||
                    cb_json_add_bool(fo, CB_VL_FIELD_RECOVERED, f->recovered) < 0) {
                        json_object_put(a);
                        return -ENOMEM;
                }
        }
        return cb_json_add(o, CB_VL_FIELD_FAULTS, a);
}

static int add_durations(struct json_object *o, const struct cb_boot *b) {
        struct json_object *d = json_object_new_object();

        if (!d)
                return -ENOMEM;
        for (unsigned i = 0; i < b->n_durations; i++)
                if (cb_json_add_u64(d, b->durations[i].state, b->durations[i].usec) < 0) {
                        json_object_put(d);
                        return -ENOMEM;
                }
        return cb_json_add(o, CB_VL_FIELD_DURATIONS, d);
}

int cb_boot_to_json(const struct cb_boot *b, struct json_object **ret) {
        _cleanup_json_ struct json_object *o = json_object_new_object();

        if (!o)
                return -ENOMEM;
        if (cb_json_add_string(o, CB_VL_FIELD_NODE, b->node) < 0 || cb_json_add_string(o, CB_VL_FIELD_PORT, b->port) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_START_USEC, b->start_usec) < 0 ||
            cb_json_add_u64_or_null(o, CB_VL_FIELD_END_USEC, b->end_usec != 0, b->end_usec) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_OUTCOME, b->outcome[0] ? b->outcome : NULL) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_ATTEMPTS, b->attempts) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_BYTES_SERVED, b->bytes_served) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_FILES_SERVED, b->files_served) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_STEP_RETRIES, b->step_retries) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_RESETS, b->resets) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_POWER_CYCLES, b->power_cycles) < 0 ||
            cb_json_add_u64_or_null(o, CB_VL_FIELD_UP_UNTIL_USEC, b->up_until_usec != 0, b->up_until_usec) < 0 ||
            add_stages(o, b) < 0 || cb_json_add_u64(o, CB_VL_FIELD_STAGES_DROPPED, b->stages_dropped) < 0 ||
            add_durations(o, b) < 0 || add_faults(o, b) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_FAULTS_DROPPED, b->faults_dropped) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int cb_boot_log_json(const struct cb_boot_log *log, const char *name_or_port, size_t budget, struct json_object **ret,
                     size_t *ret_left_out) {
        size_t n = cb_boot_log_count(log), taken = 0, used = 2 /* [] */, left_out = 0;
        _cleanup_free_ struct json_object **newest_first = calloc(n ? n : 1, sizeof *newest_first);
        _cleanup_json_ struct json_object *a = json_object_new_array();
        int r = 0;

        if (!newest_first || !a)
                return -ENOMEM;
        for (size_t i = n; i > 0; i--) {
                const struct cb_boot *b = cb_boot_log_at(log, i - 1);
                struct json_object *o = NULL;
                size_t length = 0;

                if (name_or_port && !cb_boot_matches(b, name_or_port))
                        continue;
                if (used >= budget) {
                        left_out++;
                        continue;
                }
                r = cb_boot_to_json(b, &o);
                if (r < 0)
                        break;
                if (!json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                                       &length)) {
                        json_object_put(o);
                        r = -ENOMEM;
                        break;
                }
                if (used + length + 1 > budget) {
                        json_object_put(o);
                        used = budget; /* the older ones go too: the listing has no holes */
                        left_out++;
                        continue;
                }
                used += length + 1;
                newest_first[taken++] = o;
        }
        for (size_t i = taken; i > 0 && r >= 0; i--) {
                if (json_object_array_add(a, newest_first[i - 1]) < 0)
                        r = -ENOMEM;
                else
                        newest_first[i - 1] = NULL;
        }
        for (size_t i = 0; i < taken; i++)
                json_object_put(newest_first[i]);
        if (r < 0)
                return r;
        if (ret_left_out)
                *ret_left_out = left_out;
        *ret = TAKE_PTR(a);
        return 0;
}

/* ---- reading back ---- */

#define BAD(why)                       \
        do {                           \
                *ret_reason = (why);   \
                return -EBADMSG;       \
        } while (0)

/* A string field that fits (with its NUL) in `size`; `required`: present and not empty. Absent or null: "". */
static int get_text(struct json_object *o, const char *key, char *dst, size_t size, bool required) {
        const char *s = NULL;
        int r = cb_json_get_string(o, key, &s);

        if (r < 0 || (r == 0 && required))
                return -EBADMSG;
        if (r == 0) {
                dst[0] = '\0';
                return 0;
        }
        if (strlen(s) >= size || (required && !s[0]))
                return -EBADMSG;
        memcpy(dst, s, strlen(s) + 1);
        return 0;
}

static int get_number(struct json_object *o, const char *key, uint64_t *ret, bool required) {
        int r = cb_json_get_u64(o, key, ret);

        if (r < 0 || (r == 0 && required))
                return -EBADMSG;
        if (r == 0)
                *ret = 0;
        return 0;
}

static int get_unsigned(struct json_object *o, const char *key, unsigned *ret) {
        uint64_t v;

        if (get_number(o, key, &v, true) < 0 || v > UINT32_MAX)
                return -EBADMSG;
        *ret = (unsigned) v;
        return 0;
}

/* The array under `key`, with at most `max` elements, each an object. */
static int get_list(struct json_object *o, const char *key, size_t max, struct json_object **ret, size_t *ret_n) {
        struct json_object *a = NULL;

        if (cb_json_get_array(o, key, &a) <= 0)
                return -EBADMSG;
        size_t n = json_object_array_length(a);
        if (n > max)
                return -E2BIG;
        for (size_t i = 0; i < n; i++)
                if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_object))
                        return -EBADMSG;
        *ret = a;
        *ret_n = n;
        return 0;
}

static int steps_from_json(struct json_object *fo, struct cb_boot_fault *f, const char **ret_reason) {
        struct json_object *a;
        size_t n;
        int r = get_list(fo, CB_VL_FIELD_STEPS, CB_BOOT_RECOVERY_MAX, &a, &n);

        if (r == -E2BIG)
                BAD("more recovery steps than kept");
        if (r < 0)
                BAD("a fault's steps are not a list of objects");
        for (size_t i = 0; i < n; i++) {
                struct json_object *s = json_object_array_get_idx(a, i);
                struct cb_boot_step *st = &f->steps[i];
                if (get_text(s, CB_VL_FIELD_ACTION, st->action, sizeof st->action, true) < 0 ||
                    get_number(s, CB_VL_FIELD_OFFSET_USEC, &st->offset_usec, true) < 0 ||
                    get_unsigned(s, CB_VL_FIELD_ATTEMPT, &st->attempt) < 0)
                        BAD("a recovery step is malformed");
        }
        f->n_steps = (unsigned) n;
        return 0;
}

int cb_boot_from_json(struct json_object *o, struct cb_boot *ret, const char **ret_reason) {
        struct cb_boot b = { 0 };
        struct json_object *a, *d = NULL;
        size_t n;
        int r;

        if (!json_object_is_type(o, json_type_object))
                BAD("a boot is not an object");
        if (get_text(o, CB_VL_FIELD_NODE, b.node, sizeof b.node, true) < 0 ||
            get_text(o, CB_VL_FIELD_PORT, b.port, sizeof b.port, true) < 0)
                BAD("a boot has no valid node or port");
        if (get_number(o, CB_VL_FIELD_START_USEC, &b.start_usec, true) < 0 ||
            get_number(o, CB_VL_FIELD_END_USEC, &b.end_usec, false) < 0 ||
            get_number(o, CB_VL_FIELD_UP_UNTIL_USEC, &b.up_until_usec, false) < 0)
                BAD("a boot's times are not numbers");
        if (b.end_usec && b.end_usec < b.start_usec)
                BAD("a boot ends before it starts");
        if (get_text(o, CB_VL_FIELD_OUTCOME, b.outcome, sizeof b.outcome, false) < 0)
                BAD("a boot's outcome is not a short string");
        if (get_unsigned(o, CB_VL_FIELD_ATTEMPTS, &b.attempts) < 0 ||
            get_number(o, CB_VL_FIELD_BYTES_SERVED, &b.bytes_served, true) < 0 ||
            get_number(o, CB_VL_FIELD_FILES_SERVED, &b.files_served, true) < 0 ||
            get_number(o, CB_VL_FIELD_STEP_RETRIES, &b.step_retries, true) < 0 ||
            get_number(o, CB_VL_FIELD_RESETS, &b.resets, true) < 0 ||
            get_number(o, CB_VL_FIELD_POWER_CYCLES, &b.power_cycles, true) < 0 ||
            get_unsigned(o, CB_VL_FIELD_STAGES_DROPPED, &b.stages_dropped) < 0 ||
            get_unsigned(o, CB_VL_FIELD_FAULTS_DROPPED, &b.faults_dropped) < 0)
                BAD("a boot's counters are missing or not numbers");

        r = get_list(o, CB_VL_FIELD_STAGES, CB_BOOT_STAGES_MAX, &a, &n);
        if (r == -E2BIG)
                BAD("a boot has more stages than kept");
        if (r < 0)
                BAD("a boot's stages are not a list of objects");
        for (size_t i = 0; i < n; i++) {
                struct json_object *s = json_object_array_get_idx(a, i);
                struct cb_boot_stage *st = &b.stages[i];
                if (get_text(s, CB_VL_FIELD_STATE, st->state, sizeof st->state, true) < 0 ||
                    get_number(s, CB_VL_FIELD_OFFSET_USEC, &st->offset_usec, true) < 0 ||
                    get_unsigned(s, CB_VL_FIELD_ATTEMPT, &st->attempt) < 0)
                        BAD("a stage is malformed");
                if (i > 0 && st->offset_usec < b.stages[i - 1].offset_usec)
                        BAD("stages are out of order");
        }
        b.n_stages = (unsigned) n;

        if (cb_json_get_object(o, CB_VL_FIELD_DURATIONS, &d) <= 0)
                BAD("a boot's durations are not an object");
        if (json_object_object_length(d) > CB_BOOT_DURATIONS_MAX)
                BAD("a boot has more durations than kept");
        json_object_object_foreach(d, state, value) {
                struct cb_boot_duration *du = &b.durations[b.n_durations];
                int64_t usec;

                if (!json_object_is_type(value, json_type_int) || (usec = json_object_get_int64(value)) < 0 ||
                    strlen(state) == 0 || strlen(state) >= sizeof du->state)
                        BAD("a duration is malformed");
                memcpy(du->state, state, strlen(state) + 1);
                du->usec = (uint64_t) usec;
                b.n_durations++;
        }

        r = get_list(o, CB_VL_FIELD_FAULTS, CB_BOOT_FAULTS_MAX, &a, &n);
        if (r == -E2BIG)
                BAD("a boot has more faults than kept");
        if (r < 0)
                BAD("a boot's faults are not a list of objects");
        for (size_t i = 0; i < n; i++) {
                struct json_object *fo = json_object_array_get_idx(a, i);
                struct cb_boot_fault *f = &b.faults[i];
                if (get_number(fo, CB_VL_FIELD_OFFSET_USEC, &f->offset_usec, true) < 0 ||
                    get_unsigned(fo, CB_VL_FIELD_ATTEMPT, &f->attempt) < 0 ||
                    get_text(fo, CB_VL_FIELD_STATE, f->state, sizeof f->state, true) < 0 ||
                    get_text(fo, CB_VL_FIELD_REASON, f->reason, sizeof f->reason, true) < 0 ||
                    get_unsigned(fo, CB_VL_FIELD_STEPS_DROPPED, &f->steps_dropped) < 0 ||
                    cb_json_get_bool(fo, CB_VL_FIELD_RECOVERED, &f->recovered) <= 0)
                        BAD("a fault is malformed");
                r = steps_from_json(fo, f, ret_reason);
                if (r < 0)
                        return r;
        }
        b.n_faults = (unsigned) n;
        *ret = b;
        return 0;
}
