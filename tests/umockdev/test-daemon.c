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

/*
 * The seed's failure: 4 boards at once, the 4th drops off the bus mid
 * kernel.img on its first attempt and comes back in ROM. All 4 end up, the
 * 4th on attempt 2; the 4 serving periods overlap (concurrency, read from
 * the daemon's own timestamps); status, --json and watch tell the same story.
 */
static void test_seed_failure(void) {
        struct cluster c;
        struct emu_board_config cfg[4] = { { 0 }, { .rom_pid = 0x2764 }, { 0 }, { 0 } };
        cfg[3].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_VANISH, .point = EMU_AT_FILE, .attempt = 1,
                                               .name = "kernel.img", .offset = 3000000 };
        cfg[3].n_faults = 1;

        cluster_init(&c, 4, 1, cfg, NULL);
        cluster_start(&c);

        /* a watcher from before the first board: it must see every transition */
        char *watch_argv[] = { (char *) clusterbootctl, (char *) "--socket", c.sock, (char *) "watch", NULL };
        GPid watch_pid = 0;
        int watch_out = -1;
        CHECK(g_spawn_async_with_pipes(NULL, watch_argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &watch_pid,
                                       NULL, &watch_out, NULL, NULL),
              "cannot start clusterbootctl watch");

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
        CHECK(all_up(&c, 60000), "not every node came up");
        check_boards(&c, 0);

        /* node4: attempt 2, after the vanish; nodes 1-3: attempt 1 */
        CHECK(tb_log_find(c.tb, NULL, "node4[4-1]: state up: up after") &&
                      tb_log_count_matches(c.tb, "node4[4-1]: state up: up after") == 1,
              "node4 up line");
        CHECK(tb_log_find(c.tb, NULL, "on attempt 2") != NULL, "node4 was not up on attempt 2");
        for (unsigned i = 1; i <= 3; i++) {
                char needle[64];
                snprintf(needle, sizeof needle, "node%u[%u-1]: state retrying", i, i);
                CHECK(tb_log_find(c.tb, NULL, needle) == NULL, "healthy node%u had to retry", i);
        }

        /* concurrency: every board's (first) serving period overlaps every other's */
        double start[4], end[4], latest_start = 0, earliest_end = 1e18;
        for (unsigned i = 0; i < 4; i++) {
                char needle[64];
                snprintf(needle, sizeof needle, "node%u[%u-1]: state serving", i + 1, i + 1);
                start[i] = daemon_time(tb_log_find(c.tb, NULL, needle));
                snprintf(needle, sizeof needle, "node%u[%u-1]: state %s", i + 1, i + 1, i == 3 ? "retrying" : "booted");
                end[i] = daemon_time(tb_log_find(c.tb, NULL, needle));
                fprintf(stderr, "  node%u serving %.3f .. %.3f (%.0f ms)\n", i + 1, start[i], end[i],
                        (end[i] - start[i]) * 1000);
                latest_start = start[i] > latest_start ? start[i] : latest_start;
                earliest_end = end[i] < earliest_end ? end[i] : earliest_end;
        }
        CHECK(latest_start > 0 && latest_start < earliest_end,
              "serving periods do not overlap: last start %.3f, first end %.3f", latest_start, earliest_end);

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
        char buf[65536];
        size_t got = 0;
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
        /* node2's ROM never answers: it ends failed, the state Retry acts on */
        cfg[1].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_NO_ANSWER, .point = EMU_AT_ROM_STATUS, .sticky = true };
        cfg[1].n_faults = 1;
        cluster_init(&c, 2, 16, cfg, "MaxAttempts=2\nStepRetries=0\n");
        cluster_start(&c);
        plug_all(&c);
        CHECK(wait_state(&c, 1, "up", 30000), "node1 not up");
        CHECK(wait_state(&c, 2, "failed", 30000), "node2 not failed");

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

        CHECK(ctl(&c, false, NULL, retry) == 0, "root's retry failed");
        CHECK(tb_wait_log(c.tb, 0, "node2[2-1]: state rom", 5000) != NULL, "retry did not restart node2's boot");
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

/* A board unplugged mid-boot: the others are not disturbed; it ends failed, saying why. */
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
        CHECK(wait_state(&c, 2, "failed", 20000) != NULL, "node2 did not end failed");
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

static const struct {
        const char *name;
        void (*fn)(void);
} tests[] = {
        { "seed-failure", test_seed_failure },   { "permissions", test_permissions },
        { "many", test_many },                   { "plug-during-boot", test_plug_during_boot },
        { "unplug-mid-boot", test_unplug_mid_boot }, { "socket-abuse", test_socket_abuse },
};

int main(int argc, char **argv) {
        unsigned passed = 0, failed = 0;

        signal(SIGPIPE, SIG_IGN);
        clusterboot = getenv("CLUSTERBOOT");
        clusterbootctl = getenv("CLUSTERBOOTCTL");
        if (!clusterboot || !clusterbootctl) {
                fprintf(stderr, "set CLUSTERBOOT and CLUSTERBOOTCTL to the binaries under test\n");
                return 2;
        }
        for (size_t i = 0; i < G_N_ELEMENTS(tests); i++) {
                bool selected = argc < 2;
                for (int k = 1; k < argc; k++)
                        selected |= strcmp(argv[k], tests[i].name) == 0;
                if (!selected)
                        continue;
                failed_now = false;
                int64_t t0 = g_get_monotonic_time();
                tests[i].fn();
                fprintf(stderr, "%s %s (%.0f ms)\n", failed_now ? "FAIL" : "ok  ", tests[i].name,
                        (double) (g_get_monotonic_time() - t0) / 1000.0);
                if (failed_now)
                        failed++;
                else
                        passed++;
        }
        printf("%u passed, %u failed\n", passed, failed);
        return failed ? 1 : 0;
}
