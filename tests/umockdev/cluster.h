/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A cluster for the umockdev tier: n emulated boards on ports 1-1, 2-1, ...
 * (one per bus, as dummy_hcd gives in the VM), synthetic boot files, a
 * configuration naming them node1.., and the real daemon started on it.
 * Shared by the integration tests and the benchmarks.
 */

#include <stdbool.h>

#include "testbed.h"

/* Set by the caller: the daemon binary. */
extern const char *clusterboot;
/* Set when a check fails (the cluster dumps its log at cluster_free()). */
extern bool failed_now;

#define CHECK(cond, ...)                                                                         \
        do {                                                                                     \
                if (!(cond)) {                                                                   \
                        fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
                        fprintf(stderr, __VA_ARGS__);                                            \
                        fputc('\n', stderr);                                                     \
                        failed_now = true;                                                       \
                }                                                                                \
        } while (0)

struct cluster {
        tb_testbed *tb;
        char dir[64];
        char boot[128];
        char conf[128];
        char sock[128];
        tb_child *daemon;
        unsigned n;
        unsigned scale;
        char port[64][32];          /* board N's port (index N-1): N-1 unless cluster_init_ports() named it */
        char *daemon_conf;          /* extra [Daemon] lines */
        char *node_conf[64];        /* extra lines of [Node nodeN] (index N-1), or NULL */
        char *node_name[64];        /* the section's name instead of nodeN, or NULL */
        bool node_omitted[64];      /* no section for board N */
        char *extra_sections;       /* written after the nodes' sections, or NULL */
};

/* configs: one per board, or NULL; extra_daemon_conf: more [Daemon] lines, or NULL. */
void cluster_init(struct cluster *c, unsigned n, unsigned scale, const struct emu_board_config *configs,
                  const char *extra_daemon_conf);
/* The same, on a testbed with these options (NULL: defaults). */
void cluster_init_with(struct cluster *c, unsigned n, unsigned scale, const struct emu_board_config *configs,
                       const char *extra_daemon_conf, const struct tb_options *options);
/* The same, board N on ports[N-1] ("1-1.3": its hubs are made): boards behind hubs, on a shared bus. */
void cluster_init_ports(struct cluster *c, unsigned n, const char *const *ports, unsigned scale,
                        const struct emu_board_config *configs, const char *extra_daemon_conf,
                        const struct tb_options *options);
/* More lines for node N's section (1-based); before cluster_start(). */
void cluster_set_node_conf(struct cluster *c, unsigned node, const char *lines);
/* Node N's section is called `name` (NULL: nodeN), or left out (omit). */
void cluster_set_node_name(struct cluster *c, unsigned node, const char *name, bool omit);
/* More sections after the nodes' (a node with no board, say), or NULL. */
void cluster_set_extra_sections(struct cluster *c, const char *sections);
/* Writes the configuration (cluster_start() does it too; for a reload). */
void cluster_write_conf(struct cluster *c);
/* Writes the configuration and starts the daemon (again, after cluster_stop()). */
void cluster_start(struct cluster *c);
/* Stops the daemon with SIGTERM; it must exit cleanly. */
void cluster_stop(struct cluster *c);
void cluster_free(struct cluster *c);
void plug_all(struct cluster *c);
/* Waits for the daemon to log "nodeN[PORT]: state STATE"; returns the line or NULL. */
const struct tb_log_line *wait_state(struct cluster *c, unsigned node, const char *state, int timeout_ms);
bool all_up(struct cluster *c, int timeout_ms);
/* Every board but `skip` (1-based; 0 = none) holds correct files. */
void check_boards(struct cluster *c, unsigned skip);
struct cluster_test {
        const char *name;
        void (*fn)(void);
};
/*
 * Runs the tests argv names (every one when it names none), each with
 * failed_now cleared, printing "ok"/"FAIL" with its time and the totals.
 * Returns the exit status: 0 if every test that ran passed.
 */
int cluster_run_tests(const struct cluster_test *tests, size_t n_tests, int argc, char **argv);

/* The daemon's own CLOCK_MONOTONIC timestamp of one of its log lines, in seconds (-1 if none). */
double daemon_time(const struct tb_log_line *l);
/* The node's attempt a "state up" line names ("up after 1.2s, on attempt N"): the daemon's count, not the
 * board's ROM entries. 0 if the line names none. */
unsigned up_attempt(const struct tb_log_line *l);
