/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The real clusterboot binary (real libusb, real libudev, real sd-event)
 * and the real clusterbootctl, against emulated boards under umockdev.
 *
 * usage: test-daemon [TEST...]
 * Environment: CLUSTERBOOT, CLUSTERBOOTCTL (paths; meson sets them),
 * TB_ECHO=1 to see the daemon's log live.
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "board-check.h"
#include "cluster.h"
#include "testbed.h"

static const char *clusterbootctl;

/* Runs clusterbootctl (optionally as `nobody`); returns its exit status, its stdout in *out. */
static int ctl(struct cluster *c, bool as_nobody, char **out, const char *const *args) {
        const char *argv[32];
        size_t k = 0;
        char sock_env[200];
        char *err = NULL;
        int status = -1;
        GError *e = NULL;

        if (as_nobody) {
                argv[k++] = "setpriv";
                argv[k++] = "--reuid=65534";
                argv[k++] = "--regid=65534";
                argv[k++] = "--clear-groups";
        }
        argv[k++] = clusterbootctl;
        for (size_t i = 0; args[i] && k < 30; i++)
                argv[k++] = args[i];
        argv[k] = NULL;
        snprintf(sock_env, sizeof sock_env, "CLUSTERBOOT_SOCKET=%s", c->sock);
        char *envp[] = { sock_env, (char *) "PATH=/usr/bin:/bin:/usr/sbin:/sbin", NULL };
        if (!g_spawn_sync(NULL, (char **) argv, envp, G_SPAWN_SEARCH_PATH, NULL, NULL, out, &err, &status, &e)) {
                fprintf(stderr, "cannot run clusterbootctl: %s\n", e->message);
                g_error_free(e);
                return -1;
        }
        if (err && *err)
                tb_log(c->tb, "clusterbootctl stderr: %s", err);
        g_free(err);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static struct json_object *status_json(struct cluster *c) {
        char *out = NULL;
        const char *args[] = { "--json=short", "status", NULL };
        int r = ctl(c, false, &out, args);
        struct json_object *j = r == 0 && out ? json_tokener_parse(out) : NULL;
        CHECK(j != NULL, "clusterbootctl --json status: exit %d, output %s", r, out ? out : "(none)");
        g_free(out);
        return j;
}

static struct json_object *json_node(struct json_object *status, const char *name) {
        struct json_object *nodes, *n, *v;
        if (!status || !json_object_object_get_ex(status, "nodes", &nodes))
                return NULL;
        for (size_t i = 0; i < json_object_array_length(nodes); i++) {
                n = json_object_array_get_idx(nodes, i);
                if (json_object_object_get_ex(n, "name", &v) && strcmp(json_object_get_string(v), name) == 0)
                        return n;
        }
        return NULL;
}

static const char *json_str(struct json_object *o, const char *key) {
        struct json_object *v;
        return o && json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

static int json_int(struct json_object *o, const char *key) {
        struct json_object *v;
        return o && json_object_object_get_ex(o, key, &v) && v ? json_object_get_int(v) : -1;
}

/* 1 or 0 for a JSON boolean, -1 if the key is missing or not a boolean. */
static int json_flag(struct json_object *o, const char *key) {
        struct json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
                return -1;
        return json_object_get_boolean(v) ? 1 : 0;
}

/* A field of one node in `clusterbootctl --json status`, as text (NULL if none); g_free() it. */
static char *node_field(struct cluster *c, const char *node, const char *key) {
        struct json_object *st = status_json(c);
        char *v = g_strdup(json_str(json_node(st, node), key));

        json_object_put(st);
        return v;
}

/* The daemon's status says node's `key` is `want` (a string; numbers as text). */
#define CHECK_FIELD(c, node, key, want)                                                                \
        do {                                                                                           \
                char *got_ = node_field(c, node, key);                                                 \
                CHECK(g_strcmp0(got_, want) == 0, "%s: %s is %s, not %s", node, key, got_ ? got_ : "(none)", \
                      want);                                                                           \
                g_free(got_);                                                                          \
        } while (0)

static bool file_exists(tb_testbed *tb, void *path) {
        return g_file_test(path, G_FILE_TEST_EXISTS);
}

/*
 * Reads fd into buf (from *got on, NUL-terminated) until a whole line holds
 * needle; false at EOF or after timeout_ms without it. The timeout is a
 * deadline for a hang, not a measure of speed.
 */
static bool read_until(int fd, char *buf, size_t size, size_t *got, const char *needle, int timeout_ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        buf[*got] = '\0';
        for (;;) {
                const char *hit = strstr(buf, needle);
                if (hit && strchr(hit, '\n'))
                        return true;
                gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (left_ms <= 0 || *got >= size - 1)
                        return false;
                int ready = poll(&p, 1, (int) left_ms);
                if (ready < 0 && errno == EINTR)
                        continue;
                if (ready <= 0)
                        return false;
                ssize_t r = read(fd, buf + *got, size - 1 - *got);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return false;
                *got += (size_t) r;
                buf[*got] = '\0';
        }
}

/*
 * The seed's failure: 4 boards at once, the 4th drops off the bus mid
 * kernel.img on its first attempt and comes back in ROM. All 4 end up, the
 * 4th on attempt 2; status, --json and watch tell the same story.
 * Concurrency is shown by the boards, not by the clock: boards 1-3 each
 * stop taking data 1 MB into their kernel until the test lets them go, so
 * only a host that serves boards at once has all three held together and
 * node4 up while they are.
 */
static bool pred_three_held(tb_testbed *tb, void *data) {
        struct cluster *c = data;
        tb_lock(tb);
        bool held = true;
        for (unsigned i = 0; i < 3; i++)
                held = held && tb_board_emu(tb_board_at(c->tb, i))->busy_until_ms != 0;
        tb_unlock(tb);
        return held;
}

static void test_seed_failure(void) {
        struct cluster c;
        struct emu_board_config cfg[4] = { { 0 }, { .rom_pid = 0x2764 }, { 0 }, { 0 } };
        for (unsigned i = 0; i < 3; i++) {
                cfg[i].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_PAUSE, .point = EMU_AT_FILE, .attempt = 1,
                                                       .name = "kernel.img", .offset = 1000000,
                                                       .pause_ms = 600000 };
                cfg[i].n_faults = 1;
        }
        cfg[1].faults[0].name = "kernel8.img"; /* the Zero 2 W's kernel */
        cfg[3].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_VANISH, .point = EMU_AT_FILE, .attempt = 1,
                                               .name = "kernel.img", .offset = 3000000 };
        cfg[3].n_faults = 1;

        /* a held board is a board the daemon waits for, not a failed transfer */
        cluster_init(&c, 4, 1, cfg, "BulkTimeoutSec=600\n");
        cluster_start(&c);

        /* a watcher from before the first board: it must see every transition */
        char *watch_argv[] = { (char *) clusterbootctl, (char *) "--socket", c.sock, (char *) "watch", NULL };
        GPid watch_pid = 0;
        int watch_out = -1;
        CHECK(g_spawn_async_with_pipes(NULL, watch_argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &watch_pid,
                                       NULL, &watch_out, NULL, NULL),
              "cannot start clusterbootctl watch");

        /*
         * The watcher is subscribed once it prints the daemon's snapshot of
         * every node; plugging before that lets a slow start (ASan, a loaded
         * machine) miss node4's first transitions.
         */
        char buf[65536];
        size_t got = 0;
        CHECK(read_until(watch_out, buf, sizeof buf, &got, "node4", 60000), "watch printed no snapshot: %s", buf);

        plug_all(&c);
        CHECK(wait_state(&c, 1, "serving", 20000) != NULL, "node1 never served");
        {
                /* while booting: the table answers and shows nodes at work */
                char *out = NULL;
                const char *args[] = { "--no-legend", "status", NULL };
                CHECK(ctl(&c, false, &out, args) == 0 && out && strstr(out, "node1"), "status during boot: %s",
                      out ? out : "(none)");
                g_free(out);
        }
        CHECK(tb_run_until(c.tb, pred_three_held, &c, 60000), "boards 1-3 were never mid-kernel at once");
        CHECK(wait_state(&c, 4, "up", 60000) != NULL, "node4 did not come up while boards 1-3 were held");
        CHECK(pred_three_held(c.tb, &c), "a held board let go by itself");
        for (unsigned i = 0; i < 3; i++)
                tb_board_end_pause(tb_board_at(c.tb, i));
        CHECK(all_up(&c, 60000), "not every node came up");
        check_boards(&c, 0);

        /* node4: attempt 2, after the vanish; nodes 1-3: attempt 1 */
        CHECK(tb_log_find(c.tb, NULL, "node4[4-1]: state up (from booted): up after") &&
                      tb_log_count_matches(c.tb, "node4[4-1]: state up (from booted): up after") == 1,
              "node4 up line");
        CHECK(tb_log_find(c.tb, NULL, "on attempt 2") != NULL, "node4 was not up on attempt 2");
        for (unsigned i = 1; i <= 3; i++) {
                char needle[64];
                snprintf(needle, sizeof needle, "node%u[%u-1]: state retrying", i, i);
                CHECK(tb_log_find(c.tb, NULL, needle) == NULL, "healthy node%u had to retry", i);
        }

        /* --json matches the daemon's state */
        struct json_object *st = status_json(&c);
        for (unsigned i = 1; i <= 4; i++) {
                char name[16];
                snprintf(name, sizeof name, "node%u", i);
                struct json_object *n = json_node(st, name);
                CHECK(n && g_strcmp0(json_str(n, "state"), "up") == 0, "%s not up in --json", name);
                CHECK(json_int(n, "attempt") == (i == 4 ? 2 : 1), "%s attempt %d in --json", name,
                      json_int(n, "attempt"));
        }
        const char *err4 = json_str(json_node(st, "node4"), "last_error");
        CHECK(err4 && strstr(err4, "kernel.img"), "node4's last error: %s", err4 ? err4 : "(null)");
        json_object_put(st);

        /* watch saw node4's whole story, retry included */
        kill(watch_pid, SIGINT);
        ssize_t r;
        while (got < sizeof buf - 1 && (r = read(watch_out, buf + got, sizeof buf - 1 - got)) > 0)
                got += (size_t) r;
        buf[got] = '\0';
        close(watch_out);
        waitpid(watch_pid, NULL, 0);
        g_spawn_close_pid(watch_pid);
        const char *p = buf;
        static const char *const story[] = { "rom", "serving", "retrying", "rom", "serving", "booted", "up" };
        for (size_t i = 0; i < G_N_ELEMENTS(story) && p; i++) {
                /* the next line about node4 in that state, after the previous one */
                const char *q = p;
                char *hit = NULL;
                while ((q = strstr(q, "node4"))) {
                        const char *eol = strchr(q, '\n');
                        size_t len = eol ? (size_t) (eol - q) : strlen(q);
                        char line[512];
                        snprintf(line, sizeof line, "%.*s", (int) (len < 511 ? len : 511), q);
                        if (strstr(line, story[i])) {
                                hit = (char *) (eol ? eol : q + len);
                                break;
                        }
                        q += len;
                }
                CHECK(hit != NULL, "watch did not show node4 %s (step %zu); it printed:\n%s", story[i], i, buf);
                p = hit;
        }
        cluster_free(&c);
}

/* Changing methods need root or the clusboot group; reading does not. A refused call changes nothing. */
static void test_permissions(void) {
        struct cluster c;
        struct emu_board_config cfg[2] = { { 0 }, { 0 } };
        char *out = NULL;

        if (geteuid() != 0) {
                fprintf(stderr, "  (not root: setpriv cannot drop to nobody; skipping)\n");
                return;
        }
        /* node2's ROM never answers: with no Power= it ends needs-power, a state Retry acts on */
        cfg[1].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_NO_ANSWER, .point = EMU_AT_ROM_STATUS, .sticky = true };
        cfg[1].n_faults = 1;
        cluster_init(&c, 2, 16, cfg, "MaxAttempts=2\nStepRetries=0\n");
        cluster_start(&c);
        plug_all(&c);
        CHECK(wait_state(&c, 1, "up", 30000), "node1 not up");
        CHECK(wait_state(&c, 2, "needs-power", 30000), "node2 not needs-power");

        const char *status_args[] = { "status", NULL };
        CHECK(ctl(&c, true, &out, status_args) == 0, "nobody cannot read status");
        g_free(out);

        size_t failed_lines = tb_log_count_matches(c.tb, "node2[2-1]: state");
        const char *retry[] = { "retry", "node2", NULL };
        CHECK(ctl(&c, true, NULL, retry) == 5, "nobody's retry was not refused with exit 5");
        const char *power[] = { "power", "off", "node1", NULL };
        CHECK(ctl(&c, true, NULL, power) == 5, "nobody's power off was not refused");
        const char *reload[] = { "reload", NULL };
        CHECK(ctl(&c, true, NULL, reload) == 5, "nobody's reload was not refused");
        tb_run_for(c.tb, 300);
        CHECK(tb_log_count_matches(c.tb, "node2[2-1]: state") == failed_lines, "a refused retry changed node2");

        size_t mark = tb_log_count(c.tb);
        CHECK(ctl(&c, false, NULL, retry) == 0, "root's retry failed");
        CHECK(tb_wait_log(c.tb, mark, "node2[2-1]: state rom", 5000) != NULL, "retry did not restart node2's boot");
        const char *unknown[] = { "retry", "node9", NULL };
        CHECK(ctl(&c, false, NULL, unknown) == 4, "an unknown node is not exit 4");
        cluster_free(&c);
}

/* 32 boards at once (files at 1/16 size to keep the tier fast). */
static void test_many(void) {
        struct cluster c;
        cluster_init(&c, 32, 16, NULL, NULL);
        cluster_start(&c);
        int64_t t0 = g_get_monotonic_time();
        plug_all(&c);
        CHECK(all_up(&c, 120000), "not all 32 nodes came up");
        fprintf(stderr, "  32 boards up in %.0f ms\n", (double) (g_get_monotonic_time() - t0) / 1000.0);
        check_boards(&c, 0);
        CHECK(tb_log_count_matches(c.tb, "state retrying") == 0, "some node had to retry");
        cluster_free(&c);
}

/* Two boards plugged before the daemon starts (found by enumeration), one while they boot (hotplug). */
static void test_plug_during_boot(void) {
        struct cluster c;
        cluster_init(&c, 3, 4, NULL, NULL);
        tb_plug(tb_board_at(c.tb, 0));
        tb_plug(tb_board_at(c.tb, 1));
        cluster_start(&c);
        CHECK(wait_state(&c, 1, "serving", 20000) != NULL, "node1 (present at start) never served");
        tb_plug(tb_board_at(c.tb, 2));
        CHECK(all_up(&c, 60000), "not every node came up");
        check_boards(&c, 0);
        cluster_free(&c);
}

static bool pred_serving_bytes(tb_testbed *tb, void *data) {
        const struct emu_received_file *f = emu_board_file(tb_board_emu(data), "start.elf");
        return f && f->received > 100000;
}

/*
 * udev late by more than the backoff (a loaded Pi Zero controller): the board
 * vanishes mid kernel.img and its remove event comes after the next attempt
 * was due. The transfer's ENODEV is enough: no session starts on the device
 * that left, and the board is up on attempt 2, not 3.
 */
static void test_late_remove(void) {
        struct cluster c;
        struct emu_board_config cfg[2] = { { 0 }, { 0 } };
        const struct tb_options o = { .uevent_delay_ms = 1500 };

        cfg[1].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_VANISH, .point = EMU_AT_FILE, .attempt = 1,
                                               .name = "kernel.img", .offset = 300000 };
        cfg[1].n_faults = 1;
        /* the backoff (0.1 s) ends long before udev's remove (1.5 s) */
        cluster_init_with(&c, 2, 4, cfg, "RetryDelaySec=0.1\n", &o);
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 60000), "not every node came up");
        check_boards(&c, 0);
        CHECK_FIELD(&c, "node2", "attempt", "2");
        CHECK(tb_log_find(c.tb, NULL, "cannot start") == NULL, "a session was started on a device that had left");
        CHECK(tb_log_count_matches(c.tb, "node2[2-1]: state retrying") == 1, "node2 retried %zu times",
              tb_log_count_matches(c.tb, "node2[2-1]: state retrying"));
        cluster_free(&c);
}

/*
 * The daemon stopped (SIGTERM, as systemctl restart does) while a board takes
 * start.elf: it finishes that write first, so the least forgiving board is
 * between two requests, not waiting for bytes no one will send; the next
 * daemon serves it from there: attempt 1, no power cut, nothing out of step.
 */
static void test_stop_mid_file(void) {
        struct cluster c;
        cluster_init(&c, 2, 1, NULL, NULL);
        cluster_start(&c);
        plug_all(&c);
        tb_board *b1 = tb_board_at(c.tb, 0);
        CHECK(tb_run_until(c.tb, pred_serving_bytes, b1, 20000), "board 1 never got start.elf bytes");
        cluster_stop(&c);
        CHECK(tb_log_find(c.tb, NULL, "node1[1-1]: session stopped for the daemon's exit") != NULL,
              "node1's session was not stopped at a boundary");
        tb_lock(c.tb);
        const struct emu_board *e1 = tb_board_emu(b1);
        CHECK(e1->stage == EMU_STAGE_SERVER || e1->stage == EMU_STAGE_GADGET, "board 1 in stage %s",
              emu_stage_name(e1->stage));
        CHECK(!e1->write_pending, "board 1 still waits for %u bytes of a write", e1->write_len - e1->write_got);
        CHECK(e1->error[0] == '\0', "board 1: %s", e1->error);
        tb_unlock(c.tb);

        size_t mark = tb_log_count(c.tb);
        cluster_start(&c);
        CHECK(all_up(&c, 60000), "not every node came up after the restart");
        check_boards(&c, 0);
        CHECK(tb_log_find(c.tb, &mark, "node1[1-1]: state up") != NULL, "node1 not up after the restart");
        CHECK_FIELD(&c, "node1", "attempt", "1");
        tb_lock(c.tb);
        CHECK(e1->attempt == 1 && e1->power_cuts == 0 && e1->error[0] == '\0',
              "board 1: attempt %u, %u power cuts, error '%s'", e1->attempt, e1->power_cuts, e1->error);
        tb_unlock(c.tb);
        cluster_free(&c);
}

/* A board unplugged mid-boot (no Power=): the others are not disturbed; it ends needs-power, saying why. */
static void test_unplug_mid_boot(void) {
        struct cluster c;
        cluster_init(&c, 4, 1, NULL, NULL);
        cluster_start(&c);
        plug_all(&c);
        tb_board *b2 = tb_board_at(c.tb, 1);
        CHECK(tb_run_until(c.tb, pred_serving_bytes, b2, 20000), "board 2 never got start.elf bytes");
        tb_unplug(b2);
        for (unsigned i = 1; i <= 4; i++)
                if (i != 2)
                        CHECK(wait_state(&c, i, "up", 60000) != NULL, "node%u not up", i);
        CHECK(wait_state(&c, 2, "needs-power", 20000) != NULL, "node2 did not end needs-power");
        check_boards(&c, 2);
        CHECK(tb_log_count_matches(c.tb, "state retrying") == 1, "only node2 may retry");
        struct json_object *st = status_json(&c);
        const char *err2 = json_str(json_node(st, "node2"), "last_error");
        CHECK(err2 && strstr(err2, "start.elf") && strstr(err2, "did not come back"), "node2's error: %s",
              err2 ? err2 : "(null)");
        json_object_put(st);
        cluster_free(&c);
}

static int connect_to(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        if (fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* Garbage, an oversize message, a half message and 200 idle clients while 4 boards boot. */
static void test_socket_abuse(void) {
        struct cluster c;
        int idle[200], fd;
        static char big[200000];

        cluster_init(&c, 4, 1, NULL, NULL);
        cluster_start(&c);
        plug_all(&c);
        CHECK(wait_state(&c, 1, "serving", 20000) != NULL, "node1 never served");

        for (size_t i = 0; i < G_N_ELEMENTS(idle); i++)
                idle[i] = connect_to(c.sock);
        fd = connect_to(c.sock);
        CHECK(fd >= 0 && write(fd, "\x01\x02garbage{{{", 13) == 13, "garbage not sent");
        if (fd >= 0)
                close(fd);
        fd = connect_to(c.sock);
        memset(big, 'x', sizeof big);
        big[0] = '{';
        if (fd >= 0) {
                (void) !write(fd, big, sizeof big);
                close(fd);
        }
        fd = connect_to(c.sock);
        const char half[] = "{\"method\":\"io.clusterboot.Manager.GetStatus\",\"param";
        CHECK(fd >= 0 && write(fd, half, sizeof half - 1) == (ssize_t) (sizeof half - 1), "half message not sent");

        for (int k = 0; k < 5; k++) {
                struct json_object *st = status_json(&c);
                CHECK(st != NULL, "status not answered under abuse (round %d)", k);
                json_object_put(st);
                tb_run_for(c.tb, 50);
        }
        CHECK(all_up(&c, 60000), "not every node came up under socket abuse");
        check_boards(&c, 0);
        struct json_object *st = status_json(&c);
        CHECK(st != NULL, "status not answered after the boots");
        json_object_put(st);
        if (fd >= 0)
                close(fd);
        for (size_t i = 0; i < G_N_ELEMENTS(idle); i++)
                if (idle[i] >= 0)
                        close(idle[i]);
        cluster_free(&c);
}

/*
 * clusterbootctl for calls that wait on the emulated hardware (power): run
 * under the testbed, whose loop keeps running meanwhile, so the emulated hub
 * can switch. Returns its exit status; its stderr is in the test log.
 */
struct ctl_wait {
        tb_child *child;
        void (*tick)(void *userdata); /* runs at every turn of the loop meanwhile; may be NULL */
        void *userdata;
};

static bool pred_ctl_done(tb_testbed *tb, void *data) {
        struct ctl_wait *w = data;

        if (w->tick)
                w->tick(w->userdata);
        return !tb_child_running(w->child);
}

static int ctl_running_with(struct cluster *c, const char *const *args, void (*tick)(void *), void *userdata) {
        const char *argv[16];
        size_t k = 0;
        struct ctl_wait w = { .tick = tick, .userdata = userdata };
        int st;

        argv[k++] = clusterbootctl;
        argv[k++] = "--socket";
        argv[k++] = c->sock;
        for (size_t i = 0; args[i] && k < 15; i++)
                argv[k++] = args[i];
        argv[k] = NULL;
        w.child = tb_spawn(c->tb, argv, NULL);
        if (!w.child)
                return -1;
        (void) tb_run_until(c->tb, pred_ctl_done, &w, 60000);
        st = tb_child_wait(w.child, 1);
        if (st < 0) {
                tb_child_kill(w.child, SIGKILL);
                (void) tb_child_wait(w.child, 5000);
                return -1;
        }
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int ctl_running(struct cluster *c, const char *const *args) {
        return ctl_running_with(c, args, NULL, NULL);
}

static bool pred_unpowered(tb_testbed *tb, void *board) {
        return !tb_board_powered(board);
}

static bool file_has_line(const char *path, const char *line) {
        char *text = NULL;
        bool found = false;

        if (g_file_get_contents(path, &text, NULL, NULL)) {
                char **lines = g_strsplit(text, "\n", -1);
                for (char **l = lines; *l; l++)
                        found |= strcmp(*l, line) == 0;
                g_strfreev(lines);
        }
        g_free(text);
        return found;
}

/*
 * Power through the emulated root hubs (Power=usb-hub, hub class requests:
 * the testbed has no sysfs `disable` files): the power-ons at start are
 * staggered; reboot an up node; power one off and see it stay off across a
 * replug and a daemon restart; power it on; a node without Power= is
 * refused with a message that says what to set.
 */
static void test_power(void) {
        struct cluster c;
        char state_file[200];
        tb_board *b1;
        size_t mark;
        const struct tb_log_line *switched1, *switched3;

        cluster_init(&c, 3, 8, NULL, "PowerSettleSec=0.2\nPowerOnDelaySec=0.3\n");
        cluster_set_node_conf(&c, 1, "Power=usb-hub\n");
        cluster_set_node_conf(&c, 3, "Power=usb-hub\n");
        snprintf(state_file, sizeof state_file, "%s/state/powered-off", c.dir);
        b1 = tb_board_at(c.tb, 0);
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 60000), "not every node came up");

        /* at start, each node with a switch was switched on in its turn, PowerOnDelaySec= apart */
        switched1 = tb_wait_log(c.tb, 0, "hub usb1 port 1 power on", 5000);
        switched3 = tb_wait_log(c.tb, 0, "hub usb3 port 1 power on", 5000);
        CHECK(switched1 && switched3, "the power-ons at start were not sent");
        if (switched1 && switched3)
                /* turns are 300 ms apart; opening the hub before the request takes a varying while */
                CHECK(switched3->t_usec - switched1->t_usec >= 150000, "power-ons at start only %.0f ms apart",
                      (double) (switched3->t_usec - switched1->t_usec) / 1000.0);
        CHECK(tb_log_find(c.tb, NULL, "hub usb2 port 1 power") == NULL, "node2 (no Power=) was switched");

        const char *reboot2[] = { "reboot", "node2", NULL };
        CHECK(ctl_running(&c, reboot2) == 1, "reboot of a node without Power= did not fail with 1");
        CHECK(tb_log_find(c.tb, NULL, "clusterbootctl: node2 has no power control: set Power=usb-hub or Power=command") != NULL,
              "the refusal does not say what to configure");
        CHECK(tb_log_count_matches(c.tb, "node2[2-1]: state off") == 0, "node2 was touched");

        /* reboot: off (the board leaves), on, a fresh boot on attempt 1 */
        mark = tb_log_count(c.tb);
        unsigned enumerations = tb_board_enumerations(b1);
        const char *reboot1[] = { "reboot", "node1", NULL };
        CHECK(ctl_running(&c, reboot1) == 0, "reboot node1 failed");
        /* the board left, or the hub reported the port unpowered first (then its removal may come later) */
        CHECK(tb_wait_log(c.tb, mark, "node1[1-1]: the board left the bus: its power is off", 1) != NULL ||
                      tb_wait_log(c.tb, mark, "node1[1-1]: no board on the bus: its power is off", 1) != NULL ||
                      tb_wait_log(c.tb, mark, "node1[1-1]: the switch reports the port unpowered", 1) != NULL,
              "reboot answered before the board left");
        CHECK(tb_wait_log(c.tb, mark, "node1[1-1]: power switched on", 1) != NULL, "reboot answered before power on");
        CHECK(tb_wait_log(c.tb, mark, "node1[1-1]: state up", 30000) != NULL, "node1 not up after the reboot");
        CHECK(tb_board_enumerations(b1) > enumerations, "the board did not re-enumerate");
        CHECK_FIELD(&c, "node1", "attempt", "1");
        check_boards(&c, 0);

        /* power off: off, kept in the state file */
        const char *off1[] = { "power", "off", "node1", NULL };
        CHECK(ctl_running(&c, off1) == 0, "power off node1 failed");
        CHECK(!tb_board_powered(b1), "node1's board still has power");
        CHECK_FIELD(&c, "node1", "state", "off");
        CHECK(file_has_line(state_file, "node1"), "%s does not list node1", state_file);

        /* someone powers the board by hand (a replug): it is not booted */
        mark = tb_log_count(c.tb);
        tb_power(b1, true);
        CHECK(tb_wait_log(c.tb, mark, "node1[1-1]: a board appeared, but the node is powered off", 10000) != NULL,
              "the daemon did not notice the replugged board");
        tb_run_for(c.tb, 500);
        CHECK(tb_board_stage(b1) == EMU_STAGE_ROM, "the board of an off node left its ROM");
        CHECK(tb_log_find(c.tb, &mark, "node1[1-1]: state rom") == NULL, "an off node was booted");

        /* a daemon restart: node1 is still off, and its port is switched off again */
        cluster_stop(&c);
        mark = tb_log_count(c.tb);
        cluster_start(&c);
        CHECK(tb_run_until(c.tb, pred_unpowered, b1, 10000), "the restarted daemon did not switch node1 off");
        CHECK_FIELD(&c, "node1", "state", "off");
        CHECK_FIELD(&c, "node2", "state", "up");
        CHECK(tb_log_find(c.tb, &mark, "node1[1-1]: state rom") == NULL, "an off node was booted after restart");

        /* power on: it boots */
        mark = tb_log_count(c.tb);
        const char *on1[] = { "power", "on", "node1", NULL };
        CHECK(ctl_running(&c, on1) == 0, "power on node1 failed");
        CHECK(tb_wait_log(c.tb, mark, "node1[1-1]: state up", 30000) != NULL, "node1 not up after power on");
        CHECK(!file_has_line(state_file, "node1"), "%s still lists node1", state_file);

        /* two nodes in one call are handled at once: both are off before either is on, the ons a turn apart */
        mark = tb_log_count(c.tb);
        const char *reboot13[] = { "reboot", "node1", "node3", NULL };
        CHECK(ctl_running(&c, reboot13) == 0, "reboot node1 node3 failed");
        const struct tb_log_line *hoff1 = tb_wait_log(c.tb, mark, "hub usb1 port 1 power off", 1),
                                 *hoff3 = tb_wait_log(c.tb, mark, "hub usb3 port 1 power off", 1),
                                 *hon1 = tb_wait_log(c.tb, mark, "hub usb1 port 1 power on", 1),
                                 *hon3 = tb_wait_log(c.tb, mark, "hub usb3 port 1 power on", 1);
        CHECK(hoff1 && hoff3 && hon1 && hon3, "reboot node1 node3 answered before both ports were switched off and on");
        if (hoff1 && hoff3 && hon1 && hon3) {
                CHECK(MAX(hoff1->t_usec, hoff3->t_usec) < MIN(hon1->t_usec, hon3->t_usec),
                      "the two reboots ran one after the other, not at once");
                CHECK(llabs(hon3->t_usec - hon1->t_usec) >= 150000, "their power-ons only %.0f ms apart",
                      (double) llabs(hon3->t_usec - hon1->t_usec) / 1000.0);
        }
        CHECK(tb_wait_log(c.tb, mark, "node1[1-1]: state up", 30000) &&
                      tb_wait_log(c.tb, mark, "node3[3-1]: state up", 30000),
              "node1 and node3 not up after their reboot");
        check_boards(&c, 0);
        cluster_free(&c);
}

/*
 * The least forgiving board through the real daemon, libusb and usbfs: a
 * stall mid kernel.img is resumed in place (CLEAR_HALT reaches the board,
 * attempt 1, no power cut); a board busy for 1.5 s mid-file is waited for; a
 * board that hangs for good is power-cycled with Power= and up on attempt 2,
 * and without it is needs-power, saying so.
 */
static void test_realistic_faults(void) {
        struct cluster c;
        struct emu_board_config cfg[4] = { { 0 }, { 0 }, { 0 }, { 0 } };
        const struct emu_fault at_kernel = { .point = EMU_AT_FILE, .attempt = 1, .name = "kernel.img",
                                             .offset = 200000 };

        for (unsigned i = 0; i < 4; i++) {
                cfg[i].faults[0] = at_kernel;
                cfg[i].n_faults = 1;
        }
        cfg[0].faults[0].kind = EMU_FAULT_STALL;
        cfg[1].faults[0].kind = EMU_FAULT_PAUSE;
        cfg[1].faults[0].pause_ms = 1500;
        cfg[2].faults[0].kind = EMU_FAULT_HANG;
        cfg[3].faults[0].kind = EMU_FAULT_HANG;
        /* the daemon's own BulkTimeoutSec (10 s), not the cluster's 2 s: a 1.5 s pause is normal */
        cluster_init(&c, 4, 4, cfg, "BulkTimeoutSec=10\nPowerSettleSec=0.2\nPowerOnDelaySec=0.1\n");
        cluster_set_node_conf(&c, 3, "Power=usb-hub\n");
        cluster_start(&c);
        plug_all(&c);
        CHECK(wait_state(&c, 1, "up", 60000) && wait_state(&c, 2, "up", 60000) && wait_state(&c, 3, "up", 60000),
              "nodes 1-3 not up");
        CHECK(wait_state(&c, 4, "needs-power", 60000), "node4 not needs-power");
        CHECK_FIELD(&c, "node1", "attempt", "1");
        CHECK_FIELD(&c, "node2", "attempt", "1");
        CHECK_FIELD(&c, "node3", "attempt", "2");
        tb_lock(c.tb);
        const struct emu_board *b1 = tb_board_emu(tb_board_at(c.tb, 0)), *b2 = tb_board_emu(tb_board_at(c.tb, 1)),
                               *b3 = tb_board_emu(tb_board_at(c.tb, 2));
        CHECK(b1->halts_cleared == 1 && b1->attempt == 1 && b1->power_cuts == 0,
                  "board 1: %u halts cleared, attempt %u, %u power cuts", b1->halts_cleared, b1->attempt,
                  b1->power_cuts);
        CHECK(b2->attempt == 1 && b2->power_cuts == 0, "board 2: attempt %u, %u power cuts", b2->attempt,
                  b2->power_cuts);
        /* the node's attempt is what counts; the board may see one more ROM entry from the start-up power-on */
        CHECK(b3->power_cuts >= 1, "board 3: its power was never cut (attempt %u)", b3->attempt);
        CHECK(b1->error[0] == '\0' && b2->error[0] == '\0' && b3->error[0] == '\0', "a board saw a violation");
        tb_unlock(c.tb);
        check_boards(&c, 4);
        struct json_object *st = status_json(&c);
        const char *err4 = json_str(json_node(st, "node4"), "last_error");
        CHECK(err4 && strstr(err4, "took no data") && strstr(err4, "kernel.img"), "node4's error: %s",
              err4 ? err4 : "(null)");
        CHECK(tb_log_find(c.tb, NULL, "replug the board, or configure Power=") != NULL,
              "node4's needs-power line does not say what to do");
        json_object_put(st);
        CHECK(tb_log_find(c.tb, NULL, "tb: reset") == NULL, "a board was reset: a reset reboots none of them");
        cluster_free(&c);
}

/*
 * Every SoC at once through the real daemon: a Zero, a Zero 2 W, a CM4
 * whose start4.elf leaves without a Done, one on older firmware that sends
 * one first, and a CM5. Each is up on attempt 1 with no warning (the CM4's
 * second file session is part of its boot), holding the right files.
 */
static void test_socs(void) {
        struct cluster c;
        struct emu_board_config cfg[5] = {
                { .soc = EMU_SOC_2835 },
                { .soc = EMU_SOC_2837 },
                { .soc = EMU_SOC_2711, .serial = "a1b2c3d4" },
                { .soc = EMU_SOC_2711, .serial = "a1b2c3d5", .handoff = EMU_HANDOFF_DONE, .server_serial_index = 1 },
                { .soc = EMU_SOC_2712, .serial = "e5f6a7b8", .product_d0 = true },
        };

        cluster_init(&c, 5, 8, cfg, NULL);
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 120000), "not every SoC's board came up");
        check_boards(&c, 0);
        for (unsigned i = 1; i <= 5; i++) {
                char name[16];
                snprintf(name, sizeof name, "node%u", i);
                CHECK_FIELD(&c, name, "attempt", "1");
        }
        CHECK(tb_log_count_matches(c.tb, "state retrying") == 0, "a node had to retry");
        CHECK(tb_log_find(c.tb, NULL, "node3[3-1]: state loading (from serving): the board left after start4.elf") !=
                      NULL,
              "node3 did not wait for start4.elf's own session");
        CHECK(tb_log_find(c.tb, NULL, "node4[4-1]: state loading (from serving): Done after start4.elf") != NULL,
              "node4 did not wait for start4.elf's own session after its Done");
        tb_lock(c.tb);
        for (unsigned i = 2; i < 4; i++) {
                const struct emu_board *b = tb_board_emu(tb_board_at(c.tb, i));
                CHECK(b->file_sessions == 2 && b->attempt == 1, "board %u: %u file sessions, attempt %u", i + 1,
                      b->file_sessions, b->attempt);
        }
        CHECK(tb_board_emu(tb_board_at(c.tb, 4))->metadata_answered == 3, "the CM5's properties were not all answered");
        tb_unlock(c.tb);

        /* who the boards are: the SoC serial of the 2711/2712 ROMs, the CM5's properties */
        struct json_object *st = status_json(&c), *props = NULL;
        CHECK(json_str(json_node(st, "node1"), "serial") == NULL, "a Zero has a SoC serial");
        CHECK(g_strcmp0(json_str(json_node(st, "node3"), "serial"), "a1b2c3d4") == 0, "node3's serial: %s",
              json_str(json_node(st, "node3"), "serial"));
        CHECK(g_strcmp0(json_str(json_node(st, "node5"), "serial"), "e5f6a7b8") == 0, "node5's serial: %s",
              json_str(json_node(st, "node5"), "serial"));
        CHECK(json_object_object_get_ex(json_node(st, "node5"), "metadata", &props) &&
                      g_strcmp0(json_str(props, "MAC_ADDR"), "2c:cf:67:00:00:01") == 0 &&
                      g_strcmp0(json_str(props, "USER_SERIAL_NUM"), "00000000") == 0 &&
                      json_object_object_length(props) == 3,
              "node5's metadata: %s", props ? json_object_to_json_string(props) : "(none)");
        char *out = NULL;
        const char *args[] = { "status", "node5", NULL };
        CHECK(ctl(&c, false, &out, args) == 0 && out && strstr(out, "Serial: e5f6a7b8") &&
                      strstr(out, "MAC_ADDR=2c:cf:67:00:00:01"),
              "clusterbootctl status node5 does not show its serial and properties:\n%s", out ? out : "");
        g_free(out);
        CHECK(tb_log_find(c.tb, NULL, "node5[5-1]: board property MAC_ADDR: 2c:cf:67:00:00:01") != NULL,
              "the property is not logged");

        /* kept for provisioning scripts as the reference's -j does: StateDirectory/<serial>.json */
        char *path = g_strdup_printf("%s/state/e5f6a7b8.json", c.dir);
        CHECK(tb_run_until(c.tb, file_exists, path, 30000), "%s was not written", path);
        struct json_object *kept = json_object_from_file(path);
        CHECK(kept && g_strcmp0(json_str(kept, "MAC_ADDR"), "2c:cf:67:00:00:01") == 0 &&
                      g_strcmp0(json_str(kept, "BOOT_ROM"), json_str(props, "BOOT_ROM")) == 0 &&
                      json_object_object_length(kept) == 3,
              "%s holds %s", path, kept ? json_object_to_json_string(kept) : "no JSON");
        json_object_put(kept);
        g_free(path);
        path = g_strdup_printf("%s/state/a1b2c3d4.json", c.dir);
        CHECK(tb_run_until(c.tb, file_exists, path, 30000), "%s was not written", path);
        kept = json_object_from_file(path);
        CHECK(kept && g_strcmp0(json_str(kept, "MAC_ADDR"), "dc:a6:32:00:00:01") == 0, "%s holds %s", path,
              kept ? json_object_to_json_string(kept) : "no JSON");
        json_object_put(kept);
        g_free(path);
        path = g_strdup_printf("%s/state/a1b2c3d5.json", c.dir);
        CHECK(tb_run_until(c.tb, file_exists, path, 30000), "%s was not written", path);
        g_free(path);
        /* the Zeros show no serial: no file for them, nor anything else (but the boot history, written when
         * its coalescing delay ends) */
        unsigned n_json = 0;
        char *state = g_strdup_printf("%s/state", c.dir);
        GDir *dir = g_dir_open(state, 0, NULL);
        for (const char *e; dir && (e = g_dir_read_name(dir));)
                n_json += g_str_has_suffix(e, ".json") && strcmp(e, "boot-history.json") != 0;
        if (dir)
                g_dir_close(dir);
        CHECK(n_json == 3, "%u JSON files in %s, not 3 (two CM4s, a CM5)", n_json, state);
        g_free(state);
        json_object_put(st);
        cluster_free(&c);
}

/*
 * A node named by Serial= follows its board: a CM4 booted on 1-1 is moved
 * to 2-1 (board 2 is the same board: same SoC serial) and boots there as
 * the same node, on attempt 1, with its own BootDirectory. A second board
 * showing that serial while the first is still on the bus is a board of
 * its own, and a Zero on the node's old port is not taken for it.
 */
static void test_serial_follows(void) {
        struct cluster c;
        struct emu_board_config cfg[3] = {
                { .soc = EMU_SOC_2711, .serial = "a1b2c3d4" },
                { .soc = EMU_SOC_2711, .serial = "a1b2c3d4" },
                { .soc = EMU_SOC_2711, .serial = "a1b2c3d4" },
        };
        size_t at = 0;

        cluster_init(&c, 3, 8, cfg, NULL);
        for (unsigned i = 1; i <= 3; i++)
                cluster_set_node_name(&c, i, NULL, true);
        /* its own directory holds the same files: where they came from is in the log */
        char *sections = g_strdup_printf("[Node cm4]\nSerial=A1B2C3D4\nBootDirectory=%s\n", c.boot);
        cluster_set_extra_sections(&c, sections);
        g_free(sections);
        cluster_start(&c);

        CHECK_FIELD(&c, "cm4", "port", "");
        tb_plug(tb_board_at(c.tb, 0));
        CHECK(tb_wait_log(c.tb, 0, "cm4[1-1]: state up", 60000), "the CM4 did not come up as cm4 on 1-1");
        CHECK(tb_log_find(c.tb, &at, "cm4[1-1]: its board (serial a1b2c3d4) is on port 1-1"),
              "the node did not say where its board is");

        /* moved: unplugged from 1-1, plugged into 2-1 */
        tb_unplug(tb_board_at(c.tb, 0));
        CHECK(tb_wait_log(c.tb, at, "cm4[1-1]: state absent", 30000), "cm4 did not see its board leave");
        tb_plug(tb_board_at(c.tb, 1));
        CHECK(tb_wait_log(c.tb, at, "cm4[2-1]: its board (serial a1b2c3d4) is now on port 2-1; it was on 1-1", 30000),
              "cm4 did not follow its board to 2-1");
        CHECK(tb_wait_log(c.tb, at, "cm4[2-1]: state up", 60000), "cm4 did not come up on 2-1");
        CHECK_FIELD(&c, "cm4", "port", "2-1");
        CHECK_FIELD(&c, "cm4", "attempt", "1");
        CHECK(tb_log_find(c.tb, NULL, "state retrying") == NULL, "moving the board cost an attempt");
        CHECK(tb_log_find(c.tb, NULL, "2-1[2-1]") == NULL, "the moved board was taken for a node of its port");
        CHECK(tb_check_board(c.tb, tb_board_at(c.tb, 1), c.scale) == 0, "board 2 did not boot right");

        /* found by its serial too, in any case */
        char *out = NULL;
        const char *args[] = { "status", "A1B2C3D4", NULL };
        CHECK(ctl(&c, false, &out, args) == 0 && out && strstr(out, "cm4") && strstr(out, "Serial: a1b2c3d4"),
              "clusterbootctl status SERIAL does not show cm4:\n%s", out ? out : "");
        g_free(out);

        /* a second board showing the same serial while cm4's is on 2-1: a board of its own, on its port */
        tb_plug(tb_board_at(c.tb, 2));
        CHECK(tb_wait_log(c.tb, 0, "a board showing serial a1b2c3d4 appeared on port 3-1 while that of cm4", 30000),
              "the duplicate serial was not reported");
        CHECK(tb_wait_log(c.tb, 0, "3-1[3-1]: state up", 60000), "the second board did not boot as node 3-1");
        CHECK_FIELD(&c, "cm4", "port", "2-1");
        CHECK_FIELD(&c, "cm4", "state", "up");
        cluster_free(&c);
}

/* A board that drops off the bus mid kernel.img and stays away is power-cycled and boots. */
static void test_power_revives(void) {
        struct cluster c;
        struct emu_board_config cfg[2] = { { 0 }, { 0 } };

        cfg[0].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_UNPLUG, .point = EMU_AT_FILE, .attempt = 1,
                                               .name = "kernel.img", .offset = 100000 };
        cfg[0].n_faults = 1;
        cluster_init(&c, 2, 4, cfg, "PowerSettleSec=0.2\nPowerOnDelaySec=0.1\n");
        cluster_set_node_conf(&c, 1, "Power=usb-hub\n");
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 60000), "not every node came up");
        size_t at = 0;
        CHECK(tb_log_find(c.tb, &at, "node1[1-1]: state power-cycling (from serving): the board left the bus") != NULL,
              "node1 was not power-cycled as soon as it left the bus");
        /* after that: its port switched off, then on (the hub's own record), and nobody else's */
        CHECK(tb_log_find(c.tb, &at, "hub usb1 port 1 power off") && tb_log_find(c.tb, &at, "hub usb1 port 1 power on"),
              "the port of node1 was not switched off and on after the board stayed away");
        CHECK(tb_log_find(c.tb, NULL, "hub usb2 port 1 power") == NULL, "node2 (no Power=) was switched");
        CHECK_FIELD(&c, "node1", "attempt", "2");
        check_boards(&c, 0);
        cluster_free(&c);
}

/* The emulated relays of test_power_command: a command writes "on" or "off" into DIR/relay-NODE. */
struct relays {
        struct cluster *c;
        unsigned n;
};

static void relays_tick(void *userdata) {
        struct relays *r = userdata;

        for (unsigned i = 0; i < r->n; i++) {
                char path[256], *text = NULL;

                snprintf(path, sizeof path, "%s/relay-node%u", r->c->dir, i + 1);
                if (!g_file_get_contents(path, &text, NULL, NULL))
                        continue;
                if (!*text) { /* created, not written yet: the shell's echo comes next */
                        g_free(text);
                        continue;
                }
                unlink(path);
                tb_power(tb_board_at(r->c->tb, i), g_str_has_prefix(text, "on"));
                g_free(text);
        }
}

static bool pred_relays(tb_testbed *tb, void *data) {
        relays_tick(data);
        return false;
}

/*
 * Power=command in the real daemon: the commands run (no shell but the one
 * they name, %n expanded), the emulated relay they drive switches the board,
 * reboot brings it back on attempt 1; a command that fails makes the call
 * fail with its exit status and its output, which are in the journal too.
 */
static void test_power_command(void) {
        struct cluster c;
        struct relays relays = { .c = &c, .n = 2 };
        char conf[512];
        size_t mark;

        cluster_init(&c, 2, 8, NULL, "PowerSettleSec=0.2\nPowerOnDelaySec=0.1\n");
        snprintf(conf, sizeof conf,
                 "Power=command\nPowerOnCommand=/bin/sh -c 'echo on > %s/relay-%%n'\n"
                 "PowerOffCommand=/bin/sh -c 'echo off > %s/relay-%%n'\n",
                 c.dir, c.dir);
        cluster_set_node_conf(&c, 1, conf);
        cluster_set_node_conf(&c, 2, "Power=command\nPowerOnCommand=/bin/true\n"
                                     "PowerOffCommand=/bin/sh -c 'echo relay busy >&2; exit 3'\n");
        cluster_start(&c);
        plug_all(&c);
        (void) tb_run_until(c.tb, pred_relays, &relays, 500);
        CHECK(all_up(&c, 60000), "not every node came up");

        mark = tb_log_count(c.tb);
        const char *reboot1[] = { "reboot", "node1", NULL };
        CHECK(ctl_running_with(&c, reboot1, relays_tick, &relays) == 0, "reboot node1 failed");
        CHECK(tb_log_find(c.tb, &(size_t){ mark }, "node1[1-1]: running power-off command") != NULL,
              "the power-off command was not logged");
        CHECK(tb_wait_log(c.tb, mark, "node1[1-1]: state up", 30000) != NULL, "node1 not up after the reboot");
        CHECK_FIELD(&c, "node1", "attempt", "1");

        mark = tb_log_count(c.tb);
        const char *off2[] = { "power", "off", "node2", NULL };
        CHECK(ctl_running(&c, off2) == 1, "a failing power-off command did not fail the call");
        CHECK(tb_log_find(c.tb, &(size_t){ mark }, "exit status 3: relay busy") != NULL,
              "the failure does not carry the command's exit status and output");
        CHECK(tb_log_find(c.tb, &(size_t){ mark }, "node2[2-1]: power-off command: relay busy") != NULL,
              "the command's output is not in the daemon's log with the node's name");
        CHECK_FIELD(&c, "node2", "state", "off");
        check_boards(&c, 2);
        cluster_free(&c);
}

static bool pred_paused(tb_testbed *tb, void *data) {
        return tb_board_emu(data)->busy_until_ms != 0;
}

/* The daemon logged `first` and, later, `then` (both at or after `from`). */
static bool logged_in_order(struct cluster *c, size_t from, const char *first, const char *then) {
        return tb_log_find(c->tb, &from, first) && tb_log_find(c->tb, &from, then);
}

/*
 * A reload renames a node whose section was renamed (a node kept off stays
 * off under its new name, and is switched on by it), leaves a node whose
 * section was removed known by its port, and does not disturb a boot in
 * flight (node2's, held up by a request its board does not answer at
 * once). SIGHUP reloads too: a new section adds a node.
 */
static void test_reload_renames(void) {
        struct cluster c;
        struct json_object *st, *n;
        struct emu_board_config cfg[3] = { { 0 }, { 0 }, { 0 } };
        char state_file[200];
        size_t mark;

        /* node2's board is busy before its third request until the test ends the pause: its boot is in
         * flight across the reload whatever the machine's speed */
        cfg[1].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_PAUSE, .point = EMU_AT_REQUEST, .attempt = 1,
                                               .index = 2, .pause_ms = 600000 };
        cfg[1].n_faults = 1;
        cluster_init(&c, 3, 8, cfg, "PowerSettleSec=0.2\nRequestTimeoutSec=60\n");
        cluster_set_node_conf(&c, 1, "Power=usb-hub\n");
        snprintf(state_file, sizeof state_file, "%s/state/powered-off", c.dir);
        cluster_start(&c);
        tb_plug(tb_board_at(c.tb, 0));
        tb_plug(tb_board_at(c.tb, 2));
        CHECK(wait_state(&c, 1, "up", 60000) && wait_state(&c, 3, "up", 60000), "node1 and node3 did not come up");
        const char *off1[] = { "power", "off", "node1", NULL };
        CHECK(ctl_running(&c, off1) == 0, "power off node1 failed");

        tb_plug(tb_board_at(c.tb, 1));
        CHECK(wait_state(&c, 2, "serving", 20000), "node2 never served");
        CHECK(tb_run_until(c.tb, pred_paused, tb_board_at(c.tb, 1), 20000), "node2's board never got busy");
        cluster_set_node_name(&c, 1, "head", false);
        cluster_set_node_name(&c, 2, "worker2", false);
        cluster_set_node_name(&c, 3, NULL, true);
        cluster_write_conf(&c);
        mark = tb_log_count(c.tb);
        const char *reload[] = { "reload", NULL };
        CHECK(ctl_running(&c, reload) == 0, "reload failed");
        CHECK(tb_wait_log(c.tb, mark, "configuration reloaded", 10000), "the reload was not logged");
        tb_board_end_pause(tb_board_at(c.tb, 1));
        CHECK(tb_wait_log(c.tb, mark, "worker2[2-1]: state up", 30000), "worker2 (node2) did not come up");
        CHECK(logged_in_order(&c, mark, "configuration reloaded", "worker2[2-1]: state up"),
              "node2's boot was over before the reload: nothing shows the reload left it alone");
        CHECK(tb_log_count_matches(c.tb, "[2-1]: state retrying") == 0, "the reload disturbed node2's boot");
        CHECK_FIELD(&c, "worker2", "attempt", "1");

        st = status_json(&c);
        n = json_node(st, "worker2");
        CHECK(n && g_strcmp0(json_str(n, "port"), "2-1") == 0 && json_flag(n, "configured") == 1,
              "node2 was not renamed worker2");
        n = json_node(st, "3-1");
        CHECK(n && json_flag(n, "configured") == 0 && g_strcmp0(json_str(n, "state"), "up") == 0,
              "node3 is not known by its port, unconfigured and still up, after its section went");
        n = json_node(st, "head");
        CHECK(n && g_strcmp0(json_str(n, "state"), "off") == 0, "node1 is not 'head', off");
        CHECK(json_node(st, "node1") == NULL && json_node(st, "node2") == NULL && json_node(st, "node3") == NULL,
              "old names still there");
        json_object_put(st);
        CHECK(file_has_line(state_file, "head") && !file_has_line(state_file, "node1"),
              "the state file does not follow the rename");
        CHECK(tb_log_find(c.tb, NULL, "worker2[2-1]: renamed in the configuration: was node2") != NULL,
              "the rename is not logged");
        CHECK(!tb_board_powered(tb_board_at(c.tb, 0)), "head's board got its power back at the reload");

        /* the renamed node is switched on by its new name, and leaves the state file */
        mark = tb_log_count(c.tb);
        const char *on_head[] = { "power", "on", "head", NULL };
        CHECK(ctl_running(&c, on_head) == 0, "power on head failed");
        CHECK(tb_wait_log(c.tb, mark, "head[1-1]: state up", 30000), "head not up after power on");
        CHECK(!file_has_line(state_file, "head"), "the state file still lists head");

        /* SIGHUP: a new section adds a node (no board on its port yet) */
        cluster_set_extra_sections(&c, "[Node spare]\nPort=9-1\n");
        cluster_write_conf(&c);
        mark = tb_log_count(c.tb);
        tb_child_kill(c.daemon, SIGHUP);
        CHECK(tb_wait_log(c.tb, mark, "configuration reloaded", 10000), "SIGHUP did not reload");
        st = status_json(&c);
        n = json_node(st, "spare");
        CHECK(n && g_strcmp0(json_str(n, "port"), "9-1") == 0 && json_flag(n, "configured") == 1 &&
                      g_strcmp0(json_str(n, "state"), "absent") == 0,
              "the new section did not add node 'spare' on 9-1");
        CHECK(g_strcmp0(json_str(json_node(st, "worker2"), "state"), "up") == 0, "worker2 is no longer up");
        json_object_put(st);
        cluster_free(&c);
}

static const struct cluster_test tests[] = {
        { "seed-failure", test_seed_failure },   { "permissions", test_permissions },
        { "many", test_many },                   { "plug-during-boot", test_plug_during_boot },
        { "unplug-mid-boot", test_unplug_mid_boot }, { "socket-abuse", test_socket_abuse },
        { "stop-mid-file", test_stop_mid_file }, { "late-remove", test_late_remove },
        { "realistic-faults", test_realistic_faults }, { "socs", test_socs },
        { "serial-follows", test_serial_follows },
        { "power", test_power },                 { "power-revives", test_power_revives },
        { "power-command", test_power_command }, { "reload-renames", test_reload_renames },
};

int main(int argc, char **argv) {
        clusterboot = getenv("CLUSTERBOOT");
        clusterbootctl = getenv("CLUSTERBOOTCTL");
        if (!clusterboot || !clusterbootctl) {
                fprintf(stderr, "set CLUSTERBOOT and CLUSTERBOOTCTL to the binaries under test\n");
                return 2;
        }
        return cluster_run_tests(tests, G_N_ELEMENTS(tests), argc, argv);
}
