/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "manager.h"

#include <assert.h>
#include <json-c/json.h>
#include <systemd/sd-daemon.h>

#include "bootfiles.h"
#include "log.h"
#include "node-metadata.h"
#include "power-queue.h"
#include "power-state.h"
#include "state-file.h"
#include "worker.h"

/* One node and the device currently on its port. */
struct slot {
        struct cb_node *node;
        char *serial;                /* Serial= of its section: the node follows that board; or NULL */
        bool present;                /* a device (of any kind) is on the port */
        void *device;                /* the opener's handle of the device on the port, or NULL */
        unsigned generation;         /* bumps at every add/remove: stale opens are dropped */
        bool opening;
        unsigned long attached;      /* when a device last came (a sequence number): the newest owns the port */
};

struct cb_manager {
        sd_event *event;
        struct cb_config *config;
        struct cb_file_cache *cache;
        struct cb_manager_seams seams;
        bool stopping;                     /* draining: presence is no longer taken */
        struct cb_power_queue *power_queue;
        struct cb_power_state powered_off; /* as kept in the StateDirectory */
        struct cb_worker *files;           /* writes the StateDirectory's files for others */
        struct cb_node_env env;

        struct slot *slots;
        size_t n_slots;
        unsigned long attach_sequence;

        void (*listener)(struct cb_node *node, void *userdata);
        void *listener_userdata;
        char last_summary[256];

        /* stopping: nodes still finishing a write, and who to tell when none is */
        size_t draining;
        void (*drained)(void *userdata);
        void *drained_userdata;
};

struct open_request {
        struct cb_manager *manager;
        struct cb_node *node; /* whose slot the device was given to */
        char *serial; /* the device's serial string, or NULL */
        char *devnode;
        enum cb_stage stage; /* as the device's add event showed it: the one classification of it */
        uint16_t vid, pid;
        unsigned generation;
};

static void open_request_free(struct open_request *req) {
        if (!req)
                return;
        free(req->serial);
        free(req->devnode);
        free(req);
}

/*
 * Which node a device on `port` belongs to. Several nodes can share a port:
 * one named by Serial= that last saw its board there, and the one of
 * whatever board is there now. The node holding a device there wins, else
 * the one that held one last. A board in its ROM is new on the port: it
 * goes to a node named by Serial= only through its serial (looked up
 * before), so `rom` leaves those out.
 */
static struct slot *find_slot_by_port(struct cb_manager *m, const char *port, bool rom) {
        struct slot *newest = NULL;

        for (size_t i = 0; i < m->n_slots; i++) {
                struct slot *s = &m->slots[i];

                if (strcmp(cb_node_port(s->node), port) != 0 || (rom && s->serial))
                        continue;
                if (s->present)
                        return s;
                if (!newest || s->attached > newest->attached)
                        newest = s;
        }
        return newest;
}

/* The slot of a node that is known by its port (no Serial=): the one a section with that Port= names. */
static struct slot *find_port_slot(struct cb_manager *m, const char *port) {
        for (size_t i = 0; i < m->n_slots; i++)
                if (!m->slots[i].serial && strcmp(cb_node_port(m->slots[i].node), port) == 0)
                        return &m->slots[i];
        return NULL;
}

static struct slot *find_serial_slot(struct cb_manager *m, const char *serial) {
        for (size_t i = 0; i < m->n_slots; i++)
                if (m->slots[i].serial && strcasecmp(m->slots[i].serial, serial) == 0)
                        return &m->slots[i];
        return NULL;
}

static struct slot *find_slot_by_node(struct cb_manager *m, const struct cb_node *node) {
        for (size_t i = 0; i < m->n_slots; i++)
                if (m->slots[i].node == node)
                        return &m->slots[i];
        return NULL;
}

void cb_manager_summary(const struct cb_manager *m, char *buf, size_t size) {
        unsigned counts[_CB_NODE_STATE_MAX] = { 0 };
        const char *separator = ":";
        size_t at;

        for (size_t i = 0; i < m->n_slots; i++)
                counts[cb_node_state(m->slots[i].node)]++;
        at = (size_t) snprintf(buf, size, "%zu node%s", m->n_slots, m->n_slots == 1 ? "" : "s");
        for (int s = 0; s < _CB_NODE_STATE_MAX && at < size; s++) {
                if (!counts[s])
                        continue;
                at += (size_t) snprintf(buf + at, size - at, "%s %u %s", separator, counts[s],
                                        cb_node_state_name((enum cb_node_state) s));
                separator = ",";
        }
}

static void on_node_changed(struct cb_node *node, void *userdata) {
        struct cb_manager *m = userdata;
        char summary[256];

        cb_manager_summary(m, summary, sizeof summary);
        if (strcmp(summary, m->last_summary) != 0) {
                snprintf(m->last_summary, sizeof m->last_summary, "%s", summary);
                (void) sd_notifyf(false, "STATUS=%s", summary);
        }
        if (m->listener)
                m->listener(node, m->listener_userdata);
}

static void on_power_requested(struct cb_node *node, bool off, void *userdata) {
        struct cb_manager *m = userdata;
        int r;

        r = cb_power_state_set(&m->powered_off, cb_node_name(node), off);
        if (r < 0) {
                log_error_errno(r, "cannot remember that %s is powered %s", cb_node_name(node), off ? "off" : "on");
                return;
        }
        if (r > 0)
                (void) cb_power_state_save(m->config->state_directory, &m->powered_off);
}

/*
 * A board told its properties: "<serial>.json" in the StateDirectory, as
 * the reference tool's -j writes it (one object, each property a string),
 * for provisioning scripts to pick up. Values are kept escaped, so the file
 * is valid JSON whatever the board sent.
 */
static void on_board_described(struct cb_node *node, void *userdata) {
        struct cb_manager *m = userdata;
        const struct cb_node_metadata *md = cb_node_get_metadata(node);
        _cleanup_free_ char *name = NULL;
        struct json_object *o;
        char *content = NULL;
        int r;

        if (!md->serial[0]) {
                log_debug("%s: its board's properties are not written: it shows no SoC serial", cb_node_name(node));
                return;
        }
        o = json_object_new_object();
        for (size_t i = 0; o && i < md->n_entries; i++)
                if (json_object_object_add(o, md->entries[i].key, json_object_new_string(md->entries[i].value)) < 0)
                        o = (json_object_put(o), NULL);
        if (o) {
                const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
                content = text ? cb_format("%s\n", text) : NULL;
                json_object_put(o);
        }
        name = cb_format("%s.json", md->serial);
        if (!content || !name) {
                free(content);
                log_error("%s: out of memory writing its board's properties", cb_node_name(node));
                return;
        }
        r = cb_state_file_write(m->files, m->config->state_directory, name, content, strlen(content));
        if (r < 0)
                log_warning_errno(r, "%s: cannot write %s/%s", cb_node_name(node), m->config->state_directory, name);
}

/* Gives a configured node the power backend its section asks for (none: no backend), where its board is. */
static void setup_power(struct cb_manager *m, struct cb_node *node) {
        const struct cb_node_config *nc = cb_node_section(node);
        struct cb_power *power = NULL;
        int r;

        if (nc && nc->power != CB_POWER_NONE && m->seams.power.make) {
                r = m->seams.power.make(m->seams.power.impl, m->config, nc, cb_node_port(node), &power);
                if (r < 0) {
                        log_error_errno(r, "[Node %s]: cannot set up Power=%s", nc->name, cb_power_kind_name(nc->power));
                        power = NULL;
                }
        }
        if (!power && !cb_node_has_power(node))
                return;
        r = cb_node_set_power(node, power);
        if (r == -EBUSY)
                log_notice("%s: its power is being switched; the new Power= settings apply from the next reload",
                           cb_node_name(node));
}

static int add_slot(struct cb_manager *m, const char *name, const char *port, const char *serial, bool configured,
                    struct slot **ret) {
        struct slot *slots;
        int r;

        slots = realloc(m->slots, (m->n_slots + 1) * sizeof *slots);
        if (!slots)
                return -ENOMEM;
        m->slots = slots;
        struct slot *s = &m->slots[m->n_slots];
        *s = (struct slot){ 0 };
        if (serial && !(s->serial = strdup(serial)))
                return -ENOMEM;
        r = cb_node_new(&m->env, name, port ? port : "", configured, &s->node);
        if (r < 0) {
                free(s->serial);
                return r;
        }
        m->n_slots++;
        if (ret)
                *ret = s;
        return 0;
}

static void close_device(struct cb_manager *m, void *device) {
        if (device)
                m->seams.opener.ops->close(m->seams.opener.impl, device);
}

/*
 * Drops the device on a slot's port. The node is told while the transport
 * still answers (-ENODEV, cancelled), so it stops using it before the
 * handle goes.
 */
static void slot_clear_device(struct cb_manager *m, struct slot *s) {
        void *device = s->device;

        s->generation++;
        s->opening = false;
        s->present = false;
        s->device = NULL;
        cb_node_device_removed(s->node);
        close_device(m, device);
}

static void on_opened(void *userdata, int result, void *device) {
        struct open_request *req = userdata;
        struct cb_manager *m = req->manager;
        struct slot *s = find_slot_by_node(m, req->node);

        if (!s || s->generation != req->generation || !s->opening) {
                /* the device left (or was replaced) while it was being opened */
                close_device(m, device);
                goto out;
        }
        s->opening = false;
        if (result < 0) {
                cb_node_device_unusable(s->node, req->devnode, result);
                goto out; /* the next add event tries again */
        }

        struct cb_node_device nd = {
                .stage = req->stage,
                .vid = req->vid,
                .pid = req->pid,
                .serial = req->serial,
                .transport = m->seams.opener.ops->transport(m->seams.opener.impl, device),
        };
        s->device = device;
        cb_node_device_added(s->node, &nd);
out:
        open_request_free(req);
}

/*
 * A 2711/2712 board in its ROM shows its SoC serial: the node whose
 * Serial= it is takes it, wherever it is plugged. NULL: no such node, or
 * that node's board is on another port right now (two boards showing one
 * serial: the second is taken for a board of its own).
 */
static struct slot *slot_for_serial(struct cb_manager *m, const struct cb_presence *d) {
        struct slot *s = find_serial_slot(m, d->serial);
        int r;

        if (!s || strcmp(cb_node_port(s->node), d->port) == 0)
                return s;
        if (s->present) {
                log_warning("a board showing serial %s appeared on port %s while that of %s, which shows the same "
                            "serial, is still on %s: taking it for another board",
                            s->serial, d->port, cb_node_name(s->node), cb_node_port(s->node));
                return NULL;
        }
        r = cb_node_follow_board(s->node, d->port, s->serial);
        if (r < 0) {
                log_error_errno(r, "%s: cannot follow its board to port %s", cb_node_name(s->node), d->port);
                return NULL;
        }
        setup_power(m, s->node); /* a hub port is switched where the board is */
        return s;
}

/* A new device on `port`: whoever held one there has lost it (an add without a remove). */
static void clear_port(struct cb_manager *m, const char *port) {
        for (size_t i = 0; i < m->n_slots; i++)
                if (m->slots[i].present && strcmp(cb_node_port(m->slots[i].node), port) == 0)
                        slot_clear_device(m, &m->slots[i]);
}

void cb_manager_device_added(struct cb_manager *m, const struct cb_presence *d) {
        enum cb_stage stage = cb_proto_classify(d->vid, d->pid, d->serial_index, NULL);
        struct slot *s = NULL;
        int r;

        if (m->stopping)
                return; /* a board that shows up now is the next daemon's */
        clear_port(m, d->port);
        if (stage == CB_STAGE_ROM && d->serial && cb_proto_rom_shows_soc_serial(d->pid))
                s = slot_for_serial(m, d);
        if (!s)
                s = find_slot_by_port(m, d->port, stage == CB_STAGE_ROM);
        if (!s) {
                if (stage == CB_STAGE_NOT_PI)
                        return; /* not ours: some other device on an unconfigured port */
                if (!m->config->auto_nodes) {
                        log_notice("a Raspberry Pi boot device appeared on port %s, which has no [Node] section; "
                                   "ignoring it (AutoNodes=no)", d->port);
                        return;
                }
                r = add_slot(m, d->port, d->port, NULL, false, &s);
                if (r < 0) {
                        log_error_errno(r, "cannot track the board on port %s", d->port);
                        return;
                }
        }

        s->present = true;
        s->attached = ++m->attach_sequence;
        if (stage == CB_STAGE_NOT_PI) {
                /* the booted board's own gadget (or anything else): nothing to open */
                struct cb_node_device nd = { .stage = stage, .vid = d->vid, .pid = d->pid };
                cb_node_device_added(s->node, &nd);
                return;
        }

        struct open_request *req = calloc(1, sizeof *req);
        if (!req || (d->serial && !(req->serial = strdup(d->serial))) || !(req->devnode = strdup(d->devnode))) {
                open_request_free(req);
                log_error("out of memory opening %s", d->devnode);
                return;
        }
        req->manager = m;
        req->node = s->node;
        req->generation = s->generation;
        req->stage = stage;
        req->vid = d->vid;
        req->pid = d->pid;
        s->opening = true;
        r = m->seams.opener.ops->open(m->seams.opener.impl, d, on_opened, req);
        if (r < 0) {
                s->opening = false;
                cb_node_device_unusable(s->node, d->devnode, r);
                open_request_free(req);
        }
}

void cb_manager_device_removed(struct cb_manager *m, const char *port) {
        struct slot *s;

        if (m->stopping)
                return; /* as for an add: the drain's nodes finish with what they have */
        s = find_slot_by_port(m, port, false);
        if (!s || !s->present)
                return;
        slot_clear_device(m, s);
}

int cb_manager_new(sd_event *event, struct cb_config *config, const struct cb_manager_seams *seams,
                   struct cb_manager **ret) {
        struct cb_manager *m;
        int r;

        if (!seams || !seams->opener.ops) {
                cb_config_free(config);
                return -EINVAL;
        }
        m = calloc(1, sizeof *m);
        if (!m) {
                cb_config_free(config);
                return -ENOMEM;
        }
        m->seams = *seams;
        m->event = sd_event_ref(event);
        m->config = config;
        m->env = (struct cb_node_env){
                .event = event,
                .config = config,
                .callbacks = {
                        .changed = on_node_changed,
                        .power_requested = on_power_requested,
                        .board_described = on_board_described,
                        .userdata = m,
                },
        };
        r = cb_file_cache_new(&m->cache);
        if (r < 0)
                goto fail;
        r = cb_worker_new(event, &m->files);
        if (r < 0)
                goto fail;
        r = cb_power_queue_new(event, config->power_on_delay, &m->power_queue);
        if (r < 0)
                goto fail;
        m->env.power_queue = m->power_queue;
        m->env.cache = m->cache;
        for (size_t i = 0; i < config->n_nodes; i++) {
                r = add_slot(m, config->nodes[i].name, config->nodes[i].port, config->nodes[i].serial, true, NULL);
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < m->n_slots; i++)
                setup_power(m, m->slots[i].node);
        *ret = m;
        return 0;
fail:
        cb_manager_free(m);
        return r;
}

int cb_manager_start(struct cb_manager *m) {
        int r;

        /* before any board is reported: a node left off must not start booting */
        r = cb_power_state_load(m->config->state_directory, &m->powered_off);
        if (r < 0)
                log_warning_errno(r, "cannot tell which nodes were powered off; all count as on");
        for (size_t i = 0; i < m->n_slots; i++) {
                struct cb_node *node = m->slots[i].node;

                cb_node_power_at_start(node, cb_power_state_contains(&m->powered_off, cb_node_name(node)));
        }
        return 0;
}

static void node_drained(void *userdata) {
        struct cb_manager *m = userdata;

        assert(m->draining > 0);
        if (--m->draining == 0 && m->drained)
                m->drained(m->drained_userdata);
}

int cb_manager_drain(struct cb_manager *m, void (*drained)(void *userdata), void *userdata) {
        m->stopping = true;
        m->drained = drained;
        m->drained_userdata = userdata;
        m->draining = 0;
        for (size_t i = 0; i < m->n_slots; i++)
                if (cb_node_drain(m->slots[i].node, node_drained, m) == 0)
                        m->draining++;
        return m->draining == 0;
}

struct cb_manager *cb_manager_free(struct cb_manager *m) {
        if (!m)
                return NULL;
        m->stopping = true;
        /* pending opens report back while nodes still exist */
        m->seams.opener.ops->cancel_pending(m->seams.opener.impl);
        /* a write queued still runs: its board's file is not lost */
        cb_worker_finish(m->files);
        m->files = cb_worker_free(m->files);
        for (size_t i = 0; i < m->n_slots; i++) {
                struct slot *s = &m->slots[i];
                cb_node_free(s->node);
                free(s->serial);
                close_device(m, s->device);
        }
        free(m->slots);
        m->power_queue = cb_power_queue_free(m->power_queue);
        cb_power_state_done(&m->powered_off);
        cb_file_cache_free(m->cache);
        cb_config_free(m->config);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

size_t cb_manager_n_nodes(const struct cb_manager *m) {
        return m->n_slots;
}

struct cb_node *cb_manager_node(const struct cb_manager *m, size_t i) {
        return i < m->n_slots ? m->slots[i].node : NULL;
}

struct cb_node *cb_manager_find_node(const struct cb_manager *m, const char *name_port_or_serial) {
        const char *wanted = name_port_or_serial;

        for (size_t i = 0; i < m->n_slots; i++)
                if (strcmp(cb_node_name(m->slots[i].node), wanted) == 0)
                        return m->slots[i].node;
        for (size_t i = 0; i < m->n_slots; i++)
                if (wanted[0] && strcmp(cb_node_port(m->slots[i].node), wanted) == 0)
                        return m->slots[i].node;
        for (size_t i = 0; i < m->n_slots; i++) {
                const char *shown = cb_node_get_metadata(m->slots[i].node)->serial;

                if ((m->slots[i].serial && strcasecmp(m->slots[i].serial, wanted) == 0) ||
                    (shown[0] && strcasecmp(shown, wanted) == 0))
                        return m->slots[i].node;
        }
        return NULL;
}

const struct cb_config *cb_manager_config(const struct cb_manager *m) {
        return m->config;
}

/* The section a node has in `config`: the one with its Serial=, if it is named by one, else the one with its port. */
static const struct cb_node_config *section_of(const struct cb_config *config, const struct slot *s) {
        const struct cb_node_config *nc;

        if (s->serial)
                return cb_config_find_node_by_serial(config, s->serial);
        nc = cb_config_find_node_by_port(config, cb_node_port(s->node));
        return nc && !nc->serial ? nc : NULL;
}

/* A node keeps its settings under its new name or section; one kept off stays off. */
static void reload_slot(struct cb_manager *m, struct slot *s, const struct cb_config *config) {
        struct cb_node *node = s->node;
        const struct cb_node_config *nc = section_of(config, s);
        const char *name = nc ? nc->name : cb_node_port(node);
        _cleanup_free_ char *old_name = NULL;
        int r;

        if (!nc && s->serial) {
                /* its Serial= is gone: from now on it is the node of the port its board was on */
                free(s->serial);
                s->serial = NULL;
                if (cb_node_port(node)[0] == '\0')
                        return; /* never seen: dropped below */
        }
        if (streq_ptr(cb_node_name(node), name) && cb_node_configured(node) == (nc != NULL))
                return;
        old_name = strdup(cb_node_name(node));
        if (!old_name)
                return;
        r = cb_node_set_identity(node, name, nc != NULL);
        if (r < 0) {
                log_error_errno(r, "cannot rename node %s", old_name);
                return;
        }
        if (cb_power_state_contains(&m->powered_off, old_name) &&
            cb_power_state_set(&m->powered_off, old_name, false) >= 0 &&
            cb_power_state_set(&m->powered_off, name, true) >= 0)
                (void) cb_power_state_save(config->state_directory, &m->powered_off);
}

/* A node named by Serial= whose board has never been seen has no port to be known by: it goes with its section. */
static void drop_unseen_serial_nodes(struct cb_manager *m) {
        size_t kept = 0;

        for (size_t i = 0; i < m->n_slots; i++) {
                struct slot *s = &m->slots[i];

                if (!s->serial && cb_node_port(s->node)[0] == '\0' && !s->present && !s->opening) {
                        log_info("%s: its [Node] section is gone, and its board was never seen: forgotten",
                                 cb_node_name(s->node));
                        cb_node_free(s->node);
                        continue;
                }
                m->slots[kept++] = *s;
        }
        m->n_slots = kept;
}

int cb_manager_reload(struct cb_manager *m, struct cb_config *config) {
        struct cb_config *old = m->config;
        int r;

        /*
         * Nodes are never dropped (one may be booting): a new section adds a
         * node, a renamed one renames its node, a removed one leaves its node
         * known by its port, as if AutoNodes= had found it. Settings apply
         * from now on.
         */
        m->config = config;
        m->env.config = config;
        cb_power_queue_set_spacing(m->power_queue, config->power_on_delay);
        for (size_t i = 0; i < m->n_slots; i++)
                reload_slot(m, &m->slots[i], config);
        drop_unseen_serial_nodes(m);
        for (size_t i = 0; i < config->n_nodes; i++) {
                const struct cb_node_config *nc = &config->nodes[i];
                struct slot *s = nc->serial ? find_serial_slot(m, nc->serial) : find_port_slot(m, nc->port);

                if (!s) {
                        r = add_slot(m, nc->name, nc->port, nc->serial, true, &s);
                        if (r < 0) {
                                log_error_errno(r, "cannot add node %s", nc->name);
                                continue;
                        }
                }
        }
        /* power settings may have changed for any node */
        for (size_t i = 0; i < m->n_slots; i++)
                setup_power(m, m->slots[i].node);
        cb_config_free(old);
        log_info("configuration reloaded from %s", config->path ? config->path : "defaults");
        return 0;
}

void cb_manager_set_listener(struct cb_manager *m, void (*changed)(struct cb_node *node, void *userdata),
                             void *userdata) {
        m->listener = changed;
        m->listener_userdata = userdata;
}
