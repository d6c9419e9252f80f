/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "state-file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "file-replace.h"
#include "log.h"
#include "util.h"
#include "worker.h"

struct state_write {
        char *directory;
        char *name;
        char *content;
        size_t size;
        const char *failed_step; /* what went wrong, for the loop's message */
};

static void state_write_free(struct state_write *w) {
        free(w->directory);
        free(w->name);
        free(w->content);
        free(w);
}

/* On the worker thread: touches nothing but `w`. */
static int state_write_job(void *data) {
        struct state_write *w = data;

        return cb_file_replace(w->directory, w->name, w->content, w->size, &w->failed_step);
}

static void state_write_done(void *data, int result) {
        struct state_write *w = data;

        if (result == -ECANCELED)
                log_debug("%s/%s not written: the daemon is stopping", w->directory, w->name);
        else if (result < 0)
                log_warning_errno(result, "cannot %s %s/%s", w->failed_step ? w->failed_step : "write",
                                  w->directory, w->name);
        else
                log_debug("wrote %s/%s", w->directory, w->name);
        state_write_free(w);
}

int cb_state_file_write(struct cb_worker *worker, const char *directory, const char *name, char *content,
                        size_t size) {
        struct state_write *w;
        int r;

        if (!worker || !directory || !name || !name[0] || strchr(name, '/') || name[0] == '.') {
                free(content);
                return -EINVAL;
        }
        w = calloc(1, sizeof *w);
        if (!w) {
                free(content);
                return -ENOMEM;
        }
        w->content = content;
        w->size = size;
        w->directory = strdup(directory);
        w->name = strdup(name);
        if (!w->directory || !w->name) {
                state_write_free(w);
                return -ENOMEM;
        }
        r = cb_worker_run(worker, state_write_job, state_write_done, w);
        if (r < 0)
                state_write_free(w);
        return r;
}
