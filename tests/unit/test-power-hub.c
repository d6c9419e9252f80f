/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The usb-hub power backend (power-hub.c) against a model hub (emu/hub.c):
 * the exact requests it sends, what it refuses and why, the liar hub, the
 * sysfs `disable` file and the choice of method, timeouts, stalls, cancel,
 * busy, and freeing it mid-call. Also the port path helpers it relies on.
 */
#include <string.h>

#include "check.h"
#include "hub.h"
#include "log.h"
#include "portpath.h"
#include "power-hub.h"

#define RUN_LIMIT (5 * USEC_PER_SEC)
#define REQUEST_TIMEOUT (30 * USEC_PER_MSEC)
#define SLOW_TIMEOUT (60 * USEC_PER_MSEC)

struct outcome {
        unsigned calls;
        int result;
        bool had_message;
        char message[600];
        /* what the callback does next */
        struct cb_power **free_in_callback;
        bool switch_on_in_callback;
        int second_set;
};

static void on_done(void *userdata, int result, const char *message) {
        struct outcome *o = userdata;

        o->calls++;
        o->result = result;
        o->had_message = message != NULL;
        snprintf(o->message, sizeof o->message, "%s", message ? message : "");
        if (o->free_in_callback)
                *o->free_in_callback = cb_power_free(*o->free_in_callback);
}

/* The callback starts the next call: a power cycle's "on" right after its "off". */
static struct cb_power *chained_power;
static struct outcome chained_second;
static void on_done_then_on(void *userdata, int result, const char *message) {
        struct outcome *o = userdata;

        on_done(userdata, result, message);
        o->second_set = cb_power_set(chained_power, true, on_done, &chained_second);
}

struct fixture {
        sd_event *event;
        struct emu_hub hub;
        struct cb_power *power;
};

static int fixture_init(struct fixture *f, const struct emu_hub_config *hc, const char *port,
                        enum cb_hub_power_method method) {
        struct cb_power_hub_settings s = {
                .node = "node3",
                .port = port,
                .method = method,
                .timeout = REQUEST_TIMEOUT,
                .slow_timeout = SLOW_TIMEOUT,
        };
        int r;

        memset(f, 0, sizeof *f);
        if (sd_event_new(&f->event) < 0) {
                fprintf(stderr, "sd_event_new failed\n");
                exit(2);
        }
        emu_hub_init(&f->hub, f->event, hc);
        r = cb_power_hub_new(f->event, &s, emu_hub_link(&f->hub), &f->power);
        return r;
}

static void fixture_done(struct fixture *f) {
        f->power = cb_power_free(f->power);
        CHECK(f->hub.freed);
        CHECK_MSG(!f->hub.open, "the hub was left open");
        emu_hub_done(&f->hub);
        /* nothing of the backend may be left on the loop */
        CHECK_MSG(sd_event_run(f->event, 0) == 0, "an event source outlived the backend");
        f->event = sd_event_unref(f->event);
}

/* Runs the loop until `o` got its callback (or RUN_LIMIT). */
static void run_until_done(struct fixture *f, struct outcome *o) {
        for (usec_t end = now_usec() + RUN_LIMIT; o->calls == 0 && now_usec() < end;)
                sd_event_run(f->event, 10 * USEC_PER_MSEC);
}

/* Runs the loop for `span`, whatever happens. */
static void run_for(struct fixture *f, usec_t span) {
        for (usec_t end = now_usec() + span; now_usec() < end;)
                sd_event_run(f->event, 5 * USEC_PER_MSEC);
}

static bool has_op(const struct emu_hub *h, enum emu_hub_op_kind kind) {
        for (size_t i = 0; i < h->n_ops; i++)
                if (h->ops[i].kind == kind)
                        return true;
        return false;
}

/* Runs the loop until the hub was asked for the sysfs write. */
static void run_until_sysfs(struct fixture *f) {
        for (usec_t end = now_usec() + RUN_LIMIT; !has_op(&f->hub, EMU_HUB_OP_SYSFS) && now_usec() < end;)
                sd_event_run(f->event, USEC_PER_MSEC);
        CHECK(has_op(&f->hub, EMU_HUB_OP_SYSFS));
}

/* One switch, start to end; checks the contract: `done` once, never from inside set, message iff failure. */
static struct outcome switch_port(struct fixture *f, bool on) {
        struct outcome o = { 0 };
        int r = cb_power_set(f->power, on, on_done, &o);

        CHECK_MSG(r == 0, "cb_power_set: %d", r);
        CHECK_MSG(o.calls == 0, "done ran inside cb_power_set()");
        run_until_done(f, &o);
        run_for(f, 2 * USEC_PER_MSEC);
        CHECK_MSG(o.calls == 1, "done ran %u times", o.calls);
        CHECK_MSG(o.had_message == (o.result < 0), "result %d with%s message", o.result,
                  o.had_message ? "" : "out");
        CHECK_MSG(!f->hub.open, "the hub is still open after the call");
        CHECK_MSG(f->hub.opens == f->hub.closes, "%u opens, %u closes", f->hub.opens, f->hub.closes);
        return o;
}

#define CHECK_CONTAINS(text, needle) CHECK_MSG(strstr((text), (needle)), "\"%s\" lacks \"%s\"", (text), (needle))

/* The control request recorded at `i`, byte for byte. */
static void check_control_at(int line, const struct emu_hub *h, size_t i, uint8_t rt, uint8_t req, uint16_t value,
                             uint16_t index, uint16_t length) {
        if (i >= h->n_ops || h->ops[i].kind != EMU_HUB_OP_CONTROL) {
                fprintf(stderr, "%s:%d: CHECK failed: op %zu is not a control request (%zu ops)\n", __FILE__, line, i,
                        h->n_ops);
                check_failures++;
                return;
        }
        const struct emu_hub_op *op = &h->ops[i];
        if (op->request_type != rt || op->request != req || op->value != value || op->index != index ||
            op->length != length) {
                fprintf(stderr,
                        "%s:%d: CHECK failed: op %zu is %02x %02x %04x %04x %u, expected %02x %02x %04x %04x %u\n",
                        __FILE__, line, i, op->request_type, op->request, op->value, op->index, op->length, rt, req,
                        value, index, length);
                check_failures++;
        }
        if (op->timeout != REQUEST_TIMEOUT) {
                fprintf(stderr, "%s:%d: CHECK failed: op %zu has timeout %llu\n", __FILE__, line, i,
                        (unsigned long long) op->timeout);
                check_failures++;
        }
}
#define CHECK_CONTROL(h, i, rt, req, value, index, length) \
        check_control_at(__LINE__, (h), (i), (rt), (req), (value), (index), (length))

static void check_open_at(int line, const struct emu_hub *h, size_t i, const char *hub) {
        if (i >= h->n_ops || h->ops[i].kind != EMU_HUB_OP_OPEN || strcmp(h->ops[i].hub, hub) != 0) {
                fprintf(stderr, "%s:%d: CHECK failed: op %zu is not the open of %s\n", __FILE__, line, i, hub);
                check_failures++;
        }
}
#define CHECK_OPEN(h, i, hub) check_open_at(__LINE__, (h), (i), (hub))

static void check_sysfs_at(int line, const struct emu_hub *h, size_t i, unsigned port, bool disabled) {
        if (i >= h->n_ops || h->ops[i].kind != EMU_HUB_OP_SYSFS || h->ops[i].port != port ||
            h->ops[i].disabled != disabled) {
                fprintf(stderr, "%s:%d: CHECK failed: op %zu is not the sysfs write port %u disable=%d\n", __FILE__,
                        line, i, port, disabled);
                check_failures++;
        }
}
#define CHECK_SYSFS(h, i, port, disabled) check_sysfs_at(__LINE__, (h), (i), (port), (disabled))

/* ---- port paths ---- */

static void test_port_parent(void) {
        static const struct {
                const char *port, *parent;
                unsigned number;
        } good[] = {
                { "1-1", "usb1", 1 },          { "1-1.3", "1-1", 3 },         { "2-1.4.2", "2-1.4", 2 },
                { "12-7", "usb12", 7 },        { "3-2.4.1", "3-2.4", 1 },     { "1-255.10", "1-255", 10 },
                { "1-1.2.3.4.5.6.7", "1-1.2.3.4.5.6", 7 },
        };
        static const char *const bad[] = {
                "", "usb1", "1", "1-", "1-0", "1-1.", "1-1.0", "0-1", "1-01", "1-1:1.0", "1-256", "1-1.2.3.4.5.6.7.8",
                "a-1", "1-1.3 ", "-1",
        };
        char parent[32], path[64];
        unsigned n;

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                n = 0;
                int r = cb_port_parent(good[i].port, parent, sizeof parent, &n);
                CHECK_MSG(r == 0, "%s: %d", good[i].port, r);
                CHECK_MSG(r < 0 || strcmp(parent, good[i].parent) == 0, "%s: parent %s", good[i].port, parent);
                CHECK_MSG(n == good[i].number, "%s: port %u", good[i].port, n);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                CHECK_MSG(cb_port_parent(bad[i], parent, sizeof parent, &n) == -EINVAL, "'%s' accepted", bad[i]);
        CHECK(cb_port_parent(NULL, parent, sizeof parent, &n) == -EINVAL);
        /* "usb1" needs 5 bytes */
        CHECK(cb_port_parent("1-1", parent, 4, &n) == -ENOBUFS);
        CHECK(cb_port_parent("1-1", parent, 5, &n) == 0 && strcmp(parent, "usb1") == 0);
        CHECK(cb_port_parent("1-1.3", parent, 3, NULL) == -ENOBUFS);

        CHECK(cb_port_disable_path("1-1", 3, path, sizeof path) == 0 &&
              strcmp(path, "/sys/bus/usb/devices/1-1:1.0/1-1-port3/disable") == 0);
        CHECK(cb_port_disable_path("usb2", 1, path, sizeof path) == 0 &&
              strcmp(path, "/sys/bus/usb/devices/2-0:1.0/usb2-port1/disable") == 0);
        CHECK(cb_port_disable_path("usb", 1, path, sizeof path) == -EINVAL);
        CHECK(cb_port_disable_path("usb2x", 1, path, sizeof path) == -EINVAL);
        CHECK(cb_port_disable_path("1-1", 0, path, sizeof path) == -EINVAL);
        CHECK(cb_port_disable_path("1-1.", 1, path, sizeof path) == -EINVAL);
        CHECK(cb_port_disable_path("1-1", 1, path, 40) == -ENOBUFS);

        /* the names the kernel's port/peer links point to */
        CHECK(cb_port_dir_parse("2-1-port3", parent, sizeof parent, &n) == 0 && strcmp(parent, "2-1") == 0 && n == 3);
        CHECK(cb_port_dir_parse("usb2-port1", parent, sizeof parent, &n) == 0 && strcmp(parent, "usb2") == 0 &&
              n == 1);
        CHECK(cb_port_dir_parse("4-2.1.3-port12", parent, sizeof parent, &n) == 0 &&
              strcmp(parent, "4-2.1.3") == 0 && n == 12);
        static const char *const bad_dirs[] = { "", "2-1", "2-1-port", "2-1-port0", "2-1-port03", "2-1-port3x",
                                                "-port3", "usb-port1", "1-1:1.0-port3", "2-1-port256", "usbx-port1" };
        for (size_t i = 0; i < ELEMENTSOF(bad_dirs); i++)
                CHECK_MSG(cb_port_dir_parse(bad_dirs[i], parent, sizeof parent, &n) == -EINVAL, "'%s' accepted",
                          bad_dirs[i]);
        CHECK(cb_port_dir_parse("usb2-port1", parent, 4, &n) == -ENOBUFS);
}

/* ---- the requests ---- */

static void test_request_bytes_usb2(void) {
        struct emu_hub_config hc = { .n_ports = 4 };
        struct fixture f;
        struct outcome o;

        CHECK(fixture_init(&f, &hc, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        CHECK(strcmp(cb_power_describe(f.power), "usb-hub port 3 of 1-1") == 0);

        o = switch_port(&f, false);
        CHECK_MSG(o.result == CB_POWER_OFF_CONFIRMED, "off: %d %s", o.result, o.message);
        CHECK(f.hub.n_ops == 4);
        CHECK_OPEN(&f.hub, 0, "1-1");
        CHECK_CONTROL(&f.hub, 1, 0xa0, 6, 0x2900, 0, 15); /* GET_DESCRIPTOR(HUB) */
        CHECK_CONTROL(&f.hub, 2, 0x23, 1, 8, 3, 0);       /* CLEAR_FEATURE(PORT_POWER), port 3 */
        CHECK_CONTROL(&f.hub, 3, 0xa3, 0, 0, 3, 4);       /* GET_STATUS(port 3) */
        CHECK(!f.hub.model.port_power[3]);
        CHECK(f.hub.model.port_power[1] && f.hub.model.port_power[2] && f.hub.model.port_power[4]);

        f.hub.n_ops = 0;
        o = switch_port(&f, true);
        CHECK_MSG(o.result >= 0, "on: %d %s", o.result, o.message);
        CHECK(f.hub.n_ops == 4);
        CHECK_OPEN(&f.hub, 0, "1-1");
        CHECK_CONTROL(&f.hub, 1, 0xa0, 6, 0x2900, 0, 15);
        CHECK_CONTROL(&f.hub, 2, 0x23, 3, 8, 3, 0); /* SET_FEATURE(PORT_POWER) */
        CHECK_CONTROL(&f.hub, 3, 0xa3, 0, 0, 3, 4);
        CHECK(f.hub.model.port_power[3]);
        CHECK(f.hub.opens == 2 && f.hub.closes == 2);
        fixture_done(&f);
}

static void test_request_bytes_superspeed(void) {
        struct emu_hub_config hc = { .n_ports = 4, .superspeed = true };
        struct fixture f;
        struct outcome o;

        CHECK(fixture_init(&f, &hc, "2-1.4.2", CB_HUB_POWER_REQUEST) == 0);
        o = switch_port(&f, false);
        /* the model keeps bit 8 set (link state): a backend reading the USB 2 bit calls it a liar */
        CHECK_MSG(o.result == CB_POWER_OFF_CONFIRMED, "off: %d %s", o.result, o.message);
        CHECK(f.hub.n_ops == 4);
        CHECK_OPEN(&f.hub, 0, "2-1.4");
        CHECK_CONTROL(&f.hub, 1, 0xa0, 6, 0x2a00, 0, 12); /* the SuperSpeed hub descriptor */
        CHECK_CONTROL(&f.hub, 2, 0x23, 1, 8, 2, 0);
        CHECK_CONTROL(&f.hub, 3, 0xa3, 0, 0, 2, 4);
        CHECK(!f.hub.model.port_power[2]);

        f.hub.n_ops = 0;
        o = switch_port(&f, true);
        CHECK_MSG(o.result >= 0, "on: %d %s", o.result, o.message);
        CHECK_CONTROL(&f.hub, 2, 0x23, 3, 8, 2, 0);
        CHECK(f.hub.model.port_power[2]);

        /* a SuperSpeed liar: bit 9 stays set */
        f.hub.config.liar = true;
        o = switch_port(&f, false);
        CHECK(o.result == -EIO);
        CHECK_CONTAINS(o.message, "does not really cut power");
        fixture_done(&f);
}

static void test_root_hub(void) {
        struct emu_hub_config hc = { .n_ports = 2 };
        struct fixture f;
        struct outcome o;

        CHECK(fixture_init(&f, &hc, "2-1", CB_HUB_POWER_REQUEST) == 0);
        CHECK(strcmp(cb_power_describe(f.power), "usb-hub port 1 of usb2") == 0);
        o = switch_port(&f, false);
        CHECK(o.result >= 0);
        CHECK_OPEN(&f.hub, 0, "usb2");
        CHECK_CONTROL(&f.hub, 2, 0x23, 1, 8, 1, 0);
        CHECK(!f.hub.model.port_power[1] && f.hub.model.port_power[2]);
        fixture_done(&f);
}

/* ---- refusals ---- */

static void test_refusals(void) {
        struct fixture f;
        struct outcome o;

        /* ganged: one switch for every port */
        struct emu_hub_config ganged = { .n_ports = 4, .switching = EMU_HUB_GANGED };
        CHECK(fixture_init(&f, &ganged, "1-1.3", CB_HUB_POWER_AUTO) == 0);
        o = switch_port(&f, false);
        CHECK_MSG(o.result == -EOPNOTSUPP, "ganged: %d", o.result);
        CHECK_CONTAINS(o.message, "hub 1-1");
        CHECK_CONTAINS(o.message, "ganged");
        CHECK_CONTAINS(o.message, "per-port power switching");
        CHECK_CONTAINS(o.message, "Power=command");
        CHECK_MSG(f.hub.n_ops == 2, "ganged: %zu ops: nothing may be switched", f.hub.n_ops);
        CHECK(f.hub.model.port_power[1] && f.hub.model.port_power[3]);
        fixture_done(&f);

        /* no power switching at all (both 1x encodings are the same to us) */
        struct emu_hub_config none = { .n_ports = 4, .switching = EMU_HUB_NO_SWITCHING, .has_disable_file = true };
        CHECK(fixture_init(&f, &none, "1-1.3", CB_HUB_POWER_AUTO) == 0);
        o = switch_port(&f, false);
        CHECK_MSG(o.result == -EOPNOTSUPP, "no switching: %d", o.result);
        CHECK_CONTAINS(o.message, "hub 1-1");
        CHECK_CONTAINS(o.message, "no power switching");
        CHECK_CONTAINS(o.message, "Power=command");
        CHECK(f.hub.n_ops == 2);
        fixture_done(&f);

        /* a port the hub does not have */
        struct emu_hub_config four = { .n_ports = 4 };
        CHECK(fixture_init(&f, &four, "1-1.5", CB_HUB_POWER_REQUEST) == 0);
        o = switch_port(&f, false);
        CHECK_MSG(o.result == -EOPNOTSUPP, "port 5 of 4: %d", o.result);
        CHECK_CONTAINS(o.message, "hub 1-1 has 4 ports");
        CHECK_CONTAINS(o.message, "no port 5");
        CHECK_CONTAINS(o.message, "Port=");
        CHECK(f.hub.n_ops == 2);
        fixture_done(&f);

        /* the parent is not a hub */
        struct emu_hub_config device = { .not_a_hub = true };
        CHECK(fixture_init(&f, &device, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        o = switch_port(&f, false);
        CHECK(o.result == -EOPNOTSUPP);
        CHECK_CONTAINS(o.message, "not a hub");
        CHECK(f.hub.n_ops == 1);
        fixture_done(&f);

        /* no hub there: the open fails at once, the answer still comes from the loop */
        struct emu_hub_config absent = { .absent = true };
        CHECK(fixture_init(&f, &absent, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        o = switch_port(&f, false);
        CHECK(o.result == -ENODEV);
        CHECK_CONTAINS(o.message, "hub 1-1");
        CHECK_CONTAINS(o.message, "not there");
        CHECK_CONTAINS(o.message, "Port=");
        fixture_done(&f);

        /* a hub that was there and went (unplugged, or its own power lost): said so, not "check Port=" */
        struct emu_hub_config goes = { .n_ports = 4 };
        CHECK(fixture_init(&f, &goes, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        o = switch_port(&f, false);
        CHECK(o.result == CB_POWER_OFF_CONFIRMED);
        f.hub.config.absent = true;
        o = switch_port(&f, true);
        CHECK(o.result == -ENODEV);
        CHECK_CONTAINS(o.message, "hub 1-1, the parent of port 1-1.3, is gone");
        CHECK_CONTAINS(o.message, "with every board on it");
        CHECK_MSG(!strstr(o.message, "Port="), "a hub that went is not a wrong Port=: %s", o.message);
        fixture_done(&f);

        /* a port path that is not one: refused when the backend is made, and the link is freed */
        struct emu_hub_config any = { 0 };
        struct fixture g;
        CHECK(fixture_init(&g, &any, "usb1", CB_HUB_POWER_AUTO) == -EINVAL);
        CHECK(g.hub.freed && !g.power);
        emu_hub_done(&g.hub);
        g.event = sd_event_unref(g.event);
}

static void test_liar(void) {
        struct emu_hub_config hc = { .n_ports = 4, .liar = true };
        struct fixture f;
        struct outcome o;

        CHECK(fixture_init(&f, &hc, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        o = switch_port(&f, false);
        CHECK_MSG(o.result == -EIO, "liar: %d", o.result);
        CHECK_CONTAINS(o.message, "hub 1-1");
        CHECK_CONTAINS(o.message, "port 3");
        CHECK_CONTAINS(o.message, "does not really cut power");
        CHECK(emu_hub_count(&f.hub, 0x23, 1) == 1);
        CHECK(emu_hub_count(&f.hub, 0xa3, 0) == 1);
        /* switching on is fine: the port is (still) powered */
        o = switch_port(&f, true);
        CHECK(o.result >= 0);
        fixture_done(&f);

        /* through sysfs too: the kernel's request is just as ignored */
        hc.has_disable_file = true;
        CHECK(fixture_init(&f, &hc, "1-1.3", CB_HUB_POWER_AUTO) == 0);
        o = switch_port(&f, false);
        CHECK(o.result == -EIO);
        CHECK_CONTAINS(o.message, "does not really cut power");
        fixture_done(&f);
}

/* ---- USB 3 hubs: two halves sharing VBUS ---- */

/* The fixture's hub becomes the USB 2 half "1-1" of a USB 3 hub whose SuperSpeed half "2-1" is `ss`. */
static void pair_init(struct fixture *f, struct emu_hub *ss, const struct emu_hub_config *ss_config) {
        emu_hub_init(ss, f->event, ss_config);
        emu_hub_pair(&f->hub, "1-1", ss, "2-1");
}

static void pair_check_closed(struct emu_hub *ss) {
        CHECK_MSG(!ss->open, "the peer hub was left open");
        CHECK_MSG(ss->opens == ss->closes, "peer: %u opens, %u closes", ss->opens, ss->closes);
}

static void test_usb3_peer(void) {
        struct emu_hub_config usb2 = { .n_ports = 4 }, ss_config = { .n_ports = 4, .superspeed = true };
        struct emu_hub ss;
        struct fixture f;
        struct outcome o;

        /* hub requests: port 3 of both halves, each checked */
        CHECK(fixture_init(&f, &usb2, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        pair_init(&f, &ss, &ss_config);
        o = switch_port(&f, false);
        CHECK_MSG(o.result == CB_POWER_OFF_CONFIRMED, "off: %d %s", o.result, o.message);
        CHECK_MSG(!emu_hub_vbus(&f.hub, 3), "port 3 keeps VBUS through its SuperSpeed peer");
        CHECK(!f.hub.model.port_power[3] && !ss.model.port_power[3]);
        CHECK(emu_hub_vbus(&f.hub, 2) && ss.model.port_power[2]);
        CHECK(f.hub.n_ops == 4);
        CHECK_CONTROL(&f.hub, 2, 0x23, 1, 8, 3, 0);
        CHECK(ss.n_ops == 4);
        CHECK_OPEN(&ss, 0, "2-1");
        CHECK_CONTROL(&ss, 1, 0xa0, 6, 0x2a00, 0, 12); /* the other half is the SuperSpeed hub */
        CHECK_CONTROL(&ss, 2, 0x23, 1, 8, 3, 0);
        CHECK_CONTROL(&ss, 3, 0xa3, 0, 0, 3, 4);
        pair_check_closed(&ss);

        f.hub.n_ops = ss.n_ops = 0;
        o = switch_port(&f, true);
        CHECK_MSG(o.result >= 0, "on: %d %s", o.result, o.message);
        CHECK(f.hub.model.port_power[3] && ss.model.port_power[3]);
        CHECK_CONTROL(&ss, 2, 0x23, 3, 8, 3, 0);
        pair_check_closed(&ss);

        /* the SuperSpeed half says it switched off but keeps its port powered: VBUS stays on */
        ss.config.liar = true;
        o = switch_port(&f, false);
        CHECK_MSG(o.result == -EIO, "liar peer: %d", o.result);
        CHECK_CONTAINS(o.message, "hub 2-1 (the USB 3 peer of port 3 of hub 1-1)");
        CHECK_CONTAINS(o.message, "does not really cut power");
        CHECK(emu_hub_vbus(&f.hub, 3));
        pair_check_closed(&ss);
        ss.config.liar = false;

        /* the SuperSpeed half gone (its own failure): not a success */
        ss.config.absent = true;
        o = switch_port(&f, false);
        CHECK_MSG(o.result == -ENODEV, "absent peer: %d", o.result);
        CHECK_CONTAINS(o.message, "hub 2-1");
        CHECK_CONTAINS(o.message, "may still be on");
        fixture_done(&f);
        emu_hub_done(&ss);

        /* the kernel's disable file, on both halves */
        usb2.has_disable_file = ss_config.has_disable_file = true;
        CHECK(fixture_init(&f, &usb2, "1-1.3", CB_HUB_POWER_AUTO) == 0);
        pair_init(&f, &ss, &ss_config);
        o = switch_port(&f, false);
        CHECK_MSG(o.result == CB_POWER_OFF_CONFIRMED, "sysfs off: %d %s", o.result, o.message);
        CHECK_SYSFS(&f.hub, 2, 3, true);
        CHECK_SYSFS(&ss, 2, 3, true);
        CHECK(!emu_hub_vbus(&f.hub, 3) && f.hub.port_disabled[3] && ss.port_disabled[3]);
        o = switch_port(&f, true);
        CHECK(o.result >= 0 && emu_hub_vbus(&f.hub, 3) && !ss.port_disabled[3]);
        pair_check_closed(&ss);
        fixture_done(&f);
        emu_hub_done(&ss);
}

/* ---- the method ---- */

static void test_methods(void) {
        struct fixture f;
        struct outcome o;

        /* auto with the file: sysfs, and no port power request of our own */
        struct emu_hub_config with_file = { .n_ports = 4, .has_disable_file = true };
        CHECK(fixture_init(&f, &with_file, "1-1.3", CB_HUB_POWER_AUTO) == 0);
        o = switch_port(&f, false);
        CHECK_MSG(o.result >= 0, "auto/sysfs off: %d %s", o.result, o.message);
        CHECK(f.hub.n_ops == 4);
        CHECK_CONTROL(&f.hub, 1, 0xa0, 6, 0x2900, 0, 15);
        CHECK_SYSFS(&f.hub, 2, 3, true);
        CHECK_CONTROL(&f.hub, 3, 0xa3, 0, 0, 3, 4);
        CHECK(emu_hub_count(&f.hub, 0x23, 1) == 0 && emu_hub_count(&f.hub, 0x23, 3) == 0);
        CHECK(f.hub.port_disabled[3] && !f.hub.model.port_power[3]);
        f.hub.n_ops = 0;
        o = switch_port(&f, true);
        CHECK(o.result >= 0);
        CHECK_SYSFS(&f.hub, 2, 3, false);
        CHECK(!f.hub.port_disabled[3] && f.hub.model.port_power[3]);
        fixture_done(&f);

        /* auto without it: the request */
        struct emu_hub_config no_file = { .n_ports = 4 };
        CHECK(fixture_init(&f, &no_file, "1-1.3", CB_HUB_POWER_AUTO) == 0);
        o = switch_port(&f, false);
        CHECK(o.result >= 0);
        CHECK(f.hub.n_ops == 4);
        CHECK_CONTROL(&f.hub, 2, 0x23, 1, 8, 3, 0);
        CHECK(!f.hub.model.port_power[3]);
        fixture_done(&f);

        /* request, although the file is there */
        CHECK(fixture_init(&f, &with_file, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        o = switch_port(&f, false);
        CHECK(o.result >= 0);
        CHECK_CONTROL(&f.hub, 2, 0x23, 1, 8, 3, 0);
        CHECK(!f.hub.port_disabled[3]);
        fixture_done(&f);

        /* sysfs, but this kernel has no file: a clear refusal, nothing switched */
        CHECK(fixture_init(&f, &no_file, "1-1.3", CB_HUB_POWER_SYSFS) == 0);
        o = switch_port(&f, false);
        CHECK_MSG(o.result == -EOPNOTSUPP, "sysfs without the file: %d", o.result);
        CHECK_CONTAINS(o.message, "/sys/bus/usb/devices/1-1:1.0/1-1-port3/disable");
        CHECK_CONTAINS(o.message, "HubPowerMethod=request");
        CHECK(emu_hub_count(&f.hub, 0x23, 1) == 0);
        CHECK(f.hub.model.port_power[3]);
        fixture_done(&f);

        /* sysfs, file there but read-only (systemd's ProtectKernelTunables=) */
        struct emu_hub_config read_only = { .n_ports = 4, .has_disable_file = true, .disable_open_error = -EROFS };
        CHECK(fixture_init(&f, &read_only, "1-1.3", CB_HUB_POWER_SYSFS) == 0);
        o = switch_port(&f, false);
        CHECK(o.result == -EROFS);
        CHECK_CONTAINS(o.message, "cannot write /sys/bus/usb/devices/1-1:1.0/1-1-port3/disable");
        CHECK_CONTAINS(o.message, "ProtectKernelTunables");
        CHECK(f.hub.model.port_power[3]);
        fixture_done(&f);

        /* ... where auto falls back to the request */
        CHECK(fixture_init(&f, &read_only, "1-1.3", CB_HUB_POWER_AUTO) == 0);
        o = switch_port(&f, false);
        CHECK(o.result >= 0);
        CHECK_CONTROL(&f.hub, 2, 0x23, 1, 8, 3, 0);
        CHECK(!f.hub.model.port_power[3]);
        fixture_done(&f);

        /* the write itself fails */
        struct emu_hub_config write_fails = { .n_ports = 4, .has_disable_file = true, .sysfs_error = -EIO };
        CHECK(fixture_init(&f, &write_fails, "1-1.3", CB_HUB_POWER_AUTO) == 0);
        o = switch_port(&f, false);
        CHECK(o.result == -EIO);
        CHECK_CONTAINS(o.message, "1-1-port3/disable");
        CHECK(emu_hub_count(&f.hub, 0xa3, 0) == 0);
        fixture_done(&f);
}

/* ---- failures on the way ---- */

static void test_timeouts_and_stalls(void) {
        struct fixture f;
        struct outcome o;
        usec_t start;

        /* the switch request is never answered: -ETIMEDOUT after the request's timeout */
        struct emu_hub_config silent = { .n_ports = 4,
                                         .fault = { EMU_HUB_FAULT_NO_ANSWER, 0x23, 1 } };
        CHECK(fixture_init(&f, &silent, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        start = now_usec();
        o = switch_port(&f, false);
        CHECK_MSG(o.result == -ETIMEDOUT, "no answer: %d", o.result);
        CHECK(now_usec() - start >= REQUEST_TIMEOUT);
        CHECK_CONTAINS(o.message, "hub 1-1");
        CHECK(emu_hub_count(&f.hub, 0xa3, 0) == 0);
        fixture_done(&f);

        /* the hub descriptor is stalled */
        struct emu_hub_config stall_desc = { .n_ports = 4, .fault = { EMU_HUB_FAULT_STALL, 0xa0, 6 } };
        CHECK(fixture_init(&f, &stall_desc, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        o = switch_port(&f, false);
        CHECK_MSG(o.result == -EPIPE, "stalled descriptor: %d", o.result);
        CHECK_CONTAINS(o.message, "hub descriptor");
        CHECK_CONTAINS(o.message, "stalled");
        CHECK(emu_hub_count(&f.hub, 0x23, 1) == 0);
        fixture_done(&f);

        /* the switch is stalled */
        struct emu_hub_config stall_switch = { .n_ports = 4, .fault = { EMU_HUB_FAULT_STALL, 0x23, 3 } };
        CHECK(fixture_init(&f, &stall_switch, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        o = switch_port(&f, true);
        CHECK(o.result == -EPIPE);
        CHECK_CONTAINS(o.message, "refused to switch port 3 on");
        fixture_done(&f);

        /* the status is never answered */
        struct emu_hub_config silent_status = { .n_ports = 4, .fault = { EMU_HUB_FAULT_NO_ANSWER, 0xa3, 0 } };
        CHECK(fixture_init(&f, &silent_status, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        o = switch_port(&f, false);
        CHECK(o.result == -ETIMEDOUT);
        CHECK_CONTAINS(o.message, "status");
        fixture_done(&f);

        /* the sysfs write never returns: the backend's own watchdog */
        struct emu_hub_config stuck = { .n_ports = 4, .has_disable_file = true, .sysfs_no_answer = true };
        CHECK(fixture_init(&f, &stuck, "1-1.3", CB_HUB_POWER_AUTO) == 0);
        start = now_usec();
        o = switch_port(&f, false);
        CHECK_MSG(o.result == -ETIMEDOUT, "stuck sysfs: %d", o.result);
        CHECK(now_usec() - start >= SLOW_TIMEOUT);
        CHECK_CONTAINS(o.message, "disable file");
        CHECK(f.hub.cancels == 1);
        fixture_done(&f);

        /* the open never completes */
        struct emu_hub_config stuck_open = { .n_ports = 4, .open_no_answer = true };
        CHECK(fixture_init(&f, &stuck_open, "1-1.3", CB_HUB_POWER_AUTO) == 0);
        o = switch_port(&f, false);
        CHECK(o.result == -ETIMEDOUT);
        CHECK_CONTAINS(o.message, "opening the hub");
        fixture_done(&f);
}

/* ---- cancel, busy, free ---- */

static void test_cancel(void) {
        struct fixture f;
        struct outcome o = { 0 };

        /* mid request */
        struct emu_hub_config silent = { .n_ports = 4, .fault = { EMU_HUB_FAULT_NO_ANSWER, 0x23, 1 } };
        CHECK(fixture_init(&f, &silent, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        CHECK(cb_power_set(f.power, false, on_done, &o) == 0);
        for (usec_t end = now_usec() + RUN_LIMIT; emu_hub_count(&f.hub, 0x23, 1) == 0 && now_usec() < end;)
                sd_event_run(f.event, USEC_PER_MSEC);
        CHECK(emu_hub_count(&f.hub, 0x23, 1) == 1);
        cb_power_cancel(f.power);
        cb_power_cancel(f.power); /* twice is once */
        CHECK(o.calls == 0);
        run_until_done(&f, &o);
        run_for(&f, 2 * REQUEST_TIMEOUT);
        CHECK(o.calls == 1);
        CHECK_MSG(o.result == -ECANCELED, "cancel: %d", o.result);
        CHECK(o.had_message);
        CHECK(!f.hub.open);
        CHECK(emu_hub_count(&f.hub, 0xa3, 0) == 0);
        /* idle: nothing happens */
        cb_power_cancel(f.power);
        run_for(&f, 2 * USEC_PER_MSEC);
        CHECK(o.calls == 1);
        fixture_done(&f);

        /* right after set, before anything ran */
        struct emu_hub_config fine = { .n_ports = 4 };
        o = (struct outcome){ 0 };
        CHECK(fixture_init(&f, &fine, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        CHECK(cb_power_set(f.power, false, on_done, &o) == 0);
        cb_power_cancel(f.power);
        run_until_done(&f, &o);
        run_for(&f, 2 * USEC_PER_MSEC);
        CHECK(o.calls == 1 && o.result == -ECANCELED);
        CHECK(emu_hub_count(&f.hub, 0x23, 1) == 0);
        CHECK(f.hub.model.port_power[3]);
        fixture_done(&f);

        /* a hub that is not there: the result is in but not delivered yet; cancel still wins */
        struct emu_hub_config absent = { .absent = true };
        o = (struct outcome){ 0 };
        CHECK(fixture_init(&f, &absent, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        CHECK(cb_power_set(f.power, false, on_done, &o) == 0);
        cb_power_cancel(f.power);
        run_until_done(&f, &o);
        CHECK(o.calls == 1 && o.result == -ECANCELED);
        fixture_done(&f);

        /* mid sysfs write */
        struct emu_hub_config stuck = { .n_ports = 4, .has_disable_file = true, .sysfs_no_answer = true };
        o = (struct outcome){ 0 };
        CHECK(fixture_init(&f, &stuck, "1-1.3", CB_HUB_POWER_SYSFS) == 0);
        CHECK(cb_power_set(f.power, false, on_done, &o) == 0);
        run_until_sysfs(&f);
        CHECK(o.calls == 0);
        cb_power_cancel(f.power);
        run_until_done(&f, &o);
        CHECK(o.calls == 1 && o.result == -ECANCELED);
        fixture_done(&f);
}

static void test_busy(void) {
        struct emu_hub_config hc = { .n_ports = 4 };
        struct outcome o = { 0 }, second = { 0 };
        struct fixture f;

        CHECK(fixture_init(&f, &hc, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        CHECK(cb_power_set(f.power, false, on_done, &o) == 0);
        CHECK(cb_power_set(f.power, true, on_done, &second) == -EBUSY);
        run_until_done(&f, &o);
        run_for(&f, 2 * USEC_PER_MSEC);
        CHECK(o.calls == 1 && o.result >= 0);
        CHECK(second.calls == 0);
        CHECK(!f.hub.model.port_power[3]);

        /* the callback starts the next call */
        o = (struct outcome){ 0 };
        chained_second = (struct outcome){ 0 };
        chained_power = f.power;
        CHECK(cb_power_set(f.power, false, on_done_then_on, &o) == 0);
        for (usec_t end = now_usec() + RUN_LIMIT; chained_second.calls == 0 && now_usec() < end;)
                sd_event_run(f.event, 10 * USEC_PER_MSEC);
        CHECK(o.calls == 1 && o.result >= 0);
        CHECK(o.second_set == 0);
        CHECK(chained_second.calls == 1 && chained_second.result >= 0);
        CHECK(f.hub.model.port_power[3]);
        CHECK(f.hub.opens == 3 && f.hub.closes == 3);
        fixture_done(&f);
}

static void test_free_while_running(void) {
        struct fixture f;
        struct outcome o = { 0 };

        /* before anything ran */
        struct emu_hub_config hc = { .n_ports = 4 };
        CHECK(fixture_init(&f, &hc, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        CHECK(cb_power_set(f.power, false, on_done, &o) == 0);
        f.power = cb_power_free(f.power);
        CHECK(f.hub.freed && !f.hub.open);
        run_for(&f, 5 * USEC_PER_MSEC);
        CHECK(o.calls == 0);
        fixture_done(&f);

        /* mid request (its timeout must not fire into freed memory either) */
        struct emu_hub_config silent = { .n_ports = 4, .fault = { EMU_HUB_FAULT_NO_ANSWER, 0x23, 1 } };
        o = (struct outcome){ 0 };
        CHECK(fixture_init(&f, &silent, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        CHECK(cb_power_set(f.power, false, on_done, &o) == 0);
        for (usec_t end = now_usec() + RUN_LIMIT; emu_hub_count(&f.hub, 0x23, 1) == 0 && now_usec() < end;)
                sd_event_run(f.event, USEC_PER_MSEC);
        f.power = cb_power_free(f.power);
        run_for(&f, 2 * REQUEST_TIMEOUT);
        CHECK(o.calls == 0);
        fixture_done(&f);

        /* mid sysfs write */
        struct emu_hub_config stuck = { .n_ports = 4, .has_disable_file = true, .sysfs_no_answer = true };
        o = (struct outcome){ 0 };
        CHECK(fixture_init(&f, &stuck, "1-1.3", CB_HUB_POWER_AUTO) == 0);
        CHECK(cb_power_set(f.power, false, on_done, &o) == 0);
        run_until_sysfs(&f);
        f.power = cb_power_free(f.power);
        run_for(&f, 2 * SLOW_TIMEOUT);
        CHECK(o.calls == 0);
        fixture_done(&f);

        /* from inside its own callback */
        o = (struct outcome){ 0 };
        CHECK(fixture_init(&f, &hc, "1-1.3", CB_HUB_POWER_REQUEST) == 0);
        o.free_in_callback = &f.power;
        CHECK(cb_power_set(f.power, false, on_done, &o) == 0);
        run_until_done(&f, &o);
        CHECK(o.calls == 1 && o.result >= 0);
        CHECK(!f.power && f.hub.freed);
        fixture_done(&f);
}

int main(void) {
        cb_log_open(CB_LOG_STDERR);
        cb_log_set_max_level(getenv("CB_TEST_DEBUG") ? LOG_DEBUG : LOG_CRIT);

        test_port_parent();
        test_request_bytes_usb2();
        test_request_bytes_superspeed();
        test_root_hub();
        test_refusals();
        test_liar();
        test_usb3_peer();
        test_methods();
        test_timeouts_and_stalls();
        test_cancel();
        test_busy();
        test_free_while_running();
        return check_exit("test-power-hub");
}
