/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The node's recovery logic against in-process emulated boards: every fault
 * the board model can inject, under both settings of each behaviour real
 * boards leave uncertain, must end with the board up (the files it holds
 * equal to the files on disk), or failed with a reason when the fault is
 * permanent.
 */
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "log.h"
#include "world.h"

#define RUN_TIMEOUT (20 * USEC_PER_SEC)

struct scenario {
        const char *name;
        struct emu_fault fault;
        bool expect_up;
        unsigned expect_attempt;    /* 0 = don't care */
        const char *error_contains; /* in last_error; NULL = don't check */
};

static void run_scenario(const struct scenario *sc, enum emu_after_bulk_fault after, enum emu_on_reset on_reset) {
        struct world w;
        struct emu_board_config bc = { .after_bulk_fault = after, .on_reset = on_reset };
        struct emu_board_config faulty = bc;
        char why[256];
        int r;

        faulty.faults[0] = sc->fault;
        faulty.n_faults = sc->fault.kind != EMU_FAULT_NONE;

        CHECK(world_init(&w, false) == 0);
        for (int i = 0; i < 3; i++)
                world_add(&w, &bc);
        world_add(&w, &faulty);
        for (size_t i = 0; i < w.n_ports; i++)
                emu_port_plug(&w.ports[i]);

        r = world_run(&w, RUN_TIMEOUT);
        CHECK_MSG(r == 0, "%s: did not settle", sc->name);

        /* the healthy boards are never disturbed by the faulty one */
        for (size_t i = 0; i < 3; i++) {
                CHECK_MSG(cb_node_state(w.nodes[i]) == CB_NODE_UP, "%s: healthy node%zu is %s", sc->name, i + 1,
                          cb_node_state_name(cb_node_state(w.nodes[i])));
                CHECK_MSG(cb_node_attempt(w.nodes[i]) == 1, "%s: healthy node%zu needed attempt %u", sc->name,
                          i + 1, cb_node_attempt(w.nodes[i]));
                CHECK_MSG(world_verify_board(&w, i, why, sizeof why) == 0, "%s: node%zu: %s", sc->name, i + 1, why);
        }

        struct cb_node *n = w.nodes[3];
        const char *err = cb_node_last_error(n);
        if (sc->expect_up) {
                CHECK_MSG(cb_node_state(n) == CB_NODE_UP, "%s [%d/%d]: node4 is %s (%s)", sc->name, after, on_reset,
                          cb_node_state_name(cb_node_state(n)), err ? err : "no error");
                CHECK_MSG(world_verify_board(&w, 3, why, sizeof why) == 0, "%s: node4: %s", sc->name, why);
        } else {
                CHECK_MSG(cb_node_state(n) == CB_NODE_FAILED, "%s [%d/%d]: node4 is %s", sc->name, after, on_reset,
                          cb_node_state_name(cb_node_state(n)));
                CHECK_MSG(err && *err, "%s: a failed node must say why", sc->name);
        }
        if (sc->expect_attempt)
                CHECK_MSG(cb_node_attempt(n) == sc->expect_attempt, "%s [%d/%d]: node4 on attempt %u, expected %u",
                          sc->name, after, on_reset, cb_node_attempt(n), sc->expect_attempt);
        if (sc->error_contains)
                CHECK_MSG(err && strstr(err, sc->error_contains), "%s: last error \"%s\" lacks \"%s\"", sc->name,
                          err ? err : "(none)", sc->error_contains);
        CHECK_MSG(w.ports[3].board.error[0] == '\0', "%s [%d/%d]: the host broke the protocol: %s", sc->name, after,
                  on_reset, w.ports[3].board.error);
        if (sc->fault.kind == EMU_FAULT_ESCAPE_NAME) {
                CHECK(w.ports[3].board.escape_asked);
                CHECK_MSG(w.ports[3].board.escape_answer == 0, "escape name answered with size %llu",
                          (unsigned long long) w.ports[3].board.escape_answer);
        }
        world_done(&w);
}

#define FAULT(k, p, a, ...) { .kind = (k), .point = (p), .attempt = (a), __VA_ARGS__ }

static const struct scenario scenarios[] = {
        { "no fault", FAULT(EMU_FAULT_NONE, 0, 0), true, 1, NULL },
        /* the seed's failure: the board drops off the bus mid kernel.img and returns in ROM */
        { "vanish mid kernel.img", FAULT(EMU_FAULT_VANISH, EMU_AT_FILE, 1, .name = "kernel.img", .offset = 30000),
          true, 2, "kernel.img" },
        { "stall on a request", FAULT(EMU_FAULT_STALL, EMU_AT_REQUEST, 1, .index = 3), true, 1, NULL },
        { "request never answered", FAULT(EMU_FAULT_NO_ANSWER, EMU_AT_REQUEST, 1, .index = 5), true, 1, NULL },
        { "ROM status unanswered once", FAULT(EMU_FAULT_NO_ANSWER, EMU_AT_ROM_STATUS, 1), true, 1, NULL },
        { "boot message stalls", FAULT(EMU_FAULT_STALL, EMU_AT_ROM_HEADER, 1), true, 1, NULL },
        { "loader bulk stalls", FAULT(EMU_FAULT_STALL, EMU_AT_ROM_LOADER, 1), true, 1, NULL },
        { "ROM reports failure", FAULT(EMU_FAULT_ROM_FAILURE, EMU_AT_ROM_STATUS, 1), true, 2, "0x80" },
        { "bogus command", FAULT(EMU_FAULT_BOGUS_COMMAND, EMU_AT_REQUEST, 1, .index = 2), true, 2, "unknown command" },
        { "name without NUL", FAULT(EMU_FAULT_NAME_NO_NUL, EMU_AT_REQUEST, 1, .index = 1), true, 1, NULL },
        { "escape name", FAULT(EMU_FAULT_ESCAPE_NAME, EMU_AT_REQUEST, 1, .index = 2), true, 1, NULL },
        { "bulk timeout mid start.elf", FAULT(EMU_FAULT_NO_ANSWER, EMU_AT_FILE, 1, .name = "start.elf", .offset = 20000),
          true, 0, NULL },
        { "bulk stall mid kernel.img", FAULT(EMU_FAULT_STALL, EMU_AT_FILE, 1, .name = "kernel.img", .offset = 1), true,
          0, NULL },
        { "no gadget", FAULT(EMU_FAULT_NO_GADGET, EMU_AT_GADGET, 1), false, 0, "gadget" },
        { "unplugged mid start.elf", FAULT(EMU_FAULT_UNPLUG, EMU_AT_FILE, 1, .name = "start.elf", .offset = 100), false,
          0, "come back" },
        { "ROM never answers", FAULT(EMU_FAULT_NO_ANSWER, EMU_AT_ROM_STATUS, 0, .sticky = true), false, 5, "ROM" },
        { "vanish every attempt", FAULT(EMU_FAULT_VANISH, EMU_AT_FILE, 0, .name = "kernel.img", .offset = 100), false,
          5, "kernel.img" },
};

/* The loader missing from the boot directory: fail at once with a reason, then boot after `retry`. */
static void test_missing_loader_then_retry(void) {
        struct world w;
        struct emu_board_config bc = { 0 };
        char path[256], moved[256];

        CHECK(world_init(&w, false) == 0);
        snprintf(path, sizeof path, "%s/bootcode.bin", w.boot_dir);
        snprintf(moved, sizeof moved, "%s/bootcode.bin.away", w.dir);
        CHECK(rename(path, moved) == 0);
        world_add(&w, &bc);
        emu_port_plug(&w.ports[0]);
        CHECK(world_run(&w, RUN_TIMEOUT) == 0);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_FAILED);
        CHECK(cb_node_last_error(w.nodes[0]) && strstr(cb_node_last_error(w.nodes[0]), "bootcode.bin"));

        CHECK(rename(moved, path) == 0);
        CHECK(cb_node_retry(w.nodes[0]) == 0);
        CHECK(world_run(&w, RUN_TIMEOUT) == 0);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_UP);
        CHECK(cb_node_attempt(w.nodes[0]) == 1);
        world_done(&w);
}

/* Real file sizes, a Zero 2 W ROM, and a board replugged after it is up: it boots again from attempt 1. */
static void test_real_sizes_and_replug(void) {
        struct world w;
        struct emu_board_config zero = { 0 }, zero2 = { .rom_pid = 0x2764 };
        struct cb_node_status st;
        char why[256];

        CHECK(world_init(&w, true) == 0);
        world_add(&w, &zero);
        world_add(&w, &zero2);
        emu_port_plug(&w.ports[0]);
        emu_port_plug(&w.ports[1]);
        CHECK(world_run(&w, RUN_TIMEOUT) == 0);
        for (size_t i = 0; i < 2; i++) {
                CHECK(cb_node_state(w.nodes[i]) == CB_NODE_UP);
                CHECK_MSG(world_verify_board(&w, i, why, sizeof why) == 0, "node%zu: %s", i + 1, why);
        }
        cb_node_get_status(w.nodes[0], &st);
        CHECK_MSG(st.bytes_served > 8000000, "bytes served %llu", (unsigned long long) st.bytes_served);
        CHECK(st.boots == 1);

        emu_port_unplug(&w.ports[0]);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_ABSENT);
        w.ports[0].board.n_files = 0;
        emu_port_plug(&w.ports[0]);
        CHECK(world_run(&w, RUN_TIMEOUT) == 0);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_UP);
        CHECK(cb_node_attempt(w.nodes[0]) == 1);
        cb_node_get_status(w.nodes[0], &st);
        CHECK(st.boots == 2);
        CHECK(world_verify_board(&w, 0, why, sizeof why) == 0);
        world_done(&w);
}

/*
 * The daemon restarted while a board was mid-file in its second stage: the
 * new node finds a second stage it did not start, resets it first, and the
 * board boots without seeing a protocol violation (both reset behaviours).
 */
static void test_restart_mid_file(enum emu_on_reset on_reset) {
        struct world w;
        struct emu_board_config bc = { .on_reset = on_reset };
        struct emu_port *p;
        const struct emu_received_file *f;
        char why[256];

        CHECK(world_init(&w, true) == 0);
        p = world_add(&w, &bc);
        emu_port_plug(p);
        /* run until the board is part-way through start.elf */
        for (usec_t deadline = now_usec() + RUN_TIMEOUT; now_usec() < deadline;) {
                f = emu_board_file(&p->board, "start.elf");
                if (p->board.stage == EMU_STAGE_SERVER && f && f->received > 0 && !f->complete)
                        break;
                sd_event_run(w.event, 10 * USEC_PER_MSEC);
        }
        f = emu_board_file(&p->board, "start.elf");
        CHECK(f && f->received > 0 && !f->complete && p->board.write_pending);

        /* the old daemon goes away; a new one finds the board where it is */
        p->node = NULL;
        cb_node_free(w.nodes[0]);
        while (sd_event_run(w.event, 0) > 0)
                ;
        CHECK(cb_node_new(&w.env, "node1", "1-1", false, &w.nodes[0]) == 0);
        p->node = w.nodes[0];
        emu_port_announce(p);

        CHECK(world_run(&w, RUN_TIMEOUT) == 0);
        CHECK_MSG(cb_node_state(w.nodes[0]) == CB_NODE_UP, "restarted node is %s",
                  cb_node_state_name(cb_node_state(w.nodes[0])));
        CHECK(p->board.resets == 1);
        CHECK_MSG(world_verify_board(&w, 0, why, sizeof why) == 0, "after restart (on_reset %d): %s", on_reset, why);
        world_done(&w);
}

/*
 * The ROM took the whole loader and the board left for its second stage
 * before the host saw the status answer (the removal overtook the
 * transfer's completion, as seen under load): that is the way forward, not
 * a failure. The board comes back as a second stage and boots on attempt 1.
 */
static void test_rom_leaves_before_status(void) {
        struct world w;
        struct emu_board_config bc = { 0 };
        struct emu_port *p;
        char why[256];

        bc.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_NO_ANSWER, .point = EMU_AT_ROM_STATUS, .attempt = 1 };
        bc.n_faults = 1;
        CHECK(world_init(&w, false) == 0);
        p = world_add(&w, &bc);
        emu_port_plug(p);
        /* run until the board holds the whole loader and the next transfer (the status read) is in flight */
        unsigned transfers_at_loader = 0;
        for (usec_t deadline = now_usec() + RUN_TIMEOUT; now_usec() < deadline;) {
                bool loader_taken = p->board.loader_received > 0 && !p->board.write_pending;

                if (loader_taken && !transfers_at_loader)
                        transfers_at_loader = p->transfers;
                if (transfers_at_loader && p->transfers == transfers_at_loader + 1 && p->op_pending)
                        break;
                sd_event_run(w.event, 100);
        }
        CHECK_MSG(transfers_at_loader && p->transfers == transfers_at_loader + 1 && p->op_pending,
                  "transfers %u (loader taken at %u), one pending: %d", p->transfers, transfers_at_loader,
                  p->op_pending);
        /* the board leaves with its status read unanswered, and shows up as a second stage */
        emu_port_unplug(p);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_ROM);
        /* the cancelled status read completes before the new device (here: the same emulated port) is used */
        while (p->op_pending)
                sd_event_run(w.event, USEC_PER_MSEC);
        p->board.next_stage = EMU_STAGE_SERVER;
        emu_board_reconnect(&p->board);
        emu_port_announce(p);
        CHECK(world_run(&w, RUN_TIMEOUT) == 0);
        CHECK_MSG(cb_node_state(w.nodes[0]) == CB_NODE_UP && cb_node_attempt(w.nodes[0]) == 1,
                  "node is %s on attempt %u", cb_node_state_name(cb_node_state(w.nodes[0])), cb_node_attempt(w.nodes[0]));
        CHECK(cb_node_last_error(w.nodes[0]) == NULL);
        CHECK(world_verify_board(&w, 0, why, sizeof why) == 0);
        world_done(&w);
}

int main(void) {
        /* the scenarios log a lot of expected warnings; keep the test output readable */
        cb_log_set_max_level(getenv("CB_TEST_VERBOSE") ? LOG_DEBUG : LOG_EMERG);

        for (size_t i = 0; i < ELEMENTSOF(scenarios); i++)
                for (int after = 0; after < 2; after++)
                        for (int reset = 0; reset < 2; reset++)
                                run_scenario(&scenarios[i], (enum emu_after_bulk_fault) after,
                                             (enum emu_on_reset) reset);
        test_missing_loader_then_retry();
        test_real_sizes_and_replug();
        test_restart_mid_file(EMU_ON_RESET_RESTART);
        test_restart_mid_file(EMU_ON_RESET_KEEP);
        test_rom_leaves_before_status();
        return check_exit("test-node");
}
