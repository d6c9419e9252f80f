/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * redir-boards: emulated Raspberry Pis behind QEMU's usb-hub, for the hub
 * tier (tests/vm/hub/). See rb.h for the files and README.md for the tier.
 *
 *   redir-boards --dir DIR --boot-dir DIR [--status-file PATH]
 *                [--reconnect-ms MS] [--verbose]
 *
 * It listens on DIR/qmp.sock (QEMU's monitor connects to it: -chardev
 * socket,path=DIR/qmp.sock -mon mode=control), DIR/ctl.sock (the guest's
 * command channel: a virtserialport named cb.hub) and DIR/board-N.sock (one
 * per board: QEMU's usb-redir chardevs, added through QMP), and reads QEMU's
 * trace from the fifo DIR/trace.fifo (-trace events=...,file=DIR/trace.fifo).
 * It prints "READY" on stdout once all of them exist, and runs until QEMU
 * goes away (the monitor closes) or SIGTERM.
 *
 * This file: options, the log, the world (hubs, boards, the power of their
 * ports) and main.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rb.h"

struct rb_options rb_opt = { .reconnect_ms = 300 };
sd_event *rb_event;
struct rb_board rb_boards[RB_MAX_BOARDS + 1];
struct rb_hub rb_hubs[RB_MAX_HUBS];
static uint64_t t0_ms;

uint64_t rb_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

void rb_log(const struct rb_board *b, const char *fmt, ...) {
        va_list ap;
        uint64_t t = rb_now_ms() - t0_ms;

        fprintf(stderr, "[rb %4llu.%03llu] ", (unsigned long long) (t / 1000), (unsigned long long) (t % 1000));
        if (b)
                fprintf(stderr, "board %u (%s): ", b->index, b->port);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

struct rb_board *rb_board(unsigned index) {
        if (index < 1 || index > RB_MAX_BOARDS)
                return NULL;
        return &rb_boards[index];
}

struct rb_hub *rb_hub_by_id(const char *id) {
        for (size_t i = 0; i < RB_MAX_HUBS; i++)
                if (rb_hubs[i].defined && strcmp(rb_hubs[i].id, id) == 0)
                        return &rb_hubs[i];
        return NULL;
}

struct rb_hub *rb_hub_by_port(const char *port) {
        for (size_t i = 0; i < RB_MAX_HUBS; i++)
                if (rb_hubs[i].defined && strcmp(rb_hubs[i].port, port) == 0)
                        return &rb_hubs[i];
        return NULL;
}

/* "1.4.2" -> parent "1.4", number 2; false for a root port ("1"). */
static bool split_port(const char *port, char parent[RB_PORT_LEN], unsigned *number) {
        const char *dot = strrchr(port, '.');

        if (!dot || (size_t) (dot - port) >= RB_PORT_LEN)
                return false;
        memcpy(parent, port, (size_t) (dot - port));
        parent[dot - port] = '\0';
        *number = (unsigned) strtoul(dot + 1, NULL, 10);
        return true;
}

bool rb_port_powered(const char *port) {
        char parent[RB_PORT_LEN];
        unsigned number;
        struct rb_hub *h;

        if (!split_port(port, parent, &number))
                return true; /* a root port of the host controller: QEMU's xHCI does not switch it */
        h = rb_hub_by_port(parent);
        if (!h || !h->present || h->deleting || number < 1 || number > h->n_ports)
                return false;
        return h->port_powered[number] && rb_port_powered(h->port);
}

static const char *power_lost_why(const struct rb_board *b) {
        char parent[RB_PORT_LEN];
        unsigned number;
        const struct rb_hub *h;

        if (!b->plugged)
                return "unplugged";
        if (!b->in_qemu)
                return "its device left QEMU";
        for (const char *p = b->port; split_port(p, parent, &number); p = h->port) {
                h = rb_hub_by_port(parent);
                if (!h)
                        break;
                if (!h->present || h->deleting)
                        return "its hub was unplugged";
        }
        return "its port was switched off";
}

void rb_power_update(void) {
        for (unsigned i = 1; i <= RB_MAX_BOARDS; i++) {
                struct rb_board *b = &rb_boards[i];
                bool port_on, powered;

                if (!b->defined)
                        continue;
                port_on = rb_port_powered(b->port);
                powered = b->plugged && b->in_qemu && (port_on || (b->keeps_power && b->powered));
                if (powered == b->powered) {
                        if (powered && !port_on && b->configured) {
                                /* the hub says the port is off, but the board kept its VBUS: the host lost it */
                                rb_log(b, "its port was switched off, but the board keeps its power (keep-power)");
                                snprintf(b->last_event, sizeof b->last_event,
                                         "port switched off, power kept (keep-power)");
                                b->configured = false;
                        }
                        continue;
                }
                b->powered = powered;
                if (powered)
                        rb_board_power_back(b);
                else
                        rb_board_power_lost(b, power_lost_why(b));
        }
        rb_changed();
}

/*
 * Waiters, triggers and the status file look at the world once the event
 * that changed it is fully handled: from a defer source, never from inside
 * the change (a trigger's action changes the world again).
 */
static sd_event_source *changed_source;

static int on_changed(sd_event_source *s, void *userdata) {
        rb_control_check_waits();
        rb_status_write();
        return 0;
}

void rb_changed(void) {
        if (!changed_source && sd_event_add_defer(rb_event, &changed_source, on_changed, NULL) < 0)
                return;
        (void) sd_event_source_set_enabled(changed_source, SD_EVENT_ONESHOT);
}

/* ------------------------------------------------------------------ QEMU's devices */

void rb_world_device_deleted(const char *id) {
        struct rb_hub *h = rb_hub_by_id(id);

        if (h) {
                rb_log(NULL, "hub %s (port %s) is gone", h->id, h->port);
                h->present = false;
                h->deleting = false;
                for (unsigned p = 1; p <= RB_HUB_MAX_PORTS; p++)
                        h->port_powered[p] = false;
        }
        for (unsigned i = 1; i <= RB_MAX_BOARDS; i++) {
                struct rb_board *b = &rb_boards[i];
                if (b->defined && b->in_qemu && strcmp(b->qemu_id, id) == 0) {
                        rb_log(b, "its usb-redir device is gone");
                        b->in_qemu = false;
                        rb_board_close_connection(b, "device deleted");
                }
        }
        rb_power_update();
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        rb_log(NULL, "signal %u: quitting", si->ssi_signo);
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static void usage(FILE *f) {
        fprintf(f, "usage: redir-boards --dir DIR --boot-dir DIR [--status-file PATH] [--reconnect-ms MS] "
                   "[--verbose]\n"
                   "Emulated Pis as QEMU usb-redir devices behind QEMU's usb-hub; see tests/vm/hub/README.md.\n");
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "boot-dir", required_argument, NULL, 'b' },
                { "status-file", required_argument, NULL, 's' },
                { "reconnect-ms", required_argument, NULL, 'r' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        sigset_t mask;
        int c, r;

        t0_ms = rb_now_ms();
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        rb_opt.dir = optarg;
                        break;
                case 'b':
                        rb_opt.boot_dir = optarg;
                        break;
                case 's':
                        rb_opt.status_file = optarg;
                        break;
                case 'r':
                        rb_opt.reconnect_ms = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'v':
                        rb_opt.verbose = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (!rb_opt.dir || !rb_opt.boot_dir || optind != argc) {
                usage(stderr);
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&rb_event);
        if (r < 0) {
                fprintf(stderr, "redir-boards: sd_event_default: %s\n", strerror(-r));
                return 1;
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) sd_event_add_signal(rb_event, NULL, SIGTERM, on_sigterm, NULL);
        (void) sd_event_add_signal(rb_event, NULL, SIGINT, on_sigterm, NULL);

        for (unsigned i = 1; i <= RB_MAX_BOARDS; i++) {
                rb_boards[i].index = i;
                rb_boards[i].fd = -1;
                rb_boards[i].listen_fd = -1;
        }
        rb_status_init();
        if (rb_qemu_start() < 0 || rb_control_start() < 0)
                return 1;
        printf("READY\n");
        fflush(stdout);
        r = sd_event_loop(rb_event);
        rb_status_write();
        rb_log(NULL, "done");
        sd_event_unref(rb_event);
        return r < 0 ? 1 : 0;
}
