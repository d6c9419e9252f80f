/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * clusterboot: boots Raspberry Pi boards over USB, all at once, and brings
 * back the ones that fail. Start-up, the event loop, signals and the
 * service manager's protocol (READY, STATUS, WATCHDOG) live here.
 */
#include <getopt.h>
#include <signal.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "cb-build-config.h"
#include "clusterboot/varlink.h"
#include "config.h"
#include "config-check.h"
#include "control.h"
#include "gadget-watch.h"
#include "hotplug.h"
#include "log.h"
#include "manager.h"
#include "boot-history.h"
#include "metrics.h"
#include "port-files.h"
#include "power-backends.h"
#include "usb.h"

struct options {
        const char *config_path;
        const char *socket_path;
        bool config_given;
        bool check_config;
        int log_level;
        enum cb_log_target log_target;
};

static void help(void) {
        printf("Usage: clusterboot [OPTIONS]\n\n"
               "Boot Raspberry Pi boards over USB, many at once, and recover failed boots.\n\n"
               "  -c, --config=PATH      configuration file (default " CB_DEFAULT_CONFIG ")\n"
               "      --check-config     validate the configuration and exit\n"
               "      --socket=PATH      control socket (default " CB_VL_DEFAULT_SOCKET ")\n"
               "      --log-level=LEVEL  debug, info, notice, warning, err (default info)\n"
               "      --log-target=T     auto, journal or stderr (default auto)\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n\n"
               "See clusterboot(8) and clusterboot.conf(5).\n");
}

static int parse_level(const char *s) {
        static const struct {
                const char *name;
                int level;
        } levels[] = { { "debug", LOG_DEBUG },    { "info", LOG_INFO }, { "notice", LOG_NOTICE },
                       { "warning", LOG_WARNING }, { "err", LOG_ERR },   { "error", LOG_ERR } };
        for (size_t i = 0; i < ELEMENTSOF(levels); i++)
                if (strcmp(s, levels[i].name) == 0)
                        return levels[i].level;
        return -EINVAL;
}

static int parse_args(int argc, char **argv, struct options *o) {
        enum { ARG_CHECK = 0x100, ARG_LEVEL, ARG_TARGET, ARG_VERSION, ARG_SOCKET };
        static const struct option longopts[] = {
                { "config", required_argument, NULL, 'c' },    { "check-config", no_argument, NULL, ARG_CHECK },
                { "log-level", required_argument, NULL, ARG_LEVEL }, { "log-target", required_argument, NULL, ARG_TARGET },
                { "help", no_argument, NULL, 'h' },            { "version", no_argument, NULL, ARG_VERSION },
                { "socket", required_argument, NULL, ARG_SOCKET },
                { NULL, 0, NULL, 0 },
        };
        int c;

        *o = (struct options){ .config_path = CB_DEFAULT_CONFIG, .socket_path = CB_VL_DEFAULT_SOCKET,
                               .log_level = LOG_INFO, .log_target = CB_LOG_AUTO };
        while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        o->config_path = optarg;
                        o->config_given = true;
                        break;
                case ARG_CHECK:
                        o->check_config = true;
                        break;
                case ARG_SOCKET:
                        o->socket_path = optarg;
                        break;
                case ARG_LEVEL:
                        o->log_level = parse_level(optarg);
                        if (o->log_level < 0) {
                                fprintf(stderr, "clusterboot: unknown log level \"%s\"\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_TARGET:
                        if (strcmp(optarg, "auto") == 0)
                                o->log_target = CB_LOG_AUTO;
                        else if (strcmp(optarg, "journal") == 0)
                                o->log_target = CB_LOG_JOURNAL;
                        else if (strcmp(optarg, "stderr") == 0)
                                o->log_target = CB_LOG_STDERR;
                        else {
                                fprintf(stderr, "clusterboot: unknown log target \"%s\"\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("clusterboot " CB_VERSION "\n");
                        return 0;
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "clusterboot: unexpected argument \"%s\"\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* The default file may be absent (all defaults); a file named on the command line must exist. */
static int load_config(const struct options *o, struct cb_config **ret) {
        return cb_config_load(o->config_path, !o->config_given, ret);
}

/* At start, what would not work here goes into the log; the daemon starts anyway and serves what it can. */
static void warn_about_environment(const struct cb_config *config) {
        struct cb_config_report report = { 0 };

        if (cb_config_report_init(&report, config->path ? config->path : "(built-in defaults)") >= 0 &&
            cb_config_check_environment(config, &report) >= 0)
                cb_config_report_log(&report);
        cb_config_report_done(&report);
}

/*
 * --check-config: every message as "file:line: message" on stderr (as
 * compilers print them, for editors and grep), then one verdict. Exit 0 when
 * the daemon would start with this file; warnings do not change that.
 */
static int check_config(const struct options *o) {
        struct cb_config_report report = { 0 };
        struct cb_config *config = NULL;
        int r;

        r = cb_config_load_report(o->config_path, !o->config_given, &report, &config);
        if (r >= 0 && cb_config_check_environment(config, &report) < 0)
                r = -ENOMEM;
        cb_config_report_print(&report, stderr);
        if (r < 0) {
                if (report.n_errors > 0)
                        fprintf(stderr, "%s: %u error%s: clusterboot would not start with this file\n", o->config_path,
                                report.n_errors, report.n_errors == 1 ? "" : "s");
                else
                        fprintf(stderr, "%s: cannot check: %s\n", o->config_path, strerror(-r));
                cb_config_report_done(&report);
                return EXIT_FAILURE;
        }
        printf("%s: OK (%zu node%s configured, boot directory %s)", config->path ? config->path : "(defaults)",
               config->n_nodes, config->n_nodes == 1 ? "" : "s", config->boot_directory);
        if (report.n_warnings > 0)
                printf(", %u warning%s", report.n_warnings, report.n_warnings == 1 ? "" : "s");
        putchar('\n');
        cb_config_free(config);
        cb_config_report_done(&report);
        return EXIT_SUCCESS;
}

struct daemon {
        struct options options;
        sd_event *event;
        struct cb_usb *usb;
        struct cb_power_backends *power;
        struct cb_hotplug *hotplug;
        struct cb_manager *manager;
        struct cb_control *control;
        struct cb_metrics *metrics;
        struct cb_boot_history *history;
        struct cb_gadget_watch *gadgets; /* NULL if udev could not be followed: no gadget is listed */
        bool stopping; /* a stop signal came: the nodes are draining */
};

/* How long a stop waits for the writes in flight: a whole kernel at full speed, with room. */
#define DRAIN_TIMEOUT_USEC (15 * USEC_PER_SEC)

static void drained(void *userdata) {
        struct daemon *d = userdata;

        log_info("every board is between two requests; exiting");
        (void) sd_event_exit(d->event, 0);
}

static int on_drain_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        log_warning("boards still took data after %.0fs; exiting anyway", (double) DRAIN_TIMEOUT_USEC / USEC_PER_SEC);
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

/*
 * A stop lets the writes in flight finish: a board cut off mid-file waits for
 * the rest of its bytes, and nothing but a power cycle brings it back, so the
 * next daemon could not serve it. A second signal exits at once.
 */
static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct daemon *d = userdata;

        if (d->stopping || !d->manager) {
                log_info("received %s again; exiting now", strsignal((int) si->ssi_signo));
                return sd_event_exit(sd_event_source_get_event(s), 0);
        }
        d->stopping = true;
        log_info("received %s; shutting down", strsignal((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1");
        /* no new boards: a board that shows up now is the next daemon's */
        d->hotplug = cb_hotplug_free(d->hotplug);
        if (cb_manager_drain(d->manager, drained, d) == 1)
                return sd_event_exit(sd_event_source_get_event(s), 0);
        (void) sd_event_add_time_relative(d->event, NULL, CLOCK_MONOTONIC, DRAIN_TIMEOUT_USEC, 0, on_drain_timeout, d);
        return 0;
}

/* SIGHUP and the control socket's Reload both come here; `report` gets the file's messages (the caller frees it). */
static int reload(struct daemon *d, struct cb_config_report *report) {
        struct cb_config *config = NULL;
        int r;

        (void) sd_notify(false, "RELOADING=1");
        r = cb_config_load_report(d->options.config_path, !d->options.config_given, report, &config);
        cb_config_report_log(report);
        if (r < 0)
                log_error("configuration not reloaded: %s has errors (see above); keeping the running one",
                          d->options.config_path);
        else
                r = cb_manager_reload(d->manager, config);
        if (r >= 0)
                (void) cb_port_files_update(cb_manager_config(d->manager));
        if (r >= 0 && cb_metrics_set_directory(d->metrics, cb_manager_config(d->manager)->metrics_directory) < 0)
                log_warning("metrics: cannot start writing to the new MetricsDirectory=");
        if (d->control)
                cb_control_reload_group(d->control);
        (void) sd_notify(false, "READY=1");
        return r;
}

static int on_reload_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct cb_config_report report = { 0 };

        (void) reload(userdata, &report);
        cb_config_report_done(&report);
        return 0;
}

/* The control socket sees the manager through these (control.h explains why not directly). */
static size_t control_n_nodes(void *userdata) {
        return cb_manager_n_nodes(((struct daemon *) userdata)->manager);
}
static struct cb_node *control_node(void *userdata, size_t i) {
        return cb_manager_node(((struct daemon *) userdata)->manager, i);
}
static struct cb_node *control_find_node(void *userdata, const char *name_or_port) {
        return cb_manager_find_node(((struct daemon *) userdata)->manager, name_or_port);
}
static const struct cb_config *control_config(void *userdata) {
        return cb_manager_config(((struct daemon *) userdata)->manager);
}
static void control_summary(void *userdata, char *buf, size_t size) {
        cb_manager_summary(((struct daemon *) userdata)->manager, buf, size);
}
static int control_reload(void *userdata, struct cb_config_report *report) {
        return reload(userdata, report);
}
static int control_metrics(void *userdata, char **ret) {
        return cb_metrics_format(((struct daemon *) userdata)->metrics, ret);
}

static int control_history(void *userdata, const char *port, struct json_object **ret) {
        return cb_boot_history_json(((struct daemon *) userdata)->history, port, ret);
}

static const struct cb_gadget_table *control_gadgets(void *userdata) {
        return cb_gadget_watch_table(((struct daemon *) userdata)->gadgets);
}

/* Every node change goes to the socket's watchers, the metrics and the boot history. */
static void on_node_changed(struct cb_node *node, void *userdata) {
        struct daemon *d = userdata;

        cb_control_node_changed(node, d->control);
        cb_metrics_node_changed(d->metrics, node);
        cb_boot_history_node_changed(d->history, node);
}

static size_t metrics_n_nodes(void *userdata) {
        return cb_manager_n_nodes(userdata);
}
static struct cb_node *metrics_node(void *userdata, size_t i) {
        return cb_manager_node(userdata, i);
}

/* udev's presence, told to the manager */
static void on_device_added(void *userdata, const struct cb_presence *device) {
        cb_manager_device_added(((struct daemon *) userdata)->manager, device);
}
static void on_device_removed(void *userdata, const char *port) {
        cb_manager_device_removed(((struct daemon *) userdata)->manager, port);
}

static const struct cb_control_ops control_ops = {
        .n_nodes = control_n_nodes,
        .node = control_node,
        .find_node = control_find_node,
        .config = control_config,
        .summary = control_summary,
        .reload = control_reload,
        .metrics = control_metrics,
        .history = control_history,
        .gadgets = control_gadgets,
};

int main(int argc, char **argv) {
        struct daemon d = { 0 };
        struct cb_config *config = NULL;
        sigset_t mask;
        char summary[256];
        int r;

        r = parse_args(argc, argv, &d.options);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        cb_log_open(d.options.log_target);
        cb_log_set_max_level(d.options.log_level);
        if (d.options.check_config)
                return check_config(&d.options);

        r = load_config(&d.options, &config);
        if (r < 0) {
                log_error("refusing to start: the configuration %s is not valid", d.options.config_path);
                return EXIT_FAILURE;
        }
        warn_about_environment(config);
        (void) cb_port_files_update(config);

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        /* a vanished control client must not kill the daemon */
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&d.event);
        if (r < 0) {
                cb_config_free(config);
                return log_error_errno(r, "cannot create the event loop"), EXIT_FAILURE;
        }
        (void) sd_event_add_signal(d.event, NULL, SIGTERM, on_exit_signal, &d);
        (void) sd_event_add_signal(d.event, NULL, SIGINT, on_exit_signal, &d);
        (void) sd_event_add_signal(d.event, NULL, SIGHUP, on_reload_signal, &d);
        /* WATCHDOG=1 from the loop itself: a wedged loop stops the pings */
        (void) sd_event_set_watchdog(d.event, true);

        r = cb_usb_new(d.event, &d.usb);
        if (r >= 0)
                r = cb_power_backends_new(d.event, d.usb, &d.power);
        if (r < 0) {
                cb_config_free(config);
                log_error_errno(r, "cannot start");
                goto out;
        }
        r = cb_manager_new(d.event, config,
                           &(struct cb_manager_seams){
                                   .opener = { &cb_usb_opener_ops, d.usb },
                                   .power = { cb_power_backends_make, d.power },
                           },
                           &d.manager);
        if (r < 0) {
                log_error_errno(r, "cannot start");
                goto out;
        }
        /* before the first board is seen, so that every change reaches the watchers */
        r = cb_control_new(d.event, &(struct cb_control_settings){ .socket_path = d.options.socket_path },
                           &control_ops, &d, &d.control);
        if (r < 0) {
                log_error_errno(r, "cannot open the control socket");
                goto out;
        }
        r = cb_metrics_new(d.event,
                           &(struct cb_metrics_nodes){ .n_nodes = metrics_n_nodes, .node = metrics_node,
                                                       .userdata = d.manager },
                           cb_manager_config(d.manager)->metrics_directory, &d.metrics);
        if (r < 0) {
                log_error_errno(r, "cannot set up the metrics");
                goto out;
        }
        /* read before the first node change; a bad file is set aside, never fatal */
        r = cb_boot_history_new(d.event, cb_manager_config(d.manager)->state_directory, &d.history);
        if (r < 0) {
                log_error_errno(r, "cannot set up the boot history");
                goto out;
        }
        (void) cb_gadget_watch_new(d.event, &d.gadgets);
        cb_manager_set_listener(d.manager, on_node_changed, &d);
        r = cb_manager_start(d.manager);
        if (r >= 0)
                r = cb_hotplug_new(d.event, on_device_added, on_device_removed, &d, &d.hotplug);
        if (r >= 0)
                r = cb_hotplug_enumerate(d.hotplug);
        if (r < 0) {
                log_error_errno(r, "cannot watch USB devices");
                goto out;
        }
        cb_manager_summary(d.manager, summary, sizeof summary);
        log_info("clusterboot " CB_VERSION " running; %s", summary);
        (void) sd_notifyf(false, "READY=1\nSTATUS=%s", summary);

        r = sd_event_loop(d.event);
        if (r < 0)
                log_error_errno(r, "event loop failed");
out:
        d.hotplug = cb_hotplug_free(d.hotplug);
        if (d.manager)
                cb_manager_set_listener(d.manager, NULL, NULL);
        cb_control_free(d.control);
        /* its last write reads the nodes: before the manager goes */
        cb_metrics_free(d.metrics);
        /* after the drain: boots still running are written as interrupted */
        cb_boot_history_free(d.history);
        cb_gadget_watch_free(d.gadgets);
        /* the sysfs writes and the opens in flight report back while the nodes still exist */
        cb_power_backends_stop(d.power);
        cb_manager_free(d.manager);
        cb_power_backends_free(d.power);
        /* every device given up: cancelled transfers may now complete */
        cb_usb_drain(d.usb);
        cb_usb_free(d.usb);
        sd_event_unref(d.event);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
