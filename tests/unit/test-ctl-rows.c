/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * clusterbootctl's listings: the text table and --json come from the same
 * rows. Every field a status column is made from is in the JSON the daemon
 * really produces for a node (up, failed, absent), and the JSON output is
 * those rows, in the table's order; HOST appears with rows that carry it.
 */
#include <string.h>

#include "check.h"
#include "clusterboot/varlink.h"
#include "control.h"
#include "json-util.h"
#include "rows.h"
#include "views.h"
#include "world.h"

#define RUN_TIMEOUT (20 * USEC_PER_SEC)

static char *render(struct json_object *status, const struct view_options *o) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        CHECK(f != NULL);
        CHECK(view_status(f, status, o) == 0);
        fclose(f);
        return out;
}

/* Every column's fields, in the daemon's own node objects of every kind. */
static void test_columns_have_json_twins(void) {
        struct emu_board_config good = { 0 }, bad = { 0 };
        struct json_object *nodes = json_object_new_array();
        struct world w;

        bad.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_NO_ANSWER, .point = EMU_AT_ROM_STATUS, .sticky = true };
        bad.n_faults = 1;
        CHECK(world_init(&w, false) == 0);
        w.config->max_attempts = 1;
        world_add(&w, &good);
        world_add(&w, &bad);
        world_add(&w, &good); /* never plugged: absent */
        emu_port_plug(&w.ports[0]);
        emu_port_plug(&w.ports[1]);
        for (usec_t deadline = now_usec() + RUN_TIMEOUT;
             now_usec() < deadline && (cb_node_state(w.nodes[0]) != CB_NODE_UP || cb_node_state(w.nodes[1]) != CB_NODE_FAILED);)
                sd_event_run(w.event, 10 * USEC_PER_MSEC);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_UP && cb_node_state(w.nodes[1]) == CB_NODE_FAILED);

        for (size_t i = 0; i < w.n_ports; i++) {
                struct json_object *o = NULL;

                CHECK(cb_control_node_json(w.nodes[i], w.config, false, now_usec(), 1700000000ULL * USEC_PER_SEC, &o) == 0);
                json_object_array_add(nodes, o);
        }
        for (size_t c = 0; c < n_status_columns; c++) {
                const struct column *col = &status_columns[c];

                /* the ctl's own fields are added by the ctl, not the daemon */
                if (strcmp(col->fields[0], CB_CTL_FIELD_HOST) == 0)
                        continue;
                for (size_t k = 0; k < COLUMN_FIELDS_MAX && col->fields[k]; k++)
                        for (size_t i = 0; i < json_object_array_length(nodes); i++)
                                CHECK_MSG(json_object_object_get_ex(json_object_array_get_idx(nodes, i), col->fields[k], NULL),
                                          "column %s: node %zu has no field %s", col->header, i + 1, col->fields[k]);
        }
        json_object_put(nodes);
        world_done(&w);
}

/* The table's rows and the JSON's are the same, in the same order; HOST only when the rows say where they are. */
static void test_same_rows(void) {
        struct json_object *status = json_tokener_parse(
                "{\"daemon\":{\"summary\":\"3 nodes\"},\"nodes\":["
                "{\"name\":\"node10\",\"port\":\"1-3\",\"state\":\"up\",\"attempt\":1,\"max_attempts\":5,\"last_error\":\"old\"},"
                "{\"name\":\"node2\",\"port\":\"1-2\",\"state\":\"failed\",\"attempt\":5,\"max_attempts\":5,\"last_error\":\"gone\"},"
                "{\"name\":\"node1\",\"port\":\"1-1\",\"state\":\"loading\",\"attempt\":1,\"max_attempts\":5,\"last_error\":null}]}");
        struct view_options text = { .legend = true }, json = { .json = JSON_SHORT };
        struct json_object *printed, *nodes;
        char *out;

        out = render(status, &text);
        CHECK_MSG(strcmp(out, "NODE    PORT  STATE    POWER  PROGRESS  ATTEMPT  TIME  LAST ERROR\n"
                              "node1   1-1   loading  -      -         1/5      -     -\n"
                              "node2   1-2   failed   -      -         5/5      -     gone\n"
                              "node10  1-3   up       -      -         1/5      -     -\n"
                              "\n3 nodes.\n") == 0,
                  "got:\n%s", out);
        free(out);

        out = render(status, &json);
        printed = json_tokener_parse(out);
        nodes = json_object_object_get(printed, CB_VL_FIELD_NODES);
        CHECK(nodes && json_object_array_length(nodes) == 3);
        for (size_t i = 0; nodes && i < 3; i++)
                CHECK(strcmp(json_object_get_string(json_object_object_get(json_object_array_get_idx(nodes, i), "name")),
                             (const char *const[]){ "node1", "node2", "node10" }[i]) == 0);
        /* the up node's old error is still in the JSON: only the table leaves it out */
        CHECK(nodes && strcmp(cb_json_string_or(json_object_array_get_idx(nodes, 2), CB_VL_FIELD_LAST_ERROR, ""), "old") == 0);
        json_object_put(printed);
        free(out);

        /* rows from several controllers carry "host": the column appears, first */
        for (size_t i = 0; i < 3; i++)
                cb_json_add_string(json_object_array_get_idx(json_object_object_get(status, CB_VL_FIELD_NODES), i),
                                   CB_CTL_FIELD_HOST, i == 0 ? "pi@rack2" : "rack1");
        text.legend = false;
        out = render(status, &text);
        /* grouped by host name (rack1 before pi@rack2's rack2), then the nodes in their order */
        CHECK_MSG(strcmp(out, "rack1     node2   1-2  failed   -  -  5/5  -  gone\n"
                              "rack1     node10  1-3  up       -  -  1/5  -  -\n"
                              "pi@rack2  node1   1-1  loading  -  -  1/5  -  -\n") == 0,
                  "got:\n%s", out);
        free(out);
        json_object_put(status);
}

int main(void) {
        test_columns_have_json_twins();
        test_same_rows();
        return check_exit("test-ctl-rows");
}
