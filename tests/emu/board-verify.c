/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "board-verify.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void add(struct emu_boot_truth *t, const char *dir, const char *name) {
        char path[4096];
        struct emu_file_truth *f;

        if (emu_boot_truth_find(t, name) || t->n_files >= EMU_TRUTH_MAX)
                return;
        f = &t->files[t->n_files++];
        snprintf(f->name, sizeof f->name, "%s", name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        f->exists = emu_hash_file(path, &f->hash, &f->size) == 0;
}

void emu_boot_truth_load(struct emu_boot_truth *t, const char *dir) {
        static const enum emu_soc socs[] = { EMU_SOC_2835, EMU_SOC_2837, EMU_SOC_2711, EMU_SOC_2712 };

        memset(t, 0, sizeof *t);
        for (size_t s = 0; s < sizeof socs / sizeof socs[0]; s++) {
                size_t n;
                const char *const *names = emu_soc_requests(socs[s], &n);

                add(t, dir, emu_soc_loader_name(socs[s]));
                for (size_t i = 0; i < n; i++)
                        if (emu_request_is_file(names[i]))
                                add(t, dir, names[i]);
        }
}

const struct emu_file_truth *emu_boot_truth_find(const struct emu_boot_truth *t, const char *name) {
        for (size_t i = 0; i < t->n_files; i++)
                if (strcmp(t->files[i].name, name) == 0)
                        return &t->files[i];
        return NULL;
}

bool emu_file_matches(const struct emu_boot_truth *t, const struct emu_received_file *rf) {
        const struct emu_file_truth *f = emu_boot_truth_find(t, rf->name);

        return f && f->exists && rf->complete && rf->received == f->size && rf->hash == f->hash;
}

bool emu_board_verify_files(const struct emu_board *b, const struct emu_boot_truth *t, char *why, size_t why_size) {
        const char *loader = emu_soc_loader_name(b->config.soc);
        const struct emu_file_truth *f = emu_boot_truth_find(t, loader);

        if (!f || !f->exists || b->loader_received != f->size || b->loader_hash != f->hash) {
                snprintf(why, why_size, "loader: got %" PRIu32 " bytes, differing from %s", b->loader_received, loader);
                return false;
        }
        for (size_t k = 0; k < b->config.n_requests; k++) {
                const char *name = b->config.requests[k];
                const struct emu_received_file *rf = emu_board_file(b, name);

                if (!emu_request_is_file(name))
                        continue;
                f = emu_boot_truth_find(t, name);
                if (!f || !f->exists) {
                        if (rf && rf->size != 0) {
                                snprintf(why, why_size, "%s: missing in the boot directory, announced %" PRIu64 " bytes",
                                         name, rf->size);
                                return false;
                        }
                        continue;
                }
                if (!rf || !emu_file_matches(t, rf) || rf->size != f->size) {
                        snprintf(why, why_size, "%s: holds %" PRIu64 " of %" PRIu64 " bytes%s", name,
                                 rf ? rf->received : 0, f->size, rf && rf->complete ? ", wrong hash" : "");
                        return false;
                }
        }
        if (b->escape_asked && b->escape_answer != 0) {
                snprintf(why, why_size, "asked for ../../etc/shadow and was told it has %" PRIu64 " bytes",
                         b->escape_answer);
                return false;
        }
        why[0] = '\0';
        return true;
}

bool emu_board_verify(const struct emu_board *b, const struct emu_boot_truth *t, char *why, size_t why_size) {
        if (b->error[0]) {
                snprintf(why, why_size, "protocol violation: %s", b->error);
                return false;
        }
        if (b->stage != EMU_STAGE_GADGET) {
                snprintf(why, why_size, "in stage %s, not running its kernel", emu_stage_name(b->stage));
                return false;
        }
        return emu_board_verify_files(b, t, why, why_size);
}
