/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A text table: columns sized to their contents, an optional header, cells
 * optionally coloured, and on a terminal the last (free-text) column cut to
 * the screen width. Cell text is sanitised when added.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct table;

struct table_print_options {
        bool colours;
        bool header;
        size_t width; /* 0: no limit (output to a pipe or file) */
};

struct table *table_new(size_t n_columns, const char *const *headers);
struct table *table_free(struct table *t);
/* Adds the next cell, row by row; `colour` (an ANSI sequence, or NULL) is used only when printing with colours. */
int table_add(struct table *t, const char *text, const char *colour);
int table_addf(struct table *t, const char *colour, const char *format, ...) __attribute__((format(printf, 3, 4)));
size_t table_rows(const struct table *t);
void table_print(const struct table *t, FILE *f, const struct table_print_options *o);
