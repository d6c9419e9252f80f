/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The control socket: a varlink server (interface io.clusterboot,
 * see clusterboot/varlink.h) on the daemon's sd-event loop. Anyone who can
 * connect may read (GetStatus, Watch); changing methods need the peer to be
 * root or in the group "clusterboot". Every client is bounded (message size,
 * queued output, number of clients), so no client can delay a board.
 *
 * The server reads nodes and acts through `struct cb_control_ops`, not the
 * manager itself: the daemon passes thin wrappers around its manager, the
 * tests pass an in-process cluster of emulated boards.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "node.h"

struct cb_control;
struct cb_gadget_table;

struct cb_control_ops {
        size_t (*n_nodes)(void *userdata);
        struct cb_node *(*node)(void *userdata, size_t i);
        /* by name first, then by port; NULL if none */
        struct cb_node *(*find_node)(void *userdata, const char *name_or_port);
        const struct cb_config *(*config)(void *userdata);
        /* e.g. "4 nodes: 3 up, 1 serving" */
        void (*summary)(void *userdata, char *buf, size_t size);
        /*
         * Re-reads the configuration; 0 or a negative errno (the callee logs why, and puts the
         * messages in `report`, which it initialises and the server frees). NULL: Reload is refused.
         */
        int (*reload)(void *userdata, struct cb_config_report *report);
        /* The Prometheus text (allocated) for GetMetrics; 0 or a negative errno. NULL: not offered. */
        int (*metrics)(void *userdata, char **ret_text);
        /*
         * The boot history for GetHistory: a JSON array (oldest first) of every boot, or of the
         * boots on port `port` (NULL: all); 0 or a negative errno. NULL: not offered.
         */
        int (*history)(void *userdata, const char *port, struct json_object **ret_boots);
        /*
         * What udev told of the booted boards' gadgets (gadget-info.h), for GetStatus with a name;
         * NULL (or a NULL op): nothing known, the lists are empty. Never read from sysfs per call.
         */
        const struct cb_gadget_table *(*gadgets)(void *userdata);
};

/*
 * The limits that keep the socket fair (see control-client.c and control.c).
 * "Privileged" is root or the group clusterboot, as for changing calls.
 */
#define CB_CONTROL_MAX_CLIENTS 128
/* Of those, the slots only privileged peers may take: systemctl reload works whoever floods the socket. */
#define CB_CONTROL_PRIVILEGED_CLIENTS 16
/* Connections and watchers one unprivileged user (uid) may have at once. */
#define CB_CONTROL_MAX_CLIENTS_PER_UID 32
#define CB_CONTROL_MAX_WATCHERS_PER_UID 8
/* Calls of one client answered per wakeup before the loop moves on (to the boards, to other clients). */
#define CB_CONTROL_CALLS_PER_WAKEUP 8
/*
 * A client with this much output queued is not read (no further reply is
 * built for it) until it has taken its replies down to the low-water mark;
 * one whose queue still grows past CB_CONTROL_MAX_OUTPUT (a watcher that does
 * not read its events) is dropped. The high water plus the largest reply (a
 * history: at most 768 KiB) stays below it, so answering never drops anyone.
 */
#define CB_CONTROL_OUTPUT_HIGH_WATER (128u * 1024u)
#define CB_CONTROL_OUTPUT_LOW_WATER (32u * 1024u)
#define CB_CONTROL_MAX_OUTPUT (1024u * 1024u)
/*
 * A client that owes replies it does not take (paused at the high water,
 * or done sending: it shut its side, or its stream was broken) and has
 * taken no byte of them for this long is dropped, so that it cannot hold
 * its slot and its queue for ever.
 */
#define CB_CONTROL_STALL_TIMEOUT_USEC (30 * USEC_PER_SEC)

struct cb_control_settings {
        /* NULL: CB_VL_DEFAULT_SOCKET. Not used when systemd passed a listening socket. */
        const char *socket_path;
        /* 0: the defaults above and CB_VL_REQUEST_MAX (tests make them small) */
        size_t max_clients;
        size_t privileged_clients; /* at most half of max_clients */
        size_t max_clients_per_uid;
        size_t max_watchers_per_uid;
        size_t calls_per_wakeup;
        size_t max_message_size;
        size_t output_high_water, output_low_water;
        size_t max_output_size; /* queued for a client that does not read; beyond it the client is dropped */
        uint64_t stall_timeout; /* usec; CB_CONTROL_STALL_TIMEOUT_USEC */
};

/*
 * Starts listening: on the socket systemd passed (socket activation), else
 * on the path (its parent directories are created, a stale socket replaced;
 * a live one means another daemon runs: -EADDRINUSE). Errors are logged.
 */
int cb_control_new(sd_event *event, const struct cb_control_settings *settings, const struct cb_control_ops *ops,
                   void *userdata, struct cb_control **ret);
/* Drops every client, closes the socket and removes it if it created it. */
struct cb_control *cb_control_free(struct cb_control *c);

/*
 * Tells watchers that a node changed. Shaped as the manager's listener:
 * cb_manager_set_listener(manager, cb_control_node_changed, control).
 */
void cb_control_node_changed(struct cb_node *node, void *userdata);

size_t cb_control_n_clients(const struct cb_control *c);

/*
 * Looks the group clusterboot up again (cb_control_new() did once), for a
 * reload: a group made or changed since takes effect. The user database may
 * be slow (LDAP, sssd), so this is done once per reload, never per client.
 */
void cb_control_reload_group(struct cb_control *c);

/* ---- pieces exposed for the unit tests ---- */

/* Who is on the other end of a connection (SO_PEERCRED, SO_PEERGROUPS). */
struct cb_peer {
        pid_t pid;
        uid_t uid;
        gid_t gid;            /* primary */
        const gid_t *groups;  /* supplementary */
        size_t n_groups;
};

/* May this peer call changing methods? `group` is the control group's gid, NULL if the group does not exist. */
bool cb_control_peer_may_change(const struct cb_peer *peer, const gid_t *group);
/*
 * A peer's supplementary groups where the kernel does not tell them
 * (SO_PEERGROUPS, Linux 4.13): the "Groups:" line of PROC/PID/status
 * (`proc` NULL: /proc), a read of procfs that never waits on the user
 * database. -ESRCH if the process there is not of `uid` (the pid was
 * reused); 0 and an array the caller frees, or a negative errno.
 */
int cb_control_peer_groups_from_proc(const char *proc, pid_t pid, uid_t uid, gid_t **ret, size_t *ret_n);

/*
 * A node as the protocol shows it (clusterboot/varlink.h fields). Timestamps
 * are converted from CLOCK_MONOTONIC to CLOCK_REALTIME with the given
 * "now" pair. With `with_events`, the node's recent history is included
 * (the server adds its gadget then, from cb_control_ops.gadgets).
 */
int cb_control_node_json(const struct cb_node *node, const struct cb_config *config, bool with_events,
                         uint64_t now_monotonic, uint64_t now_realtime, struct json_object **ret);
