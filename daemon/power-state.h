/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Which nodes were powered off on request, kept across daemon restarts in
 * <StateDirectory>/powered-off: one node name per line. The file is
 * replaced atomically (written beside, then renamed), so a crash leaves the
 * old list or the new one, never half of one.
 */

#include <stdbool.h>
#include <stddef.h>

struct cb_power_state {
        char **names;
        size_t n_names;
};

/* A missing file is an empty list. Unreadable lines (too long, not UTF-8-ish) are skipped with a warning. */
int cb_power_state_load(const char *directory, struct cb_power_state *ret);
int cb_power_state_save(const char *directory, const struct cb_power_state *state);
bool cb_power_state_contains(const struct cb_power_state *state, const char *name);
/* Adds or removes `name`; returns 1 if the list changed, 0 if not, or -ENOMEM. */
int cb_power_state_set(struct cb_power_state *state, const char *name, bool off);
void cb_power_state_done(struct cb_power_state *state);
