/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Proves the umockdev harness without the daemon: probe-host (a small async
 * libusb host doing what the daemon will do) boots emulated boards through
 * fake usbdevfs nodes, and every board must reach its gadget stage having
 * received the loader and every file completely, with matching hashes.
 *
 * usage: test-probe [--boards N] [--scale N] [--list] [TEST...]
 *   --boards N   boards for the "many" test (default 32)
 *   --scale N    file sizes divided by N (default 1; the "many" test: 16)
 *   TEST         run only these tests (default: all)
 * Environment: PROBE_HOST (path of probe-host; default next to this binary),
 * TB_USBFS_SHIM, TB_ECHO=1 (show all output live), TB_CHILD_WRAPPER
 * (e.g. "valgrind -q --error-exitcode=99").
 */
#include <glib.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "board-check.h"
#include "synth.h"
#include "testbed.h"

/*
 * umockdev's preload tracks at most 50 emulated device fds per process and
 * aborts past that ("fd_map_add(): overflow"); probe-host keeps a device open
 * until its last transfer is reaped, so 32 boards in mid re-enumeration can
 * hold ROM and second-stage fds at once (seen under load in CI). 24 stays
 * clear of it; the daemon's own 32-board run is test-daemon's "many".
 */
static unsigned many_boards = 24;
static unsigned file_scale = 1;
static bool scale_given;
static char *probe_host;
static bool failed_now;

static unsigned failures_shown;

#define CHECK(cond, ...)                                                                         \
        do {                                                                                     \
                if (!(cond)) {                                                                   \
                        if (failures_shown++ < 20) {                                             \
                                fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
                                fprintf(stderr, __VA_ARGS__);                                    \
                                fputc('\n', stderr);                                             \
                        }                                                                        \
                        failed_now = true;                                                       \
                }                                                                                \
        } while (0)

/*
 * probe-host recovers the way the lenient board allows (a file written again,
 * a reset that reboots): every board here is that board. The least forgiving
 * board's recovery is the daemon's, tested in test-daemon.
 */
static struct emu_board_config *lenient(struct emu_board_config *c) {
        enum emu_after_bulk_fault after = c->after_bulk_fault;

        emu_board_config_lenient(c);
        if (after != EMU_AFTER_BULK_FAULT_WAIT_REST)
                c->after_bulk_fault = after; /* a test that asks for another behaviour gets it */
        return c;
}

static double ms_since(int64_t t0) {
        return (double) (g_get_monotonic_time() - t0) / 1000.0;
}

/* Everything a board must have received for a complete, correct boot. */
static void check_board(tb_testbed *tb, tb_board *b, unsigned scale) {
        if (tb_check_board(tb, b, scale) > 0)
                failed_now = true;
}

/* data: the probe-host child, or NULL. Also stops waiting when it died. */
static bool pred_all_gadget(tb_testbed *tb, void *data) {
        enum emu_stage s = EMU_STAGE_GADGET;
        return tb_pred_all_in_stage(tb, &s) || (data && !tb_child_running(data));
}

static tb_child *spawn_probe(tb_testbed *tb, unsigned expect, const char *const *extra) {
        char n[16], scale[16];
        const char *argv[32] = { probe_host, "--expect", n, "--timeout-ms", "60000", "--scale", scale };
        size_t k = 7;
        snprintf(n, sizeof n, "%u", expect);
        snprintf(scale, sizeof scale, "%u", file_scale);
        for (size_t i = 0; extra && extra[i] && k < 30; i++)
                argv[k++] = extra[i];
        if (getenv("PROBE_VERBOSE"))
                argv[k++] = "--verbose";
        argv[k] = NULL;
        return tb_spawn(tb, argv, NULL);
}

static void finish(tb_testbed *tb, tb_child *child, int want_status) {
        int st = child ? tb_child_wait(child, 20000) : -1;
        CHECK(child && st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == want_status, "probe-host status %d", st);
        struct tb_stats s;
        tb_get_stats(tb, &s);
        CHECK(s.unhandled_ioctls == 0, "%" PRIu64 " unhandled ioctls", s.unhandled_ioctls);
        if (failed_now)
                tb_log_dump(tb, stderr);
}

static void print_stats(tb_testbed *tb, const char *what, double ms) {
        struct tb_stats s;
        tb_get_stats(tb, &s);
        fprintf(stderr,
                "  %s: %.1f ms; %" PRIu64 " ioctls, %" PRIu64 " URBs, %.1f MB bulk, %" PRIu64 " uevents (%" PRIu64
                " retried), %" PRIu64 " enumerations\n",
                what, ms, s.ioctls, s.urbs_submitted, (double) s.bulk_bytes / 1e6, s.uevents, s.uevent_retries,
                s.enumerations);
}

/* n boards booted by one probe-host; half are there when it starts (found by
 * enumeration), half are plugged once it listens (found by hotplug). */
enum topology {
        ONE_PER_BUS, /* 1-1, 2-1, 3-1, ... (like dummy_hcd in the VM tier) */
        ONE_HUB,     /* 1-1.1 ... 1-1.7 */
        HUBS,        /* 1-1.1 ... 1-1.7, 1-2.1 ... (7-port hubs on the root hub) */
};

static void port_name(enum topology t, unsigned i, char *buf, size_t size) {
        switch (t) {
        case ONE_PER_BUS:
                snprintf(buf, size, "%u-1", i + 1);
                break;
        case ONE_HUB:
                snprintf(buf, size, "1-1.%u", i + 1);
                break;
        case HUBS:
                snprintf(buf, size, "1-%u.%u", 1 + i / 7, 1 + i % 7);
                break;
        }
}

static void boot_many(unsigned n, const struct tb_options *o, enum topology topo, const char *const *extra,
                      const char *label) {
        tb_testbed *tb = tb_new(o);
        char port[32];

        for (unsigned i = 0; i < n; i++) {
                port_name(topo, i, port, sizeof port);
                struct emu_board_config c = { .rom_pid = (i % 2) ? 0x2764 : 0x2763 };
                tb_add_board(tb, port, lenient(&c));
        }
        int64_t t0 = g_get_monotonic_time();
        for (unsigned i = 0; i < n / 2; i++)
                tb_plug(tb_board_at(tb, i));
        tb_child *child = spawn_probe(tb, n, extra);
        CHECK(tb_wait_uevent_listener(tb, 10000), "probe-host never listened for uevents");
        for (unsigned i = n / 2; i < n; i++)
                tb_plug(tb_board_at(tb, i));
        tb_run_until(tb, pred_all_gadget, child, 60000);
        double ms = ms_since(t0);
        enum emu_stage gadget = EMU_STAGE_GADGET;
        tb_lock(tb);
        bool ok = tb_pred_all_in_stage(tb, &gadget);
        tb_unlock(tb);
        CHECK(ok, "not all boards reached the gadget stage");
        for (unsigned i = 0; i < n; i++)
                check_board(tb, tb_board_at(tb, i), file_scale);
        finish(tb, child, 0);
        CHECK(tb_log_count_matches(tb, "state up") == n, "%zu boards up", tb_log_count_matches(tb, "state up"));
        print_stats(tb, label, ms);
        tb_free(tb);
}

static void test_four(void) {
        boot_many(4, NULL, ONE_PER_BUS, NULL, "4 boards, one per bus");
}

static void test_hub(void) {
        boot_many(4, NULL, ONE_HUB, NULL, "4 boards behind a hub");
}

/* Many boards on one bus: they share its bandwidth, so real-size files take
 * ~7 s for 32 boards; files are 1/16 of their size unless --scale is given. */
static void test_many(void) {
        char label[64];
        unsigned saved = file_scale;
        if (!scale_given)
                file_scale = 16;
        snprintf(label, sizeof label, "%u boards behind hubs, files 1/%u size", many_boards, file_scale);
        boot_many(many_boards, NULL, HUBS, NULL, label);
        file_scale = saved;
}

static void test_split_urbs(void) {
        /* a host controller without scatter-gather: libusb splits bulk transfers into 16 KiB URBs */
        struct tb_options o = { .usbfs_caps = TB_CAP_BULK_CONTINUATION | TB_CAP_REAP_AFTER_DISCONNECT };
        const char *extra[] = { "--chunk", "0", NULL };
        boot_many(2, &o, ONE_PER_BUS, extra, "2 boards, whole files as split URBs");
}

/* The probe-host driven by epoll, fds added through libusb's pollfd notifiers:
 * what the daemon does with sd-event. Works with FIFO nodes (the default). */
static void test_epoll(void) {
        const char *extra[] = { "--epoll", NULL };
        boot_many(4, NULL, HUBS, extra, "4 boards, epoll loop");
}

/* With umockdev's regular-file nodes epoll refuses the device fd (EPERM), so an
 * epoll/sd-event program never hears of its transfers: this is why the harness
 * makes FIFO nodes. */
static void test_epoll_file_nodes(void) {
        struct tb_options o = { .node_kind = TB_NODE_FILE };
        tb_testbed *tb = tb_new(&o);
        tb_board *b = tb_add_board(tb, "1-1", lenient(&(struct emu_board_config){ 0 }));
        const char *argv[] = { probe_host, "--epoll", "--expect", "1", "--timeout-ms", "1500", NULL };

        tb_plug(b);
        tb_child *child = tb_spawn(tb, argv, NULL);
        int st = child ? tb_child_wait(child, 10000) : -1;
        CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d: want a timeout (2)", st);
        CHECK(tb_log_find(tb, NULL, "Operation not permitted") != NULL, "no EPERM from epoll_ctl");
        CHECK(tb_board_stage(b) == EMU_STAGE_ROM, "stage %s", emu_stage_name(tb_board_stage(b)));
        if (failed_now)
                tb_log_dump(tb, stderr);
        tb_free(tb);
}

static void test_file_nodes(void) {
        /* umockdev's plain regular-file nodes: always "ready", libusb busy-polls */
        struct tb_options o = { .node_kind = TB_NODE_FILE };
        unsigned saved = file_scale;

        /* libusb spins on an always-ready fd, so the time is the machine's: the point here
         * is the node kind, not throughput; small files keep it a correctness test */
        if (!scale_given)
                file_scale = 16;
        boot_many(2, &o, ONE_PER_BUS, NULL, "2 boards, regular-file nodes, files 1/16 size");
        file_scale = saved;
}

/* A file's bulk data is never taken past an offset: the host's transfer must
 * time out (libusb cancels it: DISCARDURB, reaped as -ENOENT -> TIMED_OUT);
 * the host writes the file again and the board boots. */
static void test_no_answer(void) {
        tb_testbed *tb = tb_new(NULL);
        struct emu_board_config c = { .n_faults = 1 };
        c.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_NO_ANSWER, .point = EMU_AT_FILE, .attempt = 1,
                                          .name = "start.elf", .offset = 100000 / file_scale };
        tb_board *b = tb_add_board(tb, "1-1", lenient(&c));
        const char *extra[] = { "--bulk-timeout-ms", "200", NULL };

        tb_plug(b);
        int64_t t0 = g_get_monotonic_time();
        tb_child *child = spawn_probe(tb, 1, extra);
        bool ok = tb_run_until(tb, pred_all_gadget, child, 30000);
        CHECK(ok, "board not in gadget stage");
        const struct tb_log_line *l = tb_log_find(tb, NULL, "file data start.elf: timed out");
        CHECK(l != NULL, "the host never saw its transfer time out");
        CHECK(tb_log_find(tb, NULL, "resending start.elf") != NULL, "no resend");
        struct tb_stats s;
        tb_get_stats(tb, &s);
        CHECK(s.urbs_discarded >= 1, "no URB was discarded");
        CHECK(s.urbs_timed_out >= 1, "no URB left pending");
        check_board(tb, b, file_scale);
        tb_lock(tb);
        CHECK(tb_board_emu(b)->attempt == 1, "rebooted: attempt %u", tb_board_emu(b)->attempt);
        tb_unlock(tb);
        finish(tb, child, 0);
        print_stats(tb, "no answer at start.elf, resend", ms_since(t0));
        tb_free(tb);
}

/* The same fault, but the board restarts after a failed transfer: it drops off
 * the bus mid-transfer; the host sees the device go and boots it again from ROM. */
static void test_no_answer_restart(void) {
        tb_testbed *tb = tb_new(NULL);
        struct emu_board_config c = { .n_faults = 1, .after_bulk_fault = EMU_AFTER_BULK_FAULT_RESTART };
        c.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_NO_ANSWER, .point = EMU_AT_FILE, .attempt = 1,
                                          .name = "kernel.img", .offset = 70000 / file_scale };
        tb_board *b = tb_add_board(tb, "2-1", lenient(&c));

        tb_plug(b);
        tb_child *child = spawn_probe(tb, 1, NULL);
        CHECK(tb_run_until(tb, pred_all_gadget, child, 30000), "board not in gadget stage");
        CHECK(tb_log_find(tb, NULL, "file data kernel.img: no device") != NULL, "the host did not see the board go");
        check_board(tb, b, file_scale);
        tb_lock(tb);
        CHECK(tb_board_emu(b)->attempt == 2, "attempt %u", tb_board_emu(b)->attempt);
        tb_unlock(tb);
        finish(tb, child, 0);
        tb_free(tb);
}

/* A stall on a file's data: -EPIPE, the endpoint stays halted until CLEAR_HALT. */
static void test_stall(void) {
        tb_testbed *tb = tb_new(NULL);
        struct emu_board_config c = { .n_faults = 1 };
        c.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_STALL, .point = EMU_AT_FILE, .attempt = 1,
                                          .name = "fixup.dat", .offset = 10 };
        tb_board *b = tb_add_board(tb, "1-1", lenient(&c));
        const char *extra[] = { "--chunk", "16384", NULL };

        tb_plug(b);
        tb_child *child = spawn_probe(tb, 1, extra);
        CHECK(tb_run_until(tb, pred_all_gadget, child, 30000), "board not in gadget stage");
        CHECK(tb_log_find(tb, NULL, "file data fixup.dat: stall") != NULL, "no stall seen");
        check_board(tb, b, file_scale);
        finish(tb, child, 0);
        tb_free(tb);
}

/* The ROM answers failure: the host resets the device, the board restarts. */
static void test_rom_failure_reset(void) {
        tb_testbed *tb = tb_new(NULL);
        struct emu_board_config c = { .n_faults = 1, .rom_pid = 0x2764 };
        c.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_ROM_FAILURE, .point = EMU_AT_ROM_STATUS, .attempt = 1 };
        tb_board *b = tb_add_board(tb, "3-1", lenient(&c));

        tb_plug(b);
        tb_child *child = spawn_probe(tb, 1, NULL);
        CHECK(tb_run_until(tb, pred_all_gadget, child, 30000), "board not in gadget stage");
        CHECK(tb_log_find(tb, NULL, "ROM status 0x80") != NULL, "no ROM failure seen");
        CHECK(tb_log_find(tb, NULL, "tb: reset 3-1 (restarts)") != NULL, "no reset");
        check_board(tb, b, file_scale);
        tb_lock(tb);
        CHECK(tb_board_emu(b)->resets == 1 && tb_board_emu(b)->attempt == 2, "resets %u attempt %u",
              tb_board_emu(b)->resets, tb_board_emu(b)->attempt);
        tb_unlock(tb);
        finish(tb, child, 0);
        tb_free(tb);
}

/* Unplugged while its files are sent: URBs fail with -ESHUTDOWN, the node
 * goes away; plugged again, it boots. */
static bool pred_serving_bytes(tb_testbed *tb, void *data) {
        tb_board *b = data;
        const struct emu_received_file *f = emu_board_file(tb_board_emu(b), "kernel.img");
        return f && f->received > 0;
}

/* data: the log position before the unplug */
static bool pred_host_saw_unplug(tb_testbed *tb, void *data) {
        size_t a = *(size_t *) data, b = a;
        return tb_log_find(tb, &a, "no device") || tb_log_find(tb, &b, "]: removed /dev/bus/usb/");
}

static void test_unplug_replug(void) {
        tb_testbed *tb = tb_new(NULL);
        tb_board *b = tb_add_board(tb, "1-2", lenient(&(struct emu_board_config){ 0 }));
        const char *extra[] = { "--chunk", "16384", NULL };

        tb_plug(b);
        tb_child *child = spawn_probe(tb, 1, extra);
        CHECK(tb_run_until(tb, pred_serving_bytes, b, 30000), "kernel.img never started");
        size_t mark = tb_log_count(tb);
        tb_unplug(b);
        /* the transfer in flight ("no device") or udev's remove, whichever the host hears of first */
        CHECK(tb_run_until(tb, pred_host_saw_unplug, &mark, 5000), "the host did not see the unplug");
        tb_plug(b);
        CHECK(tb_run_until(tb, pred_all_gadget, child, 30000), "board not in gadget stage");
        check_board(tb, b, file_scale);
        finish(tb, child, 0);
        tb_free(tb);
}

/* A uhubctl-style request on the parent hub powers a board off and on; the
 * power hook sees it. */
static unsigned hook_calls;
static void power_hook(tb_board *b, bool on, bool by_hub, void *data) {
        if (by_hub)
                hook_calls++;
}

static bool pred_stage_rom(tb_testbed *tb, void *data) {
        return tb_board_emu(data)->stage == EMU_STAGE_ROM && tb_board_enumerations(data) == 2;
}

/* The hub's port is off: the board behind it loses power when the testbed has carried that out, not before. */
static bool pred_unpowered(tb_testbed *tb, void *data) {
        return !tb_board_powered(data) && tb_board_stage(data) == EMU_STAGE_OFF;
}

static void hub_request(tb_testbed *tb, const char *what) {
        const char *argv[] = { probe_host, "--hub-power", what, NULL };
        tb_child *c = tb_spawn(tb, argv, NULL);
        int st = c ? tb_child_wait(c, 10000) : -1;
        CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "probe-host --hub-power %s: status %d", what, st);
}

static void test_hub_power(void) {
        tb_testbed *tb = tb_new(NULL);
        tb_board *hubbed = tb_add_board(tb, "1-1.3", lenient(&(struct emu_board_config){ 0 }));
        tb_board *direct = tb_add_board(tb, "2-1", lenient(&(struct emu_board_config){ 0 }));

        tb_set_power_hook(tb, power_hook, NULL);
        hook_calls = 0;
        tb_plug(hubbed);
        tb_plug(direct);
        hub_request(tb, "1-1.3:off");
        CHECK(tb_run_until(tb, pred_unpowered, hubbed, 5000), "1-1.3 still on");
        CHECK(tb_log_find(tb, NULL, "port 3 power off: ok, port status 0x0000") != NULL, "port status after off");
        hub_request(tb, "1-1.3:on");
        CHECK(tb_run_until(tb, pred_stage_rom, hubbed, 5000), "1-1.3 not back in ROM");
        hub_request(tb, "2-1:off"); /* on the root hub usb2 */
        CHECK(tb_run_until(tb, pred_unpowered, direct, 5000), "2-1 still on");
        CHECK(hook_calls == 3, "power hook called %u times", hook_calls);
        if (failed_now)
                tb_log_dump(tb, stderr);
        tb_free(tb);
}

static const struct {
        const char *name;
        void (*fn)(void);
} tests[] = {
        { "four", test_four },
        { "hub", test_hub },
        { "no-answer", test_no_answer },
        { "no-answer-restart", test_no_answer_restart },
        { "stall", test_stall },
        { "rom-failure-reset", test_rom_failure_reset },
        { "unplug-replug", test_unplug_replug },
        { "split-urbs", test_split_urbs },
        { "file-nodes", test_file_nodes },
        { "epoll", test_epoll },
        { "epoll-file-nodes", test_epoll_file_nodes },
        { "hub-power", test_hub_power },
        { "many", test_many },
};

int main(int argc, char **argv) {
        unsigned passed = 0, failed = 0;
        int first = 1;

        signal(SIGPIPE, SIG_IGN);
        for (; first < argc && argv[first][0] == '-'; first++) {
                if (strcmp(argv[first], "--boards") == 0 && first + 1 < argc)
                        many_boards = (unsigned) atoi(argv[++first]);
                else if (strcmp(argv[first], "--scale") == 0 && first + 1 < argc) {
                        file_scale = (unsigned) atoi(argv[++first]);
                        scale_given = true;
                }
                else if (strcmp(argv[first], "--list") == 0) {
                        for (size_t i = 0; i < G_N_ELEMENTS(tests); i++)
                                puts(tests[i].name);
                        return 0;
                } else {
                        fprintf(stderr, "usage: %s [--boards N] [--scale N] [--list] [TEST...]\n", argv[0]);
                        return 1;
                }
        }
        if (getenv("PROBE_HOST")) {
                probe_host = g_strdup(getenv("PROBE_HOST"));
        } else {
                char *exe = g_file_read_link("/proc/self/exe", NULL);
                char *dir = g_path_get_dirname(exe);
                probe_host = g_build_filename(dir, "probe-host", NULL);
                g_free(dir);
                g_free(exe);
        }

        for (size_t i = 0; i < G_N_ELEMENTS(tests); i++) {
                bool selected = first >= argc;
                for (int k = first; k < argc; k++)
                        selected |= strcmp(argv[k], tests[i].name) == 0;
                if (!selected)
                        continue;
                failed_now = false;
                failures_shown = 0;
                int64_t t0 = g_get_monotonic_time();
                tests[i].fn();
                fprintf(stderr, "%s %s (%.0f ms)\n", failed_now ? "FAIL" : "ok  ", tests[i].name, ms_since(t0));
                if (failed_now)
                        failed++;
                else
                        passed++;
        }
        printf("%u passed, %u failed\n", passed, failed);
        g_free(probe_host);
        return failed ? 1 : 0;
}
