/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * redir-boards: what each board should hold (the boot directory's files,
 * hashed once), the verdict on what it got (as world_verify_board() and
 * gadget-boards judge: running its kernel, every file complete and equal to
 * the boot directory's, no protocol violation), and the status as JSON (for
 * the guest's `status`, and the optional status file).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rb.h"

struct file_truth {
        char name[260];
        bool exists;
        uint64_t size, hash;
};

static struct file_truth truths[EMU_MAX_FILES + 1];
static size_t n_truths;

static const struct file_truth *truth(const char *name) {
        for (size_t i = 0; i < n_truths; i++)
                if (strcmp(truths[i].name, name) == 0)
                        return &truths[i];
        return NULL;
}

static void add_truth(const char *name) {
        char path[4096];
        struct file_truth *t;

        if (truth(name) || n_truths >= sizeof truths / sizeof truths[0])
                return;
        t = &truths[n_truths++];
        snprintf(t->name, sizeof t->name, "%s", name);
        snprintf(path, sizeof path, "%s/%s", rb_opt.boot_dir, name);
        t->exists = emu_hash_file(path, &t->hash, &t->size) == 0;
}

void rb_status_init(void) {
        add_truth("bootcode.bin");
        for (size_t i = 0; i < emu_pi_zero_n_requests; i++)
                add_truth(emu_pi_zero_requests[i]);
}

static bool verify_files(const struct rb_board *b, char *why, size_t why_size) {
        const struct emu_board *e = &b->emu;
        const struct file_truth *t = truth("bootcode.bin");

        if (!t || !t->exists || e->loader_received != t->size || e->loader_hash != t->hash) {
                snprintf(why, why_size, "loader: got %" PRIu32 " bytes, differing from bootcode.bin",
                         e->loader_received);
                return false;
        }
        for (size_t k = 0; k < e->config.n_requests; k++) {
                const char *name = e->config.requests[k];
                const struct emu_received_file *rf = emu_board_file(e, name);

                t = truth(name);
                if (!t || !t->exists) {
                        if (rf && rf->size != 0) {
                                snprintf(why, why_size, "%s: missing in the boot directory, announced %" PRIu64 " bytes",
                                         name, rf->size);
                                return false;
                        }
                        continue;
                }
                if (!rf || !rf->complete || rf->size != t->size || rf->received != t->size || rf->hash != t->hash) {
                        snprintf(why, why_size, "%s: holds %" PRIu64 " of %" PRIu64 " bytes%s", name,
                                 rf ? rf->received : 0, t->size, rf && rf->complete ? ", wrong hash" : "");
                        return false;
                }
        }
        if (e->escape_asked && e->escape_answer != 0) {
                snprintf(why, why_size, "asked for ../../etc/shadow and was told it has %" PRIu64 " bytes",
                         e->escape_answer);
                return false;
        }
        why[0] = '\0';
        return true;
}

bool rb_board_verify(const struct rb_board *b, char *why, size_t why_size) {
        if (b->emu.error[0]) {
                snprintf(why, why_size, "protocol violation: %s", b->emu.error);
                return false;
        }
        if (b->emu.stage != EMU_STAGE_GADGET) {
                snprintf(why, why_size, "in stage %s, not running its kernel", emu_stage_name(b->emu.stage));
                return false;
        }
        return verify_files(b, why, why_size);
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
                const struct file_truth *t = truth(rf->name);
                struct json_object *f = json_object_new_object();
                ADD(f, "name", json_object_new_string(rf->name));
                ADD(f, "size", json_object_new_int64((int64_t) rf->size));
                ADD(f, "received", json_object_new_int64((int64_t) rf->received));
                ADD(f, "complete", json_object_new_boolean(rf->complete));
                ADD(f, "matches", json_object_new_boolean(t && t->exists && rf->complete && rf->received == t->size &&
                                                          rf->hash == t->hash));
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
