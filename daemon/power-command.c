/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "power-command.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "log.h"

extern char **environ;

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
/* What a shell uses when PATH is unset; systemd sets the same for services. */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Only touched from the loop's thread. */
static bool pidfd_unsupported;

static const char *const power_word[] = { [false] = "off", [true] = "on" };

enum run_end {
        RUN_END_EXIT,    /* the command ended on its own */
        RUN_END_TIMEOUT, /* we stopped it: it ran too long */
        RUN_END_CANCEL,  /* we stopped it: cb_power_cancel() */
};

struct power_command;

/* One run of a command, from cb_power_set() to its `done`. */
struct run {
        struct power_command *owner;
        bool on;
        cb_power_done_t done;
        void *userdata;
        char *display; /* the command as shown in messages */
        usec_t started;

        pid_t pid; /* > 0 until reaped: while it is, the pid (and our process group id) cannot be reused */
        int pidfd; /* -1: polling instead */
        int output_fd;
        sd_event_source *child_source; /* pidfd readable, or the poll timer */
        sd_event_source *output_source;
        sd_event_source *timer_source; /* the timeout, then the kill grace */
        sd_event_source *defer_source; /* a start failure, reported from the loop */

        enum run_end end;
        bool term_sent;
        int start_error; /* positive errno: the command could not be started */

        char line[OUTPUT_LINE_MAX + 1];
        size_t line_len;
        bool line_truncated;
        char last_line[OUTPUT_LINE_MAX + 1];
        unsigned lines_logged, lines_dropped;
};

struct power_command {
        sd_event *event;
        char *node_name;
        char *port;
        char **argv[2]; /* indexed by `on`; specifiers expanded */
        usec_t timeout;
        usec_t kill_grace;
        struct run *run; /* the call in flight, or NULL */
};

char **cb_strv_free(char **v) {
        if (v)
                for (char **i = v; *i; i++)
                        free(*i);
        free(v);
        return NULL;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int syntax_error(const char **error, const char *message) {
        if (error)
                *error = message;
        return -EINVAL;
}

/* Checks the specifiers of one (unquoted) word; NULL if they are fine. */
static const char *word_specifier_error(const char *word) {
        for (const char *c = word; *c; c++) {
                if (*c != '%')
                        continue;
                c++;
                if (*c == '\0')
                        return "'%' at the end of a word: write %% for a percent sign";
                if (*c != 'n' && *c != 'p' && *c != '%')
                        return "unknown specifier: only %n (node name), %p (port) and %% (a percent sign) are known";
        }
        return NULL;
}

static int strv_push(char ***v, size_t *n, char *s) {
        char **nv = realloc(*v, (*n + 2) * sizeof *nv);
        if (!nv)
                return -ENOMEM;
        nv[(*n)++] = s;
        nv[*n] = NULL;
        *v = nv;
        return 0;
}

int cb_command_split(const char *text, char ***ret_argv, const char **error) {
        _cleanup_(cb_strv_freep) char **argv = NULL;
        _cleanup_free_ char *word = NULL;
        size_t n_argv = 0, len = 0;
        bool in_word = false;
        const char *p;

        if (!text)
                return -EINVAL;
        /* Unquoting only ever shortens the text, so any word fits. */
        word = malloc(strlen(text) + 1);
        if (!word)
                return -ENOMEM;

        for (p = text;;) {
                char c = *p;

                if (c == '\0' || is_blank(c)) {
                        if (in_word) {
                                const char *bad;
                                char *w;

                                word[len] = '\0';
                                bad = word_specifier_error(word);
                                if (bad)
                                        return syntax_error(error, bad);
                                w = strdup(word);
                                if (!w)
                                        return -ENOMEM;
                                if (strv_push(&argv, &n_argv, w) < 0) {
                                        free(w);
                                        return -ENOMEM;
                                }
                                len = 0;
                                in_word = false;
                        }
                        if (c == '\0')
                                break;
                        p++;
                        continue;
                }

                in_word = true;
                if (c == '\\') {
                        if (p[1] == '\0')
                                return syntax_error(error, "trailing backslash");
                        word[len++] = p[1];
                        p += 2;
                } else if (c == '\'') {
                        const char *end = strchr(p + 1, '\'');
                        if (!end)
                                return syntax_error(error, "unbalanced single quote");
                        memcpy(word + len, p + 1, (size_t) (end - p - 1));
                        len += (size_t) (end - p - 1);
                        p = end + 1;
                } else if (c == '"') {
                        for (p++;; p++) {
                                if (*p == '\0')
                                        return syntax_error(error, "unbalanced double quote");
                                if (*p == '"')
                                        break;
                                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                                        p++;
                                word[len++] = *p;
                        }
                        p++;
                } else {
                        word[len++] = c;
                        p++;
                }
        }

        if (n_argv == 0)
                return syntax_error(error, "empty command");
        if (argv[0][0] == '\0')
                return syntax_error(error, "empty program name");
        /* A relative path would depend on the daemon's working directory. */
        if (argv[0][0] != '/' && strchr(argv[0], '/'))
                return syntax_error(error, "the program must be an absolute path or a name looked up in PATH");

        if (ret_argv)
                *ret_argv = TAKE_PTR(argv);
        return 0;
}

static int expand_word(const char *word, const char *node, const char *port, char **ret) {
        size_t size = 1;
        char *s, *o;

        for (const char *c = word; *c; c++) {
                if (*c != '%') {
                        size++;
                        continue;
                }
                c++;
                if (*c == 'n')
                        size += strlen(node);
                else if (*c == 'p')
                        size += strlen(port);
                else if (*c == '%')
                        size++;
                else
                        return -EINVAL;
        }

        s = o = malloc(size);
        if (!s)
                return -ENOMEM;
        for (const char *c = word; *c; c++) {
                const char *value;
                if (*c != '%') {
                        *o++ = *c;
                        continue;
                }
                c++;
                value = *c == 'n' ? node : *c == 'p' ? port : "%";
                memcpy(o, value, strlen(value));
                o += strlen(value);
        }
        *o = '\0';
        *ret = s;
        return 0;
}

static int command_prepare(const char *text, const char *node, const char *port, char ***ret) {
        _cleanup_(cb_strv_freep) char **argv = NULL;
        int r;

        r = cb_command_split(text, &argv, NULL);
        if (r < 0)
                return r;
        for (char **w = argv; *w; w++) {
                char *expanded;
                r = expand_word(*w, node, port, &expanded);
                if (r < 0)
                        return r;
                free(*w);
                *w = expanded;
        }
        *ret = TAKE_PTR(argv);
        return 0;
}

/* The argv quoted so that a reader (and cb_command_split(), but for '%') sees the words it was run with. */
static char *format_command(char *const *argv) {
        size_t size = 1;
        char *s, *o;

        for (char *const *w = argv; *w; w++)
                size += 3 + 4 * strlen(*w); /* space, quotes, and ' becoming '\'' */
        s = o = malloc(size);
        if (!s)
                return NULL;
        for (char *const *w = argv; *w; w++) {
                bool quote = **w == '\0' || strpbrk(*w, " \t\n\r\v\f'\"\\");
                if (w != argv)
                        *o++ = ' ';
                if (!quote) {
                        o = stpcpy(o, *w);
                        continue;
                }
                *o++ = '\'';
                for (const char *c = *w; *c; c++)
                        if (*c == '\'')
                                o = stpcpy(o, "'\\''");
                        else
                                *o++ = *c;
                *o++ = '\'';
        }
        *o = '\0';
        return s;
}

static int check_executable(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EACCES;
        if (access(path, X_OK) < 0)
                return -errno;
        return 0;
}

/*
 * The program is looked up here rather than by posix_spawnp() so that "not
 * found" and "not executable" are errors we report with certainty: where
 * posix_spawn() is emulated with fork() (valgrind does), an exec failure is
 * only a child exiting with 127.
 */
static int find_program(const char *name, char **ret) {
        const char *path = getenv("PATH");
        int r = -ENOENT;

        if (name[0] == '/') {
                r = check_executable(name);
                if (r < 0)
                        return r;
                return strdup_to(ret, name);
        }

        if (!path || !*path)
                path = DEFAULT_PATH;
        for (const char *dir = path;;) {
                const char *end = strchrnul(dir, ':');

                /* Relative entries would depend on the daemon's working directory; skipped. */
                if (end > dir && dir[0] == '/') {
                        char *candidate;
                        int k;

                        if (asprintf(&candidate, "%.*s/%s", (int) (end - dir), dir, name) < 0)
                                return -ENOMEM;
                        k = check_executable(candidate);
                        if (k == 0) {
                                *ret = candidate;
                                return 0;
                        }
                        free(candidate);
                        /* Like execvp(): something by that name that cannot be run beats "not found". */
                        if (k == -EACCES)
                                r = -EACCES;
                }
                if (*end == '\0')
                        break;
                dir = end + 1;
        }
        return r;
}

static bool env_is_ours(const char *entry) {
        return strncmp(entry, "CLUSTERBOOT_NODE=", strlen("CLUSTERBOOT_NODE=")) == 0 ||
               strncmp(entry, "CLUSTERBOOT_PORT=", strlen("CLUSTERBOOT_PORT=")) == 0 ||
               strncmp(entry, "CLUSTERBOOT_POWER=", strlen("CLUSTERBOOT_POWER=")) == 0;
}

/* Leaves *slot NULL on failure, so that the vector stays freeable. */
static int env_set(char **slot, const char *name, const char *value) {
        if (asprintf(slot, "%s=%s", name, value) < 0) {
                *slot = NULL;
                return -ENOMEM;
        }
        return 0;
}

static int build_environment(const struct power_command *pc, bool on, char ***ret) {
        _cleanup_(cb_strv_freep) char **env = NULL;
        size_t n = 0, k = 0;

        for (char **e = environ; e && *e; e++)
                n++;
        env = calloc(n + 4, sizeof *env);
        if (!env)
                return -ENOMEM;
        for (char **e = environ; e && *e; e++) {
                if (env_is_ours(*e))
                        continue;
                env[k] = strdup(*e);
                if (!env[k])
                        return -ENOMEM;
                k++;
        }
        if (env_set(&env[k++], "CLUSTERBOOT_NODE", pc->node_name) < 0 ||
            env_set(&env[k++], "CLUSTERBOOT_PORT", pc->port) < 0 ||
            env_set(&env[k++], "CLUSTERBOOT_POWER", power_word[on]) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(env);
        return 0;
}

static struct cb_log_node log_node(const struct power_command *pc) {
        return (struct cb_log_node){ .name = pc->node_name, .port = pc->port };
}

/* The command's processes: its group and, should it have left the group, the command itself. Only while unreaped. */
static void run_signal(struct run *run, int sig) {
        if (run->pid <= 0)
                return;
        (void) kill(-run->pid, sig);
        (void) kill(run->pid, sig);
}

static void run_close_output(struct run *run);

static struct run *run_free(struct run *run) {
        if (!run)
                return NULL;

        /* Only free() gets here with the command alive; it was asked not to wait, and SIGKILL is quick. */
        if (run->pid > 0) {
                siginfo_t si;
                run_signal(run, SIGKILL);
                while (waitid(P_PID, (id_t) run->pid, &si, WEXITED) < 0 && errno == EINTR)
                        ;
        }
        sd_event_source_disable_unref(run->child_source);
        sd_event_source_disable_unref(run->timer_source);
        sd_event_source_disable_unref(run->defer_source);
        sd_event_source_disable_unref(run->output_source);
        if (run->pidfd >= 0)
                close(run->pidfd);
        if (run->output_fd >= 0)
                close(run->output_fd);
        free(run->display);
        free(run);
        return NULL;
}

static void run_freep(struct run **run) {
        run_free(*run);
}

/* Ends the run and reports it. `message` (may be NULL) is taken over. The backend may be gone after `done`. */
static void run_finish(struct run *run, int result, char *message) {
        _cleanup_free_ char *owned = message;
        cb_power_done_t done = run->done;
        void *userdata = run->userdata;

        run->owner->run = NULL;
        run_free(run);
        if (result < 0 && !owned)
                done(userdata, result, "power command failed (out of memory while describing why)");
        else
                done(userdata, result, owned);
}

static void output_line(struct run *run) {
        struct power_command *pc = run->owner;
        struct cb_log_node node = log_node(pc);
        size_t len = run->line_len;

        if (run->line_truncated) {
                /* Cut before a character split by the limit: journalctl shows invalid UTF-8 as a blob. */
                size_t k = len;
                while (k > 0 && ((unsigned char) run->line[k - 1] & 0xc0) == 0x80)
                        k--;
                if (k > 0 && (unsigned char) run->line[k - 1] >= 0xc0)
                        len = k - 1;
        }
        while (len > 0 && is_blank(run->line[len - 1]))
                len--;
        run->line[len] = '\0';
        run->line_len = 0;
        if (len == 0 && !run->line_truncated)
                return; /* blank lines say nothing */
        /* Escape sequences and other control bytes from a command have no business in the journal or a terminal. */
        for (char *c = run->line; *c; c++)
                if (((unsigned char) *c < 0x20 && *c != '\t') || *c == 0x7f)
                        *c = '?';

        if (run->lines_logged < OUTPUT_LINES_MAX) {
                cb_log(LOG_INFO, 0, &node, "power-%s command: %s%s", power_word[run->on], run->line,
                       run->line_truncated ? " [truncated]" : "");
                run->lines_logged++;
        } else
                run->lines_dropped++;

        if (len > 0)
                memcpy(run->last_line, run->line, len + 1);
        run->line_truncated = false;
}

static void output_feed(struct run *run, const char *buf, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (buf[i] == '\n')
                        output_line(run);
                else if (run->line_len < OUTPUT_LINE_MAX)
                        run->line[run->line_len++] = buf[i];
                else
                        run->line_truncated = true;
        }
}

/* Reads what is there, up to OUTPUT_READ_BUDGET bytes; closes the output at EOF or on an error. */
static void output_drain(struct run *run) {
        char buf[4096];
        size_t total = 0;

        while (run->output_fd >= 0 && total < OUTPUT_READ_BUDGET) {
                ssize_t k = read(run->output_fd, buf, sizeof buf);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return;
                if (k <= 0) {
                        run_close_output(run);
                        return;
                }
                output_feed(run, buf, (size_t) k);
                total += (size_t) k;
        }
}

static void run_close_output(struct run *run) {
        struct power_command *pc = run->owner;
        struct cb_log_node node = log_node(pc);

        if (run->output_fd < 0)
                return;
        run->output_source = sd_event_source_disable_unref(run->output_source);
        close(run->output_fd);
        run->output_fd = -1;

        if (run->line_len > 0 || run->line_truncated)
                output_line(run);
        if (run->lines_dropped > 0)
                cb_log(LOG_INFO, 0, &node, "power-%s command: ... %u more line%s", power_word[run->on],
                       run->lines_dropped, run->lines_dropped == 1 ? "" : "s");
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
static void run_reaped(struct run *run, const siginfo_t *si, bool status_known) {
        struct power_command *pc = run->owner;
        struct cb_log_node node = log_node(pc);
        const char *what = power_word[run->on];
        const char *sep;
        char *message = NULL;
        char sig[32];
        int result;
        double elapsed = seconds(now_usec() - run->started);

        /*
         * Whatever is still in the pipe was written before the exit, or by
         * leftovers we have just killed: read it, but do not wait for an EOF
         * that a process which escaped the group could hold off forever.
         */
        output_drain(run);
        run_close_output(run);
        sep = run->last_line[0] ? ": " : "";

        if (!status_known)
                cb_log(LOG_INFO, 0, &node, "power-%s command ended after %.2fs, exit status unknown", what, elapsed);
        else if (si->si_code == CLD_EXITED)
                cb_log(LOG_INFO, 0, &node, "power-%s command exited with status %d after %.2fs", what, si->si_status,
                       elapsed);
        else {
                signal_text(si->si_status, sig, sizeof sig);
                cb_log(LOG_INFO, 0, &node, "power-%s command was killed by signal %s after %.2fs", what, sig, elapsed);
        }

        if (run->end == RUN_END_CANCEL) {
                result = -ECANCELED;
                if (asprintf(&message, "power-%s command '%s' was cancelled", what, run->display) < 0)
                        message = NULL;
        } else if (run->end == RUN_END_TIMEOUT) {
                result = -ETIMEDOUT;
                if (asprintf(&message, "power-%s command '%s' did not finish within %.1fs; killed", what, run->display,
                             seconds(pc->timeout)) < 0)
                        message = NULL;
        } else if (!status_known) {
                result = -EIO;
                if (asprintf(&message, "power-%s command '%s' ended with an unknown exit status%s%s", what,
                             run->display, sep, run->last_line) < 0)
                        message = NULL;
        } else if (si->si_code == CLD_EXITED && si->si_status == 0) {
                result = 0;
        } else if (si->si_code == CLD_EXITED) {
                result = -EIO;
                if (asprintf(&message, "power-%s command '%s' failed with exit status %d%s%s", what, run->display,
                             si->si_status, sep, run->last_line) < 0)
                        message = NULL;
        } else {
                result = -EIO;
                signal_text(si->si_status, sig, sizeof sig);
                if (asprintf(&message, "power-%s command '%s' was killed by signal %s%s%s", what, run->display, sig,
                             sep, run->last_line) < 0)
                        message = NULL;
        }
        run_finish(run, result, message);
}

static int run_waitid(struct run *run, siginfo_t *si, int flags) {
        int r;

        *si = (siginfo_t){ 0 };
        do {
                if (run->pidfd >= 0) {
                        r = waitid(P_PIDFD, (id_t) run->pidfd, si, flags);
                        /* Linux 5.3 has pidfd_open() but not P_PIDFD; the pid is as good, being ours and unreaped. */
                        if (r < 0 && errno == EINVAL)
                                r = waitid(P_PID, (id_t) run->pid, si, flags);
                } else
                        r = waitid(P_PID, (id_t) run->pid, si, flags);
        } while (r < 0 && errno == EINTR);
        return r < 0 ? -errno : 0;
}

/* Reaps the command if it has exited; returns true if it has. */
static bool run_check_child(struct run *run) {
        siginfo_t si;
        int r;

        /* Look first without reaping: the zombie keeps the group id ours while we kill what it left behind. */
        r = run_waitid(run, &si, WEXITED | WNOHANG | WNOWAIT);
        if (r < 0) {
                /* ECHILD: someone else reaped it (SIGCHLD set to SIG_IGN does that). There is nothing left to wait for. */
                run->pid = 0;
                run_reaped(run, &si, false);
                return true;
        }
        if (si.si_pid == 0)
                return false;

        (void) kill(-run->pid, SIGKILL);
        r = run_waitid(run, &si, WEXITED | WNOHANG);
        run->pid = 0;
        run_reaped(run, &si, r >= 0 && si.si_pid != 0);
        return true;
}

static int on_child_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        run_check_child(userdata);
        return 0;
}

static int on_child_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        if (run_check_child(userdata))
                return 0; /* `s` is gone with the run */
        (void) sd_event_source_set_time(s, usec + REAP_POLL_INTERVAL);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct run *run = userdata;
        struct power_command *pc = run->owner;
        struct cb_log_node node = log_node(pc);

        if (!run->term_sent) {
                cb_log(LOG_WARNING, 0, &node, "power-%s command did not finish within %.1fs, stopping it",
                       power_word[run->on], seconds(pc->timeout));
                run->end = RUN_END_TIMEOUT;
                run->term_sent = true;
                run_signal(run, SIGTERM);
                (void) sd_event_source_set_time(s, usec + pc->kill_grace);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        cb_log(LOG_WARNING, 0, &node, "power-%s command still running %.1fs after SIGTERM, killing it",
               power_word[run->on], seconds(pc->kill_grace));
        run_signal(run, SIGKILL);
        return 0;
}

static int on_start_failed(sd_event_source *s, void *userdata) {
        struct run *run = userdata;
        char *message;

        if (run->end == RUN_END_CANCEL) {
                if (asprintf(&message, "power-%s command '%s' was cancelled", power_word[run->on], run->display) < 0)
                        message = NULL;
                run_finish(run, -ECANCELED, message);
                return 0;
        }
        if (asprintf(&message, "cannot run power-%s command '%s': %s", power_word[run->on], run->display,
                     strerror(run->start_error)) < 0)
                message = NULL;
        run_finish(run, -run->start_error, message);
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

/* Returns a negative errno, or 0 with run->pid set, or 0 with run->start_error set (the loop reports it). */
static int run_spawn(struct run *run, const char *path, char *const *argv) {
        struct power_command *pc = run->owner;
        _cleanup_(spawn_setup_done) struct spawn_setup setup = { .have_actions = false };
        _cleanup_(cb_strv_freep) char **env = NULL;
        _cleanup_close_ int out_read = -1, out_write = -1;
        sigset_t mask, defaults;
        int fds[2], r;
        pid_t pid;

        r = build_environment(pc, run->on, &env);
        if (r < 0)
                return r;

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

        r = posix_spawn(&pid, path, &setup.actions, &setup.attr, argv, env);
        if (r != 0) {
                run->start_error = r;
                return 0;
        }
        run->pid = pid;
        run->started = now_usec();
        run->output_fd = TAKE_FD(out_read);
        return 0;
}

static int run_watch(struct run *run) {
        struct power_command *pc = run->owner;
        uint64_t now;
        int r;

        r = sd_event_now(pc->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;

        r = sd_event_add_io(pc->event, &run->output_source, run->output_fd, EPOLLIN, on_output, run);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(run->output_source, "power-command-output");

        run->pidfd = pidfd_unsupported ? -1 : (int) syscall(SYS_pidfd_open, run->pid, 0);
        if (run->pidfd < 0 && !pidfd_unsupported) {
                log_debug("pidfd_open() failed (%s), polling for the power command's exit", strerror(errno));
                /* A kernel (or valgrind) without it will not grow it: do not ask, and get warned, every time. */
                pidfd_unsupported = errno == ENOSYS;
        }
        if (run->pidfd >= 0)
                r = sd_event_add_io(pc->event, &run->child_source, run->pidfd, EPOLLIN, on_child_exit, run);
        else
                r = sd_event_add_time(pc->event, &run->child_source, CLOCK_MONOTONIC, now + REAP_POLL_INTERVAL,
                                      TIMER_ACCURACY, on_child_poll, run);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(run->child_source, "power-command-child");

        if (pc->timeout != USEC_INFINITY && pc->timeout < USEC_INFINITY - now) {
                r = sd_event_add_time(pc->event, &run->timer_source, CLOCK_MONOTONIC, now + pc->timeout,
                                      TIMER_ACCURACY, on_timer, run);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(run->timer_source, "power-command-timeout");
        }
        return 0;
}

static int command_set(void *impl, bool on, cb_power_done_t done, void *userdata) {
        struct power_command *pc = impl;
        struct cb_log_node node = log_node(pc);
        _cleanup_(run_freep) struct run *run = NULL;
        _cleanup_free_ char *path = NULL;
        char **argv = pc->argv[on];
        int r;

        if (!done)
                return -EINVAL;
        if (pc->run)
                return -EBUSY;

        run = calloc(1, sizeof *run);
        if (!run)
                return -ENOMEM;
        run->owner = pc;
        run->on = on;
        run->done = done;
        run->userdata = userdata;
        run->pidfd = -1;
        run->output_fd = -1;

        r = find_program(argv[0], &path);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                run->start_error = -r;
        else {
                /* Shown with the program found, so the message says which one ran. */
                char *program = argv[0];
                argv[0] = path;
                run->display = format_command(argv);
                argv[0] = program;
        }
        if (!run->display)
                run->display = format_command(argv);
        if (!run->display)
                return -ENOMEM;

        cb_log(LOG_INFO, 0, &node, "running power-%s command: %s", power_word[on], run->display);

        if (run->start_error == 0) {
                r = run_spawn(run, path, argv);
                if (r < 0)
                        return cb_log(LOG_ERR, r, &node, "cannot set up power-%s command", power_word[on]);
        }

        if (run->start_error != 0) {
                /* `done` must not run inside cb_power_set(): the caller is not ready for it yet. */
                r = sd_event_add_defer(pc->event, &run->defer_source, on_start_failed, run);
                if (r < 0)
                        return r;
        } else {
                r = run_watch(run);
                if (r < 0) /* run_free() kills and reaps it */
                        return cb_log(LOG_ERR, r, &node, "cannot watch power-%s command", power_word[on]);
        }

        pc->run = TAKE_PTR(run);
        return 0;
}

static void command_cancel(void *impl) {
        struct power_command *pc = impl;
        struct run *run = pc->run;

        if (!run || run->end == RUN_END_CANCEL)
                return;
        run->end = RUN_END_CANCEL;
        run->timer_source = sd_event_source_disable_unref(run->timer_source);
        /* `done` follows once it is reaped (or from the pending start failure). */
        run_signal(run, SIGKILL);
}

static void command_free(void *impl) {
        struct power_command *pc = impl;

        if (!pc)
                return;
        pc->run = run_free(pc->run);
        cb_strv_free(pc->argv[false]);
        cb_strv_free(pc->argv[true]);
        free(pc->node_name);
        free(pc->port);
        sd_event_unref(pc->event);
        free(pc);
}

static const char *command_describe(void *impl) {
        return "command";
}

static const struct cb_power_ops command_ops = {
        .set = command_set,
        .cancel = command_cancel,
        .free = command_free,
        .describe = command_describe,
};

static void command_freep(struct power_command **pc) {
        command_free(*pc);
}

int cb_power_command_new(sd_event *event, const struct cb_power_command_settings *s, struct cb_power **ret) {
        _cleanup_(command_freep) struct power_command *pc = NULL;
        struct cb_power *p;
        int r;

        if (!event || !s || !ret || !s->node_name || !s->port || !s->on_command || !s->off_command)
                return -EINVAL;

        pc = calloc(1, sizeof *pc);
        if (!pc)
                return -ENOMEM;
        pc->event = sd_event_ref(event);
        pc->timeout = s->timeout > 0 ? s->timeout : CB_POWER_COMMAND_TIMEOUT_DEFAULT;
        pc->kill_grace = s->kill_grace > 0 ? s->kill_grace : CB_POWER_COMMAND_KILL_GRACE_DEFAULT;
        if (strdup_to(&pc->node_name, s->node_name) < 0 || strdup_to(&pc->port, s->port) < 0)
                return -ENOMEM;
        r = command_prepare(s->on_command, s->node_name, s->port, &pc->argv[true]);
        if (r < 0)
                return r;
        r = command_prepare(s->off_command, s->node_name, s->port, &pc->argv[false]);
        if (r < 0)
                return r;

        p = malloc(sizeof *p);
        if (!p)
                return -ENOMEM;
        *p = (struct cb_power){ .ops = &command_ops, .impl = TAKE_PTR(pc) };
        *ret = p;
        return 0;
}
