/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gadget-boards: utilities every part uses: the monotonic clock, sleeping,
 * deadlines for pthread_cond_timedwait, and the log (stderr, time since start).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "gadget-boards.h"

uint64_t t_start;

uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

void sleep_ms(unsigned ms) {
        struct timespec ts = { ms / 1000u, (long) (ms % 1000u) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* An absolute CLOCK_MONOTONIC time `ms` from now, for pthread_cond_timedwait (conds use CLOCK_MONOTONIC). */
struct timespec deadline_in(unsigned ms) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000u;
        ts.tv_nsec += (long) (ms % 1000u) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return ts;
}

__attribute__((format(printf, 2, 3))) void blog(const struct gboard *g, const char *fmt, ...) {
        char msg[512];
        va_list ap;
        uint64_t t = now_ms() - t_start;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (g)
                fprintf(stderr, "[%4" PRIu64 ".%03" PRIu64 "] board %u (%s): %s\n", t / 1000, t % 1000, g->index,
                        g->port, msg);
        else
                fprintf(stderr, "[%4" PRIu64 ".%03" PRIu64 "] %s\n", t / 1000, t % 1000, msg);
}
