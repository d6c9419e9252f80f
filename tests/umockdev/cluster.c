/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "cluster.h"

#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "board-check.h"

const char *clusterboot;
bool failed_now;

/* n boards on ports 1-1, 2-1, ... (one per bus, as dummy_hcd gives in the VM), named node1.., configured. */
void cluster_init(struct cluster *c, unsigned n, unsigned scale, const struct emu_board_config *configs,
                         const char *extra_daemon_conf) {
        cluster_init_with(c, n, scale, configs, extra_daemon_conf, NULL);
}

void cluster_init_with(struct cluster *c, unsigned n, unsigned scale, const struct emu_board_config *configs,
                       const char *extra_daemon_conf, const struct tb_options *options) {
        cluster_init_ports(c, n, NULL, scale, configs, extra_daemon_conf, options);
}

void cluster_init_ports(struct cluster *c, unsigned n, const char *const *ports, unsigned scale,
                        const struct emu_board_config *configs, const char *extra_daemon_conf,
                        const struct tb_options *options) {
        memset(c, 0, sizeof *c);
        if (n > G_N_ELEMENTS(c->port))
                abort();
        c->n = n;
        c->scale = scale;
        c->tb = tb_new(options);
        snprintf(c->dir, sizeof c->dir, "/dev/shm/cb-test-XXXXXX");
        if (!mkdtemp(c->dir))
                abort();
        chmod(c->dir, 0755); /* an unprivileged client must reach the socket */
        snprintf(c->boot, sizeof c->boot, "%s/boot", c->dir);
        snprintf(c->conf, sizeof c->conf, "%s/clusterboot.conf", c->dir);
        snprintf(c->sock, sizeof c->sock, "%s/io.clusterboot", c->dir);
        mkdir(c->boot, 0755);
        CHECK(tb_write_boot_files(c->boot, scale) == 0, "cannot write boot files");

        c->daemon_conf = g_strdup(extra_daemon_conf ? extra_daemon_conf : "");
        for (unsigned i = 0; i < n; i++) {
                if (ports)
                        snprintf(c->port[i], sizeof c->port[i], "%s", ports[i]);
                else
                        snprintf(c->port[i], sizeof c->port[i], "%u-1", i + 1);
                tb_add_board(c->tb, c->port[i], configs ? &configs[i] : NULL);
        }
}

void cluster_set_node_conf(struct cluster *c, unsigned node, const char *lines) {
        g_free(c->node_conf[node - 1]);
        c->node_conf[node - 1] = g_strdup(lines);
}

void cluster_set_node_name(struct cluster *c, unsigned node, const char *name, bool omit) {
        g_free(c->node_name[node - 1]);
        c->node_name[node - 1] = g_strdup(name);
        c->node_omitted[node - 1] = omit;
}

void cluster_set_extra_sections(struct cluster *c, const char *sections) {
        g_free(c->extra_sections);
        c->extra_sections = g_strdup(sections);
}

void cluster_write_conf(struct cluster *c) {
        FILE *f = fopen(c->conf, "we");

        if (!f)
                abort();
        fprintf(f,
                "[Daemon]\nBootDirectory=%s\nStateDirectory=%s/state\nRetryDelaySec=0.1\nRetryDelayMaxSec=0.5\n"
                "ReenumerateTimeoutSec=3\nUpTimeoutSec=5\nRequestTimeoutSec=1\nControlTimeoutSec=0.5\n"
                "BulkTimeoutSec=2\n%s",
                c->boot, c->dir, c->daemon_conf);
        for (unsigned i = 0; i < c->n; i++) {
                if (c->node_omitted[i])
                        continue;
                if (c->node_name[i])
                        fprintf(f, "[Node %s]\n", c->node_name[i]);
                else
                        fprintf(f, "[Node node%u]\n", i + 1);
                fprintf(f, "Port=%s\n%s", c->port[i], c->node_conf[i] ? c->node_conf[i] : "");
        }
        fputs(c->extra_sections ? c->extra_sections : "", f);
        fclose(f);
}

void cluster_start(struct cluster *c) {
        char config_arg[160], socket_arg[160];
        snprintf(config_arg, sizeof config_arg, "--config=%s", c->conf);
        snprintf(socket_arg, sizeof socket_arg, "--socket=%s", c->sock);
        const char *argv[] = { clusterboot, config_arg, socket_arg, "--log-target=stderr",
                               getenv("CB_TEST_VERBOSE") ? "--log-level=debug" : NULL, NULL };

        size_t from = tb_log_count(c->tb);

        cluster_write_conf(c);
        c->daemon = tb_spawn(c->tb, argv, NULL);
        CHECK(c->daemon != NULL, "cannot start the daemon");
        CHECK(tb_wait_uevent_listener(c->tb, 10000), "the daemon never listened for uevents");
        CHECK(tb_wait_log(c->tb, from, "running;", 10000) != NULL, "the daemon did not report running");
}

void cluster_stop(struct cluster *c) {
        if (c->daemon && tb_child_running(c->daemon)) {
                tb_child_kill(c->daemon, SIGTERM);
                int st = tb_child_wait(c->daemon, 10000);
                CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the daemon exited with status %d", st);
        }
}

void cluster_free(struct cluster *c) {
        char cmd[128];

        cluster_stop(c);
        g_free(c->daemon_conf);
        g_free(c->extra_sections);
        for (size_t i = 0; i < G_N_ELEMENTS(c->node_conf); i++) {
                g_free(c->node_conf[i]);
                g_free(c->node_name[i]);
        }
        if (failed_now)
                tb_log_dump(c->tb, stderr);
        tb_free(c->tb);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", c->dir);
}

void plug_all(struct cluster *c) {
        for (unsigned i = 0; i < c->n; i++)
                tb_plug(tb_board_at(c->tb, i));
}

/* Waits for the daemon to log `node: state STATE`; returns the line or NULL. */
const struct tb_log_line *wait_state(struct cluster *c, unsigned node, const char *state, int timeout_ms) {
        char needle[96];
        snprintf(needle, sizeof needle, "node%u[%s]: state %s", node, c->port[node - 1], state);
        return tb_wait_log(c->tb, 0, needle, timeout_ms);
}

bool all_up(struct cluster *c, int timeout_ms) {
        bool ok = true;
        for (unsigned i = 1; i <= c->n; i++)
                ok &= wait_state(c, i, "up", timeout_ms) != NULL;
        return ok;
}

void check_boards(struct cluster *c, unsigned skip) {
        for (unsigned i = 0; i < c->n; i++)
                if (i + 1 != skip && tb_check_board(c->tb, tb_board_at(c->tb, i), c->scale) > 0)
                        failed_now = true;
}

/* The daemon's own timestamp of a log line: "[  123.456789] ..." (CLOCK_MONOTONIC). */
double daemon_time(const struct tb_log_line *l) {
        double t = -1;
        if (l && sscanf(l->text, "[%lf]", &t) != 1)
                t = -1;
        return t;
}

unsigned up_attempt(const struct tb_log_line *l) {
        const char *at = l ? strstr(l->text, ", on attempt ") : NULL;
        unsigned attempt = 0;

        if (at && sscanf(at, ", on attempt %u", &attempt) != 1)
                attempt = 0;
        return attempt;
}


int cluster_run_tests(const struct cluster_test *tests, size_t n_tests, int argc, char **argv) {
        unsigned passed = 0, failed = 0;

        signal(SIGPIPE, SIG_IGN); /* a daemon that exits under a test must fail a check, not kill the run */
        for (size_t i = 0; i < n_tests; i++) {
                bool selected = argc < 2;
                for (int k = 1; k < argc; k++)
                        selected |= strcmp(argv[k], tests[i].name) == 0;
                if (!selected)
                        continue;
                failed_now = false;
                int64_t t0 = g_get_monotonic_time();
                tests[i].fn();
                fprintf(stderr, "%s %s (%.0f ms)\n", failed_now ? "FAIL" : "ok  ", tests[i].name,
                        (double) (g_get_monotonic_time() - t0) / 1000.0);
                if (failed_now)
                        failed++;
                else
                        passed++;
        }
        printf("%u passed, %u failed\n", passed, failed);
        return failed ? 1 : 0;
}
