/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gadget-boards: N emulated Raspberry Pi boards (any SoC) on a real kernel USB
 * stack, for the end-to-end tier (tests/vm). Each board is one raw-gadget
 * device on its own dummy_hcd UDC (dummy_udc.K, seen by the host as port
 * "B-1" of bus B), driven by the board model every tier shares
 * (tests/emu/board.c): this program is only the adapter that carries the
 * host's USB operations to the model and the model's answers back to the
 * bus, as tests/emu/inproc.c does in-process.
 *
 * Per board, one "runner" thread owns the raw-gadget fd: it fetches ep0
 * events (descriptors, SET_CONFIGURATION, the protocol's vendor requests)
 * and answers them; a second thread reads the bulk OUT endpoint (reads
 * block). A board drops off the bus by closing its fd (raw-gadget in 6.1
 * has no other way) and comes back, after --reconnect-ms, with a new fd and
 * the descriptors of its next stage.
 *
 * Bus resets and port power cuts: 6.1's raw-gadget does not report them;
 * tests/vm/build-image.sh patches the module to queue the events Linux 6.6
 * added (RESET = 5, DISCONNECT = 6). A reset after the board was configured
 * is the host resetting the port (libusb_reset_device): the model decides
 * what the board does (by default a Pi restarts in its ROM). A DISCONNECT
 * is a power cut (dummy_hcd reports it only when the port's power bit goes
 * from on to off, never for a reset): like a bus-powered Pi, the board
 * loses everything, mid-transfer included, and starts again as a fresh
 * board in its boot ROM; it re-attaches at once, and the host sees it when
 * the port has power again. A board that is off the bus (between stages,
 * or wedged by an "unplug"/"no-gadget" fault) has no gadget bound and so
 * gets no event: its runner watches the port's power instead (the root
 * hub's sysfs `disable` file, else GET_STATUS through usbfs) and, seeing
 * it off, kills the board the same way. So a power cycle revives a wedged
 * board, and a cut during a stage change is not missed.
 *
 * Files: this one holds the options and main(); gadget-boards.h the shared
 * structs and declarations; gb-rawgadget.c the raw-gadget I/O and a
 * connection's event loop; gb-ep0.c the control requests; gb-bulk.c the
 * bulk OUT thread; gb-power.c power cuts and the port-power watch;
 * gb-board.c the runner thread, resets and the ticker; gb-control.c the
 * control FIFO; gb-status.c the verdicts and the status file; gb-util.c
 * time and the log.
 *
 * Usage: see usage() below. The status file (--status-file) is rewritten
 * (atomically) whenever a board changes: {"boards":[{...}, ...]} with each
 * board's stage, attempt, the files it received, whether they equal the
 * files of --boot-dir, and the first protocol violation it saw.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "board-spec.h"
#include "gadget-boards.h"

struct gb_options opt = { .n_boards = 1, .reconnect_ms = 300, .hold_ms = 3000 };

struct gboard boards[MAX_BOARDS];
static struct emu_board_config configs[MAX_BOARDS];
static bool start_unplugged[MAX_BOARDS];
static unsigned throttles[MAX_BOARDS];
volatile sig_atomic_t quitting;

static void on_sigusr1(int sig) {
        (void) sig;
}

/* --------------------------------------------------------------- options */

/* "BOARD:REST" -> board selection and REST */
static int split_board(const char *arg, bool sel[MAX_BOARDS], const char **rest) {
        char who[64];
        const char *colon = strchr(arg, ':');

        if (!colon || (size_t) (colon - arg) >= sizeof who)
                return -EINVAL;
        memcpy(who, arg, (size_t) (colon - arg));
        who[colon - arg] = '\0';
        *rest = colon + 1;
        return parse_board_list(who, sel);
}

/* requests=A,B,...: what board `k`'s second stage asks for, in order (the wire check's list) */
static int parse_requests(unsigned k, const char *list, struct emu_board_config *c) {
        static char names[MAX_BOARDS][EMU_MAX_FILES][64];
        static const char *ptrs[MAX_BOARDS][EMU_MAX_FILES];
        size_t n = 0;

        for (const char *p = list; *p;) {
                size_t len = strcspn(p, ",");
                if (len == 0 || len >= sizeof names[k][0] || n == EMU_MAX_FILES)
                        return -EINVAL;
                memcpy(names[k][n], p, len);
                names[k][n][len] = '\0';
                ptrs[k][n] = names[k][n];
                n++;
                p += len + (p[len] == ',');
        }
        if (n == 0)
                return -EINVAL;
        c->requests = ptrs[k];
        c->n_requests = n;
        return 0;
}

/* KEY=VALUE:KEY=VALUE...: the model's settings (board-spec.h), and the program's own */
static int parse_board_settings(unsigned k, const char *spec, struct emu_board_config *c, unsigned *throttle) {
        char *copy = strdup(spec), *save = NULL;
        int r = 0;

        if (!copy)
                return -ENOMEM;
        for (char *tok = strtok_r(copy, ":", &save); tok && r == 0; tok = strtok_r(NULL, ":", &save)) {
                char *eq = strchr(tok, '=');
                unsigned long v;
                if (!eq) {
                        r = -EINVAL;
                        break;
                }
                *eq++ = '\0';
                r = emu_board_setting_parse(tok, eq, c);
                if (r != -ENOENT)
                        continue;
                /* the program's own: how fast the board takes bulk data, and a list of its requests */
                if (strcmp(tok, "requests") == 0) {
                        r = parse_requests(k, eq, c);
                        continue;
                }
                r = strcmp(tok, "throttle") == 0 ? emu_parse_unsigned(eq, 10000000, &v) : -EINVAL;
                if (r == 0)
                        *throttle = (unsigned) v;
        }
        free(copy);
        return r;
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: gadget-boards [OPTIONS]\n"
                "Emulated Raspberry Pi boards on dummy_hcd UDCs through raw-gadget (tests/emu/board.c).\n\n"
                "  --boards N            number of boards (1..%d); board K uses dummy_udc.(BASE+K-1)\n"
                "  --udc-base BASE       first dummy UDC to use (default 0)\n"
                "  --boot-dir DIR        the boot files the host serves: boards verify what they got\n"
                "  --status-file PATH    JSON status of every board, rewritten as boards change\n"
                "  --control FIFO        FIFO for commands: plug B | unplug B | replug B [MS] | throttle B KIB_PER_S\n"
                "                        | quit (B: a board number, a list 1,3-4, or all). replug: out of its\n"
                "                        port, back in (in ROM) MS later (default --reconnect-ms); plug also\n"
                "                        revives a board wedged off the bus by a fault\n"
                "  --fault B:SPEC        a planned fault; SPEC is KIND[:file=NAME][:offset=N][:request=N]\n"
                "                        [:at=POINT][:attempt=N][:ms=N][:sticky]; KIND: stall no-answer pause\n"
                "                        (busy for ms) hang vanish unplug rom-failure bogus-command\n"
                "                        name-no-nul escape no-gadget; POINT:\n"
                "                        rom-header rom-loader rom-status request file gadget; attempt 0\n"
                "                        (default) = every boot attempt\n"
                "  --board B:SETTINGS    soc=2835|2837|2711|2712, rom-pid=0x2763|0x2764, serial=HEX,\n"
                "                        serial-index=N, handoff=leave|done, product=d0, read-missing=yes,\n"
                "                        after-bulk-fault=wait-resend|restart, on-reset=restart|keep,\n"
                "                        gadget=plain|ecm|ecm-acm (what the booted board offers: CDC ECM,\n"
                "                        with CDC ACM; MAC 02:00:cb:00:00:UDC), throttle=KIB_PER_S (bulk\n"
                "                        OUT rate), requests=NAME,NAME... (what the second stage asks for,\n"
                "                        in order); joined with ':'\n"
                "  --unplugged B         start these boards unplugged (see the plug command)\n"
                "  --reconnect-ms MS     time off the bus between stages (default %u)\n"
                "  --hold-ms MS          how long an unanswered control request is held (default %u)\n"
                "  --verbose             log every request\n",
                MAX_BOARDS, opt.reconnect_ms, opt.hold_ms);
}

static int bus_of_udc(unsigned udc) {
        char path[128];
        struct dirent *de;
        DIR *d;
        int bus = -1;

        snprintf(path, sizeof path, "/sys/devices/platform/dummy_hcd.%u", udc);
        d = opendir(path);
        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "usb", 3) == 0 && de->d_name[3] >= '1' && de->d_name[3] <= '9')
                        bus = atoi(de->d_name + 3);
        closedir(d);
        return bus;
}

int main(int argc, char **argv) {
        enum { OPT_BOARDS = 0x100, OPT_UDC_BASE, OPT_BOOT_DIR, OPT_STATUS, OPT_CONTROL, OPT_FAULT, OPT_BOARD,
               OPT_UNPLUGGED, OPT_RECONNECT, OPT_HOLD, OPT_VERBOSE, OPT_HELP };
        static const struct option longopts[] = {
                { "boards", required_argument, NULL, OPT_BOARDS },
                { "udc-base", required_argument, NULL, OPT_UDC_BASE },
                { "boot-dir", required_argument, NULL, OPT_BOOT_DIR },
                { "status-file", required_argument, NULL, OPT_STATUS },
                { "control", required_argument, NULL, OPT_CONTROL },
                { "fault", required_argument, NULL, OPT_FAULT },
                { "board", required_argument, NULL, OPT_BOARD },
                { "unplugged", required_argument, NULL, OPT_UNPLUGGED },
                { "reconnect-ms", required_argument, NULL, OPT_RECONNECT },
                { "hold-ms", required_argument, NULL, OPT_HOLD },
                { "verbose", no_argument, NULL, OPT_VERBOSE },
                { "help", no_argument, NULL, OPT_HELP },
                { NULL, 0, NULL, 0 },
        };
        /* Faults and settings name boards, so they are applied once --boards is known. */
        const char *fault_args[64], *board_args[64], *unplugged_arg = NULL;
        size_t n_fault_args = 0, n_board_args = 0;
        unsigned long v;
        bool sel[MAX_BOARDS];
        sigset_t mask;
        pthread_t status_thread, ticker_thread, control_thread;
        pthread_condattr_t ca;
        struct sigaction sa;
        int c, sig;

        t_start = now_ms();
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
                switch (c) {
                case OPT_BOARDS:
                        if (emu_parse_unsigned(optarg, MAX_BOARDS, &v) < 0 || v < 1) {
                                fprintf(stderr, "gadget-boards: --boards takes 1..%d\n", MAX_BOARDS);
                                return 2;
                        }
                        opt.n_boards = (unsigned) v;
                        break;
                case OPT_UDC_BASE:
                        if (emu_parse_unsigned(optarg, MAX_BOARDS - 1, &v) < 0) {
                                fprintf(stderr, "gadget-boards: bad --udc-base\n");
                                return 2;
                        }
                        opt.udc_base = (unsigned) v;
                        break;
                case OPT_BOOT_DIR:
                        opt.boot_dir = optarg;
                        break;
                case OPT_STATUS:
                        opt.status_file = optarg;
                        break;
                case OPT_CONTROL:
                        opt.control = optarg;
                        break;
                case OPT_FAULT:
                        if (n_fault_args < 64)
                                fault_args[n_fault_args++] = optarg;
                        break;
                case OPT_BOARD:
                        if (n_board_args < 64)
                                board_args[n_board_args++] = optarg;
                        break;
                case OPT_UNPLUGGED:
                        unplugged_arg = optarg;
                        break;
                case OPT_RECONNECT:
                        if (emu_parse_unsigned(optarg, 60000, &v) < 0) {
                                fprintf(stderr, "gadget-boards: bad --reconnect-ms\n");
                                return 2;
                        }
                        opt.reconnect_ms = (unsigned) v;
                        break;
                case OPT_HOLD:
                        if (emu_parse_unsigned(optarg, 600000, &v) < 0) {
                                fprintf(stderr, "gadget-boards: bad --hold-ms\n");
                                return 2;
                        }
                        opt.hold_ms = (unsigned) v;
                        break;
                case OPT_VERBOSE:
                        opt.verbose = true;
                        break;
                case OPT_HELP:
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc || opt.udc_base + opt.n_boards > MAX_BOARDS) {
                usage(stderr);
                return 2;
        }

        for (size_t i = 0; i < n_board_args; i++) {
                const char *rest;
                if (split_board(board_args[i], sel, &rest) < 0) {
                        fprintf(stderr, "gadget-boards: bad --board %s\n", board_args[i]);
                        return 2;
                }
                for (unsigned k = 0; k < opt.n_boards; k++)
                        if (sel[k] && parse_board_settings(k, rest, &configs[k], &throttles[k]) < 0) {
                                fprintf(stderr, "gadget-boards: bad --board %s\n", board_args[i]);
                                return 2;
                        }
        }
        for (size_t i = 0; i < n_fault_args; i++) {
                const char *rest;
                struct emu_fault f;
                char name[EMU_FAULT_NAME_SIZE];
                if (split_board(fault_args[i], sel, &rest) < 0 || emu_fault_parse(rest, &f, name) < 0) {
                        fprintf(stderr, "gadget-boards: bad --fault %s\n", fault_args[i]);
                        return 2;
                }
                for (unsigned k = 0; k < opt.n_boards; k++) {
                        if (!sel[k])
                                continue;
                        if (configs[k].n_faults >= EMU_MAX_FAULTS) {
                                fprintf(stderr, "gadget-boards: too many faults for board %u\n", k + 1);
                                return 2;
                        }
                        snprintf(boards[k].fault_names[configs[k].n_faults], 260, "%s", name);
                        if (name[0])
                                f.name = boards[k].fault_names[configs[k].n_faults];
                        configs[k].faults[configs[k].n_faults++] = f;
                }
        }
        if (unplugged_arg) {
                if (parse_board_list(unplugged_arg, sel) < 0) {
                        fprintf(stderr, "gadget-boards: bad --unplugged %s\n", unplugged_arg);
                        return 2;
                }
                memcpy(start_unplugged, sel, sizeof sel);
        }

        /* what the boards should end up holding */
        if (opt.boot_dir) {
                status_load_truth(opt.boot_dir);
        }

        if (opt.control) {
                unlink(opt.control);
                if (mkfifo(opt.control, 0600) < 0) {
                        fprintf(stderr, "gadget-boards: cannot create %s: %s\n", opt.control, strerror(errno));
                        return 1;
                }
        }

        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigusr1; /* no SA_RESTART: blocking raw-gadget ioctls return EINTR */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR1, &sa, NULL);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        pthread_sigmask(SIG_BLOCK, &mask, NULL); /* every thread inherits it; main sigwait()s */

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        status_init(&ca);
        for (unsigned i = 0; i < opt.n_boards; i++) {
                struct gboard *g = &boards[i];
                int bus;

                g->index = i + 1;
                g->udc = opt.udc_base + i;
                g->fd = -1;
                g->ep_out = -1;
                g->power_fd = -1;
                g->throttle_kbps = throttles[i];
                bus = bus_of_udc(g->udc);
                g->bus = bus;
                if (bus > 0) {
                        snprintf(g->port, sizeof g->port, "%d-1", bus);
                        snprintf(g->power_path, sizeof g->power_path,
                                 "/sys/bus/usb/devices/%d-0:1.0/usb%d-port1/disable", bus, bus);
                        if (access(g->power_path, R_OK) < 0)
                                g->power_path[0] = '\0';
                } else {
                        snprintf(g->port, sizeof g->port, "?");
                }
                pthread_mutex_init(&g->lock, NULL);
                pthread_cond_init(&g->cond, &ca);
                /* each board's network function a MAC of its own, which the host's interface takes */
                configs[i].mac[0] = 0x02; /* locally administered */
                configs[i].mac[2] = 0xcb;
                configs[i].mac[5] = (uint8_t) g->udc;
                emu_board_init(&g->emu, &configs[i]);
                if (start_unplugged[i])
                        g->unplugged = true;
                else
                        emu_board_plug(&g->emu);
        }
        blog(NULL, "%u board%s on dummy_udc.%u..%u, boot dir %s", opt.n_boards, opt.n_boards == 1 ? "" : "s",
             opt.udc_base, opt.udc_base + opt.n_boards - 1, opt.boot_dir ? opt.boot_dir : "(none)");
        write_status();

        pthread_create(&status_thread, NULL, status_main, NULL);
        pthread_create(&ticker_thread, NULL, ticker_main, NULL);
        if (opt.control)
                pthread_create(&control_thread, NULL, control_main, NULL);
        for (unsigned i = 0; i < opt.n_boards; i++) {
                if (pthread_create(&boards[i].runner, NULL, runner_main, &boards[i]) != 0) {
                        fprintf(stderr, "gadget-boards: cannot start a thread\n");
                        return 1;
                }
                boards[i].runner_started = true;
        }

        sigwait(&mask, &sig);
        blog(NULL, "%s: boards leave the bus", strsignal(sig));
        /* The model keeps its final state: the status file still tells what each board got. */
        for (unsigned i = 0; i < opt.n_boards; i++) {
                struct gboard *g = &boards[i];
                pthread_mutex_lock(&g->lock);
                g->quit = true;
                request_disconnect(g);
                pthread_mutex_unlock(&g->lock);
        }
        for (unsigned i = 0; i < opt.n_boards; i++)
                pthread_join(boards[i].runner, NULL);
        quitting = 1;
        status_changed();
        pthread_join(ticker_thread, NULL);
        pthread_join(status_thread, NULL);
        for (unsigned i = 0; i < opt.n_boards; i++)
                boards[i].connected = false;
        write_status();
        if (opt.control)
                unlink(opt.control);
        return 0;
}
