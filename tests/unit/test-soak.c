/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fault soak: many boots of in-process emulated boards, each with random
 * faults at random points and random board behaviours. Every board must end
 * up with exactly the files on disk, or needing power or failed with a
 * reason. With a power switch, faults that strike in one attempt only are
 * always overcome; without one, the board may end needing power, but it
 * never fails for them. Run it
 * under ASan or valgrind for the "no leak" half of the claim.
 *
 *   CB_SOAK_BOOTS=N   number of boots (default 1000)
 *   CB_SOAK_SEED=S    reproduce a run (the seed is printed)
 */
#include <time.h>

#include "check.h"
#include "log.h"
#include "world.h"

#define BOARDS_PER_ROUND 25

static uint64_t rng_state;

static uint32_t rnd(uint32_t below) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return below ? (uint32_t) (rng_state % below) : 0;
}

static const char *const served_files[] = { "config.txt", "start.elf", "fixup.dat", "cmdline.txt", "kernel.img",
                                            "bcm2708-rpi-zero-w.dtb", "overlays/dwc2.dtbo" };

/* What a board's faults allow, whatever host serves it. */
struct verdict {
        bool transient;         /* every fault strikes in one attempt only */
        bool may_fail_unpowered; /* without a switch even a transient one may end the boot (no gadget) */
};

static void random_fault(struct emu_fault *f, unsigned max_attempts, struct verdict *v) {
        static const enum emu_fault_kind kinds[] = {
                EMU_FAULT_STALL,         EMU_FAULT_NO_ANSWER,     EMU_FAULT_VANISH,      EMU_FAULT_UNPLUG,
                EMU_FAULT_ROM_FAILURE,   EMU_FAULT_BOGUS_COMMAND, EMU_FAULT_NAME_NO_NUL, EMU_FAULT_ESCAPE_NAME,
                EMU_FAULT_NO_GADGET,     EMU_FAULT_PAUSE,         EMU_FAULT_HANG,
        };
        bool permanent = rnd(10) == 0;

        *f = (struct emu_fault){ .kind = kinds[rnd(ELEMENTSOF(kinds))] };
        f->attempt = permanent ? 0 : 1 + rnd(max_attempts - 2);
        if (emu_fault_natural_point(f->kind, &f->point) == 0) {
                f->index = rnd(12); /* used by request faults only */
        } else {
                static const enum emu_fault_point points[] = { EMU_AT_ROM_HEADER, EMU_AT_ROM_LOADER, EMU_AT_ROM_STATUS,
                                                               EMU_AT_REQUEST, EMU_AT_FILE, EMU_AT_FILE };
                f->point = points[rnd(ELEMENTSOF(points))];
                f->index = rnd(14);
                f->name = served_files[rnd(ELEMENTSOF(served_files))];
                f->offset = rnd(20000);
                f->sticky = permanent && rnd(2);
        }
        f->pause_ms = rnd(50);
        v->transient &= !permanent;
        v->may_fail_unpowered |= f->kind == EMU_FAULT_NO_GADGET;
}

/*
 * A board and the daemon setting that goes with it: the strict board and
 * the forgiving one with the defaults, the board that forgets a failed
 * file with BulkRecovery=resend.
 */
static void random_board(struct emu_board_config *bc, enum cb_bulk_recovery recovery) {
        if (recovery == CB_BULK_RESEND) {
                bc->after_bulk_fault = EMU_AFTER_BULK_FAULT_WAIT_RESEND;
        } else if (rnd(2)) {
                emu_board_config_lenient(bc);
        }
        if (rnd(2))
                bc->on_reset = EMU_ON_RESET_RESTART;
}

int main(void) {
        const char *e = getenv("CB_SOAK_BOOTS");
        unsigned boots = e ? (unsigned) strtoul(e, NULL, 10) : 1000;
        uint64_t seed = getenv("CB_SOAK_SEED") ? strtoull(getenv("CB_SOAK_SEED"), NULL, 0) : (uint64_t) time(NULL);
        unsigned n_up = 0, n_failed = 0, n_needs_power = 0, n_transient = 0, n_faults = 0, attempts_hist[8] = { 0 };
        usec_t started = now_usec();

        rng_state = seed * 2 + 1; /* xorshift needs a non-zero state */
        printf("soak: %u boots, seed %llu (CB_SOAK_SEED=%llu reproduces)\n", boots, (unsigned long long) seed,
               (unsigned long long) seed);
        cb_log_set_max_level(getenv("CB_TEST_VERBOSE") ? LOG_DEBUG : LOG_EMERG);

        for (unsigned done = 0; done < boots;) {
                struct world w;
                struct verdict verdicts[BOARDS_PER_ROUND];
                unsigned round = MIN(BOARDS_PER_ROUND, boots - done);
                bool powered = rnd(2);

                CHECK(world_init(&w, false) == 0);
                /* long enough that a busy board (<50 ms) is told from a stuck one on a loaded machine */
                w.config->bulk_timeout = 200 * USEC_PER_MSEC;
                w.config->request_timeout = 200 * USEC_PER_MSEC;
                w.config->power_settle = 2 * USEC_PER_MSEC;
                w.config->bulk_recovery = rnd(3) == 0 ? CB_BULK_RESEND : CB_BULK_RESUME;
                w.config->recover_by_reset = rnd(2);
                for (unsigned i = 0; i < round; i++) {
                        struct emu_board_config bc = { .rom_pid = rnd(2) ? 0x2763 : 0x2764 };

                        random_board(&bc, w.config->bulk_recovery);
                        verdicts[i] = (struct verdict){ .transient = true };
                        bc.n_faults = rnd(3);
                        /* two transient faults may cost two attempts: both stay below MaxAttempts */
                        for (size_t k = 0; k < bc.n_faults; k++)
                                random_fault(&bc.faults[k], w.config->max_attempts, &verdicts[i]);
                        n_faults += (unsigned) bc.n_faults;
                        world_add(&w, &bc);
                        if (powered)
                                CHECK(world_add_switch(&w, i, NULL, NULL) == 0);
                }
                for (unsigned i = 0; i < round; i++)
                        emu_port_plug(&w.ports[i]);
                int r = world_run(&w, 60 * USEC_PER_SEC);
                CHECK_MSG(r == 0, "round at boot %u did not settle", done);

                for (unsigned i = 0; i < round; i++) {
                        struct cb_node *n = w.nodes[i];
                        enum cb_node_state st = cb_node_state(n);
                        const char *err = cb_node_last_error(n);
                        char why[256];
                        unsigned failures_before = check_failures;

                        n_transient += verdicts[i].transient;
                        CHECK_MSG(w.ports[i].board.error[0] == '\0', "boot %u: host broke the protocol: %s", done + i,
                                  w.ports[i].board.error);
                        if (st == CB_NODE_UP) {
                                n_up++;
                                attempts_hist[MIN(cb_node_attempt(n), 7u)]++;
                                CHECK_MSG(world_verify_board(&w, i, why, sizeof why) == 0, "boot %u: %s", done + i,
                                          why);
                        } else {
                                n_failed += st == CB_NODE_FAILED;
                                n_needs_power += st == CB_NODE_NEEDS_POWER;
                                CHECK_MSG(st == CB_NODE_FAILED || st == CB_NODE_NEEDS_POWER, "boot %u ended %s",
                                          done + i, cb_node_state_name(st));
                                CHECK_MSG(err && *err, "boot %u ended %s without a reason", done + i,
                                          cb_node_state_name(st));
                                /* with a switch, what strikes once is always overcome */
                                CHECK_MSG(!(verdicts[i].transient && powered), "boot %u: transient faults and a switch, "
                                          "but %s: %s", done + i, cb_node_state_name(st), err ? err : "?");
                                /* without one, the board may need power, but it does not fail */
                                CHECK_MSG(!(verdicts[i].transient && !powered && st == CB_NODE_FAILED &&
                                            !verdicts[i].may_fail_unpowered),
                                          "boot %u: transient faults, but failed: %s", done + i, err ? err : "?");
                        }
                        if (check_failures != failures_before)
                                world_dump(&w, i);
                }
                world_done(&w);
                done += round;
        }

        printf("soak: %u boots in %.1fs: %u up, %u needing power, %u failed (%u had only transient faults); "
               "%u faults injected\n",
               boots, (double) (now_usec() - started) / 1e6, n_up, n_needs_power, n_failed, n_transient, n_faults);
        printf("soak: up on attempt 1: %u, 2: %u, 3: %u, 4: %u, 5: %u\n", attempts_hist[1], attempts_hist[2],
               attempts_hist[3], attempts_hist[4], attempts_hist[5]);
        return check_exit("test-soak");
}
