/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The usbfs and udev edges the harness emulates, met by the real daemon:
 * boards behind hubs on one shared bus (found by enumeration and by
 * hotplug), many of them; a transfer that is never answered (libusb
 * cancels it: DISCARDURB); a board that drops off mid-transfer; a ROM that
 * answers failure; a USB reset that reboots a board and one that does not;
 * an unplug and a replug; a host controller without
 * scatter-gather (libusb splits transfers into 16 KiB URBs); and umockdev's
 * own regular-file nodes, which epoll refuses (why the harness makes FIFOs).
 *
 * These were once proved with a second host of the harness's own
 * (probe-host); they run against the daemon so that no second
 * implementation of the protocol can disagree with it.
 *
 * usage: test-transport [TEST...]
 * Environment: CLUSTERBOOT (the daemon; meson sets it), TB_ECHO=1.
 */
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board-check.h"
#include "cluster.h"
#include "testbed.h"

/* libusb's URB size when the host controller cannot take a bulk transfer whole */
#define SPLIT_URB 16384u

static void ports_behind_hubs(unsigned n, char ports[][32], const char **names) {
        for (unsigned i = 0; i < n; i++) {
                snprintf(ports[i], 32, "1-%u.%u", 1 + i / 7, 1 + i % 7); /* 7-port hubs on root hub usb1 */
                names[i] = ports[i];
        }
}

/* Node N is up, on attempt `attempt` by the daemon's own count. */
#define CHECK_UP_ON(c, node, attempt)                                                                  \
        do {                                                                                           \
                unsigned got_ = up_attempt(wait_state(c, node, "up", 1));                              \
                CHECK(got_ == (attempt), "node%u up on attempt %u, not %u", node, got_, attempt);      \
        } while (0)

static bool no_retry(struct cluster *c) {
        return tb_log_count_matches(c->tb, "state retrying") == 0;
}

static void check_no_unhandled_ioctl(struct cluster *c) {
        struct tb_stats s;

        tb_get_stats(c->tb, &s);
        CHECK(s.unhandled_ioctls == 0, "%" PRIu64 " unhandled ioctls", s.unhandled_ioctls);
}

/*
 * Four boards (Zero and Zero 2 W ROMs) behind one hub, sharing bus 1: two are
 * on the bus when the daemon starts (it finds them by enumeration), two are
 * plugged once it listens (hotplug). Each bulk transfer goes as one URB on
 * this host controller: the contrast split-urbs needs.
 */
static void test_hub_boards(void) {
        struct cluster c;
        char ports[4][32];
        const char *names[4];
        struct emu_board_config cfg[4] = { { 0 }, { .rom_pid = 0x2764 }, { 0 }, { .rom_pid = 0x2764 } };
        struct tb_stats s;

        ports_behind_hubs(4, ports, names);
        cluster_init_ports(&c, 4, names, 4, cfg, NULL, NULL);
        tb_plug(tb_board_at(c.tb, 0));
        tb_plug(tb_board_at(c.tb, 1));
        cluster_start(&c);
        CHECK(wait_state(&c, 1, "serving", 20000), "node1 (on the bus at start) never served");
        tb_plug(tb_board_at(c.tb, 2));
        tb_plug(tb_board_at(c.tb, 3));
        CHECK(all_up(&c, 60000), "not every node behind the hub came up");
        check_boards(&c, 0);
        CHECK(no_retry(&c), "a node had to retry");
        tb_get_stats(c.tb, &s);
        CHECK(s.bulk_urb_max > SPLIT_URB, "the longest bulk URB was %" PRIu64 " bytes: split without need",
              s.bulk_urb_max);
        check_no_unhandled_ioctl(&c);
        cluster_free(&c);
}

/*
 * 28 boards behind four 7-port hubs, all on bus 1: they share its bandwidth
 * (files at 1/16 size to keep the tier fast). Test-daemon's "many" has 32
 * boards each on a bus of its own.
 */
static void test_many_hubs(void) {
        enum { N = 28 };
        struct cluster c;
        char ports[N][32];
        const char *names[N];

        ports_behind_hubs(N, ports, names);
        cluster_init_ports(&c, N, names, 16, NULL, NULL, NULL);
        cluster_start(&c);
        int64_t t0 = g_get_monotonic_time();
        plug_all(&c);
        CHECK(all_up(&c, 120000), "not all %u nodes behind hubs came up", N);
        fprintf(stderr, "  %u boards on one bus up in %.0f ms\n", N, (double) (g_get_monotonic_time() - t0) / 1000.0);
        check_boards(&c, 0);
        CHECK(no_retry(&c), "a node had to retry");
        check_no_unhandled_ioctl(&c);
        cluster_free(&c);
}

/*
 * A file's data is not taken past an offset once: the daemon's transfer
 * times out at its poll, libusb cancels it (DISCARDURB; the URB reaps as
 * -ENOENT with the bytes the board took), and the daemon sends exactly the
 * rest, which is all the least forgiving board accepts: attempt 1, no power
 * cut, no violation.
 */
static void test_no_answer(void) {
        struct cluster c;
        struct emu_board_config cfg[1] = { { .n_faults = 1 } };
        struct tb_stats s;

        cfg[0].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_NO_ANSWER, .point = EMU_AT_FILE, .attempt = 1,
                                               .name = "start.elf", .offset = 100000 };
        cluster_init(&c, 1, 4, cfg, NULL);
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 30000), "node1 not up");
        CHECK_UP_ON(&c, 1, 1);
        tb_get_stats(c.tb, &s);
        CHECK(s.urbs_timed_out >= 1, "no URB was left unanswered");
        CHECK(s.urbs_discarded >= 1, "no URB was cancelled (DISCARDURB)");
        tb_lock(c.tb);
        const struct emu_board *e = tb_board_emu(tb_board_at(c.tb, 0));
        CHECK(e->attempt == 1 && e->power_cuts == 0 && e->error[0] == '\0', "board: attempt %u, %u power cuts, '%s'",
              e->attempt, e->power_cuts, e->error);
        tb_unlock(c.tb);
        check_boards(&c, 0);
        check_no_unhandled_ioctl(&c);
        cluster_free(&c);
}

/*
 * The same fault on a board that restarts after a failed transfer: it drops
 * off the bus with the transfer in flight (-ESHUTDOWN, or the udev remove
 * first) and comes back in its ROM; the daemon boots it again.
 */
static void test_no_answer_restart(void) {
        struct cluster c;
        struct emu_board_config cfg[1] = { { .n_faults = 1, .after_bulk_fault = EMU_AFTER_BULK_FAULT_RESTART } };

        cfg[0].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_NO_ANSWER, .point = EMU_AT_FILE, .attempt = 1,
                                               .name = "kernel.img", .offset = 70000 };
        cluster_init(&c, 1, 4, cfg, NULL);
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 30000), "node1 not up");
        CHECK_UP_ON(&c, 1, 2);
        CHECK(tb_log_find(c.tb, NULL, "node1[1-1]: state retrying (from serving): attempt 1 failed: the board left "
                                      "the bus while sending kernel.img") != NULL,
              "the daemon did not see the board leave mid kernel.img");
        tb_lock(c.tb);
        const struct emu_board *e = tb_board_emu(tb_board_at(c.tb, 0));
        CHECK(e->attempt == 2 && e->power_cuts == 0, "board: attempt %u, %u power cuts", e->attempt, e->power_cuts);
        tb_unlock(c.tb);
        check_boards(&c, 0);
        check_no_unhandled_ioctl(&c);
        cluster_free(&c);
}

/*
 * The ROM answers failure (status 0x80) on the first attempt, on a Zero 2 W
 * ROM and on a Zero: the board stays in its ROM, the daemon sends the loader
 * again on the same device (no reset, no power cut), up on attempt 2.
 */
static void test_rom_failure(void) {
        struct cluster c;
        struct emu_board_config cfg[2] = { { .n_faults = 1, .rom_pid = 0x2764 }, { .n_faults = 1 } };
        struct tb_stats s;

        for (unsigned i = 0; i < 2; i++)
                cfg[i].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_ROM_FAILURE, .point = EMU_AT_ROM_STATUS,
                                                       .attempt = 1 };
        cluster_init(&c, 2, 4, cfg, NULL);
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 30000), "not every node came up");
        for (unsigned i = 1; i <= 2; i++)
                CHECK_UP_ON(&c, i, 2);
        CHECK(tb_log_count_matches(c.tb, "the ROM reported failure 0x80 for the loader") == 2,
              "the ROM's failure status is not in the log for each node");
        tb_get_stats(c.tb, &s);
        CHECK(s.resets == 0, "%" PRIu64 " resets: a ROM that answers needs none", s.resets);
        tb_lock(c.tb);
        for (unsigned i = 0; i < 2; i++) {
                const struct emu_board *e = tb_board_emu(tb_board_at(c.tb, i));
                CHECK(e->attempt == 1 && e->power_cuts == 0 && e->error[0] == '\0',
                      "board %u: %u ROM entries, %u power cuts, '%s'", i + 1, e->attempt, e->power_cuts, e->error);
        }
        tb_unlock(c.tb);
        check_boards(&c, 0);
        check_no_unhandled_ioctl(&c);
        cluster_free(&c);
}

/*
 * RecoverByReset=yes, two boards that hang mid kernel.img: the daemon resets
 * each (USBDEVFS_RESET). The one whose reset restarts it fails the ioctl
 * with ENODEV and comes back in its ROM: up on attempt 2. The one a reset
 * reboots nothing (the real Pi, as far as is known) stays on the bus: with no
 * Power= it ends needs-power.
 */
static void test_reset(void) {
        struct cluster c;
        struct emu_board_config cfg[2] = { { .n_faults = 1, .on_reset = EMU_ON_RESET_RESTART },
                                           { .n_faults = 1, .on_reset = EMU_ON_RESET_KEEP } };
        struct tb_stats s;

        for (unsigned i = 0; i < 2; i++)
                cfg[i].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_HANG, .point = EMU_AT_FILE, .attempt = 1,
                                                       .name = "kernel.img", .offset = 100000 };
        cluster_init(&c, 2, 4, cfg, "RecoverByReset=yes\n");
        cluster_start(&c);
        plug_all(&c);
        CHECK(wait_state(&c, 1, "up", 60000), "node1 (a reset restarts it) not up");
        CHECK_UP_ON(&c, 1, 2);
        CHECK(wait_state(&c, 2, "needs-power", 60000), "node2 (a reset keeps it) not needs-power");
        CHECK(tb_log_find(c.tb, NULL, "tb: reset 1-1 (restarts)") != NULL, "board 1 was not reset");
        CHECK(tb_log_find(c.tb, NULL, "node1[1-1]: device reset; it re-enumerates") != NULL,
              "the daemon did not see board 1's reset take it off the bus");
        CHECK(tb_log_find(c.tb, NULL, "node2[2-1]: device reset; it stayed on the bus") != NULL,
              "the daemon did not see board 2 stay on the bus");
        tb_get_stats(c.tb, &s);
        CHECK(s.resets == 2, "%" PRIu64 " resets, not one per board", s.resets);
        tb_lock(c.tb);
        const struct emu_board *e1 = tb_board_emu(tb_board_at(c.tb, 0));
        CHECK(e1->resets == 1 && e1->attempt == 2 && e1->power_cuts == 0, "board 1: %u resets, attempt %u, %u cuts",
              e1->resets, e1->attempt, e1->power_cuts);
        tb_unlock(c.tb);
        check_boards(&c, 2);
        check_no_unhandled_ioctl(&c);
        cluster_free(&c);
}

static bool pred_taking_kernel(tb_testbed *tb, void *board) {
        const struct emu_received_file *f = emu_board_file(tb_board_emu(board), "kernel.img");
        return f && f->received > 0;
}

/*
 * Unplugged while kernel.img is sent (no Power=): the daemon ends the node
 * needs-power; plugged in again, the board boots from its ROM.
 */
static void test_unplug_replug(void) {
        struct cluster c;
        tb_board *b;
        size_t mark;

        cluster_init(&c, 1, 1, NULL, NULL);
        b = tb_board_at(c.tb, 0);
        cluster_start(&c);
        tb_plug(b);
        CHECK(tb_run_until(c.tb, pred_taking_kernel, b, 30000), "kernel.img never started");
        tb_unplug(b);
        CHECK(wait_state(&c, 1, "needs-power", 20000), "node1 did not end needs-power");
        mark = tb_log_count(c.tb);
        tb_plug(b);
        CHECK(tb_wait_log(c.tb, mark, "node1[1-1]: state up", 30000), "node1 not up after the replug");
        check_boards(&c, 0);
        check_no_unhandled_ioctl(&c);
        cluster_free(&c);
}

/*
 * A host controller without scatter-gather (dwc2-like): libusb splits each
 * of the daemon's bulk transfers into 16 KiB URBs; boards still get every
 * byte. Real-size files, so a transfer is many URBs.
 */
static void test_split_urbs(void) {
        struct cluster c;
        const struct tb_options o = { .usbfs_caps = TB_CAP_BULK_CONTINUATION | TB_CAP_REAP_AFTER_DISCONNECT };
        struct tb_stats s;

        cluster_init_with(&c, 2, 1, NULL, NULL, &o);
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 60000), "not every node came up");
        check_boards(&c, 0);
        CHECK(no_retry(&c), "a node had to retry");
        tb_get_stats(c.tb, &s);
        CHECK(s.bulk_urb_max > 0 && s.bulk_urb_max <= SPLIT_URB, "the longest bulk URB was %" PRIu64 " bytes",
              s.bulk_urb_max);
        check_no_unhandled_ioctl(&c);
        cluster_free(&c);
}

/*
 * umockdev's own nodes are regular files, which epoll_ctl() refuses (EPERM):
 * a sd-event program never hears of its transfers. The daemon says so, and
 * the board gets no byte of its loader.
 */
static void test_epoll_file_nodes(void) {
        struct cluster c;
        const struct tb_options o = { .node_kind = TB_NODE_FILE };

        cluster_init_with(&c, 1, 4, NULL, NULL, &o);
        cluster_start(&c);
        plug_all(&c);
        CHECK(tb_wait_log(c.tb, 0, "Operation not permitted", 10000), "no EPERM from epoll_ctl");
        tb_lock(c.tb);
        const struct emu_board *e = tb_board_emu(tb_board_at(c.tb, 0));
        CHECK(e->stage == EMU_STAGE_ROM && e->loader_received == 0, "board: stage %s, %u loader bytes",
              emu_stage_name(e->stage), (unsigned) e->loader_received);
        tb_unlock(c.tb);
        cluster_free(&c);
}

static const struct cluster_test tests[] = {
        { "hub-boards", test_hub_boards },
        { "many-hubs", test_many_hubs },
        { "no-answer", test_no_answer },
        { "no-answer-restart", test_no_answer_restart },
        { "rom-failure", test_rom_failure },
        { "reset", test_reset },
        { "unplug-replug", test_unplug_replug },
        { "split-urbs", test_split_urbs },
        { "epoll-file-nodes", test_epoll_file_nodes },
};

int main(int argc, char **argv) {
        clusterboot = getenv("CLUSTERBOOT");
        if (!clusterboot) {
                fprintf(stderr, "set CLUSTERBOOT to the daemon under test\n");
                return 2;
        }
        return cluster_run_tests(tests, G_N_ELEMENTS(tests), argc, argv);
}
