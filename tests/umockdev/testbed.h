/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Integration-test harness, umockdev tier.
 *
 * A tb_testbed is a umockdev testbed (fake /sys and /dev/bus/usb) holding
 * emulated Raspberry Pi boards (tests/emu/board.h: the one model of a board's
 * USB boot behaviour). Every USB device node gets a umockdev ioctl handler
 * that answers the usbdevfs ioctls libusb issues (SUBMITURB, REAPURBNDELAY,
 * DISCARDURB, CLAIMINTERFACE, RESET, ...) by driving the emu_board. When the
 * model drops off the bus, the harness removes the device (sysfs, node,
 * "remove" uevents) and, after a delay, adds it back in the next stage with a
 * new device number on the same port ("add" uevents).
 *
 * The program under test (the daemon) runs as a child process
 * under the umockdev preload; the harness sets LD_PRELOAD itself, so the test
 * binary does NOT have to be started under umockdev-wrapper (it may be; the
 * preload is then inherited). The child's stdout and stderr are captured line
 * by line with CLOCK_MONOTONIC timestamps (the clock the daemon's log uses).
 *
 * Threading: umockdev runs the ioctl handler in a worker thread of its own.
 * All harness state (boards, devices, URBs) is guarded by one recursive lock;
 * sysfs changes and uevents happen on the thread that called tb_new(), from
 * its GMainContext (the thread-default one at tb_new() time). Call every
 * tb_* function from that thread. Read an emu_board's fields only between
 * tb_lock()/tb_unlock() (predicates passed to tb_run_until() are called with
 * the lock held).
 *
 * Device nodes (enum tb_node_kind):
 *  - TB_NODE_FIFO (default): the node is a FIFO the harness keeps full, and
 *    drains by one page while some URB of the device is ready to be reaped.
 *    The node fd then polls POLLOUT exactly when usbfs would, so it works with
 *    epoll (sd-event) and nobody busy-loops. A FIFO cannot lseek(), which
 *    libusb_wrap_sys_device() does: the harness preloads a tiny shim
 *    (usbfs-shim.c, built as libtb-usbfs-shim.so) that makes lseek() on such
 *    an fd return 0.
 *  - TB_NODE_FILE: a regular file, as umockdev makes by itself. poll() always
 *    says ready (libusb's own loop busy-polls REAPURBNDELAY) and epoll_ctl()
 *    refuses it with EPERM: a sd-event program cannot watch it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "board.h"

typedef struct tb_testbed tb_testbed;
typedef struct tb_board tb_board;
typedef struct tb_child tb_child;

enum tb_node_kind {
        TB_NODE_FIFO,
        TB_NODE_FILE,
};

/* usbfs capability bits (linux/usbdevice_fs.h), for tb_options.usbfs_caps. */
#define TB_CAP_ZERO_PACKET 0x01u
#define TB_CAP_BULK_CONTINUATION 0x02u
#define TB_CAP_NO_PACKET_SIZE_LIM 0x04u
#define TB_CAP_BULK_SCATTER_GATHER 0x08u
#define TB_CAP_REAP_AFTER_DISCONNECT 0x10u
#define TB_CAP_CONNINFO_EX 0x80u
/* What an xHCI host on Linux 6.1 reports (minus MMAP/DROP_PRIVILEGES/SUSPEND):
 * libusb then submits a bulk transfer as one URB. Without SCATTER_GATHER and
 * NO_PACKET_SIZE_LIM (e.g. TB_CAP_BULK_CONTINUATION | TB_CAP_REAP_AFTER_DISCONNECT,
 * like a dwc2 host) libusb splits bulk transfers into 16 KiB URBs. */
#define TB_CAPS_DEFAULT                                                                                 \
        (TB_CAP_ZERO_PACKET | TB_CAP_BULK_CONTINUATION | TB_CAP_NO_PACKET_SIZE_LIM |                    \
         TB_CAP_BULK_SCATTER_GATHER | TB_CAP_REAP_AFTER_DISCONNECT | TB_CAP_CONNINFO_EX)

struct tb_options {
        enum tb_node_kind node_kind;  /* default TB_NODE_FIFO */
        int reconnect_delay_ms;       /* off the bus -> back in the next stage; 0 = default 50, <0 = immediately */
        int drop_delay_ms;            /* last answer of a stage -> drop off the bus; 0 = default 5, <0 = at once */
        uint32_t usbfs_caps;          /* 0 = TB_CAPS_DEFAULT */
        bool no_interfaces;           /* do not add usb_interface children ("1-1:1.0") */
        bool no_bind_events;          /* do not send "bind"/"unbind" uevents (a 6.1 kernel sends them) */
        bool echo;                    /* copy child output and harness events to stderr as they come */
        int bus_time_percent;         /* URBs take this % of a real bus's time (see tb-urb.c); 0 = 100 */
        bool no_bus_sharing;          /* boards on one bus (behind hubs) do not share its bandwidth */
        int uevent_delay_ms;          /* every uevent reaches listeners this late, in order (a loaded udevd) */
};

/* ---- the testbed ---- */

/* NULL options = defaults. Aborts the test on setup failure (with a message). */
tb_testbed *tb_new(const struct tb_options *options);
/* Kills (SIGKILL) and reaps any child still running, removes the testbed directory. */
void tb_free(tb_testbed *tb);
const char *tb_root_dir(tb_testbed *tb);

void tb_lock(tb_testbed *tb);
void tb_unlock(tb_testbed *tb);

/* ---- boards ----
 * port: the sysfs name of the board's port: "1-1", "2-1", "1-1.3" (behind a
 * hub; the harness creates the hubs, and a root hub "usbN" per bus). The board
 * is added off the bus: tb_plug() it. config is copied; NULL = defaults. */
tb_board *tb_add_board(tb_testbed *tb, const char *port, const struct emu_board_config *config);
size_t tb_n_boards(tb_testbed *tb);
tb_board *tb_board_at(tb_testbed *tb, size_t i);
tb_board *tb_find_board(tb_testbed *tb, const char *port);
const char *tb_board_port(const tb_board *b);
/* The model. Read or change it only under tb_lock(). */
struct emu_board *tb_board_emu(tb_board *b);
/* Locked snapshot of the board's stage. */
enum emu_stage tb_board_stage(tb_board *b);
/* Times the board was added to the bus (every stage counts). */
unsigned tb_board_enumerations(tb_board *b);

/* Plug in: emu_board_plug() and the device appears in ROM stage ("add" uevents). */
void tb_plug(tb_board *b);
/* Unplug: emu_board_unplug(), URBs in flight fail with -ESHUTDOWN, device removed ("remove" uevents). */
void tb_unplug(tb_board *b);
/* Power (the same as plug/unplug for a bus-powered board), through the hook below. A
 * hub class request SET/CLEAR_FEATURE(PORT_POWER) on the board's parent hub (root hub
 * or external hub) lands here too, so a uhubctl-style power backend works end to end. */
void tb_power(tb_board *b, bool on);
bool tb_board_powered(tb_board *b);
/* Ends a board's EMU_FAULT_PAUSE now: what it was not taking runs at once (a test holds a boot with a long pause). */
void tb_board_end_pause(tb_board *b);
/* Called (on the main thread, unlocked) after a board's power changed, by tb_power() or
 * by a hub request (by_hub_request). For tests that watch a power backend. */
typedef void (*tb_power_hook)(tb_board *b, bool on, bool by_hub_request, void *userdata);
void tb_set_power_hook(tb_testbed *tb, tb_power_hook hook, void *userdata);

/* A USB 3 hub: the USB 2 hub `usb2_port` ("1-2", made if new) and the SuperSpeed hub `ss_port`
 * ("2-2", on another bus; made here, before any board on it), sharing VBUS: a board on port N of
 * either is powered while either half powers port N. Each port's sysfs directory
 * ("1-2:1.0/1-2-port3") links its `peer`, as the kernel does. Hub port paths only, not root hubs. */
void tb_add_usb3_hub(tb_testbed *tb, const char *usb2_port, const char *ss_port);

/* A hub with ganged power switching ("1-3", made here, before any board on it): its descriptor
 * says so (wHubCharacteristics bits 1:0 = 00), and PORT_POWER on any port switches all of them. */
void tb_add_ganged_hub(tb_testbed *tb, const char *port);

/* ---- the program under test ---- */

/* Starts argv[0] (a path, or a name looked up in PATH) in the testbed's environment:
 * UMOCKDEV_DIR, LD_PRELOAD=libumockdev-preload.so.0 (+ the lseek shim in FIFO mode),
 * plus extra_env ("NAME=value" strings, NULL-terminated; may be NULL). If the
 * environment variable TB_CHILD_WRAPPER is set (e.g. "valgrind -q --error-exitcode=99"),
 * its words are put before argv. Returns NULL and prints why on failure. */
tb_child *tb_spawn(tb_testbed *tb, const char *const *argv, const char *const *extra_env);
pid_t tb_child_pid(const tb_child *c);
bool tb_child_running(const tb_child *c);
/* Runs the main loop until the child exited or timeout_ms passed. Returns the wait
 * status (as from waitpid), or -1 on timeout. */
int tb_child_wait(tb_child *c, int timeout_ms);
void tb_child_kill(tb_child *c, int sig);

/* ---- the captured log ----
 * Lines of every child's stdout/stderr, and the harness's own events (source "tb":
 * "tb: add 1-1 0a5c:2763 /dev/bus/usb/001/002", "tb: remove ...", "tb: unhandled
 * ioctl ..."), in arrival order. */
struct tb_log_line {
        int64_t t_usec;     /* CLOCK_MONOTONIC */
        const char *source; /* "tb", "child<N>:out", "child<N>:err" */
        const char *text;   /* without the newline */
};
size_t tb_log_count(tb_testbed *tb);
const struct tb_log_line *tb_log_line(tb_testbed *tb, size_t i);
/* First line at index >= *from whose text contains needle (NULL if none); *from is set
 * past it, so repeated calls walk the matches. from may be NULL (search from 0). */
const struct tb_log_line *tb_log_find(tb_testbed *tb, size_t *from, const char *needle);
size_t tb_log_count_matches(tb_testbed *tb, const char *needle);
/* Runs the main loop until a line containing needle arrives (at index >= from) or timeout. */
const struct tb_log_line *tb_wait_log(tb_testbed *tb, size_t from, const char *needle, int timeout_ms);
void tb_log_dump(tb_testbed *tb, FILE *f);
/* Adds a line of the test's own (source "test"). */
void tb_log(tb_testbed *tb, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* ---- running the loop ----
 * Never sleep in a test: run the loop until something is true. */
typedef bool (*tb_predicate)(tb_testbed *tb, void *userdata);
/* Iterates the main context until pred (called with the lock held) is true, or
 * timeout_ms passed; returns the last result of pred. */
bool tb_run_until(tb_testbed *tb, tb_predicate pred, void *userdata, int timeout_ms);
/* Runs the loop for ms milliseconds (to check that nothing happens). */
void tb_run_for(tb_testbed *tb, int ms);
/* Predicate: every board is in the stage *(enum emu_stage *) userdata. */
bool tb_pred_all_in_stage(tb_testbed *tb, void *stage);
/* Runs until some process listens for uevents in the testbed (a libudev monitor
 * bound), so that an "add" is not sent before the program under test listens. */
bool tb_wait_uevent_listener(tb_testbed *tb, int timeout_ms);

/* ---- counters ---- */
struct tb_stats {
        uint64_t ioctls;
        uint64_t urbs_submitted;
        uint64_t urbs_reaped;
        uint64_t urbs_discarded;   /* DISCARDURB that found its URB */
        uint64_t urbs_timed_out;   /* EMU_NO_ANSWER URBs (left pending) */
        uint64_t bulk_bytes;       /* taken by boards */
        uint64_t bulk_urb_max;     /* the longest bulk URB submitted: whether libusb split transfers */
        uint64_t reads;            /* read() on a node (descriptors) */
        uint64_t uevents;          /* messages sent */
        uint64_t uevent_retries;   /* a listener's queue was full: resent later */
        uint64_t unhandled_ioctls; /* answered ENOTTY */
        uint64_t resets;
        uint64_t enumerations;
        uint64_t removals;
};
void tb_get_stats(tb_testbed *tb, struct tb_stats *stats);
