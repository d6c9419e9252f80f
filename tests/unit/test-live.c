/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The live watch table's frames: the second frame starts by moving the
 * cursor up over the first (redrawn in place), a row follows its node's
 * events, a rate is measured only while the node takes files, no line is
 * wider than the terminal (a wrapped line would push the next frame down),
 * and a board's bytes in a name or message cannot reach the terminal.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "clusterboot/varlink.h"
#include "format.h"
#include "json-util.h"
#include "live.h"

static struct json_object *obj(const char *json) {
        struct json_object *o = NULL;
        const char *why = NULL;

        CHECK(cb_json_parse_object(json, strlen(json), &o, &why) == 0);
        return o;
}

static char *frame(struct live *l, size_t width, bool colours, size_t *lines) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        *lines = live_draw(l, f, &(struct live_draw_options){ .width = width, .colours = colours, .now = 1000000000 });
        fclose(f);
        return out;
}

/* Every line's width in columns, escape sequences left out. */
static size_t widest(const char *s) {
        size_t w = 0, max = 0;

        for (const char *p = s; *p; p++) {
                if (*p == '\033') {
                        p++;
                        while (*p && !((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
                                p++;
                        if (!*p)
                                break;
                        continue;
                }
                if (*p == '\n') {
                        max = w > max ? w : max;
                        w = 0;
                } else if (*p != '\r' && ((unsigned char) *p & 0xc0) != 0x80) {
                        w++;
                }
        }
        return w > max ? w : max;
}

int main(void) {
        struct live *l = NULL;
        size_t lines = 0;
        char *out;

        REQUIRE(live_new(&l) == 0);
        struct json_object *nodes = json_object_new_array();
        json_object_array_add(nodes, obj("{\"name\":\"node10\",\"state\":\"absent\",\"attempt\":0}"));
        json_object_array_add(nodes, obj("{\"name\":\"node2\",\"state\":\"absent\",\"attempt\":0}"));
        CHECK(live_nodes(l, nodes, 0) == 0);
        json_object_put(nodes);

        out = frame(l, 80, false, &lines);
        CHECK(lines == 4);
        CHECK(strncmp(out, "\033[", 2) != 0); /* the first frame starts where the cursor is */
        CHECK(strstr(out, "2 nodes, 0 up"));
        /* natural order: node2 before node10 */
        CHECK(strstr(out, "node2 ") && strstr(out, "node10") && strstr(out, "node2 ") < strstr(out, "node10"));
        free(out);

        /* node2 serving: 1 MB in half a second between two events */
        struct json_object *e = obj("{\"node\":\"node2\",\"state\":\"serving\",\"attempt\":1,\"max_attempts\":5,"
                                    "\"bytes_served\":1000,\"current_file\":\"kernel.img\",\"current_offset\":0,"
                                    "\"current_size\":4000000}");
        CHECK(live_event(l, e, 500000) == 0);
        json_object_put(e);
        e = obj("{\"node\":\"node2\",\"state\":\"serving\",\"attempt\":1,\"max_attempts\":5,\"bytes_served\":1001000,"
                "\"current_file\":\"kernel.img\",\"current_offset\":2000000,\"current_size\":4000000}");
        CHECK(live_event(l, e, 1000000) == 0);
        json_object_put(e);
        out = frame(l, 200, false, &lines);
        CHECK(strncmp(out, "\033[4A\r", 5) == 0); /* back over the first frame */
        CHECK(strstr(out, "[==========>         ] kernel.img"));
        CHECK(strstr(out, "1.9M/s")); /* 1000000 bytes in 0.5 s */
        CHECK(strstr(out, "1/5"));
        CHECK(lines == 4); /* still one row per node */
        free(out);

        /* in trouble, a long reason with a board's escape sequence: red, cut to the width, no ESC but the colours */
        e = obj("{\"node\":\"node10\",\"state\":\"failed\",\"attempt\":5,\"max_attempts\":5,\"bytes_served\":0,"
                "\"last_error\":\"the board asked for \\u001b[2J and then something very long that goes on and on "
                "past any terminal's width, and on\"}");
        CHECK(live_event(l, e, 2000000) == 0);
        json_object_put(e);
        out = frame(l, 60, true, &lines);
        printf("%s", out);
        CHECK(widest(out) <= 59);
        CHECK(strstr(out, "\033[2J") == NULL);
        CHECK(strstr(out, ANSI_RED "failed"));
        CHECK(strstr(out, "1 up") == NULL && strstr(out, "1 in trouble"));
        free(out);
        out = frame(l, 60, false, &lines);
        CHECK(strstr(out, ANSI_RED) == NULL);
        free(out);

        live_free(l);
        return check_exit("test-live");
}
