/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "state-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "worker.h"

struct state_write {
        char *directory;
        char *name;
        char *content;
        size_t size;
        char failed_step[32]; /* what went wrong, for the loop's message */
};

static void state_write_free(struct state_write *w) {
        free(w->directory);
        free(w->name);
        free(w->content);
        free(w);
}

static int write_all(int fd, const char *data, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, data, size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                data += n;
                size -= (size_t) n;
        }
        return 0;
}

/* On the worker thread: touches nothing but `w`. */
static int state_write_job(void *data) {
        struct state_write *w = data;
        _cleanup_free_ char *temp = NULL;
        _cleanup_close_ int dir_fd = -1, fd = -1;
        int r;

        if (asprintf(&temp, ".%s.tmp", w->name) < 0)
                return -ENOMEM;
        if (mkdir(w->directory, 0755) < 0 && errno != EEXIST) {
                snprintf(w->failed_step, sizeof w->failed_step, "create the directory");
                return -errno;
        }
        dir_fd = open(w->directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0) {
                snprintf(w->failed_step, sizeof w->failed_step, "open the directory");
                return -errno;
        }
        fd = openat(dir_fd, temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
                snprintf(w->failed_step, sizeof w->failed_step, "create");
                return -errno;
        }
        r = write_all(fd, w->content, w->size);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && renameat(dir_fd, temp, dir_fd, w->name) < 0)
                r = -errno;
        if (r < 0) {
                snprintf(w->failed_step, sizeof w->failed_step, "write");
                (void) unlinkat(dir_fd, temp, 0);
        }
        return r;
}

static void state_write_done(void *data, int result) {
        struct state_write *w = data;

        if (result == -ECANCELED)
                log_debug("%s/%s not written: the daemon is stopping", w->directory, w->name);
        else if (result < 0)
                log_warning_errno(result, "cannot %s %s/%s", w->failed_step[0] ? w->failed_step : "write",
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
