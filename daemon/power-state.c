/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "power-state.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "file-replace.h"
#include "log.h"
#include "util.h"

#define STATE_FILE "powered-off"
/* Node names are short; a longer line is not one of ours. */
#define NAME_MAX_LEN 255

bool cb_power_state_contains(const struct cb_power_state *s, const char *name) {
        for (size_t i = 0; i < s->n_names; i++)
                if (strcmp(s->names[i], name) == 0)
                        return true;
        return false;
}

int cb_power_state_set(struct cb_power_state *s, const char *name, bool off) {
        if (off) {
                char **names;

                if (cb_power_state_contains(s, name))
                        return 0;
                names = realloc(s->names, (s->n_names + 1) * sizeof *names);
                if (!names)
                        return -ENOMEM;
                s->names = names;
                s->names[s->n_names] = strdup(name);
                if (!s->names[s->n_names])
                        return -ENOMEM;
                s->n_names++;
                return 1;
        }
        for (size_t i = 0; i < s->n_names; i++)
                if (strcmp(s->names[i], name) == 0) {
                        free(s->names[i]);
                        s->names[i] = s->names[--s->n_names];
                        return 1;
                }
        return 0;
}

void cb_power_state_done(struct cb_power_state *s) {
        for (size_t i = 0; i < s->n_names; i++)
                free(s->names[i]);
        free(s->names);
        *s = (struct cb_power_state){ 0 };
}

int cb_power_state_load(const char *directory, struct cb_power_state *ret) {
        _cleanup_free_ char *path = NULL, *line = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        struct cb_power_state s = { 0 };
        size_t allocated = 0;
        unsigned lineno = 0;
        ssize_t n;
        int r;

        if (asprintf(&path, "%s/" STATE_FILE, directory) < 0)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f) {
                if (errno != ENOENT)
                        return log_warning_errno(errno, "cannot read %s; every node counts as powered on", path);
                *ret = s;
                return 0;
        }
        while ((n = getline(&line, &allocated, f)) >= 0) {
                lineno++;
                if (n > 0 && line[n - 1] == '\n')
                        line[--n] = '\0';
                if (n == 0)
                        continue;
                if ((size_t) n > NAME_MAX_LEN || strlen(line) != (size_t) n) {
                        log_warning("%s:%u: not a node name; ignoring the line", path, lineno);
                        continue;
                }
                r = cb_power_state_set(&s, line, true);
                if (r < 0) {
                        cb_power_state_done(&s);
                        return r;
                }
        }
        *ret = s;
        return 0;
}

int cb_power_state_save(const char *directory, const struct cb_power_state *s) {
        _cleanup_free_ char *text = NULL;
        const char *step = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        int r;

        if (!f)
                return log_error_errno(errno, "cannot write %s/" STATE_FILE, directory);
        for (size_t i = 0; i < s->n_names; i++)
                fprintf(f, "%s\n", s->names[i]);
        if (fclose(f) != 0)
                return log_error_errno(errno, "cannot write %s/" STATE_FILE, directory);
        /* the whole list or the old one: a power cut mid-write must not forget which nodes stay off */
        r = cb_file_replace(directory, STATE_FILE, text ? text : "", size, &step);
        if (r < 0)
                return log_error_errno(r, "cannot %s %s/" STATE_FILE, step ? step : "write", directory);
        return 0;
}
