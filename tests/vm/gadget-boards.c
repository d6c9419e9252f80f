/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gadget-boards: N emulated Raspberry Pi Zero boards on a real kernel USB
 * stack, for the end-to-end tier (tests/vm). Each board is one raw-gadget
 * device on its own dummy_hcd UDC (dummy_udc.K, seen by the host as port
 * "B-1" of bus B), driven by the board model every tier shares
 * (tests/emu/board.c): this file is only the adapter that carries the
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
 * Usage: see usage() below. The status file (--status-file) is rewritten
 * (atomically) whenever a board changes: {"boards":[{...}, ...]} with each
 * board's stage, attempt, the files it received, whether they equal the
 * files of --boot-dir, and the first protocol violation it saw.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/usb/ch9.h>
#include <linux/usb/raw_gadget.h>
#include <linux/usbdevice_fs.h>

#include "board.h"

/* Event types of Linux >= 6.6 (and of the module build-image.sh patches). */
#define RAW_EVENT_RESET 5
#define RAW_EVENT_DISCONNECT 6

#define MAX_BOARDS 32
#define BULK_BUF (64u * 1024u) /* one EP_READ; the kernel kmallocs it */
#define EP0_BUF 4096u
#define DRAIN_WAIT_MS 500      /* how long a control request waits for bulk data still being read */
#define ANSWER_SETTLE_MS 20    /* after the last answer, before dropping off the bus */
#define POWER_POLL_MS 25       /* how often a board off the bus looks at its port's power */

struct file_truth {
        char name[260];
        bool exists;
        uint64_t size, hash;
};

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
};

static struct {
        unsigned n_boards;
        unsigned udc_base;
        const char *boot_dir;
        const char *status_file;
        const char *control;
        unsigned reconnect_ms;
        unsigned hold_ms;
        bool verbose;
} opt = { .n_boards = 1, .reconnect_ms = 300, .hold_ms = 3000 };

static struct gboard boards[MAX_BOARDS];
static struct emu_board_config configs[MAX_BOARDS];
static bool start_unplugged[MAX_BOARDS];
static unsigned throttles[MAX_BOARDS];
static struct file_truth truths[EMU_MAX_FILES + 1];
static size_t n_truths;
static volatile sig_atomic_t quitting;
static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t status_cond = PTHREAD_COND_INITIALIZER;
static unsigned status_seq;
static uint64_t t_start;

/* ------------------------------------------------------------------ utilities */

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { ms / 1000u, (long) (ms % 1000u) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* An absolute CLOCK_MONOTONIC time `ms` from now, for pthread_cond_timedwait (conds use CLOCK_MONOTONIC). */
static struct timespec deadline_in(unsigned ms) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000u;
        ts.tv_nsec += (long) (ms % 1000u) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return ts;
}

__attribute__((format(printf, 2, 3))) static void blog(const struct gboard *g, const char *fmt, ...) {
        char msg[512];
        va_list ap;
        uint64_t t = now_ms() - t_start;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (g)
                fprintf(stderr, "[%4" PRIu64 ".%03" PRIu64 "] board %u (%s): %s\n", t / 1000, t % 1000, g->index,
                        g->port, msg);
        else
                fprintf(stderr, "[%4" PRIu64 ".%03" PRIu64 "] %s\n", t / 1000, t % 1000, msg);
}

#define vlog(g, ...)                   \
        do {                           \
                if (opt.verbose)       \
                        blog(g, __VA_ARGS__); \
        } while (0)

static void status_changed(void) {
        pthread_mutex_lock(&status_lock);
        status_seq++;
        pthread_cond_signal(&status_cond);
        pthread_mutex_unlock(&status_lock);
}

static void on_sigusr1(int sig) {
        (void) sig;
}

/* Wakes the runner out of a blocking ioctl (raw-gadget waits interruptibly). */
static void kick_runner(struct gboard *g) {
        if (g->runner_started)
                pthread_kill(g->runner, SIGUSR1);
}

/* Asks the board's current connection to end. Called with the lock held. */
static void request_disconnect(struct gboard *g) {
        g->stop_conn = true;
        pthread_cond_broadcast(&g->cond);
        kick_runner(g);
}

/* ------------------------------------------------------------- raw-gadget I/O */

static int ep0_write(int fd, const uint8_t *data, size_t len) {
        struct usb_raw_ep_io *io = malloc(sizeof *io + len + 1);
        int r;

        if (!io)
                return -ENOMEM;
        io->ep = 0;
        io->flags = 0;
        io->length = (uint32_t) len;
        if (len)
                memcpy(io->data, data, len);
        r = ioctl(fd, USB_RAW_IOCTL_EP0_WRITE, io);
        free(io);
        return r < 0 ? -errno : r;
}

/* Reads an OUT data stage of `len` bytes (0: just acknowledges the status stage). */
static int ep0_read(int fd, uint8_t *data, size_t len) {
        struct usb_raw_ep_io *io = malloc(sizeof *io + len + 1);
        int r;

        if (!io)
                return -ENOMEM;
        io->ep = 0;
        io->flags = 0;
        io->length = (uint32_t) len;
        r = ioctl(fd, USB_RAW_IOCTL_EP0_READ, io);
        if (r > 0 && data)
                memcpy(data, io->data, (size_t) r);
        free(io);
        return r < 0 ? -errno : r;
}

static int ep0_stall(int fd) {
        return ioctl(fd, USB_RAW_IOCTL_EP0_STALL, 0) < 0 ? -errno : 0;
}

/* ----------------------------------------------------------- the board's truth */

static const struct file_truth *truth(const char *name) {
        for (size_t i = 0; i < n_truths; i++)
                if (strcmp(truths[i].name, name) == 0)
                        return &truths[i];
        return NULL;
}

static void add_truth(const char *name) {
        char path[4096];
        struct file_truth *t;

        if (truth(name) || n_truths >= sizeof truths / sizeof truths[0])
                return;
        t = &truths[n_truths++];
        snprintf(t->name, sizeof t->name, "%s", name);
        snprintf(path, sizeof path, "%s/%s", opt.boot_dir, name);
        t->exists = emu_hash_file(path, &t->hash, &t->size) == 0;
}

/* Did this board get exactly the boot directory's files (whatever else happened)? */
static bool verify_files(const struct gboard *g, char *why, size_t why_size) {
        const struct emu_board *b = &g->emu;
        const struct file_truth *t;

        if (!opt.boot_dir) {
                snprintf(why, why_size, "no --boot-dir to compare with");
                return false;
        }
        t = truth("bootcode.bin");
        if (!t || !t->exists || b->loader_received != t->size || b->loader_hash != t->hash) {
                snprintf(why, why_size, "loader: got %" PRIu32 " bytes, differing from bootcode.bin",
                         b->loader_received);
                return false;
        }
        for (size_t k = 0; k < b->config.n_requests; k++) {
                const char *name = b->config.requests[k];
                const struct emu_received_file *rf = emu_board_file(b, name);

                t = truth(name);
                if (!t || !t->exists) {
                        if (rf && rf->size != 0) {
                                snprintf(why, why_size, "%s: missing in the boot directory, announced %" PRIu64 " bytes",
                                         name, rf->size);
                                return false;
                        }
                        continue;
                }
                if (!rf || !rf->complete || rf->size != t->size || rf->received != t->size || rf->hash != t->hash) {
                        snprintf(why, why_size, "%s: holds %" PRIu64 " of %" PRIu64 " bytes%s", name,
                                 rf ? rf->received : 0, t->size, rf && rf->complete ? ", wrong hash" : "");
                        return false;
                }
        }
        if (b->escape_asked && b->escape_answer != 0) {
                snprintf(why, why_size, "asked for ../../etc/shadow and was told it has %" PRIu64 " bytes",
                         b->escape_answer);
                return false;
        }
        why[0] = '\0';
        return true;
}

/* Like world_verify_board(): runs its kernel, got exactly the boot files, saw no protocol violation. */
static bool verify_board(const struct gboard *g, char *why, size_t why_size) {
        const struct emu_board *b = &g->emu;

        if (b->error[0]) {
                snprintf(why, why_size, "protocol violation: %s", b->error);
                return false;
        }
        if (b->stage != EMU_STAGE_GADGET) {
                snprintf(why, why_size, "in stage %s, not running its kernel", emu_stage_name(b->stage));
                return false;
        }
        return verify_files(g, why, why_size);
}

/* ---------------------------------------------------------------- status file */

static void json_str(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c < 0x20 || c >= 0x7f)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}

static void write_board(FILE *f, struct gboard *g) {
        char why[300], files_why[300];
        bool ok, files_ok;

        pthread_mutex_lock(&g->lock);
        const struct emu_board *b = &g->emu;
        ok = verify_board(g, why, sizeof why);
        files_ok = verify_files(g, files_why, sizeof files_why);
        fprintf(f, "{\"board\":%u,\"udc\":\"dummy_udc.%u\",\"port\":", g->index, g->udc);
        json_str(f, g->port);
        fprintf(f, ",\"stage\":\"%s\",\"next_stage\":\"%s\",\"on_bus\":%s,\"attempt\":%u,\"connections\":%u,"
                   "\"boots_completed\":%u,\"resets\":%u,\"resets_seen\":%u,\"bulk_bytes\":%" PRIu64 ","
                   "\"loader_received\":%" PRIu32 ",\"escape_asked\":%s,\"escape_answer\":%" PRIu64 ",\"power_cuts\":%u,"
                   "\"unplugged\":%s,\"error\":",
                emu_stage_name(b->stage), emu_stage_name(b->next_stage), g->connected ? "true" : "false", b->attempt,
                g->connections, b->boots_completed, b->resets, g->resets_seen, g->bulk_bytes, b->loader_received,
                b->escape_asked ? "true" : "false", b->escape_answer, g->power_cuts,
                g->unplugged ? "true" : "false");
        json_str(f, b->error);
        fprintf(f, ",\"verified\":%s,\"why\":", ok ? "true" : "false");
        json_str(f, why);
        fprintf(f, ",\"files_ok\":%s,\"files_why\":", files_ok ? "true" : "false");
        json_str(f, files_why);
        fprintf(f, ",\"current\":");
        json_str(f, b->stage == EMU_STAGE_SERVER ? b->last_name : "");
        fprintf(f, ",\"last_event\":");
        json_str(f, g->last_event);
        fprintf(f, ",\"files\":[");
        for (size_t i = 0; i < b->n_files; i++) {
                const struct emu_received_file *rf = &b->files[i];
                const struct file_truth *t = truth(rf->name);
                bool same = t && t->exists && rf->complete && rf->received == t->size && rf->hash == t->hash;
                fprintf(f, "%s{\"name\":", i ? "," : "");
                json_str(f, rf->name);
                fprintf(f, ",\"size\":%" PRIu64 ",\"received\":%" PRIu64 ",\"complete\":%s,\"matches\":%s}",
                        rf->size, rf->received, rf->complete ? "true" : "false", same ? "true" : "false");
        }
        fprintf(f, "]}");
        pthread_mutex_unlock(&g->lock);
}

static void write_status(void) {
        char tmp[4096];
        FILE *f;

        if (!opt.status_file)
                return;
        snprintf(tmp, sizeof tmp, "%s.tmp", opt.status_file);
        f = fopen(tmp, "we");
        if (!f) {
                blog(NULL, "cannot write %s: %s", tmp, strerror(errno));
                return;
        }
        fprintf(f, "{\"uptime_ms\":%" PRIu64 ",\"boards\":[\n", now_ms() - t_start);
        for (unsigned i = 0; i < opt.n_boards; i++) {
                write_board(f, &boards[i]);
                fputs(i + 1 < opt.n_boards ? ",\n" : "\n", f);
        }
        fputs("]}\n", f);
        if (fclose(f) != 0 || rename(tmp, opt.status_file) < 0)
                blog(NULL, "cannot write %s: %s", opt.status_file, strerror(errno));
}

static void *status_main(void *arg) {
        unsigned seen = 0;

        (void) arg;
        for (;;) {
                pthread_mutex_lock(&status_lock);
                while (status_seq == seen && !quitting) {
                        struct timespec ts = deadline_in(1000);
                        pthread_cond_timedwait(&status_cond, &status_lock, &ts);
                }
                seen = status_seq;
                pthread_mutex_unlock(&status_lock);
                if (quitting)
                        break;
                write_status();
                sleep_ms(50); /* coalesce bursts */
        }
        return NULL;
}

/* ------------------------------------------------------------------ bulk OUT */

static void *bulk_main(void *arg) {
        struct gboard *g = arg;
        struct usb_raw_ep_io *io = malloc(sizeof *io + BULK_BUF);
        int fd, ep;

        if (!io)
                return NULL;
        pthread_mutex_lock(&g->lock);
        fd = g->fd;
        ep = g->ep_out;
        for (;;) {
                size_t len;
                int r, err;

                while (!g->bulk_stop && g->bulk_hold)
                        pthread_cond_wait(&g->cond, &g->lock);
                if (g->bulk_stop)
                        break;
                /* Read exactly what the announced write still lacks: the host sends no zero-length
                 * packet, so a longer read would wait forever for the end of a transfer that is a
                 * multiple of the packet size. With no write announced, read one packet, so data
                 * the board did not ask for shows up as a violation. */
                if (g->emu.write_pending && g->emu.write_len > g->emu.write_got)
                        len = g->emu.write_len - g->emu.write_got;
                else
                        len = g->ep_out_mps;
                if (len > BULK_BUF)
                        len = BULK_BUF;
                pthread_mutex_unlock(&g->lock);

                io->ep = (uint16_t) ep;
                io->flags = 0;
                io->length = (uint32_t) len;
                r = ioctl(fd, USB_RAW_IOCTL_EP_READ, io);
                err = errno;

                pthread_mutex_lock(&g->lock);
                if (g->bulk_stop)
                        break;
                if (r < 0) {
                        /* EINTR: a stray kick; ESHUTDOWN: a bus reset flushed the endpoint */
                        if (err != EINTR)
                                vlog(g, "bulk read: %s", strerror(err));
                        if (err != EINTR) {
                                struct timespec ts = deadline_in(10);
                                pthread_cond_timedwait(&g->cond, &g->lock, &ts);
                        }
                        continue;
                }

                size_t off = 0;
                enum emu_verdict v = EMU_ACK;
                while (off < (size_t) r) {
                        size_t taken = 0;
                        v = emu_board_bulk_out(&g->emu, io->data + off, (size_t) r - off, &taken);
                        off += taken;
                        if (v != EMU_ACK || taken == 0)
                                break;
                }
                g->bulk_bytes += (uint64_t) r;
                if (v == EMU_NO_ANSWER) {
                        /* the board stops taking data: the host's transfer times out */
                        g->bulk_hold = true;
                        blog(g, "bulk data no longer taken (fault), %zu of %d bytes kept", off, r);
                } else if (v == EMU_STALL) {
                        blog(g, "bulk data refused (%s); halting the endpoint", g->emu.error);
                        (void) ioctl(fd, USB_RAW_IOCTL_EP_SET_HALT, (unsigned long) ep);
                }
                enum emu_bus_action a = emu_board_take_bus_action(&g->emu);
                pthread_cond_broadcast(&g->cond);
                if (a != EMU_BUS_NONE) {
                        snprintf(g->last_event, sizeof g->last_event, "dropped off the bus during bulk data (%s)",
                                 a == EMU_BUS_DISCONNECT ? "comes back" : "stays away");
                        blog(g, "%s", g->last_event);
                        request_disconnect(g);
                        status_changed();
                        break;
                }
                status_changed();
                if (g->throttle_kbps) {
                        unsigned ms = (unsigned) ((uint64_t) r * 1000u / ((uint64_t) g->throttle_kbps * 1024u));
                        struct timespec ts = deadline_in(ms ? ms : 1);
                        while (!g->bulk_stop && g->throttle_kbps &&
                               pthread_cond_timedwait(&g->cond, &g->lock, &ts) == 0)
                                ;
                }
        }
        pthread_mutex_unlock(&g->lock);
        free(io);
        return NULL;
}

static void start_bulk(struct gboard *g) {
        if (g->bulk_running || g->ep_out < 0)
                return;
        g->bulk_stop = false;
        g->bulk_hold = false;
        if (pthread_create(&g->bulk, NULL, bulk_main, g) != 0) {
                blog(g, "cannot start the bulk thread");
                return;
        }
        g->bulk_running = true;
}

/* Called with the lock held; drops it while waiting. */
static void stop_bulk(struct gboard *g) {
        if (!g->bulk_running)
                return;
        g->bulk_stop = true;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->lock);
        for (;;) {
                struct timespec ts;
                pthread_kill(g->bulk, SIGUSR1);
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 10 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                if (pthread_timedjoin_np(g->bulk, NULL, &ts) == 0)
                        break;
        }
        pthread_mutex_lock(&g->lock);
        g->bulk_running = false;
}

/* ------------------------------------------------------------------ ep0 */

/* Enables the endpoints of the current stage's configuration; remembers the protocol's bulk OUT. */
static void enable_endpoints(struct gboard *g, int fd, const uint8_t *desc, size_t n) {
        unsigned n_interfaces = n >= 18 + 9 ? desc[18 + 4] : 0;
        unsigned want_interface = n_interfaces > 1 ? 1 : 0; /* the protocol's interface */
        int interface = -1;

        g->ep_out = -1;
        for (size_t at = 18; at + 2 <= n && desc[at] >= 2; at += desc[at]) {
                if (desc[at + 1] == USB_DT_INTERFACE && at + 3 <= n) {
                        interface = desc[at + 2];
                        continue;
                }
                if (desc[at + 1] != USB_DT_ENDPOINT || at + 7 > n)
                        continue;
                struct usb_endpoint_descriptor ed;
                memset(&ed, 0, sizeof ed);
                ed.bLength = USB_DT_ENDPOINT_SIZE;
                ed.bDescriptorType = USB_DT_ENDPOINT;
                ed.bEndpointAddress = desc[at + 2];
                ed.bmAttributes = desc[at + 3];
                ed.wMaxPacketSize = htole16((uint16_t) (desc[at + 4] | desc[at + 5] << 8));
                ed.bInterval = desc[at + 6];
                int h = ioctl(fd, USB_RAW_IOCTL_EP_ENABLE, &ed);
                if (h < 0) {
                        blog(g, "cannot enable endpoint 0x%02x: %s", ed.bEndpointAddress, strerror(errno));
                        continue;
                }
                vlog(g, "endpoint 0x%02x enabled (handle %d)", ed.bEndpointAddress, h);
                if (interface == (int) want_interface && !(ed.bEndpointAddress & USB_DIR_IN) &&
                    (ed.bmAttributes & USB_ENDPOINT_XFERTYPE_MASK) == USB_ENDPOINT_XFER_BULK && g->ep_out < 0) {
                        g->ep_out = h;
                        g->ep_out_mps = (uint16_t) (desc[at + 4] | desc[at + 5] << 8);
                }
        }
        g->eps_enabled = true;
}

static void handle_standard(struct gboard *g, int fd, const struct usb_ctrlrequest *c) {
        uint16_t value = le16toh(c->wValue), length = le16toh(c->wLength);
        uint8_t desc[512], buf[256];
        size_t n = 0;
        int r = 0;

        switch (c->bRequest) {
        case USB_REQ_GET_DESCRIPTOR: {
                uint8_t type = (uint8_t) (value >> 8), index = (uint8_t) value;
                pthread_mutex_lock(&g->lock);
                size_t total = g->emu.stage == EMU_STAGE_OFF ? 0 : emu_board_descriptors(&g->emu, desc, sizeof desc);
                if (type == USB_DT_STRING && g->emu.stage != EMU_STAGE_OFF)
                        n = emu_board_string_descriptor(&g->emu, index, buf, sizeof buf);
                pthread_mutex_unlock(&g->lock);
                if (total > sizeof desc)
                        total = 0;
                if (type == USB_DT_DEVICE && total >= 18) {
                        r = ep0_write(fd, desc, length < 18 ? length : 18);
                } else if (type == USB_DT_CONFIG && total > 18 && index == 0) {
                        n = total - 18;
                        r = ep0_write(fd, desc + 18, length < n ? length : n);
                } else if (type == USB_DT_STRING && n > 0) {
                        r = ep0_write(fd, buf, length < n ? length : n);
                } else {
                        /* device qualifier, BOS, other-speed, unknown strings: not offered */
                        r = ep0_stall(fd);
                }
                break;
        }
        case USB_REQ_SET_CONFIGURATION:
                pthread_mutex_lock(&g->lock);
                if ((value & 0xff) != 0) {
                        size_t total = emu_board_descriptors(&g->emu, desc, sizeof desc);
                        if (!g->eps_enabled && total <= sizeof desc)
                                enable_endpoints(g, fd, desc, total);
                        (void) ioctl(fd, USB_RAW_IOCTL_VBUS_DRAW, total > 26 ? desc[18 + 8] : 50);
                        (void) ioctl(fd, USB_RAW_IOCTL_CONFIGURE, 0);
                        g->configured = true;
                        start_bulk(g);
                }
                pthread_mutex_unlock(&g->lock);
                r = ep0_read(fd, NULL, 0);
                vlog(g, "configured");
                break;
        case USB_REQ_GET_CONFIGURATION:
                buf[0] = g->configured ? 1 : 0;
                r = ep0_write(fd, buf, length < 1 ? length : 1);
                break;
        case USB_REQ_GET_INTERFACE:
                buf[0] = 0;
                r = ep0_write(fd, buf, length < 1 ? length : 1);
                break;
        case USB_REQ_GET_STATUS:
                buf[0] = buf[1] = 0;
                r = ep0_write(fd, buf, length < 2 ? length : 2);
                break;
        case USB_REQ_SET_INTERFACE:
                r = ep0_read(fd, NULL, 0);
                break;
        default:
                vlog(g, "standard request 0x%02x/%u not handled: stall", c->bRequestType, c->bRequest);
                r = ep0_stall(fd);
                break;
        }
        if (r < 0 && r != -EINTR)
                vlog(g, "answering standard request %u: %s", c->bRequest, strerror(-r));
}

/*
 * The race the protocol documents: the host's bulk transfer completes when
 * the kernel took the data, possibly before this program's bulk thread gave
 * it to the model. A control request after a write waits (a little) until
 * the model has the whole write. Called with the lock held.
 */
static void wait_drained(struct gboard *g) {
        struct timespec ts = deadline_in(DRAIN_WAIT_MS);

        while (g->emu.write_pending && g->bulk_running && !g->bulk_hold && !g->stop_conn)
                if (pthread_cond_timedwait(&g->cond, &g->lock, &ts) != 0)
                        break;
}

static const char *verdict_name(enum emu_verdict v) {
        switch (v) {
        case EMU_ACK:
                return "ack";
        case EMU_STALL:
                return "stall";
        case EMU_NO_ANSWER:
                return "no answer";
        case EMU_GONE:
                return "gone";
        }
        return "?";
}

static void handle_vendor(struct gboard *g, int fd, const struct usb_ctrlrequest *c) {
        uint16_t value = le16toh(c->wValue), index = le16toh(c->wIndex), length = le16toh(c->wLength);
        bool in = c->bRequestType & USB_DIR_IN;
        uint8_t buf[EP0_BUF];
        size_t actual = 0;
        enum emu_verdict v;
        enum emu_bus_action a;
        int r = 0;

        if (!in && length > 0) {
                /* the protocol never sends a data stage with a write; take it and let the model judge */
                r = ep0_read(fd, buf, length < sizeof buf ? length : sizeof buf);
                if (r < 0)
                        return;
        }
        pthread_mutex_lock(&g->lock);
        wait_drained(g);
        if (in) {
                v = emu_board_control_in(&g->emu, value, index, buf, length < sizeof buf ? length : sizeof buf,
                                         &actual);
        } else {
                v = emu_board_control_out(&g->emu, value, index);
                if (v == EMU_ACK) {
                        g->bulk_hold = false; /* a new write: the bulk thread sizes its next read */
                        pthread_cond_broadcast(&g->cond);
                }
        }
        a = emu_board_take_bus_action(&g->emu);
        vlog(g, "vendor %s value %u index %u length %u -> %s, %zu bytes%s", in ? "IN" : "OUT", value, index, length,
             verdict_name(v), actual, a != EMU_BUS_NONE ? ", then off the bus" : "");
        if (v == EMU_NO_ANSWER) {
                g->hold_pending = true;
                g->hold_deadline = now_ms() + opt.hold_ms;
                snprintf(g->last_event, sizeof g->last_event, "control %s not answered (fault)", in ? "IN" : "OUT");
                blog(g, "%s", g->last_event);
        }
        pthread_mutex_unlock(&g->lock);
        status_changed();

        switch (v) {
        case EMU_ACK:
                if (in)
                        r = ep0_write(fd, buf, actual);
                else if (length == 0)
                        r = ep0_read(fd, NULL, 0);
                break;
        case EMU_STALL:
                r = ep0_stall(fd);
                break;
        case EMU_NO_ANSWER:
                break; /* the host's transfer times out; see the hold in the runner */
        case EMU_GONE:
                if (a == EMU_BUS_NONE)
                        r = ep0_stall(fd); /* not a protocol device any more: refuse */
                break;
        }
        if (r < 0 && r != -EINTR)
                blog(g, "answering vendor %s: %s", in ? "IN" : "OUT", strerror(-r));

        if (a != EMU_BUS_NONE) {
                sleep_ms(ANSWER_SETTLE_MS); /* the host gets its completion before the board leaves */
                pthread_mutex_lock(&g->lock);
                snprintf(g->last_event, sizeof g->last_event, "left the bus (%s, next: %s)",
                         a == EMU_BUS_DISCONNECT ? "comes back" : "stays away", emu_stage_name(g->emu.next_stage));
                blog(g, "%s", g->last_event);
                g->stop_conn = true;
                pthread_mutex_unlock(&g->lock);
        }
}

static void handle_reset(struct gboard *g) {
        pthread_mutex_lock(&g->lock);
        g->resets_seen++;
        if (!g->configured) {
                /* part of the host's enumeration */
                pthread_mutex_unlock(&g->lock);
                vlog(g, "bus reset during enumeration");
                return;
        }
        emu_board_reset(&g->emu);
        enum emu_bus_action a = emu_board_take_bus_action(&g->emu);
        snprintf(g->last_event, sizeof g->last_event, "port reset by the host: %s",
                 a != EMU_BUS_NONE ? "the board restarts" : "the board keeps its state");
        blog(g, "%s", g->last_event);
        g->hold_pending = false;
        if (a != EMU_BUS_NONE) {
                g->stop_conn = true;
        } else {
                /* the host enumerates again and sets the configuration; endpoints stay enabled */
                g->configured = false;
        }
        pthread_mutex_unlock(&g->lock);
        status_changed();
}

/*
 * The board loses its power: whatever it was doing (a transfer included) is
 * gone; the runner brings it back as a fresh board in its boot ROM. Called
 * with the lock held.
 */
static void lose_power(struct gboard *g, const char *why) {
        snprintf(g->last_event, sizeof g->last_event, "%s: the board loses power", why);
        blog(g, "%s", g->last_event);
        emu_board_unplug(&g->emu);
        (void) emu_board_take_bus_action(&g->emu);
        g->power_cut = true;
        g->power_cuts++;
        g->hold_pending = false;
        if (g->connected)
                g->stop_conn = true;
        pthread_cond_broadcast(&g->cond);
}

/* DISCONNECT: dummy_hcd saw the port's power bit go from on to off (a reset is a RESET event). */
static void handle_power_cut(struct gboard *g) {
        pthread_mutex_lock(&g->lock);
        lose_power(g, "port power cut");
        pthread_mutex_unlock(&g->lock);
        status_changed();
}

/*
 * Whether the board's port has power: 1 yes, 0 no, -errno cannot tell. Only
 * for a board off the bus: both ways take the root hub's lock, which the host
 * holds while it enumerates a device on the bus, and the enumeration of this
 * board would wait for this very thread to answer it. Runner thread only.
 */
static int port_power(struct gboard *g) {
        char buf[8];
        int fd, r;

        if (g->power_path[0] && (fd = open(g->power_path, O_RDONLY | O_CLOEXEC)) >= 0) {
                ssize_t n = read(fd, buf, sizeof buf - 1);
                r = n < 0 ? -errno : 0;
                close(fd);
                if (n > 0 && (buf[0] == '0' || buf[0] == '1'))
                        return buf[0] == '0'; /* "disable" */
                return r < 0 ? r : -EIO;
        }
        /* no `disable` file (before Linux 6.0?): GET_STATUS(port 1) to the root hub through usbfs */
        if (g->power_fd < 0) {
                char path[64];
                if (g->bus <= 0)
                        return -ENODEV;
                snprintf(path, sizeof path, "/dev/bus/usb/%03d/001", g->bus);
                g->power_fd = open(path, O_RDWR | O_CLOEXEC);
                if (g->power_fd < 0)
                        return -errno;
        }
        uint8_t st[4] = { 0 };
        struct usbdevfs_ctrltransfer c = {
                .bRequestType = USB_DIR_IN | USB_TYPE_CLASS | USB_RECIP_OTHER,
                .bRequest = USB_REQ_GET_STATUS,
                .wValue = 0,
                .wIndex = 1,
                .wLength = sizeof st,
                .timeout = 1000,
                .data = st,
        };
        r = ioctl(g->power_fd, USBDEVFS_CONTROL, &c);
        if (r < 0)
                return -errno;
        return r < 2 ? -EIO : (st[1] & 0x01) != 0; /* wPortStatus bit 8: PORT_POWER */
}

/*
 * A board off the bus, with power: between two stages (back after
 * --reconnect-ms) or wedged (a fault: it stays away until power or a plug
 * revives it). Watches the port's power meanwhile. Called with the lock held;
 * returns when something changed.
 */
static void wait_off_bus(struct gboard *g) {
        enum emu_stage next = g->emu.next_stage;
        uint64_t due = next != EMU_STAGE_OFF ? now_ms() + opt.reconnect_ms : UINT64_MAX;

        for (;;) {
                uint64_t now = now_ms();
                unsigned wait = POWER_POLL_MS;
                int p;

                if (due != UINT64_MAX)
                        wait = due <= now ? 0 : (due - now < wait ? (unsigned) (due - now) : wait);
                if (wait) {
                        struct timespec ts = deadline_in(wait);
                        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
                }
                if (g->quit || g->unplugged || g->power_cut || g->emu.stage != EMU_STAGE_OFF ||
                    g->emu.next_stage != next)
                        return;
                pthread_mutex_unlock(&g->lock);
                p = port_power(g);
                pthread_mutex_lock(&g->lock);
                if (g->quit || g->unplugged || g->power_cut || g->emu.stage != EMU_STAGE_OFF ||
                    g->emu.next_stage != next)
                        return;
                if (p < 0 && !g->power_warned) {
                        g->power_warned = true;
                        blog(g, "cannot read its port's power (%s): a power cut while off the bus goes unnoticed",
                             strerror(-p));
                }
                if (p == 0) {
                        lose_power(g, next != EMU_STAGE_OFF ? "port power cut between two stages"
                                                            : "port power cut while off the bus");
                        status_changed();
                        return;
                }
                if (now_ms() >= due) {
                        /* the power was there a moment ago: back in the next stage */
                        emu_board_reconnect(&g->emu);
                        status_changed();
                        return;
                }
        }
}

/* ---------------------------------------------------------------- the runner */

static int connect_board(struct gboard *g) {
        struct usb_raw_init init;
        bool high;
        int fd;

        fd = open("/dev/raw-gadget", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        memset(&init, 0, sizeof init);
        snprintf((char *) init.driver_name, sizeof init.driver_name, "dummy_udc");
        snprintf((char *) init.device_name, sizeof init.device_name, "dummy_udc.%u", g->udc);
        pthread_mutex_lock(&g->lock);
        high = emu_board_high_speed(&g->emu);
        pthread_mutex_unlock(&g->lock);
        init.speed = high ? USB_SPEED_HIGH : USB_SPEED_FULL;
        if (ioctl(fd, USB_RAW_IOCTL_INIT, &init) < 0 || ioctl(fd, USB_RAW_IOCTL_RUN, 0) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* One connection: from RUN to the board leaving the bus. */
static void run_connection(struct gboard *g) {
        struct usb_raw_event *ev = malloc(sizeof *ev + sizeof(struct usb_ctrlrequest) + 64);
        int fd;

        if (!ev)
                return;
        fd = connect_board(g);
        if (fd < 0) {
                blog(g, "cannot attach to dummy_udc.%u: %s", g->udc, strerror(-fd));
                free(ev);
                sleep_ms(1000);
                return;
        }
        pthread_mutex_lock(&g->lock);
        g->fd = fd;
        g->connected = true;
        g->configured = false;
        g->eps_enabled = false;
        g->ep_out = -1;
        g->hold_pending = false;
        g->connections++;
        snprintf(g->last_event, sizeof g->last_event, "%s as %04x:%04x (%s, %s speed)%s",
                 g->dark ? "attached again" : "on the bus", emu_board_vid(&g->emu), emu_board_pid(&g->emu),
                 emu_stage_name(g->emu.stage), emu_board_high_speed(&g->emu) ? "high" : "full",
                 g->dark ? ", on the bus as soon as its port has power" : "");
        g->dark = false;
        blog(g, "%s", g->last_event);
        pthread_mutex_unlock(&g->lock);
        status_changed();

        for (;;) {
                pthread_mutex_lock(&g->lock);
                if (g->stop_conn) {
                        pthread_mutex_unlock(&g->lock);
                        break;
                }
                if (g->hold_pending && now_ms() >= g->hold_deadline) {
                        /* Raw-gadget refuses every later request while one is unanswered, and it cannot
                         * drop one: once the host surely gave up, stall it (which only clears it). */
                        g->hold_pending = false;
                        pthread_mutex_unlock(&g->lock);
                        (void) ep0_stall(fd);
                        continue;
                }
                g->in_fetch = true;
                pthread_mutex_unlock(&g->lock);

                ev->type = 0;
                ev->length = sizeof(struct usb_ctrlrequest);
                int r = ioctl(fd, USB_RAW_IOCTL_EVENT_FETCH, ev);
                int err = errno;

                pthread_mutex_lock(&g->lock);
                g->in_fetch = false;
                pthread_mutex_unlock(&g->lock);
                if (r < 0) {
                        if (err == EINTR)
                                continue;
                        blog(g, "event fetch: %s", strerror(err));
                        break;
                }
                switch (ev->type) {
                case USB_RAW_EVENT_CONNECT:
                        vlog(g, "connect");
                        break;
                case USB_RAW_EVENT_CONTROL: {
                        struct usb_ctrlrequest c;
                        memcpy(&c, ev->data, sizeof c);
                        if ((c.bRequestType & USB_TYPE_MASK) == USB_TYPE_STANDARD)
                                handle_standard(g, fd, &c);
                        else if ((c.bRequestType & USB_TYPE_MASK) == USB_TYPE_VENDOR)
                                handle_vendor(g, fd, &c);
                        else
                                (void) ep0_stall(fd);
                        break;
                }
                case RAW_EVENT_RESET:
                        handle_reset(g);
                        break;
                case RAW_EVENT_DISCONNECT:
                        handle_power_cut(g);
                        break;
                default:
                        vlog(g, "event type %u ignored", ev->type);
                        break;
                }
        }

        pthread_mutex_lock(&g->lock);
        stop_bulk(g);
        g->connected = false;
        g->fd = -1;
        g->stop_conn = false;
        pthread_mutex_unlock(&g->lock);
        close(fd); /* unregisters the gadget: the host sees the device leave */
        free(ev);
        status_changed();
}

static void *runner_main(void *arg) {
        struct gboard *g = arg;

        pthread_mutex_lock(&g->lock);
        for (;;) {
                if (g->quit)
                        break;
                if (g->emu.stage == EMU_STAGE_OFF) {
                        if (g->unplugged) {
                                /* out of its port: waits for "plug", or for the end of a "replug" */
                                if (!g->replug_at) {
                                        pthread_cond_wait(&g->cond, &g->lock);
                                        continue;
                                }
                                uint64_t now = now_ms();
                                if (now < g->replug_at) {
                                        struct timespec ts = deadline_in((unsigned) (g->replug_at - now));
                                        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
                                        continue;
                                }
                                g->replug_at = 0;
                                g->unplugged = false;
                                emu_board_plug(&g->emu);
                                snprintf(g->last_event, sizeof g->last_event, "plugged in again");
                                blog(g, "%s", g->last_event);
                                status_changed();
                                continue;
                        }
                        if (g->power_cut) {
                                /* a fresh board in its ROM; it attaches now and the host sees it when the
                                 * port has power again (dummy_hcd connects a bound gadget only then) */
                                g->power_cut = false;
                                g->dark = true;
                                emu_board_plug(&g->emu);
                                status_changed();
                                continue;
                        }
                        wait_off_bus(g);
                        continue;
                }
                g->stop_conn = false;
                pthread_mutex_unlock(&g->lock);
                run_connection(g);
                pthread_mutex_lock(&g->lock);
        }
        pthread_mutex_unlock(&g->lock);
        return NULL;
}

/* Re-kicks runners that must stop or whose unanswered request is due (a kick can miss a thread that
 * was about to block). */
static void *ticker_main(void *arg) {
        (void) arg;
        while (!quitting) {
                uint64_t now = now_ms();
                for (unsigned i = 0; i < opt.n_boards; i++) {
                        struct gboard *g = &boards[i];
                        pthread_mutex_lock(&g->lock);
                        if ((g->connected && (g->stop_conn || g->quit)) ||
                            (g->hold_pending && g->in_fetch && now >= g->hold_deadline))
                                kick_runner(g);
                        pthread_mutex_unlock(&g->lock);
                }
                sleep_ms(10);
        }
        return NULL;
}

/* ----------------------------------------------------------- control FIFO */

static int parse_board_list(const char *s, bool sel[MAX_BOARDS]) {
        memset(sel, 0, sizeof(bool) * MAX_BOARDS);
        if (strcmp(s, "all") == 0) {
                for (unsigned i = 0; i < opt.n_boards; i++)
                        sel[i] = true;
                return 0;
        }
        char *copy = strdup(s), *save = NULL;
        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                char *end;
                unsigned long a = strtoul(t, &end, 10), b = a;
                if (*end == '-')
                        b = strtoul(end + 1, &end, 10);
                if (*end || a < 1 || b < a || b > opt.n_boards) {
                        free(copy);
                        return -EINVAL;
                }
                for (unsigned long k = a; k <= b; k++)
                        sel[k - 1] = true;
        }
        free(copy);
        return 0;
}

static void command(char *line) {
        char verb[32], who[128];
        unsigned arg = 0;
        bool sel[MAX_BOARDS];
        int n = sscanf(line, "%31s %127s %u", verb, who, &arg);

        if (n < 1)
                return;
        if (strcmp(verb, "quit") == 0) {
                kill(getpid(), SIGTERM);
                return;
        }
        if (n < 2 || parse_board_list(who, sel) < 0) {
                blog(NULL, "control: cannot parse \"%s\"", line);
                return;
        }
        for (unsigned i = 0; i < opt.n_boards; i++) {
                struct gboard *g = &boards[i];
                if (!sel[i])
                        continue;
                pthread_mutex_lock(&g->lock);
                if (strcmp(verb, "plug") == 0) {
                        /* also revives a wedged board (off the bus for good after a fault), as reseating it would */
                        if (g->emu.stage == EMU_STAGE_OFF && g->emu.next_stage == EMU_STAGE_OFF && !g->connected) {
                                g->unplugged = false;
                                g->replug_at = 0;
                                g->power_cut = false;
                                emu_board_plug(&g->emu);
                                snprintf(g->last_event, sizeof g->last_event, "plugged in");
                                blog(g, "plugged in");
                        }
                } else if (strcmp(verb, "unplug") == 0 || strcmp(verb, "replug") == 0) {
                        /* replug B [MS]: out, and back in (in ROM, a fresh board) MS later (default --reconnect-ms);
                         * it shows on the bus then only if its port has power */
                        bool replug = verb[0] == 'r';
                        emu_board_unplug(&g->emu);
                        (void) emu_board_take_bus_action(&g->emu);
                        g->power_cut = false;
                        g->unplugged = true;
                        g->replug_at = replug ? now_ms() + (n == 3 ? arg : opt.reconnect_ms) : 0;
                        snprintf(g->last_event, sizeof g->last_event, "%s",
                                 replug ? "unplugged, to be plugged in again" : "unplugged");
                        blog(g, "%s", g->last_event);
                        if (g->connected)
                                request_disconnect(g);
                } else if (strcmp(verb, "throttle") == 0 && n == 3) {
                        g->throttle_kbps = arg;
                        blog(g, "bulk data throttled to %u KiB/s%s", arg, arg ? "" : " (no limit)");
                } else {
                        blog(NULL, "control: unknown command \"%s\"", line);
                        pthread_mutex_unlock(&g->lock);
                        return;
                }
                pthread_cond_broadcast(&g->cond);
                pthread_mutex_unlock(&g->lock);
        }
        status_changed();
}

static void *control_main(void *arg) {
        char line[256];
        FILE *f;

        (void) arg;
        /* O_RDWR: the FIFO never reports end-of-file when a writer closes it */
        int fd = open(opt.control, O_RDWR | O_CLOEXEC);
        if (fd < 0 || !(f = fdopen(fd, "r"))) {
                blog(NULL, "cannot open the control FIFO %s: %s", opt.control, strerror(errno));
                return NULL;
        }
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\r\n")] = '\0';
                blog(NULL, "control: %s", line);
                command(line);
        }
        fclose(f);
        return NULL;
}

/* --------------------------------------------------------------- options */

static int parse_unsigned(const char *s, unsigned long max, unsigned long *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 0);
        if (errno || end == s || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

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

static const struct {
        const char *name;
        enum emu_fault_kind kind;
} fault_kinds[] = {
        { "stall", EMU_FAULT_STALL },
        { "no-answer", EMU_FAULT_NO_ANSWER },
        { "vanish", EMU_FAULT_VANISH },
        { "unplug", EMU_FAULT_UNPLUG },
        { "rom-failure", EMU_FAULT_ROM_FAILURE },
        { "bogus-command", EMU_FAULT_BOGUS_COMMAND },
        { "name-no-nul", EMU_FAULT_NAME_NO_NUL },
        { "escape", EMU_FAULT_ESCAPE_NAME },
        { "no-gadget", EMU_FAULT_NO_GADGET },
};

static const struct {
        const char *name;
        enum emu_fault_point point;
} fault_points[] = {
        { "rom-header", EMU_AT_ROM_HEADER }, { "rom-loader", EMU_AT_ROM_LOADER }, { "rom-status", EMU_AT_ROM_STATUS },
        { "request", EMU_AT_REQUEST },       { "file", EMU_AT_FILE },             { "gadget", EMU_AT_GADGET },
};

/* KIND[:file=NAME][:offset=N][:request=N][:at=POINT][:attempt=N][:sticky] */
static int parse_fault(const char *spec, struct emu_fault *f, char name[260]) {
        char *copy = strdup(spec), *save = NULL, *tok;
        bool have_point = false, have_kind = false;
        int r = -EINVAL;

        if (!copy)
                return -ENOMEM;
        memset(f, 0, sizeof *f);
        name[0] = '\0';
        tok = strtok_r(copy, ":", &save);
        for (size_t i = 0; tok && i < sizeof fault_kinds / sizeof fault_kinds[0]; i++)
                if (strcmp(tok, fault_kinds[i].name) == 0) {
                        f->kind = fault_kinds[i].kind;
                        have_kind = true;
                }
        if (!have_kind)
                goto out;
        while ((tok = strtok_r(NULL, ":", &save))) {
                char *eq = strchr(tok, '=');
                const char *val = eq ? eq + 1 : "";
                unsigned long v;

                if (eq)
                        *eq = '\0';
                if (strcmp(tok, "sticky") == 0 && !eq) {
                        f->sticky = true;
                } else if (strcmp(tok, "file") == 0 && eq && *val && strlen(val) < 260) {
                        snprintf(name, 260, "%s", val);
                        f->point = EMU_AT_FILE;
                        have_point = true;
                } else if (strcmp(tok, "offset") == 0 && eq && parse_unsigned(val, UINT32_MAX, &v) == 0) {
                        f->offset = v;
                } else if (strcmp(tok, "request") == 0 && eq && parse_unsigned(val, 1000, &v) == 0) {
                        f->point = EMU_AT_REQUEST;
                        f->index = (unsigned) v;
                        have_point = true;
                } else if (strcmp(tok, "attempt") == 0 && eq && parse_unsigned(val, 1000, &v) == 0) {
                        f->attempt = (unsigned) v;
                } else if (strcmp(tok, "at") == 0 && eq) {
                        size_t i;
                        for (i = 0; i < sizeof fault_points / sizeof fault_points[0]; i++)
                                if (strcmp(val, fault_points[i].name) == 0)
                                        break;
                        if (i == sizeof fault_points / sizeof fault_points[0])
                                goto out;
                        f->point = fault_points[i].point;
                        have_point = true;
                } else {
                        goto out;
                }
        }
        if (!have_point && emu_fault_natural_point(f->kind, &f->point) < 0)
                goto out; /* where would it fire? */
        if (f->point == EMU_AT_FILE && !name[0])
                goto out;
        r = 0;
out:
        free(copy);
        return r;
}

/* rom-pid=0x2764:after-bulk-fault=restart|wait-resend:on-reset=restart|keep:throttle=KIB_PER_S */
static int parse_board_settings(const char *spec, struct emu_board_config *c, unsigned *throttle) {
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
                if (strcmp(tok, "rom-pid") == 0 && parse_unsigned(eq, 0xffff, &v) == 0 && (v == 0x2763 || v == 0x2764))
                        c->rom_pid = (uint16_t) v;
                else if (strcmp(tok, "after-bulk-fault") == 0 && strcmp(eq, "restart") == 0)
                        c->after_bulk_fault = EMU_AFTER_BULK_FAULT_RESTART;
                else if (strcmp(tok, "after-bulk-fault") == 0 && strcmp(eq, "wait-resend") == 0)
                        c->after_bulk_fault = EMU_AFTER_BULK_FAULT_WAIT_RESEND;
                else if (strcmp(tok, "on-reset") == 0 && strcmp(eq, "restart") == 0)
                        c->on_reset = EMU_ON_RESET_RESTART;
                else if (strcmp(tok, "on-reset") == 0 && strcmp(eq, "keep") == 0)
                        c->on_reset = EMU_ON_RESET_KEEP;
                else if (strcmp(tok, "throttle") == 0 && parse_unsigned(eq, 10000000, &v) == 0)
                        *throttle = (unsigned) v;
                else
                        r = -EINVAL;
        }
        free(copy);
        return r;
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: gadget-boards [OPTIONS]\n"
                "Emulated Raspberry Pi Zero boards on dummy_hcd UDCs through raw-gadget (tests/emu/board.c).\n\n"
                "  --boards N            number of boards (1..%d); board K uses dummy_udc.(BASE+K-1)\n"
                "  --udc-base BASE       first dummy UDC to use (default 0)\n"
                "  --boot-dir DIR        the boot files the host serves: boards verify what they got\n"
                "  --status-file PATH    JSON status of every board, rewritten as boards change\n"
                "  --control FIFO        FIFO for commands: plug B | unplug B | replug B [MS] | throttle B KIB_PER_S\n"
                "                        | quit (B: a board number, a list 1,3-4, or all). replug: out of its\n"
                "                        port, back in (in ROM) MS later (default --reconnect-ms); plug also\n"
                "                        revives a board wedged off the bus by a fault\n"
                "  --fault B:SPEC        a planned fault; SPEC is KIND[:file=NAME][:offset=N][:request=N]\n"
                "                        [:at=POINT][:attempt=N][:sticky]; KIND: stall no-answer vanish unplug\n"
                "                        rom-failure bogus-command name-no-nul escape no-gadget; POINT:\n"
                "                        rom-header rom-loader rom-status request file gadget; attempt 0\n"
                "                        (default) = every boot attempt\n"
                "  --board B:SETTINGS    rom-pid=0x2763|0x2764, after-bulk-fault=wait-resend|restart,\n"
                "                        on-reset=restart|keep, throttle=KIB_PER_S (bulk OUT rate)\n"
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
                        if (parse_unsigned(optarg, MAX_BOARDS, &v) < 0 || v < 1) {
                                fprintf(stderr, "gadget-boards: --boards takes 1..%d\n", MAX_BOARDS);
                                return 2;
                        }
                        opt.n_boards = (unsigned) v;
                        break;
                case OPT_UDC_BASE:
                        if (parse_unsigned(optarg, MAX_BOARDS - 1, &v) < 0) {
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
                        if (parse_unsigned(optarg, 60000, &v) < 0) {
                                fprintf(stderr, "gadget-boards: bad --reconnect-ms\n");
                                return 2;
                        }
                        opt.reconnect_ms = (unsigned) v;
                        break;
                case OPT_HOLD:
                        if (parse_unsigned(optarg, 600000, &v) < 0) {
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
                        if (sel[k] && parse_board_settings(rest, &configs[k], &throttles[k]) < 0) {
                                fprintf(stderr, "gadget-boards: bad --board %s\n", board_args[i]);
                                return 2;
                        }
        }
        for (size_t i = 0; i < n_fault_args; i++) {
                const char *rest;
                struct emu_fault f;
                char name[260];
                if (split_board(fault_args[i], sel, &rest) < 0 || parse_fault(rest, &f, name) < 0) {
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
                add_truth("bootcode.bin");
                for (size_t k = 0; k < emu_pi_zero_n_requests; k++)
                        add_truth(emu_pi_zero_requests[k]);
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
        pthread_cond_destroy(&status_cond);
        pthread_cond_init(&status_cond, &ca);
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
