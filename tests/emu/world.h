/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * An in-process cluster for unit tests, the soak and benchmarks: a boot
 * directory with Pi Zero files, a configuration, real cb_node objects and
 * one emulated board per node, all on one sd-event loop.
 */

#include <stdbool.h>

#include "config.h"
#include "inproc.h"

#define WORLD_MAX_PORTS 64

struct world {
        sd_event *event;
        char dir[64];
        char boot_dir[128];
        struct cb_config *config;
        struct cb_file_cache *cache;
        struct cb_node_env env;
        struct emu_port ports[WORLD_MAX_PORTS];
        struct cb_node *nodes[WORLD_MAX_PORTS];
        size_t n_ports;
};

/* Boot files: small (tens of KB) or real-sized (start.elf 2.9 MB, kernel.img 5 MB). */
int world_init(struct world *w, bool real_sizes);
void world_done(struct world *w);
/* Adds a node with its board (not yet plugged). */
struct emu_port *world_add(struct world *w, const struct emu_board_config *config);
struct emu_power_settings;
struct emu_power_log;
/* Gives node i an emulated power switch (inproc-power.h; settings and log may be NULL). */
int world_add_switch(struct world *w, size_t i, const struct emu_power_settings *settings, struct emu_power_log *log);
/* Runs until every node settled (up, failed, off, or needing power) or `timeout` passed; returns 0 or -ETIMEDOUT. */
int world_run(struct world *w, usec_t timeout);
bool world_settled(const struct world *w);
/* Checks a board that should be up received exactly the files on disk; returns 0 or -EBADMSG with a message. */
int world_verify_board(const struct world *w, size_t i, char *why, size_t why_size);
/* Prints a node's recent events and its board's state, for a failed check. */
void world_dump(const struct world *w, size_t i);
/* Test timeouts: fast, so unanswered transfers resolve in milliseconds. */
void world_fast_timeouts(struct cb_config *c);
