/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * clusterbootctl as an operator meets it: the real daemon and the real tool,
 * emulated boards under umockdev. What it prints on stdout and stderr and
 * its exit status, for the mistakes people make and the scripts they write.
 *
 * usage: test-ctl [TEST...]
 * Environment: CLUSTERBOOT, CLUSTERBOOTCTL (paths; meson sets them).
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster.h"
#include "testbed.h"

static const char *clusterbootctl;

/* What one run of clusterbootctl left. */
struct run {
        int status; /* exit status; -1 if killed or it never ended */
        char *out, *err;
};

static void run_done(struct run *r) {
        g_free(r->out);
        g_free(r->err);
        *r = (struct run){ 0 };
}

struct child_wait {
        bool exited;
        int wait_status;
};

static void on_child_exit(GPid pid, gint wait_status, gpointer userdata) {
        struct child_wait *w = userdata;

        w->wait_status = wait_status;
        w->exited = true;
        g_spawn_close_pid(pid);
}

static bool pred_exited(tb_testbed *tb, void *userdata) {
        return ((struct child_wait *) userdata)->exited;
}

/* An unlinked file of its own for each run: runs may overlap. */
static int temp_file(struct cluster *c, const char *name) {
        char path[256];
        int fd;

        snprintf(path, sizeof path, "%s/%s.XXXXXX", c->dir, name);
        fd = mkostemp(path, O_CLOEXEC);
        if (fd >= 0)
                unlink(path);
        return fd;
}

static char *read_back(int fd) {
        GString *s = g_string_new(NULL);
        char buf[4096];
        ssize_t n;

        lseek(fd, 0, SEEK_SET);
        while ((n = read(fd, buf, sizeof buf)) > 0)
                g_string_append_len(s, buf, n);
        close(fd);
        return g_string_free(s, FALSE);
}

/* A clusterbootctl (or shell) started and not yet waited for. */
struct started {
        struct child_wait w;
        GPid pid;
        GSource *watch;
        int out, err;
        const char *name;
};

/*
 * Starts argv (argv[0] NULL: clusterbootctl --socket=...) as root or as
 * nobody, output into files (a pipe could fill while nobody reads it).
 */
static bool run_start(struct cluster *c, bool as_nobody, const char *const *args, struct started *st) {
        const char *argv[40];
        char socket_arg[200];
        size_t k = 0;
        GError *e = NULL;

        *st = (struct started){ .out = temp_file(c, "ctl.out"), .err = temp_file(c, "ctl.err") };
        if (as_nobody) {
                argv[k++] = "setpriv";
                argv[k++] = "--reuid=65534";
                argv[k++] = "--regid=65534";
                argv[k++] = "--clear-groups";
        }
        if (!args[0]) {
                snprintf(socket_arg, sizeof socket_arg, "--socket=%s", c->sock);
                argv[k++] = clusterbootctl;
                argv[k++] = socket_arg;
                args++;
        }
        for (; *args && k < G_N_ELEMENTS(argv) - 1; args++)
                argv[k++] = *args;
        argv[k] = NULL;
        st->name = argv[as_nobody ? 4 : 0];
        char *envp[] = { (char *) "PATH=/usr/bin:/bin:/usr/sbin:/sbin", (char *) "LC_ALL=C", NULL };
        if (st->out < 0 || st->err < 0 ||
            !g_spawn_async_with_fds(NULL, (char **) argv, envp, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                    NULL, &st->pid, -1, st->out, st->err, &e)) {
                CHECK(false, "cannot run %s: %s", argv[0], e ? e->message : strerror(errno));
                g_clear_error(&e);
                return false;
        }
        st->watch = g_child_watch_source_new(st->pid);
        g_source_set_callback(st->watch, G_SOURCE_FUNC(on_child_exit), &st->w, NULL);
        g_source_attach(st->watch, g_main_context_get_thread_default());
        return true;
}

/* Runs the testbed's loop (boards answer, hubs switch) until the child ended or timeout_ms passed (then kills it). */
static void run_finish(struct cluster *c, struct started *st, int timeout_ms, struct run *r) {
        *r = (struct run){ .status = -1 };
        if (!st->watch)
                return;
        if (!tb_run_until(c->tb, pred_exited, &st->w, timeout_ms)) {
                kill(st->pid, SIGKILL);
                (void) tb_run_until(c->tb, pred_exited, &st->w, 5000);
        } else if (WIFEXITED(st->w.wait_status)) {
                r->status = WEXITSTATUS(st->w.wait_status);
        }
        g_source_destroy(st->watch);
        g_source_unref(st->watch);
        r->out = read_back(st->out);
        r->err = read_back(st->err);
        tb_log(c->tb, "ran %s ...: status %d, stdout:\n%sstderr:\n%s", st->name, r->status, r->out, r->err);
}

static void run_argv(struct cluster *c, bool as_nobody, const char *const *args, int timeout_ms, struct run *r) {
        struct started st;

        if (run_start(c, as_nobody, args, &st))
                run_finish(c, &st, timeout_ms, r);
        else
                *r = (struct run){ .status = -1, .out = g_strdup(""), .err = g_strdup("") };
}

/* clusterbootctl ARGS... (NULL-terminated), as root, on the cluster's socket. */
#define CTL(c, r, ...) run_argv((c), false, (const char *const[]){ NULL, __VA_ARGS__, NULL }, 60000, (r))
#define CTL_AS_NOBODY(c, r, ...) run_argv((c), true, (const char *const[]){ NULL, __VA_ARGS__, NULL }, 60000, (r))

#define CHECK_HAS(text, needle) CHECK(strstr((text), (needle)) != NULL, "no \"%s\" in:\n%s", (needle), (text))
#define CHECK_LACKS(text, needle) CHECK(strstr((text), (needle)) == NULL, "\"%s\" in:\n%s", (needle), (text))

/*
 * `reload` says why a file was refused (the daemon's first errors, as
 * file:line: message), for a wrong file and for a missing one; the daemon
 * keeps its configuration.
 */
static void test_reload_reason(void) {
        struct cluster c;
        struct run r;
        char line[512];

        cluster_init(&c, 1, 16, NULL, NULL);
        cluster_start(&c);

        /* two mistakes: the reply's message holds the first, its errors field both */
        cluster_set_extra_sections(&c, "[Node spare]\nPrt=9-1\nMaxAttempts=many\n");
        cluster_write_conf(&c);
        CTL(&c, &r, "reload");
        CHECK(r.status == 1, "reload of a wrong file: exit %d, not 1", r.status);
        snprintf(line, sizeof line, "%s:%u: unknown key 'Prt' in section [Node spare] (did you mean Port=?)", c.conf,
                 14u);
        CHECK_HAS(r.err, line);
        snprintf(line, sizeof line, "%s:%u: unknown key 'MaxAttempts' in section [Node spare]: it belongs in [Daemon]",
                 c.conf, 15u);
        CHECK_HAS(r.err, line);
        CHECK_HAS(r.err, "the running configuration is kept");
        CHECK_LACKS(r.err, "see the daemon's log");
        run_done(&r);

        unlink(c.conf);
        CTL(&c, &r, "reload");
        CHECK(r.status == 1, "reload of a missing file: exit %d, not 1", r.status);
        snprintf(line, sizeof line, "%s: cannot read the file: No such file or directory", c.conf);
        CHECK_HAS(r.err, line);
        run_done(&r);

        CTL(&c, &r, "status", "node1");
        CHECK(r.status == 0, "status after failed reloads: exit %d", r.status);
        run_done(&r);
        cluster_free(&c);
}

/*
 * `power off` cannot keep a node off across restarts when the state
 * directory cannot be written: the call fails, names the directory, and the
 * board keeps its power.
 */
static void test_power_off_state_directory(void) {
        struct cluster c;
        struct run r;
        char file[200], conf[300], want[400];

        cluster_init(&c, 1, 16, NULL, NULL);
        snprintf(file, sizeof file, "%s/a-file", c.dir);
        CHECK(g_file_set_contents(file, "", 0, NULL), "cannot write %s", file);
        /* the last StateDirectory= wins: under a regular file, it can be neither used nor created */
        snprintf(conf, sizeof conf, "StateDirectory=%s/state\n", file);
        g_free(c.daemon_conf);
        c.daemon_conf = g_strdup(conf);
        cluster_set_node_conf(&c, 1, "Power=usb-hub\n");
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 60000), "node1 not up");

        CTL(&c, &r, "power", "off", "node1");
        CHECK(r.status == 1, "power off with an unusable state directory: exit %d, not 1", r.status);
        snprintf(want, sizeof want, "%s/state", file);
        CHECK_HAS(r.err, want);
        CHECK_HAS(r.err, "across a restart");
        CHECK(tb_board_powered(tb_board_at(c.tb, 0)), "node1 was switched off anyway");
        run_done(&r);
        cluster_free(&c);
}

static struct json_object *parse_json(const char *text) {
        struct json_tokener *tok = json_tokener_new();
        struct json_object *o = tok ? json_tokener_parse_ex(tok, text, (int) strlen(text)) : NULL;

        /* one document and nothing after it but blanks */
        if (o && text[json_tokener_get_parse_end(tok) + strspn(text + json_tokener_get_parse_end(tok), " \n")] != '\0') {
                json_object_put(o);
                o = NULL;
        }
        json_tokener_free(tok);
        return o;
}

static size_t json_n_nodes(struct json_object *o) {
        struct json_object *nodes = NULL;
        return o && json_object_object_get_ex(o, "nodes", &nodes) ? json_object_array_length(nodes) : 0;
}

/*
 * The small mistakes and habits of a first session: JSON modes as separate
 * words and -j, a node that does not exist among ones that do, an empty
 * name, `watch | head -1`, and commands refused for lack of permission
 * (named as typed, not as the protocol calls them).
 */
static void test_habits(void) {
        struct cluster c;
        struct run r;
        struct json_object *j;
        char pipeline[600];

        /* no board and no power switch: nothing happens, so no event can end a watch */
        cluster_init(&c, 2, 16, NULL, NULL);
        cluster_start(&c);

        CTL(&c, &r, "--json", "pretty", "status");
        j = parse_json(r.out);
        CHECK(r.status == 0 && j && json_n_nodes(j) == 2 && strstr(r.out, "\n  "),
              "--json pretty status: exit %d, not indented JSON with 2 nodes:\n%s", r.status, r.out);
        json_object_put(j);
        run_done(&r);
        CTL(&c, &r, "status", "--json", "short");
        j = parse_json(r.out);
        CHECK(r.status == 0 && j && strchr(r.out, '\n') == r.out + strlen(r.out) - 1,
              "status --json short: exit %d, not one line of JSON:\n%s", r.status, r.out);
        json_object_put(j);
        run_done(&r);
        CTL(&c, &r, "-j", "status");
        j = parse_json(r.out);
        CHECK(r.status == 0 && j && json_n_nodes(j) == 2, "-j status: exit %d, output:\n%s%s", r.status, r.out, r.err);
        json_object_put(j);
        run_done(&r);

        /* the nodes that exist are printed, the one that does not is an error */
        CTL(&c, &r, "--json=short", "status", "node1", "nosuch");
        j = parse_json(r.out);
        CHECK(r.status == 4, "status node1 nosuch: exit %d, not 4", r.status);
        CHECK(j && json_n_nodes(j) == 1, "status node1 nosuch printed no JSON for node1:\n%s", r.out);
        CHECK_HAS(r.err, "nosuch");
        json_object_put(j);
        run_done(&r);

        CTL(&c, &r, "status", "");
        CHECK(r.status == 2, "status '': exit %d, not 2 (usage)", r.status);
        CHECK_HAS(r.err, "not a node");
        CHECK_LACKS(r.err, "org.varlink");
        CHECK_LACKS(r.err, "InvalidParameter");
        run_done(&r);

        /* the reader goes after one line: watch ends then, cleanly, not at the next event (there is none) */
        snprintf(pipeline, sizeof pipeline, "set -o pipefail; '%s' --socket='%s' watch | head -n 1", clusterbootctl,
                 c.sock);
        run_argv(&c, false, (const char *const[]){ "bash", "-c", pipeline, NULL }, 20000, &r);
        CHECK(r.status == 0, "watch | head -1 did not end, or not with status 0 (status %d)", r.status);
        CHECK(strstr(r.out, "node1") && strchr(r.out, '\n') == r.out + strlen(r.out) - 1,
              "watch | head -1 printed:\n%s", r.out);
        run_done(&r);

        if (geteuid() == 0) {
                CTL_AS_NOBODY(&c, &r, "power", "off", "node1");
                CHECK(r.status == 5, "nobody's power off: exit %d, not 5", r.status);
                CHECK_HAS(r.err, "power off: permission denied");
                CHECK_LACKS(r.err, "PowerOff");
                run_done(&r);
                CTL_AS_NOBODY(&c, &r, "reload");
                CHECK(r.status == 5, "nobody's reload: exit %d, not 5", r.status);
                CHECK_HAS(r.err, "reload: permission denied");
                CHECK_LACKS(r.err, "Reload");
                run_done(&r);
        }
        cluster_free(&c);
}

/*
 * `wait` as a script uses it: started before the boards are plugged, it
 * ends with 0 when they are up; it ends at once with 1 when a node it
 * waits for failed, and with 1 at --timeout for a node that never comes;
 * is-up tells each node's state.
 */
static void test_wait(void) {
        struct emu_board_config cfg[3] = { { 0 }, { 0 }, { 0 } };
        struct cluster c;
        struct started st;
        struct run r;

        /* node3's ROM never answers: it ends failed */
        cfg[2].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_NO_ANSWER, .point = EMU_AT_ROM_STATUS, .sticky = true };
        cfg[2].n_faults = 1;
        cluster_init(&c, 3, 16, cfg, "MaxAttempts=1\nStepRetries=0\n");
        cluster_set_extra_sections(&c, "[Node spare]\nPort=9-1\n");
        cluster_start(&c);

        CHECK(run_start(&c, false, (const char *const[]){ NULL, "wait", "--timeout=60s", "node1", "2-1", NULL }, &st),
              "cannot start wait");
        /* it must not end before the boards are there */
        tb_run_for(c.tb, 300);
        CHECK(!st.w.exited, "wait ended before any board was plugged");
        tb_plug(tb_board_at(c.tb, 0));
        tb_plug(tb_board_at(c.tb, 1));
        run_finish(&c, &st, 60000, &r);
        CHECK(r.status == 0, "wait node1 2-1: exit %d, not 0", r.status);
        CHECK(wait_state(&c, 1, "up", 1) && wait_state(&c, 2, "up", 1), "wait ended before node1 and node2 were up");
        run_done(&r);

        CTL(&c, &r, "is-up", "node1", "node2");
        CHECK(r.status == 0 && strcmp(r.out, "up\nup\n") == 0, "is-up node1 node2: exit %d, output:\n%s", r.status, r.out);
        run_done(&r);
        CTL(&c, &r, "-q", "is-up", "node1", "spare");
        CHECK(r.status == 1 && r.out[0] == '\0', "-q is-up node1 spare: exit %d, output:\n%s", r.status, r.out);
        run_done(&r);

        /* a node that fails ends the wait at once, with its reason */
        CHECK(run_start(&c, false, (const char *const[]){ NULL, "wait", "--timeout=60s", "node3", NULL }, &st),
              "cannot start wait");
        tb_plug(tb_board_at(c.tb, 2));
        run_finish(&c, &st, 60000, &r);
        CHECK(r.status == 1, "wait for a node that fails: exit %d, not 1", r.status);
        CHECK_HAS(r.err, "node3 failed: ");
        CHECK_HAS(r.err, "ROM");
        run_done(&r);

        /* a node that never comes: the timeout, naming it and its state */
        CTL(&c, &r, "wait", "--timeout=0.5s", "node1", "spare");
        CHECK(r.status == 1, "wait with an absent node: exit %d, not 1", r.status);
        CHECK_HAS(r.err, "spare is absent");
        CHECK_LACKS(r.err, "node1 is");
        run_done(&r);

        CTL(&c, &r, "wait", "--state=absent", "spare");
        CHECK(r.status == 0, "wait --state=absent spare: exit %d, not 0", r.status);
        run_done(&r);
        CTL(&c, &r, "wait", "nosuch");
        CHECK(r.status == 4, "wait nosuch: exit %d, not 4", r.status);
        run_done(&r);
        /* every node, one of them failed already: at once, with the reason it failed */
        CTL(&c, &r, "wait");
        CHECK(r.status == 1, "wait (all, node3 failed): exit %d, not 1", r.status);
        CHECK_HAS(r.err, "node3 failed: ");
        run_done(&r);
        cluster_free(&c);
}

/*
 * `wait` with no node named waits for every node, also one the daemon makes
 * while it waits (AutoNodes=: a board plugged after the wait began), and
 * for at least one: a daemon that knows no node yet is not a cluster that
 * is up (it ended at once with 0, and a script went on with no node booted).
 */
static void test_wait_every_node(void) {
        struct cluster c;
        struct started st;
        struct run r;

        cluster_init(&c, 1, 16, NULL, NULL);
        cluster_set_node_name(&c, 1, NULL, true); /* no [Node] section: the daemon knows no node */
        cluster_start(&c);

        CTL(&c, &r, "wait", "--timeout=0.5s");
        CHECK(r.status == 1, "wait with no node known: exit %d, not 1", r.status);
        CHECK_HAS(r.err, "knows no node");
        run_done(&r);

        CHECK(run_start(&c, false, (const char *const[]){ NULL, "wait", "--timeout=60s", NULL }, &st),
              "cannot start wait");
        tb_run_for(c.tb, 300);
        CHECK(!st.w.exited, "wait ended before any board was plugged");
        tb_plug(tb_board_at(c.tb, 0));
        run_finish(&c, &st, 60000, &r);
        CHECK(r.status == 0, "wait for a board plugged meanwhile: exit %d, not 0:\n%s", r.status, r.err);
        CHECK(tb_log_find(c.tb, NULL, "1-1[1-1]: state up") != NULL, "wait ended before 1-1 was up");
        run_done(&r);
        cluster_free(&c);
}

/*
 * `status NODE` ends with the node's last journal lines (found by its
 * name or its port), as networkctl status shows a link's: from journal
 * files made by systemd-journal-remote, read with -D.
 */
static void test_status_log(void) {
        static const char remote[] = "/lib/systemd/systemd-journal-remote";
        struct cluster c;
        struct run r;
        char export[256], journal[256], command[800];
        GString *entries = g_string_new(NULL);

        if (access(remote, X_OK) < 0) {
                fprintf(stderr, "  (no %s: skipping)\n", remote);
                g_string_free(entries, TRUE);
                return;
        }
        cluster_init(&c, 1, 16, NULL, NULL);
        cluster_start(&c);
        for (unsigned i = 0; i < 14; i++)
                g_string_append_printf(entries,
                                       "__REALTIME_TIMESTAMP=%u000000\n__MONOTONIC_TIMESTAMP=%u000000\n"
                                       "_BOOT_ID=0123456789abcdef0123456789abcdef\nMESSAGE=%s: line %u\nPRIORITY=6\n"
                                       "CLUSTERBOOT_NODE=%s\nCLUSTERBOOT_PORT=%s\n\n",
                                       1700000000u + i, 1u + i, i == 0 ? "old" : i == 13 ? "node2" : "node1", i,
                                       i == 0 ? "old" : i == 13 ? "node2" : "node1", i == 13 ? "2-1" : "1-1");
        snprintf(export, sizeof export, "%s/entries.export", c.dir);
        snprintf(journal, sizeof journal, "%s/journal", c.dir);
        mkdir(journal, 0755);
        CHECK(g_file_set_contents(export, entries->str, (gssize) entries->len, NULL), "cannot write %s", export);
        snprintf(command, sizeof command, "%s --output=%s/x.journal - <%s", remote, journal, export);
        run_argv(&c, false, (const char *const[]){ "sh", "-c", command, NULL }, 30000, &r);
        CHECK(r.status == 0, "systemd-journal-remote: %d: %s", r.status, r.err);
        run_done(&r);

        CTL(&c, &r, "-D", journal, "status", "node1");
        CHECK(r.status == 0, "status node1: exit %d", r.status);
        /* the last 10 of node1's 12 (line 1 to 12), after a blank line; node2's is not there */
        CHECK_HAS(r.out, "\n\n");
        CHECK_HAS(r.out, " node1: line 3\n");
        CHECK_HAS(r.out, " node1: line 12\n");
        CHECK_LACKS(r.out, " node1: line 2\n");
        CHECK_LACKS(r.out, "node2: line 13");
        run_done(&r);
        CTL(&c, &r, "-D", journal, "-n", "0", "status", "node1");
        CHECK_LACKS(r.out, "line 12");
        run_done(&r);
        /* --json stays the daemon's data */
        CTL(&c, &r, "-D", journal, "--json=short", "status", "node1");
        CHECK_LACKS(r.out, "line 12");
        run_done(&r);
        g_string_free(entries, TRUE);
        cluster_free(&c);
}

struct file_wait {
        const char *path;
        const char *needle;
};

static bool pred_file_has(tb_testbed *tb, void *userdata) {
        struct file_wait *w = userdata;
        char *text = NULL;
        bool found = g_file_get_contents(w->path, &text, NULL, NULL) && strstr(text, w->needle);

        g_free(text);
        return found;
}

/* The metrics read by Prometheus's own parser (prometheus_client), normalised: one "name{labels} value" a line. */
static char *parsed_metrics(struct cluster *c, const char *command_output_to_stdout) {
        char command[1200];
        struct run r;
        char *out;

        snprintf(command, sizeof command, "set -o pipefail; %s | /usr/bin/python3 '%s/tests/prom-check.py'",
                 command_output_to_stdout, getenv("CB_SOURCE_ROOT") ? getenv("CB_SOURCE_ROOT") : ".");
        run_argv(c, false, (const char *const[]){ "bash", "-c", command, NULL }, 30000, &r);
        CHECK(r.status == 0, "the metrics do not parse (%d): %s", r.status, r.err);
        out = g_strdup(r.out);
        run_done(&r);
        return out;
}

/*
 * Metrics: node2 drops off the bus mid kernel.img on its first attempt,
 * then boots. `clusterbootctl metrics` and the textfile in MetricsDirectory=
 * are valid Prometheus text (the reference parser reads them), count the
 * failed attempt by the state it failed in, and say both nodes are up; the
 * file is replaced whole (no temporary file left beside it).
 */
static void test_metrics(void) {
        struct emu_board_config cfg[2] = { { 0 }, { 0 } };
        struct cluster c;
        char conf[300], prom_dir[200], prom_file[260], command[700];
        char *parsed;

        if (access("/usr/bin/python3", X_OK) < 0 ||
            system("/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null") != 0) {
                fprintf(stderr, "  (no python3-prometheus-client: skipping)\n");
                return;
        }
        cfg[1].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_VANISH, .point = EMU_AT_FILE, .attempt = 1,
                                               .name = "kernel.img", .offset = 1000 };
        cfg[1].n_faults = 1;
        cluster_init(&c, 2, 16, cfg, NULL);
        snprintf(prom_dir, sizeof prom_dir, "%s/textfile", c.dir);
        snprintf(prom_file, sizeof prom_file, "%s/clusterboot.prom", prom_dir);
        mkdir(prom_dir, 0755);
        snprintf(conf, sizeof conf, "MetricsDirectory=%s\n", prom_dir);
        g_free(c.daemon_conf);
        c.daemon_conf = g_strdup(conf);
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 60000), "not every node came up");

        snprintf(command, sizeof command, "'%s' --socket='%s' metrics", clusterbootctl, c.sock);
        parsed = parsed_metrics(&c, command);
        CHECK_HAS(parsed, "clusterboot_node_up{node=\"node1\",port=\"1-1\"} 1\n");
        CHECK_HAS(parsed, "clusterboot_node_up{node=\"node2\",port=\"2-1\"} 1\n");
        CHECK_HAS(parsed, "clusterboot_node_state{node=\"node2\",port=\"2-1\",state=\"up\"} 1\n");
        CHECK_HAS(parsed, "clusterboot_node_boots_total{node=\"node2\",port=\"2-1\"} 1\n");
        CHECK_HAS(parsed, "clusterboot_node_failed_attempts_total{node=\"node2\",port=\"2-1\",stage=\"serving\"} 1\n");
        CHECK_LACKS(parsed, "clusterboot_node_failed_attempts_total{node=\"node1\"");
        CHECK_HAS(parsed, "clusterboot_node_attempt{node=\"node2\",port=\"2-1\"} 2\n");
        CHECK_HAS(parsed, "clusterboot_node_last_boot_duration_seconds{node=\"node1\",port=\"1-1\"} ");
        g_free(parsed);

        /* the file follows (at most a second behind), and reads the same */
        struct file_wait fw = { prom_file, "clusterboot_node_up{node=\"node2\",port=\"2-1\"} 1\n" };
        /* the loop must wake when the file changes: the daemon may say nothing meanwhile */
        GFile *dir = g_file_new_for_path(prom_dir);
        GFileMonitor *monitor = g_file_monitor_directory(dir, G_FILE_MONITOR_NONE, NULL, NULL);
        CHECK(tb_run_until(c.tb, pred_file_has, &fw, 10000), "%s never said node2 is up", prom_file);
        if (monitor)
                g_object_unref(monitor);
        g_object_unref(dir);
        snprintf(command, sizeof command, "cat '%s'", prom_file);
        parsed = parsed_metrics(&c, command);
        CHECK_HAS(parsed, "clusterboot_node_failed_attempts_total{node=\"node2\",port=\"2-1\",stage=\"serving\"} 1\n");
        g_free(parsed);
        GDir *d = g_dir_open(prom_dir, 0, NULL);
        for (const char *name; d && (name = g_dir_read_name(d));)
                CHECK(strcmp(name, "clusterboot.prom") == 0, "%s left beside the metrics file", name);
        if (d)
                g_dir_close(d);
        cluster_free(&c);
}

/* clusterbootctl ARGS... as if on this machine, with ssh (tests/fake-ssh.sh) reaching `hosts` ("h=socket ..."). */
static void ctl_over_ssh(struct cluster *c, const char *hosts, const char *const *args, struct run *r) {
        const char *argv[40];
        char path[600], ssh[300], map[600];
        char *dir = g_path_get_dirname(clusterbootctl);
        size_t k = 0;

        snprintf(path, sizeof path, "PATH=%s:/usr/bin:/bin", dir);
        snprintf(ssh, sizeof ssh, "CLUSTERBOOT_SSH=%s/tests/fake-ssh.sh",
                 getenv("CB_SOURCE_ROOT") ? getenv("CB_SOURCE_ROOT") : ".");
        snprintf(map, sizeof map, "FAKE_SSH_HOSTS=%s", hosts);
        argv[k++] = "env";
        argv[k++] = path;
        argv[k++] = ssh;
        argv[k++] = map;
        argv[k++] = "CLUSTERBOOT_SOCKET=/nonexistent"; /* nothing is reached but through -H */
        argv[k++] = clusterbootctl;
        for (; *args && k < G_N_ELEMENTS(argv) - 1; args++)
                argv[k++] = *args;
        argv[k] = NULL;
        run_argv(c, false, argv, 60000, r);
        g_free(dir);
}

#define CTL_SSH(c, hosts, r, ...) ctl_over_ssh((c), (hosts), (const char *const[]){ __VA_ARGS__, NULL }, (r))

/*
 * -H: a command runs on another controller through `ssh HOST clusterbootctl
 * bridge`; several -H merge into one table with a HOST column (and rows
 * with "host" in --json); an unreachable host is said and the others still
 * shown. Two "hosts" here are one daemon reached twice.
 */
static void test_hosts(void) {
        struct cluster c;
        struct run r;
        char hosts[600];
        struct json_object *j, *nodes, *daemons;

        cluster_init(&c, 2, 16, NULL, NULL);
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 60000), "not every node came up");
        snprintf(hosts, sizeof hosts, "rack1=%s pi@rack2=%s", c.sock, c.sock);

        CTL_SSH(&c, hosts, &r, "-H", "rack1", "status");
        CHECK(r.status == 0, "-H rack1 status: exit %d", r.status);
        CHECK(strncmp(r.out, "NODE ", 5) == 0, "one -H has no HOST column:\n%s", r.out);
        CHECK_HAS(r.out, "node2  2-1   up");
        run_done(&r);
        CTL_SSH(&c, hosts, &r, "-H", "rack1", "is-up", "node1");
        CHECK(r.status == 0 && strcmp(r.out, "up\n") == 0, "-H rack1 is-up node1: exit %d: %s", r.status, r.out);
        run_done(&r);

        CTL_SSH(&c, hosts, &r, "-H", "pi@rack2", "-H", "rack1", "-H", "rack3", "--no-legend", "status");
        CHECK(r.status == 3, "three hosts, one unreachable: exit %d, not 3", r.status);
        /* grouped by host name (whoever logs in), then nodes in their order */
        CHECK(strncmp(r.out, "rack1     node1  1-1", 20) == 0, "the merged table does not start with rack1's node1:\n%s",
              r.out);
        CHECK_HAS(r.out, "\npi@rack2  node2  2-1");
        CHECK_HAS(r.err, "rack3");
        run_done(&r);
        CTL_SSH(&c, hosts, &r, "-H", "rack1", "-H", "pi@rack2", "-H", "rack3", "status");
        CHECK_HAS(r.out, "rack1: 2 nodes: 2 up; pi@rack2: 2 nodes: 2 up; rack3: not reached.\n");
        run_done(&r);

        CTL_SSH(&c, hosts, &r, "-H", "rack1", "-H", "pi@rack2", "--json=short", "status");
        j = json_tokener_parse(r.out);
        nodes = j ? json_object_object_get(j, "nodes") : NULL;
        daemons = j ? json_object_object_get(j, "daemons") : NULL;
        CHECK(r.status == 0 && nodes && json_object_array_length(nodes) == 4 && daemons &&
                      json_object_array_length(daemons) == 2,
              "--json status of two hosts:\n%s", r.out);
        for (size_t i = 0; nodes && i < json_object_array_length(nodes); i++)
                CHECK(json_object_object_get(json_object_array_get_idx(nodes, i), "host") != NULL,
                      "a merged row has no host");
        json_object_put(j);
        run_done(&r);

        CTL_SSH(&c, hosts, &r, "-H", "rack1", "-H", "pi@rack2", "retry", "node1");
        CHECK(r.status == 2, "retry with two -H: exit %d, not 2", r.status);
        run_done(&r);
        CTL_SSH(&c, hosts, &r, "-H", "rack1", "logs", "node1");
        CHECK(r.status == 2, "logs with -H: exit %d, not 2", r.status);
        run_done(&r);
        CTL_SSH(&c, hosts, &r, "-H", "-oProxyCommand=x", "status");
        CHECK(r.status == 2, "-H that reads as an ssh option: exit %d, not 2", r.status);
        run_done(&r);
        cluster_free(&c);
}

/* clusterbootctl ARGS on a terminal (script(1) gives it a pty) of COLUMNS=50, with a pager that marks its lines. */
static void ctl_on_terminal(struct cluster *c, const char *args, struct run *r) {
        char command[800];

        snprintf(command, sizeof command,
                 "COLUMNS=50 NO_COLOR=1 CLUSTERBOOT_PAGER='sed s/^/paged:/' '%s' --socket='%s' %s", clusterbootctl,
                 c->sock, args);
        run_argv(c, false, (const char *const[]){ "script", "-q", "-e", "-c", command, "/dev/null", NULL }, 30000, r);
}

/*
 * On a terminal, status goes through the pager (--no-pager: not; into a
 * pipe: never), and the last column is cut to the terminal's width unless
 * -l/--full.
 */
static void test_terminal(void) {
        struct emu_board_config cfg[1] = { { 0 } };
        struct cluster c;
        struct run r;

        if (access("/usr/bin/script", X_OK) < 0) {
                fprintf(stderr, "  (no script(1): skipping)\n");
                return;
        }
        /* a ROM that never answers: failed, with a long last error */
        cfg[0].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_NO_ANSWER, .point = EMU_AT_ROM_STATUS, .sticky = true };
        cfg[0].n_faults = 1;
        cluster_init(&c, 1, 16, cfg, "MaxAttempts=1\nStepRetries=0\n");
        cluster_start(&c);
        plug_all(&c);
        CHECK(wait_state(&c, 1, "failed", 30000), "node1 did not fail");

        ctl_on_terminal(&c, "status", &r);
        CHECK(r.status == 0, "status on a terminal: exit %d", r.status);
        CHECK_HAS(r.out, "paged:NODE ");
        CHECK_HAS(r.out, "paged:node1 ");
        CHECK_HAS(r.out, "...");
        run_done(&r);
        ctl_on_terminal(&c, "--no-pager status", &r);
        CHECK_LACKS(r.out, "paged:");
        CHECK_HAS(r.out, "node1 ");
        run_done(&r);
        ctl_on_terminal(&c, "--no-pager -l status", &r);
        CHECK_LACKS(r.out, "...");
        CHECK_HAS(r.out, "timed out while reading the ROM's status");
        run_done(&r);
        /* into a pipe: no pager, nothing cut */
        CTL(&c, &r, "status");
        CHECK_LACKS(r.out, "paged:");
        CHECK_HAS(r.out, "timed out while reading the ROM's status");
        run_done(&r);
        cluster_free(&c);
}

/* The node's JSON object in `clusterbootctl --json status NAME`, or NULL (the caller frees `doc`). */
static struct json_object *status_json(struct cluster *c, const char *name, struct json_object **doc) {
        struct json_object *nodes = NULL;
        struct run r;

        CTL(c, &r, "--json", "status", name);
        *doc = parse_json(r.out);
        CHECK(r.status == 0 && *doc, "--json status %s: exit %d:\n%s%s", name, r.status, r.out, r.err);
        run_done(&r);
        if (!*doc || !json_object_object_get_ex(*doc, "nodes", &nodes) || json_object_array_length(nodes) != 1)
                return NULL;
        return json_object_array_get_idx(nodes, 0);
}

static const char *json_str(struct json_object *o, const char *key) {
        struct json_object *v = NULL;
        return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                       ? json_object_get_string(v)
                       : NULL;
}

static bool json_is_null(struct json_object *o, const char *key) {
        struct json_object *v = NULL;
        return o && json_object_object_get_ex(o, key, &v) && v == NULL;
}

/*
 * The first calls a new user makes on nodes that do not need them: `retry`
 * of a node that is up is refused with what to do instead, and the node
 * stays up; `retry` and `reboot` of a node with no board leave it waiting,
 * with no boot clock running (the boot starts when a board appears).
 */
static void test_first_calls(void) {
        struct cluster c;
        struct run r;
        struct json_object *doc, *node;

        cluster_init(&c, 1, 16, NULL, NULL);
        /* a node with no board, with a switch that always works */
        cluster_set_extra_sections(&c, "[Node spare]\nPort=9-1\nPower=command\n"
                                       "PowerOffCommand=/bin/true\nPowerOnCommand=/bin/true\n");
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 60000), "node1 not up");

        CTL(&c, &r, "retry", "node1");
        CHECK(r.status == 1, "retry of an up node: exit %d, not 1", r.status);
        CHECK_HAS(r.err, "node1 is up; use reboot");
        run_done(&r);
        node = status_json(&c, "node1", &doc);
        CHECK(json_str(node, "state") && strcmp(json_str(node, "state"), "up") == 0,
              "node1 is %s after a refused retry, not up", json_str(node, "state"));
        json_object_put(doc);

        const char *const calls[] = { "retry", "reboot" };
        for (size_t i = 0; i < G_N_ELEMENTS(calls); i++) {
                CTL(&c, &r, calls[i], "spare");
                CHECK(r.status == 0, "%s of a node with no board: exit %d", calls[i], r.status);
                run_done(&r);
                node = status_json(&c, "spare", &doc);
                CHECK(json_str(node, "state") && strcmp(json_str(node, "state"), "absent") == 0,
                      "spare is %s after %s, not absent", json_str(node, "state"), calls[i]);
                CHECK(json_is_null(node, "boot_started_usec") && json_is_null(node, "boot_elapsed_usec"),
                      "a boot clock runs for spare, which has no board, after %s:\n%s", calls[i],
                      json_object_to_json_string(node));
                json_object_put(doc);
                CTL(&c, &r, "status", "spare");
                CHECK_LACKS(r.out, "booting since");
                run_done(&r);
                CTL(&c, &r, "status");
                CHECK_LACKS(r.out, "boot ");
                run_done(&r);
        }
        cluster_free(&c);
}

/* The POWER cell of NAME's row in `clusterbootctl status` ("" if there is no such row). */
static void power_cell(struct cluster *c, const char *name, char *cell, size_t size) {
        struct run r;
        size_t column = 0;

        cell[0] = '\0';
        CTL(c, &r, "status");
        const char *header = strstr(r.out, "POWER");
        if (header)
                column = (size_t) (header - r.out);
        for (char *line = r.out, *nl; header && (nl = strchr(line, '\n')); line = nl + 1)
                if (strncmp(line, name, strlen(name)) == 0 && line[strlen(name)] == ' ' && line + column < nl) {
                        snprintf(cell, size, "%.*s", (int) strcspn(line + column, " \n"), line + column);
                        break;
                }
        run_done(&r);
}

/* "true", "false", "null", or "absent": NAME's "powered" in --json status. */
static const char *powered_json(struct cluster *c, const char *name) {
        struct json_object *doc, *node = status_json(c, name, &doc), *v = NULL;
        const char *what = "absent";

        if (node && json_object_object_get_ex(node, "powered", &v))
                what = !v ? "null" : !json_object_is_type(v, json_type_boolean) ? "not a boolean"
                                                                                : json_object_get_boolean(v) ? "true" : "false";
        json_object_put(doc);
        return what;
}

/*
 * Whether each board has power, in the table (POWER) and the JSON
 * ("powered"): on while its board is on the bus, off once its switch
 * confirmed a power-off, on again after power on; unknown ("-", null) for a
 * node with no switch and no board.
 */
static void test_power_column(void) {
        struct cluster c;
        struct run r;
        char cell[32];

        cluster_init(&c, 1, 16, NULL, NULL);
        cluster_set_node_conf(&c, 1, "Power=usb-hub\n");
        cluster_set_extra_sections(&c, "[Node spare]\nPort=9-1\n");
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 60000), "node1 not up");

        power_cell(&c, "node1", cell, sizeof cell);
        CHECK(strcmp(cell, "on") == 0, "node1 is up; its POWER is \"%s\", not on", cell);
        CHECK(strcmp(powered_json(&c, "node1"), "true") == 0, "node1 is up; powered is %s", powered_json(&c, "node1"));
        power_cell(&c, "spare", cell, sizeof cell);
        CHECK(strcmp(cell, "-") == 0, "spare has no switch and no board; its POWER is \"%s\", not -", cell);
        CHECK(strcmp(powered_json(&c, "spare"), "null") == 0, "spare: powered is %s, not null", powered_json(&c, "spare"));

        CTL(&c, &r, "power", "off", "node1");
        CHECK(r.status == 0, "power off node1: exit %d", r.status);
        run_done(&r);
        power_cell(&c, "node1", cell, sizeof cell);
        CHECK(strcmp(cell, "off") == 0, "node1 switched off; its POWER is \"%s\"", cell);
        CHECK(strcmp(powered_json(&c, "node1"), "false") == 0, "node1 switched off; powered is %s",
              powered_json(&c, "node1"));
        CTL(&c, &r, "status", "node1");
        CHECK_HAS(r.out, "Power: off (switch: usb-hub)");
        run_done(&r);

        CTL(&c, &r, "power", "on", "node1");
        CHECK(r.status == 0, "power on node1: exit %d", r.status);
        run_done(&r);
        CHECK(strcmp(powered_json(&c, "node1"), "true") == 0, "node1 switched on; powered is %s",
              powered_json(&c, "node1"));
        cluster_free(&c);
}

/* The boots in `clusterbootctl --json history [NODE]` (the caller frees `doc`), or NULL. */
static struct json_object *history_json(struct cluster *c, const char *node, struct json_object **doc) {
        struct json_object *boots = NULL;
        struct run r;

        if (node)
                CTL(c, &r, "--json", "history", node);
        else
                CTL(c, &r, "--json", "history");
        *doc = parse_json(r.out);
        CHECK(r.status == 0 && *doc, "--json history: exit %d:\n%s%s", r.status, r.out, r.err);
        run_done(&r);
        if (!*doc || !json_object_object_get_ex(*doc, "boots", &boots) || !json_object_is_type(boots, json_type_array))
                return NULL;
        return boots;
}

static int64_t json_int(struct json_object *o, const char *key) {
        struct json_object *v = NULL;
        return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int)
                       ? json_object_get_int64(v)
                       : -1;
}

/* The two boots of the seed's cluster, as history shows them: node1 clean, node2 up on attempt 2 after its fault. */
static void check_seed_history(struct cluster *c, const char *when) {
        struct json_object *doc = NULL, *boots = history_json(c, NULL, &doc);
        size_t n = boots ? json_object_array_length(boots) : 0;

        CHECK(n == 2, "%s: %zu boots in the history", when, n);
        for (size_t i = 0; i < n; i++) {
                struct json_object *b = json_object_array_get_idx(boots, i), *faults = NULL, *fault = NULL;
                const char *node = json_str(b, "node");
                bool seeded = node && strcmp(node, "node2") == 0;

                CHECK(node && (seeded || strcmp(node, "node1") == 0), "%s: boot of %s", when, node ? node : "?");
                CHECK(json_str(b, "outcome") && strcmp(json_str(b, "outcome"), "up") == 0, "%s: %s's outcome %s",
                      when, node, json_str(b, "outcome") ? json_str(b, "outcome") : "null");
                CHECK(json_int(b, "attempts") == (seeded ? 2 : 1), "%s: %s took %lld attempts", when, node,
                      (long long) json_int(b, "attempts"));
                CHECK(json_int(b, "end_usec") > json_int(b, "start_usec"), "%s: %s's times", when, node);
                CHECK(json_object_object_get_ex(b, "faults", &faults) &&
                              json_object_array_length(faults) == (seeded ? 1u : 0u),
                      "%s: %s's faults", when, node);
                if (!seeded || !faults || json_object_array_length(faults) != 1)
                        continue;
                fault = json_object_array_get_idx(faults, 0);
                CHECK(json_str(fault, "state") && strcmp(json_str(fault, "state"), "serving") == 0,
                      "%s: the fault's state", when);
                CHECK(json_str(fault, "reason") && strstr(json_str(fault, "reason"), "kernel.img"),
                      "%s: the fault's reason", when);
                struct json_object *rec = NULL;
                CHECK(json_object_object_get_ex(fault, "recovered", &rec) && json_object_get_boolean(rec),
                      "%s: the fault not recovered", when);
        }
        json_object_put(doc);
}

/*
 * Boot history across daemon restarts: the seed's failure (node2 leaves the
 * bus mid kernel.img, up on attempt 2) is in `history`, and still there,
 * the same, after a restart (SIGTERM, as systemctl restart) and a second
 * one; `history node2` shows only node2's, as a table with its fault. A
 * corrupt file is set aside (kept as .bad) and the daemon starts anyway,
 * with an empty history, and boots.
 */
static void test_history(void) {
        struct emu_board_config cfg[2] = { { 0 }, { 0 } };
        struct cluster c;
        struct run r;
        char path[300], aside[300];
        size_t mark;

        cfg[1].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_VANISH, .point = EMU_AT_FILE, .attempt = 1,
                                               .name = "kernel.img", .offset = 1000 };
        cfg[1].n_faults = 1;
        cluster_init(&c, 2, 16, cfg, NULL);
        snprintf(path, sizeof path, "%s/state/boot-history.json", c.dir);
        snprintf(aside, sizeof aside, "%s/state/boot-history.json.bad", c.dir);
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 60000), "not every node came up");
        check_seed_history(&c, "first daemon");

        for (int restart = 1; restart <= 2; restart++) {
                char when[64];

                cluster_stop(&c);
                CHECK(access(path, R_OK) == 0, "no %s after the daemon stopped", path);
                mark = tb_log_count(c.tb);
                cluster_start(&c);
                CHECK(tb_wait_log(c.tb, mark, "running;", 10000) != NULL, "the daemon did not start again");
                snprintf(when, sizeof when, "after restart %d", restart);
                check_seed_history(&c, when);
        }

        CTL(&c, &r, "history", "node2");
        CHECK(r.status == 0, "history node2: exit %d: %s", r.status, r.err);
        CHECK_HAS(r.out, "NODE ");
        CHECK_HAS(r.out, "node2 ");
        CHECK_LACKS(r.out, "node1 ");
        CHECK_HAS(r.out, "1, 1 recovered");
        CHECK_HAS(r.out, "attempt 1, serving: ");
        CHECK_HAS(r.out, "attempt 2; recovered");
        CHECK_HAS(r.out, "1 boot.");
        run_done(&r);
        CTL(&c, &r, "history", "nosuch");
        CHECK(r.status == 4, "history nosuch: exit %d", r.status);
        run_done(&r);

        /* the timeline of the same boots, read back and compared with them (tests/timeline-check.py) */
        char svg[300], saved[300], command[1200];
        snprintf(svg, sizeof svg, "%s/boot.svg", c.dir);
        snprintf(saved, sizeof saved, "%s/history.json", c.dir);
        CTL(&c, &r, "timeline", "-o", svg);
        CHECK(r.status == 0, "timeline -o: exit %d: %s", r.status, r.err);
        run_done(&r);
        CTL(&c, &r, "--json=short", "history");
        FILE *h = fopen(saved, "w");
        CHECK(h != NULL, "cannot write %s", saved);
        if (h) {
                fputs(r.out, h);
                fclose(h);
        }
        run_done(&r);
        snprintf(command, sizeof command, "python3 '%s/tests/timeline-check.py' '%s' '%s'",
                 getenv("CB_SOURCE_ROOT") ? getenv("CB_SOURCE_ROOT") : ".", svg, saved);
        run_argv(&c, false, (const char *const[]){ "sh", "-c", command, NULL }, 60000, &r);
        CHECK(r.status == 0, "the timeline does not match the history:\n%s%s", r.out, r.err);
        CHECK_HAS(r.out, "2 rows, 2 boots match");
        run_done(&r);

        /* a corrupt file: set aside, reported, not fatal */
        cluster_stop(&c);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL, "cannot write %s", path);
        if (f) {
                fputs("{\"format\": \"clusterboot-boot-history\", \"version\": 1, \"boots\": [{\"node\": ", f);
                fclose(f);
        }
        mark = tb_log_count(c.tb);
        cluster_start(&c);
        CHECK(tb_wait_log(c.tb, mark, "set aside as", 10000) != NULL, "the corrupt history was not reported");
        CHECK(access(aside, R_OK) == 0, "the corrupt history was not kept aside");
        struct json_object *doc = NULL, *boots = history_json(&c, NULL, &doc);
        CHECK(boots && json_object_array_length(boots) == 0, "a corrupt history was read");
        json_object_put(doc);
        CTL(&c, &r, "status");
        CHECK(r.status == 0, "status after a corrupt history: exit %d", r.status);
        run_done(&r);
        cluster_free(&c);
}

/* tmux on the cluster's own server socket: ARGS... (NULL-terminated), its output in r. */
static void tmux_run(struct cluster *c, struct run *r, const char *const *args) {
        const char *argv[24];
        char sock[200];
        size_t k = 0;

        snprintf(sock, sizeof sock, "%s/tmux.sock", c->dir);
        argv[k++] = "env";
        argv[k++] = "TERM=xterm-256color";
        argv[k++] = "tmux";
        argv[k++] = "-S";
        argv[k++] = sock;
        for (; *args && k < G_N_ELEMENTS(argv) - 1; args++)
                argv[k++] = *args;
        argv[k] = NULL;
        run_argv(c, false, argv, 30000, r);
}
#define TMUX(c, r, ...) tmux_run((c), (r), (const char *const[]){ __VA_ARGS__, NULL })

static unsigned count_lines_starting(const char *text, const char *prefix) {
        unsigned n = 0;

        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                n += strncmp(p, prefix, strlen(prefix)) == 0;
        return n;
}

static bool pred_never(tb_testbed *tb, void *userdata) {
        return false;
}

/*
 * The screen of tmux window `session` once it shows `needle` (NULL if it
 * never does within timeout_ms); `escapes`: with its colours (-e).
 */
static char *screen_showing(struct cluster *c, const char *session, const char *needle, bool escapes, int timeout_ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;
        struct run r;

        for (;;) {
                if (escapes)
                        TMUX(c, &r, "capture-pane", "-p", "-e", "-t", session);
                else
                        TMUX(c, &r, "capture-pane", "-p", "-t", session);
                if (r.status == 0 && strstr(r.out, needle)) {
                        char *screen = g_strdup(r.out);
                        run_done(&r);
                        return screen;
                }
                run_done(&r);
                if (g_get_monotonic_time() > deadline)
                        return NULL;
                /* the boards go on meanwhile; the screen is looked at again after a while */
                (void) tb_run_until(c->tb, pred_never, NULL, 100);
        }
}

/*
 * watch on a terminal (tmux, a real terminal emulator, read back as a
 * screen): the table is redrawn in place as events come, so when the
 * seed's cluster is up each node has exactly one row, showing up, node2
 * on attempt 2; the states are coloured, and with NO_COLOR nothing is.
 * Into a pipe, watch still prints one plain line per event.
 */
static void test_watch_live(void) {
        struct emu_board_config cfg[2] = { { 0 }, { 0 } };
        struct cluster c;
        struct run r;
        char command[700];

        if (access("/usr/bin/tmux", X_OK) < 0) {
                fprintf(stderr, "  (no tmux: skipping)\n");
                return;
        }
        cfg[1].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_VANISH, .point = EMU_AT_FILE, .attempt = 1,
                                               .name = "kernel.img", .offset = 1000 };
        cfg[1].n_faults = 1;
        cluster_init(&c, 2, 16, cfg, NULL);
        cluster_start(&c);

        snprintf(command, sizeof command, "'%s' --socket='%s' watch", clusterbootctl, c.sock);
        TMUX(&c, &r, "new-session", "-d", "-s", "colour", "-x", "150", "-y", "20", command);
        CHECK(r.status == 0, "tmux new-session: exit %d: %s", r.status, r.err);
        run_done(&r);
        snprintf(command, sizeof command, "NO_COLOR=1 '%s' --socket='%s' watch", clusterbootctl, c.sock);
        TMUX(&c, &r, "new-session", "-d", "-s", "plain", "-x", "150", "-y", "20", command);
        run_done(&r);
        /* both are watching before the first board appears: everything after comes as events */
        char *first = screen_showing(&c, "plain", "node2", false, 20000);
        CHECK(first != NULL, "watch on a terminal never showed the nodes");
        g_free(first);
        first = screen_showing(&c, "colour", "node2", false, 20000);
        g_free(first);

        plug_all(&c);
        CHECK(all_up(&c, 60000), "not every node came up");
        char *screen = screen_showing(&c, "plain", "2 nodes, 2 up", false, 20000);
        CHECK(screen != NULL, "the live table never said both nodes are up");
        if (screen) {
                CHECK(count_lines_starting(screen, "NODE ") == 1, "the header drawn more than once:\n%s", screen);
                CHECK(count_lines_starting(screen, "node1 ") == 1, "node1's row not redrawn in place:\n%s", screen);
                CHECK(count_lines_starting(screen, "node2 ") == 1, "node2's row not redrawn in place:\n%s", screen);
                const char *row = strstr(screen, "\nnode2 ");
                CHECK(row && strstr(row, " up ") && strstr(row, " 2/5 "), "node2's row does not say up on 2/5:\n%s",
                      screen);
                CHECK(strstr(screen, "clusterboot ") == screen, "the table does not start at the top:\n%s", screen);
        }
        g_free(screen);
        screen = screen_showing(&c, "plain", "2 nodes, 2 up", true, 5000);
        CHECK(screen && !strchr(screen, '\033'), "colours with NO_COLOR:\n%s", screen ? screen : "");
        g_free(screen);
        screen = screen_showing(&c, "colour", "2 nodes, 2 up", true, 20000);
        CHECK(screen && strstr(screen, "\033["), "no colours on a terminal:\n%s", screen ? screen : "");
        g_free(screen);
        TMUX(&c, &r, "kill-server");
        run_done(&r);

        /* into a pipe: a plain line per event, as before */
        snprintf(command, sizeof command, "'%s' --socket='%s' watch | head -2", clusterbootctl, c.sock);
        run_argv(&c, false, (const char *const[]){ "sh", "-c", command, NULL }, 30000, &r);
        CHECK(r.status == 0 && count_lines_starting(r.out, "") >= 2 && !strchr(r.out, '\033') &&
                      strstr(r.out, " node1 ") && strstr(r.out, "current state"),
              "watch into a pipe:\n%s", r.out);
        run_done(&r);
        cluster_free(&c);
}

static const struct cluster_test tests[] = {
        { "power-column", test_power_column },
        { "first-calls", test_first_calls },
        { "history", test_history },
        { "watch-live", test_watch_live },
        { "terminal", test_terminal },
        { "hosts", test_hosts },
        { "metrics", test_metrics },
        { "status-log", test_status_log },
        { "wait", test_wait },
        { "wait-every-node", test_wait_every_node },
        { "habits", test_habits },
        { "reload-reason", test_reload_reason },
        { "power-off-state-directory", test_power_off_state_directory },
};

int main(int argc, char **argv) {
        clusterboot = getenv("CLUSTERBOOT");
        clusterbootctl = getenv("CLUSTERBOOTCTL");
        if (!clusterboot || !clusterbootctl) {
                fprintf(stderr, "set CLUSTERBOOT and CLUSTERBOOTCTL to the binaries under test\n");
                return 2;
        }
        return cluster_run_tests(tests, G_N_ELEMENTS(tests), argc, argv);
}
