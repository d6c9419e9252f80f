/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "rows.h"

#include <errno.h>

#define MAX_COLUMNS 32

bool rows_show_column(struct json_object *rows, const struct column *column) {
        if (!column->only_if_present)
                return true;
        for (size_t i = 0; rows && i < json_object_array_length(rows); i++)
                if (json_object_object_get_ex(json_object_array_get_idx(rows, i), column->fields[0], NULL))
                        return true;
        return false;
}

static const char *cell_text(char *buf, size_t size, const struct column *column, struct json_object *row) {
        struct json_object *v = NULL;

        if (column->text)
                return column->text(buf, size, row);
        if (!json_object_object_get_ex(row, column->fields[0], &v) || !v)
                return "-";
        if (json_object_is_type(v, json_type_string))
                return json_object_get_string(v);
        snprintf(buf, size, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
        return buf;
}

int rows_print_table(FILE *f, struct json_object *rows, const struct column *columns, size_t n_columns,
                     const struct table_print_options *o) {
        const char *headers[MAX_COLUMNS];
        const struct column *shown[MAX_COLUMNS];
        size_t n_shown = 0, n_rows = rows ? json_object_array_length(rows) : 0;
        struct table *t;
        int r = 0;

        for (size_t c = 0; c < n_columns && n_shown < MAX_COLUMNS; c++)
                if (rows_show_column(rows, &columns[c])) {
                        headers[n_shown] = columns[c].header;
                        shown[n_shown++] = &columns[c];
                }
        t = table_new(n_shown, headers);
        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < n_rows && r >= 0; i++) {
                struct json_object *row = json_object_array_get_idx(rows, i);

                for (size_t c = 0; c < n_shown && r >= 0; c++) {
                        char buf[512];
                        const char *text = cell_text(buf, sizeof buf, shown[c], row);

                        r = table_add(t, text, shown[c]->colour ? shown[c]->colour(row) : NULL);
                }
        }
        if (r >= 0)
                table_print(t, f, o);
        table_free(t);
        return r;
}

void print_json(FILE *f, struct json_object *o, enum json_mode mode) {
        int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
                    (mode == JSON_PRETTY ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);

        fprintf(f, "%s\n", json_object_to_json_string_ext(o, flags));
}
