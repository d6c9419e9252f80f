/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Whether the machine fits a (valid) configuration: the directories it
 * names and the programs it runs. A configuration can be valid and still not
 * work here: no bootcode.bin to send, a state directory nobody can write (a
 * node powered off would not stay off across a restart), a power command
 * that is not installed. These are warnings, not errors: the daemon starts,
 * and serves what it can.
 */

#include <stddef.h>

#include "config.h"
#include "config-report.h"

/* Adds a warning to `report` for each problem (with the line of the setting). Returns 0 or -ENOMEM. */
int cb_config_check_environment(const struct cb_config *config, struct cb_config_report *report);

/*
 * Can the daemon keep its state in `directory` (or create it: one level, as
 * it does)? Returns 0, or a negative errno with one sentence in `why` that
 * names the directory.
 */
int cb_state_directory_check(const char *directory, char *why, size_t size);
