/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct worker_job {
        cb_worker_job_t job;
        cb_worker_done_t done;
        void *data;
        int result;
        int efd;
        sd_event_source *source;
};

static void *worker_main(void *p) {
        struct worker_job *w = p;
        uint64_t one = 1;

        w->result = w->job(w->data);
        /* the write publishes w->result to the loop thread */
        while (write(w->efd, &one, sizeof one) < 0 && errno == EINTR)
                ;
        return NULL;
}

static int on_finished(sd_event_source *s, int fd, uint32_t revents, void *p) {
        struct worker_job *w = p;
        uint64_t value;

        if (read(fd, &value, sizeof value) < 0 && errno == EAGAIN)
                return 0;
        w->done(w->data, w->result);
        sd_event_source_disable_unref(w->source);
        close(w->efd);
        free(w);
        return 0;
}

int cb_worker_run(sd_event *event, cb_worker_job_t job, cb_worker_done_t done, void *data) {
        struct worker_job *w = calloc(1, sizeof *w);
        pthread_attr_t attr;
        pthread_t thread;
        int r;

        if (!w)
                return -ENOMEM;
        *w = (struct worker_job){ .job = job, .done = done, .data = data, .efd = -1 };
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0) {
                r = -errno;
                free(w);
                return r;
        }
        r = sd_event_add_io(event, &w->source, w->efd, EPOLLIN, on_finished, w);
        if (r < 0)
                goto fail;

        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = -pthread_create(&thread, &attr, worker_main, w);
        pthread_attr_destroy(&attr);
        if (r < 0)
                goto fail;
        return 0;
fail:
        sd_event_source_disable_unref(w->source);
        close(w->efd);
        free(w);
        return r;
}
