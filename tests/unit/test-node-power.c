/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The power rules of a node, against in-process emulated boards whose power
 * switch really takes them off their port: reboot (a fresh boot, attempt 1),
 * power off (stays off, a replugged board is not booted, the choice is kept),
 * power on, refusals, a switch that does not cut power, a switch that fails,
 * staggered power-ons, and the power cycle as the last recovery step. Also
 * the file that keeps the powered-off nodes.
 */
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "inproc-power.h"
#include "log.h"
#include "power-queue.h"
#include "power-state.h"
#include "world.h"

#define RUN_TIMEOUT (20 * USEC_PER_SEC)

struct outcome {
        bool called;
        int result;
        char message[512];
};

static void record_outcome(void *userdata, int result, const char *message) {
        struct outcome *o = userdata;

        CHECK_MSG(!o->called, "done called twice");
        o->called = true;
        o->result = result;
        snprintf(o->message, sizeof o->message, "%s", message ? message : "");
}

/* Runs the loop until `done` says so (or the timeout): returns 0 or -ETIMEDOUT. */
static int run_until(struct world *w, bool (*done)(struct world *w, void *data), void *data) {
        usec_t deadline = now_usec() + RUN_TIMEOUT;

        while (!done(w, data)) {
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                if (sd_event_run(w->event, 10 * USEC_PER_MSEC) < 0)
                        return -EIO;
        }
        return 0;
}

static bool outcome_and_settled(struct world *w, void *data) {
        return ((struct outcome *) data)->called && world_settled(w);
}

static bool outcome_only(struct world *w, void *data) {
        return ((struct outcome *) data)->called;
}

static bool all_up(struct world *w, void *data) {
        for (size_t i = 0; i < w->n_ports; i++)
                if (cb_node_state(w->nodes[i]) != CB_NODE_UP)
                        return false;
        return true;
}

/* what the node asked its owner to keep (env.callbacks.power_requested) */
static struct {
        unsigned calls;
        bool off;
} persisted;

static void on_power_requested(struct cb_node *node, bool off, void *userdata) {
        persisted.calls++;
        persisted.off = off;
}

static void setup(struct world *w, size_t n_boards, const struct emu_power_settings *ps, struct emu_power_log *logs) {
        struct emu_board_config bc = { 0 };

        CHECK(world_init(w, false) == 0);
        w->config->power_settle = 20 * USEC_PER_MSEC;
        w->config->power_off_timeout = 300 * USEC_PER_MSEC;
        w->env.callbacks.power_requested = on_power_requested;
        persisted.calls = 0;
        persisted.off = false;
        for (size_t i = 0; i < n_boards; i++) {
                struct emu_port *p = world_add(w, &bc);
                struct cb_power *power = NULL;

                CHECK(emu_power_new(p, ps, logs ? &logs[i] : NULL, &power) == 0);
                CHECK(cb_node_set_power(w->nodes[i], power) == 0);
        }
}

static void boot_all(struct world *w) {
        for (size_t i = 0; i < w->n_ports; i++)
                emu_port_plug(&w->ports[i]);
        CHECK(run_until(w, all_up, NULL) == 0);
}

/* A world of one node with no power switch, its board plugged and settled. */
static void setup_unswitched(struct world *w, const struct emu_board_config *bc) {
        CHECK(world_init(w, false) == 0);
        world_add(w, bc);
        emu_port_plug(&w->ports[0]);
        CHECK(world_run(w, RUN_TIMEOUT) == 0);
}

/* Plans one fault on board i. */
static void set_fault(struct world *w, size_t i, struct emu_fault fault) {
        w->ports[i].board.config.faults[0] = fault;
        w->ports[i].board.config.n_faults = 1;
}

/* Asks node i for `action` and runs the loop until it is answered; *o holds the answer. */
static void power_and_wait(struct world *w, size_t i, enum cb_node_power_action action, struct outcome *o) {
        *o = (struct outcome){ 0 };
        CHECK(cb_node_power(w->nodes[i], action, record_outcome, o) == 0);
        CHECK(run_until(w, outcome_only, o) == 0);
}

/* One node whose switch behaves as `ps`, up, then asked for `action` until it is answered. */
static void one_node_acted_on(struct world *w, const struct emu_power_settings *ps,
                              enum cb_node_power_action action, struct outcome *o) {
        setup(w, 1, ps, NULL);
        boot_all(w);
        power_and_wait(w, 0, action, o);
}

/* An up board is rebooted: it leaves, comes back in its ROM, boots again on attempt 1. */
static void test_reboot(void) {
        struct world w;
        struct emu_power_log log[2] = { 0 };
        struct outcome o = { 0 };
        struct cb_node_status st;
        char why[256];

        setup(&w, 2, NULL, log);
        /* the node needed two attempts the first time: the reboot starts again from 1 */
        set_fault(&w, 0, (struct emu_fault){ .kind = EMU_FAULT_VANISH, .point = EMU_AT_FILE, .attempt = 1,
                                             .name = "kernel.img", .offset = 100 });
        boot_all(&w);
        CHECK(cb_node_attempt(w.nodes[0]) == 2);
        /* the board that left mid-file was power-cycled at once (it cannot be resumed) */
        CHECK(log[0].offs == 1 && log[0].ons == 1);

        CHECK(cb_node_power(w.nodes[0], CB_NODE_REBOOT, record_outcome, &o) == 0);
        CHECK(!o.called); /* never answered from inside the call */
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_REBOOTING);
        CHECK(run_until(&w, outcome_and_settled, &o) == 0);
        CHECK_MSG(o.result == 0, "reboot: %d %s", o.result, o.message);
        CHECK(run_until(&w, all_up, NULL) == 0);
        CHECK(log[0].offs == 2 && log[0].ons == 2);
        CHECK(log[1].offs == 0 && log[1].ons == 0);
        /* off for at least PowerSettleSec= */
        CHECK_MSG((int64_t) log[0].on_times[1] - (int64_t) log[0].off_times[1] >= (int64_t) w.config->power_settle,
                  "switched on %lld us after off", (long long) (log[0].on_times[1] - log[0].off_times[1]));
        CHECK_MSG(cb_node_attempt(w.nodes[0]) == 1, "attempt after reboot: %u", cb_node_attempt(w.nodes[0]));
        cb_node_get_status(w.nodes[0], &st);
        CHECK(st.boots == 2);
        CHECK(world_verify_board(&w, 0, why, sizeof why) == 0);
        /* a reboot is not a power choice to keep */
        CHECK(persisted.calls == 0);
        world_done(&w);
}

/* Off stays off: a replugged board is not booted; power on boots it. */
static void test_off_stays_off(void) {
        struct world w;
        struct outcome o = { 0 }, on = { 0 };
        unsigned transfers;

        one_node_acted_on(&w, NULL, CB_NODE_POWER_OFF, &o);
        CHECK(persisted.calls == 1 && persisted.off);
        CHECK_MSG(o.result == 0, "power off: %s", o.message);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_OFF);
        CHECK(!cb_node_device_present(w.nodes[0]));

        /* someone plugs the board back in (a self-powered board, a switch flipped by hand) */
        transfers = w.ports[0].transfers;
        emu_port_plug(&w.ports[0]);
        for (int i = 0; i < 20; i++)
                sd_event_run(w.event, 10 * USEC_PER_MSEC);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_OFF);
        CHECK_MSG(w.ports[0].transfers == transfers, "an off node talked to its board (%u transfers)",
                  w.ports[0].transfers - transfers);
        CHECK(cb_node_retry(w.nodes[0]) == -EHOSTDOWN);
        CHECK(cb_node_power(w.nodes[0], CB_NODE_REBOOT, record_outcome, &on) == -EHOSTDOWN);

        power_and_wait(&w, 0, CB_NODE_POWER_ON, &on);
        CHECK(persisted.calls == 2 && !persisted.off);
        CHECK_MSG(on.result == 0, "power on: %s", on.message);
        CHECK(run_until(&w, all_up, NULL) == 0);
        CHECK(cb_node_attempt(w.nodes[0]) == 1);
        world_done(&w);
}

/*
 * A node kept off whose switch is removed from the configuration is no longer
 * kept off: a board on its port boots at once, a node with no board waits for
 * one (and boots it).
 */
static void test_switch_removed_while_off(void) {
        struct world w;
        struct outcome o;

        setup(&w, 2, NULL, NULL);
        boot_all(&w);
        for (size_t i = 0; i < 2; i++) {
                power_and_wait(&w, i, CB_NODE_POWER_OFF, &o);
                CHECK(o.result == 0 && !cb_node_device_present(w.nodes[i]));
        }
        CHECK(persisted.calls == 2 && persisted.off);
        /* board 1 is plugged back by hand (and not booted), then the reload drops Power= of both */
        emu_port_plug(&w.ports[0]);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_OFF && cb_node_device_present(w.nodes[0]));
        CHECK(cb_node_set_power(w.nodes[0], NULL) == 0);
        CHECK(persisted.calls == 3 && !persisted.off);
        CHECK_MSG(cb_node_state(w.nodes[0]) == CB_NODE_ROM, "node1 with its board: %s",
                  cb_node_state_name(cb_node_state(w.nodes[0])));
        CHECK(cb_node_set_power(w.nodes[1], NULL) == 0);
        CHECK(persisted.calls == 4 && !persisted.off);
        CHECK_MSG(cb_node_state(w.nodes[1]) == CB_NODE_ABSENT, "node2 without its board: %s",
                  cb_node_state_name(cb_node_state(w.nodes[1])));
        emu_port_plug(&w.ports[1]);
        CHECK(run_until(&w, all_up, NULL) == 0);
        CHECK(cb_node_attempt(w.nodes[0]) == 1 && cb_node_attempt(w.nodes[1]) == 1);
        world_done(&w);
}

/* What is refused, and how; what waits, and what is cancelled. */
static void test_refusals(void) {
        struct world w;
        struct emu_board_config bc = { 0 };
        struct outcome o = { 0 }, o2 = { 0 }, o3 = { 0 };

        setup_unswitched(&w, &bc);
        CHECK(!cb_node_has_power(w.nodes[0]));
        CHECK(cb_node_power(w.nodes[0], CB_NODE_REBOOT, record_outcome, &o) == -EOPNOTSUPP);
        CHECK(cb_node_power(w.nodes[0], CB_NODE_POWER_OFF, record_outcome, &o) == -EOPNOTSUPP);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_UP && !o.called);
        world_done(&w);

        setup(&w, 1, NULL, NULL);
        boot_all(&w);
        CHECK(cb_node_power(w.nodes[0], CB_NODE_REBOOT, record_outcome, &o) == 0);
        /* one action may wait behind the one in flight (and is kept at once); a third is refused (and not kept) */
        CHECK(cb_node_power(w.nodes[0], CB_NODE_POWER_OFF, record_outcome, &o2) == 0);
        CHECK(persisted.calls == 1 && persisted.off);
        CHECK(cb_node_power(w.nodes[0], CB_NODE_POWER_ON, record_outcome, &o3) == -EBUSY);
        CHECK(persisted.calls == 1 && persisted.off);
        CHECK(cb_node_retry(w.nodes[0]) == -EBUSY);
        CHECK(run_until(&w, outcome_only, &o) == 0);
        CHECK(o.result == 0 && !o2.called);
        CHECK(run_until(&w, outcome_only, &o2) == 0);
        CHECK(o2.result == 0 && cb_node_state(w.nodes[0]) == CB_NODE_OFF && !o3.called);
        power_and_wait(&w, 0, CB_NODE_POWER_ON, &o2);
        CHECK_MSG(o2.result == 0, "power on: %s", o2.message);
        /* freed in the middle of a power operation: both callers still hear, with -ECANCELED */
        CHECK(run_until(&w, all_up, NULL) == 0);
        o = (struct outcome){ 0 };
        o2 = (struct outcome){ 0 };
        CHECK(cb_node_power(w.nodes[0], CB_NODE_REBOOT, record_outcome, &o) == 0);
        CHECK(cb_node_power(w.nodes[0], CB_NODE_POWER_OFF, record_outcome, &o2) == 0);
        world_done(&w);
        CHECK(o.called && o.result == -ECANCELED);
        CHECK(o2.called && o2.result == -ECANCELED);
}

/* A switch that says "off" but leaves the board on the bus is reported, not believed. */
static void test_switch_does_not_cut(void) {
        struct world w;
        struct emu_power_settings ps = { .delay = 1000, .does_not_cut = true };
        struct outcome o;

        one_node_acted_on(&w, &ps, CB_NODE_POWER_OFF, &o);
        CHECK_MSG(o.result == -EIO && strstr(o.message, "does not really cut"), "%d %s", o.result, o.message);
        /* the user asked for off: the node is not booted, and says why the board is still there */
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_OFF);
        CHECK(cb_node_last_error(w.nodes[0]) && strstr(cb_node_last_error(w.nodes[0]), "does not really cut"));
        world_done(&w);
}

/*
 * A switch that reports the port unpowered but keeps the board's power (a
 * hub whose port status follows the request, VBUS does not): after the
 * reboot the board comes back running its kernel, not in its ROM, and the
 * node says the switch does not really cut its power.
 */
static void test_switch_keeps_power(void) {
        struct world w;
        struct emu_power_settings ps = { .delay = 1000, .keeps_power = true };
        struct outcome o;
        const char *e;

        one_node_acted_on(&w, &ps, CB_NODE_REBOOT, &o);
        CHECK_MSG(o.result == 0, "%d %s", o.result, o.message); /* the switch did switch */
        CHECK(run_until(&w, all_up, NULL) == 0);
        CHECK(w.ports[0].board.attempt == 1); /* the board never restarted */
        e = cb_node_last_error(w.nodes[0]);
        CHECK_MSG(e && strstr(e, "did not restart") && strstr(e, "does not really cut"), "last error: %s",
                  e ? e : "(none)");
        world_done(&w);
}

/* A switch that fails to switch on: the reboot fails, the node says why. */
static void test_switch_fails(void) {
        struct world w;
        struct emu_power_settings ps = { .delay = 1000, .fail_on = -EIO };
        struct outcome o;

        one_node_acted_on(&w, &ps, CB_NODE_REBOOT, &o);
        CHECK_MSG(o.result == -EIO && strstr(o.message, "failed to switch on"), "%d %s", o.result, o.message);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_FAILED);
        CHECK(cb_node_last_error(w.nodes[0]) && strstr(cb_node_last_error(w.nodes[0]), "cannot power on"));
        world_done(&w);
}

/* A backend that refuses to start: the caller still hears from the loop, never from inside its call. */
static void test_switch_refuses(void) {
        struct world w;
        struct emu_power_settings ps = { .delay = 1000, .refuse = -ENODEV };
        struct outcome o = { 0 };

        setup(&w, 1, &ps, NULL);
        boot_all(&w);
        CHECK(cb_node_power(w.nodes[0], CB_NODE_POWER_OFF, record_outcome, &o) == 0);
        CHECK(!o.called);
        CHECK(run_until(&w, outcome_only, &o) == 0);
        CHECK_MSG(o.result == -ENODEV && strstr(o.message, "cannot switch off"), "%d %s", o.result, o.message);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_OFF);
        world_done(&w);
}

/*
 * Three nodes powered on at once through the queue: their switches are asked
 * to close at least the spacing apart (when each switch reports back is its
 * own timer's business, and slips on a loaded machine).
 */
static void test_staggered(void) {
        struct world w;
        struct emu_power_log log[3] = { 0 };
        struct outcome o[3] = { 0 };
        struct cb_power_queue *q = NULL;
        const usec_t spacing = 100 * USEC_PER_MSEC;

        setup(&w, 3, NULL, log);
        CHECK(cb_power_queue_new(w.event, spacing, &q) == 0);
        w.env.power_queue = q;
        boot_all(&w);
        for (size_t i = 0; i < 3; i++) {
                struct outcome off;
                power_and_wait(&w, i, CB_NODE_POWER_OFF, &off);
        }
        for (size_t i = 0; i < 3; i++)
                CHECK(cb_node_power(w.nodes[i], CB_NODE_POWER_ON, record_outcome, &o[i]) == 0);
        CHECK(cb_power_queue_length(q) == 3);
        CHECK(run_until(&w, all_up, NULL) == 0);
        for (size_t i = 0; i < 3; i++)
                CHECK(o[i].called && o[i].result == 0 && log[i].ons == 1);
        /* in request order (signed: a power-on before the previous one is a failure, not a huge gap) */
        for (size_t i = 1; i < 3; i++) {
                int64_t gap = (int64_t) log[i].on_asked_times[0] - (int64_t) log[i - 1].on_asked_times[0];
                CHECK_MSG(gap >= (int64_t) (spacing - USEC_PER_MSEC), "power-on %zu came %lld us after power-on %zu",
                          i, (long long) gap, i - 1);
        }
        world_done(&w);
        cb_power_queue_free(q);
}

/*
 * A board that drops off the bus mid start.elf and stays away (wedged) is
 * power-cycled and boots; without a power switch the same board needs one.
 */
static void test_recovery_revives(void) {
        const struct emu_fault wedge = { .kind = EMU_FAULT_UNPLUG, .point = EMU_AT_FILE, .attempt = 1,
                                         .name = "start.elf", .offset = 100 };
        struct world w;
        struct emu_power_log log[1] = { 0 };
        struct emu_board_config bc = { .faults = { wedge }, .n_faults = 1 };
        struct cb_node_status st;
        char why[256];

        setup(&w, 1, NULL, log);
        set_fault(&w, 0, wedge);
        emu_port_plug(&w.ports[0]);
        CHECK(world_run(&w, RUN_TIMEOUT) == 0);
        CHECK_MSG(cb_node_state(w.nodes[0]) == CB_NODE_UP, "wedged board with a switch: %s (%s)",
                  cb_node_state_name(cb_node_state(w.nodes[0])),
                  cb_node_last_error(w.nodes[0]) ? cb_node_last_error(w.nodes[0]) : "-");
        CHECK(log[0].offs == 1 && log[0].ons == 1);
        cb_node_get_status(w.nodes[0], &st);
        CHECK(st.power_cycles == 1);
        CHECK(cb_node_attempt(w.nodes[0]) == 2);
        CHECK(world_verify_board(&w, 0, why, sizeof why) == 0);
        world_done(&w);

        setup_unswitched(&w, &bc);
        CHECK_MSG(cb_node_state(w.nodes[0]) == CB_NODE_NEEDS_POWER, "wedged board without a switch: %s",
                  cb_node_state_name(cb_node_state(w.nodes[0])));
        CHECK(cb_node_last_error(w.nodes[0]) && strstr(cb_node_last_error(w.nodes[0]), "did not come back"));
        cb_node_get_status(w.nodes[0], &st);
        CHECK(st.power_cycles == 0);
        world_done(&w);
}

/*
 * A board that stays stuck while present: each attempt ends in a power
 * cycle, the last one in giving up. With RecoverByReset=yes a reset is
 * tried first in each attempt; on a board a reset does not reboot it
 * changes nothing, and the power cycle follows.
 */
static void test_recovery_ladder(bool recover_by_reset) {
        struct world w;
        struct emu_power_log log[1] = { 0 };
        struct cb_node_status st;

        setup(&w, 1, NULL, log);
        w.config->max_attempts = 4;
        w.config->recover_by_reset = recover_by_reset;
        set_fault(&w, 0, (struct emu_fault){ .kind = EMU_FAULT_NO_ANSWER, .point = EMU_AT_ROM_STATUS, .attempt = 0,
                                             .sticky = true });
        emu_port_plug(&w.ports[0]);
        CHECK(world_run(&w, RUN_TIMEOUT) == 0);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_FAILED);
        cb_node_get_status(w.nodes[0], &st);
        CHECK_MSG(st.resets == (recover_by_reset ? 3u : 0u) && st.power_cycles == 3, "resets %u, power cycles %u",
                  st.resets, st.power_cycles);
        CHECK(log[0].offs == 3 && log[0].ons == 3);
        CHECK(cb_node_attempt(w.nodes[0]) == 4);
        CHECK(w.ports[0].board.resets == st.resets);
        world_done(&w);
}

static bool start_done(struct world *w, void *data) {
        const struct emu_power_log *log = data;

        return log[0].offs == 1 && log[1].ons == 1 && cb_node_state(w->nodes[1]) == CB_NODE_UP;
}

/*
 * At start: a node left off is switched off and not booted, though its board
 * is on the port (as after a host reboot); the others are switched on.
 */
static void test_at_start(void) {
        struct world w;
        struct emu_power_log log[2] = { 0 };
        struct emu_power_settings ps = { .delay = 50 * USEC_PER_MSEC };

        setup(&w, 2, &ps, log);
        cb_node_power_at_start(w.nodes[0], true);
        cb_node_power_at_start(w.nodes[1], false);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_OFF);
        /* enumeration finds both boards while the switches are still working */
        emu_port_plug(&w.ports[0]);
        emu_port_plug(&w.ports[1]);
        CHECK(run_until(&w, start_done, log) == 0);
        CHECK(log[0].offs == 1 && log[0].ons == 0);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_OFF && !cb_node_device_present(w.nodes[0]));
        CHECK_MSG(w.ports[0].transfers == 0, "the node left off talked to its board (%u transfers)",
                  w.ports[0].transfers);
        CHECK(persisted.calls == 0);
        world_done(&w);
}

static void test_state_file(void) {
        char dir[] = "/tmp/cb-power-state-XXXXXX", path[128], cmd[160];
        struct cb_power_state s = { 0 }, loaded = { 0 };
        FILE *f;

        CHECK(mkdtemp(dir));
        CHECK(cb_power_state_load(dir, &loaded) == 0 && loaded.n_names == 0);
        CHECK(cb_power_state_set(&s, "node2", true) == 1);
        CHECK(cb_power_state_set(&s, "node2", true) == 0);
        CHECK(cb_power_state_set(&s, "node4", true) == 1);
        CHECK(cb_power_state_set(&s, "node2", false) == 1);
        CHECK(cb_power_state_save(dir, &s) == 0);
        CHECK(cb_power_state_load(dir, &loaded) == 0);
        CHECK(loaded.n_names == 1 && cb_power_state_contains(&loaded, "node4") &&
              !cb_power_state_contains(&loaded, "node2"));
        cb_power_state_done(&loaded);

        /* a damaged file loses only its damaged lines */
        snprintf(path, sizeof path, "%s/powered-off", dir);
        CHECK((f = fopen(path, "we")) != NULL);
        fputs("node1\n\nnode3", f);
        for (int i = 0; i < 300; i++)
                fputc('x', f);
        fputs("\nnode5\n", f);
        fclose(f);
        CHECK(cb_power_state_load(dir, &loaded) == 0);
        CHECK(loaded.n_names == 2 && cb_power_state_contains(&loaded, "node1") &&
              cb_power_state_contains(&loaded, "node5"));
        cb_power_state_done(&loaded);
        cb_power_state_done(&s);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
}

int main(void) {
        cb_log_set_max_level(getenv("CB_TEST_VERBOSE") ? LOG_DEBUG : LOG_EMERG);

        test_reboot();
        test_off_stays_off();
        test_switch_removed_while_off();
        test_refusals();
        test_switch_does_not_cut();
        test_switch_keeps_power();
        test_switch_fails();
        test_switch_refuses();
        test_staggered();
        test_recovery_revives();
        test_recovery_ladder(false);
        test_recovery_ladder(true);
        test_at_start();
        test_state_file();
        return check_exit("test-node-power");
}
