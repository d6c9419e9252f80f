/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * clusterbootctl: see and steer the nodes clusterboot boots, through the
 * daemon's control socket. The command line and the table of commands live
 * here; the commands in verbs-*.c, talking to the daemon in calls.c, the
 * rendering in views.c.
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
#include "ctl.h"
#include "format.h"
#include "pager.h"

static void help(void) {
        printf("Usage: clusterbootctl [OPTIONS] [COMMAND]\n\n"
               "See and steer the Raspberry Pi boards that clusterboot boots over USB.\n\n"
               "Commands:\n"
               "  status [NODE...]       table of all nodes (the default); with NODE, its detailed view\n"
               "  watch                  show events as they happen, until Ctrl-C\n"
               "  reboot NODE...         power-cycle nodes and boot them again\n"
               "  power on|off NODE...   switch nodes' power\n"
               "  retry NODE...          start a failed node's boot again\n"
               "  wait [NODE...]         wait until the nodes (default: all) are up (or --state=)\n"
               "  is-up NODE...          exit 0 if every node is up; print each one's state\n"
               "  logs NODE              the node's journal entries (-n N: the last N; -f: follow)\n"
               "  metrics                every node's metrics, in the Prometheus text format\n"
               "  history [NODE]         recent boots (kept across daemon restarts): outcome, stages, faults\n"
               "  timeline -o FILE.svg   the boots as a picture: a row per node, bars per stage, faults marked\n"
               "  reload                 make the daemon re-read its configuration\n\n"
               "Options:\n"
               "      --socket=PATH      the daemon's socket (default $" CB_VL_SOCKET_ENV " or " CB_VL_DEFAULT_SOCKET
               ")\n"
               "  -H, --host=[USER@]HOST the clusterboot on another controller, over ssh; several -H: status and\n"
               "                         list-nodes merge them into one table with a HOST column\n"
               "  -j, --json[=MODE]      print JSON: pretty, short or off (default: pretty on a terminal)\n"
               "      --no-legend        no table header and summary\n"
               "  -q, --quiet            no output where the exit status tells (is-up)\n"
               "      --state=STATE      wait: the state to wait for (default up)\n"
               "  -n, --lines=N          logs: the last N entries\n"
               "  -f, --follow           logs: then show new entries as they come\n"
               "  -D, --directory=DIR    logs: read the journal files in DIR\n"
               "  -o, --output=FILE      timeline: write the SVG to FILE\n"
               "      --last=N           timeline: each node's last N boots\n"
               "      --since=TIME       timeline: boots since TIME (2h ago, '2026-12-03 23:00', 23:00)\n"
               "      --input=FILE       timeline: draw a saved history --json instead of asking the daemon\n"
               "      --timeout=TIME     wait: give up after this long (30s, 5min; default: never)\n"
               "      --no-pager         do not pipe long output (status, logs, metrics) into a pager\n"
               "  -l, --full             do not cut the table's last column to the terminal's width\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n\n"
               "A NODE is a node name or a USB port path. See clusterbootctl(1).\n");
}

struct verb {
        const char *name;
        int min_args, max_args; /* after the verb; -1: any number */
        int first_node;         /* the first argument that names a node (1-based; 0: none) */
        enum { HOSTS_NONE, HOSTS_ONE, HOSTS_MANY } hosts; /* how many -H it takes */
        bool paged;             /* long output: through the pager on a terminal */
        int (*run)(struct ctl *ctl, int argc, char **argv);
        const char *usage;
};

static const struct verb verbs[] = {
        { "status", 0, -1, 1, HOSTS_MANY, true, verb_status, "status [NODE...]" },
        { "watch", 0, 0, 0, HOSTS_ONE, false, verb_watch, "watch" },
        { "reboot", 1, -1, 1, HOSTS_ONE, false, verb_reboot, "reboot NODE..." },
        { "power", 2, -1, 2, HOSTS_ONE, false, verb_power, "power on|off NODE..." },
        { "retry", 1, -1, 1, HOSTS_ONE, false, verb_retry, "retry NODE..." },
        { "reload", 0, 0, 0, HOSTS_ONE, false, verb_reload, "reload" },
        { "wait", 0, -1, 1, HOSTS_ONE, false, verb_wait, "wait [--state=STATE] [--timeout=TIME] [NODE...]" },
        { "is-up", 1, -1, 1, HOSTS_ONE, false, verb_is_up, "is-up NODE..." },
        { "logs", 1, 1, 1, HOSTS_NONE, true, verb_logs, "logs [-n N] [-f] NODE" },
        { "metrics", 0, 0, 0, HOSTS_ONE, true, verb_metrics, "metrics" },
        { "history", 0, 1, 1, HOSTS_ONE, true, verb_history, "history [NODE]" },
        { "timeline", 0, 0, 0, HOSTS_ONE, false, verb_timeline, "timeline [--last=N|--since=TIME] [-o FILE]" },
        { "list-nodes", 0, 0, 0, HOSTS_MANY, false, verb_list_nodes, "list-nodes" },
        { "bridge", 0, 0, 0, HOSTS_NONE, false, verb_bridge, "bridge" },
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
        enum { ARG_VERSION = 0x100, ARG_SOCKET, ARG_NO_LEGEND, ARG_NO_PAGER, ARG_STATE, ARG_TIMEOUT, ARG_LAST, ARG_SINCE,
               ARG_INPUT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "json", optional_argument, NULL, 'j' },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "no-pager", no_argument, NULL, ARG_NO_PAGER },
                { "full", no_argument, NULL, 'l' },
                { "quiet", no_argument, NULL, 'q' },
                { "state", required_argument, NULL, ARG_STATE },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "lines", required_argument, NULL, 'n' },
                { "follow", no_argument, NULL, 'f' },
                { "directory", required_argument, NULL, 'D' },
                { "host", required_argument, NULL, 'H' },
                { "output", required_argument, NULL, 'o' },
                { "last", required_argument, NULL, ARG_LAST },
                { "since", required_argument, NULL, ARG_SINCE },
                { "input", required_argument, NULL, ARG_INPUT },
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

        while ((c = getopt_long(argc, argv, "hjlqn:fD:H:o:", options, NULL)) >= 0) {
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
                        ctl->no_pager = true;
                        break;
                case 'l':
                        /* nothing cut to the terminal's width */
                        ctl->view.width = 0;
                        break;
                case 'q':
                        ctl->quiet = true;
                        break;
                case 'n': {
                        char *end;
                        unsigned long n = strtoul(optarg, &end, 10);

                        if (optarg[0] < '0' || optarg[0] > '9' || *end || n > 1000000)
                                return fail(EXIT_USAGE, "--lines: expected a number of entries, got '%s'", optarg);
                        ctl->lines = (unsigned) n;
                        ctl->lines_given = true;
                        break;
                }
                case 'f':
                        ctl->follow = true;
                        break;
                case 'D':
                        ctl->journal_directory = optarg;
                        break;
                case 'H':
                        /* handed to ssh as its destination: it must not read as an option */
                        if (!optarg[0] || optarg[0] == '-')
                                return fail(EXIT_USAGE, "--host: expected [USER@]HOST, got '%s'", optarg);
                        if (ctl->n_hosts == CTL_HOSTS_MAX)
                                return fail(EXIT_USAGE, "--host: at most %d hosts", CTL_HOSTS_MAX);
                        ctl->hosts[ctl->n_hosts++] = optarg;
                        break;
                case ARG_STATE:
                        if (!optarg[0])
                                return fail(EXIT_USAGE, "--state: expected a state name, such as up");
                        ctl->wait_state = optarg;
                        break;
                case ARG_TIMEOUT:
                        if (parse_duration(optarg, &ctl->wait_timeout) < 0 || ctl->wait_timeout == 0)
                                return fail(EXIT_USAGE, "--timeout: expected a time such as 30s, 5min or 1h, got '%s'",
                                            optarg);
                        break;
                case 'o':
                        if (!optarg[0])
                                return fail(EXIT_USAGE, "--output: expected a file name");
                        ctl->output = optarg;
                        break;
                case ARG_LAST: {
                        char *end;
                        unsigned long n = strtoul(optarg, &end, 10);

                        if (optarg[0] < '0' || optarg[0] > '9' || *end || n == 0 || n > 1000000)
                                return fail(EXIT_USAGE, "--last: expected a number of boots, got '%s'", optarg);
                        ctl->timeline_last = (unsigned) n;
                        break;
                }
                case ARG_SINCE:
                        ctl->timeline_since = optarg;
                        break;
                case ARG_INPUT:
                        ctl->input = optarg;
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
        if (ctl.n_hosts > 0 && verb->hosts == HOSTS_NONE)
                return fail(EXIT_USAGE, "%s: works on this machine only (run it there: ssh HOST clusterbootctl %s)",
                            verb->name, verb->name);
        if (ctl.n_hosts > 1 && verb->hosts == HOSTS_ONE)
                return fail(EXIT_USAGE, "%s: takes one -H (several are merged by status and list-nodes only)",
                            verb->name);
        if (ctl.n_hosts == 1)
                ctl.host = ctl.hosts[0];

        /* following a log never ends by itself: a pager would hold it all back */
        bool paged = verb->paged && !ctl.no_pager && !ctl.follow;
        if (paged)
                pager_open();
        r = verb->run(&ctl, argc, argv);
        vl_client_free(ctl.client);
        /* a reader who left the pager early is not a failed write */
        if (fflush(stdout) != 0 && r == EXIT_OK && !(paged && errno == EPIPE))
                r = fail(EXIT_FAILED, "cannot write the output: %s", strerror(errno));
        if (paged)
                pager_close();
        return r;
}
