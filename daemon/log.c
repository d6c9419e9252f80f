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
        bool named = node && node->name;

        /* no buffer in between: a long name or port is printed whole */
        fprintf(stderr, "[%5llu.%06llu] %s%s%s%s%s%s\n", (unsigned long long) (t / USEC_PER_SEC),
                (unsigned long long) (t % USEC_PER_SEC), priority <= LOG_WARNING ? (priority <= LOG_ERR ? "error: " : "warning: ") : "",
                named ? node->name : "", named ? "[" : "", named ? (node->port ? node->port : "-") : "",
                named ? "]: " : "", message);
}

static void log_to_journal(int priority, const struct cb_log_node *node, const char *message_id, const char *file,
                           int line, const char *message) {
        /* allocated: a field cut short by a fixed buffer would be wrong without saying so */
        char *fields[13] = { NULL };
        struct iovec iov[ELEMENTSOF(fields)];
        size_t n = 0;
        bool lost = false;

#define ADD(...)                                                                 \
        do {                                                                     \
                char *_f = cb_format(__VA_ARGS__);                               \
                if (!_f) {                                                       \
                        lost = true;                                             \
                        break;                                                   \
                }                                                                \
                fields[n] = _f;                                                  \
                iov[n] = (struct iovec){ _f, strlen(_f) };                       \
                n++;                                                             \
        } while (0)

        ADD("MESSAGE=%s%s%s", node && node->name ? node->name : "", node && node->name ? ": " : "", message);
        ADD("PRIORITY=%d", priority);
        ADD("CODE_FILE=%s", file);
        ADD("CODE_LINE=%d", line);
        if (node && node->name)
                ADD("CLUSTERBOOT_NODE=%s", node->name);
        if (node && node->port)
                ADD("CLUSTERBOOT_PORT=%s", node->port);
        if (node && node->state)
                ADD("CLUSTERBOOT_STATE=%s", node->state);
        if (node && node->attempt > 0)
                ADD("CLUSTERBOOT_ATTEMPT=%u", node->attempt);
        if (message_id)
                ADD("MESSAGE_ID=%s", message_id);
        if (node && node->serial)
                ADD("CLUSTERBOOT_SERIAL=%s", node->serial);
        if (node && node->property)
                ADD("CLUSTERBOOT_PROPERTY=%s", node->property);
        if (node && node->property_value)
                ADD("CLUSTERBOOT_PROPERTY_VALUE=%s", node->property_value);
#undef ADD
        /* a journal entry missing its fields would mislead: stderr still has the whole message */
        if (lost || sd_journal_sendv(iov, (int) n) < 0)
                log_to_stderr(priority, node, message);
        for (size_t i = 0; i < n; i++)
                free(fields[i]);
}

__attribute__((format(printf, 7, 0))) static void log_message(int priority, int error, const struct cb_log_node *node,
                                                               const char *message_id, const char *file, int line,
                                                               const char *format, va_list ap) {
        /* allocated: a fixed buffer cut long reasons (paths, board names) and their errno without a sign */
        _cleanup_free_ char *text = cb_vformat(format, ap);
        _cleanup_free_ char *with_errno = text && error > 0 ? cb_format("%s: %s", text, strerror(error)) : NULL;
        const char *message = with_errno ? with_errno : text ? text : CB_NO_MEMORY_TEXT;

        if (log_target == CB_LOG_JOURNAL)
                log_to_journal(priority, node, message_id, file, line, message);
        else
                log_to_stderr(priority, node, message);
}

int cb_log_full(int priority, int error, const struct cb_log_node *node, const char *message_id, const char *file,
                int line, const char *format, ...) {
        va_list ap;
        int saved_errno = errno;

        if (error < 0)
                error = -error;
        if (priority <= log_max_level) {
                va_start(ap, format);
                log_message(priority, error, node, message_id, file, line, format, ap);
                va_end(ap);
        }
        errno = saved_errno;
        return -error;
}
