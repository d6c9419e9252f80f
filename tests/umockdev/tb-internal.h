/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Private to the umockdev harness (testbed.c and tb-*.c): the shared structs
 * and the functions one part calls in another. Tests use testbed.h only.
 *
 * Locking, as in testbed.h: all of this is guarded by tb->lock (recursive);
 * sysfs changes and uevents happen on the main thread, the ioctl handler
 * runs on umockdev's worker thread.
 */

#include "hub-model.h"
#include "testbed.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <umockdev.h>

#define TB_MAX_EP 32
#define TB_MAX_IF 8
#define TB_MAX_PORTS EMU_HUB_MAX_PORTS
#define TB_DESC_MAX 512

struct tb_hub;
struct tb_client;

/* One enumeration of a USB device: a board in one stage, a hub, a root hub. */
struct tb_usbdev {
        tb_testbed *tb;
        tb_board *board;     /* NULL for hubs */
        struct tb_hub *hub;  /* non-NULL for hubs */
        unsigned generation; /* board->emu.generation when enumerated */
        unsigned busnum, devnum;
        char sysname[48];
        char devnode[48];    /* /dev/bus/usb/BBB/DDD */
        char *nodepath;      /* the node inside the testbed */
        char *syspath;       /* /sys/devices/... */
        char *if_syspath[TB_MAX_IF];
        GPtrArray *if_props[TB_MAX_IF];
        unsigned n_if;
        GPtrArray *props;    /* "KEY=value" of the device (uevent file + messages) */
        uint8_t desc[TB_DESC_MAX];
        size_t desc_len;
        bool high_speed;
        bool present;        /* in sysfs */
        bool gone;           /* disconnected: ioctls fail with ENODEV */
        int fifo_fd;         /* harness end of a FIFO node, -1 for TB_NODE_FILE */
        bool ready;          /* FIFO drained: POLLOUT for the program under test */
        GPtrArray *clients;  /* struct tb_client *, never freed before the testbed */
        GQueue ep_queue[TB_MAX_EP];
        bool halted[TB_MAX_EP];
        struct tb_client *claimed[TB_MAX_IF];
};

struct tb_hub {
        char port[32];       /* "usb1" for a root hub, else "1-1", "1-1.2" */
        unsigned busnum;
        bool root;
        struct tb_hub *parent;
        unsigned parent_port;
        struct tb_usbdev *dev;
        /* its ports and their power: n_ports, switching (ganged: tb_add_ganged_hub), superspeed (the
         * SuperSpeed half of a USB 3 hub: tb_add_usb3_hub), the power bits, VBUS shared with the peer */
        struct emu_hub_model model;
        struct tb_hub *peer; /* the other half: port N of each is the peer of port N of the other */
};

struct tb_board {
        tb_testbed *tb;
        char port[32];
        unsigned busnum;
        struct tb_hub *hub;  /* parent (root hub or hub) */
        unsigned hub_port;
        struct emu_board emu;
        bool powered;
        struct tb_usbdev *dev; /* current enumeration; NULL off the bus */
        GSource *drop_src;
        GSource *reconnect_src;
        unsigned enumerations;
};

/* An open fd of a node in the program under test (one umockdev ioctl client). */
struct tb_client {
        tb_testbed *tb;
        struct tb_usbdev *dev;
        UMockdevIoctlClient *client; /* ref */
        GQueue completed;            /* struct tb_urb *, waiting to be reaped */
        UMockdevIoctlClient *blocked_reap; /* a blocking REAPURB waiting */
        size_t read_off;
        bool ioctl_since_read;
};

struct tb_urb {
        struct tb_client *c;
        UMockdevIoctlData *data; /* the resolved struct usbdevfs_urb (ref) */
        uint64_t uaddr;          /* its address in the client, as DISCARDURB names it */
        uint8_t type, ep;
        unsigned flags;
        uint8_t *buf;            /* resolved buffer (local copy, synced back on reap) */
        int len;
        int actual;
        bool started;
        bool done;
        bool waking;    /* timer is the busy board's wake-up, not the end of its bus time */
        int result;     /* status it completes with, once its bus time is over */
        GSource *timer; /* completion at the end of its bus time */
};

struct tb_stream {
        tb_child *child;
        int fd;
        GString *buf;
        char name[32];
        GSource *src;
};

struct tb_child {
        tb_testbed *tb;
        unsigned id;
        GPid pid;
        bool running;
        int status;
        GSource *watch;
        struct tb_stream out, err;
};

struct uevent_msg {
        char *path;
        GBytes *bytes;
        int64_t due; /* CLOCK_MONOTONIC us: not sent before (tb_options.uevent_delay_ms) */
};

struct tb_testbed {
        struct tb_options opt;
        GRecMutex lock;
        GMainContext *main_ctx;
        UMockdevTestbed *umock;
        UMockdevIoctlBase *handler;
        char *root;
        char *shim_path;

        GPtrArray *boards;  /* tb_board * */
        GPtrArray *hubs;    /* struct tb_hub * */
        GPtrArray *devs;    /* every struct tb_usbdev ever made */
        GHashTable *by_devnode; /* devnode -> current struct tb_usbdev */
        GHashTable *attached;   /* devnodes with an ioctl handler attached */
        unsigned next_devnum[128];
        bool devnum_used[128][128];

        tb_power_hook power_hook;
        void *power_hook_data;

        GPtrArray *log;     /* struct tb_log_line * */
        GPtrArray *children;
        unsigned next_child_id;

        GMainContext *worker_ctx; /* umockdev's ioctl thread */
        int64_t bus_busy_until[128];

        int uevent_fd;
        GQueue uevent_queue;
        GSource *uevent_retry;
        unsigned long long seqnum;

        struct tb_stats stats;
};

/* Walks the configuration: calls fn for each interface (alt 0) and endpoint. */
struct desc_walk {
        unsigned n_if;
        uint8_t if_number[TB_MAX_IF];
        uint8_t if_class[TB_MAX_IF][3];
        uint8_t if_n_ep[TB_MAX_IF];
        uint8_t ep_addr[TB_MAX_EP];
        uint8_t ep_if[TB_MAX_EP];
        unsigned n_ep;
};

static inline unsigned ep_index(uint8_t ep) {
        return (ep & 0x0fu) | ((ep & 0x80u) ? 16u : 0u);
}

static inline uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

/* ---- testbed.c: small helpers ---- */
void die(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));
void wake(tb_testbed *tb);
GSource *attach_timeout(tb_testbed *tb, int ms, GSourceFunc fn, void *data);
void drop_source(GSource **s);

/* ---- tb-log.c ---- */
void log_add(tb_testbed *tb, const char *source, const char *text);
void tb_event(tb_testbed *tb, const char *format, ...) __attribute__((format(printf, 2, 3)));
void free_log_line(gpointer p);

/* ---- tb-child.c ---- */
void child_free(tb_child *c);

/* ---- tb-device.c: descriptors and control requests ---- */
void desc_parse(const uint8_t *desc, size_t len, struct desc_walk *w);
bool dev_has_endpoint(struct tb_usbdev *d, uint8_t ep);
bool dev_has_interface(struct tb_usbdev *d, unsigned ifno);
void dev_string(struct tb_usbdev *d, uint8_t index, char *out, size_t size);
enum emu_verdict control_request(struct tb_usbdev *d, const uint8_t setup[8], uint8_t *data, size_t len,
                                 size_t *actual);

/* ---- tb-uevent.c ---- */
void send_uevent(tb_testbed *tb, const char *syspath, const char *action, GPtrArray *props, const char *extra);

/* ---- tb-sysfs.c: adding and removing devices (main thread, lock held) ---- */
struct tb_usbdev *dev_new(tb_testbed *tb, unsigned busnum, const char *sysname);
void dev_publish(struct tb_usbdev *d, const char *parent_syspath, bool root);
void dev_remove(struct tb_usbdev *d);

/* ---- tb-urb.c: URBs, bus time, FIFO readiness ---- */
void fifo_fill(int fd);
void dev_update_ready(struct tb_usbdev *d);
void urb_free(struct tb_urb *u);
void deliver_reap(struct tb_client *c, UMockdevIoctlClient *client, struct tb_urb *u);
void complete_urb(struct tb_urb *u, int status, int actual);
void cancel_continuations(struct tb_usbdev *d, struct tb_urb *after);
void process_ep(struct tb_usbdev *d, unsigned idx);
/* CLEAR_FEATURE(ENDPOINT_HALT), by control request or ioctl: the host's side and the board's. */
void dev_clear_halt(struct tb_usbdev *d, uint8_t ep);
/* SET_CONFIGURATION: every endpoint starts afresh, on both sides. */
void dev_set_configuration(struct tb_usbdev *d);
/* Runs again at once the URBs that wait for a busy board. */
void dev_wake_urbs(struct tb_usbdev *d);
void kill_urbs(struct tb_usbdev *d, struct tb_client *c, int status, bool ep0_too);

/* ---- tb-usbfs.c: umockdev's signals, connected in tb_new() ---- */
void on_client_connected(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, gpointer data);
gboolean on_handle_ioctl(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, gpointer data);
gboolean on_handle_read(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, gpointer data);
gboolean on_handle_write(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, gpointer data);

/* ---- tb-hub.c ---- */
enum emu_verdict hub_class_request(struct tb_usbdev *d, uint8_t rt, uint8_t req, uint16_t value, uint16_t index,
                                   uint8_t *data, size_t len, size_t *actual);
/* The hub of a port path ("usb1", "1-1", "1-1.2"), made (with its parents) if new. */
struct tb_hub *get_hub(tb_testbed *tb, unsigned busnum, const char *port);

/* ---- tb-board.c ---- */
tb_board *dev_live_board(struct tb_usbdev *d);
void handle_bus_action(tb_board *b, enum emu_verdict v, int64_t answered_at);
void set_power(tb_board *b, bool on, bool by_hub);
