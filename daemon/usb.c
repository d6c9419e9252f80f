/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "usb.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

#include <libusb.h>

#include "bootproto.h"
#include "event-priority.h"
#include "log.h"
#include "util.h"
#include "worker.h"

struct cb_usb {
        sd_event *event;
        libusb_context *ctx;
        /* libusb's fds as loop sources; rebuilt whenever libusb says its set changed */
        sd_event_source **fd_sources;
        size_t n_fd_sources;
        /* libusb may announce fd changes from a worker thread: it only pokes this eventfd */
        int resync_fd;
        sd_event_source *resync_source;
        sd_event_source *timeout_source; /* only where libusb cannot time out through its own fds */
        /*
         * libusb holds a lock while it runs transfer callbacks that
         * libusb_close() takes too: a device whose last reference drops in a
         * callback is closed after libusb_handle_events*() returned.
         */
        bool in_events;
        struct cb_usb_device *closing;
        pthread_t loop_thread;
        struct cb_worker *worker;
        unsigned n_ops; /* transfers in flight, on every device */
};

struct cb_usb_device {
        atomic_uint refs;
        struct cb_usb *usb;
        libusb_device_handle *handle;
        int fd;
        uint8_t interface; /* the claimed data interface (Pi boot devices only) */
        uint8_t endpoint;  /* its bulk OUT endpoint */
        bool claimed;
        bool gone;
        bool in_job;
        /* transfers in flight: at most a few; cancelling walks them */
        struct usb_op *ops;
        struct cb_usb_device *next_closing;
};

struct usb_op {
        struct cb_usb_device *device;
        struct libusb_transfer *transfer;
        cb_transfer_done_t done;
        void *userdata;
        uint8_t *in_buf;  /* control IN: where the caller wants the data */
        bool owns_buffer; /* control transfers: setup + data buffer allocated here */
        struct usb_op *next, *prev;
};

static int errno_from_libusb(int e) {
        switch (e) {
        case LIBUSB_SUCCESS:
                return 0;
        case LIBUSB_ERROR_IO:
                return -EIO;
        case LIBUSB_ERROR_INVALID_PARAM:
                return -EINVAL;
        case LIBUSB_ERROR_ACCESS:
                return -EACCES;
        case LIBUSB_ERROR_NO_DEVICE:
        case LIBUSB_ERROR_NOT_FOUND:
                return -ENODEV;
        case LIBUSB_ERROR_BUSY:
                return -EBUSY;
        case LIBUSB_ERROR_TIMEOUT:
                return -ETIMEDOUT;
        case LIBUSB_ERROR_OVERFLOW:
                return -EOVERFLOW;
        case LIBUSB_ERROR_PIPE:
                return -EPIPE;
        case LIBUSB_ERROR_INTERRUPTED:
                return -EINTR;
        case LIBUSB_ERROR_NO_MEM:
                return -ENOMEM;
        case LIBUSB_ERROR_NOT_SUPPORTED:
                return -EOPNOTSUPP;
        default:
                return -EIO;
        }
}

/* ---- libusb on the loop ---- */

static void handle_events(struct cb_usb *u);

static int on_libusb_fd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        handle_events(userdata);
        return 0;
}

static int on_libusb_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        handle_events(userdata);
        return 0;
}

static void arm_timeout(struct cb_usb *u) {
        struct timeval tv;

        if (libusb_pollfds_handle_timeouts(u->ctx))
                return; /* Linux: libusb's timerfd is one of the fds */
        if (libusb_get_next_timeout(u->ctx, &tv) != 1) {
                if (u->timeout_source)
                        (void) sd_event_source_set_enabled(u->timeout_source, SD_EVENT_OFF);
                return;
        }
        usec_t delay = (usec_t) tv.tv_sec * USEC_PER_SEC + (usec_t) tv.tv_usec;
        if (!u->timeout_source) {
                if (sd_event_add_time_relative(u->event, &u->timeout_source, CLOCK_MONOTONIC, delay, 1000,
                                               on_libusb_timeout, u) >= 0)
                        (void) sd_event_source_set_priority(u->timeout_source, CB_EVENT_PRIORITY_USB);
                return;
        }
        (void) sd_event_source_set_time_relative(u->timeout_source, delay);
        (void) sd_event_source_set_enabled(u->timeout_source, SD_EVENT_ONESHOT);
}

static void device_close(struct cb_usb_device *d);

/* Runs libusb's event handling; devices whose last reference dropped inside it are closed after. */
static void run_libusb_events(struct cb_usb *u, struct timeval *timeout) {
        u->in_events = true;
        int r = libusb_handle_events_timeout_completed(u->ctx, timeout, NULL);
        u->in_events = false;
        if (r < 0 && r != LIBUSB_ERROR_INTERRUPTED)
                log_warning("libusb event handling failed: %s", libusb_error_name(r));
        while (u->closing) {
                struct cb_usb_device *d = u->closing;
                u->closing = d->next_closing;
                device_close(d);
        }
}

static void handle_events(struct cb_usb *u) {
        struct timeval zero = { 0, 0 };

        /* zero timeout: libusb handles what is ready and returns at once */
        run_libusb_events(u, &zero);
        arm_timeout(u);
}

static void drop_fd_sources(struct cb_usb *u) {
        for (size_t i = 0; i < u->n_fd_sources; i++)
                sd_event_source_disable_unref(u->fd_sources[i]);
        u->fd_sources = xfree(u->fd_sources);
        u->n_fd_sources = 0;
}

static int sync_fd_sources(struct cb_usb *u) {
        const struct libusb_pollfd **fds = libusb_get_pollfds(u->ctx);
        size_t n = 0;
        int r = 0;

        if (!fds)
                return -ENOMEM;
        drop_fd_sources(u);
        while (fds[n])
                n++;
        u->fd_sources = calloc(n ? n : 1, sizeof *u->fd_sources);
        if (!u->fd_sources) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                uint32_t events = 0;
                if (fds[i]->events & POLLIN)
                        events |= EPOLLIN;
                if (fds[i]->events & POLLOUT)
                        events |= EPOLLOUT;
                r = sd_event_add_io(u->event, &u->fd_sources[u->n_fd_sources], fds[i]->fd, events, on_libusb_fd, u);
                if (r < 0) {
                        log_error_errno(r, "cannot watch libusb fd %d", fds[i]->fd);
                        goto out;
                }
                (void) sd_event_source_set_priority(u->fd_sources[u->n_fd_sources], CB_EVENT_PRIORITY_USB);
                u->n_fd_sources++;
        }
out:
        libusb_free_pollfds(fds);
        return r;
}

static void poke_resync(struct cb_usb *u) {
        uint64_t one = 1;
        if (write(u->resync_fd, &one, sizeof one) < 0 && errno != EAGAIN)
                log_warning_errno(errno, "cannot signal a libusb fd change");
}

static void on_pollfd_added(int fd, short events, void *userdata) {
        poke_resync(userdata);
}

/*
 * libusb stops watching an fd, usually in libusb_close() just before the
 * device's fd is closed. Its source must go now, while the number still
 * names that device: dropped later, its epoll_ctl(DEL) would hit whatever
 * file took the number meanwhile (a new client's socket, say) and silence
 * it. Only the loop's thread closes devices; from elsewhere, resync.
 */
static void on_pollfd_removed(int fd, void *userdata) {
        struct cb_usb *u = userdata;

        if (pthread_equal(pthread_self(), u->loop_thread))
                for (size_t i = 0; i < u->n_fd_sources; i++)
                        if (u->fd_sources[i] && sd_event_source_get_io_fd(u->fd_sources[i]) == fd)
                                u->fd_sources[i] = sd_event_source_disable_unref(u->fd_sources[i]);
        poke_resync(u);
}

static int on_resync(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct cb_usb *u = userdata;
        uint64_t value;

        (void) !read(fd, &value, sizeof value);
        (void) sync_fd_sources(u);
        return 0;
}

int cb_usb_new(sd_event *event, struct cb_usb **ret) {
        struct cb_usb *u = calloc(1, sizeof *u);
        int r;

        if (!u)
                return -ENOMEM;
        u->event = sd_event_ref(event);
        u->resync_fd = -1;
        u->loop_thread = pthread_self();

        /* presence comes from udev; libusb must not scan or hotplug on its own */
        r = libusb_set_option(NULL, LIBUSB_OPTION_NO_DEVICE_DISCOVERY);
        if (r < 0) {
                r = errno_from_libusb(r);
                log_error("libusb cannot run without device discovery: %s", strerror(-r));
                goto fail;
        }
        r = cb_worker_new(event, &u->worker);
        if (r < 0)
                goto fail;
        r = libusb_init(&u->ctx);
        if (r < 0) {
                r = errno_from_libusb(r);
                log_error("libusb_init failed: %s", strerror(-r));
                goto fail;
        }
        u->resync_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (u->resync_fd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(event, &u->resync_source, u->resync_fd, EPOLLIN, on_resync, u);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_priority(u->resync_source, CB_EVENT_PRIORITY_USB);
        libusb_set_pollfd_notifiers(u->ctx, on_pollfd_added, on_pollfd_removed, u);
        r = sync_fd_sources(u);
        if (r < 0)
                goto fail;
        *ret = u;
        return 0;
fail:
        cb_usb_free(u);
        return r;
}

void cb_usb_drain(struct cb_usb *u) {
        /* shutting down: the loop no longer runs, so wait here (briefly) for cancelled transfers */
        for (unsigned i = 0; u && u->n_ops > 0 && i < 200; i++) {
                struct timeval tv = { 0, 10000 };
                run_libusb_events(u, &tv);
        }
        if (u && u->n_ops > 0)
                log_warning("%u USB transfer(s) still in flight at exit", u->n_ops);
}

void cb_usb_stop_worker(struct cb_usb *u) {
        if (!u)
                return;
        u->worker = cb_worker_free(u->worker);
}

struct cb_usb *cb_usb_free(struct cb_usb *u) {
        if (!u)
                return NULL;
        cb_usb_stop_worker(u);
        drop_fd_sources(u);
        sd_event_source_disable_unref(u->timeout_source);
        sd_event_source_disable_unref(u->resync_source);
        if (u->ctx) {
                libusb_set_pollfd_notifiers(u->ctx, NULL, NULL, NULL);
                libusb_exit(u->ctx);
        }
        if (u->resync_fd >= 0)
                close(u->resync_fd);
        sd_event_unref(u->event);
        free(u);
        return NULL;
}

/* ---- devices ---- */

struct cb_usb_device *cb_usb_device_ref(struct cb_usb_device *d) {
        if (d)
                atomic_fetch_add(&d->refs, 1);
        return d;
}

static void device_close(struct cb_usb_device *d) {
        if (d->handle) {
                if (d->claimed)
                        (void) libusb_release_interface(d->handle, d->interface);
                libusb_close(d->handle);
        }
        if (d->fd >= 0)
                close(d->fd);
        free(d);
}

struct cb_usb_device *cb_usb_device_unref(struct cb_usb_device *d) {
        if (!d || atomic_fetch_sub(&d->refs, 1) != 1)
                return NULL;
        if (d->usb->in_events) {
                d->next_closing = d->usb->closing;
                d->usb->closing = d;
                return NULL;
        }
        device_close(d);
        return NULL;
}

/* Finds the interface and bulk OUT endpoint from the active configuration. */
static int pick_endpoint(struct cb_usb_device *d) {
        struct libusb_config_descriptor *config = NULL;
        struct cb_proto_interface interfaces[8];
        size_t n = 0;
        int r;

        r = libusb_get_active_config_descriptor(libusb_get_device(d->handle), &config);
        if (r < 0)
                return errno_from_libusb(r);
        for (uint8_t i = 0; i < config->bNumInterfaces && n < ELEMENTSOF(interfaces); i++) {
                const struct libusb_interface *intf = &config->interface[i];
                if (intf->num_altsetting < 1)
                        continue;
                const struct libusb_interface_descriptor *alt = &intf->altsetting[0];
                interfaces[n] = (struct cb_proto_interface){ .number = alt->bInterfaceNumber,
                                                             .class_code = alt->bInterfaceClass };
                for (uint8_t e = 0; e < alt->bNumEndpoints; e++) {
                        const struct libusb_endpoint_descriptor *ep = &alt->endpoint[e];
                        if ((ep->bmAttributes & LIBUSB_TRANSFER_TYPE_MASK) == LIBUSB_TRANSFER_TYPE_BULK &&
                            (ep->bEndpointAddress & LIBUSB_ENDPOINT_DIR_MASK) == LIBUSB_ENDPOINT_OUT) {
                                interfaces[n].bulk_out_endpoint = ep->bEndpointAddress;
                                break;
                        }
                }
                n++;
        }
        libusb_free_config_descriptor(config);
        return cb_proto_pick_interface(interfaces, n, &d->interface, &d->endpoint);
}

struct open_job {
        struct cb_usb *usb;
        char *devnode;
        int fd; /* opened on the loop's thread: opening usbfs does not wait for the device */
        bool boot; /* a Pi boot device: its data interface is claimed */
        struct cb_usb_device *device;
        cb_usb_open_done_t done;
        void *userdata;
        char error[160];
};

/* Runs in a worker thread: everything here may block on the device. */
static int open_job_run(void *p) {
        struct open_job *j = p;
        struct cb_usb_device *d;
        int r;

        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->fd = -1;
        atomic_init(&d->refs, 1);
        d->usb = j->usb;
        d->fd = TAKE_FD(j->fd);
        j->device = d;

        r = libusb_wrap_sys_device(j->usb->ctx, (intptr_t) d->fd, &d->handle);
        if (r < 0) {
                snprintf(j->error, sizeof j->error, "libusb cannot use %s", j->devnode);
                return errno_from_libusb(r);
        }
        if (!j->boot)
                return 0;

        r = pick_endpoint(d);
        if (r < 0) {
                snprintf(j->error, sizeof j->error, "no interface with a bulk OUT endpoint");
                return r;
        }
        r = libusb_claim_interface(d->handle, d->interface);
        if (r < 0) {
                snprintf(j->error, sizeof j->error, "cannot claim interface %u", d->interface);
                return errno_from_libusb(r);
        }
        d->claimed = true;
        return 0;
}

static void open_job_done(void *p, int result) {
        struct open_job *j = p;

        if (j->fd >= 0)
                close(j->fd);
        if (result < 0) {
                log_warning("%s: %s: %s", j->devnode, j->error[0] ? j->error : "open failed", strerror(-result));
                j->device = cb_usb_device_unref(j->device);
        }
        j->done(j->userdata, result, j->device);
        free(j->devnode);
        free(j);
}

int cb_usb_open(struct cb_usb *u, const char *devnode, bool boot, cb_usb_open_done_t done, void *userdata) {
        struct open_job *j = calloc(1, sizeof *j);
        int r;

        if (!j)
                return -ENOMEM;
        j->usb = u;
        j->boot = boot;
        j->done = done;
        j->userdata = userdata;
        j->fd = open(devnode, O_RDWR | O_CLOEXEC);
        if (j->fd < 0) {
                r = -errno;
                free(j);
                return r; /* the caller says so, for the node whose device it is */
        }
        j->devnode = strdup(devnode);
        if (!j->devnode) {
                close(j->fd);
                free(j);
                return -ENOMEM;
        }
        r = u->worker ? cb_worker_run(u->worker, open_job_run, open_job_done, j) : -ESHUTDOWN;
        if (r < 0) {
                close(j->fd);
                free(j->devnode);
                free(j);
        }
        return r;
}

static void usb_cancel(void *impl);

void cb_usb_device_gone(struct cb_usb_device *d) {
        d->gone = true;
        usb_cancel(d);
}

/* ---- transfers ---- */

static int status_to_errno(enum libusb_transfer_status status) {
        switch (status) {
        case LIBUSB_TRANSFER_COMPLETED:
                return 0;
        case LIBUSB_TRANSFER_TIMED_OUT:
                return -ETIMEDOUT;
        case LIBUSB_TRANSFER_STALL:
                return -EPIPE;
        case LIBUSB_TRANSFER_NO_DEVICE:
                return -ENODEV;
        case LIBUSB_TRANSFER_CANCELLED:
                return -ECANCELED;
        case LIBUSB_TRANSFER_OVERFLOW:
                return -EOVERFLOW;
        default:
                return -EIO;
        }
}

static void op_free(struct usb_op *op) {
        if (op->owns_buffer)
                free(op->transfer->buffer);
        libusb_free_transfer(op->transfer);
        free(op);
}

static void LIBUSB_CALL on_transfer(struct libusb_transfer *t) {
        struct usb_op *op = t->user_data;
        struct cb_usb_device *d = op->device;
        int status = status_to_errno(t->status);
        size_t actual = (size_t) t->actual_length;

        if (status == -ECANCELED && d->gone)
                status = -ENODEV;
        if (status == -ENODEV)
                d->gone = true; /* presence from the device itself: nothing more is submitted to it */
        if (op->in_buf && status == 0)
                memcpy(op->in_buf, libusb_control_transfer_get_data(t), actual);

        if (op->prev)
                op->prev->next = op->next;
        else
                d->ops = op->next;
        if (op->next)
                op->next->prev = op->prev;

        cb_transfer_done_t done = op->done;
        void *userdata = op->userdata;
        op_free(op);
        d->usb->n_ops--;

        done(userdata, status, actual);
        cb_usb_device_unref(d);
}

static unsigned timeout_ms(usec_t timeout) {
        usec_t ms = (timeout + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
        /* 0 would mean "forever" to libusb */
        return (unsigned) MAX(MIN(ms, (usec_t) UINT32_MAX), (usec_t) 1);
}

static int submit(struct cb_usb_device *d, struct usb_op *op) {
        int r;

        op->device = cb_usb_device_ref(d);
        op->next = d->ops;
        if (d->ops)
                d->ops->prev = op;
        d->ops = op;
        r = libusb_submit_transfer(op->transfer);
        if (r >= 0)
                d->usb->n_ops++;
        if (r < 0) {
                d->ops = op->next;
                if (op->next)
                        op->next->prev = NULL;
                cb_usb_device_unref(d);
                return errno_from_libusb(r);
        }
        return 0;
}

static struct usb_op *op_new(cb_transfer_done_t done, void *userdata) {
        struct usb_op *op = calloc(1, sizeof *op);

        if (!op)
                return NULL;
        op->transfer = libusb_alloc_transfer(0);
        if (!op->transfer) {
                free(op);
                return NULL;
        }
        op->done = done;
        op->userdata = userdata;
        return op;
}


static int control(struct cb_usb_device *d, uint8_t request_type, uint8_t request, uint16_t value, uint16_t index,
                   uint8_t *data, uint16_t length, usec_t timeout, cb_transfer_done_t done, void *userdata) {
        struct usb_op *op;
        uint8_t *buf;
        int r;

        if (d->gone)
                return -ENODEV;
        if (d->in_job)
                return -EBUSY;
        op = op_new(done, userdata);
        if (!op)
                return -ENOMEM;
        /* zeroed: a short IN answer leaves the rest of the buffer defined */
        buf = calloc(1, LIBUSB_CONTROL_SETUP_SIZE + length);
        if (!buf) {
                op_free(op);
                return -ENOMEM;
        }
        if (request_type & LIBUSB_ENDPOINT_IN)
                op->in_buf = data;
        else if (length > 0)
                memcpy(buf + LIBUSB_CONTROL_SETUP_SIZE, data, length);
        op->owns_buffer = true;
        libusb_fill_control_setup(buf, request_type, request, value, index, length);
        libusb_fill_control_transfer(op->transfer, d->handle, buf, on_transfer, op, timeout_ms(timeout));
        r = submit(d, op);
        if (r < 0)
                op_free(op);
        return r;
}

static int usb_control_out(void *impl, uint16_t value, uint16_t index, usec_t timeout, cb_transfer_done_t done,
                           void *userdata) {
        return control(impl, CB_REQTYPE_WRITE, CB_REQUEST, value, index, NULL, 0, timeout, done, userdata);
}

static int usb_control_in(void *impl, uint16_t value, uint16_t index, uint8_t *buf, uint16_t length, usec_t timeout,
                          cb_transfer_done_t done, void *userdata) {
        return control(impl, CB_REQTYPE_READ, CB_REQUEST, value, index, buf, length, timeout, done, userdata);
}

static int usb_bulk_out(void *impl, const uint8_t *buf, size_t length, usec_t timeout, cb_transfer_done_t done,
                        void *userdata) {
        struct cb_usb_device *d = impl;
        struct usb_op *op;
        int r;

        if (d->gone)
                return -ENODEV;
        if (d->in_job)
                return -EBUSY;
        if (length > INT32_MAX)
                return -EINVAL;
        op = op_new(done, userdata);
        if (!op)
                return -ENOMEM;
        /* libusb wants a mutable pointer for both directions; an OUT transfer only reads it */
        libusb_fill_bulk_transfer(op->transfer, d->handle, d->endpoint, (unsigned char *) (uintptr_t) buf,
                                  (int) length, on_transfer, op, timeout_ms(timeout));
        r = submit(d, op);
        if (r < 0)
                op_free(op);
        return r;
}

static void usb_cancel(void *impl) {
        struct cb_usb_device *d = impl;

        for (struct usb_op *op = d->ops; op; op = op->next)
                (void) libusb_cancel_transfer(op->transfer);
}

/*
 * A blocking operation on the device (clearing a halt, a port reset): it runs
 * on the worker, and no transfer may start on the device until it is over.
 */
struct device_job {
        struct cb_usb_device *device;
        cb_transfer_done_t done;
        void *userdata;
};

static void device_job_done(void *p, int result) {
        struct device_job *j = p;

        j->device->in_job = false;
        if (result == -ENODEV)
                j->device->gone = true;
        j->done(j->userdata, result, 0);
        cb_usb_device_unref(j->device);
        free(j);
}

static int start_device_job(struct cb_usb_device *d, int (*run)(void *job), cb_transfer_done_t done, void *userdata) {
        struct device_job *j;
        int r;

        if (d->gone)
                return -ENODEV;
        if (d->ops || d->in_job)
                return -EBUSY;
        j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        *j = (struct device_job){ .device = cb_usb_device_ref(d), .done = done, .userdata = userdata };
        d->in_job = true;
        r = d->usb->worker ? cb_worker_run(d->usb->worker, run, device_job_done, j) : -ESHUTDOWN;
        if (r < 0) {
                d->in_job = false;
                cb_usb_device_unref(j->device);
                free(j);
        }
        return r;
}

/*
 * libusb_clear_halt() sends CLEAR_FEATURE(ENDPOINT_HALT) synchronously and
 * has the kernel reset its side of the endpoint (data toggle) with it: a
 * bare control transfer would leave the toggles out of step, and the board
 * would drop the next packet as a duplicate. So it runs on the worker.
 */
static int halt_job_run(void *p) {
        struct device_job *j = p;
        return errno_from_libusb(libusb_clear_halt(j->device->handle, j->device->endpoint));
}

static int usb_clear_halt(void *impl, cb_transfer_done_t done, void *userdata) {
        return start_device_job(impl, halt_job_run, done, userdata);
}

static int reset_job_run(void *p) {
        struct device_job *j = p;
        return errno_from_libusb(libusb_reset_device(j->device->handle));
}

static int usb_reset(void *impl, cb_transfer_done_t done, void *userdata) {
        return start_device_job(impl, reset_job_run, done, userdata);
}

int cb_usb_device_control(struct cb_usb_device *d, uint8_t request_type, uint8_t request, uint16_t value,
                          uint16_t index, uint8_t *buf, uint16_t length, usec_t timeout, cb_transfer_done_t done,
                          void *userdata) {
        if (!d || !done || (length > 0 && !buf))
                return -EINVAL;
        return control(d, request_type, request, value, index, buf, length, timeout, done, userdata);
}

void cb_usb_device_cancel(struct cb_usb_device *d) {
        if (d)
                usb_cancel(d);
}

static const struct cb_transport_ops usb_transport_ops = {
        .control_out = usb_control_out,
        .control_in = usb_control_in,
        .bulk_out = usb_bulk_out,
        .cancel = usb_cancel,
        .clear_halt = usb_clear_halt,
        .reset = usb_reset,
};

struct cb_transport cb_usb_device_transport(struct cb_usb_device *d) {
        return (struct cb_transport){ &usb_transport_ops, d };
}

/* ---- the manager's device opener ---- */

struct opener_request {
        cb_device_open_done_t done;
        void *userdata;
};

static void opener_opened(void *userdata, int result, struct cb_usb_device *device) {
        struct opener_request *req = userdata;

        req->done(req->userdata, result, device);
        free(req);
}

static int opener_open(void *impl, const struct cb_presence *presence, cb_device_open_done_t done, void *userdata) {
        struct opener_request *req = calloc(1, sizeof *req);
        int r;

        if (!req)
                return -ENOMEM;
        *req = (struct opener_request){ .done = done, .userdata = userdata };
        r = cb_usb_open(impl, presence->devnode, true, opener_opened, req);
        if (r < 0)
                free(req);
        return r;
}

static struct cb_transport opener_transport(void *impl, void *device) {
        return cb_usb_device_transport(device);
}

static void opener_close(void *impl, void *device) {
        cb_usb_device_gone(device);
        cb_usb_device_unref(device);
}

static void opener_cancel_pending(void *impl) {
        cb_usb_stop_worker(impl);
}

const struct cb_device_opener_ops cb_usb_opener_ops = {
        .open = opener_open,
        .transport = opener_transport,
        .close = opener_close,
        .cancel_pending = opener_cancel_pending,
};
