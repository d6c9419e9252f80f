/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * `clusterbootctl history`: GetHistory's boots (field names in
 * clusterboot/varlink.h) as a table, one row a boot, oldest first, then
 * each fault on a line of its own with what recovered it; or the reply as
 * JSON. Output goes to a FILE so the tests can read it.
 */

#include <stdio.h>

#include <json-c/json.h>

#include "rows.h"
#include "views.h"

extern const struct column history_columns[];
extern const size_t n_history_columns;

/* The boots of GetHistory's reply parameters. Returns 0 or -ENOMEM. */
int view_history(FILE *f, struct json_object *history, const struct view_options *o);
