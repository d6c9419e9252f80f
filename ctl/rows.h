/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A listing is an array of row objects (the daemon's node objects, with
 * what clusterbootctl adds, such as "host"), and a list of columns. The
 * same rows become the text table or the JSON output: every column names
 * the fields it is made from, so a column always has its JSON twin (the
 * unit tests check that every field a column names is in every row).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

#include "table.h"

enum json_mode {
        JSON_OFF,
        JSON_PRETTY,
        JSON_SHORT,
};

#define COLUMN_FIELDS_MAX 4

struct column {
        const char *header;
        /* the row's fields this column shows (its JSON twin); the first is the cell's text unless `text` is set */
        const char *fields[COLUMN_FIELDS_MAX];
        /* the cell's text from the row; NULL: the first field as text, "-" when null or absent */
        const char *(*text)(char *buf, size_t size, struct json_object *row);
        /* the cell's colour (an ANSI sequence) or NULL; may be NULL */
        const char *(*colour)(struct json_object *row);
        /* shown only when some row has the first field (HOST: only when rows come from several hosts) */
        bool only_if_present;
};

/* The rows as a table. Returns 0 or -ENOMEM. */
int rows_print_table(FILE *f, struct json_object *rows, const struct column *columns, size_t n_columns,
                     const struct table_print_options *o);
/* Whether the column is part of the listing of these rows. */
bool rows_show_column(struct json_object *rows, const struct column *column);

/* Any JSON value, as the mode says (JSON_OFF: as JSON_SHORT), and a newline. */
void print_json(FILE *f, struct json_object *o, enum json_mode mode);
