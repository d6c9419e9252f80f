/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What a board's own firmware does once it runs, as far as the host must
 * know (../shared/docs/usb-boot-protocol.md §8): the facts per SoC that
 * decide whether a board leaving, or a file session ending, is part of a
 * normal boot.
 */

#include <stdbool.h>
#include <stdint.h>

/*
 * The CM4's start4.elf (or a variant: start4x.elf, start4cd.elf, ...),
 * once served, re-enumerates the board and asks for the kernel in a file
 * session of its own. `pid` is the device's product ID, `served_name` the
 * file the board was given.
 */
bool cb_firmware_opens_own_session(uint16_t pid, const char *served_name);
