/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hubs through the real daemon: a board behind a USB 3 hub, which is a USB 2
 * hub ("1-2") and a SuperSpeed hub ("2-2", another bus) sharing VBUS, with
 * the kernel's port/peer links in sysfs. Power=usb-hub must switch the port
 * on both halves: one half alone leaves the board powered. And a ganged hub,
 * whose node cannot be power-cycled alone. And a plain hub's port, with its
 * neighbour left alone.
 */
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cluster.h"

static const char *clusterbootctl;

/* clusterbootctl under the testbed, whose loop keeps running meanwhile (the hub must answer). */
static bool pred_child_done(tb_testbed *tb, void *child) {
        return !tb_child_running(child);
}

static int ctl(struct cluster *c, const char *verb, const char *arg, const char *node) {
        const char *argv[] = { clusterbootctl, "--socket", c->sock, verb, arg, node, NULL };
        tb_child *child;
        int st;

        if (!node) /* a verb with one argument */
                argv[5] = NULL;
        child = tb_spawn(c->tb, argv, NULL);
        if (!child)
                return -1;
        (void) tb_run_until(c->tb, pred_child_done, child, 60000);
        st = tb_child_wait(child, 1);
        if (st < 0) {
                tb_child_kill(child, SIGKILL);
                (void) tb_child_wait(child, 5000);
                return -1;
        }
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool pred_unpowered(tb_testbed *tb, void *board) {
        return !tb_board_powered(board);
}

static void test_usb3_hub(void) {
        struct cluster c;
        tb_board *b;
        size_t mark;

        cluster_init(&c, 0, 8, NULL, "PowerSettleSec=0.2\nPowerOnDelaySec=0\n");
        tb_add_usb3_hub(c.tb, "1-2", "2-2");
        b = tb_add_board(c.tb, "1-2.3", NULL);
        cluster_set_extra_sections(&c, "[Node node1]\nPort=1-2.3\nPower=usb-hub\n");
        cluster_start(&c);
        tb_plug(b);
        CHECK(tb_wait_log(c.tb, 0, "node1[1-2.3]: state up", 60000) != NULL, "node1 behind the USB 3 hub not up");

        /* off: both halves' port 3 switched off, the board loses its power */
        mark = tb_log_count(c.tb);
        CHECK(ctl(&c, "power", "off", "node1") == 0, "power off node1 failed");
        CHECK(tb_wait_log(c.tb, mark, "hub 1-2 port 3 power off", 1) != NULL, "the USB 2 half was not switched off");
        CHECK(tb_wait_log(c.tb, mark, "hub 2-2 port 3 power off", 1) != NULL,
              "the SuperSpeed half (port 3's peer) was not switched off");
        CHECK(tb_run_until(c.tb, pred_unpowered, b, 5000), "the board keeps VBUS through the other half");
        CHECK(tb_wait_log(c.tb, mark, "node1[1-2.3]: usb-hub port 3 of 1-2 and its USB 3 peer, port 3 of 2-2, "
                                      "switched off", 1) != NULL,
              "the daemon does not say it switched the peer");
        CHECK(tb_log_count_matches(c.tb, "hub 2-2 port 1 power") == 0 &&
                      tb_log_count_matches(c.tb, "hub 1-2 port 1 power") == 0,
              "another port was switched");

        /* on: both halves on again, and the board boots */
        mark = tb_log_count(c.tb);
        CHECK(ctl(&c, "power", "on", "node1") == 0, "power on node1 failed");
        CHECK(tb_wait_log(c.tb, mark, "hub 1-2 port 3 power on", 1) != NULL, "the USB 2 half was not switched on");
        CHECK(tb_wait_log(c.tb, mark, "hub 2-2 port 3 power on", 1) != NULL, "the SuperSpeed half was not switched on");
        CHECK(tb_wait_log(c.tb, mark, "node1[1-2.3]: state up", 30000) != NULL, "node1 not up after power on");
        cluster_free(&c);
}

/* Each board's switchings by a hub request, as the testbed's power hook sees them. */
struct hub_switchings {
        tb_board *board[2];
        unsigned off[2], on[2], by_hand;
};

static void count_switching(tb_board *b, bool on, bool by_hub, void *userdata) {
        struct hub_switchings *s = userdata;

        for (unsigned i = 0; i < 2; i++)
                if (b == s->board[i] && by_hub)
                        (on ? s->on : s->off)[i]++;
        s->by_hand += !by_hub;
}

/*
 * A plain USB 2 hub (not a root hub, no peer): power off and on a node on
 * its port 3 with hub requests (what uhubctl does); the board loses its
 * power only through the hub, and its neighbour on port 1 is left alone.
 */
static void test_hub_port(void) {
        struct cluster c;
        struct hub_switchings s = { 0 };
        const char *ports[] = { "1-1.3", "1-1.1" };
        size_t mark;

        cluster_init_ports(&c, 2, ports, 8, NULL, "PowerSettleSec=0.2\nPowerOnDelaySec=0\n", NULL);
        cluster_set_node_conf(&c, 1, "Power=usb-hub\n");
        s.board[0] = tb_board_at(c.tb, 0);
        s.board[1] = tb_board_at(c.tb, 1);
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 60000), "the nodes behind hub 1-1 did not come up");
        tb_set_power_hook(c.tb, count_switching, &s);

        mark = tb_log_count(c.tb);
        CHECK(ctl(&c, "power", "off", "node1") == 0, "power off node1 failed");
        CHECK(tb_wait_log(c.tb, mark, "hub 1-1 port 3 power off", 1) != NULL, "port 3 of hub 1-1 was not switched");
        CHECK(tb_run_until(c.tb, pred_unpowered, s.board[0], 5000), "the board on 1-1.3 keeps its power");
        CHECK(s.off[0] == 1 && s.on[0] == 0, "board 1 switched off %u, on %u times by the hub", s.off[0], s.on[0]);

        mark = tb_log_count(c.tb);
        CHECK(ctl(&c, "power", "on", "node1") == 0, "power on node1 failed");
        CHECK(tb_wait_log(c.tb, mark, "node1[1-1.3]: state up", 30000) != NULL, "node1 not up after power on");
        CHECK(s.off[0] == 1 && s.on[0] == 1, "board 1 switched off %u, on %u times by the hub", s.off[0], s.on[0]);
        CHECK(s.off[1] == 0 && s.on[1] == 0 && s.by_hand == 0, "the neighbour was switched, or a board by hand");
        CHECK(tb_log_count_matches(c.tb, "hub 1-1 port 1 power") == 0, "port 1 of hub 1-1 was switched");
        CHECK(tb_board_stage(s.board[1]) == EMU_STAGE_GADGET, "the neighbour lost its boot");
        tb_set_power_hook(c.tb, NULL, NULL);
        check_boards(&c, 0);
        cluster_free(&c);
}

/*
 * A ganged hub (one switch for all its ports): a node on it cannot be
 * power-cycled alone. The daemon says so when it starts (its power-on at
 * start is refused with the reason) and on `reboot`, switches nothing, and
 * still boots the board.
 */
static void test_ganged_hub(void) {
        struct cluster c;
        tb_board *b;
        size_t mark;

        cluster_init(&c, 0, 8, NULL, "PowerSettleSec=0.2\nPowerOnDelaySec=0\n");
        tb_add_ganged_hub(c.tb, "1-3");
        b = tb_add_board(c.tb, "1-3.2", NULL);
        cluster_set_extra_sections(&c, "[Node node1]\nPort=1-3.2\nPower=usb-hub\n");
        cluster_start(&c);
        CHECK(tb_wait_log(c.tb, 0, "node1[1-3.2]: switching the power on failed: hub 1-3 switches the power of all "
                                   "its ports together (ganged power switching)", 10000) != NULL,
              "the daemon did not say at start that node1's hub is ganged");
        tb_plug(b);
        CHECK(tb_wait_log(c.tb, 0, "node1[1-3.2]: state up", 60000) != NULL, "node1 on the ganged hub not up");

        mark = tb_log_count(c.tb);
        CHECK(ctl(&c, "reboot", "node1", NULL) != 0, "reboot through a ganged hub did not fail");
        CHECK(tb_wait_log(c.tb, mark, "cannot be switched on its own", 1) != NULL,
              "the refused reboot does not say why");
        CHECK(tb_log_count_matches(c.tb, "hub 1-3 port") == 0, "a port of the ganged hub was switched");
        CHECK(tb_board_powered(b) && tb_board_stage(b) == EMU_STAGE_GADGET, "the board lost its power or its boot");
        cluster_free(&c);
}

static const struct cluster_test tests[] = {
        { "hub-port", test_hub_port },
        { "usb3-hub", test_usb3_hub },
        { "ganged-hub", test_ganged_hub },
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
