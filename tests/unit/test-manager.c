/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The real manager through its two seams: presence is told to it as udev
 * tells the daemon (the emulated bus's arrivals and departures become
 * cb_manager_device_added()/removed() with sysfs-like properties), and it
 * opens devices through an opener backed by the in-process emulated boards.
 * The stage of each device is the manager's own classification of those
 * properties: the harness never tells it.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "board-verify.h"
#include "check.h"
#include "log.h"
#include "node-metadata.h"
#include "manager.h"
#include "world.h"

#define RUN_TIMEOUT (20 * USEC_PER_SEC)
#define MAX_PORTS 4

struct harness;

struct test_device {
        struct harness *h;
        struct emu_port *port;
        unsigned generation; /* the appearance it was opened on */
        struct cb_transport transport;
        int result;          /* what the open reports */
        cb_device_open_done_t done;
        void *userdata;
        sd_event_source *completion;
        struct test_device *next_pending;
};

struct harness {
        struct world w; /* the boot files, the loop and a configuration to start from */
        struct cb_manager *manager;
        struct emu_port ports[MAX_PORTS];
        char names[MAX_PORTS][16];
        size_t n_ports;
        struct emu_bus_listener listener;

        struct test_device *pending; /* opens not yet reported */
        int fail_sync;               /* the next open fails at once with this errno (0: none) */
        int fail_async;              /* the next open reports this errno */
        unsigned opens, opened, closes;
        unsigned opened_not_boot;    /* opens of a device that is not in ROM or second stage */
        unsigned live, max_live;     /* devices opened and not closed */
        unsigned adds, removes;
};

static size_t port_index(const struct harness *h, const struct emu_port *p) {
        return (size_t) (p - h->ports);
}

static struct emu_port *port_named(struct harness *h, const char *name) {
        for (size_t i = 0; i < h->n_ports; i++)
                if (strcmp(h->names[i], name) == 0)
                        return &h->ports[i];
        return NULL;
}

/* The serial string at `index`, as the kernel shows it in sysfs (ASCII of the UTF-16LE descriptor). */
static void string_at(const struct emu_board *b, uint8_t index, char *buf, size_t size) {
        uint8_t d[128];
        size_t n = index ? emu_board_string_descriptor(b, index, d, sizeof d) : 0, k = 0;

        for (size_t i = 2; i + 1 < n && k + 1 < size; i += 2)
                buf[k++] = (char) d[i];
        buf[k] = '\0';
}

/* What udev reports of the board's appearance: properties from its descriptors, never a stage. */
static void on_arrived(void *userdata, struct emu_port *p) {
        struct harness *h = userdata;
        uint8_t desc[256];
        char devnode[64], serial[64];
        size_t n = emu_board_descriptors(&p->board, desc, sizeof desc);
        struct cb_presence presence = {
                .port = h->names[port_index(h, p)],
                .busnum = (unsigned) port_index(h, p) + 1,
                .devnum = p->board.generation + 1,
                .vid = emu_board_vid(&p->board),
                .pid = emu_board_pid(&p->board),
                .serial_index = n >= 18 ? desc[16] : 0,
                .devnode = devnode,
        };

        snprintf(devnode, sizeof devnode, "/dev/bus/usb/%03u/%03u", presence.busnum, presence.devnum);
        string_at(&p->board, presence.serial_index, serial, sizeof serial);
        presence.serial = serial[0] ? serial : NULL;
        h->adds++;
        cb_manager_device_added(h->manager, &presence);
}

static void on_left(void *userdata, struct emu_port *p) {
        struct harness *h = userdata;

        h->removes++;
        cb_manager_device_removed(h->manager, h->names[port_index(h, p)]);
}

/* ---- the opener: the board's appearance the presence names, opened later on the loop (as usb.c's worker does) ---- */

static void unlink_pending(struct harness *h, struct test_device *d) {
        for (struct test_device **pp = &h->pending; *pp; pp = &(*pp)->next_pending)
                if (*pp == d) {
                        *pp = d->next_pending;
                        return;
                }
}

static void report_open(struct test_device *d) {
        struct harness *h = d->h;
        cb_device_open_done_t done = d->done;
        void *userdata = d->userdata;
        int result = d->result;

        /* the board left (or came back as another device) while it was being opened: usbfs says so */
        if (result == 0 && (d->port->board.stage == EMU_STAGE_OFF || d->port->board.generation != d->generation))
                result = -ENODEV;
        unlink_pending(h, d);
        d->completion = sd_event_source_disable_unref(d->completion);
        if (result < 0) {
                free(d);
                done(userdata, result, NULL);
                return;
        }
        h->opened++;
        h->live++;
        if (h->live > h->max_live)
                h->max_live = h->live;
        done(userdata, 0, d);
}

static int on_open_due(sd_event_source *s, void *userdata) {
        report_open(userdata);
        return 0;
}

static int opener_open(void *impl, const struct cb_presence *presence, cb_device_open_done_t done, void *userdata) {
        struct harness *h = impl;
        struct emu_port *p = port_named(h, presence->port);
        struct test_device *d;
        int r;

        h->opens++;
        /* the node udev named: this appearance of the board, or none */
        if (!p || presence->devnum != p->board.generation + 1)
                return -ENODEV;
        if (p->board.stage != EMU_STAGE_ROM && p->board.stage != EMU_STAGE_SERVER)
                h->opened_not_boot++;
        if (h->fail_sync) {
                r = -h->fail_sync;
                h->fail_sync = 0;
                return r;
        }
        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        *d = (struct test_device){ .h = h, .port = p, .generation = p->board.generation,
                                   .transport = emu_port_transport(p), .result = -h->fail_async,
                                   .done = done, .userdata = userdata };
        h->fail_async = 0;
        r = sd_event_add_defer(h->w.event, &d->completion, on_open_due, d);
        if (r < 0) {
                free(d);
                return r;
        }
        d->next_pending = h->pending;
        h->pending = d;
        return 0;
}

static struct cb_transport opener_transport(void *impl, void *device) {
        return ((struct test_device *) device)->transport;
}

static void opener_close(void *impl, void *device) {
        struct harness *h = impl;
        struct test_device *d = device;

        /* given up: what the node left in flight is cancelled, as usb.c's close does (the port's one
           transfer slot is this device's only while it is the board's current appearance) */
        if (d->generation == d->port->board.generation)
                d->transport.ops->cancel(d->transport.impl);
        h->closes++;
        h->live--;
        free(d);
}

static void opener_cancel_pending(void *impl) {
        struct harness *h = impl;

        while (h->pending) {
                h->pending->result = -ECANCELED;
                report_open(h->pending);
        }
}

static const struct cb_device_opener_ops test_opener_ops = {
        .open = opener_open,
        .transport = opener_transport,
        .close = opener_close,
        .cancel_pending = opener_cancel_pending,
};

/* ---- the harness ---- */

static void harness_init(struct harness *h, const char *sections, bool auto_nodes) {
        _cleanup_free_ char *text = NULL;
        struct cb_config *config = NULL;
        char state[160];

        memset(h, 0, sizeof *h);
        REQUIRE(world_init(&h->w, false) == 0);
        snprintf(state, sizeof state, "%s/state", h->w.dir);
        REQUIRE(mkdir(state, 0755) == 0);
        text = cb_format("[Daemon]\nBootDirectory=%s\nStateDirectory=%s\nAutoNodes=%s\n%s", h->w.boot_dir, state,
                         auto_nodes ? "yes" : "no", sections ? sections : "");
        REQUIRE(text);
        REQUIRE(cb_config_load_string("test.conf", text, &config) == 0);
        world_fast_timeouts(config);
        h->listener = (struct emu_bus_listener){ .arrived = on_arrived, .left = on_left, .userdata = h };
        REQUIRE(cb_manager_new(h->w.event, config,
                               &(struct cb_manager_seams){ .opener = { &test_opener_ops, h } }, &h->manager) == 0);
        REQUIRE(cb_manager_start(h->manager) == 0);
}

static struct emu_port *harness_add(struct harness *h, const char *port, const struct emu_board_config *bc) {
        struct emu_port *p = &h->ports[h->n_ports];

        REQUIRE(h->n_ports < MAX_PORTS);
        snprintf(h->names[h->n_ports], sizeof h->names[0], "%s", port);
        emu_port_init(p, h->w.event, bc, NULL);
        p->listener = &h->listener;
        h->n_ports++;
        return p;
}

static void harness_done(struct harness *h) {
        h->manager = cb_manager_free(h->manager);
        CHECK_MSG(h->live == 0, "%u device(s) the manager opened were never closed", h->live);
        CHECK_MSG(!h->pending, "an open was left pending");
        for (size_t i = 0; i < h->n_ports; i++) {
                h->ports[i].bus_source = sd_event_source_disable_unref(h->ports[i].bus_source);
                h->ports[i].listener = NULL;
        }
        while (sd_event_run(h->w.event, 0) > 0)
                ;
        for (size_t i = 0; i < h->n_ports; i++)
                emu_port_done(&h->ports[i]);
        world_done(&h->w);
}

static struct cb_node *node_of(struct harness *h, const char *name) {
        return cb_manager_find_node(h->manager, name);
}

/* Runs the loop until `done(h, arg)` holds or the time is up; returns whether it held. */
static bool run_until(struct harness *h, bool (*done)(struct harness *h, const void *arg), const void *arg) {
        usec_t deadline = now_usec() + RUN_TIMEOUT;

        while (!done(h, arg)) {
                usec_t now = now_usec();

                if (now >= deadline || sd_event_run(h->w.event, deadline - now) < 0)
                        return false;
        }
        return true;
}

struct wanted {
        const char *node;
        enum cb_node_state state;
};

static bool node_in(struct harness *h, const void *arg) {
        const struct wanted *want = arg;
        struct cb_node *n = node_of(h, want->node);

        return n && cb_node_state(n) == want->state;
}

static bool all_settled(struct harness *h, const void *arg) {
        size_t n = cb_manager_n_nodes(h->manager);

        for (size_t i = 0; i < n; i++) {
                enum cb_node_state s = cb_node_state(cb_manager_node(h->manager, i));
                if (s != CB_NODE_UP && s != CB_NODE_FAILED && s != CB_NODE_NEEDS_POWER && s != CB_NODE_OFF)
                        return false;
        }
        return n > 0;
}

static void dump(struct cb_node *n) {
        const struct cb_node_event *e;

        if (!n)
                return;
        fprintf(stderr, "  %s: %s, attempt %u, last error: %s\n", cb_node_name(n), cb_node_state_name(cb_node_state(n)),
                cb_node_attempt(n), cb_node_last_error(n) ? cb_node_last_error(n) : "-");
        for (unsigned k = 0; (e = cb_node_event_at(n, k)); k++)
                fprintf(stderr, "    [%s #%u] %s\n", cb_node_state_name(e->state), e->attempt, e->message);
}

/* Whether the node's events went through `states` in this order (others between them allowed). */
static bool passed_through(const struct cb_node *n, const enum cb_node_state *states, size_t n_states) {
        const struct cb_node_event *e;
        size_t next = 0;

        for (unsigned k = 0; next < n_states && (e = cb_node_event_at(n, k)); k++)
                if (e->state == states[next])
                        next++;
        return next == n_states;
}

static bool board_holds_files(struct harness *h, const struct emu_port *p, char *why, size_t size) {
        struct emu_boot_truth truth;

        emu_boot_truth_load(&truth, h->w.boot_dir);
        return emu_board_verify(&p->board, &truth, why, size);
}

/* ---- the tests ---- */

struct soc_case {
        const char *what;
        struct emu_board_config board;
        unsigned appearances; /* of a Pi boot device: each one is opened */
};

/* A board added in its ROM gets its node and is booted through its stages to up, on attempt 1. */
static void test_boot_to_up(const struct soc_case *c) {
        static const enum cb_node_state path[] = { CB_NODE_ROM, CB_NODE_LOADING, CB_NODE_SERVING, CB_NODE_UP };
        struct harness h;
        struct emu_port *p;
        struct cb_node *n;
        char why[256];
        unsigned failures = check_failures;

        harness_init(&h, "[Node node1]\nPort=1-1\n", false);
        p = harness_add(&h, "1-1", &c->board);
        n = node_of(&h, "node1");
        REQUIRE(n);
        CHECK_MSG(cb_node_state(n) == CB_NODE_ABSENT, "%s: a node with no board is %s", c->what,
                  cb_node_state_name(cb_node_state(n)));
        emu_port_plug(p);
        /* the add opens the device; the node hears of it once the open is through */
        CHECK_MSG(h.opens == 1 && h.pending && !cb_node_device_present(n), "%s: the add did not open the device",
                  c->what);
        CHECK_MSG(run_until(&h, node_in, &(struct wanted){ "node1", CB_NODE_UP }), "%s: node1 never came up", c->what);
        CHECK_MSG(cb_node_attempt(n) == 1, "%s: up on attempt %u", c->what, cb_node_attempt(n));
        CHECK_MSG(passed_through(n, path, ELEMENTSOF(path)), "%s: the node did not go rom, loading, serving, up",
                  c->what);
        CHECK_MSG(board_holds_files(&h, p, why, sizeof why), "%s: %s", c->what, why);
        /* the ROM and each second stage were opened; the booted board's gadget never is */
        CHECK_MSG(h.opened == c->appearances, "%s: %u devices opened, expected %u", c->what, h.opened,
                  c->appearances);
        CHECK_MSG(h.opened_not_boot == 0, "%s: the manager opened a device that is no Pi boot device", c->what);
        CHECK_MSG(h.live == 0 && h.closes == h.opened, "%s: %u device(s) still open with the gadget on the port",
                  c->what, h.live);
        CHECK_MSG(cb_manager_n_nodes(h.manager) == 1, "%s: %zu nodes", c->what, cb_manager_n_nodes(h.manager));
        if (check_failures > failures)
                dump(n);
        harness_done(&h);
}

/* A board leaving mid-boot: the node hears it at once, its device is closed, and a replug boots it. */
static void test_remove_mid_boot(void) {
        struct harness h;
        struct emu_port *p;
        struct cb_node *n;
        unsigned failures = check_failures;

        harness_init(&h, "[Node node1]\nPort=1-1\n", false);
        p = harness_add(&h, "1-1", &(struct emu_board_config){ 0 });
        n = node_of(&h, "node1");
        emu_port_plug(p);
        CHECK(run_until(&h, node_in, &(struct wanted){ "node1", CB_NODE_SERVING }));
        CHECK_MSG(h.live == 1, "serving: %u devices open", h.live);
        emu_port_unplug(p);
        /* no loop iteration between: the manager tells the node and closes the device in the removal itself */
        CHECK_MSG(!cb_node_device_present(n), "the node still thinks its board is there");
        CHECK_MSG(h.live == 0, "the device that left is still open");
        CHECK(run_until(&h, all_settled, NULL));
        CHECK_MSG(cb_node_state(n) == CB_NODE_NEEDS_POWER, "after the unplug (no Power=) node1 is %s",
                  cb_node_state_name(cb_node_state(n)));
        CHECK_MSG(cb_node_last_error(n) && strstr(cb_node_last_error(n), "left the bus"), "last error: %s",
                  cb_node_last_error(n) ? cb_node_last_error(n) : "(none)");
        emu_port_plug(p);
        CHECK_MSG(run_until(&h, node_in, &(struct wanted){ "node1", CB_NODE_UP }), "the replugged board never came up");
        if (check_failures > failures)
                dump(n);
        harness_done(&h);
}

/* A port with no [Node] section: nothing with AutoNodes=no; a node of its own with AutoNodes=yes, not for a non-Pi. */
static void test_unconfigured_port(void) {
        struct harness h;
        struct emu_port *p;
        struct cb_node *n;

        harness_init(&h, "[Node node1]\nPort=1-1\n", false);
        p = harness_add(&h, "2-1", &(struct emu_board_config){ 0 });
        emu_port_plug(p);
        CHECK_MSG(cb_manager_n_nodes(h.manager) == 1, "AutoNodes=no: %zu nodes", cb_manager_n_nodes(h.manager));
        CHECK_MSG(h.opens == 0, "AutoNodes=no: a board on an unconfigured port was opened");
        CHECK(node_of(&h, "2-1") == NULL);
        CHECK(cb_node_state(node_of(&h, "node1")) == CB_NODE_ABSENT && !cb_node_device_present(node_of(&h, "node1")));
        harness_done(&h);

        harness_init(&h, NULL, true);
        /* a keyboard on a port of its own is not a board: no node */
        cb_manager_device_added(h.manager, &(struct cb_presence){ .port = "3-1", .devnode = "/dev/bus/usb/003/002",
                                                                  .vid = 0x046d, .pid = 0xc31c });
        CHECK_MSG(cb_manager_n_nodes(h.manager) == 0 && h.opens == 0, "a keyboard got a node");
        p = harness_add(&h, "2-1", &(struct emu_board_config){ 0 });
        emu_port_plug(p);
        n = node_of(&h, "2-1");
        CHECK_MSG(n && cb_manager_n_nodes(h.manager) == 1, "AutoNodes=yes: no node named after the port");
        CHECK_MSG(run_until(&h, node_in, &(struct wanted){ "2-1", CB_NODE_UP }), "the port's node never came up");
        CHECK(n && !cb_node_configured(n));
        harness_done(&h);
}

/* An open that fails leaves the node without a device, saying why; the next add of the port tries again. */
static void test_open_fails(bool at_once) {
        const char *how = at_once ? "at once" : "reported";
        struct harness h;
        struct emu_port *p;
        struct cb_node *n;
        const char *err;
        unsigned failures = check_failures;

        harness_init(&h, "[Node node1]\nPort=1-1\n", false);
        p = harness_add(&h, "1-1", &(struct emu_board_config){ 0 });
        n = node_of(&h, "node1");
        if (at_once)
                h.fail_sync = EACCES;
        else
                h.fail_async = EBUSY;
        emu_port_plug(p);
        while (sd_event_run(h.w.event, 0) > 0 && h.pending)
                ;
        CHECK_MSG(h.opens == 1 && h.opened == 0, "%s: %u opens, %u opened", how, h.opens, h.opened);
        err = cb_node_last_error(n);
        CHECK_MSG(err && strstr(err, "/dev/bus/usb/001/002") && strstr(err, strerror(at_once ? EACCES : EBUSY)),
                  "%s: the node does not say which device failed and why: %s", how, err ? err : "(none)");
        CHECK_MSG(cb_node_state(n) == CB_NODE_ABSENT, "%s: with no usable device the node is %s", how,
                  cb_node_state_name(cb_node_state(n)));
        /* the board is seen again (udev's next add for the port): this open works */
        emu_port_depart(p);
        emu_port_announce(p);
        CHECK_MSG(h.opens == 2, "%s: the next add did not open the device again", how);
        CHECK_MSG(run_until(&h, node_in, &(struct wanted){ "node1", CB_NODE_UP }), "%s: node1 never came up", how);
        CHECK_MSG(cb_node_attempt(n) == 1, "%s: up on attempt %u", how, cb_node_attempt(n));
        if (check_failures > failures)
                dump(n);
        harness_done(&h);
}

/* Two boards at once: each its own node and device, both open together, both up with their own files. */
static void test_two_boards(void) {
        struct harness h;
        struct emu_port *a, *b;
        char why[256];
        unsigned failures = check_failures;

        harness_init(&h, "[Node zero]\nPort=1-1\n[Node cm4]\nPort=1-2\n", false);
        a = harness_add(&h, "1-1", &(struct emu_board_config){ .soc = EMU_SOC_2835 });
        b = harness_add(&h, "1-2", &(struct emu_board_config){ .soc = EMU_SOC_2711, .serial = "a1b2c3d4" });
        emu_port_plug(a);
        emu_port_plug(b);
        CHECK(run_until(&h, all_settled, NULL));
        CHECK_MSG(cb_node_state(node_of(&h, "zero")) == CB_NODE_UP, "zero is %s",
                  cb_node_state_name(cb_node_state(node_of(&h, "zero"))));
        CHECK_MSG(cb_node_state(node_of(&h, "cm4")) == CB_NODE_UP, "cm4 is %s",
                  cb_node_state_name(cb_node_state(node_of(&h, "cm4"))));
        CHECK_MSG(h.max_live >= 2, "the two boards' devices were never open together (at most %u)", h.max_live);
        CHECK_MSG(board_holds_files(&h, a, why, sizeof why), "zero: %s", why);
        CHECK_MSG(board_holds_files(&h, b, why, sizeof why), "cm4: %s", why);
        CHECK_MSG(strcmp(cb_node_get_metadata(node_of(&h, "cm4"))->serial, "a1b2c3d4") == 0,
                  "cm4: the ROM's serial did not reach its node");
        if (check_failures > failures) {
                dump(node_of(&h, "zero"));
                dump(node_of(&h, "cm4"));
        }
        harness_done(&h);
}

int main(void) {
        static const struct soc_case socs[] = {
                { "Zero (2835)", { .soc = EMU_SOC_2835 }, 2 },
                { "Zero 2 W (2837)", { .soc = EMU_SOC_2837 }, 2 },
                /* start4.elf's own file session is a second appearance of the second stage */
                { "CM4 (2711)", { .soc = EMU_SOC_2711 }, 3 },
                { "CM5 (2712)", { .soc = EMU_SOC_2712 }, 2 },
        };

        cb_log_set_max_level(LOG_WARNING);
        for (size_t i = 0; i < ELEMENTSOF(socs); i++)
                test_boot_to_up(&socs[i]);
        test_remove_mid_boot();
        test_unconfigured_port();
        test_open_fails(true);
        test_open_fails(false);
        test_two_boards();
        return check_exit("test-manager");
}
