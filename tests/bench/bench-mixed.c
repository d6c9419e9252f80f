/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Boot time of a mixed cluster: 4 Pi Zeros (BCM2835), a Zero 2 W (BCM2837),
 * 2 CM4s (BCM2711: bootcode4.bin's file session, then start4.elf's own one
 * for the kernel; one leaves without a Done, one on older firmware sends one
 * first) and a CM5 (BCM2712: its 24 MiB boot.img), each served its SoC's
 * real-size files from one boot directory, on the umockdev tier's emulated
 * buses (40 MB/s per high-speed bus, 1 MB/s full speed; one board per bus).
 * The real daemon boots the set two ways in one run:
 *   serial      one board at a time, the next plugged when the last is up
 *               (the baseline: what a one-board-at-a-time host achieves);
 *   concurrent  all plugged at once (what clusterboot does).
 * Prints, per SoC, the boards, the bytes each was served and the time from
 * its plug to the daemon's `state up` (min/median/max) both ways, then the
 * totals and the speed-up.
 *
 * A benchmark: it asserts nothing about time. It exits 1 if a board does
 * not come up, holds wrong files, or a CM4 is not up on attempt 1 (its
 * second file session is part of a boot, not a retry).
 *
 * usage: bench-mixed   Environment: CLUSTERBOOT (daemon path).
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster.h"

static const struct emu_board_config boards[] = {
        { .soc = EMU_SOC_2835 },
        { .soc = EMU_SOC_2835 },
        { .soc = EMU_SOC_2835 },
        { .soc = EMU_SOC_2835 },
        { .soc = EMU_SOC_2837 },
        /* distinct serials: the daemon keeps each 2711/2712's properties under its serial */
        { .soc = EMU_SOC_2711, .serial = "a1b2c3d4" },
        { .soc = EMU_SOC_2711, .serial = "a1b2c3d5", .handoff = EMU_HANDOFF_DONE, .server_serial_index = 1 },
        { .soc = EMU_SOC_2712, .serial = "e5f6a7b8", .product_d0 = true },
};
#define N_BOARDS (sizeof boards / sizeof boards[0])

static const struct {
        enum emu_soc soc;
        const char *name;
} socs[] = {
        { EMU_SOC_2835, "BCM2835 Zero" },
        { EMU_SOC_2837, "BCM2837 Zero 2 W" },
        { EMU_SOC_2711, "BCM2711 CM4" },
        { EMU_SOC_2712, "BCM2712 CM5" },
};

struct figures {
        double total;                /* first plug to last `up`, s */
        double plug_to_up[N_BOARDS]; /* s */
        uint64_t served[N_BOARDS];   /* serial: bulk bytes the board took (boot message, loader, files) */
        uint64_t served_total;       /* bulk bytes all boards took */
        unsigned attempt[N_BOARDS];  /* the node's, from its `up` line */
};

/* When the daemon said node i+1 is up (its own CLOCK_MONOTONIC stamp; the harness's if the line has none). */
static double up_time(const struct tb_log_line *l) {
        double t = daemon_time(l);
        return t >= 0 ? t : (double) l->t_usec / 1e6;
}

/* Bulk bytes every board on the testbed took so far. */
static uint64_t bulk_bytes(struct cluster *c) {
        struct tb_stats st;

        tb_get_stats(c->tb, &st);
        return st.bulk_bytes;
}

/* That every board is right: its files by check_boards(), a CM4's two sessions and its node's attempt here. */
static int check(struct cluster *c, const struct figures *f) {
        check_boards(c, 0);
        tb_lock(c->tb);
        for (size_t i = 0; i < N_BOARDS; i++) {
                const struct emu_board *e = tb_board_emu(tb_board_at(c->tb, i));

                if (boards[i].soc == EMU_SOC_2711) {
                        CHECK(e->file_sessions == 2, "node%zu (CM4): %u file sessions, not 2", i + 1, e->file_sessions);
                        CHECK(f->attempt[i] == 1, "node%zu (CM4): up on attempt %u, not 1: its second file "
                              "session was taken for a failure", i + 1, f->attempt[i]);
                }
        }
        tb_unlock(c->tb);
        return failed_now ? -EPROTO : 0;
}

/* Boots the set one board at a time or all at once; returns 0, -ETIMEDOUT (a board not up) or -EPROTO. */
static int run(bool concurrent, struct figures *f) {
        const struct tb_log_line *up[N_BOARDS] = { 0 };
        double plugged[N_BOARDS], last_up = 0;
        uint64_t before = 0;
        struct cluster c;
        int r = 0;

        cluster_init(&c, N_BOARDS, 1, boards, NULL);
        cluster_start(&c);
        for (unsigned i = 0; i < N_BOARDS; i++) {
                plugged[i] = (double) g_get_monotonic_time() / 1e6;
                tb_plug(tb_board_at(c.tb, i));
                /* serial: the next board waits for this one (a one-board host's loop) */
                if (concurrent)
                        continue;
                if (!(up[i] = wait_state(&c, i + 1, "up", 60000)))
                        break;
                /* alone on the buses: what the testbed counts since the last board is all this one's */
                f->served[i] = bulk_bytes(&c) - before;
                before += f->served[i];
        }
        for (unsigned i = 0; concurrent && i < N_BOARDS; i++)
                up[i] = wait_state(&c, i + 1, "up", 300000);

        for (unsigned i = 0; i < N_BOARDS; i++) {
                CHECK(up[i] != NULL, "node%u (%s) not up", i + 1, concurrent ? "concurrent" : "serial");
                if (!up[i]) {
                        r = -ETIMEDOUT;
                        continue;
                }
                double t = up_time(up[i]);
                f->plug_to_up[i] = t - plugged[i];
                f->attempt[i] = up_attempt(up[i]);
                last_up = t > last_up ? t : last_up;
        }
        f->total = last_up - plugged[0];
        f->served_total = bulk_bytes(&c);
        if (r == 0)
                r = check(&c, f);
        cluster_free(&c);
        return r;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

/* min / median / max of one SoC's boards in f, as "0.71 / 0.72 / 0.80". */
static void spread(const struct figures *f, enum emu_soc soc, char *buf, size_t size) {
        double v[N_BOARDS];
        size_t n = 0;

        for (size_t i = 0; i < N_BOARDS; i++)
                if (boards[i].soc == soc)
                        v[n++] = f->plug_to_up[i];
        qsort(v, n, sizeof v[0], cmp_double);
        double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
        snprintf(buf, size, "%5.2f / %5.2f / %5.2f", v[0], median, v[n - 1]);
}

int main(void) {
        struct figures serial = { 0 }, concurrent = { 0 };

        clusterboot = getenv("CLUSTERBOOT");
        if (!clusterboot) {
                fprintf(stderr, "usage: CLUSTERBOOT=path bench-mixed\n");
                return 2;
        }
        /* both runs, even after a failure: each one's log is dumped, and the figures say which one failed */
        int rs = run(false, &serial);
        failed_now = false;
        int rc = run(true, &concurrent);
        if (rs < 0 || rc < 0) {
                fprintf(stderr, "bench-mixed: serial run %s, concurrent run %s\n", rs < 0 ? g_strerror(-rs) : "ok",
                        rc < 0 ? g_strerror(-rc) : "ok");
                return 1;
        }

        printf("bench-mixed: %zu boards of 4 SoCs at once, real-size boot files, emulated buses (one board each)\n",
               N_BOARDS);
        printf("  %40s plug -> up, s (min / median / max)\n", "");
        printf("  %-17s %6s %13s   %-21s   %s\n", "SoC", "boards", "served/board", "serial", "concurrent");
        for (size_t s = 0; s < sizeof socs / sizeof socs[0]; s++) {
                char a[64], b[64];
                unsigned n = 0;
                uint64_t bytes = 0; /* the SoC's boards together: printed per board */

                for (size_t i = 0; i < N_BOARDS; i++)
                        if (boards[i].soc == socs[s].soc) {
                                n++;
                                bytes += serial.served[i];
                        }
                spread(&serial, socs[s].soc, a, sizeof a);
                spread(&concurrent, socs[s].soc, b, sizeof b);
                printf("  %-17s %6u %10.1f MB   %s   %s\n", socs[s].name, n, (double) bytes / n / 1e6, a, b);
        }
        printf("  serial (one board at a time, baseline): %6.2f s\n", serial.total);
        printf("  concurrent (clusterboot):               %6.2f s  (%.0f MB served, %.0f MB/s)\n", concurrent.total,
               (double) concurrent.served_total / 1e6, (double) concurrent.served_total / 1e6 / concurrent.total);
        printf("  speed-up: %.1fx\n", serial.total / concurrent.total);
        return 0;
}
