/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "live.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clusterboot/varlink.h"
#include "format.h"
#include "json-util.h"
#include "order.h"
#include "views.h"

#define BAR_CELLS 20

struct row {
        struct json_object *node; /* the node's newest object (a node, or an event with its fields) */
        char *name;
        uint64_t last_bytes, last_at; /* bytes served at the previous reply, and when */
        uint64_t rate;                /* bytes a second between the last two replies that moved; 0: not known */
};

struct live {
        struct row *rows;
        size_t n_rows;
        size_t lines_drawn; /* of the previous frame: where the next one starts */
};

int live_new(struct live **ret) {
        struct live *l = calloc(1, sizeof *l);

        if (!l)
                return -ENOMEM;
        *ret = l;
        return 0;
}

struct live *live_free(struct live *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_rows; i++) {
                json_object_put(l->rows[i].node);
                free(l->rows[i].name);
        }
        free(l->rows);
        free(l);
        return NULL;
}

static int compare_rows(const void *a, const void *b) {
        return natural_compare(((const struct row *) a)->name, ((const struct row *) b)->name);
}

static struct row *find_row(struct live *l, const char *name) {
        for (size_t i = 0; i < l->n_rows; i++)
                if (strcmp(l->rows[i].name, name) == 0)
                        return &l->rows[i];
        return NULL;
}

static bool serving(const char *state) {
        return state && (strcmp(state, "rom") == 0 || strcmp(state, "serving") == 0);
}

/* The row of `name` takes `node` (a reference of its own). */
static int update(struct live *l, const char *name, struct json_object *node, uint64_t now) {
        struct row *r = find_row(l, name);
        uint64_t bytes = cb_json_u64_or(node, CB_VL_FIELD_BYTES_SERVED, 0);

        if (!r) {
                struct row *rows = realloc(l->rows, (l->n_rows + 1) * sizeof *rows);
                char *copy = strdup(name);

                if (!rows || !copy) {
                        free(copy);
                        if (rows)
                                l->rows = rows;
                        return -ENOMEM;
                }
                l->rows = rows;
                l->rows[l->n_rows++] = (struct row){ .name = copy, .last_bytes = bytes, .last_at = now };
                qsort(l->rows, l->n_rows, sizeof *l->rows, compare_rows);
                r = find_row(l, name);
        } else if (bytes > r->last_bytes && now > r->last_at) {
                /* a rate only over a stretch the node spent taking files: not over a wait for a board */
                if (serving(cb_json_string_or(r->node, CB_VL_FIELD_STATE, NULL)))
                        r->rate = (bytes - r->last_bytes) * 1000000ULL / (now - r->last_at);
                r->last_bytes = bytes;
                r->last_at = now;
        } else if (bytes == r->last_bytes && !serving(cb_json_string_or(node, CB_VL_FIELD_STATE, NULL))) {
                r->last_at = now; /* idle: the next stretch is measured from here */
        } else if (bytes < r->last_bytes) {
                /* a fresh boot counts from zero */
                r->last_bytes = bytes;
                r->last_at = now;
                r->rate = 0;
        }
        json_object_put(r->node);
        r->node = json_object_get(node);
        return 0;
}

int live_nodes(struct live *l, struct json_object *nodes, uint64_t now) {
        for (size_t i = 0; nodes && i < json_object_array_length(nodes); i++) {
                struct json_object *node = json_object_array_get_idx(nodes, i);
                int r = update(l, cb_json_string_or(node, CB_VL_FIELD_NAME, "?"), node, now);
                if (r < 0)
                        return r;
        }
        return 0;
}

int live_event(struct live *l, struct json_object *event, uint64_t now) {
        return update(l, cb_json_string_or(event, CB_VL_FIELD_NODE, "?"), event, now);
}

static bool in_trouble(const char *state) {
        static const char *const trouble[] = { "retrying", "power-cycling", "needs-power", "failed" };

        for (size_t i = 0; state && i < sizeof trouble / sizeof trouble[0]; i++)
                if (strcmp(state, trouble[i]) == 0)
                        return true;
        return false;
}

/* "[=======>            ] kernel.img 2.0M/5.0M 3.1M/s", or what the node served so far. */
static void progress(char *buf, size_t size, const struct row *r) {
        const char *file = cb_json_string_or(r->node, CB_VL_FIELD_CURRENT_FILE, NULL);
        uint64_t off = cb_json_u64_or(r->node, CB_VL_FIELD_CURRENT_OFFSET, 0);
        uint64_t total = cb_json_u64_or(r->node, CB_VL_FIELD_CURRENT_SIZE, 0);
        char name[64], a[16], b[16], rate[24] = "";

        if (r->rate > 0 && serving(cb_json_string_or(r->node, CB_VL_FIELD_STATE, NULL))) {
                char t[16];
                snprintf(rate, sizeof rate, " %s/s", format_bytes(t, sizeof t, r->rate));
        }
        if (file && total > 0) {
                char bar[BAR_CELLS + 1];
                size_t filled = (size_t) ((off >= total ? total : off) * BAR_CELLS / total);

                for (size_t i = 0; i < BAR_CELLS; i++)
                        bar[i] = i < filled ? '=' : i == filled ? '>' : ' ';
                bar[BAR_CELLS] = '\0';
                snprintf(buf, size, "[%s] %s %s/%s%s", bar, format_sanitize(name, sizeof name, file),
                         format_bytes(a, sizeof a, off), format_bytes(b, sizeof b, total), rate);
                return;
        }
        node_progress(buf, size, r->node);
        if (rate[0] && strlen(buf) + strlen(rate) < size)
                strcat(buf, rate);
}

/* Time in the boot or up, counted here from the moment the daemon gave: the clock moves between events. */
static void clock_text(char *buf, size_t size, struct json_object *node, uint64_t now) {
        uint64_t since = 0;
        char d[32];

        if (cb_json_get_u64(node, CB_VL_FIELD_UP_SINCE_USEC, &since) > 0)
                snprintf(buf, size, "up %s", format_duration(d, sizeof d, now > since ? now - since : 0));
        else if (cb_json_get_u64(node, CB_VL_FIELD_BOOT_STARTED_USEC, &since) > 0)
                snprintf(buf, size, "boot %s", format_duration(d, sizeof d, now > since ? now - since : 0));
        else
                snprintf(buf, size, "-");
}

/* One line of the frame: cut to the width (the cursor must never wrap, or the next frame starts too low). */
static void put_line(FILE *f, const char *colour, const char *text, size_t width) {
        char cut[1024];

        ellipsize(cut, sizeof cut, text, width > 1 ? width - 1 : 1);
        fprintf(f, "%s%s%s\033[K\n", colour ? colour : "", cut, colour ? ANSI_NORMAL : "");
}

size_t live_draw(struct live *l, FILE *f, const struct live_draw_options *o) {
        size_t width = o->width ? o->width : 80, lines = 0, name_w = 4;
        unsigned counts_up = 0, counts_trouble = 0;
        char line[1024];

        for (size_t i = 0; i < l->n_rows; i++) {
                size_t w = text_width(l->rows[i].name);
                name_w = w > name_w ? w : name_w;
                const char *state = cb_json_string_or(l->rows[i].node, CB_VL_FIELD_STATE, "?");
                counts_up += strcmp(state, "up") == 0;
                counts_trouble += in_trouble(state);
        }
        name_w = name_w > 24 ? 24 : name_w;
        if (l->lines_drawn > 0)
                fprintf(f, "\033[%zuA\r", l->lines_drawn);

        char ts[32];
        snprintf(line, sizeof line, "clusterboot %s: %zu node%s, %u up%s%.0u%s  (Ctrl-C to quit)",
                 format_time_of_day(ts, sizeof ts, o->now), l->n_rows, l->n_rows == 1 ? "" : "s", counts_up,
                 counts_trouble ? ", " : "", counts_trouble, counts_trouble ? " in trouble" : "");
        put_line(f, o->colours ? ANSI_BOLD : NULL, line, width), lines++;
        snprintf(line, sizeof line, "%-*s  %-13s  %-7s  %-12s  %s", (int) name_w, "NODE", "STATE", "ATTEMPT", "TIME",
                 "PROGRESS / LAST EVENT");
        put_line(f, o->colours ? ANSI_UNDERLINE : NULL, line, width), lines++;

        for (size_t i = 0; i < l->n_rows; i++) {
                const struct row *r = &l->rows[i];
                const char *state = cb_json_string_or(r->node, CB_VL_FIELD_STATE, "?");
                uint64_t attempt = cb_json_u64_or(r->node, CB_VL_FIELD_ATTEMPT, 0);
                uint64_t max = cb_json_u64_or(r->node, CB_VL_FIELD_MAX_ATTEMPTS, 0);
                const char *message = cb_json_string_or(r->node, CB_VL_FIELD_MESSAGE, NULL);
                const char *error = cb_json_string_or(r->node, CB_VL_FIELD_LAST_ERROR, NULL);
                char name[128], st[32], att[48], when[48], prog[256], msg[512];
                const char *colour = NULL;

                if (o->colours)
                        colour = in_trouble(state) ? (strcmp(state, "failed") == 0 || strcmp(state, "needs-power") == 0
                                                              ? ANSI_RED
                                                              : ANSI_YELLOW)
                                                   : state_colour(state);
                ellipsize(name, sizeof name, format_sanitize(msg, sizeof msg, r->name), name_w);
                format_sanitize(st, sizeof st, state);
                if (attempt == 0)
                        snprintf(att, sizeof att, "-");
                else if (max > 0)
                        snprintf(att, sizeof att, "%llu/%llu", (unsigned long long) attempt, (unsigned long long) max);
                else
                        snprintf(att, sizeof att, "%llu", (unsigned long long) attempt);
                clock_text(when, sizeof when, r->node, o->now);
                progress(prog, sizeof prog, r);
                /* in trouble, why matters more than what was served */
                if (in_trouble(state) && error)
                        format_sanitize(msg, sizeof msg, error);
                else if (message && !cb_json_string_or(r->node, CB_VL_FIELD_CURRENT_FILE, NULL))
                        snprintf(msg, sizeof msg, "%s  %s", prog, message);
                else
                        snprintf(msg, sizeof msg, "%s", prog);
                format_sanitize(prog, sizeof prog, msg);
                snprintf(line, sizeof line, "%-*s  %s%-13s%s  %-7s  %-12s  %s", (int) name_w, name,
                         colour ? colour : "", st, colour ? ANSI_NORMAL : "", att, when, prog);
                /* the colour codes take no columns: cut by the text's own width */
                char cut[1024];
                size_t room = width > 1 ? width - 1 : 1;
                size_t codes = colour ? strlen(colour) + strlen(ANSI_NORMAL) : 0;
                if (text_width(line) - codes > room) {
                        ellipsize(cut, sizeof cut, line, room + codes);
                        fprintf(f, "%s%s\033[K\n", cut, colour ? ANSI_NORMAL : "");
                } else {
                        fprintf(f, "%s\033[K\n", line);
                }
                lines++;
        }
        fputs("\033[J", f);
        l->lines_drawn = lines;
        return lines;
}
