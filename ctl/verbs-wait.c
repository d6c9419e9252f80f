/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The commands for scripts: `wait` until nodes reach a state (driven by the
 * daemon's Watch stream: no polling), and `is-up`.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clusterboot/varlink.h"
#include "ctl.h"
#include "format.h"
#include "json-util.h"
#include "order.h"

/* A node being waited for: its names (name, port) and its state as last heard. */
struct target {
        char *name;
        char *port;
        char *state;
        char *message; /* the reason of its last state change, if an event told it */
};

struct waiting {
        struct target *targets;
        size_t n_targets;
        const char *want;
        /*
         * No node named: every node, also those that appear while waiting
         * (AutoNodes=: a board's node is made when it is plugged), and at
         * least one; a daemon that knows no node yet is not a cluster up.
         */
        bool every_node;
};

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
        interrupted = 1;
}

static uint64_t monotonic_now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static void waiting_done(struct waiting *w) {
        for (size_t i = 0; i < w->n_targets; i++) {
                free(w->targets[i].name);
                free(w->targets[i].port);
                free(w->targets[i].state);
                free(w->targets[i].message);
        }
        free(w->targets);
}

static int set_text(char **field, const char *value) {
        char *copy = value ? strdup(value) : NULL;

        if (value && !copy)
                return -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

static int add_target(struct waiting *w, struct json_object *node) {
        struct target *t = realloc(w->targets, (w->n_targets + 1) * sizeof *t);

        if (!t)
                return -ENOMEM;
        w->targets = t;
        t = &w->targets[w->n_targets++];
        *t = (struct target){ 0 };
        if (set_text(&t->name, cb_json_string_or(node, CB_VL_FIELD_NAME, "?")) < 0 ||
            set_text(&t->port, cb_json_string_or(node, CB_VL_FIELD_PORT, "?")) < 0 ||
            set_text(&t->state, cb_json_string_or(node, CB_VL_FIELD_STATE, "?")) < 0 ||
            set_text(&t->message, cb_json_string_or(node, CB_VL_FIELD_LAST_ERROR, NULL)) < 0)
                return -ENOMEM;
        return 0;
}

/* The nodes named (by name or port), or every node when none is; an unknown name is EXIT_NO_SUCH_NODE. */
static int pick_targets(struct waiting *w, struct json_object *nodes, char **names, int n_names) {
        size_t n = nodes ? json_object_array_length(nodes) : 0;

        for (int k = 0; k < n_names; k++) {
                struct json_object *found = NULL;

                for (size_t i = 0; i < n && !found; i++) {
                        struct json_object *node = json_object_array_get_idx(nodes, i);
                        if (strcmp(cb_json_string_or(node, CB_VL_FIELD_NAME, ""), names[k]) == 0)
                                found = node;
                }
                for (size_t i = 0; i < n && !found; i++) {
                        struct json_object *node = json_object_array_get_idx(nodes, i);
                        if (strcmp(cb_json_string_or(node, CB_VL_FIELD_PORT, ""), names[k]) == 0)
                                found = node;
                }
                if (!found)
                        return fail(EXIT_NO_SUCH_NODE, "no node called '%s'", names[k]);
                if (add_target(w, found) < 0)
                        return fail(EXIT_FAILED, "out of memory");
        }
        for (size_t i = 0; n_names == 0 && i < n; i++)
                if (add_target(w, json_object_array_get_idx(nodes, i)) < 0)
                        return fail(EXIT_FAILED, "out of memory");
        return EXIT_OK;
}

/*
 * An event: the node's new state. Events about nodes not waited for change
 * nothing, unless every node is waited for: then a node not known yet (a
 * board's node made as it was plugged, a renamed one) is waited for too.
 */
static int apply_event(struct waiting *w, struct json_object *event) {
        const char *node = cb_json_string_or(event, CB_VL_FIELD_NODE, NULL);
        const char *state = cb_json_string_or(event, CB_VL_FIELD_STATE, NULL);
        bool known = false;

        if (!node || !state)
                return 0;
        for (size_t i = 0; i < w->n_targets; i++)
                if (strcmp(w->targets[i].name, node) == 0) {
                        known = true;
                        if (set_text(&w->targets[i].state, state) < 0)
                                return -ENOMEM;
                        if (strcmp(cb_json_string_or(event, CB_VL_FIELD_KIND, ""), CB_VL_EVENT_KIND_STATE) == 0 &&
                            set_text(&w->targets[i].message, cb_json_string_or(event, CB_VL_FIELD_MESSAGE, NULL)) < 0)
                                return -ENOMEM;
                }
        if (known || !w->every_node)
                return 0;
        _cleanup_json_ struct json_object *as_node = json_object_new_object();
        if (!as_node || cb_json_add_string(as_node, CB_VL_FIELD_NAME, node) < 0 ||
            cb_json_add_string(as_node, CB_VL_FIELD_PORT, cb_json_string_or(event, CB_VL_FIELD_PORT, "?")) < 0 ||
            cb_json_add_string(as_node, CB_VL_FIELD_STATE, state) < 0)
                return -ENOMEM;
        return add_target(w, as_node);
}

static bool all_there(const struct waiting *w) {
        if (w->every_node && w->n_targets == 0)
                return false;
        for (size_t i = 0; i < w->n_targets; i++)
                if (strcmp(w->targets[i].state, w->want) != 0)
                        return false;
        return true;
}

/* A node that failed will not reach any other state by itself: waiting on would only wait for the timeout. */
static const struct target *given_up(const struct waiting *w) {
        for (size_t i = 0; i < w->n_targets; i++)
                if (strcmp(w->targets[i].state, "failed") == 0 && strcmp(w->want, "failed") != 0)
                        return &w->targets[i];
        return NULL;
}

/* "node3 is serving, node4 is absent" */
static void describe_missing(const struct waiting *w, char *buf, size_t size) {
        size_t at = 0;

        buf[0] = '\0';
        if (w->n_targets == 0)
                snprintf(buf, size, "the daemon knows no node (no board has appeared)");
        for (size_t i = 0; i < w->n_targets && at < size; i++) {
                char name[128], state[64];

                if (strcmp(w->targets[i].state, w->want) == 0)
                        continue;
                at += (size_t) snprintf(buf + at, size - at, "%s%s is %s", at ? ", " : "",
                                        format_sanitize(name, sizeof name, w->targets[i].name),
                                        format_sanitize(state, sizeof state, w->targets[i].state));
        }
}

/* The outcome as an exit status, or -1 to go on waiting. */
static int verdict(const struct ctl *ctl, const struct waiting *w) {
        const struct target *t;

        if (all_there(w))
                return EXIT_OK;
        t = given_up(w);
        if (t) {
                char name[128], why[512];
                return fail(EXIT_FAILED, "%s failed%s%s", format_sanitize(name, sizeof name, t->name),
                            t->message ? ": " : "", t->message ? format_sanitize(why, sizeof why, t->message) : "");
        }
        return -1;
}

static int wait_loop(struct ctl *ctl, struct waiting *w, char **names, int n_names) {
        uint64_t deadline = ctl->wait_timeout ? monotonic_now() + ctl->wait_timeout : UINT64_MAX;
        bool first = true;
        int r;

        r = vl_client_send(ctl->client, CB_VL_METHOD_WATCH, NULL, true);
        if (r < 0)
                return ctl_transport_failure(ctl, r);
        while (!interrupted) {
                struct vl_reply reply = { 0 };
                struct json_object *event = NULL;
                uint64_t now = monotonic_now(), timeout = VL_TIMEOUT_INFINITY;

                if (deadline != UINT64_MAX)
                        timeout = deadline > now ? deadline - now : 0;
                r = vl_client_receive(ctl->client, timeout, &reply);
                if (r == -EINTR)
                        continue;
                if (r == -ETIMEDOUT) {
                        char missing[1024], d[32];

                        describe_missing(w, missing, sizeof missing);
                        return fail(EXIT_FAILED, "not every node is %s after %s: %s", w->want,
                                    format_duration(d, sizeof d, ctl->wait_timeout), missing);
                }
                if (r < 0)
                        return ctl_transport_failure(ctl, r);
                if (reply.error) {
                        r = ctl_reply_failure(&reply, ctl->verb);
                        vl_reply_done(&reply);
                        return r;
                }
                if (first) {
                        /* the first reply is every node as it is now: what to wait for */
                        struct json_object *nodes = NULL;

                        (void) cb_json_get_array(reply.parameters, CB_VL_FIELD_NODES, &nodes);
                        sort_nodes(nodes);
                        r = pick_targets(w, nodes, names, n_names);
                        first = false;
                } else if (cb_json_get_object(reply.parameters, CB_VL_FIELD_EVENT, &event) > 0) {
                        r = apply_event(w, event) < 0 ? fail(EXIT_FAILED, "out of memory") : EXIT_OK;
                }
                bool more = reply.continues;
                vl_reply_done(&reply);
                if (r != EXIT_OK)
                        return r;
                r = verdict(ctl, w);
                if (r >= 0)
                        return r;
                if (!more)
                        return fail(EXIT_FAILED, "clusterboot stopped sending events");
        }
        return fail(EXIT_FAILED, "interrupted");
}

int verb_wait(struct ctl *ctl, int argc, char **argv) {
        /* no SA_RESTART: Ctrl-C must end the wait for the next event */
        struct sigaction sa = { .sa_handler = on_interrupt };
        struct waiting w = { .want = ctl->wait_state ? ctl->wait_state : "up", .every_node = argc <= 1 };
        int r = ctl_connect_daemon(ctl);

        if (r != EXIT_OK)
                return r;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        r = wait_loop(ctl, &w, argv + 1, argc - 1);
        waiting_done(&w);
        return r;
}

/* is-up NODE...: each node's state on a line (unless -q); 0 when every one is up. */
int verb_is_up(struct ctl *ctl, int argc, char **argv) {
        int status = EXIT_OK;

        for (int i = 1; i < argc; i++) {
                struct json_object *params = ctl_name_params(argv[i]), *nodes = NULL;
                struct vl_reply reply = { 0 };
                const char *state = "?";
                char clean[64];
                int r;

                if (!params)
                        return fail(EXIT_FAILED, "out of memory");
                r = ctl_call(ctl, CB_VL_METHOD_GET_STATUS, params, &reply);
                json_object_put(params);
                if (r != EXIT_OK) {
                        if (status == EXIT_OK || r == EXIT_NO_SUCH_NODE)
                                status = r;
                        if (r == EXIT_NOT_RUNNING)
                                break;
                        continue;
                }
                if (cb_json_get_array(reply.parameters, CB_VL_FIELD_NODES, &nodes) > 0 &&
                    json_object_array_length(nodes) > 0)
                        state = cb_json_string_or(json_object_array_get_idx(nodes, 0), CB_VL_FIELD_STATE, "?");
                if (!ctl->quiet)
                        printf("%s\n", format_sanitize(clean, sizeof clean, state));
                if (strcmp(state, "up") != 0 && status == EXIT_OK)
                        status = EXIT_FAILED;
                vl_reply_done(&reply);
        }
        return status;
}
