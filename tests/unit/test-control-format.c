/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * clusterbootctl's output: numbers and times for people, the status table
 * (exact text, with and without legend, cut to a terminal's width), no
 * colours unless wanted, nothing a board can use to send escape sequences
 * to the operator's terminal, the detailed view and watch lines.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "check.h"
#include "format.h"
#include "order.h"
#include "table.h"
#include "views.h"

#define CHECK_STREQ(a, b)                                                                     \
        do {                                                                                  \
                const char *_a = (a), *_b = (b);                                              \
                CHECK_MSG(strcmp(_a, _b) == 0, "\n--- got:\n%s\n--- expected:\n%s", _a, _b); \
        } while (0)

static void test_colours_wanted(void) {
        CHECK(colours_wanted(true, NULL, "xterm-256color"));
        CHECK(colours_wanted(true, NULL, NULL));
        CHECK(!colours_wanted(false, NULL, "xterm"));
        CHECK(!colours_wanted(true, "1", "xterm"));
        CHECK(colours_wanted(true, "", "xterm")); /* no-color.org: only a non-empty value counts */
        CHECK(!colours_wanted(true, NULL, "dumb"));
}

static void test_numbers(void) {
        char b[64];

        CHECK_STREQ(format_bytes(b, sizeof b, 0), "0B");
        CHECK_STREQ(format_bytes(b, sizeof b, 1023), "1023B");
        CHECK_STREQ(format_bytes(b, sizeof b, 1024), "1.0K");
        CHECK_STREQ(format_bytes(b, sizeof b, 52 * 1024 + 17), "52K");
        CHECK_STREQ(format_bytes(b, sizeof b, 8500000), "8.1M");
        CHECK_STREQ(format_bytes(b, sizeof b, 45ULL * 1024 * 1024), "45M");
        CHECK_STREQ(format_bytes(b, sizeof b, 3ULL << 40), "3.0T");
        CHECK_STREQ(format_bytes(b, sizeof b, UINT64_MAX), "16E");

        CHECK_STREQ(format_duration(b, sizeof b, 0), "0ms");
        CHECK_STREQ(format_duration(b, sizeof b, 850000), "850ms");
        CHECK_STREQ(format_duration(b, sizeof b, 12345678), "12.3s");
        CHECK_STREQ(format_duration(b, sizeof b, 192000000), "3min 12s");
        CHECK_STREQ(format_duration(b, sizeof b, (2 * 3600 + 3 * 60 + 59) * 1000000ULL), "2h 3min");
        CHECK_STREQ(format_duration(b, sizeof b, (4 * 86400 + 2 * 3600) * 1000000ULL), "4d 2h");

        /* 2023-11-14 22:13:20 UTC */
        CHECK_STREQ(format_timestamp(b, sizeof b, 1700000000ULL * 1000000ULL + 5), "2023-11-14 22:13:20");
        CHECK_STREQ(format_time_of_day(b, sizeof b, 1700000000ULL * 1000000ULL + 42000), "22:13:20.042");
}

static void test_parse_duration(void) {
        uint64_t u = 0;

        CHECK(parse_duration("30", &u) == 0 && u == 30000000);
        CHECK(parse_duration("1.5s", &u) == 0 && u == 1500000);
        CHECK(parse_duration("500ms", &u) == 0 && u == 500000);
        CHECK(parse_duration("2min", &u) == 0 && u == 120000000);
        CHECK(parse_duration("1h", &u) == 0 && u == 3600000000ULL);
        CHECK(parse_duration("1min 30s", &u) == 0 && u == 90000000);
        CHECK(parse_duration("0.25", &u) == 0 && u == 250000);
        CHECK(parse_duration("", &u) < 0 && parse_duration("s", &u) < 0 && parse_duration("1m", &u) < 0);
        CHECK(parse_duration("-1", &u) < 0 && parse_duration("1x", &u) < 0 && parse_duration(NULL, &u) < 0);
        CHECK(parse_duration("99999999999999999999", &u) < 0);
}

static void test_text(void) {
        char b[64];

        CHECK_STREQ(format_sanitize(b, sizeof b, "kernel.img"), "kernel.img");
        CHECK_STREQ(format_sanitize(b, sizeof b, "a\033]0;pwned\007b\nc\177"), "a?]0;pwned?b?c?");
        CHECK_STREQ(format_sanitize(b, 4, "abcdef"), "abc");
        CHECK_STREQ(format_sanitize(b, sizeof b, "h\xc3\xa9llo"), "h\xc3\xa9llo"); /* UTF-8 stays */

        CHECK(text_width("h\xc3\xa9llo") == 5);
        CHECK_STREQ(ellipsize(b, sizeof b, "short", 10), "short");
        CHECK_STREQ(ellipsize(b, sizeof b, "exactly10!", 10), "exactly10!");
        CHECK_STREQ(ellipsize(b, sizeof b, "a bit too long", 10), "a bit t...");
        /* cut on a character, never inside one */
        CHECK_STREQ(ellipsize(b, sizeof b, "h\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9llo", 6), "h\xc3\xa9\xc3\xa9...");
        CHECK_STREQ(ellipsize(b, sizeof b, "abcdef", 2), "..");
}

static char *capture(FILE **f, char **buf, size_t *size) {
        *f = open_memstream(buf, size);
        return *buf;
}

static void test_table(void) {
        static const char *const headers[] = { "A", "LONGER", "LAST" };
        struct table *t = table_new(3, headers);
        char *out = NULL;
        size_t size = 0;
        FILE *f;

        CHECK(table_add(t, "x", ANSI_GREEN) == 0);
        CHECK(table_add(t, "y", NULL) == 0);
        CHECK(table_add(t, "the last column may be long", ANSI_RED) == 0);
        CHECK(table_addf(t, NULL, "%d", 12345) == 0);
        CHECK(table_add(t, "esc\033[2J", NULL) == 0);
        CHECK(table_add(t, "-", NULL) == 0);
        CHECK(table_rows(t) == 2);

        capture(&f, &out, &size);
        table_print(t, f, &(struct table_print_options){ .header = true });
        fclose(f);
        CHECK_STREQ(out, "A      LONGER   LAST\n"
                         "x      y        the last column may be long\n"
                         "12345  esc?[2J  -\n");
        CHECK(!strchr(out, '\033'));
        free(out);

        /* colours only when asked; a cut to the screen width shortens only the last column */
        capture(&f, &out, &size);
        table_print(t, f, &(struct table_print_options){ .header = false, .colours = true, .width = 32 });
        fclose(f);
        CHECK_STREQ(out, ANSI_GREEN "x" ANSI_NORMAL "      y        " ANSI_RED "the last colu..." ANSI_NORMAL "\n"
                         "12345  esc?[2J  -\n");
        free(out);
        table_free(t);
}

/* A daemon's reply as clusterbootctl gets it. */
static const char status_json[] =
        "{\"daemon\":{\"version\":\"0.1.0\",\"summary\":\"4 nodes: 1 serving, 1 up, 1 retrying, 1 failed\"},"
        "\"nodes\":["
        "{\"name\":\"node1\",\"port\":\"1-1.1\",\"state\":\"up\",\"powered\":true,\"attempt\":1,\"max_attempts\":5,"
        /* the failure before the boot that brought it up: history, not shown in the table */
        "\"last_error\":\"timed out while reading the ROM's status\",\"bytes_served\":8500000,\"files_served\":8,\"current_file\":null,"
        "\"current_offset\":0,\"current_size\":0,\"uptime_usec\":7380000000,\"boot_elapsed_usec\":null},"
        "{\"name\":\"node2\",\"port\":\"1-1.2\",\"state\":\"serving\",\"attempt\":1,\"max_attempts\":5,"
        "\"last_error\":null,\"bytes_served\":1000000,\"files_served\":3,\"current_file\":\"start.elf\","
        "\"current_offset\":1450000,\"current_size\":2900000,\"uptime_usec\":null,\"boot_elapsed_usec\":12300000},"
        "{\"name\":\"node3\",\"port\":\"1-1.3\",\"state\":\"retrying\",\"attempt\":2,\"max_attempts\":5,"
        "\"last_error\":\"the board left the bus while being sent kernel.img (100 of 5120001 bytes)\","
        "\"bytes_served\":61440,\"files_served\":2,\"current_file\":null,\"boot_elapsed_usec\":40200000},"
        "{\"name\":\"node4\",\"port\":\"1-1.4\",\"state\":\"failed\",\"powered\":false,\"attempt\":5,\"max_attempts\":5,"
        "\"last_error\":\"timed out while reading the ROM's status\",\"bytes_served\":0,\"files_served\":0}"
        "]}";

static void test_status_table(void) {
        struct json_object *status = json_tokener_parse(status_json);
        struct view_options o = { .legend = true };
        char *out = NULL;
        size_t size = 0;
        FILE *f;

        CHECK(status != NULL);
        capture(&f, &out, &size);
        CHECK(view_status(f, status, &o) == 0);
        fclose(f);
        CHECK_STREQ(out,
                    "NODE   PORT   STATE     POWER  PROGRESS       ATTEMPT  TIME        LAST ERROR\n"
                    "node1  1-1.1  up        on     8 files, 8.1M  1/5      up 2h 3min  -\n"
                    "node2  1-1.2  serving   -      start.elf 50%  1/5      boot 12.3s  -\n"
                    "node3  1-1.3  retrying  -      2 files, 60K   2/5      boot 40.2s  the board left the bus while being sent kernel.img (100 of 5120001 bytes)\n"
                    "node4  1-1.4  failed    off    -              5/5      -           timed out while reading the ROM's status\n"
                    "\n"
                    "4 nodes: 1 serving, 1 up, 1 retrying, 1 failed.\n");
        free(out);

        /* for scripts that cut columns: no header, no summary */
        o.legend = false;
        capture(&f, &out, &size);
        CHECK(view_status(f, status, &o) == 0);
        fclose(f);
        CHECK(strncmp(out, "node1  1-1.1  up ", 17) == 0);
        CHECK(!strstr(out, "NODE") && !strstr(out, "4 nodes"));
        free(out);

        /* on a terminal: colours for states, errors cut to the width */
        o = (struct view_options){ .legend = true, .colours = true, .width = 107 };
        capture(&f, &out, &size);
        CHECK(view_status(f, status, &o) == 0);
        fclose(f);
        CHECK(strstr(out, ANSI_GREEN "up" ANSI_NORMAL) != NULL);
        CHECK(strstr(out, ANSI_RED "failed" ANSI_NORMAL) != NULL);
        CHECK(strstr(out, "the board left the bus while being se...\n") != NULL);
        for (char *line = out, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
                /* visible width: escape sequences do not count */
                size_t w = 0;
                for (char *p = line; p < nl; p++) {
                        if (*p == '\033') {
                                while (p < nl && *p != 'm')
                                        p++;
                                continue;
                        }
                        w++;
                }
                CHECK_MSG(w <= 107, "line of %zu columns", w);
        }
        free(out);

        /* no nodes at all */
        struct json_object *empty = json_tokener_parse("{\"daemon\":{\"summary\":\"0 nodes\"},\"nodes\":[]}");
        o = (struct view_options){ .legend = true };
        capture(&f, &out, &size);
        CHECK(view_status(f, empty, &o) == 0);
        fclose(f);
        CHECK_STREQ(out, "NODE  PORT  STATE  POWER  PROGRESS  ATTEMPT  TIME  LAST ERROR\n0 nodes.\n");
        free(out);
        json_object_put(empty);
        json_object_put(status);
}

/* node2 before node10, ports by their numbers, whatever order the daemon sent */
static void test_order(void) {
        struct json_object *nodes = json_tokener_parse(
                "[{\"name\":\"node10\",\"port\":\"1-1.10\"},{\"name\":\"1-1.10\",\"port\":\"1-1.10\"},"
                "{\"name\":\"node2\",\"port\":\"1-1.2\"},{\"name\":\"1-1.2\",\"port\":\"1-1.2\"},"
                "{\"name\":\"10-1\",\"port\":\"10-1\"},{\"name\":\"2-1\",\"port\":\"2-1\"},"
                "{\"name\":\"node1\",\"port\":\"1-1.1\"},{\"name\":\"1-1\",\"port\":\"1-1\"}]");
        char order[256] = "";

        CHECK(natural_compare("node2", "node10") < 0);
        CHECK(natural_compare("node10", "node2") > 0);
        CHECK(natural_compare("node02", "node2") > 0 && natural_compare("node2", "node02") < 0);
        CHECK(natural_compare("a", "a") == 0 && natural_compare("a", "ab") < 0 && natural_compare("", "a") < 0);
        CHECK(natural_compare("1-1.9", "1-1.10") < 0 && natural_compare("1-1", "1-1.1") < 0);
        CHECK(natural_compare("node", "node1") < 0 && natural_compare("x99999999999999999999", "x1") > 0);
        sort_nodes(nodes);
        for (size_t i = 0; i < json_object_array_length(nodes); i++) {
                strcat(order, json_object_get_string(json_object_object_get(json_object_array_get_idx(nodes, i), "name")));
                strcat(order, " ");
        }
        CHECK_STREQ(order, "1-1 1-1.2 1-1.10 2-1 10-1 node1 node2 node10 ");
        sort_nodes(NULL);
        json_object_put(nodes);
}

static void test_node_detail(void) {
        struct json_object *node = json_tokener_parse(
                "{\"name\":\"node3\",\"port\":\"1-1.3\",\"state\":\"up\",\"configured\":true,\"device_present\":true,"
                "\"power\":\"none\",\"powered\":true,\"attempt\":2,\"max_attempts\":5,\"last_error\":\"board \\u001b[31mleft\","
                "\"bytes_served\":8500000,\"files_served\":8,\"current_file\":null,\"step_retries\":1,\"resets\":1,\"power_cycles\":1,"
                "\"boots\":3,\"up_since_usec\":1700000000000000,\"uptime_usec\":65000000,"
                "\"last_boot_duration_usec\":14200000,"
                "\"gadget\":{\"interfaces\":[{\"name\":\"node3\",\"mac\":\"02:12:34:56:78:9a\"},{\"name\":\"usb1\",\"mac\":null}],"
                "\"ttys\":[\"ttyACM0\"]},\"events\":["
                "{\"realtime_usec\":1699999980000000,\"state\":\"rom\",\"attempt\":1,\"message\":\"sending the second-stage loader\"},"
                "{\"realtime_usec\":1699999990000000,\"state\":\"power-cycling\",\"attempt\":1,\"message\":\"stuck\"},"
                "{\"realtime_usec\":1700000000000000,\"state\":\"up\",\"attempt\":2,\"message\":\"up after 14.2s, on attempt 2\"}]}");
        struct view_options o = { .legend = true };
        char *out = NULL;
        size_t size = 0;
        FILE *f;

        CHECK(node != NULL);
        capture(&f, &out, &size);
        view_node_detail(f, node, &o);
        fclose(f);
        CHECK_STREQ(out, "node3 (port 1-1.3)\n"
                         "         State: up since 2023-11-14 22:13:20; 1min 5s ago\n"
                         "       Attempt: 2 of 5\n"
                         "        Served: 8 files, 8.1M this boot\n"
                         "         Boots: 3 since the daemon started; the last took 14.2s\n"
                         "      Recovery: 1 step retry, 1 reset, 1 power cycle this boot\n"
                         "    Last error: board ?[31mleft\n"
                         "        Device: present; configured\n"
                         "         Power: on (no switch)\n"
                         "       Network: node3 (02:12:34:56:78:9a)\n"
                         "                usb1\n"
                         "        Serial: /dev/ttyACM0\n"
                         "\n"
                         "Recent events:\n"
                         "  2023-11-14 22:13:00  rom            attempt 1   sending the second-stage loader\n"
                         "  2023-11-14 22:13:10  power-cycling  attempt 1   stuck\n"
                         "  2023-11-14 22:13:20  up             attempt 2   up after 14.2s, on attempt 2\n");
        free(out);
        json_object_put(node);
}

static void test_watch_lines(void) {
        struct json_object *state = json_tokener_parse(
                "{\"kind\":\"state\",\"node\":\"node2\",\"port\":\"1-1.2\",\"state\":\"retrying\",\"attempt\":2,"
                "\"max_attempts\":5,\"message\":\"attempt 1 failed: the board left the bus; attempt 2 in 1.0s\","
                "\"realtime_usec\":1700000000123000}");
        struct json_object *progress = json_tokener_parse(
                "{\"kind\":\"progress\",\"node\":\"node1\",\"state\":\"serving\",\"attempt\":1,\"message\":null,"
                "\"files_served\":3,\"bytes_served\":1048576,\"current_file\":null,\"realtime_usec\":1700000001000000}");
        struct json_object *nodes = json_tokener_parse(
                "[{\"name\":\"node1\",\"state\":\"up\",\"attempt\":1,\"max_attempts\":5,\"files_served\":8,"
                "\"bytes_served\":8500000,\"uptime_usec\":5000000},"
                "{\"name\":\"node9\",\"state\":\"absent\",\"attempt\":0,\"files_served\":0,\"bytes_served\":0}]");
        struct view_options o = { 0 };
        char *out = NULL;
        size_t size = 0;
        FILE *f;

        capture(&f, &out, &size);
        view_watch_nodes(f, nodes, 1700000000000000ULL, &o);
        view_watch_event(f, state, &o);
        view_watch_event(f, progress, &o);
        fclose(f);
        CHECK_STREQ(out, "22:13:20.000 node1      up            current state: attempt 1/5, 8 files, 8.1M, up 5.0s\n"
                         "22:13:20.000 node9      absent        current state\n"
                         "22:13:20.123 node2      retrying      attempt 2/5: attempt 1 failed: the board left the bus; attempt 2 in 1.0s\n"
                         "22:13:21.000 node1      serving       progress: 3 files, 1.0M\n");
        free(out);
        json_object_put(state);
        json_object_put(progress);
        json_object_put(nodes);
}

int main(void) {
        /* timestamps are local time: pin it */
        setenv("TZ", "UTC", 1);
        tzset();

        test_colours_wanted();
        test_numbers();
        test_parse_duration();
        test_text();
        test_table();
        test_status_table();
        test_order();
        test_node_detail();
        test_watch_lines();
        return check_exit("test-control-format");
}
