/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every SoC the reference tool boots, through real cb_node objects against
 * in-process emulated boards: each boots on attempt 1 with no retry and no
 * warning, and its board holds exactly the files on disk. The 2711's second
 * file session (start4.elf's) is part of a normal boot, whichever way the
 * firmware leaves its first one; the 2712's properties are kept per node.
 */
#include <string.h>

#include "check.h"
#include "log.h"
#include "world.h"

#define RUN_TIMEOUT (30 * USEC_PER_SEC)

struct soc_case {
        const char *name;
        struct emu_board_config board;
        unsigned file_sessions; /* the board's own count, on the attempt that booted */
};

static const struct soc_case cases[] = {
        { "zero (2835)", { .soc = EMU_SOC_2835 }, 1 },
        { "zero 2 w (2837)", { .soc = EMU_SOC_2837 }, 1 },
        { "cm4, start4.elf leaves without Done", { .soc = EMU_SOC_2711, .handoff = EMU_HANDOFF_LEAVE }, 2 },
        { "cm4, start4.elf sends Done first", { .soc = EMU_SOC_2711, .handoff = EMU_HANDOFF_DONE }, 2 },
        { "cm4, older firmware (second stage serial index 1)",
          { .soc = EMU_SOC_2711, .server_serial_index = 1 }, 2 },
        { "cm5 (2712)", { .soc = EMU_SOC_2712 }, 1 },
        { "cm5 D0, properties as ReadFile", { .soc = EMU_SOC_2712, .product_d0 = true, .metadata_by_read = true }, 1 },
};

/*
 * order: the board leaves as it answers its ROM status and its Done, and the
 * host hears of it first from the failed transfer, or first from udev. The
 * board went on all the same: that is no failure.
 */
static void test_boots_clean(const struct soc_case *c, enum emu_leave_order order) {
        unsigned failures_before = check_failures;
        struct world w;
        struct cb_node_status st;
        char why[256];

        CHECK(world_init(&w, false) == 0);
        world_add(&w, &c->board)->leave_order = order;
        emu_port_plug(&w.ports[0]);
        CHECK_MSG(world_run(&w, RUN_TIMEOUT) == 0, "%s (leave order %d): did not settle", c->name, order);
        /* the ROM's status and the final Done, at least */
        if (order != EMU_LEAVE_AFTER_COMPLETION)
                CHECK_MSG(w.ports[0].early_leaves >= 2, "%s: %u early leaves", c->name, w.ports[0].early_leaves);
        cb_node_get_status(w.nodes[0], &st);
        CHECK_MSG(st.state == CB_NODE_UP, "%s: state %s (%s)", c->name, cb_node_state_name(st.state),
                  st.last_error ? st.last_error : "no error");
        CHECK_MSG(st.attempt == 1, "%s: up on attempt %u", c->name, st.attempt);
        CHECK_MSG(!st.last_error, "%s: last error \"%s\"", c->name, st.last_error);
        CHECK_MSG(st.step_retries == 0 && st.resets == 0 && st.power_cycles == 0, "%s: %u retries, %u resets, %u cycles",
                  c->name, st.step_retries, st.resets, st.power_cycles);
        CHECK_MSG(world_verify_board(&w, 0, why, sizeof why) == 0, "%s: %s", c->name, why);
        CHECK_MSG(w.ports[0].board.file_sessions == c->file_sessions, "%s: %u file sessions", c->name,
                  w.ports[0].board.file_sessions);
        CHECK_MSG(w.ports[0].board.attempt == 1, "%s: the board entered its ROM %u times", c->name,
                  w.ports[0].board.attempt);
        if (check_failures != failures_before)
                world_dump(&w, 0);
        world_done(&w);
}

static struct emu_fault fault(enum emu_fault_kind kind, enum emu_fault_point point, unsigned index, const char *name,
                               size_t offset) {
        return (struct emu_fault){ .kind = kind, .point = point, .attempt = 1, .index = index, .name = name,
                                   .offset = offset };
}

/* Boots one board until its node settles; the world stays for the caller's checks (world_done() it). */
static void boot_one(struct world *w, const struct emu_board_config *bc, struct cb_node_status *st) {
        CHECK(world_init(w, false) == 0);
        world_add(w, bc);
        emu_port_plug(&w->ports[0]);
        CHECK(world_run(w, RUN_TIMEOUT) == 0);
        cb_node_get_status(w->nodes[0], st);
}

/* The node came up on attempt 2, and its last error names `what`. */
static void check_up_on_second(const struct cb_node_status *st, const char *what) {
        CHECK_MSG(st->state == CB_NODE_UP, "state %s", cb_node_state_name(st->state));
        CHECK_MSG(st->attempt == 2, "up on attempt %u", st->attempt);
        CHECK_MSG(st->last_error && strstr(st->last_error, what), "last error %s",
                  st->last_error ? st->last_error : "(none)");
}

/* A stall in start4.elf's own session is resumed in place, like any other: attempt 1, one halt cleared. */
static void test_cm4_stall_in_firmware_session(void) {
        struct emu_board_config bc = { .soc = EMU_SOC_2711, .n_faults = 1 };
        struct cb_node_status st;
        struct world w;
        char why[256];

        bc.faults[0] = fault(EMU_FAULT_STALL, EMU_AT_FILE, 0, "kernel8.img", 30000);
        boot_one(&w, &bc, &st);
        CHECK(st.state == CB_NODE_UP && st.attempt == 1);
        CHECK(w.ports[0].board.halts_cleared == 1 && w.ports[0].board.resets == 0);
        CHECK_MSG(world_verify_board(&w, 0, why, sizeof why) == 0, "%s", why);
        world_done(&w);
}

/*
 * Only one file session of the firmware's own is part of a boot: a board
 * that breaks off a second time restarted its second stage. It costs the
 * attempt; the strict board then goes on where it is and comes up on 2.
 */
static void test_cm4_second_break_is_a_restart(void) {
        static const char *const requests[] = { "config.txt", "start4.elf", EMU_REQUEST_NEW_SESSION, "config.txt",
                                                EMU_REQUEST_NEW_SESSION, "kernel8.img" };
        struct emu_board_config bc = { .soc = EMU_SOC_2711, .requests = requests, .n_requests = ELEMENTSOF(requests) };
        struct cb_node_status st;
        struct world w;

        boot_one(&w, &bc, &st);
        check_up_on_second(&st, "left the bus");
        world_done(&w);
}

/* Leaving mid-file is never the firmware's hand-off, even after start4.elf: the attempt fails. */
static void test_cm4_left_mid_file(void) {
        struct emu_board_config bc = { .soc = EMU_SOC_2711, .n_faults = 1 };
        struct cb_node_status st;
        struct world w;

        bc.faults[0] = fault(EMU_FAULT_VANISH, EMU_AT_FILE, 0, "fixup4.dat", 1000);
        boot_one(&w, &bc, &st);
        check_up_on_second(&st, "fixup4.dat");
        world_done(&w);
}

/* start4.elf leaves and its session never comes: the board is lost like any board that stays away. */
static void test_cm4_firmware_session_never_comes(void) {
        struct emu_board_config bc = { .soc = EMU_SOC_2711, .n_faults = 1 };
        struct cb_node_status st;
        struct world w;

        bc.faults[0] = fault(EMU_FAULT_UNPLUG, EMU_AT_REQUEST, 6, NULL, 0);
        boot_one(&w, &bc, &st);
        CHECK_MSG(st.state == CB_NODE_NEEDS_POWER, "state %s", cb_node_state_name(st.state));
        CHECK_MSG(st.last_error && strstr(st.last_error, "did not come back"), "last error %s",
                  st.last_error ? st.last_error : "(none)");
        world_done(&w);
}

int main(void) {
        cb_log_set_max_level(getenv("CB_TEST_VERBOSE") ? LOG_DEBUG : LOG_EMERG);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                for (int order = EMU_LEAVE_AFTER_COMPLETION; order <= EMU_LEAVE_REMOVAL_FIRST; order++)
                        test_boots_clean(&cases[i], (enum emu_leave_order) order);
        test_cm4_stall_in_firmware_session();
        test_cm4_second_break_is_a_restart();
        test_cm4_left_mid_file();
        test_cm4_firmware_session_never_comes();
        return check_exit("test-node-soc");
}
