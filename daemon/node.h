/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A node: one board, keyed by its USB port, across all its re-enumerations
 * and reboots. The node is one state machine (its state is what a user
 * sees, clusterboot/node-state.h); it owns the boot attempt and its
 * recovery: it starts a session for each stage the board shows up in, and
 * when one cannot go on it decides what comes next (see "How a retry
 * flows" in the README). Where the board is (which device, which stage) is
 * told to it by the manager; the node never looks at the bus itself.
 */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "bootproto.h"
#include "clusterboot/node-state.h"
#include "config.h"
#include "transport.h"

struct cb_file_cache;
struct cb_node;
struct cb_power;
struct cb_power_queue;

/* What the node knows of a device present on its port. */
struct cb_node_device {
        enum cb_stage stage;
        uint16_t vid, pid;
        const char *serial; /* the device's serial string, or NULL; valid during cb_node_device_added() */
        struct cb_transport transport; /* valid until cb_node_device_removed() */
};

/* What the node hears back through; one set per owner (the manager, or a test). */
struct cb_node_callbacks {
        /* After every state change (and progress worth telling); may be NULL. */
        void (*changed)(struct cb_node *node, void *userdata);
        /* A user powered the node off (true) or on (false): keep it across restarts; may be NULL. */
        void (*power_requested)(struct cb_node *node, bool off, void *userdata);
        /* A boot's session ended after the board sent properties (cb_node_get_metadata()); may be NULL. */
        void (*board_described)(struct cb_node *node, void *userdata);
        void *userdata;
};

/* What the node needs from its owner; one per daemon (or test). */
struct cb_node_env {
        sd_event *event;
        const struct cb_config *config; /* the owner swaps it on reload */
        struct cb_file_cache *cache;
        /* Every power-on waits for its turn here (PowerOnDelaySec=); NULL: at once. */
        struct cb_power_queue *power_queue;
        struct cb_node_callbacks callbacks;
};

/* A node's history entry (kept in a small ring for `status NODE`). */
#define CB_NODE_EVENTS_MAX 32
#define CB_NODE_EVENT_MESSAGE_MAX 240
struct cb_node_event {
        uint64_t realtime_usec;
        enum cb_node_state state;
        unsigned attempt;
        char message[CB_NODE_EVENT_MESSAGE_MAX]; /* cut on a character boundary, ending in "…" when cut */
};

int cb_node_new(const struct cb_node_env *env, const char *name, const char *port, bool configured,
                struct cb_node **ret);
struct cb_node *cb_node_free(struct cb_node *node);

/* A device appeared on the node's port (a ROM, a second stage, or anything else). */
void cb_node_device_added(struct cb_node *node, const struct cb_node_device *device);
/* The device left the port. The node stops using its transport at once. */
void cb_node_device_removed(struct cb_node *node);
/*
 * A device is on the node's port but could not be opened (`error`, a
 * negative errno): the node stays without a device, and says why in its
 * last error and its events. The next add event of the port tries again.
 */
void cb_node_device_unusable(struct cb_node *node, const char *devnode, int error);

/*
 * Starts the node's boot again with a fresh attempt count (a failed node, or
 * one that needs power and was power-cycled by hand). Fails with
 *   -EALREADY   the node is up (reboot it instead)
 *   -EHOSTDOWN  the node is powered off
 *   -EBUSY      a boot or a power operation is in progress
 */
int cb_node_retry(struct cb_node *node);

/*
 * The daemon is stopping: the node starts nothing more, and a file in
 * flight is finished so the board is not left waiting for its bytes (a
 * reset cannot bring it back). Returns 1 if the node is already still,
 * 0 if `drained` will be called (once); the node must not be freed before
 * unless the caller gives up waiting.
 */
int cb_node_drain(struct cb_node *node, void (*drained)(void *userdata), void *userdata);

/*
 * Power. The node owns its backend (NULL: Power=none); it is replaced only
 * while no power operation runs (-EBUSY otherwise).
 */
int cb_node_set_power(struct cb_node *node, struct cb_power *power);
bool cb_node_has_power(const struct cb_node *node);

enum cb_node_power_action {
        CB_NODE_POWER_OFF,    /* off and verified; the node stays `off` (not booted) until powered on */
        CB_NODE_POWER_ON,     /* waits for its turn, switches on; an `off` node then boots afresh */
        CB_NODE_REBOOT,       /* off, PowerSettleSec=, on; then a fresh boot (attempt 1) */
        _CB_NODE_POWER_ACTION_MAX,
};
/* `message`: on failure, one sentence for people; valid during the call only. */
typedef void (*cb_node_power_done_t)(void *userdata, int result, const char *message);
/*
 * Starts a power action asked for by a user. Returns 0 and later calls
 * `done` once (from the loop), or fails at once with
 *   -EOPNOTSUPP  no power backend (Power=none)
 *   -EHOSTDOWN   reboot of a node that is off
 *   -EBUSY       the node is being reset, or a power operation runs and
 *                another one already waits to follow it (one may wait)
 * `done` gets -ECANCELED if the node is freed first.
 */
int cb_node_power(struct cb_node *node, enum cb_node_power_action action, cb_node_power_done_t done,
                  void *userdata);
/*
 * At daemon start, before any device is reported: a node that was left
 * powered off is switched off again and stays `off`; any other node with a
 * backend is switched on in its turn (already-on ports are left as they are).
 */
void cb_node_power_at_start(struct cb_node *node, bool was_off);

/* A reload renamed the node's section, or removed it (configured false: the node is then known by its port). */
int cb_node_set_identity(struct cb_node *node, const char *name, bool configured);

const char *cb_node_name(const struct cb_node *node);
const char *cb_node_port(const struct cb_node *node);
bool cb_node_configured(const struct cb_node *node);
/*
 * A node named by Serial= follows its board: `port` is where the board
 * showing `serial` is now. Called by the manager before it hands the node
 * the board's device on that port.
 */
int cb_node_follow_board(struct cb_node *node, const char *port, const char *serial);
/* The node's [Node] section in the configuration in force, or NULL for a node known by its port alone. */
const struct cb_node_config *cb_node_section(const struct cb_node *node);
enum cb_node_state cb_node_state(const struct cb_node *node);
unsigned cb_node_attempt(const struct cb_node *node);
const char *cb_node_last_error(const struct cb_node *node);
bool cb_node_device_present(const struct cb_node *node);

/* What the node last knew of its power: told by its switch, or unknown (no switch, or never switched). */
enum cb_node_powered {
        CB_NODE_POWERED_UNKNOWN,
        CB_NODE_POWERED_ON,
        CB_NODE_POWERED_OFF,
};

struct cb_node_status {
        enum cb_node_state state;
        unsigned attempt;
        const char *last_error;    /* NULL if none */
        const char *current_file;  /* NULL if none */
        uint64_t current_offset, current_size;
        uint64_t bytes_served;     /* this boot, all stages and attempts */
        unsigned files_served;
        unsigned step_retries;     /* this boot */
        unsigned resets;           /* this boot */
        unsigned power_cycles;     /* this boot, by recovery */
        enum cb_node_powered powered;
        uint64_t boot_started_usec;   /* CLOCK_MONOTONIC, 0 if no boot runs (or none has started on a board yet) */
        uint64_t up_since_usec;       /* CLOCK_MONOTONIC, 0 if not up */
        uint64_t last_boot_duration_usec; /* first ROM to up, last successful boot */
        unsigned boots;            /* successful boots since the daemon started */
        unsigned n_events;
};
void cb_node_get_status(const struct cb_node *node, struct cb_node_status *ret);
struct cb_node_metadata;
/* The board's SoC serial and the properties it sent in its last boot (node-metadata.h). */
const struct cb_node_metadata *cb_node_get_metadata(const struct cb_node *node);
const struct cb_node_event *cb_node_event_at(const struct cb_node *node, unsigned i); /* 0 = oldest */
