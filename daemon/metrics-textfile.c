/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "metrics-textfile.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

struct cb_metrics_textfile {
        char *directory;
        char *path, *temp;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        char *pending; /* the newest text, not written yet */
        bool stop;
        int last_error; /* told once, not at every write */
};

static int write_file(const struct cb_metrics_textfile *t, const char *text) {
        _cleanup_close_ int fd = -1;
        size_t n = strlen(text);

        fd = open(t->temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, CB_READABLE_FILE_MODE);
        if (fd < 0 || make_readable(fd) < 0)
                return -errno;
        for (const char *p = text; n > 0;) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        int e = -errno;
                        (void) unlink(t->temp);
                        return e;
                }
                p += k;
                n -= (size_t) k;
        }
        if (rename(t->temp, t->path) < 0) {
                int e = -errno;
                (void) unlink(t->temp);
                return e;
        }
        return 0;
}

static void *writer(void *userdata) {
        struct cb_metrics_textfile *t = userdata;

        pthread_mutex_lock(&t->lock);
        for (;;) {
                while (!t->pending && !t->stop)
                        pthread_cond_wait(&t->wake, &t->lock);
                if (!t->pending)
                        break; /* stopping, and everything was written */
                char *text = TAKE_PTR(t->pending);
                pthread_mutex_unlock(&t->lock);

                int r = write_file(t, text);
                free(text);
                if (r < 0 && r != t->last_error)
                        log_warning_errno(r, "metrics: cannot write %s", t->path);
                else if (r == 0 && t->last_error != 0)
                        log_info("metrics: %s written again", t->path);
                t->last_error = r;

                pthread_mutex_lock(&t->lock);
        }
        pthread_mutex_unlock(&t->lock);
        return NULL;
}

int cb_metrics_textfile_new(const char *directory, struct cb_metrics_textfile **ret) {
        struct cb_metrics_textfile *t = calloc(1, sizeof *t);
        int r;

        if (!t)
                return -ENOMEM;
        if (asprintf(&t->path, "%s/" CB_METRICS_FILE, directory) < 0 ||
            /* not ending in .prom: the collector never reads a file being written */
            asprintf(&t->temp, "%s/.%s.tmp", directory, CB_METRICS_FILE) < 0 || !(t->directory = strdup(directory))) {
                free(t->path);
                free(t->temp);
                free(t);
                return -ENOMEM;
        }
        pthread_mutex_init(&t->lock, NULL);
        pthread_cond_init(&t->wake, NULL);
        r = -pthread_create(&t->thread, NULL, writer, t);
        if (r < 0) {
                pthread_mutex_destroy(&t->lock);
                pthread_cond_destroy(&t->wake);
                free(t->directory);
                free(t->path);
                free(t->temp);
                free(t);
                return log_error_errno(r, "metrics: cannot start the writer thread");
        }
        *ret = t;
        return 0;
}

void cb_metrics_textfile_write(struct cb_metrics_textfile *t, char *text) {
        pthread_mutex_lock(&t->lock);
        free(t->pending);
        t->pending = text;
        pthread_cond_signal(&t->wake);
        pthread_mutex_unlock(&t->lock);
}

const char *cb_metrics_textfile_directory(const struct cb_metrics_textfile *t) {
        return t->directory;
}

struct cb_metrics_textfile *cb_metrics_textfile_free(struct cb_metrics_textfile *t) {
        if (!t)
                return NULL;
        pthread_mutex_lock(&t->lock);
        t->stop = true;
        pthread_cond_signal(&t->wake);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
        pthread_mutex_destroy(&t->lock);
        pthread_cond_destroy(&t->wake);
        free(t->pending);
        free(t->directory);
        free(t->path);
        free(t->temp);
        free(t);
        return NULL;
}
