/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Watch: every change of a node as an event to the clients watching, told
 * apart as a transition (a new history entry) or progress.
 */
#include "clusterboot/varlink.h"
#include "control-internal.h"

/* What the last change notification of a node looked like, to tell a transition from progress. */
struct seen_node {
        const struct cb_node *node;
        const struct cb_node_event *last_event;
        uint64_t last_event_usec;
};

static struct seen_node *seen_for(struct cb_control *c, const struct cb_node *node) {
        struct seen_node *s;

        for (size_t i = 0; i < c->n_seen; i++)
                if (c->seen[i].node == node)
                        return &c->seen[i];
        s = realloc(c->seen, (c->n_seen + 1) * sizeof *s);
        if (!s)
                return NULL;
        c->seen = s;
        s = &c->seen[c->n_seen++];
        *s = (struct seen_node){ .node = node };
        return s;
}

/* The newest history entry, if it was recorded since the last notification (a transition); else NULL. */
static const struct cb_node_event *new_event(struct cb_control *c, const struct cb_node *node) {
        struct cb_node_status st;
        const struct cb_node_event *e;
        struct seen_node *s = seen_for(c, node);

        cb_node_get_status(node, &st);
        e = st.n_events > 0 ? cb_node_event_at(node, st.n_events - 1) : NULL;
        if (!s)
                return e; /* out of memory: a repeated message is the lesser harm */
        if (!e || (e == s->last_event && e->realtime_usec == s->last_event_usec))
                return NULL;
        s->last_event = e;
        s->last_event_usec = e->realtime_usec;
        return e;
}

static int event_message(struct cb_control *c, const struct cb_node *node, const struct cb_node_event *e,
                         struct json_object **ret) {
        _cleanup_json_ struct json_object *m = json_object_new_object();
        struct json_object *ev = NULL, *params;
        int r;

        if (!m)
                return -ENOMEM;
        r = cb_control_node_json(node, current_config(c), false, now_usec(), realtime_usec(), &ev);
        if (r < 0)
                return r;
        params = json_object_new_object();
        if (cb_json_add(m, CB_VL_KEY_PARAMETERS, params) < 0 || cb_json_add(params, CB_VL_FIELD_EVENT, ev) < 0 ||
            cb_json_add_bool(m, CB_VL_KEY_CONTINUES, true) < 0)
                return -ENOMEM;
        /* the node's name is the event's "node"; the rest of the node's fields come along */
        json_object_object_del(ev, CB_VL_FIELD_NAME);
        if (cb_json_add_string(ev, CB_VL_FIELD_KIND, e ? CB_VL_EVENT_KIND_STATE : CB_VL_EVENT_KIND_PROGRESS) < 0 ||
            cb_json_add_string(ev, CB_VL_FIELD_NODE, cb_node_name(node)) < 0 ||
            cb_json_add_string(ev, CB_VL_FIELD_MESSAGE, e ? e->message : NULL) < 0 ||
            cb_json_add_u64(ev, CB_VL_FIELD_REALTIME_USEC, e ? e->realtime_usec : realtime_usec()) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(m);
        return 0;
}

void cb_control_node_changed(struct cb_node *node, void *userdata) {
        struct cb_control *c = userdata;
        _cleanup_json_ struct json_object *m = NULL;
        const struct cb_node_event *e;
        const char *text;
        size_t size = 0;

        /* tracked even without watchers, so that a later watcher's first event is classified right */
        e = new_event(c, node);
        if (c->n_watchers == 0)
                return;
        if (event_message(c, node, e, &m) < 0 || !(text = cb_json_to_string(m, &size))) {
                log_warning("control: out of memory; watchers miss an event of %s", cb_node_name(node));
                return;
        }
        for (struct client *cl = c->clients, *next; cl; cl = next) {
                next = cl->next;
                if (!cl->watching || cl->dead)
                        continue;
                if (client_queue(cl, text, size) < 0) {
                        client_log(LOG_WARNING, cl, "%s", "out of memory queueing an event; dropping it");
                        client_drop(cl);
                        continue;
                }
                (void) client_settle(cl);
        }
}
