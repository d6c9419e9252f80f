/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Shared by the pieces of the control server: control.c (the server and its
 * listening socket), control-client.c (connections: reading, framing,
 * queued output), control-reply.c (replies and parameters),
 * control-methods.c (the methods and the dispatch of a call),
 * control-power.c (power calls answered later) and control-watch.c (events
 * for watchers). Nothing outside these files includes it.
 */

#include <inttypes.h>
#include <sys/socket.h>
#include <time.h>

#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "control.h"
#include "event-priority.h"
#include "json-util.h"
#include "log.h"
#include "log-ratelimit.h"
#include "util.h"

struct client {
        struct cb_control *control;
        struct client *prev, *next;
        uint64_t id;
        int fd;
        sd_event_source *io;
        sd_event_source *backlog; /* calls read but not answered yet (over the budget): go on next iteration */
        sd_event_source *stall;   /* it owes replies and takes none (client_stalled()): dropped when it fires */

        struct ucred cred;
        gid_t *groups;
        size_t n_groups;
        bool privileged;   /* root or the control group, at connect: the slots and caps below spare it */
        bool private_socket; /* came through the private socket: served above the boards, never raised */
        bool raised;       /* its sources were raised for one turn after the boards starved the socket */

        struct cb_msgbuf in;
        char *out;
        size_t out_start, out_end, out_allocated;

        usec_t last_active;    /* CLOCK_MONOTONIC of the connect or the last call */
        usec_t stalled_since;  /* CLOCK_MONOTONIC: it became stalled, or last took a byte while stalled; 0: not */
        bool watching;         /* a Watch runs: no further calls are read (varlink queues them) */
        bool input_closed;     /* EOF: answer what was asked, then close */
        bool drop_after_flush; /* the stream is broken (garbage, oversize): send the error, then close */
        bool output_paused;    /* over the output high water: not read until it takes its replies */
        bool dead;
        unsigned busy;         /* inside one of its callbacks: freeing waits for the callback to end */
        unsigned waiting;      /* calls answered later (power): no further call is read until then */
};

struct pending_power; /* control-power.c */
struct seen_node;     /* control-watch.c */

struct cb_control {
        sd_event *event;
        const struct cb_control_ops *ops;
        void *userdata;

        int listen_fd;
        sd_event_source *listen_source;
        sd_event_source *accept_pause;
        bool listen_raised;
        int reserve_fd; /* held open so that, out of descriptors, a connection can still be taken and judged */

        /* a socket starved by busy boards still gets a turn now and then (control.c, "turns") */
        sd_event_source *busy_post, *turn_timer;
        usec_t last_turn;
        uint64_t armed_iteration, next_turn_id;
        char *socket_path;
        bool socket_owned; /* we bound it: remove it at exit */
        /* root's and the group's own socket (control.c, listen_private()); bound by the daemon, removed at exit */
        int private_fd;
        sd_event_source *private_source;
        char *private_path;

        size_t max_clients, privileged_clients, max_clients_per_uid, max_watchers_per_uid;
        size_t calls_per_wakeup, max_message_size, output_high_water, output_low_water, max_output_size;
        usec_t stall_timeout;

        struct client *clients; /* most recent first */
        size_t n_clients, n_watchers, n_privileged;
        uint64_t next_client_id;

        /* the control group's gid: looked up at start and at reload, never for a connection */
        gid_t group;
        bool group_exists;

        struct seen_node *seen;
        size_t n_seen;

        struct pending_power *pending;

        /*
         * What a connection hands up to the layers above it, set by control.c:
         * a call (control-methods.c), or a message that is none (control-reply.c).
         */
        int (*dispatch)(struct client *cl, const char *text, size_t size);
        int (*reject)(struct client *cl, const char *why);

        usec_t started_realtime, started_monotonic;
        struct cb_log_ratelimit refuse_ratelimit; /* lines about refused connections (log-ratelimit.h) */
};

/* An incoming call being answered. */
struct call {
        struct client *client;
        const char *method;
        bool more;
        bool oneway;
};

static inline usec_t realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static inline const struct cb_config *current_config(struct cb_control *c) {
        return c->ops->config ? c->ops->config(c->userdata) : NULL;
}

#define client_log(prio, cl, fmt, ...)                                                                   \
        cb_log((prio), 0, NULL, "control: client %" PRIu64 " (pid %d, uid %u): " fmt, (cl)->id,          \
               (int) (cl)->cred.pid, (unsigned) (cl)->cred.uid, __VA_ARGS__)

static inline size_t client_pending_output(const struct client *cl) {
        return cl->out_end - cl->out_start;
}

/* ---- control-table.c ---- */

/* The connections (watchers) of this uid. */
size_t uid_clients(struct cb_control *c, uid_t uid);
size_t uid_watchers(struct cb_control *c, uid_t uid);
/* Looks the control group up in the user database (at start and reload only: NSS may block). */
void control_lookup_group(struct cb_control *c);
/* The control group's gid as last looked up; NULL if there is no such group. No lookup. */
const gid_t *control_group(const struct cb_control *c);
/* Every control callback calls this first: the socket had its turn (and a raised source goes back down). */
void control_took_turn(struct cb_control *c, sd_event_source *s, bool *raised);

/* control-listen.c: the listening sockets as files */
int control_listen_on_path(const char *path, mode_t mode, const gid_t *group, int *ret_fd);
int control_take_activation_socket(int *ret_fd, char **ret_path);

/* ---- control-client.c ---- */

void client_took_turn(struct client *cl);

/*
 * Takes the connection `fd` (closes it on failure): who it is, in the table,
 * watched. Returns 0 or a negative errno (logged).
 */
int client_new(struct cb_control *c, int fd, struct client **ret);
void client_free(struct client *cl);
void client_drop(struct client *cl);
bool client_settle(struct client *cl);
int client_queue(struct client *cl, const char *data, size_t size);
int client_queue_json(struct client *cl, struct json_object *message);
/* Answers the calls received so far, within the per-wakeup budget (see control-client.c). */
void client_serve(struct client *cl);
/* A turn for a client just accepted (its call may be there already); it may be freed. */
void client_serve_at_once(struct client *cl);
/* Nothing asked and nothing owed: no call read or waiting in its socket, no output, not watching. */
bool client_idle(struct client *cl);
/* The live client with this id; NULL if it hung up. */
struct client *find_client(struct cb_control *c, uint64_t id);
bool client_may_change(struct client *cl);

/* ---- control-reply.c ---- */

/* A message that is not a call: says why, then the client is closed. */
int reject_message(struct client *cl, const char *why);

int reply_full(struct call *call, const char *error, struct json_object *parameters, bool continues);
int reply(struct call *call, struct json_object *parameters);
__attribute__((format(printf, 4, 5))) int reply_error(struct call *call, const char *error, const char *name,
                                                      const char *format, ...);
int reply_service_error(struct call *call, const char *error, const char *field, const char *value);
int reply_service_error_len(struct call *call, const char *error, const char *field, const char *value,
                            size_t value_len);
int reply_invalid_parameter(struct call *call, const char *parameter);
int check_parameters(struct call *call, struct json_object *params, const char *const *allowed);
int param_node(struct call *call, struct json_object *params, bool required, struct cb_node **ret);

/* ---- control-methods.c ---- */

/* One complete message from a client: parses it, runs the method. Returns 0 (answered) or a negative errno. */
int handle_message(struct client *cl, const char *text, size_t size);

/* ---- control-power.c ---- */

int method_power(struct call *call, struct json_object *params);
/* The server goes: the power calls still pending are answered to nobody. */
void pending_power_detach_all(struct cb_control *c);
