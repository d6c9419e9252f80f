/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * clusterbootctl: see and steer the nodes clusterboot boots. Talks varlink
 * to the daemon's control socket; verbs, options and exit statuses live
 * here, the rendering in views.c.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cb-build-config.h"
#include "clusterboot/varlink.h"
#include "json-util.h"
#include "format.h"
#include "order.h"
#include "varlink-client.h"
#include "views.h"

/* Exit statuses, documented in clusterbootctl(1). */
enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,       /* the daemon refused or could not do it */
        EXIT_USAGE = 2,        /* bad command line */
        EXIT_NOT_RUNNING = 3,  /* cannot reach the daemon */
        EXIT_NO_SUCH_NODE = 4,
        EXIT_PERMISSION = 5,
};

struct ctl {
        const char *socket_path;
        const char *verb; /* the command as the user typed it, for messages: "power off" */
        struct view_options view;
        struct vl_client *client;
};

static volatile sig_atomic_t stop_requested;

__attribute__((format(printf, 2, 3))) static int fail(int status, const char *format, ...) {
        va_list ap;

        fputs("clusterbootctl: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        return status;
}

static void help(void) {
        printf("Usage: clusterbootctl [OPTIONS] [COMMAND]\n\n"
               "See and steer the Raspberry Pi boards that clusterboot boots over USB.\n\n"
               "Commands:\n"
               "  status [NODE...]       table of all nodes (the default); with NODE, its detailed view\n"
               "  watch                  show events as they happen, until Ctrl-C\n"
               "  reboot NODE...         power-cycle nodes and boot them again\n"
               "  power on|off NODE...   switch nodes' power\n"
               "  retry NODE...          start a failed node's boot again\n"
               "  reload                 make the daemon re-read its configuration\n\n"
               "Options:\n"
               "      --socket=PATH      the daemon's socket (default $" CB_VL_SOCKET_ENV " or " CB_VL_DEFAULT_SOCKET
               ")\n"
               "  -j, --json[=MODE]      print JSON: pretty, short or off (default: pretty on a terminal)\n"
               "      --no-legend        no table header and summary\n"
               "      --no-pager         accepted for compatibility; output is never paged\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n\n"
               "A NODE is a node name or a USB port path. See clusterbootctl(1).\n");
}

/* ---- talking to the daemon ---- */

/* A new connection, or a message saying why not; returns an exit status. */
static int connect_new(const struct ctl *ctl, struct vl_client **ret) {
        int r = vl_client_connect(ctl->socket_path, ret);

        if (r == -ENOENT || r == -ECONNREFUSED)
                return fail(EXIT_NOT_RUNNING,
                            "clusterboot is not running (cannot connect to %s): start it with 'systemctl start clusterboot'",
                            ctl->socket_path);
        if (r < 0)
                return fail(EXIT_NOT_RUNNING, "cannot connect to %s: %s", ctl->socket_path, strerror(-r));
        return EXIT_OK;
}

static int connect_daemon(struct ctl *ctl) {
        if (ctl->client)
                return EXIT_OK;
        return connect_new(ctl, &ctl->client);
}

static int transport_failure(const struct ctl *ctl, int r) {
        if (r == -ETIMEDOUT)
                return fail(EXIT_FAILED, "clusterboot did not answer within %llus",
                            (unsigned long long) (VL_TIMEOUT_DEFAULT / 1000000ULL));
        if (r == -ECONNRESET)
                return fail(EXIT_FAILED, "clusterboot closed the connection (did it stop?)");
        if (r == -EBADMSG)
                return fail(EXIT_FAILED, "%s answered something clusterbootctl does not understand (is it clusterboot's socket?)",
                            ctl->socket_path);
        return fail(EXIT_FAILED, "talking to clusterboot failed: %s", strerror(-r));
}

/* A daemon error as one line, and the exit status it stands for. `what` is the command as typed. */
static int reply_failure(const struct vl_reply *reply, const char *what) {
        const char *message = vl_reply_message(reply);
        char clean[512];

        if (strcmp(reply->error, CB_VL_ERROR_NO_SUCH_NODE) == 0)
                return fail(EXIT_NO_SUCH_NODE, "%s", format_sanitize(clean, sizeof clean, message ? message : "no such node"));
        /* the daemon's message names its method; people typed a command */
        if (strcmp(reply->error, CB_VL_ERROR_PERMISSION_DENIED) == 0)
                return fail(EXIT_PERMISSION,
                            "%s: permission denied: only root and members of the group '" CB_VL_CONTROL_GROUP
                            "' may do this",
                            what);
        if (strcmp(reply->error, CB_VL_ERROR_METHOD_NOT_FOUND) == 0)
                return fail(EXIT_FAILED, "%s: the running clusterboot is older than clusterbootctl and cannot do this",
                            what);
        if (strcmp(reply->error, CB_VL_ERROR_SERVICE_INVALID_PARAMETER) == 0)
                return fail(EXIT_FAILED, "%s: the running clusterboot does not accept '%s' here", what,
                            format_sanitize(clean, sizeof clean,
                                            cb_json_string_or(reply->parameters, CB_VL_FIELD_PARAMETER, "?")));
        if (strcmp(reply->error, CB_VL_ERROR_RELOAD_FAILED) == 0) {
                struct json_object *errors = NULL;

                /* the file's errors, one a line as an editor wants them, then what it means */
                if (cb_json_get_array(reply->parameters, CB_VL_FIELD_ERRORS, &errors) > 0 &&
                    json_object_array_length(errors) > 0) {
                        for (size_t i = 0; i < json_object_array_length(errors); i++)
                                fprintf(stderr, "%s\n",
                                        format_sanitize(clean, sizeof clean,
                                                        json_object_get_string(json_object_array_get_idx(errors, i))));
                        return fail(EXIT_FAILED, "the configuration was not reloaded; the running configuration is kept");
                }
        }
        if (message)
                return fail(EXIT_FAILED, "%s", format_sanitize(clean, sizeof clean, message));
        return fail(EXIT_FAILED, "%s failed: %s", what, format_sanitize(clean, sizeof clean, reply->error));
}

/* One call, one reply. Returns an exit status; on EXIT_OK *reply is filled. */
static int call(struct ctl *ctl, const char *method, struct json_object *params, struct vl_reply *reply) {
        int r = connect_daemon(ctl);

        if (r != EXIT_OK)
                return r;
        r = vl_client_call(ctl->client, method, params, reply);
        if (r < 0)
                return transport_failure(ctl, r);
        if (reply->error) {
                int status = reply_failure(reply, ctl->verb);
                vl_reply_done(reply);
                return status;
        }
        return EXIT_OK;
}

static struct json_object *name_params(const char *name) {
        struct json_object *p = json_object_new_object();

        if (p && cb_json_add_string(p, CB_VL_FIELD_NAME, name) < 0) {
                json_object_put(p);
                return NULL;
        }
        return p;
}

static uint64_t realtime_now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* ---- verbs ---- */

static int verb_status_all(struct ctl *ctl) {
        struct vl_reply reply = { 0 };
        int r = call(ctl, CB_VL_METHOD_GET_STATUS, NULL, &reply);

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
                struct json_object *params = name_params(names[i]), *nodes = NULL, *daemon = NULL;
                struct vl_reply reply = { 0 };
                int r;

                if (!params) {
                        status = fail(EXIT_FAILED, "out of memory");
                        break;
                }
                r = call(ctl, CB_VL_METHOD_GET_STATUS, params, &reply);
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

static int verb_status(struct ctl *ctl, int argc, char **argv) {
        return argc > 1 ? verb_status_nodes(ctl, argv + 1, argc - 1) : verb_status_all(ctl);
}

/* Hidden, for shell completion: node names, one a line. */
static int verb_list_nodes(struct ctl *ctl, int argc, char **argv) {
        struct vl_reply reply = { 0 };
        struct json_object *nodes = NULL;
        char clean[128];
        int r = call(ctl, CB_VL_METHOD_GET_STATUS, NULL, &reply);

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

static void on_stop_signal(int sig) {
        stop_requested = 1;
}

static int verb_watch(struct ctl *ctl, int argc, char **argv) {
        /* no SA_RESTART: the wait for the next event must end on Ctrl-C, so that the exit is clean */
        struct sigaction sa = { .sa_handler = on_stop_signal };
        int r = connect_daemon(ctl);

        if (r != EXIT_OK)
                return r;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        r = vl_client_send(ctl->client, CB_VL_METHOD_WATCH, NULL, true);
        if (r < 0)
                return transport_failure(ctl, r);
        while (!stop_requested) {
                struct vl_reply reply = { 0 };
                struct json_object *nodes = NULL, *event = NULL;

                r = vl_client_receive_watching(ctl->client, VL_TIMEOUT_INFINITY, STDOUT_FILENO, &reply);
                if (r == -EINTR)
                        continue;
                if (r == -EPIPE)
                        break; /* nobody reads what we print any more: done, as after Ctrl-C */
                if (r < 0)
                        return transport_failure(ctl, r);
                if (reply.error) {
                        r = reply_failure(&reply, ctl->verb);
                        vl_reply_done(&reply);
                        return r;
                }
                sort_nodes(json_object_object_get(reply.parameters, CB_VL_FIELD_NODES));
                if (ctl->view.json != JSON_OFF) {
                        /* one object a line, whatever the mode: a stream is read line by line */
                        print_json(stdout, reply.parameters, JSON_SHORT);
                } else if (cb_json_get_array(reply.parameters, CB_VL_FIELD_NODES, &nodes) > 0) {
                        view_watch_nodes(stdout, nodes, realtime_now(), &ctl->view);
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

/* The same method for each node, going on after a failure; the status is the first failure's. */
static int for_each_node(struct ctl *ctl, const char *method, char **names, int n) {
        int status = EXIT_OK;

        for (int i = 0; i < n; i++) {
                struct json_object *params = name_params(names[i]);
                struct vl_reply reply = { 0 };
                int r;

                if (!params)
                        return fail(EXIT_FAILED, "out of memory");
                r = call(ctl, method, params, &reply);
                json_object_put(params);
                if (r == EXIT_OK)
                        vl_reply_done(&reply);
                else if (status == EXIT_OK)
                        status = r;
                if (r == EXIT_NOT_RUNNING)
                        break;
        }
        return status;
}

/*
 * A power call for each node, all at once (one connection each): the daemon
 * answers each when its switch is done, and staggers the power-ons itself.
 * The status is the first failure's.
 */
static int power_each_node(struct ctl *ctl, const char *method, char **names, int n) {
        struct vl_client **clients = calloc((size_t) n, sizeof *clients);
        int status = EXIT_OK;

        if (!clients)
                return fail(EXIT_FAILED, "out of memory");
        for (int i = 0; i < n; i++) {
                struct json_object *params = name_params(names[i]);
                int r;

                if (!params) {
                        status = fail(EXIT_FAILED, "out of memory");
                        break;
                }
                status = connect_new(ctl, &clients[i]);
                if (status != EXIT_OK) {
                        json_object_put(params);
                        break;
                }
                r = vl_client_send(clients[i], method, params, false);
                json_object_put(params);
                if (r < 0) {
                        status = transport_failure(ctl, r);
                        break;
                }
        }
        for (int i = 0; i < n; i++) {
                struct vl_reply reply = { 0 };
                int r;

                if (!clients[i])
                        continue;
                if (status != EXIT_NOT_RUNNING) {
                        r = vl_client_receive(clients[i], VL_TIMEOUT_POWER, &reply);
                        if (r < 0)
                                r = transport_failure(ctl, r);
                        else if (reply.error)
                                r = reply_failure(&reply, ctl->verb);
                        else
                                r = EXIT_OK;
                        vl_reply_done(&reply);
                        if (r != EXIT_OK && status == EXIT_OK)
                                status = r;
                }
                vl_client_free(clients[i]);
        }
        free(clients);
        return status;
}

static int verb_reboot(struct ctl *ctl, int argc, char **argv) {
        return power_each_node(ctl, CB_VL_METHOD_REBOOT, argv + 1, argc - 1);
}

static int verb_retry(struct ctl *ctl, int argc, char **argv) {
        return for_each_node(ctl, CB_VL_METHOD_RETRY, argv + 1, argc - 1);
}

static int verb_power(struct ctl *ctl, int argc, char **argv) {
        if (strcmp(argv[1], "on") == 0) {
                ctl->verb = "power on";
                return power_each_node(ctl, CB_VL_METHOD_POWER_ON, argv + 2, argc - 2);
        }
        if (strcmp(argv[1], "off") == 0) {
                ctl->verb = "power off";
                return power_each_node(ctl, CB_VL_METHOD_POWER_OFF, argv + 2, argc - 2);
        }
        return fail(EXIT_USAGE, "power: expected 'on' or 'off', got '%s'", argv[1]);
}

static int verb_reload(struct ctl *ctl, int argc, char **argv) {
        struct vl_reply reply = { 0 };
        int r = call(ctl, CB_VL_METHOD_RELOAD, NULL, &reply);

        if (r == EXIT_OK)
                vl_reply_done(&reply);
        return r;
}

struct verb {
        const char *name;
        int min_args, max_args; /* after the verb; -1: any number */
        int first_node;         /* the first argument that names a node (1-based; 0: none) */
        int (*run)(struct ctl *ctl, int argc, char **argv);
        const char *usage;
};

static const struct verb verbs[] = {
        { "status", 0, -1, 1, verb_status, "status [NODE...]" },
        { "watch", 0, 0, 0, verb_watch, "watch" },
        { "reboot", 1, -1, 1, verb_reboot, "reboot NODE..." },
        { "power", 2, -1, 2, verb_power, "power on|off NODE..." },
        { "retry", 1, -1, 1, verb_retry, "retry NODE..." },
        { "reload", 0, 0, 0, verb_reload, "reload" },
        { "list-nodes", 0, 0, 0, verb_list_nodes, "list-nodes" },
};

/* ---- command line ---- */

static size_t terminal_width(void) {
        struct winsize ws;
        const char *columns = getenv("COLUMNS");

        if (columns && atoi(columns) > 0)
                return (size_t) atoi(columns);
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                return ws.ws_col;
        return 80;
}

static bool json_mode_name(const char *word) {
        return strcmp(word, "pretty") == 0 || strcmp(word, "short") == 0 || strcmp(word, "off") == 0;
}

/* Returns -1 to go on, else an exit status. */
static int parse_args(int argc, char **argv, struct ctl *ctl) {
        enum { ARG_VERSION = 0x100, ARG_SOCKET, ARG_NO_LEGEND, ARG_NO_PAGER };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "json", optional_argument, NULL, 'j' },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "no-pager", no_argument, NULL, ARG_NO_PAGER },
                { NULL, 0, NULL, 0 },
        };
        bool tty = isatty(STDOUT_FILENO);
        int c;

        ctl->socket_path = getenv(CB_VL_SOCKET_ENV);
        if (!ctl->socket_path || !ctl->socket_path[0])
                ctl->socket_path = CB_VL_DEFAULT_SOCKET;
        ctl->view = (struct view_options){
                .colours = colours_wanted(tty, getenv("NO_COLOR"), getenv("TERM")),
                .legend = true,
                .width = tty ? terminal_width() : 0,
        };

        while ((c = getopt_long(argc, argv, "hj", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return EXIT_OK;
                case ARG_VERSION:
                        printf("clusterbootctl " CB_VERSION "\n");
                        return EXIT_OK;
                case ARG_SOCKET:
                        ctl->socket_path = optarg;
                        break;
                case 'j':
                        /* "--json pretty" as completion offers it: the next word, when it is a mode */
                        if (!optarg && optind < argc && json_mode_name(argv[optind]))
                                optarg = argv[optind++];
                        if (!optarg)
                                ctl->view.json = tty ? JSON_PRETTY : JSON_SHORT;
                        else if (strcmp(optarg, "pretty") == 0)
                                ctl->view.json = JSON_PRETTY;
                        else if (strcmp(optarg, "short") == 0)
                                ctl->view.json = JSON_SHORT;
                        else if (strcmp(optarg, "off") == 0)
                                ctl->view.json = JSON_OFF;
                        else
                                return fail(EXIT_USAGE, "--json: expected pretty, short or off, got '%s'", optarg);
                        break;
                case ARG_NO_LEGEND:
                        ctl->view.legend = false;
                        break;
                case ARG_NO_PAGER:
                        break;
                default:
                        return EXIT_USAGE; /* getopt said why */
                }
        }
        return -1;
}

int main(int argc, char **argv) {
        struct ctl ctl = { 0 };
        const struct verb *verb = NULL;
        char *default_argv[] = { (char *) "status", NULL };
        int r, n_args;

        r = parse_args(argc, argv, &ctl);
        if (r >= 0)
                return r;
        argc -= optind;
        argv += optind;
        if (argc == 0) {
                argc = 1;
                argv = default_argv;
        }
        for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
                if (strcmp(verbs[i].name, argv[0]) == 0)
                        verb = &verbs[i];
        if (!verb)
                return fail(EXIT_USAGE, "unknown command '%s' (see clusterbootctl --help)", argv[0]);
        n_args = argc - 1;
        if (n_args < verb->min_args || (verb->max_args >= 0 && n_args > verb->max_args))
                return fail(EXIT_USAGE, "usage: clusterbootctl %s", verb->usage);
        for (int i = verb->first_node; i > 0 && i < argc; i++)
                if (argv[i][0] == '\0')
                        return fail(EXIT_USAGE, "%s: an empty word is not a node: give a node's name or its USB port path",
                                    verb->name);
        ctl.verb = verb->name;

        r = verb->run(&ctl, argc, argv);
        vl_client_free(ctl.client);
        if (fflush(stdout) != 0 && r == EXIT_OK)
                r = fail(EXIT_FAILED, "cannot write the output: %s", strerror(errno));
        return r;
}
