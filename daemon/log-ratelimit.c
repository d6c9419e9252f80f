/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log-ratelimit.h"

#include <time.h>

#include "event-priority.h"

void cb_log_ratelimit_init(struct cb_log_ratelimit *rl, usec_t interval, unsigned burst, sd_event *event,
                           cb_log_ratelimit_report_t report, void *userdata) {
        *rl = (struct cb_log_ratelimit){
                .interval = interval,
                .burst = burst,
                .event = event,
                .report = report,
                .userdata = userdata,
        };
}

void cb_log_ratelimit_flush(struct cb_log_ratelimit *rl) {
        unsigned n = rl->suppressed;

        if (n == 0)
                return;
        rl->suppressed = 0;
        (void) sd_event_source_set_enabled(rl->timer, SD_EVENT_OFF);
        if (rl->report)
                rl->report(rl->userdata, n, rl->worst);
}

void cb_log_ratelimit_done(struct cb_log_ratelimit *rl) {
        cb_log_ratelimit_flush(rl);
        rl->timer = sd_event_source_disable_unref(rl->timer);
}

static int on_window_end(sd_event_source *s, uint64_t usec, void *userdata) {
        cb_log_ratelimit_flush(userdata);
        return 0;
}

/* The first line left out of a window: its count is told when the window ends, whatever comes after. */
static void arm_report(struct cb_log_ratelimit *rl) {
        usec_t end = rl->begin + rl->interval;
        int r;

        if (!rl->event)
                return;
        if (!rl->timer) {
                /* no accuracy needed: a second late costs nothing, and lets the loop batch wakeups */
                r = sd_event_add_time(rl->event, &rl->timer, CLOCK_MONOTONIC, end, USEC_PER_SEC, on_window_end, rl);
                if (r < 0)
                        return; /* told when the next window opens instead */
                (void) sd_event_source_set_priority(rl->timer, CB_EVENT_PRIORITY_BOARDS);
                (void) sd_event_source_set_description(rl->timer, "log-ratelimit");
                return;
        }
        (void) sd_event_source_set_time(rl->timer, end);
        (void) sd_event_source_set_enabled(rl->timer, SD_EVENT_ONESHOT);
}

bool cb_log_ratelimit_test_at(struct cb_log_ratelimit *rl, usec_t now, int priority) {
        if (rl->begin == 0 || now - rl->begin >= rl->interval) {
                cb_log_ratelimit_flush(rl); /* before the line that follows it */
                rl->begin = now > 0 ? now : 1;
                rl->passed = 0;
        }
        if (rl->passed < rl->burst) {
                rl->passed++;
                return true;
        }
        if (rl->suppressed == 0) {
                rl->worst = priority;
                arm_report(rl);
        }
        rl->worst = MIN(rl->worst, priority);
        rl->suppressed++;
        return false;
}

bool cb_log_ratelimit_test(struct cb_log_ratelimit *rl, int priority) {
        uint64_t now = 0;

        /* the loop's time of this iteration: the same for every line one wakeup causes */
        if (!rl->event || sd_event_now(rl->event, CLOCK_MONOTONIC, &now) < 0)
                now = now_usec();
        return cb_log_ratelimit_test_at(rl, now, priority);
}
