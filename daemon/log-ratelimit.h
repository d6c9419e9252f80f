/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A limit on the log lines one source may cause: at most `burst` lines per
 * `interval` (a fixed window that starts with its first line), the rest
 * counted, and one line saying how many were left out once the window ends
 * (from a timer, so the count is told even if the source falls silent) or
 * when the owner asks (before a line that must not appear out of order).
 *
 * Used per node for the lines a board's own input causes (refused names,
 * malformed properties, retries of its transfers): a board that sends them
 * as fast as it can would otherwise make journald rate-limit the whole
 * service and drop every other board's messages with its own.
 */

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "util.h"

/* Per board: a boot asks for a few dozen files; its oddities, if any, come by the handful. */
#define CB_LOG_RATELIMIT_BURST 20
#define CB_LOG_RATELIMIT_INTERVAL (10 * USEC_PER_SEC)

/* `suppressed` lines were left out; `priority` is the most severe of them. */
typedef void (*cb_log_ratelimit_report_t)(void *userdata, unsigned suppressed, int priority);

struct cb_log_ratelimit {
        usec_t interval;
        unsigned burst;

        usec_t begin; /* CLOCK_MONOTONIC start of the window; 0: none open */
        unsigned passed;
        unsigned suppressed;
        int worst;

        sd_event *event; /* its clock, and the timer that reports at the window's end; NULL: neither */
        sd_event_source *timer;
        cb_log_ratelimit_report_t report;
        void *userdata;
};

/*
 * `event` may be NULL: then the time is the caller's (cb_log_ratelimit_test_at())
 * and counts are reported only when the next window opens or on flush.
 */
void cb_log_ratelimit_init(struct cb_log_ratelimit *rl, usec_t interval, unsigned burst, sd_event *event,
                           cb_log_ratelimit_report_t report, void *userdata);
/* Reports what is still counted, drops the timer. */
void cb_log_ratelimit_done(struct cb_log_ratelimit *rl);

/* May a line of this priority be logged now? false: it is counted instead. */
bool cb_log_ratelimit_test(struct cb_log_ratelimit *rl, int priority);
bool cb_log_ratelimit_test_at(struct cb_log_ratelimit *rl, usec_t now, int priority);
/* Reports the lines counted so far (if any) at once; the window goes on. */
void cb_log_ratelimit_flush(struct cb_log_ratelimit *rl);
