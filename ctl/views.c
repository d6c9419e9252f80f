/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "views.h"

#include <errno.h>
#include <string.h>

#include "clusterboot/node-state.h"
#include "clusterboot/varlink.h"
#include "json-util.h"
#include "format.h"
#include "order.h"
#include "rows.h"
#include "table.h"

#define NAME_COLUMN 10

/* The longest state name, so that what follows a state lines up whichever state it is. */
static int state_column(void) {
        int width = 0;

        for (int i = 0; i < _CB_NODE_STATE_MAX; i++)
                if ((int) strlen(cb_node_state_name(i)) > width)
                        width = (int) strlen(cb_node_state_name(i));
        return width;
}

const char *state_colour(const char *state) {
        static const struct {
                const char *state;
                const char *colour;
        } colours[] = {
                { "up", ANSI_GREEN },      { "failed", ANSI_RED },   { "retrying", ANSI_YELLOW },
                { "rom", ANSI_BLUE },      { "serving", ANSI_BLUE }, { "booted", ANSI_BLUE },
                { "absent", ANSI_GREY },   { "off", ANSI_GREY },
        };

        for (size_t i = 0; state && i < sizeof colours / sizeof colours[0]; i++)
                if (strcmp(state, colours[i].state) == 0)
                        return colours[i].colour;
        return NULL;
}

static const char *str(struct json_object *o, const char *key) {
        return cb_json_string_or(o, key, NULL);
}

static uint64_t u64(struct json_object *o, const char *key) {
        return cb_json_u64_or(o, key, 0);
}

/* Optional numbers (null when they do not apply) */
static bool opt_u64(struct json_object *o, const char *key, uint64_t *ret) {
        return cb_json_get_u64(o, key, ret) > 0;
}

char *node_progress(char *buf, size_t size, struct json_object *node) {
        const char *file = str(node, CB_VL_FIELD_CURRENT_FILE);
        uint64_t off = u64(node, CB_VL_FIELD_CURRENT_OFFSET), total = u64(node, CB_VL_FIELD_CURRENT_SIZE);
        uint64_t files = u64(node, CB_VL_FIELD_FILES_SERVED), bytes = u64(node, CB_VL_FIELD_BYTES_SERVED);
        char b[32];

        if (file && total > 0)
                snprintf(buf, size, "%s %u%%", file, (unsigned) (off >= total ? 100 : off * 100 / total));
        else if (file)
                snprintf(buf, size, "%s", file);
        else if (files > 0 || bytes > 0)
                snprintf(buf, size, "%llu file%s, %s", (unsigned long long) files, files == 1 ? "" : "s",
                         format_bytes(b, sizeof b, bytes));
        else
                snprintf(buf, size, "-");
        return buf;
}

char *node_time(char *buf, size_t size, struct json_object *node) {
        uint64_t t;
        char d[32];

        if (opt_u64(node, CB_VL_FIELD_UPTIME_USEC, &t))
                snprintf(buf, size, "up %s", format_duration(d, sizeof d, t));
        else if (opt_u64(node, CB_VL_FIELD_BOOT_ELAPSED_USEC, &t))
                snprintf(buf, size, "boot %s", format_duration(d, sizeof d, t));
        else
                snprintf(buf, size, "-");
        return buf;
}

static char *attempt_text(char *buf, size_t size, struct json_object *node) {
        uint64_t a = u64(node, CB_VL_FIELD_ATTEMPT), max = u64(node, CB_VL_FIELD_MAX_ATTEMPTS);

        if (a == 0)
                snprintf(buf, size, "-");
        else if (max > 0)
                snprintf(buf, size, "%llu/%llu", (unsigned long long) a, (unsigned long long) max);
        else
                snprintf(buf, size, "%llu", (unsigned long long) a);
        return buf;
}

static const char *name_colour(struct json_object *row) {
        return ANSI_BOLD;
}

static const char *row_state_colour(struct json_object *row) {
        return state_colour(str(row, CB_VL_FIELD_STATE));
}

static const char *progress_text(char *buf, size_t size, struct json_object *row) {
        return node_progress(buf, size, row);
}

static const char *attempt_cell(char *buf, size_t size, struct json_object *row) {
        return attempt_text(buf, size, row);
}

static const char *time_text(char *buf, size_t size, struct json_object *row) {
        return node_time(buf, size, row);
}

/* An up node's last error is history (a failed attempt before the good one): not news in a table. */
static const char *last_error_text(char *buf, size_t size, struct json_object *row) {
        const char *state = str(row, CB_VL_FIELD_STATE), *err = str(row, CB_VL_FIELD_LAST_ERROR);

        return err && !(state && strcmp(state, "up") == 0) ? err : "-";
}

/* on, off, or - when nothing tells (no switch has confirmed anything and no board is on the bus) */
static const char *power_text(char *buf, size_t size, struct json_object *row) {
        struct json_object *v = NULL;

        if (!json_object_object_get_ex(row, CB_VL_FIELD_POWERED, &v) || !json_object_is_type(v, json_type_boolean))
                return "-";
        return json_object_get_boolean(v) ? "on" : "off";
}

static const char *last_error_colour(struct json_object *row) {
        const char *state = str(row, CB_VL_FIELD_STATE);
        return state && strcmp(state, "failed") == 0 ? ANSI_RED : NULL;
}

const struct column status_columns[] = {
        { "HOST", { CB_CTL_FIELD_HOST }, NULL, NULL, true },
        { "NODE", { CB_VL_FIELD_NAME }, NULL, name_colour, false },
        { "PORT", { CB_VL_FIELD_PORT }, NULL, NULL, false },
        { "STATE", { CB_VL_FIELD_STATE }, NULL, row_state_colour, false },
        { "POWER", { CB_VL_FIELD_POWERED }, power_text, NULL, false },
        { "PROGRESS",
          { CB_VL_FIELD_CURRENT_FILE, CB_VL_FIELD_CURRENT_OFFSET, CB_VL_FIELD_FILES_SERVED, CB_VL_FIELD_BYTES_SERVED },
          progress_text, NULL, false },
        { "ATTEMPT", { CB_VL_FIELD_ATTEMPT, CB_VL_FIELD_MAX_ATTEMPTS }, attempt_cell, NULL, false },
        { "TIME", { CB_VL_FIELD_UPTIME_USEC, CB_VL_FIELD_BOOT_ELAPSED_USEC }, time_text, NULL, false },
        { "LAST ERROR", { CB_VL_FIELD_LAST_ERROR, CB_VL_FIELD_STATE }, last_error_text, last_error_colour, false },
};
const size_t n_status_columns = sizeof status_columns / sizeof status_columns[0];

int view_status(FILE *f, struct json_object *status, const struct view_options *o) {
        struct json_object *nodes = NULL, *daemon = NULL;
        size_t n;
        int r = 0;

        (void) cb_json_get_array(status, CB_VL_FIELD_NODES, &nodes);
        (void) cb_json_get_object(status, CB_VL_FIELD_DAEMON, &daemon);
        sort_nodes(nodes);
        if (o->json != JSON_OFF) {
                print_json(f, status, o->json);
                return 0;
        }
        n = nodes ? json_object_array_length(nodes) : 0;
        if (n > 0 || o->legend) {
                struct table_print_options po = { .colours = o->colours, .header = o->legend, .width = o->width };

                r = rows_print_table(f, nodes, status_columns, n_status_columns, &po);
                if (r < 0)
                        return r;
        }
        if (o->legend) {
                const char *summary = str(daemon, CB_VL_FIELD_SUMMARY);
                char clean[512];

                if (n > 0)
                        fputc('\n', f);
                if (summary && summary[0])
                        fprintf(f, "%s.\n", format_sanitize(clean, sizeof clean, summary));
                else
                        fprintf(f, "%zu node%s.\n", n, n == 1 ? "" : "s");
        }
        return 0;
}

/* "Label: " right-aligned like systemctl status, then the value; an empty label continues the one above. */
static void field(FILE *f, const char *label, const char *value) {
        char clean[1024];
        fprintf(f, "%14s%s %s\n", label, label[0] ? ":" : " ", format_sanitize(clean, sizeof clean, value));
}

static void state_line(FILE *f, struct json_object *node, const struct view_options *o) {
        const char *state = cb_json_string_or(node, CB_VL_FIELD_STATE, "?");
        const char *colour = o->colours ? state_colour(state) : NULL;
        char extra[200] = "", ts[64], d[32];
        uint64_t since, t;

        if (opt_u64(node, CB_VL_FIELD_UP_SINCE_USEC, &since) && opt_u64(node, CB_VL_FIELD_UPTIME_USEC, &t))
                snprintf(extra, sizeof extra, " since %s; %s ago", format_timestamp(ts, sizeof ts, since),
                         format_duration(d, sizeof d, t));
        else if (opt_u64(node, CB_VL_FIELD_BOOT_STARTED_USEC, &since) &&
                 opt_u64(node, CB_VL_FIELD_BOOT_ELAPSED_USEC, &t))
                snprintf(extra, sizeof extra, ", booting since %s; %s so far", format_timestamp(ts, sizeof ts, since),
                         format_duration(d, sizeof d, t));
        char st[32];

        fprintf(f, "%14s: %s%s%s%s\n", "State", colour ? colour : "", format_sanitize(st, sizeof st, state),
                colour ? ANSI_NORMAL : "", extra);
}

static void events_block(FILE *f, struct json_object *events, const struct view_options *o) {
        size_t n = events ? json_object_array_length(events) : 0;

        if (n == 0)
                return;
        fprintf(f, "\n%sRecent events:%s\n", o->colours ? ANSI_BOLD : "", o->colours ? ANSI_NORMAL : "");
        for (size_t i = 0; i < n; i++) {
                struct json_object *e = json_object_array_get_idx(events, i);
                const char *state = cb_json_string_or(e, CB_VL_FIELD_STATE, "?");
                const char *colour = o->colours ? state_colour(state) : NULL;
                char ts[64], msg[1024], st[32];

                fprintf(f, "  %s  %s%-*s%s  attempt %-3llu %s\n",
                        format_timestamp(ts, sizeof ts, u64(e, CB_VL_FIELD_REALTIME_USEC)), colour ? colour : "",
                        state_column(), format_sanitize(st, sizeof st, state), colour ? ANSI_NORMAL : "", (unsigned long long) u64(e, CB_VL_FIELD_ATTEMPT),
                        format_sanitize(msg, sizeof msg, cb_json_string_or(e, CB_VL_FIELD_MESSAGE, "")));
        }
}

/* The SoC serial and the properties the board sent (2711/2712), one per line. */
static void board_lines(FILE *f, struct json_object *node) {
        struct json_object *props = NULL;
        const char *serial = str(node, CB_VL_FIELD_SERIAL);
        char buf[512];
        bool first = true;

        if (serial)
                field(f, "Serial", serial);
        if (cb_json_get_object(node, CB_VL_FIELD_METADATA, &props) <= 0)
                return;
        json_object_object_foreach(props, key, value) {
                snprintf(buf, sizeof buf, "%s=%s", key, json_object_get_string(value));
                field(f, first ? "Properties" : "", buf);
                first = false;
        }
}

/* How to reach the booted board: "Network: node3 (02:12:34:56:78:9a)" and "Serial: /dev/ttyACM0", one a line. */
static void gadget_lines(FILE *f, struct json_object *node) {
        struct json_object *gadget = NULL, *interfaces = NULL, *ttys = NULL;
        char buf[512];

        if (cb_json_get_object(node, CB_VL_FIELD_GADGET, &gadget) <= 0)
                return;
        (void) cb_json_get_array(gadget, "interfaces", &interfaces);
        (void) cb_json_get_array(gadget, "ttys", &ttys);
        for (size_t i = 0; interfaces && i < json_object_array_length(interfaces); i++) {
                struct json_object *itf = json_object_array_get_idx(interfaces, i);
                const char *mac = str(itf, "mac");

                snprintf(buf, sizeof buf, "%s%s%s%s", cb_json_string_or(itf, "name", "?"), mac ? " (" : "",
                         mac ? mac : "", mac ? ")" : "");
                field(f, i == 0 ? "Network" : "", buf);
        }
        for (size_t i = 0; ttys && i < json_object_array_length(ttys); i++) {
                snprintf(buf, sizeof buf, "/dev/%s", json_object_get_string(json_object_array_get_idx(ttys, i)));
                field(f, i == 0 ? "Serial" : "", buf);
        }
}

void view_node_detail(FILE *f, struct json_object *node, const struct view_options *o) {
        const char *file = str(node, CB_VL_FIELD_CURRENT_FILE), *err = str(node, CB_VL_FIELD_LAST_ERROR);
        uint64_t boots = u64(node, CB_VL_FIELD_BOOTS), last, max = u64(node, CB_VL_FIELD_MAX_ATTEMPTS);
        uint64_t files = u64(node, CB_VL_FIELD_FILES_SERVED);
        struct json_object *events = NULL;
        char buf[512], b1[32], b2[32], d[32], name[128], port[64];

        fprintf(f, "%s%s%s (port %s)\n", o->colours ? ANSI_BOLD : "",
                format_sanitize(name, sizeof name, cb_json_string_or(node, CB_VL_FIELD_NAME, "?")),
                o->colours ? ANSI_NORMAL : "", format_sanitize(port, sizeof port, cb_json_string_or(node, CB_VL_FIELD_PORT, "?")));
        state_line(f, node, o);

        if (u64(node, CB_VL_FIELD_ATTEMPT) == 0)
                snprintf(buf, sizeof buf, "none yet (at most %llu)", (unsigned long long) max);
        else if (max > 0)
                snprintf(buf, sizeof buf, "%llu of %llu", (unsigned long long) u64(node, CB_VL_FIELD_ATTEMPT),
                         (unsigned long long) max);
        else
                snprintf(buf, sizeof buf, "%llu", (unsigned long long) u64(node, CB_VL_FIELD_ATTEMPT));
        field(f, "Attempt", buf);

        snprintf(buf, sizeof buf, "%llu file%s, %s this boot", (unsigned long long) files, files == 1 ? "" : "s",
                 format_bytes(b1, sizeof b1, u64(node, CB_VL_FIELD_BYTES_SERVED)));
        field(f, "Served", buf);
        if (file) {
                uint64_t off = u64(node, CB_VL_FIELD_CURRENT_OFFSET), total = u64(node, CB_VL_FIELD_CURRENT_SIZE);
                snprintf(buf, sizeof buf, "%s, %s of %s", file, format_bytes(b1, sizeof b1, off),
                         format_bytes(b2, sizeof b2, total));
                field(f, "Sending", buf);
        }
        if (opt_u64(node, CB_VL_FIELD_LAST_BOOT_DURATION_USEC, &last))
                snprintf(buf, sizeof buf, "%llu since the daemon started; the last took %s", (unsigned long long) boots,
                         format_duration(d, sizeof d, last));
        else
                snprintf(buf, sizeof buf, "%llu since the daemon started", (unsigned long long) boots);
        field(f, "Boots", buf);
        snprintf(buf, sizeof buf, "%llu step retr%s, %llu reset%s, %llu power cycle%s this boot",
                 (unsigned long long) u64(node, CB_VL_FIELD_STEP_RETRIES),
                 u64(node, CB_VL_FIELD_STEP_RETRIES) == 1 ? "y" : "ies",
                 (unsigned long long) u64(node, CB_VL_FIELD_RESETS), u64(node, CB_VL_FIELD_RESETS) == 1 ? "" : "s",
                 (unsigned long long) u64(node, CB_VL_FIELD_POWER_CYCLES),
                 u64(node, CB_VL_FIELD_POWER_CYCLES) == 1 ? "" : "s");
        field(f, "Recovery", buf);
        if (err && o->colours) {
                char clean[1024];
                fprintf(f, "%14s: %s%s%s\n", "Last error", ANSI_RED, format_sanitize(clean, sizeof clean, err),
                        ANSI_NORMAL);
        } else {
                field(f, "Last error", err ? err : "-");
        }
        snprintf(buf, sizeof buf, "%s; %s",
                 cb_json_bool_or(node, CB_VL_FIELD_DEVICE_PRESENT, false) ? "present" : "not on the bus",
                 cb_json_bool_or(node, CB_VL_FIELD_CONFIGURED, false) ? "configured" : "found on its own (AutoNodes=)");
        field(f, "Device", buf);
        const char *control = cb_json_string_or(node, CB_VL_FIELD_POWER, "none"), *powered = power_text(b1, sizeof b1, node);
        snprintf(buf, sizeof buf, "%s (%s%s)", strcmp(powered, "-") == 0 ? "unknown" : powered,
                 strcmp(control, "none") == 0 ? "no switch" : "switch: ", strcmp(control, "none") == 0 ? "" : control);
        field(f, "Power", buf);
        board_lines(f, node);
        gadget_lines(f, node);

        (void) cb_json_get_array(node, CB_VL_FIELD_EVENTS, &events);
        events_block(f, events, o);
}

static void watch_line(FILE *f, uint64_t realtime, const char *name, const char *state, const char *text,
                       const struct view_options *o) {
        const char *colour = o->colours ? state_colour(state) : NULL;
        char ts[32], n[128], st[32], t[1024];

        fprintf(f, "%s %-*s %s%-*s%s %s\n", format_time_of_day(ts, sizeof ts, realtime), NAME_COLUMN,
                format_sanitize(n, sizeof n, name), colour ? colour : "", state_column(),
                format_sanitize(st, sizeof st, state), colour ? ANSI_NORMAL : "", format_sanitize(t, sizeof t, text));
}

void view_watch_nodes(FILE *f, struct json_object *nodes, uint64_t now_realtime, const struct view_options *o) {
        size_t n = nodes ? json_object_array_length(nodes) : 0;

        for (size_t i = 0; i < n; i++) {
                struct json_object *node = json_object_array_get_idx(nodes, i);
                char text[512], progress[300], when[64], attempt[48];
                const char *parts[3] = { attempt_text(attempt, sizeof attempt, node),
                                         node_progress(progress, sizeof progress, node),
                                         node_time(when, sizeof when, node) };
                size_t at = (size_t) snprintf(text, sizeof text, "current state");

                /* only what applies: a node that never booted has no attempt, progress or time */
                for (size_t k = 0, n_parts = 0; k < 3 && at < sizeof text; k++) {
                        if (strcmp(parts[k], "-") == 0)
                                continue;
                        at += (size_t) snprintf(text + at, sizeof text - at, "%s%s%s", n_parts++ ? ", " : ": ",
                                                k == 0 ? "attempt " : "", parts[k]);
                }
                watch_line(f, now_realtime, cb_json_string_or(node, CB_VL_FIELD_NAME, "?"),
                           cb_json_string_or(node, CB_VL_FIELD_STATE, "?"), text, o);
        }
}

void view_watch_event(FILE *f, struct json_object *event, const struct view_options *o) {
        const char *kind = cb_json_string_or(event, CB_VL_FIELD_KIND, CB_VL_EVENT_KIND_STATE);
        char text[1024], progress[300], attempt[48];

        if (strcmp(kind, CB_VL_EVENT_KIND_PROGRESS) == 0)
                snprintf(text, sizeof text, "progress: %s", node_progress(progress, sizeof progress, event));
        else
                snprintf(text, sizeof text, "attempt %s: %s", attempt_text(attempt, sizeof attempt, event),
                         cb_json_string_or(event, CB_VL_FIELD_MESSAGE, ""));
        watch_line(f, u64(event, CB_VL_FIELD_REALTIME_USEC), cb_json_string_or(event, CB_VL_FIELD_NODE, "?"),
                   cb_json_string_or(event, CB_VL_FIELD_STATE, "?"), text, o);
}
