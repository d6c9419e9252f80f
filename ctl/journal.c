/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "journal.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "format.h"

volatile int journal_stop;

/* The value of FIELD=... in the current entry, copied into buf (NUL-terminated); NULL if absent. */
static const char *entry_field(sd_journal *j, const char *field, char *buf, size_t size) {
        const void *data;
        size_t length, prefix = strlen(field) + 1;

        if (sd_journal_get_data(j, field, &data, &length) < 0 || length < prefix)
                return NULL;
        length -= prefix;
        if (length >= size)
                length = size - 1;
        memcpy(buf, (const char *) data + prefix, length);
        buf[length] = '\0';
        return buf;
}

static void print_entry(FILE *f, sd_journal *j, const struct journal_query *q) {
        char message[4096], clean[4096], priority[8], ts[64];
        const char *colour = NULL;
        uint64_t usec = 0;
        int prio = LOG_INFO;

        if (!entry_field(j, "MESSAGE", message, sizeof message))
                return;
        if (entry_field(j, "PRIORITY", priority, sizeof priority))
                prio = atoi(priority);
        if (q->colours)
                colour = prio <= LOG_ERR ? ANSI_RED : prio == LOG_WARNING ? ANSI_YELLOW : NULL;
        (void) sd_journal_get_realtime_usec(j, &usec);
        fprintf(f, "%s %s%s%s\n", format_timestamp(ts, sizeof ts, usec), colour ? colour : "",
                format_sanitize(clean, sizeof clean, message), colour ? ANSI_NORMAL : "");
}

static int add_matches(sd_journal *j, const struct journal_query *q) {
        char match[512];
        int r;

        snprintf(match, sizeof match, "CLUSTERBOOT_NODE=%s", q->name);
        r = sd_journal_add_match(j, match, 0);
        if (r < 0 || !q->port)
                return r;
        r = sd_journal_add_disjunction(j);
        if (r < 0)
                return r;
        snprintf(match, sizeof match, "CLUSTERBOOT_PORT=%s", q->port);
        return sd_journal_add_match(j, match, 0);
}

/* Waits for the journal to change: 0, -EPIPE when nobody reads f any more, -EINTR on a signal. */
static int wait_for_more(sd_journal *j, FILE *f) {
        uint64_t deadline = UINT64_MAX;
        int fd = sd_journal_get_fd(j), events = sd_journal_get_events(j), timeout_ms = -1;
        struct pollfd p[2];

        if (fd < 0)
                return fd;
        if (events < 0)
                return events;
        /* the journal may ask to be woken at a CLOCK_MONOTONIC time (inotify cannot see everything) */
        if (sd_journal_get_timeout(j, &deadline) >= 0 && deadline != UINT64_MAX) {
                struct timespec ts;
                uint64_t now;

                clock_gettime(CLOCK_MONOTONIC, &ts);
                now = (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
                uint64_t ms = deadline > now ? (deadline - now + 999) / 1000 : 0;

                timeout_ms = ms > 60000 ? 60000 : (int) ms;
        }
        p[0] = (struct pollfd){ .fd = fd, .events = (short) events };
        p[1] = (struct pollfd){ .fd = fileno(f) };
        if (poll(p, 2, timeout_ms) < 0)
                return -errno;
        if (p[1].revents & (POLLERR | POLLHUP))
                return -EPIPE;
        return sd_journal_process(j) < 0 ? -EIO : 0;
}

static void show(FILE *f, sd_journal *j, const struct journal_query *q, int *n) {
        if ((*n)++ == 0 && q->heading)
                fputs(q->heading, f);
        print_entry(f, j, q);
}

int journal_show(FILE *f, const struct journal_query *q) {
        sd_journal *j = NULL;
        int r, n = 0;

        r = q->directory ? sd_journal_open_directory(&j, q->directory, 0) : sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
        if (r < 0)
                return r;
        r = add_matches(j, q);
        if (r < 0)
                goto out;
        if (q->lines > 0) {
                /* back from the end: the cursor is then on the oldest entry to show */
                r = sd_journal_seek_tail(j);
                if (r >= 0)
                        r = sd_journal_previous_skip(j, q->lines);
                if (r > 0)
                        show(f, j, q, &n);
        } else {
                r = sd_journal_seek_head(j);
        }
        if (r < 0)
                goto out;
        for (;;) {
                while ((r = sd_journal_next(j)) > 0)
                        show(f, j, q, &n);
                if (r < 0 || !q->follow || journal_stop)
                        break;
                fflush(f);
                r = wait_for_more(j, f);
                if (r == -EPIPE || (r == -EINTR && journal_stop)) {
                        r = 0;
                        break;
                }
                if (r < 0 && r != -EINTR)
                        break;
        }
out:
        sd_journal_close(j);
        return r < 0 ? r : n;
}
