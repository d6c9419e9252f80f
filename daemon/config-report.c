/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config-report.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util.h"

/* Longer names are not typos of a key: the distance table would only grow. */
#define SUGGEST_MAX_LEN 64
#define SUGGEST_MAX_DISTANCE 2

int cb_config_report_init(struct cb_config_report *r, const char *path) {
        *r = (struct cb_config_report){ 0 };
        return strdup_to(&r->path, path);
}

void cb_config_report_done(struct cb_config_report *r) {
        for (size_t i = 0; i < r->n_messages; i++)
                free(r->messages[i].text);
        free(r->messages);
        free(r->path);
        *r = (struct cb_config_report){ 0 };
}

int cb_config_report_add(struct cb_config_report *r, bool warning, unsigned line, const char *format, ...) {
        struct cb_config_message *messages;
        char *text = NULL;
        va_list ap;
        int n;

        if (warning)
                r->n_warnings++;
        else
                r->n_errors++;
        va_start(ap, format);
        n = vasprintf(&text, format, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        messages = realloc(r->messages, (r->n_messages + 1) * sizeof *messages);
        if (!messages) {
                free(text);
                return -ENOMEM;
        }
        r->messages = messages;
        r->messages[r->n_messages++] = (struct cb_config_message){ .warning = warning, .line = line, .text = text };
        return 0;
}

char *cb_config_message_format(const struct cb_config_report *r, const struct cb_config_message *m, char *buf,
                               size_t size) {
        const char *path = r->path ? r->path : "(configuration)";
        const char *kind = m->warning ? "warning: " : "";

        if (m->line > 0)
                snprintf(buf, size, "%s:%u: %s%s", path, m->line, kind, m->text);
        else
                snprintf(buf, size, "%s: %s%s", path, kind, m->text);
        return buf;
}

void cb_config_report_print(const struct cb_config_report *r, FILE *f) {
        char line[4096];

        for (size_t i = 0; i < r->n_messages; i++)
                fprintf(f, "%s\n", cb_config_message_format(r, &r->messages[i], line, sizeof line));
}

void cb_config_report_log(const struct cb_config_report *r) {
        const char *path = r->path ? r->path : "(configuration)";

        /* the log says "warning:" itself; the text is the one --check-config prints without it */
        for (size_t i = 0; i < r->n_messages; i++) {
                const struct cb_config_message *m = &r->messages[i];
                int priority = m->warning ? LOG_WARNING : LOG_ERR;

                if (m->line > 0)
                        cb_log(priority, 0, NULL, "%s:%u: %s", path, m->line, m->text);
                else
                        cb_log(priority, 0, NULL, "%s: %s", path, m->text);
        }
}

/* Optimal string alignment distance (Damerau-Levenshtein with adjacent swaps), case-insensitive. */
static size_t edit_distance(const char *a, const char *b) {
        size_t na = strlen(a), nb = strlen(b);
        size_t d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1];

        for (size_t i = 0; i <= na; i++)
                d[i][0] = i;
        for (size_t j = 0; j <= nb; j++)
                d[0][j] = j;
        for (size_t i = 1; i <= na; i++)
                for (size_t j = 1; j <= nb; j++) {
                        size_t cost = strncasecmp(a + i - 1, b + j - 1, 1) != 0;
                        size_t best = MIN(d[i - 1][j] + 1, d[i][j - 1] + 1);

                        best = MIN(best, d[i - 1][j - 1] + cost);
                        if (i > 1 && j > 1 && strncasecmp(a + i - 1, b + j - 2, 1) == 0 &&
                            strncasecmp(a + i - 2, b + j - 1, 1) == 0)
                                best = MIN(best, d[i - 2][j - 2] + 1);
                        d[i][j] = best;
                }
        return d[na][nb];
}

const char *cb_config_suggest(const char *word, const char *const *known, size_t n_known) {
        const char *best = NULL;
        size_t best_distance = SUGGEST_MAX_DISTANCE + 1;

        if (!word || strlen(word) > SUGGEST_MAX_LEN)
                return NULL;
        for (size_t i = 0; i < n_known; i++) {
                size_t d;

                if (strlen(known[i]) > SUGGEST_MAX_LEN)
                        continue;
                d = edit_distance(word, known[i]);
                /* at least half of the known word must stay, or every short word "means" every other */
                if (d < best_distance && 2 * d <= strlen(known[i])) {
                        best = known[i];
                        best_distance = d;
                }
        }
        return best;
}
