/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "hub.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The model's settings are the link's configuration, which a test may change between requests. */
static struct emu_hub_model *model(struct emu_hub *h) {
        h->model.n_ports = h->config.n_ports;
        h->model.switching = h->config.switching;
        h->model.superspeed = h->config.superspeed;
        h->model.liar = h->config.liar;
        return &h->model;
}

static unsigned n_ports(struct emu_hub *h) {
        return emu_hub_model_ports(model(h));
}

static void record(struct emu_hub *h, const struct emu_hub_op *op) {
        if (h->n_ops < EMU_HUB_MAX_OPS)
                h->ops[h->n_ops++] = *op;
}

static int on_complete(sd_event_source *s, void *userdata) {
        struct emu_hub *h = userdata;
        cb_transfer_done_t done = h->done;

        h->pending = false;
        h->source = sd_event_source_disable_unref(h->source);
        done(h->userdata, h->status, h->actual);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        return on_complete(s, userdata);
}

static int begin(struct emu_hub *h, cb_transfer_done_t done, void *userdata) {
        if (h->pending)
                return -EBUSY;
        h->pending = true;
        h->done = done;
        h->userdata = userdata;
        h->status = 0;
        h->actual = 0;
        return 0;
}

/* Completes the operation from the loop: now (status), after `timeout` (-ETIMEDOUT), or never (until cancel). */
static void conclude(struct emu_hub *h, int status, size_t actual, bool answer, usec_t timeout) {
        h->status = status;
        h->actual = actual;
        if (answer)
                sd_event_add_defer(h->event, &h->source, on_complete, h);
        else if (timeout != USEC_INFINITY) {
                h->status = -ETIMEDOUT;
                h->actual = 0;
                sd_event_add_time_relative(h->event, &h->source, CLOCK_MONOTONIC, timeout, 1, on_timeout, h);
        }
}

static size_t device_descriptor(const struct emu_hub *h, uint8_t *d) {
        const uint8_t desc[18] = {
                18, 1, 0x00, h->config.superspeed ? 0x03 : 0x02, h->config.not_a_hub ? 0x00 : 0x09, 0,
                h->config.superspeed ? 3 : 1, h->config.superspeed ? 9 : 64, 0x09, 0x21, 0x17, 0x28, 0x73, 0x04, 1, 2,
                0, 1,
        };
        memcpy(d, desc, sizeof desc);
        return sizeof desc;
}

/* The hub the link's calls go to: the one it opened (of a pair), else its own. */
static struct emu_hub *target(void *impl) {
        struct emu_hub *link_hub = impl;
        return link_hub->opened ? link_hub->opened : link_hub;
}

static int hub_open(void *impl, const char *hub, uint8_t *descriptor, cb_transfer_done_t done, void *userdata) {
        struct emu_hub *link_hub = impl, *h = link_hub;
        struct emu_hub_op op = { .kind = EMU_HUB_OP_OPEN };
        int r;

        if (link_hub->peer && hub && strcmp(hub, link_hub->peer->name) == 0)
                h = link_hub->peer;

        snprintf(op.hub, sizeof op.hub, "%s", hub);
        record(h, &op);
        if (h->open || link_hub->opened)
                return -EBUSY;
        if (h->config.absent)
                return -ENODEV;
        r = begin(h, done, userdata);
        if (r < 0)
                return r;
        h->opens++;
        h->open = true;
        link_hub->opened = h;
        conclude(h, 0, device_descriptor(h, descriptor), !h->config.open_no_answer, USEC_INFINITY);
        return 0;
}

static int hub_control(void *impl, uint8_t request_type, uint8_t request, uint16_t value, uint16_t index,
                       uint8_t *buf, uint16_t length, usec_t timeout, cb_transfer_done_t done, void *userdata) {
        struct emu_hub *h = target(impl);
        struct emu_hub_op op = { .kind = EMU_HUB_OP_CONTROL, .request_type = request_type, .request = request,
                                 .value = value, .index = index, .length = length, .timeout = timeout };
        uint8_t data[64] = { 0 };
        size_t n = 0;
        int r;

        record(h, &op);
        if (!h->open)
                return -ENOTCONN;
        r = begin(h, done, userdata);
        if (r < 0)
                return r;
        if (h->config.fault.kind != EMU_HUB_FAULT_NONE && h->config.fault.request_type == request_type &&
            h->config.fault.request == request) {
                if (h->config.fault.kind == EMU_HUB_FAULT_STALL)
                        conclude(h, -EPIPE, 0, true, timeout);
                else
                        conclude(h, 0, 0, false, timeout);
                return 0;
        }
        r = emu_hub_model_request(model(h), request_type, request, value, index, data, MIN(sizeof data, (size_t) length),
                                  &n);
        if (r == 0 && (request_type & 0x80))
                memcpy(buf, data, n);
        conclude(h, r, r == 0 ? n : 0, true, timeout);
        return 0;
}

static int hub_set_port_disabled(void *impl, unsigned port, bool disabled, cb_transfer_done_t done,
                                 void *userdata) {
        struct emu_hub *h = target(impl);
        struct emu_hub_op op = { .kind = EMU_HUB_OP_SYSFS, .port = port, .disabled = disabled };
        int r;

        if (!h->open)
                return -ENOTCONN;
        if (!h->config.has_disable_file || port < 1 || port > n_ports(h))
                return -ENOENT;
        if (h->config.disable_open_error)
                return h->config.disable_open_error;
        r = begin(h, done, userdata);
        if (r < 0)
                return r;
        record(h, &op);
        if (h->config.sysfs_no_answer) {
                conclude(h, 0, 0, false, USEC_INFINITY);
                return 0;
        }
        if (!h->config.sysfs_error) {
                h->port_disabled[port] = disabled;
                emu_hub_model_set_power(model(h), port, !disabled); /* what the kernel does: the hub request */
        }
        conclude(h, h->config.sysfs_error, 0, true, 0);
        return 0;
}

static int hub_port_peer(void *impl, unsigned port, char *hub, size_t size, unsigned *peer_port) {
        struct emu_hub *h = target(impl);

        if (!h->open)
                return -ENOTCONN;
        if (!h->peer || port < 1 || port > n_ports(h))
                return -ENOENT;
        if ((size_t) snprintf(hub, size, "%s", h->peer->name) >= size)
                return -ENOBUFS;
        *peer_port = port;
        return 0;
}

static void hub_cancel(void *impl) {
        struct emu_hub *h = target(impl);

        h->cancels++;
        if (!h->pending)
                return;
        h->source = sd_event_source_disable_unref(h->source);
        h->status = -ECANCELED;
        h->actual = 0;
        sd_event_add_defer(h->event, &h->source, on_complete, h);
}

static void hub_close(void *impl) {
        struct emu_hub *link_hub = impl, *h = target(impl);

        /* an operation in flight is dropped: its done never runs */
        h->pending = false;
        h->source = sd_event_source_disable_unref(h->source);
        if (h->open) {
                h->open = false;
                h->closes++;
        }
        link_hub->opened = NULL;
}

static void hub_free(void *impl) {
        struct emu_hub *h = impl;

        hub_close(h);
        h->freed = true;
}

static const struct cb_hub_link_ops emu_hub_link_ops = {
        .open = hub_open,
        .control = hub_control,
        .set_port_disabled = hub_set_port_disabled,
        .port_peer = hub_port_peer,
        .cancel = hub_cancel,
        .close = hub_close,
        .free = hub_free,
};

struct cb_hub_link emu_hub_link(struct emu_hub *h) {
        return (struct cb_hub_link){ &emu_hub_link_ops, h };
}

void emu_hub_init(struct emu_hub *h, sd_event *event, const struct emu_hub_config *config) {
        memset(h, 0, sizeof *h);
        h->event = event;
        if (config)
                h->config = *config;
        emu_hub_model_init(&h->model, h->config.n_ports, h->config.switching, h->config.superspeed);
        /* every port reports a device: the seam's tests have no boards on them */
        for (unsigned i = 1; i <= EMU_HUB_MAX_PORTS; i++)
                h->model.connected[i] = true;
}

void emu_hub_done(struct emu_hub *h) {
        h->source = sd_event_source_disable_unref(h->source);
}

void emu_hub_pair(struct emu_hub *a, const char *a_name, struct emu_hub *b, const char *b_name) {
        snprintf(a->name, sizeof a->name, "%s", a_name);
        snprintf(b->name, sizeof b->name, "%s", b_name);
        a->peer = b;
        b->peer = a;
        emu_hub_model_pair(&a->model, &b->model);
}

bool emu_hub_vbus(const struct emu_hub *h, unsigned port) {
        return emu_hub_model_vbus(&h->model, port);
}

unsigned emu_hub_count(const struct emu_hub *h, uint8_t request_type, uint8_t request) {
        unsigned n = 0;

        for (size_t i = 0; i < h->n_ops; i++)
                if (h->ops[i].kind == EMU_HUB_OP_CONTROL && h->ops[i].request_type == request_type &&
                    h->ops[i].request == request)
                        n++;
        return n;
}
