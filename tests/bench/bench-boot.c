/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Boot time of N emulated Pi Zeros (real-size boot files, the umockdev
 * tier's bus-time model: 40 MB/s per high-speed bus, 1 MB/s full speed),
 * booted by the real daemon two ways in one run:
 *   serial      one board at a time, the next plugged when the last is up:
 *               what a one-board-at-a-time host (rpiboot) achieves at best
 *               (it also sleeps 5 s per board, which is not counted here);
 *   concurrent  all boards plugged at once: what clusterboot does.
 * Prints seconds for each and the speed-up. A benchmark, not a test: it
 * asserts nothing about time.
 *
 * usage: bench-boot [N]   (default 8)   Environment: CLUSTERBOOT (daemon path).
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster.h"

static double run(unsigned n, bool concurrent) {
        struct cluster c;
        int64_t t0;
        double secs;

        cluster_init(&c, n, 1, NULL, NULL);
        cluster_start(&c);
        t0 = g_get_monotonic_time();
        if (concurrent) {
                plug_all(&c);
                CHECK(all_up(&c, 300000), "not every node came up");
        } else {
                for (unsigned i = 0; i < n; i++) {
                        tb_plug(tb_board_at(c.tb, i));
                        CHECK(wait_state(&c, i + 1, "up", 60000) != NULL, "node%u not up", i + 1);
                }
        }
        secs = (double) (g_get_monotonic_time() - t0) / 1e6;
        check_boards(&c, 0);
        cluster_free(&c);
        return secs;
}

int main(int argc, char **argv) {
        unsigned n = argc > 1 ? (unsigned) atoi(argv[1]) : 8;

        clusterboot = getenv("CLUSTERBOOT");
        if (!clusterboot || n == 0) {
                fprintf(stderr, "usage: CLUSTERBOOT=path bench-boot [N]\n");
                return 2;
        }
        double serial = run(n, false);
        double concurrent = run(n, true);
        printf("bench-boot: %u boards, 9 MB of boot files each, emulated buses\n", n);
        printf("  serial (one board at a time, baseline): %6.2f s  (%.2f s per board)\n", serial, serial / n);
        printf("  concurrent (clusterboot):               %6.2f s  (%.2f s per board)\n", concurrent,
               concurrent / n);
        printf("  speed-up: %.1fx\n", serial / concurrent);
        return failed_now ? 1 : 0;
}
