/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Every node's recent boots, as they happened: when a boot started and
 * ended, how it ended, how many attempts it took, how long it spent in each
 * state, what it was served, and each fault with what recovered it. The
 * records are made from the node's changes as the manager reports them
 * (one observation per change); the log keeps the newest boots, bounded in
 * number and each record bounded in size, so the file that holds them
 * (boot-history-file.c) and the control socket's reply stay small.
 *
 * No I/O and no clock here: the times come with each observation, so that
 * the unit tests can play any sequence of changes.
 *
 * State names are stored as the node spells them (cb_node_state_name()),
 * never as numbers: a file written before a state was added or renamed
 * still reads, and readers never need the list of states.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clusterboot/node-state.h"

#define CB_BOOT_HISTORY_BOOTS_MAX 256     /* in all; the oldest finished boot goes first */
#define CB_BOOT_HISTORY_NODE_BOOTS_MAX 32 /* per node (per port) */
#define CB_BOOT_STAGES_MAX 32             /* stretches of one boot; later ones are counted, not kept */
#define CB_BOOT_FAULTS_MAX 6
#define CB_BOOT_RECOVERY_MAX 4            /* steps taken for one fault */
#define CB_BOOT_DURATIONS_MAX 16          /* distinct states one boot passed through */
#define CB_BOOT_NAME_MAX 64               /* node name, port: longer ones are cut, ending in "…" */
#define CB_BOOT_WORD_MAX 24               /* a state name, an outcome, a recovery step */
#define CB_BOOT_REASON_MAX 200

/* Why a boot ended when it did not end in a state of its own: the daemon stopped (or died) during it. */
#define CB_BOOT_OUTCOME_INTERRUPTED "interrupted"

/* Recovery steps, as stored. */
#define CB_BOOT_STEP_RESET "reset"
#define CB_BOOT_STEP_POWER_CYCLE "power-cycle"
#define CB_BOOT_STEP_ATTEMPT "attempt" /* the next attempt started: its number is in `attempt` */

/* A stretch of a boot spent in one state (and one attempt). */
struct cb_boot_stage {
        char state[CB_BOOT_WORD_MAX];
        uint64_t offset_usec; /* from the boot's start */
        unsigned attempt;
};

struct cb_boot_step {
        char action[CB_BOOT_WORD_MAX];
        uint64_t offset_usec;
        unsigned attempt; /* CB_BOOT_STEP_ATTEMPT: the attempt that started; else the one it was taken in */
};

/* Something went wrong: where (state, attempt), why, and what was done about it. */
struct cb_boot_fault {
        uint64_t offset_usec;
        unsigned attempt;
        char state[CB_BOOT_WORD_MAX]; /* the state the node was in when it went wrong */
        char reason[CB_BOOT_REASON_MAX];
        struct cb_boot_step steps[CB_BOOT_RECOVERY_MAX];
        unsigned n_steps, steps_dropped;
        bool recovered; /* the boot went on past it (a later stage was reached) */
};

struct cb_boot_duration {
        char state[CB_BOOT_WORD_MAX];
        uint64_t usec;
};

struct cb_boot {
        uint64_t id; /* unique within the log, growing: newer boots have larger ids */
        char node[CB_BOOT_NAME_MAX];
        char port[CB_BOOT_NAME_MAX];
        uint64_t start_usec;    /* CLOCK_REALTIME */
        uint64_t end_usec;      /* CLOCK_REALTIME; 0 while it runs */
        char outcome[CB_BOOT_WORD_MAX]; /* the state it ended in (up, failed, ...) or "interrupted"; "" while it runs */
        unsigned attempts;
        uint64_t bytes_served, files_served, step_retries, resets, power_cycles;
        uint64_t up_until_usec; /* ended up: when the node stopped being up; 0 while up, or not known */
        struct cb_boot_stage stages[CB_BOOT_STAGES_MAX];
        unsigned n_stages, stages_dropped;
        struct cb_boot_fault faults[CB_BOOT_FAULTS_MAX];
        unsigned n_faults, faults_dropped;
        struct cb_boot_duration durations[CB_BOOT_DURATIONS_MAX]; /* time per state, in the order first entered */
        unsigned n_durations;
};

/* One node's state as it changed. */
struct cb_boot_observation {
        const void *key; /* the same node at every observation (its object) */
        const char *name, *port;
        enum cb_node_state state;
        unsigned attempt;
        const char *last_error; /* NULL if none */
        uint64_t bytes_served, files_served, step_retries, resets, power_cycles; /* this boot's */
        uint64_t boot_started;  /* CLOCK_MONOTONIC when this boot started; 0 when no boot runs */
        uint64_t now_monotonic, now_realtime;
};

struct cb_boot_tracked;

struct cb_boot_log {
        struct cb_boot *boots; /* oldest first */
        size_t n_boots, allocated;
        uint64_t next_id;
        struct cb_boot_tracked *tracked; /* what was last seen of each node */
        size_t n_tracked;
};

void cb_boot_log_init(struct cb_boot_log *log);
void cb_boot_log_done(struct cb_boot_log *log);

/*
 * Records a node's change. Returns 1 when a record changed in a way worth
 * keeping (a boot started or ended, a new stage, a fault, a recovery step),
 * 0 when not (progress only), -ENOMEM.
 */
int cb_boot_log_observe(struct cb_boot_log *log, const struct cb_boot_observation *o);

/*
 * Appends a finished boot read back from a file (oldest first); the limits
 * apply as to a new one, and its id is renumbered. A boot that was still
 * running when it was written is closed here as interrupted, at the last
 * moment known of it. Returns 0 or -ENOMEM.
 */
int cb_boot_log_append(struct cb_boot_log *log, const struct cb_boot *boot);

/* The daemon stops: every running boot ends as interrupted, now (CLOCK_MONOTONIC). Returns true if any did. */
bool cb_boot_log_interrupt_all(struct cb_boot_log *log, uint64_t now_monotonic);

size_t cb_boot_log_count(const struct cb_boot_log *log);
/* 0 = the oldest; NULL past the end. */
const struct cb_boot *cb_boot_log_at(const struct cb_boot_log *log, size_t i);
/* Does the boot belong to the node called `name_or_port` (its name then, or its port)? */
bool cb_boot_matches(const struct cb_boot *boot, const char *name_or_port);
