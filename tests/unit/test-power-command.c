/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command power backend against real processes: shell scripts written
 * to a temporary directory, run on a real sd-event loop. Every run's result,
 * message, timing and the fate of the processes it started are checked.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>

#include <systemd/sd-event.h>

#include "check.h"
#include "child-process.h"
#include "log.h"
#include "power-command.h"

/* Long enough for a loaded machine (or valgrind) to start a shell; no test waits this long when it passes. */
#define WAIT_MAX (20 * USEC_PER_SEC)

static char dir[PATH_MAX];
static sd_event *event;
static bool in_set;

struct result {
        unsigned calls;
        bool inline_call;
        int r;
        bool has_message;
        char message[4096];
};

static void die(const char *what) {
        perror(what);
        exit(2);
}

static void on_done(void *userdata, int r, const char *message) {
        struct result *res = userdata;

        res->calls++;
        res->inline_call = in_set;
        res->r = r;
        res->has_message = message != NULL;
        snprintf(res->message, sizeof res->message, "%s", message ? message : "");
}

static int start(struct cb_power *p, bool on, struct result *res) {
        int r;

        *res = (struct result){ .calls = 0 };
        in_set = true;
        r = cb_power_set(p, on, on_done, res);
        in_set = false;
        return r;
}

/* Runs the loop until `res` is reported, which it must be, once, within WAIT_MAX; returns the time it took. */
static usec_t wait_done(struct result *res) {
        usec_t begin = now_usec(), took;

        while (res->calls == 0 && now_usec() - begin < WAIT_MAX)
                if (sd_event_run(event, 10 * USEC_PER_MSEC) < 0)
                        die("sd_event_run");
        took = now_usec() - begin;
        CHECK_MSG(res->calls == 1, "reported %u times", res->calls);
        return took;
}

static void run_loop_for(usec_t t) {
        usec_t begin = now_usec();

        while (now_usec() - begin < t)
                if (sd_event_run(event, 10 * USEC_PER_MSEC) < 0)
                        die("sd_event_run");
}

static void path_in_dir(char *buf, size_t size, const char *name) {
        if ((size_t) snprintf(buf, size, "%s/%s", dir, name) >= size)
                die("path too long");
}

static void write_file(const char *name, const char *text, mode_t mode) {
        char path[PATH_MAX + 64];
        FILE *f;

        path_in_dir(path, sizeof path, name);
        f = fopen(path, "we");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0 || chmod(path, mode) < 0)
                die(path);
}

/* A script in the test directory; "{dir}" in the body stands for the directory. */
static void write_script(const char *name, const char *body) {
        char text[8192];
        size_t n = (size_t) snprintf(text, sizeof text, "#!/bin/sh\n");

        for (const char *c = body; *c && n < sizeof text - PATH_MAX - 1; c++)
                if (strncmp(c, "{dir}", 5) == 0) {
                        n += (size_t) snprintf(text + n, sizeof text - n, "%s", dir);
                        c += 4;
                } else
                        text[n++] = *c;
        text[n] = '\0';
        write_file(name, text, 0755);
}

static void remove_file(const char *name) {
        char path[PATH_MAX + 64];

        path_in_dir(path, sizeof path, name);
        (void) unlink(path);
}

static char *read_file(const char *name) {
        char path[PATH_MAX + 64];
        char *buf = NULL;
        size_t size = 0;
        FILE *f, *m;

        path_in_dir(path, sizeof path, name);
        f = fopen(path, "re");
        if (!f)
                return NULL;
        m = open_memstream(&buf, &size);
        if (!m)
                die("open_memstream");
        for (int c; (c = fgetc(f)) != EOF;)
                fputc(c, m);
        fclose(f);
        fclose(m);
        return buf;
}

/* Waits for a script to write its pid(s) to `name`; 0 if it never did. */
static pid_t wait_pid_file(const char *name) {
        usec_t begin = now_usec();

        while (now_usec() - begin < WAIT_MAX) {
                char *text = read_file(name);
                long pid = 0;
                if (text) {
                        bool complete = strchr(text, '\n') != NULL;
                        pid = strtol(text, NULL, 10);
                        free(text);
                        if (complete && pid > 0)
                                return (pid_t) pid;
                }
                run_loop_for(10 * USEC_PER_MSEC);
        }
        return 0;
}

/*
 * Gone, or a zombie: an orphan is reparented to init, which need not reap it
 * at once (or at all, as PID 1 of some containers), but it runs no more.
 */
static bool process_gone(pid_t pid) {
        char path[64], buf[512];
        const char *state;
        FILE *f;
        size_t n;

        if (kill(pid, 0) < 0 && errno == ESRCH)
                return true;
        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return true;
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        state = strrchr(buf, ')');
        return state && (state[2] == 'Z' || state[2] == 'X');
}

/* Signals are delivered asynchronously: give a killed process a moment to die. */
static bool wait_gone(pid_t pid) {
        usec_t begin = now_usec();

        while (now_usec() - begin < 5 * USEC_PER_SEC) {
                if (process_gone(pid))
                        return true;
                run_loop_for(10 * USEC_PER_MSEC);
        }
        return false;
}

/*
 * Script `name`.sh runs `first`, starts a child (which inherits its signal
 * dispositions), writes the child's pid to `name`.child and its own to
 * `name`.pid, then runs `rest`. Its path goes to `path`.
 */
static void write_parent_script(const char *name, const char *first, const char *rest, char *path, size_t size) {
        char script[64], body[1024];

        snprintf(script, sizeof script, "%s.sh", name);
        snprintf(body, sizeof body, "%ssleep 1000 &\necho $! > {dir}/%s.child\necho $$ > {dir}/%s.pid\n%s", first,
                 name, name, rest);
        write_script(script, body);
        path_in_dir(path, size, script);
}

/* Waits for the pids a write_parent_script() script writes; removes the files, for its next run. 0: not written. */
static void wait_pids(const char *name, pid_t *pid, pid_t *child) {
        char file[64];

        snprintf(file, sizeof file, "%s.pid", name);
        *pid = wait_pid_file(file);
        remove_file(file);
        snprintf(file, sizeof file, "%s.child", name);
        *child = wait_pid_file(file);
        remove_file(file);
}

/* The script (reaped by now: a zombie at most) and the child it left in its group are both gone. */
static void check_gone(pid_t pid, pid_t child) {
        CHECK_MSG(pid > 0 && child > 0, "pids %d %d", (int) pid, (int) child);
        if (pid > 0)
                CHECK_MSG(process_gone(pid), "the script %d is still running", (int) pid);
        if (child > 0)
                CHECK_MSG(wait_gone(child), "its child %d is still running", (int) child);
}

static struct cb_power *new_power(const char *on, const char *off, usec_t timeout, usec_t grace) {
        struct cb_power_command_settings s = {
                .node_name = "node3",
                .port = "1-1.3",
                .on_command = on,
                .off_command = off,
                .timeout = timeout,
                .kill_grace = grace,
        };
        struct cb_power *p = NULL;
        int r = cb_power_command_new(event, &s, &p);

        CHECK_MSG(r == 0 && p, "cb_power_command_new: %s", strerror(-r));
        if (!p)
                exit(EXIT_FAILURE);
        return p;
}

/* stderr (where the log goes in tests) into a file, to count what a run logged. */
struct capture {
        int saved;
        int fd;
};

static void capture_begin(struct capture *c) {
        char path[PATH_MAX + 64];

        path_in_dir(path, sizeof path, "log");
        c->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        fflush(stderr);
        c->saved = dup(STDERR_FILENO);
        if (c->fd < 0 || c->saved < 0 || dup2(c->fd, STDERR_FILENO) < 0)
                die("capture");
}

static char *capture_end(struct capture *c) {
        char *log;

        fflush(stderr);
        if (dup2(c->saved, STDERR_FILENO) < 0)
                die("dup2");
        close(c->saved);
        close(c->fd);
        log = read_file("log");
        if (!log)
                die("read log");
        return log;
}

static unsigned count(const char *haystack, const char *needle) {
        unsigned n = 0;

        for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

#define CHECK_CONTAINS(text, needle) CHECK_MSG(strstr((text), (needle)), "\"%s\" lacks \"%s\"", (text), (needle))

static void test_split(void) {
        static const struct {
                const char *text;
                const char *words[8];
        } good[] = {
                { "a b  c", { "a", "b", "c" } },
                { "\t /bin/x\t'a b' \"c d\" e\\ f  ", { "/bin/x", "a b", "c d", "e f" } },
                { "x \"\" ''", { "x", "", "" } },
                { "x \"a\\\"b\\\\c\\d\"", { "x", "a\"b\\c\\d" } },
                { "x 'a\\b\"'", { "x", "a\\b\"" } },
                { "x a\"b c\"d'e f'", { "x", "ab cde f" } },
                { "x %n %p %% 'a%nb'", { "x", "%n", "%p", "%%", "a%nb" } },
                { "x #;|$ > *", { "x", "#;|$", ">", "*" } },
                { "clusterctrl on p3", { "clusterctrl", "on", "p3" } },
                { "x \\'", { "x", "'" } },
        };
        static const struct {
                const char *text;
                const char *error_contains;
        } bad[] = {
                { "", "empty command" },
                { " \t ", "empty command" },
                { "x 'a", "single quote" },
                { "x \"a", "double quote" },
                { "x \"a\\\"", "double quote" },
                { "x a\\", "backslash" },
                { "x %z", "unknown specifier" },
                { "x 'a%'", "end of a word" },
                { "bin/x", "absolute path" },
                { "./x", "absolute path" },
                { "'' a", "empty program" },
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                char **argv = NULL;
                const char *error = NULL;
                int r = cb_command_split(good[i].text, &argv, &error);
                size_t n = 0;

                CHECK_MSG(r == 0, "split(%s): %d %s", good[i].text, r, error ? error : "");
                if (r < 0)
                        continue;
                for (; argv[n]; n++)
                        CHECK_MSG(good[i].words[n] && strcmp(argv[n], good[i].words[n]) == 0,
                                  "split(%s) word %zu: got [%s], expected [%s]", good[i].text, n, argv[n],
                                  good[i].words[n] ? good[i].words[n] : "(none)");
                CHECK_MSG(!good[i].words[n], "split(%s): only %zu words", good[i].text, n);
                cb_strv_free(argv);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char **argv = NULL;
                const char *error = NULL;
                int r = cb_command_split(bad[i].text, &argv, &error);

                CHECK_MSG(r == -EINVAL, "split(%s) = %d, expected -EINVAL", bad[i].text, r);
                CHECK_MSG(!argv, "split(%s) returned words on error", bad[i].text);
                CHECK_MSG(error && strstr(error, bad[i].error_contains), "split(%s): error \"%s\" lacks \"%s\"",
                          bad[i].text, error ? error : "(null)", bad[i].error_contains);
        }
        /* Checking only. */
        CHECK(cb_command_split("/bin/true", NULL, NULL) == 0);
        CHECK(cb_command_split("x 'y", NULL, NULL) == -EINVAL);
}

static void test_new(void) {
        struct cb_power_command_settings s = {
                .node_name = "n", .port = "1-1", .on_command = "/bin/true", .off_command = "x 'broken",
        };
        struct cb_power *p = NULL;

        CHECK(cb_power_command_new(event, &s, &p) == -EINVAL);
        CHECK(!p);
        s.off_command = NULL;
        CHECK(cb_power_command_new(event, &s, &p) == -EINVAL);
        s.off_command = "/bin/false";
        CHECK(cb_power_command_new(event, &s, &p) == 0);
        CHECK(p && strcmp(cb_power_describe(p), "command") == 0);
        cb_power_free(p);
}

/* Words, specifiers, environment and stdin as the program sees them; then the other direction. */
static void test_success(void) {
        struct cb_power *p;
        struct result res;
        struct capture cap;
        char cmd[PATH_MAX * 2], off[PATH_MAX * 2];
        char *out, *log;

        write_script("args.sh",
                     "out={dir}/args.out\n"
                     ": > \"$out\"\n"
                     "for a in \"$@\"; do printf '[%s]\\n' \"$a\" >> \"$out\"; done\n"
                     "printf 'node=%s port=%s power=%s\\n' \"$CLUSTERBOOT_NODE\" \"$CLUSTERBOOT_PORT\" "
                     "\"$CLUSTERBOOT_POWER\" >> \"$out\"\n"
                     "tr '\\0' '\\n' < /proc/$$/environ | grep -c '^CLUSTERBOOT_NODE=' >> \"$out\"\n"
                     "tr '\\0' '\\n' < /proc/$$/environ | grep -c -E '^(NOTIFY_SOCKET|WATCHDOG_USEC|STRAY)=' >> \"$out\"\n"
                     "tr '\\0' '\\n' < /proc/$$/environ | grep -c '^PATH=' >> \"$out\"\n"
                     "read line || echo stdin-empty >> \"$out\"\n"
                     "echo 'hello from the command'\n"
                     "echo 'and from stderr' >&2\n");
        snprintf(cmd, sizeof cmd,
                 "%s/args.sh %%n \"a b\" c\\ d '%%%%' x%%py \"it's\" '' \"q\\\"q\" 'back\\slash' $HOME", dir);
        /* A bare name is looked up in PATH. */
        snprintf(off, sizeof off, "sh -c 'echo \"$CLUSTERBOOT_POWER %%n\" > %s/off.out'", dir);
        p = new_power(cmd, off, 10 * USEC_PER_SEC, 0);

        capture_begin(&cap);
        CHECK(start(p, true, &res) == 0);
        CHECK(res.calls == 0);
        wait_done(&res);
        log = capture_end(&cap);

        CHECK(!res.inline_call);
        CHECK_MSG(res.r == 0, "%d %s", res.r, res.message);
        CHECK(!res.has_message);
        out = read_file("args.out");
        CHECK(out);
        if (out)
                CHECK_MSG(strcmp(out, "[node3]\n[a b]\n[c d]\n[%]\n[x1-1.3y]\n[it's]\n[]\n[q\"q]\n[back\\slash]\n"
                                      "[$HOME]\nnode=node3 port=1-1.3 power=on\n1\n0\n1\nstdin-empty\n") == 0,
                          "args.out was:\n%s", out);
        free(out);
        CHECK_CONTAINS(log, "node3[1-1.3]: running power-on command: ");
        CHECK_CONTAINS(log, "args.sh node3 'a b' 'c d' % x1-1.3y 'it'\\''s' '' 'q\"q' 'back\\slash' $HOME\n");
        CHECK_CONTAINS(log, "node3[1-1.3]: power-on command: hello from the command\n");
        CHECK_CONTAINS(log, "power-on command: and from stderr\n");
        CHECK_CONTAINS(log, "power-on command exited with status 0");
        free(log);

        /* The same backend again, the other way. */
        CHECK(start(p, false, &res) == 0);
        wait_done(&res);
        CHECK_MSG(res.r == 0, "%d %s", res.r, res.message);
        out = read_file("off.out");
        CHECK_MSG(out && strcmp(out, "off node3\n") == 0, "off.out was %s", out ? out : "(none)");
        free(out);
        cb_power_free(p);
}

static void test_failure(void) {
        struct cb_power *p;
        struct result res;
        char cmd[PATH_MAX + 64], sig[PATH_MAX + 64];

        write_script("fail.sh", "echo 'checking the relay'\nprintf 'relay busy' >&2\nexit 3\n");
        write_script("signal.sh", "echo before\nkill -USR1 $$\necho after\n");
        path_in_dir(cmd, sizeof cmd, "fail.sh");
        path_in_dir(sig, sizeof sig, "signal.sh");
        p = new_power(sig, cmd, 10 * USEC_PER_SEC, 0);

        CHECK(start(p, false, &res) == 0);
        wait_done(&res);
        CHECK_MSG(res.r == -EIO, "%d", res.r);
        /* the last line had no newline: it still counts */
        CHECK_CONTAINS(res.message, "failed with exit status 3: relay busy");
        CHECK_CONTAINS(res.message, "power-off command '");
        CHECK_CONTAINS(res.message, "/fail.sh'");

        CHECK(start(p, true, &res) == 0);
        wait_done(&res);
        CHECK_MSG(res.r == -EIO, "%d", res.r);
        CHECK_CONTAINS(res.message, "power-on command '");
        CHECK_CONTAINS(res.message, "killed by signal SIGUSR1: before");
        cb_power_free(p);
}

/* SIGCHLD ignored (a library may do that): the kernel reaps the command, and its status is unknown. */
static void test_status_unknown(void) {
        struct cb_power *p;
        struct result res;
        char cmd[PATH_MAX + 64];

        write_script("quiet.sh", "echo 'all fine'\n");
        path_in_dir(cmd, sizeof cmd, "quiet.sh");
        p = new_power(cmd, cmd, 10 * USEC_PER_SEC, 0);

        if (signal(SIGCHLD, SIG_IGN) == SIG_ERR)
                die("SIGCHLD");
        CHECK(start(p, true, &res) == 0);
        wait_done(&res);
        if (signal(SIGCHLD, SIG_DFL) == SIG_ERR)
                die("SIGCHLD");
        CHECK_MSG(res.r == -EIO, "%d %s", res.r, res.message);
        CHECK_CONTAINS(res.message, "ended with an unknown exit status: all fine");
        cb_power_free(p);
}

/*
 * Script `name` hangs with a child of its own, after `first`: the 0.3 s
 * timeout is reported no sooner than `at_least`, with both processes gone.
 */
static void check_timeout(const char *name, const char *first, usec_t grace, usec_t at_least) {
        struct cb_power *p;
        struct result res;
        char cmd[PATH_MAX + 64];
        pid_t pid, child;
        usec_t took;

        write_parent_script(name, first, "while :; do wait; done\n", cmd, sizeof cmd);
        p = new_power(cmd, cmd, 300 * USEC_PER_MSEC, grace);

        CHECK(start(p, true, &res) == 0);
        took = wait_done(&res);
        CHECK_MSG(res.r == -ETIMEDOUT, "%s: %d %s", name, res.r, res.message);
        CHECK_CONTAINS(res.message, "did not finish within 0.3s; killed");
        CHECK_MSG(took >= at_least, "%s: reported after %llu us", name, (unsigned long long) took);
        /* Either SIGTERM was enough or the grace setting was used: no waiting for the default 2 s grace. */
        CHECK_MSG(took < CB_POWER_COMMAND_KILL_GRACE_DEFAULT, "%s: took %llu us", name, (unsigned long long) took);
        wait_pids(name, &pid, &child);
        check_gone(pid, child);
        cb_power_free(p);
}

static void test_timeout(void) {
        check_timeout("hang", "", 0, 250 * USEC_PER_MSEC);
        /* Ignores SIGTERM (and so does its child, inheriting that): SIGKILL after the grace. */
        check_timeout("stubborn", "trap '' TERM\n", 400 * USEC_PER_MSEC, 650 * USEC_PER_MSEC);
}

/* Exits at once but leaves a process behind in its group: it is killed, not left holding the output open. */
static void test_leftover(void) {
        struct cb_power *p;
        struct result res;
        char cmd[PATH_MAX + 64];
        pid_t pid, child;
        usec_t took;

        write_parent_script("leftover", "", "echo done\n", cmd, sizeof cmd);
        p = new_power(cmd, cmd, 10 * USEC_PER_SEC, 0);

        CHECK(start(p, true, &res) == 0);
        took = wait_done(&res);
        CHECK_MSG(res.r == 0, "%d %s", res.r, res.message);
        CHECK_MSG(took < 5 * USEC_PER_SEC, "took %llu us", (unsigned long long) took);
        wait_pids("leftover", &pid, &child);
        check_gone(pid, child);
        cb_power_free(p);
}

static void test_cannot_start(void) {
        struct cb_power *p;
        struct result res;
        char noexec[PATH_MAX + 64];

        write_file("noexec.sh", "#!/bin/sh\nexit 0\n", 0644);
        path_in_dir(noexec, sizeof noexec, "noexec.sh");

        p = new_power("/nonexistent/clusterctrl on %p", "clusterboot-test-no-such-program off", 0, 0);
        CHECK(start(p, true, &res) == 0);
        CHECK_MSG(res.calls == 0, "done ran inside cb_power_set()");
        wait_done(&res);
        CHECK(!res.inline_call);
        CHECK_MSG(res.r == -ENOENT, "%d", res.r);
        CHECK_MSG(strcmp(res.message, "cannot run power-on command '/nonexistent/clusterctrl on 1-1.3': No such "
                                      "file or directory") == 0,
                  "message: %s", res.message);

        /* Not busy after a failed start; a bare name is not found in PATH either. */
        CHECK(start(p, false, &res) == 0);
        CHECK(res.calls == 0);
        wait_done(&res);
        CHECK_MSG(res.r == -ENOENT, "%d", res.r);
        CHECK_CONTAINS(res.message, "cannot run power-off command 'clusterboot-test-no-such-program off'");

        /* Cancelled before the failure was reported: the cancel is what is reported. */
        CHECK(start(p, false, &res) == 0);
        cb_power_cancel(p);
        wait_done(&res);
        CHECK_MSG(res.r == -ECANCELED, "%d", res.r);

        /* Freed before it was reported: never reported. */
        CHECK(start(p, false, &res) == 0);
        cb_power_free(p);
        run_loop_for(100 * USEC_PER_MSEC);
        CHECK(res.calls == 0);

        p = new_power(noexec, noexec, 0, 0);
        CHECK(start(p, true, &res) == 0);
        wait_done(&res);
        CHECK_MSG(res.r == -EACCES, "%d", res.r);
        CHECK_CONTAINS(res.message, "Permission denied");
        cb_power_free(p);
}

static void test_cancel_busy_free(void) {
        struct cb_power *p;
        struct result res, second;
        char cmd[PATH_MAX + 64];
        pid_t pid, child;

        write_parent_script("wait", "", "wait\n", cmd, sizeof cmd);
        p = new_power(cmd, cmd, 10 * USEC_PER_SEC, 0);

        CHECK(start(p, true, &res) == 0);
        wait_pids("wait", &pid, &child);
        CHECK(start(p, false, &second) == -EBUSY);
        CHECK(res.calls == 0);
        cb_power_cancel(p);
        CHECK_MSG(res.calls == 0, "done ran inside cb_power_cancel()");
        wait_done(&res);
        CHECK_MSG(res.r == -ECANCELED, "%d %s", res.r, res.message);
        CHECK_CONTAINS(res.message, "cancelled");
        check_gone(pid, child);
        CHECK(second.calls == 0);

        /* Freed while running: killed and reaped, never reported. */
        CHECK(start(p, true, &res) == 0);
        wait_pids("wait", &pid, &child);
        cb_power_free(p);
        CHECK(res.calls == 0);
        check_gone(pid, child);
        run_loop_for(300 * USEC_PER_MSEC);
        CHECK(res.calls == 0);
}

/* Floods, prints a very long line and control characters: the journal gets a bounded, clean account. */
static void test_output_limits(void) {
        struct cb_power *p;
        struct result res;
        struct capture cap;
        char cmd[PATH_MAX + 64], longcmd[PATH_MAX + 64];
        char *log;
        const char *hit;

        write_script("flood.sh", "seq 1 10000\nexit 1\n");
        write_script("long.sh",
                     "head -c 5000 /dev/zero | tr '\\0' x\necho\necho\n"
                     /* 1023 bytes, then a 2-byte character across the limit */
                     "printf '%1023s\\303\\251\\n' '' | tr ' ' y\n"
                     "printf 'a\\033[31mb\\n'\necho tail\n");
        snprintf(cmd, sizeof cmd, "%s/flood.sh", dir);
        snprintf(longcmd, sizeof longcmd, "%s/long.sh", dir);
        p = new_power(cmd, longcmd, 20 * USEC_PER_SEC, 0);

        capture_begin(&cap);
        CHECK(start(p, true, &res) == 0);
        wait_done(&res);
        log = capture_end(&cap);
        CHECK_MSG(res.r == -EIO, "%d %s", res.r, res.message);
        /* the last line, though far past what was logged */
        CHECK_CONTAINS(res.message, "failed with exit status 1: 10000");
        /* 100 lines and the summary: "]: power-on command: " is not in the start and exit lines */
        CHECK_MSG(count(log, "]: power-on command: ") == 101, "%u lines logged",
                  count(log, "]: power-on command: "));
        CHECK_CONTAINS(log, "]: power-on command: 100\n");
        CHECK(!strstr(log, "]: power-on command: 101\n"));
        CHECK_CONTAINS(log, "]: power-on command: ... 9900 more lines\n");
        free(log);

        capture_begin(&cap);
        CHECK(start(p, false, &res) == 0);
        wait_done(&res);
        log = capture_end(&cap);
        CHECK_MSG(res.r == 0, "%d %s", res.r, res.message);
        hit = strstr(log, "power-off command: xxx");
        CHECK(hit);
        if (hit) {
                const char *end = strchr(hit, '\n');
                const char *mark = strstr(hit, " [truncated]\n");
                CHECK_MSG(end && mark && mark + strlen(" [truncated]") == end, "the long line is not marked");
                CHECK_MSG(end && end - hit < 1100, "a logged line of %td bytes", end ? end - hit : 0);
        }
        CHECK(!strstr(log, "power-off command: \n")); /* the blank line */
        CHECK_MSG(!strchr(log, '\303'), "half a character logged");
        CHECK_CONTAINS(log, "yyy [truncated]\n");
        CHECK_CONTAINS(log, "power-off command: a?[31mb\n");
        CHECK_CONTAINS(log, "power-off command: tail\n");
        free(log);
        cb_power_free(p);
}

static void remove_dir(void) {
        static const char *const names[] = {
                "args.sh", "args.out", "off.out", "fail.sh", "signal.sh", "quiet.sh", "hang.sh", "hang.pid",
                "hang.child", "stubborn.sh", "stubborn.pid", "stubborn.child", "leftover.sh", "leftover.pid",
                "leftover.child", "noexec.sh", "wait.sh", "wait.pid", "wait.child",
                "flood.sh", "long.sh", "log",
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                remove_file(names[i]);
        CHECK_MSG(rmdir(dir) == 0, "rmdir %s: %s", dir, strerror(errno));
}

int main(void) {
        const char *base = getenv("TMPDIR");

        snprintf(dir, sizeof dir, "%s/test-power-command-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(dir))
                die("mkdtemp");
        cb_log_open(CB_LOG_STDERR);
        /* The daemon's own environment may hold stale values; the command must see only the run's. */
        setenv("CLUSTERBOOT_NODE", "stale", 1);
        /* and the service manager's channels, which a command must not be handed */
        setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
        setenv("WATCHDOG_USEC", "20000000", 1);
        setenv("STRAY", "a drop-in's Environment=", 1);
        /*
         * Like the daemon, which blocks the signals sd-event handles: a
         * command must start with none blocked (else the timeout's SIGTERM
         * would not end hang.sh) and none ignored (else signal.sh survives).
         */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || signal(SIGUSR1, SIG_IGN) == SIG_ERR)
                die("signals");
        if (sd_event_new(&event) < 0)
                die("sd_event_new");

        test_split();
        test_new();
        /* Reaped through a pidfd, then by polling (under valgrind 3.19, which lacks pidfd_open(), both poll). */
        for (int polling = false; polling <= true; polling++) {
                cb_child_set_polling(polling);
                test_success();
                test_failure();
                test_status_unknown();
                test_timeout();
                test_leftover();
                test_cannot_start();
                test_cancel_busy_free();
                test_output_limits();
        }

        sd_event_unref(event);
        remove_dir();
        return check_exit("test-power-command");
}
