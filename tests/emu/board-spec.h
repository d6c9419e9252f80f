/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * An emulated board's faults and settings as text, the way the VM tiers'
 * board programs take them on their command lines and control channels
 * (gadget-boards --fault/--board, redir-boards' board-add).
 */

#include "board.h"

#define EMU_FAULT_NAME_SIZE 260

/* A whole number (decimal, 0x hex or 0 octal) of at most `max`; 0 or -EINVAL. */
int emu_parse_unsigned(const char *s, unsigned long max, unsigned long *ret);

/*
 * KIND[:file=NAME][:offset=N][:request=N][:at=POINT][:attempt=N][:ms=N][:sticky]
 * KIND: stall no-answer pause hang vanish unplug rom-failure bogus-command
 * name-no-nul escape no-gadget; POINT: rom-header rom-loader rom-status
 * request file gadget (a fault that can only happen at one point needs
 * none). The file's name goes to `name`, which f->name must then point to.
 * Returns 0, -EINVAL or -ENOMEM.
 */
int emu_fault_parse(const char *spec, struct emu_fault *f, char name[EMU_FAULT_NAME_SIZE]);

/*
 * One board-model setting: rom-pid=0x2763|0x2764,
 * after-bulk-fault=wait-resend|restart, on-reset=restart|keep,
 * soc=2835|2837|2711|2712, serial=HEX (the 2711/2712 ROM's SoC serial),
 * serial-index=N (the 2711/2712 second stage's iSerialNumber),
 * handoff=leave|done (how the 2711's start4.elf opens its second session),
 * product=d0 (2712: "BCM2712D0 Boot"), read-missing=yes|no (a ReadFile even
 * after "not found"), gadget=plain|ecm|ecm-acm (what its booted Linux
 * offers). Returns 0, -EINVAL for a bad value, or -ENOENT when `key` is no
 * setting of the model (the caller may have its own).
 */
int emu_board_setting_parse(const char *key, const char *value, struct emu_board_config *c);
