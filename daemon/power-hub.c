/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "power-hub.h"

#include <stdarg.h>

#include "event-priority.h"
#include "log.h"
#include "portpath.h"
#include "text.h"

/* USB 2.0 ch. 9 and 11, USB 3.x ch. 10 */
#define REQ_GET_STATUS 0
#define REQ_CLEAR_FEATURE 1
#define REQ_SET_FEATURE 3
#define REQ_GET_DESCRIPTOR 6
#define RT_HUB_IN 0xa0    /* class, device (the hub), IN */
#define RT_PORT_OUT 0x23  /* class, other (a port), OUT */
#define RT_PORT_IN 0xa3   /* class, other (a port), IN */
#define DT_DEVICE 0x01
#define DT_HUB 0x29
#define DT_SS_HUB 0x2a
#define CLASS_HUB 0x09
#define PROTOCOL_SS_HUB 0x03
#define FEATURE_PORT_POWER 8
#define HUB_CHAR_LPSM 0x0003 /* logical power switching mode: */
#define HUB_CHAR_GANGED 0x0000
#define HUB_CHAR_INDIVIDUAL 0x0001
#define PORT_STAT_POWER 0x0100    /* USB 2.0 hub wPortStatus */
#define PORT_STAT_SS_POWER 0x0200 /* SuperSpeed hub wPortStatus */
#define HUB_DESC_SIZE 15          /* the kernel's sizeof(struct usb_hub_descriptor) */
#define SS_HUB_DESC_SIZE 12

enum step {
        STEP_IDLE,
        STEP_OPEN, /* and the hub's device descriptor with it */
        STEP_HUB_DESCRIPTOR,
        STEP_SWITCH_SYSFS,
        STEP_SWITCH_REQUEST,
        STEP_STATUS,
        STEP_FINISHING, /* result known, delivery deferred */
};

/* One port to switch: the node's, or its USB 3 peer on the hub's other half. */
struct target {
        char hub[32];
        char label[160]; /* "hub 1-1", "root hub usb2", "hub 2-1 (the USB 3 peer of port 3 of hub 1-1)" */
        unsigned port_number;
        char disable_path[128]; /* for messages */
};

struct power_hub {
        struct cb_hub_link link;
        char *node, *port;
        struct target primary; /* the node's port */
        struct target peer;    /* valid while has_peer */
        struct target *t;      /* the one being switched */
        enum cb_hub_power_method method;
        usec_t timeout, slow_timeout;
        char description[64];
        struct cb_log_node log;
        bool warned_sysfs_unusable;
        bool hub_seen; /* the node's hub was opened once: if it is missing now, it went */
        sd_event_source *watchdog; /* the open and the sysfs write, which have no timeout of their own */
        sd_event_source *finish;   /* delivers the result: never from inside cb_power_set() */

        /* the call in flight */
        enum step step;
        bool on;
        cb_power_done_t done;
        void *userdata;
        bool cancelled, timed_out;
        bool superspeed;
        bool has_peer; /* found with the primary's open: its peer is switched next */
        const char *method_used;
        uint8_t buf[32];
        int result;
        char message[512];
};

static const char *on_off(bool on) {
        return on ? "on" : "off";
}

static void finish(struct power_hub *h, int result, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void finish(struct power_hub *h, int result, const char *format, ...) {
        h->step = STEP_FINISHING;
        h->result = result;
        h->message[0] = '\0';
        if (format) {
                va_list ap;
                va_start(ap, format);
                int n = vsnprintf(h->message, sizeof h->message, format, ap);
                va_end(ap);
                /* its paths and another reason can pass the buffer: the cut shows, on a character boundary */
                if (n >= (int) sizeof h->message)
                        cb_text_cut(h->message, sizeof h->message - 2);
        }
        h->link.ops->close(h->link.impl);
        (void) sd_event_source_set_enabled(h->finish, SD_EVENT_ONESHOT);
}

static int on_finish(sd_event_source *s, void *userdata) {
        struct power_hub *h = userdata;
        char message[sizeof h->message];
        int result = h->result;

        if (h->step != STEP_FINISHING)
                return 0;
        if (result < 0)
                cb_log(LOG_DEBUG, 0, &h->log, "switching %s %s failed: %s", h->description, on_off(h->on),
                       h->message);
        else if (h->has_peer)
                cb_log(LOG_INFO, 0, &h->log, "%s and its USB 3 peer, port %u of %s, switched %s (%s)",
                       h->description, h->peer.port_number, h->peer.hub, on_off(h->on), h->method_used);
        else
                cb_log(LOG_INFO, 0, &h->log, "%s switched %s (%s)", h->description, on_off(h->on),
                       h->method_used);
        /* the callback may start the next call, or free the backend: nothing of h is used after it */
        memcpy(message, h->message, sizeof message);
        h->step = STEP_IDLE;
        h->done(h->userdata, result, result < 0 ? message : NULL);
        return 0;
}

static void arm_watchdog(struct power_hub *h) {
        (void) sd_event_source_set_time_relative(h->watchdog, h->slow_timeout);
        (void) sd_event_source_set_enabled(h->watchdog, SD_EVENT_ONESHOT);
}

static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata) {
        struct power_hub *h = userdata;

        if (h->step == STEP_IDLE || h->step == STEP_FINISHING)
                return 0;
        h->timed_out = true;
        h->link.ops->cancel(h->link.impl); /* its done follows, and ends the call */
        return 0;
}

/* Ends the call if cancel or the watchdog came first; true if it did. */
static bool interrupted(struct power_hub *h, const char *what) {
        if (h->cancelled) {
                finish(h, -ECANCELED, "switching %s %s was cancelled (while %s)", h->description, on_off(h->on),
                       what);
                return true;
        }
        if (h->timed_out) {
                finish(h, -ETIMEDOUT, "switching %s %s timed out after %llu ms while %s", h->description,
                       on_off(h->on), (unsigned long long) (h->slow_timeout / USEC_PER_MSEC), what);
                return true;
        }
        return false;
}

static void on_link_done(void *userdata, int status, size_t actual);

static void start_control(struct power_hub *h, enum step step, uint8_t request_type, uint8_t request,
                          uint16_t value, uint16_t index, uint16_t length) {
        int r;

        h->step = step;
        memset(h->buf, 0, sizeof h->buf);
        r = h->link.ops->control(h->link.impl, request_type, request, value, index, length ? h->buf : NULL, length,
                                 h->timeout, on_link_done, h);
        if (r < 0)
                finish(h, r, "cannot send a request to %s: %s", h->t->label, strerror(-r));
}

static void start_request_switch(struct power_hub *h) {
        h->method_used = "hub request";
        start_control(h, STEP_SWITCH_REQUEST, RT_PORT_OUT, h->on ? REQ_SET_FEATURE : REQ_CLEAR_FEATURE,
                      FEATURE_PORT_POWER, (uint16_t) h->t->port_number, 0);
}

static void start_switch(struct power_hub *h) {
        int r;

        if (h->method == CB_HUB_POWER_REQUEST) {
                start_request_switch(h);
                return;
        }
        h->step = STEP_SWITCH_SYSFS;
        h->method_used = "sysfs";
        r = h->link.ops->set_port_disabled(h->link.impl, h->t->port_number, !h->on, on_link_done, h);
        if (r >= 0) {
                arm_watchdog(h);
                return;
        }
        if (h->method == CB_HUB_POWER_SYSFS) {
                if (r == -ENOENT)
                        finish(h, -EOPNOTSUPP,
                               "the kernel has no %s, so it cannot disable port %u of %s (HubPowerMethod=sysfs): "
                               "use HubPowerMethod=request or auto",
                               h->t->disable_path, h->t->port_number, h->t->label);
                else
                        finish(h, r,
                               "cannot write %s (HubPowerMethod=sysfs): %s; a read-only /sys (systemd's "
                               "ProtectKernelTunables=) or missing permission stops it",
                               h->t->disable_path, strerror(-r));
                return;
        }
        /* auto */
        if (r != -ENOENT && !h->warned_sysfs_unusable) {
                h->warned_sysfs_unusable = true;
                cb_log(LOG_WARNING, r, &h->log,
                       "cannot write %s, switching with hub requests instead (the kernel may switch the port "
                       "back on)",
                       h->t->disable_path);
        } else if (r == -ENOENT)
                cb_log(LOG_DEBUG, 0, &h->log, "no %s, switching with hub requests", h->t->disable_path);
        start_request_switch(h);
}

static void open_failed(struct power_hub *h, int error) {
        if (error == -ENODEV && h->t == &h->peer)
                finish(h, error, "%s is not there, so the port's power may still be on", h->t->label);
        else if (error == -ENODEV && h->hub_seen)
                /* it was there: the hub itself went, and every board on it with it */
                finish(h, error,
                       "%s, the parent of port %s, is gone (it was there before): the hub was unplugged or lost its "
                       "power, with every board on it",
                       h->t->label, h->port);
        else if (error == -ENODEV)
                finish(h, error,
                       "%s, the parent of port %s, is not there: check the node's Port=, and that the hub is "
                       "plugged in and powered",
                       h->t->label, h->port);
        else
                finish(h, error, "cannot open %s: %s", h->t->label, strerror(-error));
}

/*
 * A USB 3 hub is two hubs sharing VBUS: switching one half's port leaves
 * the board powered through the other. The kernel links each port to its
 * peer; a port with one is switched on both halves, and checked on both.
 */
static void find_peer(struct power_hub *h) {
        struct target *p = &h->peer;
        int r;

        if (!h->link.ops->port_peer)
                return;
        r = h->link.ops->port_peer(h->link.impl, h->primary.port_number, p->hub, sizeof p->hub, &p->port_number);
        if (r == -ENOENT)
                return;
        if (r < 0 || cb_port_disable_path(p->hub, p->port_number, p->disable_path, sizeof p->disable_path) < 0) {
                cb_log(LOG_WARNING, r < 0 ? r : 0, &h->log,
                       "cannot tell whether port %u of %s has a USB 3 peer; switching it alone",
                       h->primary.port_number, h->primary.label);
                return;
        }
        /* both names fit their 32 bytes: the precisions say so to the compiler's truncation check */
        snprintf(p->label, sizeof p->label, "%shub %.31s (the USB 3 peer of port %u of hub %.31s)",
                 strncmp(p->hub, "usb", 3) == 0 ? "root " : "", p->hub, h->primary.port_number, h->primary.hub);
        h->has_peer = true;
        cb_log(LOG_DEBUG, 0, &h->log, "port %u of %s has a USB 3 peer: port %u of %s, switched with it",
               h->primary.port_number, h->primary.label, p->port_number, p->hub);
}

static void start_open(struct power_hub *h);

/* The hub is open, and its device descriptor in buf. */
static void opened(struct power_hub *h, size_t actual) {
        if (actual < CB_HUB_LINK_DEVICE_DESCRIPTOR_SIZE || h->buf[1] != DT_DEVICE) {
                finish(h, -EIO, "%s came with %zu bytes of device descriptor", h->t->label, actual);
                return;
        }
        if (h->buf[4] != CLASS_HUB) {
                finish(h, -EOPNOTSUPP,
                       "device %s, the parent of port %s, is not a hub (device class 0x%02x), so it cannot switch "
                       "the port's power: check the node's Port=",
                       h->t->hub, h->port, h->buf[4]);
                return;
        }
        h->superspeed = h->buf[6] == PROTOCOL_SS_HUB;
        if (h->t == &h->primary) {
                h->hub_seen = true;
                find_peer(h);
        }
        start_control(h, STEP_HUB_DESCRIPTOR, RT_HUB_IN, REQ_GET_DESCRIPTOR,
                      (uint16_t) ((h->superspeed ? DT_SS_HUB : DT_HUB) << 8), 0,
                      h->superspeed ? SS_HUB_DESC_SIZE : HUB_DESC_SIZE);
}

static void hub_descriptor_done(struct power_hub *h, size_t actual) {
        uint8_t type = h->superspeed ? DT_SS_HUB : DT_HUB;
        unsigned n_ports = h->buf[2];
        uint16_t characteristics = (uint16_t) (h->buf[3] | h->buf[4] << 8);

        if (actual < 7 || h->buf[1] != type) {
                finish(h, -EIO, "%s answered its hub descriptor request (type 0x%02x) with %zu bytes of type 0x%02x",
                       h->t->label, type, actual, actual >= 2 ? h->buf[1] : 0);
                return;
        }
        if (h->t->port_number > n_ports) {
                finish(h, -EOPNOTSUPP, "%s has %u port%s, so it has no port %u for %s: check the node's Port=",
                       h->t->label, n_ports, n_ports == 1 ? "" : "s", h->t->port_number, h->port);
                return;
        }
        switch (characteristics & HUB_CHAR_LPSM) {
        case HUB_CHAR_INDIVIDUAL:
                break;
        case HUB_CHAR_GANGED:
                finish(h, -EOPNOTSUPP,
                       "%s switches the power of all its ports together (ganged power switching), so port %u "
                       "cannot be switched on its own: use a hub with per-port power switching for %s, or "
                       "Power=command with a relay",
                       h->t->label, h->t->port_number, h->port);
                return;
        default:
                finish(h, -EOPNOTSUPP,
                       "%s cannot switch the power of its ports (its descriptor says no power switching): use a "
                       "hub with per-port power switching for %s, or Power=command with a relay",
                       h->t->label, h->port);
                return;
        }
        start_switch(h);
}

static void status_done(struct power_hub *h, size_t actual) {
        uint16_t status = (uint16_t) (h->buf[0] | h->buf[1] << 8);
        uint16_t bit = h->superspeed ? PORT_STAT_SS_POWER : PORT_STAT_POWER;
        bool powered = status & bit;

        if (actual < 2) {
                finish(h, -EIO, "%s answered the status request of port %u with %zu bytes", h->t->label, h->t->port_number,
                       actual);
                return;
        }
        if (!h->on && powered) {
                finish(h, -EIO,
                       "%s accepted switching port %u off but still reports it powered (port status 0x%04x): this "
                       "hub does not really cut power on that port; use a hub that does, or Power=command with a "
                       "relay",
                       h->t->label, h->t->port_number, status);
                return;
        }
        if (h->on && !powered) {
                finish(h, -EIO, "%s still reports port %u unpowered after switching it on (port status 0x%04x)",
                       h->t->label, h->t->port_number, status);
                return;
        }
        if (h->has_peer && h->t == &h->primary) {
                h->link.ops->close(h->link.impl);
                h->t = &h->peer;
                start_open(h);
                return;
        }
        finish(h, h->on ? 0 : CB_POWER_OFF_CONFIRMED, NULL);
}

static const char *step_doing(enum step step) {
        switch (step) {
        case STEP_OPEN:
                return "opening the hub";
        case STEP_HUB_DESCRIPTOR:
                return "reading the hub descriptor";
        case STEP_SWITCH_SYSFS:
                return "writing the port's disable file";
        case STEP_SWITCH_REQUEST:
                return "switching the port";
        case STEP_STATUS:
                return "reading the port's status";
        default:
                return "idle";
        }
}

static void on_link_done(void *userdata, int status, size_t actual) {
        struct power_hub *h = userdata;

        if (h->step == STEP_IDLE || h->step == STEP_FINISHING) {
                cb_log(LOG_WARNING, 0, &h->log, "hub link reported an operation while none was in flight");
                return;
        }
        /* whatever ended, the slow operation it may have been is over */
        (void) sd_event_source_set_enabled(h->watchdog, SD_EVENT_OFF);
        if (interrupted(h, step_doing(h->step)))
                return;
        if (status < 0) {
                switch (h->step) {
                case STEP_OPEN:
                        open_failed(h, status);
                        return;
                case STEP_SWITCH_SYSFS:
                        finish(h, status, "writing %s to %s failed: %s", h->on ? "0" : "1", h->t->disable_path,
                               strerror(-status));
                        return;
                case STEP_SWITCH_REQUEST:
                        finish(h, status, "%s refused to switch port %u %s: %s", h->t->label, h->t->port_number,
                               on_off(h->on), status == -EPIPE ? "it stalled the request" : strerror(-status));
                        return;
                default:
                        finish(h, status, "%s failed while %s for port %u: %s", h->t->label, step_doing(h->step),
                               h->t->port_number, status == -EPIPE ? "it stalled the request" : strerror(-status));
                        return;
                }
        }

        switch (h->step) {
        case STEP_OPEN:
                opened(h, actual);
                return;
        case STEP_HUB_DESCRIPTOR:
                hub_descriptor_done(h, actual);
                return;
        case STEP_SWITCH_SYSFS:
        case STEP_SWITCH_REQUEST:
                start_control(h, STEP_STATUS, RT_PORT_IN, REQ_GET_STATUS, 0, (uint16_t) h->t->port_number, 4);
                return;
        case STEP_STATUS:
                status_done(h, actual);
                return;
        default: /* STEP_IDLE, STEP_FINISHING: returned above */
                return;
        }
}

static void start_open(struct power_hub *h) {
        int r;

        h->step = STEP_OPEN;
        h->superspeed = false;
        memset(h->buf, 0, sizeof h->buf);
        r = h->link.ops->open(h->link.impl, h->t->hub, h->buf, on_link_done, h);
        if (r < 0)
                open_failed(h, r);
        else
                arm_watchdog(h);
}

static int power_hub_set(void *impl, bool on, cb_power_done_t done, void *userdata) {
        struct power_hub *h = impl;

        if (!done)
                return -EINVAL;
        if (h->step != STEP_IDLE)
                return -EBUSY;
        h->on = on;
        h->done = done;
        h->userdata = userdata;
        h->cancelled = h->timed_out = h->superspeed = h->has_peer = false;
        h->t = &h->primary;
        h->method_used = NULL;
        h->result = 0;
        h->message[0] = '\0';
        cb_log(LOG_DEBUG, 0, &h->log, "switching %s %s (HubPowerMethod=%s)", h->description, on_off(on),
               cb_hub_power_method_name(h->method));
        start_open(h);
        return 0;
}

static void power_hub_cancel(void *impl) {
        struct power_hub *h = impl;

        switch (h->step) {
        case STEP_IDLE:
                return;
        case STEP_FINISHING:
                /* the result is in, not yet delivered: the contract says -ECANCELED all the same */
                if (h->result != -ECANCELED) {
                        h->result = -ECANCELED;
                        snprintf(h->message, sizeof h->message, "switching %s %s was cancelled", h->description,
                                 on_off(h->on));
                }
                return;
        default:
                if (h->cancelled)
                        return;
                h->cancelled = true;
                h->link.ops->cancel(h->link.impl);
                return;
        }
}

static void power_hub_free(void *impl) {
        struct power_hub *h = impl;

        if (!h)
                return;
        sd_event_source_disable_unref(h->watchdog);
        sd_event_source_disable_unref(h->finish);
        if (h->link.ops)
                h->link.ops->free(h->link.impl); /* closes it: no done of an operation in flight runs */
        free(h->node);
        free(h->port);
        free(h);
}

static const char *power_hub_describe(void *impl) {
        struct power_hub *h = impl;
        return h->description;
}

static const struct cb_power_ops power_hub_ops = {
        .set = power_hub_set,
        .cancel = power_hub_cancel,
        .free = power_hub_free,
        .describe = power_hub_describe,
};

int cb_power_hub_new(sd_event *event, const struct cb_power_hub_settings *s, struct cb_hub_link link,
                     struct cb_power **ret) {
        struct power_hub *h = NULL;
        struct cb_power *p = NULL;
        int r;

        if (!event || !s || !s->port || !link.ops || !ret) {
                r = -EINVAL;
                goto fail;
        }
        h = calloc(1, sizeof *h);
        p = calloc(1, sizeof *p);
        if (!h || !p) {
                r = -ENOMEM;
                goto fail;
        }
        h->link = link;
        link.ops = NULL; /* h owns it now */
        h->method = s->method;
        h->timeout = s->timeout ? s->timeout : USEC_PER_SEC;
        h->slow_timeout = s->slow_timeout ? s->slow_timeout : MAX(h->timeout, CB_POWER_HUB_SLOW_TIMEOUT);
        if (strdup_to(&h->node, s->node) < 0 || strdup_to(&h->port, s->port) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        h->log = (struct cb_log_node){ .name = h->node, .port = h->port };
        h->t = &h->primary;
        r = cb_port_parent(s->port, h->t->hub, sizeof h->t->hub, &h->t->port_number);
        if (r < 0) {
                cb_log(LOG_ERR, 0, &h->log, "usb-hub power: '%s' is not a port path", s->port);
                goto fail;
        }
        r = cb_port_disable_path(h->t->hub, h->t->port_number, h->t->disable_path, sizeof h->t->disable_path);
        if (r < 0)
                goto fail;
        snprintf(h->t->label, sizeof h->t->label, "%shub %s", strncmp(h->t->hub, "usb", 3) == 0 ? "root " : "",
                 h->t->hub);
        snprintf(h->description, sizeof h->description, "usb-hub port %u of %s", h->t->port_number, h->t->hub);

        r = sd_event_add_defer(event, &h->finish, on_finish, h);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_enabled(h->finish, SD_EVENT_OFF);
        r = sd_event_add_time_relative(event, &h->watchdog, CLOCK_MONOTONIC, USEC_PER_SEC, 1000, on_watchdog, h);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_priority(h->watchdog, CB_EVENT_PRIORITY_BOARDS);
        (void) sd_event_source_set_enabled(h->watchdog, SD_EVENT_OFF);

        *p = (struct cb_power){ &power_hub_ops, h };
        *ret = p;
        return 0;
fail:
        if (link.ops)
                link.ops->free(link.impl);
        power_hub_free(h);
        free(p);
        return r;
}
