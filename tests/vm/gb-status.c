/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gadget-boards: what each board should hold (the boot directory's files,
 * hashed once), the verdict on what it got, and the status file (JSON,
 * rewritten atomically by its own thread whenever a board changes).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "board-verify.h"
#include "gadget-boards.h"

static struct emu_boot_truth truth;
static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t status_cond = PTHREAD_COND_INITIALIZER;
static unsigned status_seq;

void status_changed(void) {
        pthread_mutex_lock(&status_lock);
        status_seq++;
        pthread_cond_signal(&status_cond);
        pthread_mutex_unlock(&status_lock);
}

/* The status thread's cond waits on CLOCK_MONOTONIC, as every cond here (see deadline_in()). */
void status_init(const pthread_condattr_t *ca) {
        pthread_cond_destroy(&status_cond);
        pthread_cond_init(&status_cond, ca);
}

/* ----------------------------------------------------------- the board's truth */

void status_load_truth(const char *boot_dir) {
        emu_boot_truth_load(&truth, boot_dir);
}

/* Did this board get exactly the boot directory's files (whatever else happened)? */
static bool verify_files(const struct gboard *g, char *why, size_t why_size) {
        if (!opt.boot_dir) {
                snprintf(why, why_size, "no --boot-dir to compare with");
                return false;
        }
        return emu_board_verify_files(&g->emu, &truth, why, why_size);
}

/* Runs its kernel, got exactly the boot files, saw no protocol violation. */
static bool verify_board(const struct gboard *g, char *why, size_t why_size) {
        if (!opt.boot_dir) {
                snprintf(why, why_size, "no --boot-dir to compare with");
                return false;
        }
        return emu_board_verify(&g->emu, &truth, why, why_size);
}

/* ---------------------------------------------------------------- status file */

static void json_str(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c < 0x20 || c >= 0x7f)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}

static void write_board(FILE *f, struct gboard *g) {
        char why[300], files_why[300];
        bool ok, files_ok;

        pthread_mutex_lock(&g->lock);
        const struct emu_board *b = &g->emu;
        ok = verify_board(g, why, sizeof why);
        files_ok = verify_files(g, files_why, sizeof files_why);
        fprintf(f, "{\"board\":%u,\"udc\":\"dummy_udc.%u\",\"port\":", g->index, g->udc);
        json_str(f, g->port);
        fprintf(f, ",\"stage\":\"%s\",\"next_stage\":\"%s\",\"on_bus\":%s,\"attempt\":%u,\"connections\":%u,"
                   "\"boots_completed\":%u,\"resets\":%u,\"resets_seen\":%u,\"bulk_bytes\":%" PRIu64 ","
                   "\"loader_received\":%" PRIu32 ",\"escape_asked\":%s,\"escape_answer\":%" PRIu64 ",\"power_cuts\":%u,"
                   "\"unplugged\":%s,\"error\":",
                emu_stage_name(b->stage), emu_stage_name(b->next_stage), g->connected ? "true" : "false", b->attempt,
                g->connections, b->boots_completed, b->resets, g->resets_seen, g->bulk_bytes, b->loader_received,
                b->escape_asked ? "true" : "false", b->escape_answer, g->power_cuts,
                g->unplugged ? "true" : "false");
        json_str(f, b->error);
        fprintf(f, ",\"verified\":%s,\"why\":", ok ? "true" : "false");
        json_str(f, why);
        fprintf(f, ",\"files_ok\":%s,\"files_why\":", files_ok ? "true" : "false");
        json_str(f, files_why);
        fprintf(f, ",\"current\":");
        json_str(f, b->stage == EMU_STAGE_SERVER ? b->last_name : "");
        fprintf(f, ",\"last_event\":");
        json_str(f, g->last_event);
        fprintf(f, ",\"soc\":\"%s\",\"file_sessions\":%u,\"metadata_answered\":%u", emu_soc_name(b->config.soc),
                b->file_sessions, b->metadata_answered);
        fprintf(f, ",\"halts_cleared\":%u,\"rom_ms\":%" PRIu64 ",\"gadget_ms\":%" PRIu64 ",\"fault\":", b->halts_cleared,
                g->rom_ms, g->gadget_ms);
        if (g->fault_seen) {
                fprintf(f, "{\"ms\":%" PRIu64 ",\"write\":", g->fault_ms);
                json_str(f, g->fault_write);
                fprintf(f, ",\"offset\":%" PRIu64 ",\"unsent\":%" PRIu64 ",\"strikes\":%u}", g->fault_offset,
                        g->fault_unsent, b->faults_struck);
        } else {
                fputs("null", f);
        }
        char mac[13];
        emu_board_mac_string(b, mac);
        fprintf(f, ",\"gadget\":{\"functions\":\"%s\",\"mac\":\"%s\",\"alts\":[", emu_gadget_name(b->config.gadget),
                mac);
        for (unsigned i = 0; i < MAX_INTERFACES; i++)
                fprintf(f, "%s%u", i ? "," : "", g->alt[i]);
        fprintf(f,
                "],\"set_interfaces\":%u,\"class_acked\":%u,\"class_stalled\":%u,\"line_coding_set\":%s,"
                "\"net_bytes\":%" PRIu64 "}",
                g->set_interfaces, g->class_acked, g->class_stalled, g->line_coding_set ? "true" : "false", g->net_bytes);
        fprintf(f, ",\"files\":[");
        for (size_t i = 0; i < b->n_files; i++) {
                const struct emu_received_file *rf = &b->files[i];
                bool same = emu_file_matches(&truth, rf);
                fprintf(f, "%s{\"name\":", i ? "," : "");
                json_str(f, rf->name);
                fprintf(f, ",\"size\":%" PRIu64 ",\"received\":%" PRIu64 ",\"complete\":%s,\"matches\":%s}",
                        rf->size, rf->received, rf->complete ? "true" : "false", same ? "true" : "false");
        }
        fprintf(f, "]}");
        pthread_mutex_unlock(&g->lock);
}

void write_status(void) {
        char tmp[4096];
        FILE *f;

        if (!opt.status_file)
                return;
        snprintf(tmp, sizeof tmp, "%s.tmp", opt.status_file);
        f = fopen(tmp, "we");
        if (!f) {
                blog(NULL, "cannot write %s: %s", tmp, strerror(errno));
                return;
        }
        fprintf(f, "{\"uptime_ms\":%" PRIu64 ",\"boards\":[\n", now_ms() - t_start);
        for (unsigned i = 0; i < opt.n_boards; i++) {
                write_board(f, &boards[i]);
                fputs(i + 1 < opt.n_boards ? ",\n" : "\n", f);
        }
        fputs("]}\n", f);
        if (fclose(f) != 0 || rename(tmp, opt.status_file) < 0)
                blog(NULL, "cannot write %s: %s", opt.status_file, strerror(errno));
}

void *status_main(void *arg) {
        unsigned seen = 0;

        (void) arg;
        for (;;) {
                pthread_mutex_lock(&status_lock);
                while (status_seq == seen && !quitting) {
                        struct timespec ts = deadline_in(1000);
                        pthread_cond_timedwait(&status_cond, &status_lock, &ts);
                }
                seen = status_seq;
                pthread_mutex_unlock(&status_lock);
                if (quitting)
                        break;
                write_status();
                sleep_ms(50); /* coalesce bursts */
        }
        return NULL;
}
