/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "testbed.h"

/*
 * Checks that a board booted completely and correctly: it runs its kernel
 * (gadget stage), saw no protocol violation, and holds the loader and every
 * file it asked for, byte for byte equal to the synthetic boot files at
 * `scale`. Prints each problem to stderr; returns how many there were.
 */
unsigned tb_check_board(tb_testbed *tb, tb_board *b, unsigned scale);

/* Writes the synthetic boot files (synth.h) at `scale` into `dir`; returns 0 or -errno. */
int tb_write_boot_files(const char *dir, unsigned scale);
