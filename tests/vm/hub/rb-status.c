/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * redir-boards: what each board should hold (the boot directory's files,
 * hashed once), the verdict on what it got (tests/emu/board-verify.h), and
 * the status as JSON (for the guest's `status`, and the optional status
 * file).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "board-verify.h"
#include "rb.h"

static struct emu_boot_truth truth;

void rb_status_init(void) {
        emu_boot_truth_load(&truth, rb_opt.boot_dir);
}

bool rb_board_verify(const struct rb_board *b, char *why, size_t why_size) {
        return emu_board_verify(&b->emu, &truth, why, why_size);
}

#define ADD(o, k, v) json_object_object_add((o), (k), (v))

struct json_object *rb_board_json(const struct rb_board *b) {
        struct json_object *o = json_object_new_object(), *files = json_object_new_array();
        char why[300];
        bool ok = rb_board_verify(b, why, sizeof why);
        const struct emu_board *e = &b->emu;

        ADD(o, "board", json_object_new_int((int) b->index));
        ADD(o, "port", json_object_new_string(b->port));
        ADD(o, "plugged", json_object_new_boolean(b->plugged));
        ADD(o, "in_qemu", json_object_new_boolean(b->in_qemu));
        ADD(o, "powered", json_object_new_boolean(b->powered));
        ADD(o, "port_powered", json_object_new_boolean(rb_port_powered(b->port)));
        ADD(o, "keeps_power", json_object_new_boolean(b->keeps_power));
        ADD(o, "connected", json_object_new_boolean(b->parser != NULL));
        ADD(o, "on_bus", json_object_new_boolean(b->on_bus));
        ADD(o, "stage", json_object_new_string(emu_stage_name(e->stage)));
        ADD(o, "next_stage", json_object_new_string(emu_stage_name(e->next_stage)));
        ADD(o, "attempt", json_object_new_int((int) e->attempt));
        ADD(o, "connections", json_object_new_int((int) b->connections));
        ADD(o, "power_cuts", json_object_new_int((int) b->power_cuts));
        ADD(o, "host_resets", json_object_new_int((int) b->host_resets));
        ADD(o, "model_resets", json_object_new_int((int) e->resets));
        ADD(o, "boots_completed", json_object_new_int((int) e->boots_completed));
        ADD(o, "bulk_bytes", json_object_new_int64((int64_t) b->bulk_bytes));
        ADD(o, "error", json_object_new_string(e->error));
        ADD(o, "verified", json_object_new_boolean(ok));
        ADD(o, "why", json_object_new_string(why));
        ADD(o, "current", json_object_new_string(e->stage == EMU_STAGE_SERVER ? e->last_name : ""));
        ADD(o, "last_event", json_object_new_string(b->last_event));
        for (size_t i = 0; i < e->n_files; i++) {
                const struct emu_received_file *rf = &e->files[i];
                struct json_object *f = json_object_new_object();
                ADD(f, "name", json_object_new_string(rf->name));
                ADD(f, "size", json_object_new_int64((int64_t) rf->size));
                ADD(f, "received", json_object_new_int64((int64_t) rf->received));
                ADD(f, "complete", json_object_new_boolean(rf->complete));
                ADD(f, "matches", json_object_new_boolean(emu_file_matches(&truth, rf)));
                json_object_array_add(files, f);
        }
        ADD(o, "files", files);
        return o;
}

struct json_object *rb_status_json(void) {
        struct json_object *o = json_object_new_object(), *boards = json_object_new_array(),
                           *hubs = json_object_new_array();

        for (unsigned i = 1; i <= RB_MAX_BOARDS; i++)
                if (rb_boards[i].defined)
                        json_object_array_add(boards, rb_board_json(&rb_boards[i]));
        for (size_t i = 0; i < RB_MAX_HUBS; i++) {
                const struct rb_hub *h = &rb_hubs[i];
                struct json_object *ho, *ports;
                if (!h->defined)
                        continue;
                ho = json_object_new_object();
                ports = json_object_new_array();
                ADD(ho, "id", json_object_new_string(h->id));
                ADD(ho, "port", json_object_new_string(h->port));
                ADD(ho, "present", json_object_new_boolean(h->present));
                ADD(ho, "port_power_switching", json_object_new_boolean(h->port_power_switching));
                ADD(ho, "power_events", json_object_new_int((int) h->power_events));
                for (unsigned p = 1; p <= h->n_ports; p++)
                        json_object_array_add(ports, json_object_new_boolean(h->port_powered[p]));
                ADD(ho, "port_powered", ports);
                json_object_array_add(hubs, ho);
        }
        ADD(o, "uptime_ms", json_object_new_int64((int64_t) rb_now_ms()));
        ADD(o, "hubs", hubs);
        ADD(o, "boards", boards);
        return o;
}

void rb_status_write(void) {
        char tmp[4096];
        FILE *f;
        struct json_object *o;

        if (!rb_opt.status_file)
                return;
        snprintf(tmp, sizeof tmp, "%s.tmp", rb_opt.status_file);
        f = fopen(tmp, "we");
        if (!f)
                return;
        o = rb_status_json();
        fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY), f);
        fputc('\n', f);
        json_object_put(o);
        if (fclose(f) != 0 || rename(tmp, rb_opt.status_file) < 0)
                rb_log(NULL, "cannot write %s: %s", rb_opt.status_file, strerror(errno));
}
