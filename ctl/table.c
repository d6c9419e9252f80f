/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "table.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

/* A table cut to the screen still shows this much of its last column. */
#define LAST_COLUMN_MIN 12
#define COLUMN_GAP 2

struct cell {
        char *text;
        const char *colour;
};

struct table {
        size_t n_columns;
        const char *const *headers;
        struct cell *cells;
        size_t n_cells, allocated;
};

struct table *table_new(size_t n_columns, const char *const *headers) {
        struct table *t = calloc(1, sizeof *t);

        if (!t)
                return NULL;
        t->n_columns = n_columns;
        t->headers = headers;
        return t;
}

struct table *table_free(struct table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i].text);
        free(t->cells);
        free(t);
        return NULL;
}

int table_add(struct table *t, const char *text, const char *colour) {
        size_t n = strlen(text) + 1;
        char *copy;

        if (t->n_cells == t->allocated) {
                size_t a = t->allocated ? t->allocated * 2 : 64;
                struct cell *c = realloc(t->cells, a * sizeof *c);
                if (!c)
                        return -ENOMEM;
                t->cells = c;
                t->allocated = a;
        }
        copy = malloc(n);
        if (!copy)
                return -ENOMEM;
        format_sanitize(copy, n, text);
        t->cells[t->n_cells++] = (struct cell){ .text = copy, .colour = colour };
        return 0;
}

int table_addf(struct table *t, const char *colour, const char *format, ...) {
        char buf[1024];
        va_list ap;

        va_start(ap, format);
        vsnprintf(buf, sizeof buf, format, ap);
        va_end(ap);
        return table_add(t, buf, colour);
}

size_t table_rows(const struct table *t) {
        return t->n_columns ? t->n_cells / t->n_columns : 0;
}

static void print_cell(FILE *f, const char *text, const char *colour, size_t pad, bool colours) {
        if (colours && colour)
                fprintf(f, "%s%s%s", colour, text, ANSI_NORMAL);
        else
                fputs(text, f);
        for (size_t i = 0; i < pad; i++)
                fputc(' ', f);
}

/* The text itself when it fits (however long), else a cut copy in buf. */
static const char *fit(char *buf, size_t size, const char *text, size_t width) {
        return text_width(text) <= width ? text : ellipsize(buf, size, text, width);
}

void table_print(const struct table *t, FILE *f, const struct table_print_options *o) {
        size_t widths[32] = { 0 }, n = t->n_columns < 32 ? t->n_columns : 32, rows = table_rows(t), total = 0;
        char cut[1024];

        if (n == 0)
                return;
        for (size_t c = 0; c < n; c++) {
                if (o->header && t->headers)
                        widths[c] = text_width(t->headers[c]);
                for (size_t r = 0; r < rows; r++) {
                        size_t w = text_width(t->cells[r * t->n_columns + c].text);
                        if (w > widths[c])
                                widths[c] = w;
                }
                total += widths[c] + (c + 1 < n ? COLUMN_GAP : 0);
        }
        /* Only the last column gives way: it holds free text (errors), the others are short and must stay whole. */
        if (o->width > 0 && total > o->width) {
                size_t others = total - widths[n - 1];
                widths[n - 1] = o->width > others + LAST_COLUMN_MIN ? o->width - others : LAST_COLUMN_MIN;
        }

        if (o->header && t->headers) {
                for (size_t c = 0; c < n; c++) {
                        bool last = c + 1 == n;
                        const char *shown = fit(cut, sizeof cut, t->headers[c], widths[c]);
                        print_cell(f, shown, ANSI_UNDERLINE, last ? 0 : widths[c] - text_width(shown) + COLUMN_GAP,
                                   o->colours);
                }
                fputc('\n', f);
        }
        for (size_t r = 0; r < rows; r++) {
                for (size_t c = 0; c < n; c++) {
                        const struct cell *cell = &t->cells[r * t->n_columns + c];
                        bool last = c + 1 == n;
                        const char *shown = fit(cut, sizeof cut, cell->text, widths[c]);

                        print_cell(f, shown, cell->colour, last ? 0 : widths[c] - text_width(shown) + COLUMN_GAP,
                                   o->colours);
                }
                fputc('\n', f);
        }
}
