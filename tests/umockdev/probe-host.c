/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * probe-host: a small asynchronous USB boot host that does what the daemon
 * does, to prove the umockdev harness without the daemon. Single thread:
 * poll() on the udev monitor and libusb's fds, libusb_handle_events with a
 * zero timeout when something is ready (the way an event loop like sd-event
 * drives libusb).
 *
 *  - libudev enumerate + monitor (subsystem usb, devtype usb_device); a board
 *    is known by its port path (the sysfs name, e.g. "1-1.3");
 *  - open(devnode, O_RDWR|O_CLOEXEC), libusb_wrap_sys_device() on a context
 *    with LIBUSB_OPTION_NO_DEVICE_DISCOVERY; interface and bulk OUT endpoint
 *    from the active configuration; claim;
 *  - ROM (iSerialNumber index 0 or 3): write(boot message, 24), write(loader),
 *    read(4) == 0; the board then comes back in its second stage;
 *  - second stage: read(260) requests, answer GetFileSize / ReadFile with
 *    synthetic files (synth.h), until Done; the board then comes back as its
 *    Linux gadget (any non-Broadcom VID on that port): "state up".
 *  A write is a vendor control OUT (0x40, 0, len & 0xffff, len >> 16) plus the
 *  bytes on bulk OUT in --chunk pieces; a read is a vendor control IN (0xC0).
 *
 * Recovery: a file whose bulk data failed (timeout, stall) is written again
 * (after CLEAR_HALT) up to --retries times; any other failure resets the
 * device (the board restarts and re-enumerates in ROM). That is the lenient
 * board's recovery (emu_board_config_lenient): this host proves the harness,
 * the daemon's own recovery of the least forgiving board is test-daemon's.
 *
 * Exits 0 when --expect boards are up, 2 on --timeout-ms, 1 on errors.
 * Log lines look like the daemon's: "[   12.345678] node1[1-1]: state serving".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libudev.h>
#include <libusb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "synth.h"

#define BCM_VID 0x0a5c
#define MAX_NODES 256
#define MAX_DEVS 256

enum step {
        ST_IDLE,
        /* ROM */
        ST_HDR_CTRL,
        ST_HDR_BULK,
        ST_LDR_CTRL,
        ST_LDR_BULK,
        ST_STATUS,
        ST_WAIT_DROP,
        /* second stage */
        ST_REQUEST,
        ST_SIZE_CTRL,
        ST_FILE_CTRL,
        ST_FILE_BULK,
        ST_ZERO_CTRL,
        ST_DONE_CTRL,
        ST_DONE,
};

static const char *const step_names[] = {
        [ST_IDLE] = "idle",         [ST_HDR_CTRL] = "boot message write", [ST_HDR_BULK] = "boot message data",
        [ST_LDR_CTRL] = "loader write", [ST_LDR_BULK] = "loader data",     [ST_STATUS] = "status read",
        [ST_WAIT_DROP] = "waiting for the loader", [ST_REQUEST] = "request read", [ST_SIZE_CTRL] = "size answer",
        [ST_FILE_CTRL] = "file write", [ST_FILE_BULK] = "file data",     [ST_ZERO_CTRL] = "empty answer", [ST_DONE_CTRL] = "final answer",
        [ST_DONE] = "done",
};

struct node {
        unsigned id;
        char port[64];
        bool booted; /* Done received: its gadget is expected */
        bool up;
        /* its gadget appeared before the Done's completion was reaped (udev can be quicker) */
        bool gadget_early;
        uint16_t gadget_vid, gadget_pid;
        unsigned attempts;
        unsigned files;
        uint64_t bytes;
};

struct dev {
        bool used;
        struct node *node;
        char syspath[512];
        char devnode[64];
        int fd;
        libusb_device_handle *h;
        int iface;
        uint8_t ep_out;
        bool rom;
        enum step step;
        struct libusb_transfer *xfer;
        bool busy;     /* xfer submitted */
        bool removed;  /* udev said remove: close when idle */
        bool close_pending; /* close from the main loop: never from a transfer callback */
        /* the write in progress */
        char wname[260];
        uint64_t wsize, wsent;
        size_t wchunk;
        unsigned retries;
};

static struct {
        unsigned expect;
        int timeout_ms;
        const char *port;
        size_t chunk;
        unsigned ctrl_timeout, read_timeout, bulk_timeout;
        unsigned scale;
        unsigned retries;
        bool verbose;
        bool epoll; /* watch fds with epoll, added by libusb's pollfd notifiers (as a sd-event loop does) */
        const char *hub_power; /* "PORT:on|off": one hub port-power request, then exit */
} opt = { .expect = 1, .timeout_ms = 30000, .chunk = 16384, .ctrl_timeout = 1000, .read_timeout = 20000,
          .bulk_timeout = 5000, .scale = 1, .retries = 3 };

static libusb_context *ctx;
static struct udev *udev;
static struct node nodes[MAX_NODES];
static unsigned n_nodes;
static struct dev devs[MAX_DEVS];
static unsigned n_up;
static int exit_code = -1;
static int epfd = -1;

static void logf_(struct node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct node *n, const char *fmt, ...) {
        struct timespec ts;
        char msg[1024];
        va_list ap;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (n)
                fprintf(stderr, "[%5lld.%06ld] node%u[%s]: %s\n", (long long) ts.tv_sec, ts.tv_nsec / 1000, n->id,
                        n->port, msg);
        else
                fprintf(stderr, "[%5lld.%06ld] %s\n", (long long) ts.tv_sec, ts.tv_nsec / 1000, msg);
}

static struct node *node_for(const char *port) {
        for (unsigned i = 0; i < n_nodes; i++)
                if (strcmp(nodes[i].port, port) == 0)
                        return &nodes[i];
        if (n_nodes >= MAX_NODES)
                return NULL;
        struct node *n = &nodes[n_nodes++];
        n->id = n_nodes;
        snprintf(n->port, sizeof n->port, "%s", port);
        return n;
}

static const char *status_name(enum libusb_transfer_status s) {
        switch (s) {
        case LIBUSB_TRANSFER_COMPLETED:
                return "completed";
        case LIBUSB_TRANSFER_ERROR:
                return "error";
        case LIBUSB_TRANSFER_TIMED_OUT:
                return "timed out";
        case LIBUSB_TRANSFER_CANCELLED:
                return "cancelled";
        case LIBUSB_TRANSFER_STALL:
                return "stall";
        case LIBUSB_TRANSFER_NO_DEVICE:
                return "no device";
        case LIBUSB_TRANSFER_OVERFLOW:
                return "overflow";
        }
        return "?";
}

/* ---- devices ---- */

static void dev_close(struct dev *d) {
        if (d->busy)
                return; /* after the callback */
        if (d->h) {
                libusb_release_interface(d->h, d->iface);
                libusb_close(d->h);
        }
        if (d->fd >= 0)
                close(d->fd);
        if (d->xfer)
                libusb_free_transfer(d->xfer);
        if (opt.verbose && d->node)
                logf_(d->node, "closed %s", d->devnode);
        memset(d, 0, sizeof *d);
        d->fd = -1;
}

static void transfer_cb(struct libusb_transfer *t);

static bool submit(struct dev *d) {
        if (d->removed) {
                free(d->xfer->buffer);
                d->xfer->buffer = NULL;
                return false;
        }
        int r = libusb_submit_transfer(d->xfer);
        if (r < 0) {
                if (r == LIBUSB_ERROR_NO_DEVICE)
                        logf_(d->node, "%s %s: no device (at submit)", step_names[d->step], d->wname);
                else
                        logf_(d->node, "error: submitting %s: %s", step_names[d->step], libusb_error_name(r));
                free(d->xfer->buffer);
                d->xfer->buffer = NULL;
                return false;
        }
        d->busy = true;
        return true;
}

/* write(): the control OUT announcing len (data follows on bulk if len > 0). */
static bool ctrl_out(struct dev *d, enum step step, uint32_t len) {
        uint8_t *buf = calloc(1, LIBUSB_CONTROL_SETUP_SIZE);
        libusb_fill_control_setup(buf, 0x40, 0, (uint16_t) (len & 0xffff), (uint16_t) (len >> 16), 0);
        libusb_fill_control_transfer(d->xfer, d->h, buf, transfer_cb, d, opt.ctrl_timeout);
        d->step = step;
        return submit(d);
}

static bool ctrl_in(struct dev *d, enum step step, uint16_t len, unsigned timeout) {
        /* zeroed: under umockdev an answer equal to the old contents is not written back */
        uint8_t *buf = calloc(1, LIBUSB_CONTROL_SETUP_SIZE + len);
        libusb_fill_control_setup(buf, 0xc0, 0, len, 0, len);
        libusb_fill_control_transfer(d->xfer, d->h, buf, transfer_cb, d, timeout);
        d->step = step;
        return submit(d);
}

static bool bulk_next(struct dev *d, enum step step) {
        size_t n = d->wsize - d->wsent < d->wchunk ? (size_t) (d->wsize - d->wsent) : d->wchunk;
        uint8_t *buf = calloc(1, n ? n : 1);

        if (strcmp(d->wname, "<boot message>") == 0) {
                memset(buf, 0, n);
                uint32_t l = (uint32_t) synth_size(SYNTH_LOADER_NAME, opt.scale);
                for (int i = 0; i < 4; i++)
                        buf[i] = (uint8_t) (l >> (8 * i));
        } else {
                synth_fill(d->wname, d->wsent, buf, n);
        }
        libusb_fill_bulk_transfer(d->xfer, d->h, d->ep_out, buf, (int) n, transfer_cb, d, opt.bulk_timeout);
        d->step = step;
        return submit(d);
}

static void start_write(struct dev *d, enum step ctrl_step, const char *name, uint64_t size) {
        if (name != d->wname)
                snprintf(d->wname, sizeof d->wname, "%s", name);
        d->wsize = size;
        d->wsent = 0;
        d->wchunk = opt.chunk ? opt.chunk : (size_t) size;
        if (d->wchunk == 0)
                d->wchunk = 1;
        ctrl_out(d, ctrl_step, (uint32_t) size);
}

static void reset_board(struct dev *d, const char *why) {
        int r;
        logf_(d->node, "state retrying (%s): resetting the device", why);
        r = libusb_reset_device(d->h);
        if (r == LIBUSB_ERROR_NOT_FOUND || r == LIBUSB_ERROR_NO_DEVICE) {
                logf_(d->node, "reset: the device re-enumerates");
                d->step = ST_WAIT_DROP;
                return;
        }
        if (r < 0) {
                logf_(d->node, "error: reset failed: %s", libusb_error_name(r));
                d->step = ST_WAIT_DROP;
                return;
        }
        /* kept its state on the bus: start the stage again */
        if (d->rom)
                start_write(d, ST_HDR_CTRL, "<boot message>", 24);
        else
                ctrl_in(d, ST_REQUEST, 260, opt.read_timeout);
}

static void handle_request(struct dev *d, const uint8_t *buf, int len) {
        int32_t cmd;
        char name[257];

        if (len < 4) {
                logf_(d->node, "error: short request (%d bytes)", len);
                reset_board(d, "short request");
                return;
        }
        cmd = (int32_t) ((uint32_t) buf[0] | (uint32_t) buf[1] << 8 | (uint32_t) buf[2] << 16 | (uint32_t) buf[3] << 24);
        size_t nl = len > 4 ? (size_t) len - 4 : 0;
        if (nl > 256)
                nl = 256;
        memcpy(name, buf + 4, nl);
        name[nl] = '\0';
        bool has_nul = memchr(buf + 4, '\0', nl) != NULL;

        switch (cmd) {
        case 0: { /* GetFileSize */
                uint64_t size = has_nul ? synth_size(name, opt.scale) : 0;
                if (!has_nul)
                        logf_(d->node, "warning: file name without NUL: not found");
                else if (opt.verbose || size == 0)
                        logf_(d->node, "GetFileSize %s -> %" PRIu64 "%s", name, size, size ? "" : " (not found)");
                snprintf(d->wname, sizeof d->wname, "%s", has_nul ? name : "");
                ctrl_out(d, ST_SIZE_CTRL, (uint32_t) size);
                return;
        }
        case 1: { /* ReadFile */
                uint64_t size = has_nul ? synth_size(name, opt.scale) : 0;
                if (opt.verbose)
                        logf_(d->node, "ReadFile %s (%" PRIu64 " bytes)", name, size);
                d->retries = 0;
                start_write(d, ST_FILE_CTRL, name, size);
                return;
        }
        case 2: /* Done */
                logf_(d->node, "state booted: %u files, %" PRIu64 " bytes", d->node->files, d->node->bytes);
                d->node->booted = true;
                d->step = ST_DONE;
                /* an empty name is answered with a zero-length write, as the reference host does */
                if (name[0] == '\0')
                        ctrl_out(d, ST_DONE_CTRL, 0);
                if (d->node->gadget_early && !d->node->up) {
                        d->node->up = true;
                        n_up++;
                        logf_(d->node, "state up: gadget %04x:%04x", d->node->gadget_vid, d->node->gadget_pid);
                }
                return;
        default:
                logf_(d->node, "warning: protocol error: unknown command %d: answering with an empty write", cmd);
                ctrl_out(d, ST_ZERO_CTRL, 0);
                return;
        }
}

static void transfer_cb(struct libusb_transfer *t) {
        struct dev *d = t->user_data;
        uint8_t *buf = t->buffer;
        enum step step = d->step;

        d->busy = false;
        t->buffer = NULL;
        if (d->removed) {
                /* Close later: libusb_close() here would deadlock, libusb's Linux backend
                 * holds open_devs_lock while it reaps URBs and runs these callbacks. */
                d->close_pending = true;
                /* The udev "remove" may be seen before the last completion is reaped:
                 * an answer that did arrive (Done, the ROM status) still counts. */
                if (t->status == LIBUSB_TRANSFER_COMPLETED && (step == ST_REQUEST || step == ST_STATUS)) {
                        if (step == ST_REQUEST)
                                handle_request(d, buf + LIBUSB_CONTROL_SETUP_SIZE, t->actual_length);
                        else
                                logf_(d->node, "state loading: loader sent (device already gone)");
                }
                free(buf);
                return;
        }
        if (t->status != LIBUSB_TRANSFER_COMPLETED) {
                logf_(d->node, "%s %s: %s (%d of %d bytes)", step_names[step], d->wname[0] ? d->wname : "",
                      status_name(t->status), t->actual_length, t->length);
                free(buf);
                if (t->status == LIBUSB_TRANSFER_NO_DEVICE) {
                        d->step = ST_WAIT_DROP; /* udev will tell */
                        return;
                }
                if ((step == ST_FILE_BULK || step == ST_FILE_CTRL) && d->retries < opt.retries) {
                        d->retries++;
                        if (t->status == LIBUSB_TRANSFER_STALL)
                                libusb_clear_halt(d->h, d->ep_out);
                        logf_(d->node, "resending %s (try %u)", d->wname, d->retries + 1);
                        start_write(d, ST_FILE_CTRL, d->wname, d->wsize);
                        return;
                }
                reset_board(d, status_name(t->status));
                return;
        }

        switch (step) {
        case ST_HDR_CTRL:
                d->wsent = 0;
                bulk_next(d, ST_HDR_BULK);
                break;
        case ST_HDR_BULK:
                start_write(d, ST_LDR_CTRL, SYNTH_LOADER_NAME, synth_size(SYNTH_LOADER_NAME, opt.scale));
                break;
        case ST_LDR_CTRL:
        case ST_LDR_BULK:
                if (step == ST_LDR_BULK)
                        d->wsent += (uint64_t) t->actual_length;
                if (d->wsent < d->wsize)
                        bulk_next(d, ST_LDR_BULK);
                else
                        ctrl_in(d, ST_STATUS, 4, opt.read_timeout);
                break;
        case ST_STATUS: {
                uint32_t st = t->actual_length >= 4 ? (uint32_t) (buf[8] | buf[9] << 8 | buf[10] << 16 | (uint32_t) buf[11] << 24)
                                                    : 0xffffffffu;
                if (st != 0) {
                        logf_(d->node, "error: ROM status 0x%x", st);
                        free(buf);
                        reset_board(d, "ROM failure");
                        return;
                }
                logf_(d->node, "state loading: loader sent, waiting for the second stage");
                d->step = ST_WAIT_DROP;
                break;
        }
        case ST_REQUEST:
                handle_request(d, buf + LIBUSB_CONTROL_SETUP_SIZE, t->actual_length);
                break;
        case ST_DONE_CTRL:
                d->step = ST_DONE;
                break;
        case ST_SIZE_CTRL:
        case ST_ZERO_CTRL:
                ctrl_in(d, ST_REQUEST, 260, opt.read_timeout);
                break;
        case ST_FILE_CTRL:
        case ST_FILE_BULK:
                if (step == ST_FILE_BULK) {
                        d->wsent += (uint64_t) t->actual_length;
                        d->node->bytes += (uint64_t) t->actual_length;
                }
                if (d->wsent < d->wsize) {
                        bulk_next(d, ST_FILE_BULK);
                } else {
                        d->node->files++;
                        ctrl_in(d, ST_REQUEST, 260, opt.read_timeout);
                }
                break;
        default:
                break;
        }
        free(buf);
}

/* One enumeration of a port: every stage of a board has the same syspath (the
 * port's), so the device node tells them apart. */
static struct dev *find_dev(const char *syspath, const char *devnode) {
        for (unsigned i = 0; i < MAX_DEVS; i++)
                if (devs[i].used && !devs[i].removed && strcmp(devs[i].syspath, syspath) == 0 &&
                    strcmp(devs[i].devnode, devnode ? devnode : "") == 0)
                        return &devs[i];
        return NULL;
}

static unsigned hexattr(struct udev_device *u, const char *name) {
        const char *v = udev_device_get_sysattr_value(u, name);
        return v ? (unsigned) strtoul(v, NULL, 16) : 0;
}

static void device_added(struct udev_device *u) {
        const char *syspath = udev_device_get_syspath(u), *port = udev_device_get_sysname(u);
        const char *devnode = udev_device_get_devnode(u);
        unsigned vid = hexattr(u, "idVendor"), pid = hexattr(u, "idProduct");
        struct libusb_device_descriptor dd;
        struct libusb_config_descriptor *cfg = NULL;
        struct dev *d = NULL;
        int r;

        if (!devnode || (opt.port && strcmp(port, opt.port) != 0))
                return;
        if (find_dev(syspath, devnode))
                return; /* enumerated and announced: seen already */
        bool boot = vid == BCM_VID && (pid == 0x2763 || pid == 0x2764 || pid == 0x2711 || pid == 0x2712);
        if (!boot) {
                /* a gadget on a port whose board said Done: it is up */
                for (unsigned i = 0; i < n_nodes; i++) {
                        if (strcmp(nodes[i].port, port) != 0 || nodes[i].up)
                                continue;
                        if (!nodes[i].booted) {
                                nodes[i].gadget_early = true;
                                nodes[i].gadget_vid = vid;
                                nodes[i].gadget_pid = pid;
                                continue;
                        }
                        nodes[i].up = true;
                        n_up++;
                        logf_(&nodes[i], "state up: gadget %04x:%04x", vid, pid);
                }
                return;
        }

        struct node *n = node_for(port);
        if (!n)
                return;
        for (unsigned i = 0; i < MAX_DEVS; i++)
                if (!devs[i].used) {
                        d = &devs[i];
                        break;
                }
        if (!d)
                return;
        memset(d, 0, sizeof *d);
        d->used = true;
        d->node = n;
        d->fd = -1;
        snprintf(d->syspath, sizeof d->syspath, "%s", syspath);
        snprintf(d->devnode, sizeof d->devnode, "%s", devnode);

        d->fd = open(devnode, O_RDWR | O_CLOEXEC);
        if (d->fd < 0) {
                logf_(n, "error: open %s: %s", devnode, strerror(errno));
                goto fail;
        }
        r = libusb_wrap_sys_device(ctx, (intptr_t) d->fd, &d->h);
        if (r < 0) {
                logf_(n, "error: libusb_wrap_sys_device %s: %s", devnode, libusb_error_name(r));
                goto fail;
        }
        libusb_get_device_descriptor(libusb_get_device(d->h), &dd);
        r = libusb_get_active_config_descriptor(libusb_get_device(d->h), &cfg);
        if (r < 0) {
                logf_(n, "error: no active configuration: %s", libusb_error_name(r));
                goto fail;
        }
        d->iface = cfg->bNumInterfaces == 1 ? 0 : 1;
        d->ep_out = 0;
        for (int i = 0; i < cfg->bNumInterfaces; i++) {
                const struct libusb_interface_descriptor *id = &cfg->interface[i].altsetting[0];
                if (id->bInterfaceNumber != d->iface)
                        continue;
                for (int e = 0; e < id->bNumEndpoints; e++)
                        if ((id->endpoint[e].bEndpointAddress & 0x80) == 0 &&
                            (id->endpoint[e].bmAttributes & 3) == LIBUSB_TRANSFER_TYPE_BULK) {
                                d->ep_out = id->endpoint[e].bEndpointAddress;
                                break;
                        }
        }
        libusb_free_config_descriptor(cfg);
        if (!d->ep_out) {
                logf_(n, "error: interface %d has no bulk OUT endpoint", d->iface);
                goto fail;
        }
        r = libusb_claim_interface(d->h, d->iface);
        if (r < 0) {
                logf_(n, "error: claim interface %d: %s", d->iface, libusb_error_name(r));
                goto fail;
        }
        d->xfer = libusb_alloc_transfer(0);
        d->rom = dd.iSerialNumber == 0 || dd.iSerialNumber == 3;
        if (d->rom) {
                n->attempts++;
                n->booted = false;
                n->gadget_early = false;
                logf_(n, "state rom: %04x:%04x %s %s speed, interface %d, endpoint 0x%02x, attempt %u", vid, pid, devnode,
                      libusb_get_device_speed(libusb_get_device(d->h)) == LIBUSB_SPEED_HIGH ? "high" : "full", d->iface,
                      d->ep_out, n->attempts);
                start_write(d, ST_HDR_CTRL, "<boot message>", 24);
        } else {
                logf_(n, "state serving: %04x:%04x %s", vid, pid, devnode);
                n->files = 0;
                n->bytes = 0;
                ctrl_in(d, ST_REQUEST, 260, opt.read_timeout);
        }
        return;
fail:
        dev_close(d);
        d->used = true; /* remember it, so a later "bind" does not retry */
        snprintf(d->syspath, sizeof d->syspath, "%s", syspath);
        snprintf(d->devnode, sizeof d->devnode, "%s", devnode);
}

static void device_removed(struct udev_device *u) {
        struct dev *d = find_dev(udev_device_get_syspath(u), udev_device_get_devnode(u));
        if (!d)
                return;
        if (d->node)
                logf_(d->node, "removed %s", d->devnode);
        d->removed = true;
        if (d->busy)
                libusb_cancel_transfer(d->xfer); /* closes in the callback */
        else
                dev_close(d);
}

/* --epoll: libusb tells which fds to watch, the way the daemon hooks libusb into sd-event */
static void pollfd_added(int fd, short events, void *user_data) {
        struct epoll_event ev = { .events = ((events & POLLIN) ? EPOLLIN : 0u) | ((events & POLLOUT) ? EPOLLOUT : 0u),
                                  .data.fd = fd };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                logf_(NULL, "error: epoll_ctl(EPOLL_CTL_ADD, fd %d): %s", fd, strerror(errno));
}

static void pollfd_removed(int fd, void *user_data) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* --hub-power 1-1.3:off: CLEAR/SET_FEATURE(PORT_POWER) on the board's parent hub (the
 * root hub usbN for "N-P"), as a uhubctl-style power backend does. */
static int hub_power(const char *arg) {
        char port[64], parent[64];
        const char *colon = strrchr(arg, ':');
        if (!colon || (size_t) (colon - arg) >= sizeof port)
                return 1;
        snprintf(port, sizeof port, "%.*s", (int) (colon - arg), arg);
        bool on = strcmp(colon + 1, "on") == 0;
        char *cut = strrchr(port, '.');
        unsigned n;
        if (cut) {
                snprintf(parent, sizeof parent, "%.*s", (int) (cut - port), port);
                n = (unsigned) atoi(cut + 1);
        } else {
                snprintf(parent, sizeof parent, "usb%d", atoi(port));
                n = (unsigned) atoi(strchr(port, '-') + 1);
        }
        struct udev_device *u = udev_device_new_from_subsystem_sysname(udev, "usb", parent);
        const char *node = u ? udev_device_get_devnode(u) : NULL;
        if (!node) {
                logf_(NULL, "error: no hub %s", parent);
                return 1;
        }
        int fd = open(node, O_RDWR | O_CLOEXEC);
        libusb_device_handle *h = NULL;
        int r = fd < 0 ? LIBUSB_ERROR_IO : libusb_wrap_sys_device(ctx, (intptr_t) fd, &h);
        if (r == 0)
                r = libusb_control_transfer(h, 0x23, on ? 3 : 1, 8 /* PORT_POWER */, (uint16_t) n, NULL, 0, 1000);
        uint8_t st[4] = { 0 };
        if (r == 0)
                r = libusb_control_transfer(h, 0xa3, 0 /* GET_STATUS */, 0, (uint16_t) n, st, 4, 1000);
        logf_(NULL, "hub %s (%s) port %u power %s: %s, port status 0x%04x", parent, node, n, on ? "on" : "off",
              r < 0 ? libusb_error_name(r) : "ok", st[0] | st[1] << 8);
        if (h)
                libusb_close(h);
        if (fd >= 0)
                close(fd);
        udev_device_unref(u);
        return r < 0 ? 1 : 0;
}

static void usage(void) {
        fprintf(stderr, "usage: probe-host [--expect N] [--timeout-ms MS] [--port PATH] [--chunk BYTES (0 = whole file)]\n"
                        "                  [--ctrl-timeout-ms MS] [--read-timeout-ms MS] [--bulk-timeout-ms MS]\n"
                        "                  [--scale N] [--retries N] [--epoll] [--verbose]\n"
                        "       probe-host --hub-power PORT:on|off\n");
        exit(1);
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                { "expect", required_argument, NULL, 'n' },          { "timeout-ms", required_argument, NULL, 't' },
                { "port", required_argument, NULL, 'p' },            { "chunk", required_argument, NULL, 'c' },
                { "ctrl-timeout-ms", required_argument, NULL, 'C' }, { "read-timeout-ms", required_argument, NULL, 'R' },
                { "bulk-timeout-ms", required_argument, NULL, 'B' }, { "scale", required_argument, NULL, 's' },
                { "retries", required_argument, NULL, 'r' },         { "verbose", no_argument, NULL, 'v' },
                { "epoll", no_argument, NULL, 'e' },                 { "hub-power", required_argument, NULL, 'H' },
                { NULL, 0, NULL, 0 },
        };
        int c;
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case 'n': opt.expect = (unsigned) atoi(optarg); break;
                case 't': opt.timeout_ms = atoi(optarg); break;
                case 'p': opt.port = optarg; break;
                case 'c': opt.chunk = (size_t) strtoul(optarg, NULL, 0); break;
                case 'C': opt.ctrl_timeout = (unsigned) atoi(optarg); break;
                case 'R': opt.read_timeout = (unsigned) atoi(optarg); break;
                case 'B': opt.bulk_timeout = (unsigned) atoi(optarg); break;
                case 's': opt.scale = (unsigned) atoi(optarg); break;
                case 'r': opt.retries = (unsigned) atoi(optarg); break;
                case 'v': opt.verbose = true; break;
                case 'e': opt.epoll = true; break;
                case 'H': opt.hub_power = optarg; break;
                default: usage();
                }
        }
        for (unsigned i = 0; i < MAX_DEVS; i++)
                devs[i].fd = -1;

        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);

        int r = libusb_set_option(NULL, LIBUSB_OPTION_NO_DEVICE_DISCOVERY);
        if (r < 0) {
                logf_(NULL, "error: LIBUSB_OPTION_NO_DEVICE_DISCOVERY: %s", libusb_error_name(r));
                return 1;
        }
        r = libusb_init(&ctx);
        if (r < 0) {
                logf_(NULL, "error: libusb_init: %s", libusb_error_name(r));
                return 1;
        }
        udev = udev_new();
        if (opt.hub_power) {
                int rc = hub_power(opt.hub_power);
                udev_unref(udev);
                libusb_exit(ctx);
                return rc;
        }
        struct udev_monitor *mon = udev_monitor_new_from_netlink(udev, "udev");
        if (!mon) {
                logf_(NULL, "error: udev monitor: %s", strerror(errno));
                return 1;
        }
        udev_monitor_filter_add_match_subsystem_devtype(mon, "usb", "usb_device");
        udev_monitor_enable_receiving(mon);
        if (opt.epoll) {
                epfd = epoll_create1(EPOLL_CLOEXEC);
                struct epoll_event ev = { .events = EPOLLIN, .data.fd = udev_monitor_get_fd(mon) };
                epoll_ctl(epfd, EPOLL_CTL_ADD, ev.data.fd, &ev);
                const struct libusb_pollfd **lp = libusb_get_pollfds(ctx);
                for (size_t i = 0; lp && lp[i]; i++)
                        pollfd_added(lp[i]->fd, lp[i]->events, NULL);
                libusb_free_pollfds(lp);
                libusb_set_pollfd_notifiers(ctx, pollfd_added, pollfd_removed, NULL);
        }

        struct udev_enumerate *en = udev_enumerate_new(udev);
        udev_enumerate_add_match_subsystem(en, "usb");
        udev_enumerate_add_match_property(en, "DEVTYPE", "usb_device");
        udev_enumerate_scan_devices(en);
        struct udev_list_entry *e;
        unsigned seen = 0;
        udev_list_entry_foreach(e, udev_enumerate_get_list_entry(en)) {
                struct udev_device *u = udev_device_new_from_syspath(udev, udev_list_entry_get_name(e));
                if (u) {
                        seen++;
                        device_added(u);
                        udev_device_unref(u);
                }
        }
        udev_enumerate_unref(en);
        logf_(NULL, "probe-host: %u USB devices at start, expecting %u boards", seen, opt.expect);

        int64_t deadline = (int64_t) t0.tv_sec * 1000 + t0.tv_nsec / 1000000 + opt.timeout_ms;
        while (exit_code < 0) {
                if (n_up >= opt.expect) {
                        exit_code = 0;
                        break;
                }
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                int64_t now_ms = (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
                if (now_ms >= deadline) {
                        logf_(NULL, "error: probe-host: timed out with %u of %u boards up", n_up, opt.expect);
                        exit_code = 2;
                        break;
                }

                int timeout = (int) (deadline - now_ms);
                struct timeval tv;
                if (libusb_get_next_timeout(ctx, &tv) == 1) {
                        int t = (int) (tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
                        if (t < timeout)
                                timeout = t;
                }
                bool monitor_ready = false;
                if (opt.epoll) {
                        struct epoll_event evs[64];
                        int n = epoll_wait(epfd, evs, 64, timeout);
                        if (n < 0 && errno != EINTR) {
                                logf_(NULL, "error: epoll_wait: %s", strerror(errno));
                                exit_code = 1;
                                break;
                        }
                        for (int i = 0; i < n; i++)
                                monitor_ready |= evs[i].data.fd == udev_monitor_get_fd(mon);
                } else {
                        const struct libusb_pollfd **lp = libusb_get_pollfds(ctx);
                        struct pollfd pfd[64];
                        nfds_t n = 0;
                        pfd[n++] = (struct pollfd){ .fd = udev_monitor_get_fd(mon), .events = POLLIN };
                        for (size_t i = 0; lp && lp[i] && n < 64; i++)
                                pfd[n++] = (struct pollfd){ .fd = lp[i]->fd, .events = lp[i]->events };
                        libusb_free_pollfds(lp);
                        if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
                                logf_(NULL, "error: poll: %s", strerror(errno));
                                exit_code = 1;
                                break;
                        }
                        monitor_ready = pfd[0].revents & POLLIN;
                }
                if (monitor_ready) {
                        struct udev_device *u;
                        while ((u = udev_monitor_receive_device(mon))) {
                                const char *action = udev_device_get_action(u);
                                if (opt.verbose)
                                        logf_(NULL, "uevent %s %s %s", action, udev_device_get_sysname(u),
                                              udev_device_get_property_value(u, "SEQNUM"));
                                if (action && strcmp(action, "add") == 0)
                                        device_added(u);
                                else if (action && strcmp(action, "remove") == 0)
                                        device_removed(u);
                                udev_device_unref(u);
                        }
                }
                struct timeval zero = { 0, 0 };
                struct timespec h0, h1;
                clock_gettime(CLOCK_MONOTONIC, &h0);
                libusb_handle_events_timeout_completed(ctx, &zero, NULL);
                clock_gettime(CLOCK_MONOTONIC, &h1);
                double hms = (double) (h1.tv_sec - h0.tv_sec) * 1000.0 + (double) (h1.tv_nsec - h0.tv_nsec) / 1e6;
                if (opt.verbose && hms > 20.0)
                        logf_(NULL, "slow libusb_handle_events: %.1f ms", hms);
                for (unsigned i = 0; i < MAX_DEVS; i++)
                        if (devs[i].used && devs[i].close_pending && !devs[i].busy)
                                dev_close(&devs[i]);
        }

        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        logf_(NULL, "probe-host: %u of %u boards up in %.1f ms", n_up, opt.expect,
              (double) (t1.tv_sec - t0.tv_sec) * 1000.0 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6);

        for (unsigned i = 0; i < MAX_DEVS; i++)
                if (devs[i].used) {
                        devs[i].removed = true;
                        if (devs[i].busy)
                                libusb_cancel_transfer(devs[i].xfer);
                        else
                                dev_close(&devs[i]);
                }
        for (int i = 0; i < 100; i++) {
                bool busy = false;
                for (unsigned k = 0; k < MAX_DEVS; k++)
                        busy |= devs[k].busy;
                if (!busy)
                        break;
                struct timeval tv = { 0, 10000 };
                libusb_handle_events_timeout_completed(ctx, &tv, NULL);
        }
        for (unsigned i = 0; i < MAX_DEVS; i++)
                if (devs[i].used && !devs[i].busy)
                        dev_close(&devs[i]);
        udev_monitor_unref(mon);
        udev_unref(udev);
        if (opt.epoll)
                libusb_set_pollfd_notifiers(ctx, NULL, NULL, NULL);
        libusb_exit(ctx);
        if (epfd >= 0)
                close(epfd);
        return exit_code;
}
