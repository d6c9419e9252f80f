/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gadget-boards' private header: the board the program runs (struct
 * gboard), its options and globals, and what each gb-*.c file offers the
 * others. See gadget-boards.c for the overview.
 */
#ifndef CB_GADGET_BOARDS_H
#define CB_GADGET_BOARDS_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <linux/usb/ch9.h>

#include "board.h"

/* Event types of Linux >= 6.6 (and of the module build-image.sh patches). */
#define RAW_EVENT_RESET 5
#define RAW_EVENT_DISCONNECT 6

#define MAX_BOARDS 32
/*
 * The most one EP_READ takes. The host counts what the UDC took as sent, so
 * a read of a whole write would complete the host's transfer before the
 * model refused a byte of it: a fault at an offset would strike after the
 * host was done (the 52 KB loader fits one 64 KiB read). 16 KiB at a time is
 * closer to a board that takes its data a buffer at a time.
 */
#define BULK_BUF (16u * 1024u)
#define EP0_BUF 4096u
#define DRAIN_WAIT_MS 500      /* how long a control request waits for bulk data still being read */
#define ANSWER_SETTLE_MS 20    /* after the last answer, before dropping off the bus */
#define POWER_POLL_MS 25       /* how often a board off the bus looks at its port's power */
#define MAX_INTERFACES 8       /* of one configuration (the ECM + ACM gadget has 4) */
#define MAX_INTERFACE_EPS 4

struct gboard {
        unsigned index; /* 1-based */
        unsigned udc;   /* dummy_udc.N */
        int bus;        /* the host's bus B (-1: unknown) */
        char port[32];  /* as the host names it, "B-1" */

        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct emu_board emu; /* under lock */
        char fault_names[EMU_MAX_FAULTS][260];

        pthread_t runner;
        bool runner_started;

        /* connection state, under lock */
        int fd;
        bool connected;
        bool stop_conn;     /* end the current connection (set by anyone, acted on by the runner) */
        bool in_fetch;      /* runner blocked in EVENT_FETCH */
        bool configured;    /* SET_CONFIGURATION seen on this connection */
        bool eps_enabled;
        int ep_out;         /* raw-gadget handle of the bulk OUT endpoint, -1 if none */
        uint16_t ep_out_mps;
        /* each interface's alternate setting, and the raw-gadget handles of the endpoints it enabled */
        uint8_t alt[MAX_INTERFACES];
        int interface_eps[MAX_INTERFACES][MAX_INTERFACE_EPS];
        unsigned n_interface_eps[MAX_INTERFACES];
        bool hold_pending;  /* a control request the model does not answer (EMU_NO_ANSWER) */
        uint64_t hold_deadline;
        bool power_cut;     /* lost its power: comes back in ROM, a fresh board */
        bool dark;          /* attached after a power cut: on the bus only once its port has power */
        bool unplugged;     /* physically out of its port (unplug, replug, --unplugged): no power, no bus */
        uint64_t replug_at; /* replug: when it is plugged in again (0: not planned) */
        bool quit;

        pthread_t bulk;
        bool bulk_running;
        bool bulk_stop;
        bool bulk_hold;     /* the model stopped taking bulk data until the next write is announced */
        /*
         * Bytes this program read off the endpoint that the model did not take
         * (it stopped mid-read: a fault). The host counts them as sent, so a
         * host that resumes sends what follows them: they go to the model first
         * when it takes data again, and are dropped by a new announcement.
         */
        size_t kept_off, kept_len;
        unsigned throttle_kbps;

        /* the port's power, as the board can tell it while off the bus */
        char power_path[128];  /* the root hub port's sysfs `disable` file */
        int power_fd;          /* or usbfs of the root hub, for GET_STATUS (kernels without `disable`) */
        bool power_warned;

        /* counters, under lock */
        unsigned connections;
        unsigned power_cuts;
        unsigned resets_seen;
        uint64_t bulk_bytes;
        char last_event[200];

        /*
         * The last planned fault that struck the bulk data, if one did:
         * the write it hit, the board's byte, and how many bytes of that write
         * the host had not sent yet (the model counts every strike, a sticky
         * fault's each time: emu_board.faults_struck). With none unsent the host's transfer was
         * complete when the board refused: nothing was left to resume.
         */
        bool fault_seen;
        uint64_t fault_ms;
        char fault_write[260];
        uint64_t fault_offset, fault_unsent;
        /* ms since the start when the host last configured the board in its ROM, and when its gadget came (0: never) */
        uint64_t rom_ms, gadget_ms;

        /* the gadget's CDC functions, as the host's drivers used them (all connections) */
        unsigned set_interfaces;      /* SET_INTERFACE requests answered */
        unsigned class_acked;         /* class requests answered */
        unsigned class_stalled;       /* class requests refused */
        uint64_t net_bytes;           /* taken (and dropped) from the network function's bulk OUT */
        uint8_t line_coding[7];       /* ACM: what SET_LINE_CODING set, GET_LINE_CODING tells */
        bool line_coding_set;
};

struct gb_options {
        unsigned n_boards;
        unsigned udc_base;
        const char *boot_dir;
        const char *status_file;
        const char *control;
        unsigned reconnect_ms;
        unsigned hold_ms;
        bool verbose;
};

/* gadget-boards.c: options, the boards, and the end of the program */
extern struct gb_options opt;
extern struct gboard boards[MAX_BOARDS];
extern volatile sig_atomic_t quitting;

/* gb-util.c: time and the log */
extern uint64_t t_start;
uint64_t now_ms(void);
void sleep_ms(unsigned ms);
struct timespec deadline_in(unsigned ms);
__attribute__((format(printf, 2, 3))) void blog(const struct gboard *g, const char *fmt, ...);

#define vlog(g, ...)                   \
        do {                           \
                if (opt.verbose)       \
                        blog(g, __VA_ARGS__); \
        } while (0)

/* gb-status.c: the boot directory's files and the status file */
void status_init(const pthread_condattr_t *ca);
void status_changed(void);
/* Hashes the boot directory's files, to check the boards against (board-verify.h). */
void status_load_truth(const char *boot_dir);
void write_status(void);
void *status_main(void *arg);

/* gb-rawgadget.c: raw-gadget I/O and one connection's event loop */
int ep0_write(int fd, const uint8_t *data, size_t len);
int ep0_read(int fd, uint8_t *data, size_t len);
int ep0_stall(int fd);
void run_connection(struct gboard *g);

/* gb-ep0.c: standard, vendor and (the gadget's CDC functions') class control requests */
void handle_standard(struct gboard *g, int fd, const struct usb_ctrlrequest *c);
void handle_vendor(struct gboard *g, int fd, const struct usb_ctrlrequest *c);
void handle_class(struct gboard *g, int fd, const struct usb_ctrlrequest *c);

/* gb-bulk.c: the bulk OUT thread */
void start_bulk(struct gboard *g);
void stop_bulk(struct gboard *g);

/* gb-power.c: power cuts and the port's power while off the bus */
void handle_power_cut(struct gboard *g);
void wait_off_bus(struct gboard *g);

/* gb-board.c: the runner, resets, the ticker */
void kick_runner(struct gboard *g);
void request_disconnect(struct gboard *g);
void handle_reset(struct gboard *g);
void *runner_main(void *arg);
void *ticker_main(void *arg);

/* gb-control.c: the control FIFO */
int parse_board_list(const char *s, bool sel[MAX_BOARDS]);
void *control_main(void *arg);

#endif
