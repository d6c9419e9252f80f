/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include <systemd/sd-journal.h>

#include "util.h"

static enum cb_log_target log_target = CB_LOG_STDERR;
static int log_max_level = LOG_INFO;

/* JOURNAL_STREAM holds "dev:ino" of the stream systemd connected stderr to. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        struct stat st;
        unsigned long long dev, ino;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == dev && st.st_ino == ino;
}

void cb_log_open(enum cb_log_target target) {
        if (target == CB_LOG_AUTO)
                target = stderr_is_journal() ? CB_LOG_JOURNAL : CB_LOG_STDERR;
        log_target = target;
}

void cb_log_set_max_level(int priority) {
        log_max_level = priority;
}

bool cb_log_enabled(int priority) {
        return priority <= log_max_level;
}

usec_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static void log_to_stderr(int priority, const struct cb_log_node *node, const char *message) {
        usec_t t = now_usec();
        char who[256] = "";

        if (node && node->name)
                snprintf(who, sizeof who, "%s[%s]: ", node->name, node->port ? node->port : "-");
        fprintf(stderr, "[%5llu.%06llu] %s%s%s\n", (unsigned long long) (t / USEC_PER_SEC),
                (unsigned long long) (t % USEC_PER_SEC), priority <= LOG_WARNING ? (priority <= LOG_ERR ? "error: " : "warning: ") : "",
                who, message);
}

static void log_to_journal(int priority, const struct cb_log_node *node, const char *message_id, const char *file,
                           int line, const char *message) {
        char f_message[4096], f_priority[32], f_file[256], f_line[32], f_node[160], f_port[160], f_state[64],
                f_attempt[64], f_mid[64], f_serial[64], f_property[128], f_value[320];
        struct iovec iov[13];
        size_t n = 0;

#define ADD(buf, ...)                                                                          \
        do {                                                                                   \
                int _l = snprintf(buf, sizeof buf, __VA_ARGS__);                               \
                iov[n++] = (struct iovec){ buf, (size_t) MIN(_l, (int) sizeof buf - 1) };     \
        } while (0)

        ADD(f_message, "MESSAGE=%s%s%s", node && node->name ? node->name : "", node && node->name ? ": " : "",
            message);
        ADD(f_priority, "PRIORITY=%d", priority);
        ADD(f_file, "CODE_FILE=%s", file);
        ADD(f_line, "CODE_LINE=%d", line);
        if (node && node->name)
                ADD(f_node, "CLUSTERBOOT_NODE=%s", node->name);
        if (node && node->port)
                ADD(f_port, "CLUSTERBOOT_PORT=%s", node->port);
        if (node && node->state)
                ADD(f_state, "CLUSTERBOOT_STATE=%s", node->state);
        if (node && node->attempt > 0)
                ADD(f_attempt, "CLUSTERBOOT_ATTEMPT=%u", node->attempt);
        if (message_id)
                ADD(f_mid, "MESSAGE_ID=%s", message_id);
        if (node && node->serial)
                ADD(f_serial, "CLUSTERBOOT_SERIAL=%s", node->serial);
        if (node && node->property)
                ADD(f_property, "CLUSTERBOOT_PROPERTY=%s", node->property);
        if (node && node->property_value)
                ADD(f_value, "CLUSTERBOOT_PROPERTY_VALUE=%s", node->property_value);
#undef ADD
        if (sd_journal_sendv(iov, (int) n) < 0)
                log_to_stderr(priority, node, message);
}

int cb_log_full(int priority, int error, const struct cb_log_node *node, const char *message_id, const char *file,
                int line, const char *format, ...) {
        char message[2048];
        va_list ap;
        int saved_errno = errno;

        if (error < 0)
                error = -error;
        if (priority > log_max_level)
                goto out;

        va_start(ap, format);
        int len = vsnprintf(message, sizeof message, format, ap);
        va_end(ap);
        if (error > 0 && len >= 0 && (size_t) len < sizeof message)
                snprintf(message + len, sizeof message - (size_t) len, ": %s", strerror(error));

        if (log_target == CB_LOG_JOURNAL)
                log_to_journal(priority, node, message_id, file, line, message);
        else
                log_to_stderr(priority, node, message);
out:
        errno = saved_errno;
        return -error;
}
