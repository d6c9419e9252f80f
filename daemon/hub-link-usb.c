/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "hub-link-usb.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "log.h"
#include "portpath.h"
#include "usb-sysfs.h"
#include "usb.h"
#include "worker.h"

enum op_kind {
        OP_OPEN,
        OP_CONTROL,
        OP_SYSFS,
};

/*
 * One operation in flight. Once the link gives it up (close, or cancel of
 * a worker operation) `link` is NULL and its completion is only cleaned up:
 * libusb and the worker finish on their own time.
 */
struct link_op {
        struct hub_link *link;
        enum op_kind kind;
        cb_transfer_done_t done;
        void *userdata;
        int fd;          /* OP_SYSFS: the disable file, opened and closed on the loop */
        char value[2];   /* OP_SYSFS: "1\n" or "0\n" */
        uint8_t *in_buf; /* OP_CONTROL IN: the caller's buffer, filled only if the op was not given up */
        uint16_t length; /* OP_OPEN: of the device descriptor */
        uint8_t data[];  /* OP_CONTROL: bounce buffer, so a late completion never writes to the caller */
};

struct hub_link {
        struct cb_usb *usb;
        struct cb_worker *sysfs; /* runs the disable file's blocking write */
        char hub[32];
        struct cb_usb_device *device;
        struct link_op *op;
        /* a worker operation given up by cancel(): its -ECANCELED, from the loop */
        sd_event_source *cancelled_source;
        cb_transfer_done_t cancelled_done;
        void *cancelled_userdata;
};

static struct link_op *op_new(struct hub_link *l, enum op_kind kind, size_t data_size, cb_transfer_done_t done,
                              void *userdata) {
        struct link_op *op = calloc(1, sizeof *op + data_size);

        if (!op)
                return NULL;
        op->link = l;
        op->kind = kind;
        op->done = done;
        op->userdata = userdata;
        op->fd = -1;
        return op;
}

/* The op's completion: to the caller, unless the link gave it up. Frees the op. */
static void op_complete(struct link_op *op, int status, size_t actual) {
        struct hub_link *l = op->link;
        cb_transfer_done_t done = op->done;
        void *userdata = op->userdata;

        free(op);
        if (!l)
                return;
        l->op = NULL;
        done(userdata, status, actual);
}

static void op_abandon(struct hub_link *l) {
        if (!l->op)
                return;
        l->op->link = NULL;
        if (l->op->kind == OP_CONTROL && l->device)
                cb_usb_device_cancel(l->device);
        l->op = NULL;
}

/* Reads up to `size` bytes of the attribute of the USB device `hub` in sysfs; returns how many. */
static ssize_t read_sysfs(const char *hub, const char *attribute, void *buf, size_t size) {
        _cleanup_close_ int fd = -1;
        char path[128];
        ssize_t n;

        snprintf(path, sizeof path, CB_SYSFS_USB_DEVICES "/%s/%s", hub, attribute);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, size);
        return n < 0 ? -errno : n;
}

static int read_sysfs_unsigned(const char *hub, const char *attribute, unsigned *ret) {
        char buf[32];
        ssize_t n = read_sysfs(hub, attribute, buf, sizeof buf - 1);
        char *end;

        if (n < 0)
                return (int) n;
        buf[n] = '\0';
        errno = 0;
        unsigned long v = strtoul(buf, &end, 10);
        if (errno != 0 || end == buf || (*end != '\0' && *end != '\n') || v > 255)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

/* /dev/bus/usb/BBB/DDD of the hub named `hub` in sysfs. */
static int hub_devnode(const char *hub, char *buf, size_t size) {
        unsigned busnum, devnum;
        int r;

        r = read_sysfs_unsigned(hub, "busnum", &busnum);
        if (r < 0)
                return r;
        r = read_sysfs_unsigned(hub, "devnum", &devnum);
        if (r < 0)
                return r;
        snprintf(buf, size, "/dev/bus/usb/%03u/%03u", busnum, devnum);
        return 0;
}

static void on_open_done(void *userdata, int result, struct cb_usb_device *device) {
        struct link_op *op = userdata;
        struct hub_link *l = op->link;

        if (!l || result < 0) {
                cb_usb_device_unref(device);
                op_complete(op, result < 0 ? result : -ECANCELED, 0);
                return;
        }
        l->device = device;
        op_complete(op, 0, op->length);
}

static int link_open(void *impl, const char *hub, uint8_t *device_descriptor, cb_transfer_done_t done,
                     void *userdata) {
        struct hub_link *l = impl;
        char devnode[64], syspath[160];
        struct link_op *op;
        int r;

        if (!hub || !device_descriptor || !done)
                return -EINVAL;
        if (l->device || l->op || l->cancelled_done)
                return -EBUSY;
        if (strlen(hub) >= sizeof l->hub)
                return -EINVAL;
        r = hub_devnode(hub, devnode, sizeof devnode);
        if (r < 0) {
                log_debug("hub %s: no device node found through " CB_SYSFS_USB_DEVICES "/%s: %s", hub, hub,
                          strerror(-r));
                return -ENODEV;
        }
        /* the kernel's copy: asking the hub would be one more request per switch */
        snprintf(syspath, sizeof syspath, CB_SYSFS_USB_DEVICES "/%s", hub);
        r = cb_usb_sysfs_device_descriptor(syspath, device_descriptor);
        if (r < 0) {
                log_debug("hub %s: no device descriptor in %s: %s", hub, syspath, strerror(-r));
                return -ENODEV;
        }

        op = op_new(l, OP_OPEN, 0, done, userdata);
        if (!op)
                return -ENOMEM;
        op->length = CB_USB_DEVICE_DESCRIPTOR_SIZE;
        r = cb_usb_open(l->usb, devnode, false, on_open_done, op);
        if (r < 0) {
                free(op);
                return r == -ENOENT ? -ENODEV : r;
        }
        snprintf(l->hub, sizeof l->hub, "%s", hub);
        l->op = op;
        return 0;
}

static void on_control_done(void *userdata, int status, size_t actual) {
        struct link_op *op = userdata;

        if (op->link && op->in_buf && status == 0)
                memcpy(op->in_buf, op->data, MIN(actual, (size_t) op->length));
        op_complete(op, status, actual);
}

static int link_control(void *impl, uint8_t request_type, uint8_t request, uint16_t value, uint16_t index,
                        uint8_t *buf, uint16_t length, usec_t timeout, cb_transfer_done_t done, void *userdata) {
        struct hub_link *l = impl;
        struct link_op *op;
        int r;

        if (!done || (length > 0 && !buf))
                return -EINVAL;
        if (!l->device)
                return -ENOTCONN;
        if (l->op || l->cancelled_done)
                return -EBUSY;
        op = op_new(l, OP_CONTROL, length, done, userdata);
        if (!op)
                return -ENOMEM;
        op->length = length;
        if (request_type & 0x80)
                op->in_buf = buf;
        else if (length > 0)
                memcpy(op->data, buf, length);
        r = cb_usb_device_control(l->device, request_type, request, value, index, length ? op->data : NULL, length,
                                  timeout, on_control_done, op);
        if (r < 0) {
                free(op);
                return r;
        }
        l->op = op;
        return 0;
}

/* Worker thread: the write returns once the kernel switched the port (and disconnected what was on it). */
static int sysfs_job_run(void *data) {
        struct link_op *op = data;
        ssize_t n;

        do
                n = write(op->fd, op->value, sizeof op->value);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return (size_t) n == sizeof op->value ? 0 : -EIO;
}

static void sysfs_job_done(void *data, int result) {
        struct link_op *op = data;

        if (op->fd >= 0)
                close(op->fd);
        op_complete(op, result, 0);
}

static int link_set_port_disabled(void *impl, unsigned port, bool disabled, cb_transfer_done_t done,
                                  void *userdata) {
        struct hub_link *l = impl;
        char path[160];
        struct link_op *op;
        int fd, r;

        if (!done)
                return -EINVAL;
        if (!l->device)
                return -ENOTCONN;
        if (l->op || l->cancelled_done)
                return -EBUSY;
        r = cb_port_disable_path(l->hub, port, path, sizeof path);
        if (r < 0)
                return r;
        /* opening a sysfs attribute does not wait; the write does */
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        op = op_new(l, OP_SYSFS, 0, done, userdata);
        if (!op) {
                close(fd);
                return -ENOMEM;
        }
        op->fd = fd;
        op->value[0] = disabled ? '1' : '0';
        op->value[1] = '\n';
        r = cb_worker_run(l->sysfs, sysfs_job_run, sysfs_job_done, op);
        if (r < 0) {
                close(fd);
                free(op);
                return r;
        }
        l->op = op;
        return 0;
}

static int link_port_peer(void *impl, unsigned port, char *hub, size_t size, unsigned *peer_port) {
        struct hub_link *l = impl;
        char path[192], target[PATH_MAX];
        const char *name;
        ssize_t n;
        int r;

        if (!hub || !peer_port)
                return -EINVAL;
        if (!l->device)
                return -ENOTCONN;
        /* the port's directory is where its disable file is: .../1-1:1.0/1-1-port3 */
        r = cb_port_disable_path(l->hub, port, path, sizeof path);
        if (r < 0)
                return r;
        *strrchr(path, '/') = '\0';
        if (strlen(path) + sizeof "/peer" > sizeof path)
                return -ENOBUFS;
        strcat(path, "/peer");
        n = readlink(path, target, sizeof target - 1);
        if (n < 0)
                return errno == ENOENT ? -ENOENT : -errno;
        target[n] = '\0';
        name = strrchr(target, '/');
        name = name ? name + 1 : target;
        r = cb_port_dir_parse(name, hub, size, peer_port);
        if (r < 0)
                log_debug("hub %s port %u: its peer link %s -> %s names no hub port", l->hub, port, path, target);
        return r;
}

static int on_cancelled(sd_event_source *s, void *userdata) {
        struct hub_link *l = userdata;
        cb_transfer_done_t done = l->cancelled_done;

        if (!done)
                return 0;
        l->cancelled_done = NULL;
        done(l->cancelled_userdata, -ECANCELED, 0);
        return 0;
}

static void link_cancel(void *impl) {
        struct hub_link *l = impl;
        struct link_op *op = l->op;

        if (!op)
                return;
        if (op->kind == OP_CONTROL) {
                cb_usb_device_cancel(l->device); /* libusb completes it, cancelled */
                return;
        }
        /* a worker job cannot be interrupted: give it up, and answer now */
        l->cancelled_done = op->done;
        l->cancelled_userdata = op->userdata;
        op_abandon(l);
        (void) sd_event_source_set_enabled(l->cancelled_source, SD_EVENT_ONESHOT);
}

static void link_close(void *impl) {
        struct hub_link *l = impl;

        l->cancelled_done = NULL;
        (void) sd_event_source_set_enabled(l->cancelled_source, SD_EVENT_OFF);
        op_abandon(l);
        l->device = cb_usb_device_unref(l->device);
        l->hub[0] = '\0';
}

static void link_free(void *impl) {
        struct hub_link *l = impl;

        if (!l)
                return;
        link_close(l);
        sd_event_source_disable_unref(l->cancelled_source);
        free(l);
}

static const struct cb_hub_link_ops hub_link_usb_ops = {
        .open = link_open,
        .control = link_control,
        .set_port_disabled = link_set_port_disabled,
        .port_peer = link_port_peer,
        .cancel = link_cancel,
        .close = link_close,
        .free = link_free,
};

/* A link for hubs reached through `usb`, its sysfs writes on `sysfs`; both must outlive it. */
static int hub_link_usb_new(sd_event *event, struct cb_usb *usb, struct cb_worker *sysfs, struct cb_hub_link *ret) {
        struct hub_link *l;
        int r;

        if (!event || !usb || !sysfs || !ret)
                return -EINVAL;
        l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->usb = usb;
        l->sysfs = sysfs;
        r = sd_event_add_defer(event, &l->cancelled_source, on_cancelled, l);
        if (r < 0) {
                link_free(l);
                return r;
        }
        (void) sd_event_source_set_enabled(l->cancelled_source, SD_EVENT_OFF);
        *ret = (struct cb_hub_link){ &hub_link_usb_ops, l };
        return 0;
}

int cb_power_usb_hub_new(sd_event *event, struct cb_usb *usb, struct cb_worker *sysfs,
                         const struct cb_power_hub_settings *s, struct cb_power **ret) {
        struct cb_hub_link link;
        int r;

        r = hub_link_usb_new(event, usb, sysfs, &link);
        if (r < 0)
                return r;
        return cb_power_hub_new(event, s, link, ret); /* takes the link, also on failure */
}
