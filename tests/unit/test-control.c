/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control protocol's pieces without a socket: cutting NUL-framed
 * messages out of a stream however it arrives, parsing them strictly,
 * deciding who may change things, and mapping a node's status to the JSON
 * clusterbootctl reads.
 */
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "clusterboot/varlink.h"
#include "control.h"
#include "json-util.h"
#include "log.h"
#include "text.h"
#include "world.h"

#define RUN_TIMEOUT (20 * USEC_PER_SEC)

/* ---- framing ---- */

/* Feeds `stream` in pieces of `step` bytes and collects the messages, joined by '|'. */
static int frame_all(const char *stream, size_t size, size_t step, size_t max, char *out, size_t out_size) {
        struct cb_msgbuf b;
        size_t at = 0;
        int r = 0;

        cb_msgbuf_init(&b, max);
        out[0] = '\0';
        for (size_t pos = 0; pos < size && r >= 0; pos += step) {
                size_t n = MIN(step, size - pos);
                char *m;
                size_t len;

                CHECK(cb_msgbuf_feed(&b, stream + pos, n) == 0);
                while ((r = cb_msgbuf_next(&b, &m, &len)) > 0) {
                        CHECK(strlen(m) == len);
                        at += (size_t) snprintf(out + at, out_size - at, "%s%s", at ? "|" : "", m);
                }
        }
        if (r >= 0)
                r = (int) cb_msgbuf_pending(&b);
        cb_msgbuf_done(&b);
        return r;
}

static void test_framing(void) {
        static const char stream[] = "{\"a\":1}\0{\"b\":2}\0\0{\"c\":3}\0{\"partial";
        char out[256];

        /* any split, from byte by byte to all at once, yields the same messages and the same partial tail */
        for (size_t step = 1; step <= sizeof stream; step++) {
                int r = frame_all(stream, sizeof stream - 1, step, 64, out, sizeof out);
                CHECK_MSG(r == (int) strlen("{\"partial"), "step %zu: r=%d", step, r);
                CHECK_MSG(strcmp(out, "{\"a\":1}|{\"b\":2}||{\"c\":3}") == 0, "step %zu: %s", step, out);
        }

        /* exactly the maximum is fine; one more byte is not, whether or not its NUL has arrived */
        char big[80];
        memset(big, 'x', sizeof big);
        big[64] = '\0';
        CHECK(frame_all(big, 65, 7, 64, out, sizeof out) == 0);
        CHECK(strlen(out) == 64);
        big[64] = 'x';
        big[65] = '\0';
        CHECK(frame_all(big, 66, 66, 64, out, sizeof out) == -EMSGSIZE);
        CHECK(frame_all(big, 60, 60, 64, out, sizeof out) == 60); /* still short enough: waits */
        CHECK(frame_all(big, 70, 3, 64, out, sizeof out) == -EMSGSIZE); /* no NUL yet, already too long */

        /* messages after an oversize one are never handed out: the stream cannot be trusted */
        struct cb_msgbuf b;
        char *m;
        size_t len;
        cb_msgbuf_init(&b, 8);
        CHECK(cb_msgbuf_feed(&b, "0123456789\0ok\0", 14) == 0);
        CHECK(cb_msgbuf_next(&b, &m, &len) == -EMSGSIZE);
        cb_msgbuf_done(&b);

        /* a long stream of small messages does not grow the buffer without bound */
        cb_msgbuf_init(&b, 64);
        for (int i = 0; i < 10000; i++) {
                CHECK(cb_msgbuf_feed(&b, "{}\0{", 4) == 0);
                while (cb_msgbuf_next(&b, &m, &len) > 0)
                        ;
                CHECK(cb_msgbuf_feed(&b, "}\0", 2) == 0);
                while (cb_msgbuf_next(&b, &m, &len) > 0)
                        CHECK(strcmp(m, "{}") == 0);
        }
        CHECK(b.allocated <= 4096);
        cb_msgbuf_done(&b);
}

/* ---- parsing ---- */

static void expect_bad(const char *text) {
        struct json_object *o = NULL;
        const char *reason = NULL;
        int r = cb_json_parse_object(text, strlen(text), &o, &reason);

        CHECK_MSG(r == -EBADMSG && reason && !o, "accepted: %s", text);
}

static void test_parse(void) {
        struct json_object *o = NULL, *p = NULL;
        const char *reason = NULL, *s = NULL;
        uint64_t u = 0;
        bool b = false;
        char deep[200];

        const char *call = " {\"method\":\"x\",\"more\":true,\"n\":5}\n ";
        CHECK(cb_json_parse_object(call, strlen(call), &o, &reason) == 0);
        CHECK(cb_json_get_string(o, "method", &s) == 1 && strcmp(s, "x") == 0);
        CHECK(cb_json_get_bool(o, "more", &b) == 1 && b);
        CHECK(cb_json_get_u64(o, "n", &u) == 1 && u == 5);
        CHECK(cb_json_get_string(o, "n", &s) == -EINVAL);
        CHECK(cb_json_get_bool(o, "method", &b) == -EINVAL);
        CHECK(cb_json_get_object(o, "absent", &p) == 0);
        CHECK(strcmp(cb_json_string_or(o, "absent", "dflt"), "dflt") == 0);
        json_object_put(o);

        /* a NUL inside a string: not the string before it */
        const char *nul = "{\"m\":\"GetStatus\\u0000x\"}";
        size_t len = 0;
        CHECK(cb_json_parse_object(nul, strlen(nul), &o, &reason) == 0);
        CHECK(cb_json_get_string(o, "m", &s) == -EINVAL);
        CHECK(cb_json_get_string_len(o, "m", &s, &len) == 1 && len == 11 && memcmp(s, "GetStatus\0x", 11) == 0);
        json_object_put(o);

        CHECK(cb_json_parse_object("{\"x\":null,\"neg\":-1}", 19, &o, &reason) == 0);
        CHECK(cb_json_get_string(o, "x", &s) == 0); /* null reads as absent */
        CHECK(cb_json_get_u64(o, "neg", &u) == -EINVAL);
        json_object_put(o);

        expect_bad("");
        expect_bad("   ");
        expect_bad("hello");
        expect_bad("null");
        expect_bad("[1,2]");
        expect_bad("42");
        expect_bad("\"string\"");
        expect_bad("{\"a\":1}{\"b\":2}");
        expect_bad("{\"a\":1} x");
        expect_bad("{\"a\":1");
        expect_bad("{\"a\":\"\xff\xfe\"}");
        /* json-c's own UTF-8 check lets these through */
        expect_bad("{\"a\":\"\xc0\xaf\"}");
        expect_bad("{\"a\":\"\xe0\x80\xaf\"}");
        expect_bad("{\"a\":\"\xed\xa0\x80\"}");
        expect_bad("{\"a\":\"\xf4\x90\x80\x80\"}");
        expect_bad("{\"\xc0\xaf\":1}");
        /* nesting deeper than any call needs */
        snprintf(deep, sizeof deep, "{\"a\":");
        for (int i = 0; i < 40; i++)
                strcat(deep, "[");
        for (int i = 0; i < 40; i++)
                strcat(deep, "]");
        strcat(deep, "}");
        expect_bad(deep);

        /* the size given counts, not a NUL further on */
        CHECK(cb_json_parse_object("{}garbage", 2, &o, &reason) == 0);
        json_object_put(o);
}

static void test_builders(void) {
        struct json_object *o = json_object_new_object();
        size_t size = 0;

        CHECK(cb_json_add_string(o, "s", "a/b") == 0);
        CHECK(cb_json_add_string(o, "null", NULL) == 0);
        CHECK(cb_json_add_u64(o, "big", UINT64_MAX) == 0);
        CHECK(cb_json_add_u64_or_null(o, "no", false, 5) == 0);
        CHECK(cb_json_add_bool(o, "t", true) == 0);
        CHECK(strcmp(cb_json_to_string(o, &size),
                     "{\"s\":\"a/b\",\"null\":null,\"big\":18446744073709551615,\"no\":null,\"t\":true}") == 0);
        CHECK(cb_json_u64_or(o, "big", 0) == UINT64_MAX);
        json_object_put(o);

        /* strings that are not UTF-8 go out escaped: the document stays valid */
        o = json_object_new_object();
        CHECK(cb_json_add_string(o, "bad", "k\xff\xc0\xaf\xed\xa0\x80.img") == 0);
        CHECK(cb_json_add_string(o, "fine", "caf\xc3\xa9\n") == 0);
        CHECK(cb_json_add(o, "a", cb_json_new_string("\xf4\x90\x80\x80")) == 0);
        const char *text = cb_json_to_string(o, &size);
        CHECK_MSG(strcmp(text, "{\"bad\":\"k\\\\xff\\\\xc0\\\\xaf\\\\xed\\\\xa0\\\\x80.img\",\"fine\":\"caf\xc3\xa9\\n\","
                               "\"a\":\"\\\\xf4\\\\x90\\\\x80\\\\x80\"}") == 0,
                  "%s", text);
        CHECK(cb_text_valid_utf8(text, size));
        json_object_put(o);
}

/* ---- permission ---- */

static void test_permission(void) {
        const gid_t group = 990, others[] = { 4, 24, 27 }, with[] = { 4, 990 };
        const struct cb_peer root = { .uid = 0, .gid = 0 };
        const struct cb_peer user = { .uid = 1000, .gid = 1000, .groups = others, .n_groups = 3 };
        const struct cb_peer member = { .uid = 1000, .gid = 1000, .groups = with, .n_groups = 2 };
        const struct cb_peer primary = { .uid = 1000, .gid = 990 };
        const struct cb_peer nobody = { .uid = 65534, .gid = 65534 };
        /* a process that kept root's gid but not its uid is still not root */
        const struct cb_peer gid0 = { .uid = 1000, .gid = 0 };

        CHECK(cb_control_peer_may_change(&root, &group));
        CHECK(cb_control_peer_may_change(&root, NULL));
        CHECK(!cb_control_peer_may_change(&user, &group));
        CHECK(cb_control_peer_may_change(&member, &group));
        CHECK(cb_control_peer_may_change(&primary, &group));
        CHECK(!cb_control_peer_may_change(&nobody, &group));
        CHECK(!cb_control_peer_may_change(&gid0, &group));
        /* without the group only root may */
        CHECK(!cb_control_peer_may_change(&member, NULL));
        CHECK(!cb_control_peer_may_change(&primary, NULL));
}

/* Writes PROC/PID/status with the given text. */
static void put_status(const char *proc, pid_t pid, const char *text) {
        char path[256];
        FILE *f;

        snprintf(path, sizeof path, "%s/%d", proc, (int) pid);
        (void) mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/%d/status", proc, (int) pid);
        f = fopen(path, "we");
        CHECK(f && fputs(text, f) >= 0);
        if (f)
                fclose(f);
}

/* The peer's groups where SO_PEERGROUPS is missing: procfs's "Groups:" line, of the same user only. */
static void test_groups_from_proc(void) {
        char proc[] = "/tmp/test-control-proc-XXXXXX", cmd[128];
        gid_t own[256], *groups = NULL;
        size_t n = 0;
        int n_own = getgroups((int) ELEMENTSOF(own), own);

        /* this process, as the real /proc tells it */
        CHECK(n_own >= 0);
        CHECK(cb_control_peer_groups_from_proc(NULL, getpid(), geteuid(), &groups, &n) == 0);
        CHECK_MSG(n == (size_t) n_own, "%zu groups, getgroups() says %d", n, n_own);
        for (size_t i = 0; i < n && i < (size_t) n_own; i++)
                CHECK(groups[i] == own[i]);
        groups = xfree(groups);
        /* the pid taken by another user's process since: nothing taken from it */
        CHECK(cb_control_peer_groups_from_proc(NULL, getpid(), geteuid() + 1, &groups, &n) == -ESRCH);

        CHECK(mkdtemp(proc) != NULL);
        put_status(proc, 7, "Name:\tx\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n"
                            "Groups:\t4 24 990 \nNSpid:\t7\n");
        CHECK(cb_control_peer_groups_from_proc(proc, 7, 1000, &groups, &n) == 0);
        CHECK(n == 3 && groups && groups[0] == 4 && groups[1] == 24 && groups[2] == 990);
        groups = xfree(groups);
        put_status(proc, 8, "Uid:\t1000\t1000\t1000\t1000\nGroups:\t\n");
        CHECK(cb_control_peer_groups_from_proc(proc, 8, 1000, &groups, &n) == 0 && n == 0);
        groups = xfree(groups);
        /* set-uid: the effective uid is the one SO_PEERCRED reports */
        put_status(proc, 9, "Uid:\t1000\t0\t0\t0\nGroups:\t4\n");
        CHECK(cb_control_peer_groups_from_proc(proc, 9, 1000, &groups, &n) == -ESRCH);
        put_status(proc, 10, "Uid:\t1000\t1000\t1000\t1000\nGroups:\t4 x 990\n");
        CHECK(cb_control_peer_groups_from_proc(proc, 10, 1000, &groups, &n) == -EBADMSG);
        put_status(proc, 11, "Uid:\t1000\t1000\t1000\t1000\n");
        CHECK(cb_control_peer_groups_from_proc(proc, 11, 1000, &groups, &n) == -EBADMSG);
        CHECK(cb_control_peer_groups_from_proc(proc, 12, 1000, &groups, &n) == -ENOENT);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", proc);
        CHECK(system(cmd) == 0);
}

/* ---- status as JSON ---- */

static const char *field_str(struct json_object *o, const char *key) {
        return cb_json_string_or(o, key, NULL);
}

static bool field_is_null(struct json_object *o, const char *key) {
        struct json_object *v = NULL;
        return json_object_object_get_ex(o, key, &v) && v == NULL;
}

static void test_node_json(void) {
        struct emu_board_config good = { 0 }, bad = { 0 };
        struct json_object *o = NULL, *events = NULL;
        struct world w;
        uint64_t mono, real, u = 0;

        /* a board whose loader never gets an answer, on a power switch: power-cycled, then failed after MaxAttempts */
        bad.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_NO_ANSWER, .point = EMU_AT_ROM_STATUS, .sticky = true };
        bad.n_faults = 1;

        CHECK(world_init(&w, false) == 0);
        w.config->max_attempts = 2;
        world_add(&w, &good);
        world_add(&w, &bad);
        CHECK(world_add_switch(&w, 1, NULL, NULL) == 0);
        world_add(&w, &good); /* never plugged */
        emu_port_plug(&w.ports[0]);
        emu_port_plug(&w.ports[1]);
        /* node3 never settles (absent), so world_run() would wait in vain: run until the first two did */
        for (usec_t deadline = now_usec() + RUN_TIMEOUT;
             now_usec() < deadline && (cb_node_state(w.nodes[0]) != CB_NODE_UP || cb_node_state(w.nodes[1]) != CB_NODE_FAILED);)
                sd_event_run(w.event, 10 * USEC_PER_MSEC);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_UP);
        CHECK(cb_node_state(w.nodes[1]) == CB_NODE_FAILED);

        mono = now_usec();
        real = 1700000000ULL * USEC_PER_SEC;

        /* up */
        CHECK(cb_control_node_json(w.nodes[0], w.config, true, mono, real, &o) == 0);
        struct cb_node_status st;
        cb_node_get_status(w.nodes[0], &st);
        CHECK(strcmp(field_str(o, CB_VL_FIELD_NAME), "node1") == 0);
        CHECK(strcmp(field_str(o, CB_VL_FIELD_PORT), "1-1") == 0);
        CHECK(strcmp(field_str(o, CB_VL_FIELD_STATE), "up") == 0);
        CHECK(strcmp(field_str(o, CB_VL_FIELD_POWER), "none") == 0);
        CHECK(cb_json_u64_or(o, CB_VL_FIELD_ATTEMPT, 0) == 1);
        CHECK(cb_json_u64_or(o, CB_VL_FIELD_MAX_ATTEMPTS, 0) == 2);
        CHECK(cb_json_u64_or(o, CB_VL_FIELD_BYTES_SERVED, 0) == st.bytes_served && st.bytes_served > 0);
        CHECK(cb_json_u64_or(o, CB_VL_FIELD_FILES_SERVED, 0) == st.files_served && st.files_served > 0);
        CHECK(cb_json_u64_or(o, CB_VL_FIELD_BOOTS, 0) == 1);
        CHECK(field_is_null(o, CB_VL_FIELD_LAST_ERROR));
        CHECK(field_is_null(o, CB_VL_FIELD_BOOT_STARTED_USEC));
        CHECK(field_is_null(o, CB_VL_FIELD_BOOT_ELAPSED_USEC));
        CHECK(cb_json_get_u64(o, CB_VL_FIELD_UPTIME_USEC, &u) == 1 && u == mono - st.up_since_usec);
        CHECK(cb_json_get_u64(o, CB_VL_FIELD_UP_SINCE_USEC, &u) == 1 && u == real - (mono - st.up_since_usec));
        CHECK(cb_json_get_u64(o, CB_VL_FIELD_LAST_BOOT_DURATION_USEC, &u) == 1 && u == st.last_boot_duration_usec);
        CHECK(cb_json_get_array(o, CB_VL_FIELD_EVENTS, &events) == 1);
        CHECK(events && json_object_array_length(events) == st.n_events && st.n_events >= 4);
        if (events && json_object_array_length(events) > 0) {
                struct json_object *last = json_object_array_get_idx(events, json_object_array_length(events) - 1);
                CHECK(strcmp(field_str(last, CB_VL_FIELD_STATE), "up") == 0);
                CHECK(strstr(field_str(last, CB_VL_FIELD_MESSAGE), "up after") != NULL);
                CHECK(cb_json_u64_or(last, CB_VL_FIELD_REALTIME_USEC, 0) > 0);
                bool saw_rom = false;
                for (size_t i = 0; i < json_object_array_length(events); i++)
                        saw_rom = saw_rom || strcmp(field_str(json_object_array_get_idx(events, i), CB_VL_FIELD_STATE), "rom") == 0;
                CHECK(saw_rom);
        }
        json_object_put(o);

        /* without events the key is not there at all */
        CHECK(cb_control_node_json(w.nodes[0], w.config, false, mono, real, &o) == 0);
        CHECK(!json_object_object_get_ex(o, CB_VL_FIELD_EVENTS, NULL));
        json_object_put(o);

        /* failed */
        CHECK(cb_control_node_json(w.nodes[1], w.config, false, mono, real, &o) == 0);
        CHECK(strcmp(field_str(o, CB_VL_FIELD_STATE), "failed") == 0);
        CHECK(cb_json_u64_or(o, CB_VL_FIELD_ATTEMPT, 0) == 2);
        CHECK(field_str(o, CB_VL_FIELD_LAST_ERROR) && strlen(field_str(o, CB_VL_FIELD_LAST_ERROR)) > 0);
        CHECK(field_is_null(o, CB_VL_FIELD_UPTIME_USEC));
        CHECK(field_is_null(o, CB_VL_FIELD_LAST_BOOT_DURATION_USEC));
        /* its boot is over: no clock runs for it */
        CHECK(field_is_null(o, CB_VL_FIELD_BOOT_STARTED_USEC));
        CHECK(field_is_null(o, CB_VL_FIELD_BOOT_ELAPSED_USEC));
        json_object_put(o);

        /* never seen */
        CHECK(cb_control_node_json(w.nodes[2], w.config, true, mono, real, &o) == 0);
        CHECK(strcmp(field_str(o, CB_VL_FIELD_STATE), "absent") == 0);
        CHECK(cb_json_u64_or(o, CB_VL_FIELD_ATTEMPT, 99) == 0);
        CHECK(cb_json_u64_or(o, CB_VL_FIELD_BYTES_SERVED, 99) == 0);
        CHECK(field_is_null(o, CB_VL_FIELD_CURRENT_FILE));
        CHECK(cb_json_bool_or(o, CB_VL_FIELD_DEVICE_PRESENT, true) == false);
        json_object_put(o);

        world_done(&w);
}

int main(void) {
        cb_log_open(CB_LOG_STDERR);
        cb_log_set_max_level(LOG_WARNING);

        test_framing();
        test_parse();
        test_builders();
        test_permission();
        test_groups_from_proc();
        test_node_json();
        return check_exit("test-control");
}
