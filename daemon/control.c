/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "control.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include <json-c/json_object_iterator.h>
#include <systemd/sd-daemon.h>

#include "cb-build-config.h"
#include "clusterboot/varlink.h"
#include "control-interface.h"
#include "json-util.h"
#include "log.h"

/* Reads per wake-up of one client: a client streaming calls cannot keep the loop to itself. */
#define READ_CHUNK (16u * 1024u)
#define READS_PER_WAKEUP 4
/* After accept() ran out of file descriptors: try again this much later instead of spinning. */
#define ACCEPT_PAUSE_USEC (250 * USEC_PER_MSEC)
/* At most this many log lines of one kind of refusal per interval, so that a flood cannot flood the journal. */
#define RATELIMIT_INTERVAL_USEC (10 * USEC_PER_SEC)
#define RATELIMIT_BURST 5

struct ratelimit {
        usec_t begin;
        unsigned n;
        unsigned suppressed;
};

struct client {
        struct cb_control *control;
        struct client *prev, *next;
        uint64_t id;
        int fd;
        sd_event_source *io;

        struct ucred cred;
        gid_t *groups;
        size_t n_groups;
        bool groups_known; /* SO_PEERGROUPS answered; else the user database is asked */

        struct cb_msgbuf in;
        char *out;
        size_t out_start, out_end, out_allocated;

        usec_t last_active;    /* CLOCK_MONOTONIC of the connect or the last call */
        bool watching;         /* a Watch runs: no further calls are read (varlink queues them) */
        bool input_closed;     /* EOF: answer what was asked, then close */
        bool drop_after_flush; /* the stream is broken (garbage, oversize): send the error, then close */
        bool dead;
        unsigned busy;         /* inside one of its callbacks: freeing waits for the callback to end */
        unsigned waiting;      /* calls answered later (power): no further call is read until then */
};

/*
 * A power call whose answer comes when the switch is done. It outlives its
 * client (who may hang up) and the server (the node still calls back when
 * it is freed at exit): whichever goes first unhooks it.
 */
struct pending_power {
        struct cb_control *control; /* NULL once the server is gone */
        struct pending_power *prev, *next;
        uint64_t client_id;
        bool oneway;
        const char *method;
        char name[128];
        /* the node answered while the call was still being made */
        bool in_call, finished;
        int result;
        char *message;
};

/* What the last change notification of a node looked like, to tell a transition from progress. */
struct seen_node {
        const struct cb_node *node;
        const struct cb_node_event *last_event;
        uint64_t last_event_usec;
};

struct cb_control {
        sd_event *event;
        const struct cb_control_ops *ops;
        void *userdata;

        int listen_fd;
        sd_event_source *listen_source;
        sd_event_source *accept_pause;
        char *socket_path;
        bool socket_owned; /* we bound it: remove it at exit */

        size_t max_clients, max_message_size, max_output_size;

        struct client *clients; /* most recent first */
        size_t n_clients, n_watchers;
        uint64_t next_client_id;

        struct seen_node *seen;
        size_t n_seen;

        struct pending_power *pending;

        usec_t started_realtime, started_monotonic;
        struct ratelimit refuse_ratelimit;
};

/* An incoming call being answered. */
struct call {
        struct client *client;
        const char *method;
        bool more;
        bool oneway;
};

static usec_t realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static bool ratelimit_pass(struct ratelimit *rl) {
        usec_t now = now_usec();

        if (rl->begin == 0 || now - rl->begin >= RATELIMIT_INTERVAL_USEC) {
                if (rl->suppressed > 0)
                        log_warning("control: %u similar message%s suppressed", rl->suppressed,
                                    rl->suppressed == 1 ? "" : "s");
                *rl = (struct ratelimit){ .begin = now };
        }
        if (rl->n < RATELIMIT_BURST) {
                rl->n++;
                return true;
        }
        rl->suppressed++;
        return false;
}

/* ---- permission ---- */

static bool client_may_change(struct client *c) {
        struct cb_peer peer = {
                .pid = c->cred.pid,
                .uid = c->cred.uid,
                .gid = c->cred.gid,
                .groups = c->groups,
                .n_groups = c->n_groups,
        };
        return cb_control_peer_may_change_now(&peer, c->groups_known);
}

/* ---- status as JSON (one node: control-json.c) ---- */

static const struct cb_config *current_config(struct cb_control *c) {
        return c->ops->config ? c->ops->config(c->userdata) : NULL;
}

/* All nodes (or the one given) as a JSON array. */
static int nodes_json(struct cb_control *c, const struct cb_node *only, bool with_events, struct json_object **ret) {
        _cleanup_json_ struct json_object *a = json_object_new_array();
        const struct cb_config *config = current_config(c);
        usec_t mono = now_usec(), real = realtime_usec();
        size_t n = only ? 1 : c->ops->n_nodes(c->userdata);

        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const struct cb_node *node = only ? only : c->ops->node(c->userdata, i);
                struct json_object *o = NULL;
                int r;

                if (!node)
                        continue;
                r = cb_control_node_json(node, config, with_events, mono, real, &o);
                if (r < 0)
                        return r;
                if (json_object_array_add(a, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(a);
        return 0;
}

static int daemon_json(struct cb_control *c, struct json_object **ret) {
        _cleanup_json_ struct json_object *o = json_object_new_object();
        const struct cb_config *config = current_config(c);
        char summary[256] = "";

        if (!o)
                return -ENOMEM;
        if (c->ops->summary)
                c->ops->summary(c->userdata, summary, sizeof summary);
        if (cb_json_add_string(o, CB_VL_FIELD_VERSION, CB_VERSION) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_PID, (uint64_t) getpid()) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_SUMMARY, summary) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_CONFIG_PATH, config ? config->path : NULL) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_BOOT_DIRECTORY, config ? config->boot_directory : NULL) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_SOCKET_PATH, c->socket_path) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_STARTED_USEC, c->started_realtime) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_UPTIME_USEC, now_usec() - c->started_monotonic) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_N_CLIENTS, c->n_clients) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* ---- clients: life cycle and output ---- */

static void client_free(struct client *cl) {
        struct cb_control *c = cl->control;

        if (cl->prev)
                cl->prev->next = cl->next;
        else
                c->clients = cl->next;
        if (cl->next)
                cl->next->prev = cl->prev;
        c->n_clients--;
        if (cl->watching)
                c->n_watchers--;
        /* unref detaches the fd from epoll even while its own callback runs, so closing after it is safe */
        sd_event_source_disable_unref(cl->io);
        if (cl->fd >= 0)
                close(cl->fd);
        cb_msgbuf_done(&cl->in);
        free(cl->out);
        free(cl->groups);
        free(cl);
}

/*
 * Ends a client. Inside one of its own callbacks the memory stays until the
 * callback ends (the caller may still look at it); the socket goes at once.
 */
static void client_drop(struct client *cl) {
        if (cl->dead)
                return;
        cl->dead = true;
        if (cl->busy == 0)
                client_free(cl);
        else
                (void) sd_event_source_set_enabled(cl->io, SD_EVENT_OFF);
}

#define client_log(prio, cl, fmt, ...)                                                                   \
        cb_log((prio), 0, NULL, "control: client %" PRIu64 " (pid %d, uid %u): " fmt, (cl)->id,          \
               (int) (cl)->cred.pid, (unsigned) (cl)->cred.uid, __VA_ARGS__)

static size_t client_pending_output(const struct client *cl) {
        return cl->out_end - cl->out_start;
}

static bool client_reads(const struct client *cl) {
        return !cl->watching && !cl->input_closed && !cl->drop_after_flush && cl->waiting == 0;
}

/* Sends what is queued, as far as the socket takes it. Returns 0 or a negative errno (the peer is gone). */
static int client_flush(struct client *cl) {
        while (cl->out_start < cl->out_end) {
                ssize_t n = send(cl->fd, cl->out + cl->out_start, cl->out_end - cl->out_start,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }
                cl->out_start += (size_t) n;
        }
        if (cl->out_start == cl->out_end)
                cl->out_start = cl->out_end = 0;
        return 0;
}

/*
 * After anything happened to a client: flush, then decide whether it lives
 * on (and what to wait for) or is done. Returns false if it was dropped.
 */
static bool client_settle(struct client *cl) {
        uint32_t events;
        int r;

        if (cl->dead)
                return false;
        r = client_flush(cl);
        if (r < 0) {
                client_log(LOG_DEBUG, cl, "gone while being answered (%s)", strerror(-r));
                client_drop(cl);
                return false;
        }
        if (client_pending_output(cl) > cl->control->max_output_size) {
                client_log(LOG_WARNING, cl, "not reading its replies (%zu bytes queued); dropping it",
                           client_pending_output(cl));
                client_drop(cl);
                return false;
        }
        if (client_pending_output(cl) == 0 && cl->waiting == 0 && (cl->input_closed || cl->drop_after_flush)) {
                client_log(LOG_DEBUG, cl, "%s", "done");
                client_drop(cl);
                return false;
        }
        /* A watcher waits for nothing but room to write; its hangup still arrives as EPOLLHUP. */
        events = (client_reads(cl) ? EPOLLIN : 0) | (client_pending_output(cl) > 0 ? EPOLLOUT : 0);
        r = sd_event_source_set_io_events(cl->io, events);
        if (r < 0) {
                client_log(LOG_WARNING, cl, "cannot wait for it: %s", strerror(-r));
                client_drop(cl);
                return false;
        }
        return true;
}

static int client_queue(struct client *cl, const char *data, size_t size) {
        /* the NUL that ends a varlink message */
        size_t need = size + 1;

        if (cl->out_allocated - cl->out_end < need && cl->out_start > 0) {
                memmove(cl->out, cl->out + cl->out_start, cl->out_end - cl->out_start);
                cl->out_end -= cl->out_start;
                cl->out_start = 0;
        }
        if (cl->out_allocated - cl->out_end < need) {
                size_t n = cl->out_allocated ? cl->out_allocated : 4096;
                char *p;

                while (n - cl->out_end < need)
                        n *= 2;
                p = realloc(cl->out, n);
                if (!p)
                        return -ENOMEM;
                cl->out = p;
                cl->out_allocated = n;
        }
        memcpy(cl->out + cl->out_end, data, size);
        cl->out[cl->out_end + size] = '\0';
        cl->out_end += need;
        return 0;
}

static int client_queue_json(struct client *cl, struct json_object *message) {
        size_t size = 0;
        const char *s = cb_json_to_string(message, &size);

        if (!s)
                return -ENOMEM;
        return client_queue(cl, s, size);
}

/* ---- replies ---- */

/* Takes ownership of `parameters` (NULL: empty). */
static int reply_full(struct call *call, const char *error, struct json_object *parameters, bool continues) {
        _cleanup_json_ struct json_object *params = parameters;
        _cleanup_json_ struct json_object *m = NULL;

        if (call->oneway)
                return 0;
        if (!params)
                params = json_object_new_object();
        m = json_object_new_object();
        if (!m || !params)
                return -ENOMEM;
        if ((error && cb_json_add_string(m, CB_VL_KEY_ERROR, error) < 0) ||
            cb_json_add(m, CB_VL_KEY_PARAMETERS, TAKE_PTR(params)) < 0 ||
            (continues && cb_json_add_bool(m, CB_VL_KEY_CONTINUES, true) < 0))
                return -ENOMEM;
        return client_queue_json(call->client, m);
}

static int reply(struct call *call, struct json_object *parameters) {
        return reply_full(call, NULL, parameters, false);
}

/* An io.clusterboot error: always with a one-line message for people; `name` added when given. */
__attribute__((format(printf, 4, 5))) static int reply_error(struct call *call, const char *error, const char *name,
                                                             const char *format, ...) {
        struct json_object *p = json_object_new_object();
        char message[512];
        va_list ap;

        if (!p)
                return -ENOMEM;
        va_start(ap, format);
        vsnprintf(message, sizeof message, format, ap);
        va_end(ap);
        if ((name && cb_json_add_string(p, CB_VL_FIELD_NAME, name) < 0) ||
            cb_json_add_string(p, CB_VL_FIELD_MESSAGE, message) < 0) {
                json_object_put(p);
                return -ENOMEM;
        }
        return reply_full(call, error, p, false);
}

/* A varlink service error with its one standard field. */
static int reply_service_error(struct call *call, const char *error, const char *field, const char *value) {
        struct json_object *p = json_object_new_object();

        if (!p)
                return -ENOMEM;
        if (field && cb_json_add_string(p, field, value) < 0) {
                json_object_put(p);
                return -ENOMEM;
        }
        return reply_full(call, error, p, false);
}

static int reply_invalid_parameter(struct call *call, const char *parameter) {
        return reply_service_error(call, CB_VL_ERROR_SERVICE_INVALID_PARAMETER, CB_VL_FIELD_PARAMETER, parameter);
}

/* ---- parameters ---- */

/* Refuses keys a method does not know: a typo must not silently mean "all nodes". */
static int check_parameters(struct call *call, struct json_object *params, const char *const *allowed) {
        struct json_object_iterator it = json_object_iter_begin(params), end = json_object_iter_end(params);

        for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
                const char *key = json_object_iter_peek_name(&it);
                bool ok = false;

                for (size_t i = 0; allowed && allowed[i]; i++)
                        if (strcmp(key, allowed[i]) == 0)
                                ok = true;
                if (!ok) {
                        int r = reply_invalid_parameter(call, key);
                        return r < 0 ? r : -EINVAL;
                }
        }
        return 0;
}

/* The node named by the "name" parameter. Replies (and returns -EINVAL/-ENOENT) when there is none. */
static int param_node(struct call *call, struct json_object *params, bool required, struct cb_node **ret) {
        struct cb_control *c = call->client->control;
        const char *name = NULL;
        int r;

        r = cb_json_get_string(params, CB_VL_FIELD_NAME, &name);
        if (r < 0 || (r == 0 && required) || (r > 0 && name[0] == '\0')) {
                r = reply_invalid_parameter(call, CB_VL_FIELD_NAME);
                return r < 0 ? r : -EINVAL;
        }
        if (r == 0) {
                *ret = NULL;
                return 0;
        }
        *ret = c->ops->find_node(c->userdata, name);
        if (!*ret) {
                r = reply_error(call, CB_VL_ERROR_NO_SUCH_NODE, name, "no node called '%s'", name);
                return r < 0 ? r : -ENOENT;
        }
        return 0;
}

/* ---- methods ---- */

static const char *const params_none[] = { NULL };
static const char *const params_name[] = { CB_VL_FIELD_NAME, NULL };
static const char *const params_interface[] = { CB_VL_FIELD_INTERFACE, NULL };

static int method_get_status(struct call *call, struct json_object *params) {
        struct cb_control *c = call->client->control;
        _cleanup_json_ struct json_object *p = json_object_new_object();
        struct json_object *daemon = NULL, *nodes = NULL;
        struct cb_node *node = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = param_node(call, params, false, &node);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        r = daemon_json(c, &daemon);
        if (r < 0)
                return r;
        r = cb_json_add(p, CB_VL_FIELD_DAEMON, daemon);
        if (r < 0)
                return r;
        /* the history only for one node: every node's 32 events would make the table's reply large for nothing */
        r = nodes_json(c, node, node != NULL, &nodes);
        if (r < 0)
                return r;
        r = cb_json_add(p, CB_VL_FIELD_NODES, nodes);
        if (r < 0)
                return r;
        return reply(call, TAKE_PTR(p));
}

static int method_watch(struct call *call, struct json_object *params) {
        struct client *cl = call->client;
        _cleanup_json_ struct json_object *p = NULL;
        struct json_object *nodes = NULL;
        int r;

        if (!call->more)
                return reply_service_error(call, CB_VL_ERROR_EXPECTED_MORE, NULL, NULL);
        if (call->oneway)
                return 0; /* a stream nobody reads */
        p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        r = nodes_json(cl->control, NULL, false, &nodes);
        if (r < 0)
                return r;
        r = cb_json_add(p, CB_VL_FIELD_NODES, nodes);
        if (r < 0)
                return r;
        r = reply_full(call, NULL, TAKE_PTR(p), true);
        if (r < 0)
                return r;
        cl->watching = true;
        cl->control->n_watchers++;
        client_log(LOG_DEBUG, cl, "%s", "watching");
        return 0;
}

static void client_process(struct client *cl);

static struct client *find_client(struct cb_control *c, uint64_t id) {
        for (struct client *cl = c->clients; cl; cl = cl->next)
                if (cl->id == id)
                        return cl->dead ? NULL : cl;
        return NULL;
}

static void pending_free(struct pending_power *p) {
        if (p->control) {
                if (p->prev)
                        p->prev->next = p->next;
                else
                        p->control->pending = p->next;
                if (p->next)
                        p->next->prev = p->prev;
        }
        free(p->message);
        free(p);
}

static int answer_power(struct call *call, const char *name, int result, const char *message) {
        if (result >= 0)
                return reply(call, NULL);
        if (result == -ECANCELED)
                return reply_error(call, CB_VL_ERROR_POWER_FAILED, name, "%s: cancelled: %s", name,
                                   message ? message : "the daemon is shutting down");
        return reply_error(call, CB_VL_ERROR_POWER_FAILED, name, "%s: %s", name,
                           message ? message : strerror(-result));
}

/* The node finished a power call: answer the client (if it is still there), then read its next calls. */
static void power_done(void *userdata, int result, const char *message) {
        struct pending_power *p = userdata;
        struct client *cl;
        int r;

        if (p->in_call) {
                p->finished = true;
                p->result = result;
                (void) strdup_to(&p->message, message);
                return;
        }
        cl = p->control ? find_client(p->control, p->client_id) : NULL;
        if (!cl) {
                pending_free(p);
                return;
        }
        cl->busy++;
        cl->waiting--;
        struct call call = { .client = cl, .method = p->method, .oneway = p->oneway };
        r = answer_power(&call, p->name, result, message);
        pending_free(p);
        if (r < 0) {
                client_log(LOG_WARNING, cl, "cannot answer: %s; dropping it", strerror(-r));
                client_drop(cl);
        } else {
                client_process(cl);
        }
        cl->busy--;
        if (cl->dead) {
                client_free(cl);
                return;
        }
        (void) client_settle(cl);
}

/* Reboot, PowerOn, PowerOff: answered when the switch is done (power_done). */
static int method_power(struct call *call, struct json_object *params) {
        struct cb_control *c = call->client->control;
        struct cb_node *node = NULL;
        enum cb_node_power_action action;
        struct pending_power *p;
        char name[128];
        int r;

        r = param_node(call, params, true, &node);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        snprintf(name, sizeof name, "%s", cb_node_name(node));
        if (strcmp(call->method, CB_VL_METHOD_REBOOT) == 0)
                action = CB_NODE_REBOOT;
        else if (strcmp(call->method, CB_VL_METHOD_POWER_ON) == 0)
                action = CB_NODE_POWER_ON;
        else
                action = CB_NODE_POWER_OFF;

        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        *p = (struct pending_power){
                .control = c,
                .next = c->pending,
                .client_id = call->client->id,
                .oneway = call->oneway,
                .method = call->method,
                .in_call = true,
        };
        snprintf(p->name, sizeof p->name, "%s", name);
        if (c->pending)
                c->pending->prev = p;
        c->pending = p;

        r = cb_node_power(node, action, power_done, p);
        p->in_call = false;
        if (r < 0) {
                pending_free(p);
                if (r == -EOPNOTSUPP) {
                        if (!cb_config_find_node_by_port(current_config(c), cb_node_port(node)))
                                return reply_error(call, CB_VL_ERROR_NO_POWER_CONTROL, name,
                                                   "%s has no power control: it has no [Node] section; add one with "
                                                   "Port=%s and Power=usb-hub or Power=command",
                                                   name, cb_node_port(node));
                        return reply_error(call, CB_VL_ERROR_NO_POWER_CONTROL, name,
                                           "%s has no power control: set Power=usb-hub or Power=command in its "
                                           "[Node %s] section of the configuration",
                                           name, name);
                }
                if (r == -EHOSTDOWN)
                        return reply_error(call, CB_VL_ERROR_NODE_OFF, name,
                                           "%s is powered off; use 'power on' to boot it", name);
                if (r == -EBUSY)
                        return reply_error(call, CB_VL_ERROR_BUSY, name,
                                           "%s: its power is being switched (or it is being reset); try again when "
                                           "that is done", name);
                return reply_error(call, CB_VL_ERROR_POWER_FAILED, name, "%s: %s", name, strerror(-r));
        }
        client_log(LOG_INFO, call->client, "%s of %s requested", call->method + strlen(CB_VL_INTERFACE) + 1, name);
        if (p->finished) {
                r = answer_power(call, name, p->result, p->message);
                pending_free(p);
                return r;
        }
        call->client->waiting++;
        return 0;
}

static int method_retry(struct call *call, struct json_object *params) {
        struct cb_node *node = NULL;
        char name[128];
        int r;

        r = param_node(call, params, true, &node);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        /* the node may log and notify watchers from inside the retry; keep what the reply needs */
        snprintf(name, sizeof name, "%s", cb_node_name(node));
        r = cb_node_retry(node);
        if (r == -EBUSY)
                return reply_error(call, CB_VL_ERROR_BUSY, name, "%s is booting (state %s); nothing to retry", name,
                                   cb_node_state_name(cb_node_state(node)));
        if (r == -EHOSTDOWN)
                return reply_error(call, CB_VL_ERROR_NODE_OFF, name, "%s is powered off; power it on instead", name);
        if (r < 0)
                return reply_error(call, CB_VL_ERROR_BUSY, name, "cannot retry %s: %s", name, strerror(-r));
        client_log(LOG_INFO, call->client, "boot of %s restarted", name);
        return reply(call, NULL);
}

static int method_reload(struct call *call, struct json_object *params) {
        struct cb_control *c = call->client->control;
        int r;

        if (!c->ops->reload)
                return reply_error(call, CB_VL_ERROR_RELOAD_FAILED, NULL, "this daemon cannot reload");
        client_log(LOG_INFO, call->client, "%s", "reload requested");
        r = c->ops->reload(c->userdata);
        if (r < 0)
                return reply_error(call, CB_VL_ERROR_RELOAD_FAILED, NULL,
                                   "the configuration has errors (see the daemon's log); the running one is kept");
        return reply(call, NULL);
}

static int method_get_info(struct call *call, struct json_object *params) {
        _cleanup_json_ struct json_object *p = json_object_new_object();
        struct json_object *ifaces = json_object_new_array();

        if (!p || cb_json_add(p, CB_VL_FIELD_INTERFACES, ifaces) < 0)
                return -ENOMEM;
        if (json_object_array_add(ifaces, json_object_new_string(CB_VL_SERVICE_INTERFACE)) < 0 ||
            json_object_array_add(ifaces, json_object_new_string(CB_VL_INTERFACE)) < 0 ||
            json_object_array_add(ifaces, json_object_new_string(CB_VL_ERROR_INTERFACE)) < 0 ||
            cb_json_add_string(p, CB_VL_FIELD_VENDOR, "clusterboot") < 0 ||
            cb_json_add_string(p, CB_VL_FIELD_PRODUCT, "clusterboot") < 0 ||
            cb_json_add_string(p, CB_VL_FIELD_VERSION, CB_VERSION) < 0 ||
            cb_json_add_string(p, CB_VL_FIELD_URL, "man:clusterbootctl(1)") < 0)
                return -ENOMEM;
        return reply(call, TAKE_PTR(p));
}

static int method_get_interface_description(struct call *call, struct json_object *params) {
        _cleanup_json_ struct json_object *p = NULL;
        const char *iface = NULL, *text;

        if (cb_json_get_string(params, CB_VL_FIELD_INTERFACE, &iface) <= 0)
                return reply_invalid_parameter(call, CB_VL_FIELD_INTERFACE);
        if (strcmp(iface, CB_VL_INTERFACE) == 0)
                text = cb_control_interface_description;
        else if (strcmp(iface, CB_VL_ERROR_INTERFACE) == 0)
                text = cb_control_error_interface_description;
        else
                return reply_service_error(call, CB_VL_ERROR_INTERFACE_NOT_FOUND, CB_VL_FIELD_INTERFACE, iface);
        p = json_object_new_object();
        if (!p || cb_json_add_string(p, CB_VL_FIELD_DESCRIPTION, text) < 0)
                return -ENOMEM;
        return reply(call, TAKE_PTR(p));
}

struct method {
        const char *name;
        bool changing; /* needs root or the control group */
        const char *const *parameters;
        int (*run)(struct call *call, struct json_object *params);
};

static const struct method methods[] = {
        { CB_VL_METHOD_GET_STATUS, false, params_name, method_get_status },
        { CB_VL_METHOD_WATCH, false, params_none, method_watch },
        { CB_VL_METHOD_REBOOT, true, params_name, method_power },
        { CB_VL_METHOD_POWER_ON, true, params_name, method_power },
        { CB_VL_METHOD_POWER_OFF, true, params_name, method_power },
        { CB_VL_METHOD_RETRY, true, params_name, method_retry },
        { CB_VL_METHOD_RELOAD, true, params_none, method_reload },
        { CB_VL_METHOD_GET_INFO, false, params_none, method_get_info },
        { CB_VL_METHOD_GET_INTERFACE_DESCRIPTION, false, params_interface, method_get_interface_description },
};

/* A message that is not a call: say why, then close, since nothing after it can be trusted. */
static int reject_message(struct client *cl, const char *why) {
        struct call call = { .client = cl };
        int r;

        client_log(LOG_WARNING, cl, "sent an invalid message (%s); dropping it", why);
        cl->drop_after_flush = true;
        r = reply_error(&call, CB_VL_ERROR_INVALID_PARAMETER, NULL, "invalid varlink message: %s", why);
        return r == -ENOMEM ? r : 0;
}

static int handle_message(struct client *cl, const char *text, size_t size) {
        _cleanup_json_ struct json_object *m = NULL;
        struct json_object *params = NULL, *empty = NULL;
        const char *reason = NULL, *method = NULL;
        struct call call = { .client = cl };
        const struct method *meth = NULL;
        int r;

        r = cb_json_parse_object(text, size, &m, &reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return reject_message(cl, reason);
        if (cb_json_get_string(m, CB_VL_KEY_METHOD, &method) <= 0)
                return reject_message(cl, "no \"method\" string");
        if (cb_json_get_object(m, CB_VL_KEY_PARAMETERS, &params) < 0)
                return reject_message(cl, "\"parameters\" is not an object");
        if (cb_json_get_bool(m, CB_VL_KEY_MORE, &call.more) < 0 ||
            cb_json_get_bool(m, CB_VL_KEY_ONEWAY, &call.oneway) < 0)
                return reject_message(cl, "\"more\" or \"oneway\" is not a boolean");
        call.method = method;
        cl->last_active = now_usec();

        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (strcmp(methods[i].name, method) == 0)
                        meth = &methods[i];
        if (!meth)
                return reply_service_error(&call, CB_VL_ERROR_METHOD_NOT_FOUND, CB_VL_FIELD_METHOD, method);

        if (meth->changing && !client_may_change(cl)) {
                client_log(LOG_NOTICE, cl, "%s refused: not root and not in the group " CB_VL_CONTROL_GROUP, method);
                return reply_error(&call, CB_VL_ERROR_PERMISSION_DENIED, NULL,
                                   "%s needs root or membership in the group '" CB_VL_CONTROL_GROUP "'",
                                   method + strlen(CB_VL_INTERFACE) + 1);
        }

        if (!params) {
                params = empty = json_object_new_object();
                if (!params)
                        return -ENOMEM;
        }
        r = check_parameters(&call, params, meth->parameters);
        if (r >= 0)
                r = meth->run(&call, params);
        else if (r == -EINVAL)
                r = 0; /* answered */
        json_object_put(empty);
        return r;
}

/* Answers the complete calls received so far. */
static void client_process(struct client *cl) {
        while (!cl->dead && client_reads(cl)) {
                char *text = NULL;
                size_t size = 0;
                int r = cb_msgbuf_next(&cl->in, &text, &size);

                if (r == -EMSGSIZE) {
                        char why[64];
                        snprintf(why, sizeof why, "longer than %zu bytes", cl->control->max_message_size);
                        r = reject_message(cl, why);
                } else if (r > 0) {
                        r = handle_message(cl, text, size);
                } else {
                        break;
                }
                if (r < 0) {
                        client_log(LOG_WARNING, cl, "cannot answer: %s; dropping it", strerror(-r));
                        client_drop(cl);
                }
        }
}

static void client_read(struct client *cl) {
        char buf[READ_CHUNK];

        for (unsigned i = 0; i < READS_PER_WAKEUP && !cl->dead && client_reads(cl); i++) {
                ssize_t n = recv(cl->fd, buf, sizeof buf, MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return;
                        client_log(LOG_DEBUG, cl, "read failed: %s", strerror(errno));
                        client_drop(cl);
                        return;
                }
                if (n == 0) {
                        cl->input_closed = true;
                        if (cb_msgbuf_pending(&cl->in) > 0)
                                client_log(LOG_DEBUG, cl, "hung up in the middle of a message (%zu bytes)",
                                           cb_msgbuf_pending(&cl->in));
                        return;
                }
                if (cb_msgbuf_feed(&cl->in, buf, (size_t) n) < 0) {
                        client_log(LOG_WARNING, cl, "%s", "out of memory; dropping it");
                        client_drop(cl);
                        return;
                }
                client_process(cl);
        }
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct client *cl = userdata;

        cl->busy++;
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (client_reads(cl))
                        client_read(cl); /* pending calls first: a client may send and hang up at once */
                else if (revents & (EPOLLHUP | EPOLLERR)) {
                        client_log(LOG_DEBUG, cl, "%s", "hung up");
                        client_drop(cl);
                }
        }
        cl->busy--;
        if (cl->dead) {
                client_free(cl);
                return 0;
        }
        (void) client_settle(cl);
        return 0;
}

/* ---- accepting ---- */

/* With every slot taken, the connection idle the longest (and not watching) gives way to the new one. */
static struct client *find_evictable(struct cb_control *c) {
        struct client *best = NULL;

        for (struct client *cl = c->clients; cl; cl = cl->next)
                if (!cl->watching && !cl->dead && client_pending_output(cl) == 0 &&
                    (!best || cl->last_active <= best->last_active))
                        best = cl;
        return best;
}

static int read_peer_groups(struct client *cl) {
        socklen_t len = 64 * sizeof(gid_t);

        for (;;) {
                gid_t *g = realloc(cl->groups, len > 0 ? len : sizeof(gid_t));

                if (!g)
                        return -ENOMEM;
                cl->groups = g;
                if (getsockopt(cl->fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) >= 0) {
                        cl->n_groups = len / sizeof(gid_t);
                        cl->groups_known = true;
                        return 0;
                }
                if (errno != ERANGE)
                        return -errno;
                /* len now says how much is needed */
        }
}

static int client_new(struct cb_control *c, int fd) {
        struct client *cl = calloc(1, sizeof *cl);
        socklen_t len = sizeof cl->cred;
        int r;

        if (!cl) {
                close(fd);
                return -ENOMEM;
        }
        cl->control = c;
        cl->fd = fd;
        cl->id = ++c->next_client_id;
        cl->last_active = now_usec();
        cb_msgbuf_init(&cl->in, c->max_message_size);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cl->cred, &len) < 0) {
                r = -errno;
                close(fd);
                cb_msgbuf_done(&cl->in);
                free(cl);
                return log_warning_errno(r, "control: cannot tell who connected; closing the connection");
        }
        r = read_peer_groups(cl);
        if (r < 0 && r != -ENOPROTOOPT)
                client_log(LOG_DEBUG, cl, "no SO_PEERGROUPS (%s); the user database will be asked", strerror(-r));

        cl->next = c->clients;
        if (c->clients)
                c->clients->prev = cl;
        c->clients = cl;
        c->n_clients++;

        r = sd_event_add_io(c->event, &cl->io, fd, EPOLLIN, on_client_io, cl);
        if (r < 0) {
                client_free(cl);
                return log_warning_errno(r, "control: cannot watch a new connection");
        }
        (void) sd_event_source_set_description(cl->io, "control-client");
        client_log(LOG_DEBUG, cl, "%s", "connected");
        return 0;
}

static int on_accept_resume(sd_event_source *s, uint64_t usec, void *userdata) {
        struct cb_control *c = userdata;

        (void) sd_event_source_set_enabled(c->listen_source, SD_EVENT_ON);
        return 0;
}

/* Out of file descriptors: stop accepting for a moment rather than spin on the ready socket. */
static void pause_accepting(struct cb_control *c) {
        usec_t when = now_usec() + ACCEPT_PAUSE_USEC;

        (void) sd_event_source_set_enabled(c->listen_source, SD_EVENT_OFF);
        if (!c->accept_pause) {
                if (sd_event_add_time(c->event, &c->accept_pause, CLOCK_MONOTONIC, when, 0, on_accept_resume, c) < 0)
                        (void) sd_event_source_set_enabled(c->listen_source, SD_EVENT_ON);
                return;
        }
        (void) sd_event_source_set_time(c->accept_pause, when);
        (void) sd_event_source_set_enabled(c->accept_pause, SD_EVENT_ONESHOT);
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct cb_control *c = userdata;

        for (;;) {
                int cfd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (cfd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        if (ratelimit_pass(&c->refuse_ratelimit))
                                log_warning_errno(errno, "control: cannot accept a connection");
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                                pause_accepting(c);
                        return 0;
                }
                if (c->n_clients >= c->max_clients) {
                        struct client *victim = find_evictable(c);

                        if (!victim) {
                                if (ratelimit_pass(&c->refuse_ratelimit))
                                        log_warning("control: %zu clients connected, all watching; refusing a new one",
                                                    c->n_clients);
                                close(cfd);
                                continue;
                        }
                        if (ratelimit_pass(&c->refuse_ratelimit))
                                client_log(LOG_WARNING, victim,
                                           "dropped: %zu clients connected, and it was idle the longest (%.1fs)",
                                           c->n_clients, (double) (now_usec() - victim->last_active) / 1e6);
                        client_drop(victim);
                }
                (void) client_new(c, cfd);
        }
}

/* ---- watch events ---- */

static struct seen_node *seen_for(struct cb_control *c, const struct cb_node *node) {
        struct seen_node *s;

        for (size_t i = 0; i < c->n_seen; i++)
                if (c->seen[i].node == node)
                        return &c->seen[i];
        s = realloc(c->seen, (c->n_seen + 1) * sizeof *s);
        if (!s)
                return NULL;
        c->seen = s;
        s = &c->seen[c->n_seen++];
        *s = (struct seen_node){ .node = node };
        return s;
}

/* The newest history entry, if it was recorded since the last notification (a transition); else NULL. */
static const struct cb_node_event *new_event(struct cb_control *c, const struct cb_node *node) {
        struct cb_node_status st;
        const struct cb_node_event *e;
        struct seen_node *s = seen_for(c, node);

        cb_node_get_status(node, &st);
        e = st.n_events > 0 ? cb_node_event_at(node, st.n_events - 1) : NULL;
        if (!s)
                return e; /* out of memory: a repeated message is the lesser harm */
        if (!e || (e == s->last_event && e->realtime_usec == s->last_event_usec))
                return NULL;
        s->last_event = e;
        s->last_event_usec = e->realtime_usec;
        return e;
}

static int event_message(struct cb_control *c, const struct cb_node *node, const struct cb_node_event *e,
                         struct json_object **ret) {
        _cleanup_json_ struct json_object *m = json_object_new_object();
        struct json_object *ev = NULL, *params;
        int r;

        if (!m)
                return -ENOMEM;
        r = cb_control_node_json(node, current_config(c), false, now_usec(), realtime_usec(), &ev);
        if (r < 0)
                return r;
        params = json_object_new_object();
        if (cb_json_add(m, CB_VL_KEY_PARAMETERS, params) < 0 || cb_json_add(params, CB_VL_FIELD_EVENT, ev) < 0 ||
            cb_json_add_bool(m, CB_VL_KEY_CONTINUES, true) < 0)
                return -ENOMEM;
        /* the node's name is the event's "node"; the rest of the node's fields come along */
        json_object_object_del(ev, CB_VL_FIELD_NAME);
        if (cb_json_add_string(ev, CB_VL_FIELD_KIND, e ? CB_VL_EVENT_KIND_STATE : CB_VL_EVENT_KIND_PROGRESS) < 0 ||
            cb_json_add_string(ev, CB_VL_FIELD_NODE, cb_node_name(node)) < 0 ||
            cb_json_add_string(ev, CB_VL_FIELD_MESSAGE, e ? e->message : NULL) < 0 ||
            cb_json_add_u64(ev, CB_VL_FIELD_REALTIME_USEC, e ? e->realtime_usec : realtime_usec()) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(m);
        return 0;
}

void cb_control_node_changed(struct cb_node *node, void *userdata) {
        struct cb_control *c = userdata;
        _cleanup_json_ struct json_object *m = NULL;
        const struct cb_node_event *e;
        const char *text;
        size_t size = 0;

        /* tracked even without watchers, so that a later watcher's first event is classified right */
        e = new_event(c, node);
        if (c->n_watchers == 0)
                return;
        if (event_message(c, node, e, &m) < 0 || !(text = cb_json_to_string(m, &size))) {
                log_warning("control: out of memory; watchers miss an event of %s", cb_node_name(node));
                return;
        }
        for (struct client *cl = c->clients, *next; cl; cl = next) {
                next = cl->next;
                if (!cl->watching || cl->dead)
                        continue;
                if (client_queue(cl, text, size) < 0) {
                        client_log(LOG_WARNING, cl, "%s", "out of memory queueing an event; dropping it");
                        client_drop(cl);
                        continue;
                }
                (void) client_settle(cl);
        }
}

/* ---- the listening socket ---- */

static int mkdir_parents(const char *path) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *slash = '/';
        }
        return 0;
}

static int make_address(const char *path, struct sockaddr_un *sa, socklen_t *len) {
        size_t n = strlen(path);

        if (n == 0 || n >= sizeof sa->sun_path)
                return -ENAMETOOLONG;
        *sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
        memcpy(sa->sun_path, path, n + 1);
        *len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1);
        return 0;
}

/*
 * A socket file left by a daemon that died is removed; one that answers
 * belongs to a running daemon and is left alone (two daemons would fight
 * over the boards).
 */
static int remove_stale_socket(const char *path, const struct sockaddr_un *sa, socklen_t len) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return log_error_errno(EEXIST, "control: %s exists and is not a socket; not replacing it", path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) sa, len) == 0 || errno == EAGAIN || errno == EINPROGRESS)
                return log_error_errno(EADDRINUSE, "control: %s is in use: is another clusterboot running?", path);
        if (errno != ECONNREFUSED)
                return log_error_errno(errno, "control: cannot check %s", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return log_error_errno(errno, "control: cannot remove the stale socket %s", path);
        log_debug("control: removed the stale socket %s", path);
        return 0;
}

static int listen_on_path(struct cb_control *c, const char *path) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa;
        socklen_t len;
        int r;

        r = make_address(path, &sa, &len);
        if (r < 0)
                return log_error_errno(r, "control: cannot use %s as a socket path", path);
        r = mkdir_parents(path);
        if (r < 0)
                return log_error_errno(r, "control: cannot create the directory of %s", path);
        r = remove_stale_socket(path, &sa, len);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "control: cannot create a socket");
        if (bind(fd, (const struct sockaddr *) &sa, len) < 0)
                return log_error_errno(errno, "control: cannot bind %s", path);
        c->socket_owned = true;
        /* Connecting needs write permission on the socket; reading is for everyone, changing is checked per call. */
        if (chmod(path, 0666) < 0)
                return log_error_errno(errno, "control: cannot make %s accessible", path);
        if (listen(fd, SOMAXCONN) < 0)
                return log_error_errno(errno, "control: cannot listen on %s", path);
        c->listen_fd = TAKE_FD(fd);
        return 0;
}

/* A listening UNIX stream socket from systemd (clusterboot.socket), if there is one. */
static int take_activation_socket(struct cb_control *c) {
        int n = sd_listen_fds(true);

        for (int fd = SD_LISTEN_FDS_START; n > 0 && fd < SD_LISTEN_FDS_START + n; fd++) {
                struct sockaddr_un sa;
                socklen_t len = sizeof sa;

                if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
                        continue;
                if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
                        return log_error_errno(errno, "control: cannot use the socket passed by systemd");
                (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
                if (getsockname(fd, (struct sockaddr *) &sa, &len) == 0 && len > offsetof(struct sockaddr_un, sun_path) &&
                    sa.sun_path[0] != '\0') {
                        sa.sun_path[sizeof sa.sun_path - 1] = '\0';
                        if (strdup_to(&c->socket_path, sa.sun_path) < 0)
                                return -ENOMEM;
                }
                c->listen_fd = fd;
                return 1;
        }
        return 0;
}

int cb_control_new(sd_event *event, const struct cb_control_settings *settings, const struct cb_control_ops *ops,
                   void *userdata, struct cb_control **ret) {
        struct cb_control *c = calloc(1, sizeof *c);
        const char *path = settings && settings->socket_path ? settings->socket_path : CB_VL_DEFAULT_SOCKET;
        int r;

        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->ops = ops;
        c->userdata = userdata;
        c->listen_fd = -1;
        c->max_clients = settings && settings->max_clients ? settings->max_clients : CB_CONTROL_MAX_CLIENTS;
        c->max_message_size =
                settings && settings->max_message_size ? settings->max_message_size : CB_VL_REQUEST_MAX;
        c->max_output_size = settings && settings->max_output_size ? settings->max_output_size : CB_CONTROL_MAX_OUTPUT;
        c->started_realtime = realtime_usec();
        c->started_monotonic = now_usec();

        r = take_activation_socket(c);
        if (r == 0) {
                r = strdup_to(&c->socket_path, path);
                if (r >= 0)
                        r = listen_on_path(c, path);
        }
        if (r < 0)
                goto fail;
        r = sd_event_add_io(event, &c->listen_source, c->listen_fd, EPOLLIN, on_accept, c);
        if (r < 0) {
                log_error_errno(r, "control: cannot watch the socket");
                goto fail;
        }
        (void) sd_event_source_set_description(c->listen_source, "control-listen");
        log_debug("control: listening on %s", c->socket_path ? c->socket_path : "(socket from systemd)");
        *ret = c;
        return 0;
fail:
        cb_control_free(c);
        return r;
}

struct cb_control *cb_control_free(struct cb_control *c) {
        if (!c)
                return NULL;
        while (c->clients)
                client_free(c->clients);
        /* the nodes still answer these at exit; there is nobody to tell any more */
        for (struct pending_power *p = c->pending, *next; p; p = next) {
                next = p->next;
                p->control = NULL;
                p->prev = p->next = NULL;
        }
        sd_event_source_disable_unref(c->listen_source);
        sd_event_source_disable_unref(c->accept_pause);
        if (c->listen_fd >= 0)
                close(c->listen_fd);
        if (c->socket_owned && c->socket_path)
                (void) unlink(c->socket_path);
        free(c->socket_path);
        free(c->seen);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

size_t cb_control_n_clients(const struct cb_control *c) {
        return c->n_clients;
}
