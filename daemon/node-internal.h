/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Shared by the two halves of a node: node.c (the boot: sessions, attempts,
 * resets) and node-power.c (switching power, and power cycles as the last
 * recovery step). Nothing outside these two files includes it.
 */

#include "log.h"
#include "node.h"
#include "power.h"

/* What the one node timer is waiting for. */
enum node_timer {
        TIMER_NONE,
        TIMER_BACKOFF,      /* between attempts */
        TIMER_REENUMERATE,  /* loader sent: the second stage should appear */
        TIMER_COMEBACK,     /* after a failure: the board should reappear on its port */
        TIMER_UP,           /* Done received: the board's gadget should appear */
        TIMER_POWER_VERIFY, /* switched off: the board should leave the bus */
        TIMER_POWER_SETTLE, /* off time within a power cycle */
};

/* Why the node is switching power. */
enum power_purpose {
        PURPOSE_NONE,
        PURPOSE_OFF,      /* user: off, and stay off */
        PURPOSE_ON,       /* user: on (boot an `off` node) */
        PURPOSE_REBOOT,   /* user: cycle, then a fresh boot */
        PURPOSE_RECOVER,  /* a failed attempt: cycle, then count the attempt as failed */
        PURPOSE_REVIVE,   /* a board that never came back (attempt already counted): cycle, then wait for it */
        PURPOSE_ENSURE_ON,/* at daemon start, or `power on` of a node not off: switch on in turn, boots go on meanwhile */
};

enum power_step {
        STEP_IDLE,
        STEP_SWITCHING_OFF,
        STEP_VERIFYING_OFF,
        STEP_SETTLING,
        STEP_QUEUED_ON,
        STEP_SWITCHING_ON,
};

/* The last thing done to recover a board in this boot: resets and power cycles take turns. */
enum recovery {
        RECOVERY_NONE,
        RECOVERY_RESET,
        RECOVERY_POWER_CYCLE,
};

struct node_power {
        struct cb_power *backend; /* NULL: Power=none */
        enum power_purpose purpose;
        enum power_step step;
        cb_node_power_done_t done;
        void *done_userdata;
        char *reason;             /* PURPOSE_RECOVER: the failure the attempt is counted with */
        char *error;              /* a failure on the way that does not stop the cycle (board did not leave) */
        /* a backend that refused to start a switch: reported from the loop, like any other result */
        sd_event_source *refusal;
        int refused;
        /* a user's action that waits for a start-up power-on to finish */
        enum power_purpose next_purpose;
        cb_node_power_done_t next_done;
        void *next_userdata;
};

struct cb_node {
        const struct cb_node_env *env;
        char *name;
        char *port;
        bool configured;

        enum cb_node_state state;
        unsigned attempt;
        char *last_error;

        bool device_present;
        struct cb_node_device device;

        struct cb_session *session;
        bool resetting;

        sd_event_source *timer;
        enum node_timer timer_purpose;

        struct node_power power;
        enum recovery last_recovery; /* this boot */
        bool revived;                /* this attempt: a power cycle already tried to bring the board back */

        /* this boot's totals, of finished sessions */
        uint64_t bytes_served;
        unsigned files_served;
        unsigned step_retries;
        unsigned resets;
        unsigned power_cycles;

        usec_t boot_started;
        usec_t up_since;
        usec_t last_boot_duration;
        unsigned boots;

        struct cb_node_event events[CB_NODE_EVENTS_MAX];
        unsigned n_events;   /* total recorded; the ring holds the last CB_NODE_EVENTS_MAX */
};

struct cb_log_node cb_node_log_fields(const struct cb_node *n);

#define node_log(n, prio, ...)                                                          \
        do {                                                                            \
                struct cb_log_node _f = cb_node_log_fields(n);                          \
                cb_log_full((prio), 0, &_f, NULL, __FILE__, __LINE__, __VA_ARGS__);     \
        } while (0)

/* node.c */
void node_set_state(struct cb_node *n, enum cb_node_state state, const char *message_id, const char *format, ...)
        __attribute__((format(printf, 4, 5)));
void node_set_last_error(struct cb_node *n, const char *reason);
void node_arm_timer(struct cb_node *n, enum node_timer purpose, usec_t delay);
void node_disarm_timer(struct cb_node *n);
void node_attempt_failed(struct cb_node *n, const char *reason);
void node_give_up(struct cb_node *n, const char *reason);
void node_fresh_boot(struct cb_node *n);
/* Stops the session (its progress is kept in the totals). */
void node_stop_session(struct cb_node *n);
/* The board is on its port: start what its stage calls for (a boot session, or `up` for a gadget). */
void node_resume(struct cb_node *n);
/* A fresh boot of the board on the port, from whatever stage it is in (a second stage is reset first). */
void node_boot_present(struct cb_node *n);
double node_seconds(usec_t u);

/* node-power.c */
/* Power work that keeps the boot from going on (the board comes and goes under it). */
bool node_power_blocks_boot(const struct cb_node *n);
/* Should a board failing while present get a power cycle rather than a reset? */
bool node_power_should_cycle(const struct cb_node *n);
/* The last recovery step: cycle, then count the attempt as failed with `reason`. */
void node_power_recover(struct cb_node *n, const char *reason);
/* A board that stayed away: cycle once per attempt. Returns false if there is nothing to try. */
bool node_power_revive(struct cb_node *n);
void node_power_timer(struct cb_node *n, enum node_timer purpose);
void node_power_device_removed(struct cb_node *n);
void node_power_free(struct cb_node *n);
