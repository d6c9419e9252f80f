/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A small blocking varlink client for clusterbootctl: connect to a UNIX
 * socket, send calls, wait for replies (with a timeout, so that a wedged
 * daemon cannot hang a script forever).
 */

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

struct vl_client;

struct vl_reply {
        struct json_object *root;       /* owns the rest */
        struct json_object *parameters; /* never NULL after a successful receive */
        const char *error;              /* error name, or NULL */
        bool continues;
};

/* No timeout: for Watch, which waits for events as long as it takes. */
#define VL_TIMEOUT_INFINITY UINT64_MAX
/* For every other call: as long as the daemon can possibly need, and not forever. */
#define VL_TIMEOUT_DEFAULT (25ULL * 1000000ULL)
/* Power calls answer when the switch is done: after the node's turn (PowerOnDelaySec= per node before it),
 * PowerSettleSec=, a power command's own timeout. */
#define VL_TIMEOUT_POWER (300ULL * 1000000ULL)

/* Returns 0 or the errno of socket()/connect() (-ENOENT, -ECONNREFUSED, -EACCES, ...). */
/* A connected socket to the daemon at `path` (its private socket when we may use it), or -errno. */
int vl_connect_socket(const char *path);
int vl_client_connect(const char *path, struct vl_client **ret);
/*
 * Runs argv (found in PATH) with its stdin and stdout as the connection:
 * `ssh HOST clusterbootctl bridge`. Returns 0 or a negative errno (the
 * program cannot be run); a far side that is not there shows as -ECONNRESET
 * at the first receive.
 */
int vl_client_connect_command(char *const *argv, struct vl_client **ret);
/* Closes the connection; waits for its command to end. */
struct vl_client *vl_client_free(struct vl_client *c);

/* Sends one call; `parameters` (may be NULL) stays the caller's. */
int vl_client_send(struct vl_client *c, const char *method, struct json_object *parameters, bool more);
/*
 * Waits for the next reply. Returns 0, -ETIMEDOUT, -ECONNRESET (the daemon
 * closed the connection), -EBADMSG (not a varlink reply), -EINTR (a signal
 * arrived: the caller decides whether to stop), or another negative errno.
 */
int vl_client_receive(struct vl_client *c, uint64_t timeout_usec, struct vl_reply *ret);
/*
 * The same, and -EPIPE as soon as `watch_fd` reports an error or a hangup
 * (standard output into a pipe whose reader left: `watch | head -1`), without
 * waiting for the next reply. A reply already received comes first.
 */
int vl_client_receive_watching(struct vl_client *c, uint64_t timeout_usec, int watch_fd, struct vl_reply *ret);
/* Send and receive the one reply. */
int vl_client_call(struct vl_client *c, const char *method, struct json_object *parameters, struct vl_reply *ret);

void vl_reply_done(struct vl_reply *r);
/* The reply's error message ("message" parameter), or NULL. */
const char *vl_reply_message(const struct vl_reply *r);
