/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The commands that look: status (all nodes, or some in detail), watch, and list-nodes for completion. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "clusterboot/varlink.h"
#include "ctl.h"
#include "format.h"
#include "journal.h"
#include "json-util.h"
#include "order.h"

/* Journal entries under `status NODE` (-n changes it; -n 0: none). */
#define STATUS_LOG_LINES 10

static volatile sig_atomic_t stop_requested;

/* The node's last journal entries under its detailed view, as networkctl status shows a link's; nothing if none. */
static void show_recent_log(const struct ctl *ctl, struct json_object *node) {
        struct journal_query q = {
                .name = cb_json_string_or(node, CB_VL_FIELD_NAME, "?"),
                .port = cb_json_string_or(node, CB_VL_FIELD_PORT, NULL),
                .directory = ctl->journal_directory,
                .lines = ctl->lines_given ? ctl->lines : STATUS_LOG_LINES,
                .colours = ctl->view.colours,
                .heading = "\n",
        };

        /* a journal nobody may read here is not this view's business: the rest has been shown;
         * another controller's journal is not here at all */
        if (q.lines > 0 && !ctl->host)
                (void) journal_show(stdout, &q);
}

static int verb_status_all(struct ctl *ctl) {
        struct vl_reply reply = { 0 };
        int r = ctl_call(ctl, CB_VL_METHOD_GET_STATUS, NULL, &reply);

        if (r != EXIT_OK)
                return r;
        if (view_status(stdout, reply.parameters, &ctl->view) < 0)
                r = fail(EXIT_FAILED, "out of memory");
        vl_reply_done(&reply);
        return r;
}

/* status NODE...: the detailed views; with --json one object holding every node asked for. */
static int verb_status_nodes(struct ctl *ctl, char **names, int n) {
        struct json_object *merged = NULL, *merged_nodes = NULL;
        int status = EXIT_OK;

        if (ctl->view.json != JSON_OFF) {
                merged = json_object_new_object();
                merged_nodes = json_object_new_array();
                if (!merged || cb_json_add(merged, CB_VL_FIELD_NODES, merged_nodes) < 0) {
                        json_object_put(merged);
                        return fail(EXIT_FAILED, "out of memory");
                }
        }
        for (int i = 0; i < n; i++) {
                struct json_object *params = ctl_name_params(names[i]), *nodes = NULL, *daemon = NULL;
                struct vl_reply reply = { 0 };
                int r;

                if (!params) {
                        status = fail(EXIT_FAILED, "out of memory");
                        break;
                }
                r = ctl_call(ctl, CB_VL_METHOD_GET_STATUS, params, &reply);
                json_object_put(params);
                if (r != EXIT_OK) {
                        if (status == EXIT_OK)
                                status = r;
                        if (r == EXIT_NOT_RUNNING)
                                break;
                        continue;
                }
                (void) cb_json_get_array(reply.parameters, CB_VL_FIELD_NODES, &nodes);
                for (size_t j = 0; nodes && j < json_object_array_length(nodes); j++) {
                        struct json_object *node = json_object_array_get_idx(nodes, j);
                        if (merged_nodes)
                                json_object_array_add(merged_nodes, json_object_get(node));
                        else {
                                if (i > 0)
                                        putchar('\n');
                                view_node_detail(stdout, node, &ctl->view);
                                show_recent_log(ctl, node);
                        }
                }
                if (merged && cb_json_get_object(reply.parameters, CB_VL_FIELD_DAEMON, &daemon) > 0 &&
                    !json_object_object_get_ex(merged, CB_VL_FIELD_DAEMON, NULL))
                        (void) cb_json_add(merged, CB_VL_FIELD_DAEMON, json_object_get(daemon));
                vl_reply_done(&reply);
        }
        if (merged) {
                /* the nodes that were found, also when another was not: the errors went to stderr */
                if (status == EXIT_OK || json_object_array_length(merged_nodes) > 0)
                        print_json(stdout, merged, ctl->view.json);
                json_object_put(merged);
        }
        return status;
}

/* Talks to the next host on a connection of its own. */
static void switch_host(struct ctl *ctl, const char *host) {
        ctl->client = vl_client_free(ctl->client);
        ctl->host = host;
}

/*
 * Several -H: every controller's nodes in one listing, each row with its
 * "host", the daemons in "daemons"; a host that cannot be reached is said
 * on stderr (and in the summary), the others are still shown.
 */
static int status_many_hosts(struct ctl *ctl) {
        _cleanup_json_ struct json_object *nodes = json_object_new_array(), *daemons = json_object_new_array();
        _cleanup_json_ struct json_object *out = json_object_new_object();
        char summary[2048] = "";
        size_t at = 0;
        int status = EXIT_OK;

        if (!nodes || !daemons || !out)
                return fail(EXIT_FAILED, "out of memory");
        for (size_t h = 0; h < ctl->n_hosts; h++) {
                struct json_object *host_nodes = NULL, *daemon = NULL;
                struct vl_reply reply = { 0 };
                int r;

                switch_host(ctl, ctl->hosts[h]);
                r = ctl_call(ctl, CB_VL_METHOD_GET_STATUS, NULL, &reply);
                if (r != EXIT_OK) {
                        if (status == EXIT_OK)
                                status = r;
                        at += (size_t) snprintf(summary + at, at < sizeof summary ? sizeof summary - at : 0,
                                                "%s%s: not reached", at ? "; " : "", ctl->host);
                        continue;
                }
                (void) cb_json_get_array(reply.parameters, CB_VL_FIELD_NODES, &host_nodes);
                for (size_t i = 0; host_nodes && i < json_object_array_length(host_nodes); i++) {
                        struct json_object *node = json_object_array_get_idx(host_nodes, i);
                        if (cb_json_add_string(node, CB_CTL_FIELD_HOST, ctl->host) < 0 ||
                            json_object_array_add(nodes, json_object_get(node)) < 0)
                                r = -ENOMEM;
                }
                if (cb_json_get_object(reply.parameters, CB_VL_FIELD_DAEMON, &daemon) > 0) {
                        if (cb_json_add_string(daemon, CB_CTL_FIELD_HOST, ctl->host) < 0 ||
                            json_object_array_add(daemons, json_object_get(daemon)) < 0)
                                r = -ENOMEM;
                        at += (size_t) snprintf(summary + at, at < sizeof summary ? sizeof summary - at : 0,
                                                "%s%s: %s", at ? "; " : "", ctl->host,
                                                cb_json_string_or(daemon, CB_VL_FIELD_SUMMARY, "?"));
                }
                vl_reply_done(&reply);
                if (r < 0)
                        return fail(EXIT_FAILED, "out of memory");
        }
        if (ctl->view.json != JSON_OFF) {
                if (cb_json_add(out, CB_CTL_FIELD_DAEMONS, json_object_get(daemons)) < 0 ||
                    cb_json_add(out, CB_VL_FIELD_NODES, json_object_get(nodes)) < 0)
                        return fail(EXIT_FAILED, "out of memory");
        } else {
                struct json_object *daemon = json_object_new_object();
                if (cb_json_add(out, CB_VL_FIELD_DAEMON, daemon) < 0 ||
                    cb_json_add_string(daemon, CB_VL_FIELD_SUMMARY, summary) < 0 ||
                    cb_json_add(out, CB_VL_FIELD_NODES, json_object_get(nodes)) < 0)
                        return fail(EXIT_FAILED, "out of memory");
        }
        if (view_status(stdout, out, &ctl->view) < 0)
                return fail(EXIT_FAILED, "out of memory");
        return status;
}

int verb_status(struct ctl *ctl, int argc, char **argv) {
        if (ctl->n_hosts > 1) {
                if (argc > 1)
                        return fail(EXIT_USAGE, "status NODE: takes one -H (several are merged in the table only)");
                return status_many_hosts(ctl);
        }
        return argc > 1 ? verb_status_nodes(ctl, argv + 1, argc - 1) : verb_status_all(ctl);
}

static int list_nodes_of_one(struct ctl *ctl) {
        struct vl_reply reply = { 0 };
        struct json_object *nodes = NULL;
        char clean[128];
        int r = ctl_call(ctl, CB_VL_METHOD_GET_STATUS, NULL, &reply);

        if (r != EXIT_OK)
                return r;
        (void) cb_json_get_array(reply.parameters, CB_VL_FIELD_NODES, &nodes);
        sort_nodes(nodes);
        for (size_t i = 0; nodes && i < json_object_array_length(nodes); i++)
                puts(format_sanitize(clean, sizeof clean,
                                     cb_json_string_or(json_object_array_get_idx(nodes, i), CB_VL_FIELD_NAME, "?")));
        vl_reply_done(&reply);
        return EXIT_OK;
}

/* Hidden, for shell completion: node names, one a line (of every host given). */
int verb_list_nodes(struct ctl *ctl, int argc, char **argv) {
        int status = EXIT_OK;

        if (ctl->n_hosts <= 1)
                return list_nodes_of_one(ctl);
        for (size_t h = 0; h < ctl->n_hosts; h++) {
                int r;

                switch_host(ctl, ctl->hosts[h]);
                r = list_nodes_of_one(ctl);
                if (r != EXIT_OK && status == EXIT_OK)
                        status = r;
        }
        return status;
}

static void on_stop_signal(int sig) {
        stop_requested = 1;
}

int verb_watch(struct ctl *ctl, int argc, char **argv) {
        /* no SA_RESTART: the wait for the next event must end on Ctrl-C, so that the exit is clean */
        struct sigaction sa = { .sa_handler = on_stop_signal };
        int r;

        /* on a terminal, the table redrawn in place (live-watch.c); piped, a line per event */
        if (ctl->view.json == JSON_OFF && isatty(STDOUT_FILENO))
                return verb_watch_live(ctl);
        r = ctl_connect_daemon(ctl);
        if (r != EXIT_OK)
                return r;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        r = vl_client_send(ctl->client, CB_VL_METHOD_WATCH, NULL, true);
        if (r < 0)
                return ctl_transport_failure(ctl, r);
        while (!stop_requested) {
                struct vl_reply reply = { 0 };
                struct json_object *nodes = NULL, *event = NULL;

                r = vl_client_receive_watching(ctl->client, VL_TIMEOUT_INFINITY, STDOUT_FILENO, &reply);
                if (r == -EINTR)
                        continue;
                if (r == -EPIPE)
                        break; /* nobody reads what we print any more: done, as after Ctrl-C */
                if (r < 0)
                        return ctl_transport_failure(ctl, r);
                if (reply.error) {
                        r = ctl_reply_failure(&reply, ctl->verb);
                        vl_reply_done(&reply);
                        return r;
                }
                sort_nodes(json_object_object_get(reply.parameters, CB_VL_FIELD_NODES));
                if (ctl->view.json != JSON_OFF) {
                        /* one object a line, whatever the mode: a stream is read line by line */
                        print_json(stdout, reply.parameters, JSON_SHORT);
                } else if (cb_json_get_array(reply.parameters, CB_VL_FIELD_NODES, &nodes) > 0) {
                        view_watch_nodes(stdout, nodes, ctl_realtime_now(), &ctl->view);
                } else if (cb_json_get_object(reply.parameters, CB_VL_FIELD_EVENT, &event) > 0) {
                        view_watch_event(stdout, event, &ctl->view);
                }
                /* live output, also into a pipe */
                fflush(stdout);
                bool more = reply.continues;
                vl_reply_done(&reply);
                if (!more)
                        break;
        }
        return EXIT_OK;
}


/* metrics: the daemon's Prometheus text, as it is (for a scrape through ssh, or a look). */
int verb_metrics(struct ctl *ctl, int argc, char **argv) {
        struct vl_reply reply = { 0 };
        const char *text = NULL;
        int r = ctl_call(ctl, CB_VL_METHOD_GET_METRICS, NULL, &reply);

        if (r != EXIT_OK)
                return r;
        if (cb_json_get_string(reply.parameters, CB_VL_FIELD_TEXT, &text) <= 0)
                r = fail(EXIT_FAILED, "metrics: the daemon's answer holds no text");
        else
                fputs(text, stdout);
        vl_reply_done(&reply);
        return r;
}
