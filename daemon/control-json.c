/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A node's status as the control protocol's JSON object. */
#include "control.h"

#include "clusterboot/varlink.h"
#include "json-util.h"
#include "node-metadata.h"

/* A CLOCK_MONOTONIC time (0 = never) as CLOCK_REALTIME, via a pair of "now"s taken together. */
static uint64_t to_realtime(uint64_t mono, uint64_t now_mono, uint64_t now_real) {
        uint64_t ago = now_mono > mono ? now_mono - mono : 0;
        return now_real > ago ? now_real - ago : 0;
}

/* The board's serial and properties: escaped already (node-metadata.h), bounded in number. */
static int add_metadata(struct json_object *o, const struct cb_node_metadata *m) {
        struct json_object *props = json_object_new_object();
        int r = cb_json_add(o, CB_VL_FIELD_METADATA, props);

        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_entries; i++)
                if (cb_json_add_string(props, m->entries[i].key, m->entries[i].value) < 0)
                        return -ENOMEM;
        return cb_json_add_string(o, CB_VL_FIELD_SERIAL, m->serial[0] ? m->serial : NULL);
}

/*
 * Whether the board has power, as far as the daemon knows: what its switch
 * last confirmed, or else a board on the bus (it draws power from its port).
 * Adds true, false or null.
 */
static int add_powered(struct json_object *o, const struct cb_node *node, const struct cb_node_status *st) {
        if (st->powered == CB_NODE_POWERED_ON || st->powered == CB_NODE_POWERED_OFF)
                return cb_json_add_bool(o, CB_VL_FIELD_POWERED, st->powered == CB_NODE_POWERED_ON);
        if (cb_node_device_present(node))
                return cb_json_add_bool(o, CB_VL_FIELD_POWERED, true);
        return cb_json_add_null(o, CB_VL_FIELD_POWERED);
}

static int event_json(const struct cb_node_event *e, struct json_object **ret) {
        _cleanup_json_ struct json_object *o = json_object_new_object();

        if (!o || cb_json_add_u64(o, CB_VL_FIELD_REALTIME_USEC, e->realtime_usec) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_STATE, cb_node_state_name(e->state)) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_ATTEMPT, e->attempt) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_MESSAGE, e->message) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int cb_control_node_json(const struct cb_node *node, const struct cb_config *config, bool with_events,
                         uint64_t now_monotonic, uint64_t now_realtime, struct json_object **ret) {
        _cleanup_json_ struct json_object *o = json_object_new_object();
        struct cb_node_status st;
        bool booting, up;

        if (!o)
                return -ENOMEM;
        cb_node_get_status(node, &st);
        /* a failed or switched-off node keeps its boot's start time, but its boot is over: no clock runs */
        booting = st.boot_started_usec > 0 && st.state != CB_NODE_UP && st.state != CB_NODE_FAILED &&
                  st.state != CB_NODE_OFF;
        up = st.state == CB_NODE_UP && st.up_since_usec > 0;

        if (cb_json_add_string(o, CB_VL_FIELD_NAME, cb_node_name(node)) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_PORT, cb_node_port(node)) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_STATE, cb_node_state_name(st.state)) < 0 ||
            cb_json_add_bool(o, CB_VL_FIELD_CONFIGURED, cb_node_configured(node)) < 0 ||
            cb_json_add_bool(o, CB_VL_FIELD_DEVICE_PRESENT, cb_node_device_present(node)) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_POWER, cb_power_kind_name(cb_node_section(node) ? cb_node_section(node)->power : CB_POWER_NONE)) < 0 ||
            add_powered(o, node, &st) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_ATTEMPT, st.attempt) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_MAX_ATTEMPTS, config ? config->max_attempts : 0) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_LAST_ERROR, st.last_error) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_BYTES_SERVED, st.bytes_served) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_FILES_SERVED, st.files_served) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_CURRENT_FILE, st.current_file) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_CURRENT_OFFSET, st.current_offset) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_CURRENT_SIZE, st.current_size) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_STEP_RETRIES, st.step_retries) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_RESETS, st.resets) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_POWER_CYCLES, st.power_cycles) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_BOOTS, st.boots) < 0 ||
            cb_json_add_u64_or_null(o, CB_VL_FIELD_BOOT_STARTED_USEC, booting,
                                    to_realtime(st.boot_started_usec, now_monotonic, now_realtime)) < 0 ||
            cb_json_add_u64_or_null(o, CB_VL_FIELD_BOOT_ELAPSED_USEC, booting,
                                    now_monotonic > st.boot_started_usec ? now_monotonic - st.boot_started_usec
                                                                          : 0) < 0 ||
            cb_json_add_u64_or_null(o, CB_VL_FIELD_UP_SINCE_USEC, up,
                                    to_realtime(st.up_since_usec, now_monotonic, now_realtime)) < 0 ||
            cb_json_add_u64_or_null(o, CB_VL_FIELD_UPTIME_USEC, up,
                                    now_monotonic > st.up_since_usec ? now_monotonic - st.up_since_usec : 0) < 0 ||
            cb_json_add_u64_or_null(o, CB_VL_FIELD_LAST_BOOT_DURATION_USEC, st.last_boot_duration_usec > 0,
                                    st.last_boot_duration_usec) < 0 ||
            add_metadata(o, cb_node_get_metadata(node)) < 0)
                return -ENOMEM;

        if (with_events) {
                struct json_object *events = json_object_new_array();
                int r = cb_json_add(o, CB_VL_FIELD_EVENTS, events);

                if (r < 0)
                        return r;
                for (unsigned i = 0; i < st.n_events; i++) {
                        const struct cb_node_event *e = cb_node_event_at(node, i);
                        struct json_object *eo = NULL;

                        if (!e)
                                break;
                        r = event_json(e, &eo);
                        if (r < 0)
                                return r;
                        if (json_object_array_add(events, eo) < 0) {
                                json_object_put(eo);
                                return -ENOMEM;
                        }
                }
        }
        *ret = TAKE_PTR(o);
        return 0;
}
