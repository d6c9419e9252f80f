/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Did an emulated board get exactly what a boot directory holds? The
 * directory's files are hashed once (every file any SoC's board asks for,
 * and each loader); a board is then checked against them: it runs its
 * kernel, saw no protocol violation, holds each file whole and unchanged,
 * was told "not found" for what is missing, and "nothing" for an escape.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board.h"

#define EMU_TRUTH_MAX 64

struct emu_file_truth {
        char name[260];
        bool exists;
        uint64_t size, hash;
};

struct emu_boot_truth {
        struct emu_file_truth files[EMU_TRUTH_MAX];
        size_t n_files;
};

void emu_boot_truth_load(struct emu_boot_truth *t, const char *dir);
const struct emu_file_truth *emu_boot_truth_find(const struct emu_boot_truth *t, const char *name);
/* Whether this file the board received is the directory's, whole. */
bool emu_file_matches(const struct emu_boot_truth *t, const struct emu_received_file *rf);

/* The board's files alone, whatever stage it is in; false with a sentence in `why`. */
bool emu_board_verify_files(const struct emu_board *b, const struct emu_boot_truth *t, char *why, size_t why_size);
/* Runs its kernel, saw no violation, and its files are right. */
bool emu_board_verify(const struct emu_board *b, const struct emu_boot_truth *t, char *why, size_t why_size);
