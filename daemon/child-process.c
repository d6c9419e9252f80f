/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A child process on the sd-event loop: spawned in its own process group
 * with a clean signal state, its output logged to the journal line by line,
 * reaped through a pidfd (or by polling), stopped after its timeout (SIGTERM
 * to the group, SIGKILL after a grace), and reported once to `done`.
 */
#include "child-process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "command-line.h"
#include "event-priority.h"

/* A command's output is a diagnostic, not a data channel: bound what one run can put in the journal. */
#define OUTPUT_LINE_MAX 1024
#define OUTPUT_LINES_MAX 100
/* Bytes read per wakeup, so that a command flooding its output cannot starve the other sources. */
#define OUTPUT_READ_BUDGET (64 * 1024)
/*
 * Without a pidfd (kernels before 5.3, seccomp filters, valgrind, which
 * does not know pidfd_open) the child is polled for, as nothing else tells
 * the loop that it exited: SIGCHLD would need blocking in every thread.
 */
#define REAP_POLL_INTERVAL (50 * USEC_PER_MSEC)
#define TIMER_ACCURACY USEC_PER_MSEC

/* Only touched from the loop's thread (and by tests, through cb_child_set_polling()). */
static bool pidfd_unsupported;

void cb_child_set_polling(bool polling) {
        pidfd_unsupported = polling;
}

enum child_end {
        CHILD_END_EXIT,    /* the command ended on its own */
        CHILD_END_TIMEOUT, /* we stopped it: it ran too long */
        CHILD_END_CANCEL,  /* we stopped it: cb_child_cancel() */
};

/* One run of a command, from cb_child_start() to its `done`. */
struct cb_child {
        cb_child_done_t done;
        void *userdata;
        const char *label; /* "power-on command"; borrowed, as are log_node's strings */
        char *display;     /* the command as shown in messages */
        struct cb_log_node log_node;
        usec_t timeout, kill_grace;
        usec_t started;

        pid_t pid; /* > 0 until reaped: while it is, the pid (and our process group id) cannot be reused */
        int pidfd; /* -1: polling instead */
        int output_fd;
        sd_event_source *child_source; /* pidfd readable, or the poll timer */
        sd_event_source *output_source;
        sd_event_source *timer_source; /* the timeout, then the kill grace */
        sd_event_source *defer_source; /* a start failure, reported from the loop */

        enum child_end end; /* CHILD_END_TIMEOUT once SIGTERM was sent for the timeout */
        int start_error; /* positive errno: the command could not be started */

        char line[OUTPUT_LINE_MAX + 1];
        size_t line_len;
        bool line_truncated;
        char last_line[OUTPUT_LINE_MAX + 1];
        unsigned lines_logged, lines_dropped;
};

/* The command's processes: its group and, should it have left the group, the command itself. Only while unreaped. */
static void child_signal(struct cb_child *c, int sig) {
        if (c->pid <= 0)
                return;
        (void) kill(-c->pid, sig);
        (void) kill(c->pid, sig);
}

/*
 * The pid is ours and unreaped, so it names the command as surely as the
 * pidfd (which only tells the loop when to look), on every kernel.
 */
static int child_waitid(struct cb_child *c, siginfo_t *si, int flags) {
        *si = (siginfo_t){ 0 };
        while (waitid(P_PID, (id_t) c->pid, si, flags) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

static void child_close_output(struct cb_child *c);

struct cb_child *cb_child_free(struct cb_child *c) {
        if (!c)
                return NULL;

        /* Only free() gets here with the command alive; it was asked not to wait, and SIGKILL is quick. */
        if (c->pid > 0) {
                siginfo_t si;
                child_signal(c, SIGKILL);
                (void) child_waitid(c, &si, WEXITED);
        }
        sd_event_source_disable_unref(c->child_source);
        sd_event_source_disable_unref(c->timer_source);
        sd_event_source_disable_unref(c->defer_source);
        sd_event_source_disable_unref(c->output_source);
        if (c->pidfd >= 0)
                close(c->pidfd);
        if (c->output_fd >= 0)
                close(c->output_fd);
        free(c->display);
        free(c);
        return NULL;
}

/*
 * Ends the run and reports it, with the message `format` (NULL: none; also
 * NULL should memory run out). The arguments may point into `c`: they are
 * formatted before it is freed. The caller may be gone after `done`.
 */
static void child_finish(struct cb_child *c, int result, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
static void child_finish(struct cb_child *c, int result, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        cb_child_done_t done = c->done;
        void *userdata = c->userdata;

        if (format) {
                va_list ap;
                va_start(ap, format);
                if (vasprintf(&message, format, ap) < 0)
                        message = NULL;
                va_end(ap);
        }
        cb_child_free(c);
        done(userdata, result, message);
}

static void output_line(struct cb_child *c) {
        size_t len = c->line_len;

        if (c->line_truncated) {
                /* Cut before a character split by the limit: journalctl shows invalid UTF-8 as a blob. */
                size_t k = len;
                while (k > 0 && ((unsigned char) c->line[k - 1] & 0xc0) == 0x80)
                        k--;
                if (k > 0 && (unsigned char) c->line[k - 1] >= 0xc0)
                        len = k - 1;
        }
        while (len > 0 && cb_command_is_blank(c->line[len - 1]))
                len--;
        c->line[len] = '\0';
        c->line_len = 0;
        if (len == 0 && !c->line_truncated)
                return; /* blank lines say nothing */
        /* Escape sequences and other control bytes from a command have no business in the journal or a terminal. */
        for (char *p = c->line; *p; p++)
                if (((unsigned char) *p < 0x20 && *p != '\t') || *p == 0x7f)
                        *p = '?';

        if (c->lines_logged < OUTPUT_LINES_MAX) {
                cb_log(LOG_INFO, 0, &c->log_node, "%s: %s%s", c->label, c->line,
                       c->line_truncated ? " [truncated]" : "");
                c->lines_logged++;
        } else
                c->lines_dropped++;

        if (len > 0)
                memcpy(c->last_line, c->line, len + 1);
        c->line_truncated = false;
}

static void output_feed(struct cb_child *c, const char *buf, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (buf[i] == '\n')
                        output_line(c);
                else if (c->line_len < OUTPUT_LINE_MAX)
                        c->line[c->line_len++] = buf[i];
                else
                        c->line_truncated = true;
        }
}

/* Reads what is there, up to OUTPUT_READ_BUDGET bytes; closes the output at EOF or on an error. */
static void output_drain(struct cb_child *c) {
        char buf[4096];
        size_t total = 0;

        while (c->output_fd >= 0 && total < OUTPUT_READ_BUDGET) {
                ssize_t k = read(c->output_fd, buf, sizeof buf);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return;
                if (k <= 0) {
                        child_close_output(c);
                        return;
                }
                output_feed(c, buf, (size_t) k);
                total += (size_t) k;
        }
}

static void child_close_output(struct cb_child *c) {
        if (c->output_fd < 0)
                return;
        c->output_source = sd_event_source_disable_unref(c->output_source);
        close(c->output_fd);
        c->output_fd = -1;

        if (c->line_len > 0 || c->line_truncated)
                output_line(c);
        if (c->lines_dropped > 0)
                cb_log(LOG_INFO, 0, &c->log_node, "%s: ... %u more line%s", c->label, c->lines_dropped,
                       c->lines_dropped == 1 ? "" : "s");
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        output_drain(userdata);
        return 0;
}

static double seconds(usec_t t) {
        return (double) t / (double) USEC_PER_SEC;
}

static void signal_text(int sig, char *buf, size_t size) {
        const char *abbrev = sigabbrev_np(sig);
        if (abbrev)
                snprintf(buf, size, "SIG%s", abbrev);
        else
                snprintf(buf, size, "%d", sig);
}

/* The main child has been reaped with `si`: log, build the result, report. */
static void child_reaped(struct cb_child *c, const siginfo_t *si, bool status_known) {
        const char *what = c->label;
        const char *sep;
        char sig[32] = "";
        double elapsed = seconds(now_usec() - c->started);

        /*
         * Whatever is still in the pipe was written before the exit, or by
         * leftovers we have just killed: read it, but do not wait for an EOF
         * that a process which escaped the group could hold off forever.
         */
        output_drain(c);
        child_close_output(c);
        sep = c->last_line[0] ? ": " : "";

        if (!status_known)
                cb_log(LOG_INFO, 0, &c->log_node, "%s ended after %.2fs, exit status unknown", what, elapsed);
        else if (si->si_code == CLD_EXITED)
                cb_log(LOG_INFO, 0, &c->log_node, "%s exited with status %d after %.2fs", what, si->si_status,
                       elapsed);
        else {
                signal_text(si->si_status, sig, sizeof sig);
                cb_log(LOG_INFO, 0, &c->log_node, "%s was killed by signal %s after %.2fs", what, sig, elapsed);
        }

        if (c->end == CHILD_END_CANCEL)
                child_finish(c, -ECANCELED, "%s '%s' was cancelled", what, c->display);
        else if (c->end == CHILD_END_TIMEOUT)
                child_finish(c, -ETIMEDOUT, "%s '%s' did not finish within %.1fs; killed", what, c->display,
                             seconds(c->timeout));
        else if (!status_known)
                child_finish(c, -EIO, "%s '%s' ended with an unknown exit status%s%s", what, c->display, sep,
                             c->last_line);
        else if (si->si_code == CLD_EXITED && si->si_status == 0)
                child_finish(c, 0, NULL);
        else if (si->si_code == CLD_EXITED)
                child_finish(c, -EIO, "%s '%s' failed with exit status %d%s%s", what, c->display, si->si_status,
                             sep, c->last_line);
        else
                child_finish(c, -EIO, "%s '%s' was killed by signal %s%s%s", what, c->display, sig, sep,
                             c->last_line);
}

/* Reaps the command if it has exited; returns true if it has. */
static bool child_check(struct cb_child *c) {
        siginfo_t si;
        int r;

        /* Look first without reaping: the zombie keeps the group id ours while we kill what it left behind. */
        r = child_waitid(c, &si, WEXITED | WNOHANG | WNOWAIT);
        if (r < 0) {
                /* ECHILD: someone else reaped it (SIGCHLD set to SIG_IGN does that). There is nothing left to wait for. */
                c->pid = 0;
                child_reaped(c, &si, false);
                return true;
        }
        if (si.si_pid == 0)
                return false;

        (void) kill(-c->pid, SIGKILL);
        r = child_waitid(c, &si, WEXITED | WNOHANG);
        c->pid = 0;
        child_reaped(c, &si, r >= 0 && si.si_pid != 0);
        return true;
}

static int on_child_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        child_check(userdata);
        return 0;
}

static int on_child_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        if (child_check(userdata))
                return 0; /* `s` is gone with the child */
        (void) sd_event_source_set_time(s, usec + REAP_POLL_INTERVAL);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct cb_child *c = userdata;

        /* A cancel disables this timer: `end` is still CHILD_END_EXIT the first time. */
        if (c->end != CHILD_END_TIMEOUT) {
                cb_log(LOG_WARNING, 0, &c->log_node, "%s did not finish within %.1fs, stopping it", c->label,
                       seconds(c->timeout));
                c->end = CHILD_END_TIMEOUT;
                child_signal(c, SIGTERM);
                (void) sd_event_source_set_time(s, usec + c->kill_grace);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        cb_log(LOG_WARNING, 0, &c->log_node, "%s still running %.1fs after SIGTERM, killing it", c->label,
               seconds(c->kill_grace));
        child_signal(c, SIGKILL);
        return 0;
}

static int on_start_failed(sd_event_source *s, void *userdata) {
        struct cb_child *c = userdata;

        if (c->end == CHILD_END_CANCEL)
                child_finish(c, -ECANCELED, "%s '%s' was cancelled", c->label, c->display);
        else
                child_finish(c, -c->start_error, "cannot run %s '%s': %s", c->label, c->display,
                             strerror(c->start_error));
        return 0;
}

/* The child's ends of a pipe must not land on 0-2, which the file actions overwrite. */
static int fd_above_stdio(int fd) {
        int moved;

        if (fd > STDERR_FILENO)
                return fd;
        moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        close(fd);
        return moved < 0 ? -errno : moved;
}

struct spawn_setup {
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
        bool have_actions, have_attr;
};

static void spawn_setup_done(struct spawn_setup *s) {
        if (s->have_actions)
                posix_spawn_file_actions_destroy(&s->actions);
        if (s->have_attr)
                posix_spawnattr_destroy(&s->attr);
}

/* Returns a negative errno, or 0 with c->pid set, or 0 with c->start_error set (the loop reports it). */
static int child_spawn(struct cb_child *c, const char *path, char *const *argv, char *const *env) {
        _cleanup_(spawn_setup_done) struct spawn_setup setup = { .have_actions = false };
        _cleanup_close_ int out_read = -1, out_write = -1;
        sigset_t mask, defaults;
        int fds[2], r;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        out_read = fd_above_stdio(fds[0]);
        out_write = fd_above_stdio(fds[1]);
        if (out_read < 0 || out_write < 0)
                return out_read < 0 ? out_read : out_write;
        /* Only our end: the child's stdout shares the write end's file status flags. */
        if (fcntl(out_read, F_SETFL, O_NONBLOCK) < 0)
                return -errno;

        r = posix_spawn_file_actions_init(&setup.actions);
        if (r != 0)
                return -r;
        setup.have_actions = true;
        r = posix_spawnattr_init(&setup.attr);
        if (r != 0)
                return -r;
        setup.have_attr = true;

        r = posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&setup.actions, out_write, STDOUT_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&setup.actions, out_write, STDERR_FILENO);
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
        /* Not every library the daemon links opens its fds with O_CLOEXEC; a command inherits none. */
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(&setup.actions, STDERR_FILENO + 1);
#endif
        if (r != 0)
                return -r;

        /*
         * Its own process group, so that a timeout or cancel reaches whatever
         * it started; no signal mask and default dispositions, as the daemon
         * blocks the signals sd-event handles and a command expects neither.
         */
        sigemptyset(&mask);
        sigfillset(&defaults);
        r = posix_spawnattr_setflags(&setup.attr,
                                     POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        if (r == 0)
                r = posix_spawnattr_setpgroup(&setup.attr, 0);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&setup.attr, &mask);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(&setup.attr, &defaults);
        if (r != 0)
                return -r;

        r = posix_spawn(&pid, path, &setup.actions, &setup.attr, argv, env ? env : environ);
        if (r != 0) {
                c->start_error = r;
                return 0;
        }
        c->pid = pid;
        c->started = now_usec();
        c->output_fd = TAKE_FD(out_read);
        return 0;
}

static int child_watch(struct cb_child *c, sd_event *event) {
        uint64_t now;
        int r;

        r = sd_event_now(event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;

        r = sd_event_add_io(event, &c->output_source, c->output_fd, EPOLLIN, on_output, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(c->output_source, "child-process-output");

        c->pidfd = pidfd_unsupported ? -1 : (int) syscall(SYS_pidfd_open, c->pid, 0);
        if (c->pidfd < 0 && !pidfd_unsupported) {
                log_debug("pidfd_open() failed (%s), polling for the %s's exit", strerror(errno), c->label);
                /* A kernel (or valgrind) without it will not grow it: do not ask, and get warned, every time. */
                pidfd_unsupported = errno == ENOSYS;
        }
        if (c->pidfd >= 0)
                r = sd_event_add_io(event, &c->child_source, c->pidfd, EPOLLIN, on_child_exit, c);
        else
                r = sd_event_add_time(event, &c->child_source, CLOCK_MONOTONIC, now + REAP_POLL_INTERVAL,
                                      TIMER_ACCURACY, on_child_poll, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(c->child_source, "child-process-exit");

        if (c->timeout != USEC_INFINITY && c->timeout < USEC_INFINITY - now) {
                r = sd_event_add_time(event, &c->timer_source, CLOCK_MONOTONIC, now + c->timeout, TIMER_ACCURACY,
                                      on_timer, c);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_priority(c->timer_source, CB_EVENT_PRIORITY_BOARDS);
                (void) sd_event_source_set_description(c->timer_source, "child-process-timeout");
        }
        return 0;
}

int cb_child_start(sd_event *event, const struct cb_child_settings *s, cb_child_done_t done, void *userdata,
                   struct cb_child **ret) {
        _cleanup_(cb_child_freep) struct cb_child *c = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        if (!event || !s || !s->argv || !s->argv[0] || !s->label || !done || !ret)
                return -EINVAL;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->done = done;
        c->userdata = userdata;
        c->timeout = s->timeout;
        c->kill_grace = s->kill_grace;
        c->label = s->label;
        if (s->log_node)
                c->log_node = *s->log_node;
        c->pidfd = -1;
        c->output_fd = -1;

        r = cb_command_find_program(s->argv[0], &path);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                c->start_error = -r;
        /* With the program found, so that messages say which one ran. */
        r = cb_command_format(path ? path : s->argv[0], s->argv, &c->display);
        if (r < 0)
                return r;

        cb_log(LOG_INFO, 0, &c->log_node, "running %s: %s", c->label, c->display);

        if (c->start_error == 0) {
                r = child_spawn(c, path, s->argv, s->env);
                if (r < 0)
                        return cb_log(LOG_ERR, r, &c->log_node, "cannot set up %s", c->label);
        }

        if (c->start_error != 0) {
                /* `done` must not run inside cb_child_start(): the caller is not ready for it yet. */
                r = sd_event_add_defer(event, &c->defer_source, on_start_failed, c);
                if (r < 0)
                        return r;
        } else {
                r = child_watch(c, event);
                if (r < 0) /* cb_child_free() kills and reaps it */
                        return cb_log(LOG_ERR, r, &c->log_node, "cannot watch %s", c->label);
        }

        *ret = TAKE_PTR(c);
        return 0;
}

void cb_child_cancel(struct cb_child *c) {
        if (!c || c->end == CHILD_END_CANCEL)
                return;
        c->end = CHILD_END_CANCEL;
        c->timer_source = sd_event_source_disable_unref(c->timer_source);
        /* `done` follows once it is reaped (or from the pending start failure). */
        child_signal(c, SIGKILL);
}
