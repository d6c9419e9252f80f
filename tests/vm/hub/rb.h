/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * redir-boards' private header. redir-boards runs on the host, next to the
 * QEMU of the hub tier: each emulated Pi (the shared model, tests/emu/board.c)
 * is one QEMU usb-redir device, plugged into a port of a QEMU usb-hub, and
 * this program is the "usb host" end of its usbredir connection. It also
 * drives QEMU through QMP (hubs and boards are plugged in and out at run
 * time) and reads QEMU's trace of the hubs' PORT_POWER requests, so that a
 * port switched off takes its board off the bus, as on a real hub.
 *
 * Files: redir-boards.c (options, main, the world: hubs, boards, port power),
 * rb-redir.c (one board's usbredir connection: the model on the wire),
 * rb-qemu.c (QMP and the trace), rb-control.c (the guest's commands),
 * rb-status.c (verdicts and the JSON status), rb-spec.c (board settings).
 */
#ifndef CB_RB_H
#define CB_RB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <systemd/sd-event.h>
#include <usbredirparser.h>

#include "board-spec.h"

#define RB_MAX_BOARDS 16
#define RB_MAX_HUBS 4
#define RB_HUB_MAX_PORTS 8 /* QEMU's usb-hub */
#define RB_PORT_LEN 24     /* QEMU port path, "1.4.2" */
#define RB_MAX_HELD 8      /* packets a board holds unanswered (EMU_NO_ANSWER) */

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

struct rb_hub {
        bool defined;
        char id[16];              /* QEMU device id */
        char port[RB_PORT_LEN];   /* QEMU port path of the hub itself, "1" */
        unsigned n_ports;
        bool port_power_switching; /* QEMU's port-power=on */
        bool present;             /* plugged in (QEMU has the device) */
        bool deleting;            /* device_del sent, DEVICE_DELETED not seen yet */
        bool port_powered[RB_HUB_MAX_PORTS + 1];
        unsigned power_events;    /* PORT_POWER changes seen in QEMU's trace */
};

/* A packet the model did not answer (EMU_NO_ANSWER): answered "cancelled" when QEMU cancels it. */
struct rb_held {
        uint64_t id;
        bool bulk;
        struct usb_redir_control_packet_header control;
        struct usb_redir_bulk_packet_header bulk_header;
};

struct rb_board {
        unsigned index;               /* 1-based, the guest's name for it */
        bool defined;
        char port[RB_PORT_LEN];       /* QEMU port path, "1.3" */
        char qemu_id[16];             /* "board3" (device), chardev "rbc3" */
        char socket_path[256];

        struct emu_board_config config;
        char fault_names[EMU_MAX_FAULTS][EMU_FAULT_NAME_SIZE];
        struct emu_board emu;

        /* the physical board */
        bool plugged;                 /* in its port */
        bool keeps_power;             /* its port's switch does not cut the power (a lying hub) */
        bool powered;                 /* has power now (as last computed) */

        /* QEMU's side */
        bool in_qemu;                 /* its usb-redir device exists (or is being added) */
        int listen_fd;
        sd_event_source *listen_source;
        int fd;
        sd_event_source *io_source;
        struct usbredirparser *parser;
        bool peer_ready;              /* hello exchanged */
        bool on_bus;                  /* device_connect sent, no disconnect since */
        bool configured;              /* SET_CONFIGURATION seen on this connection of the bus */
        uint8_t ep_out;               /* the protocol's bulk OUT endpoint in this stage (0: none) */
        sd_event_source *reconnect_timer;
        struct rb_held held[RB_MAX_HELD];
        size_t n_held;
        bool bulk_hold;               /* the model stopped taking bulk data until the next write is announced */

        /* counters */
        unsigned connections;         /* device_connect sent */
        unsigned power_cuts;
        unsigned host_resets;
        unsigned enumeration_resets;
        uint64_t bulk_bytes;
        char last_event[200];
};

struct rb_options {
        const char *dir;          /* runtime directory: the sockets and the trace fifo */
        const char *boot_dir;     /* what the boards verify against */
        const char *status_file;  /* optional: the JSON status, rewritten on every change */
        unsigned reconnect_ms;    /* a board's time off the bus between two stages */
        bool verbose;
};

/* redir-boards.c */
extern struct rb_options rb_opt;
extern sd_event *rb_event;
extern struct rb_board rb_boards[RB_MAX_BOARDS + 1]; /* [1..RB_MAX_BOARDS] */
extern struct rb_hub rb_hubs[RB_MAX_HUBS];
__attribute__((format(printf, 2, 3))) void rb_log(const struct rb_board *b, const char *fmt, ...);
#define rb_vlog(b, ...)                    \
        do {                               \
                if (rb_opt.verbose)        \
                        rb_log(b, __VA_ARGS__); \
        } while (0)
uint64_t rb_now_ms(void);
struct rb_board *rb_board(unsigned index);
struct rb_hub *rb_hub_by_id(const char *id);
struct rb_hub *rb_hub_by_port(const char *port);
/* Is the port at QEMU path `port` ("1.4.2") powered: its hub present, the port on, the hub's own port too? */
bool rb_port_powered(const char *port);
/* Recomputes every board's power and acts on the changes (a cut takes it off the bus, power brings it up in ROM). */
void rb_power_update(void);
/* Something a waiter may be waiting for changed. */
void rb_changed(void);

/* rb-redir.c */
int rb_board_listen(struct rb_board *b);
void rb_board_close_connection(struct rb_board *b, const char *why);
/* Puts the board on the bus in its current stage, if it can be (powered, QEMU's side ready). */
void rb_board_connect(struct rb_board *b);
void rb_board_disconnect(struct rb_board *b);
/* The board loses its power / gets it back. */
void rb_board_power_lost(struct rb_board *b, const char *why);
void rb_board_power_back(struct rb_board *b);

/* rb-qemu.c */
typedef void (*rb_qmp_done_t)(void *userdata, const char *error, struct json_object *ret);
int rb_qemu_start(void);
/* A listening, non-blocking UNIX stream socket at `path` (an old one there is replaced). */
int rb_listen_unix(const char *path, int *ret);
bool rb_qemu_ready(void);
int rb_qmp(struct json_object *cmd, rb_qmp_done_t done, void *userdata); /* takes cmd */
int rb_qmp_device_add(const char *driver, const char *id, const char *bus_port, const char *extra_key,
                      const char *extra_value, rb_qmp_done_t done, void *userdata);
/* Called when QEMU reported a device gone (DEVICE_DELETED). */
void rb_world_device_deleted(const char *id);

/* rb-control.c */
int rb_control_start(void);
void rb_control_check_waits(void);

/* rb-status.c */
void rb_status_init(void);
bool rb_board_verify(const struct rb_board *b, char *why, size_t why_size);
struct json_object *rb_board_json(const struct rb_board *b);
struct json_object *rb_status_json(void);
void rb_status_write(void);

/* rb-spec.c */
int rb_parse_board_settings(struct rb_board *b, const char *spec, char *error, size_t error_size);

#endif
