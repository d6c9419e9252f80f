/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "worker.h"

#include "event-priority.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct job {
        cb_worker_job_t job;
        cb_worker_done_t done;
        void *data;
        int result;
        struct job *next;
};

struct cb_worker {
        int efd;
        sd_event_source *source;
        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stop;
        bool finishing; /* stopping, but only once the queue is empty (cb_worker_finish()) */
        bool stopped; /* the thread is gone: jobs are refused (the loop's thread only) */
        struct job *queue, *queue_tail;     /* waiting, oldest first */
        struct job *finished, *finished_tail; /* done, oldest first, for the loop */
};

static void append(struct job **head, struct job **tail, struct job *j) {
        j->next = NULL;
        if (*tail)
                (*tail)->next = j;
        else
                *head = j;
        *tail = j;
}

static void *worker_main(void *p) {
        struct cb_worker *w = p;
        uint64_t one = 1;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                while (!w->queue && !w->stop)
                        pthread_cond_wait(&w->wake, &w->lock);
                if (w->stop && !(w->finishing && w->queue))
                        break;
                struct job *j = w->queue;
                w->queue = j->next;
                if (!w->queue)
                        w->queue_tail = NULL;
                pthread_mutex_unlock(&w->lock);

                j->result = j->job(j->data);

                pthread_mutex_lock(&w->lock);
                append(&w->finished, &w->finished_tail, j);
                while (write(w->efd, &one, sizeof one) < 0 && errno == EINTR)
                        ;
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

static int on_finished(sd_event_source *s, int fd, uint32_t revents, void *p) {
        struct cb_worker *w = p;
        uint64_t value;
        struct job *list;

        (void) !read(fd, &value, sizeof value);
        pthread_mutex_lock(&w->lock);
        list = w->finished;
        w->finished = w->finished_tail = NULL;
        pthread_mutex_unlock(&w->lock);

        while (list) {
                struct job *j = list;
                list = j->next;
                j->done(j->data, j->result);
                free(j);
        }
        return 0;
}

int cb_worker_new(sd_event *event, struct cb_worker **ret) {
        struct cb_worker *w = calloc(1, sizeof *w);
        int r;

        if (!w)
                return -ENOMEM;
        w->efd = -1;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->wake, NULL);
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(event, &w->source, w->efd, EPOLLIN, on_finished, w);
        if (r < 0)
                goto fail;
        /* a device opened or a port reset: the USB side of a board's boot */
        (void) sd_event_source_set_priority(w->source, CB_EVENT_PRIORITY_USB);
        r = -pthread_create(&w->thread, NULL, worker_main, w);
        if (r < 0)
                goto fail;
        w->thread_started = true;
        *ret = w;
        return 0;
fail:
        cb_worker_free(w);
        return r;
}

/*
 * Jobs that will not run (or whose result nobody collected) still tell their
 * owner. At a stop, a success not collected yet is told as -ECANCELED: its
 * owner is going away (an open whose device nobody will take); after a
 * finish every job was asked to be done and ran, so its own result is told.
 */
static void cancel_list(struct job *j, bool real_results) {
        while (j) {
                struct job *next = j->next;
                j->done(j->data, j->result || real_results ? j->result : -ECANCELED);
                free(j);
                j = next;
        }
}

static void stop_thread(struct cb_worker *w, bool finishing) {
        if (!w || w->stopped)
                return;
        if (w->thread_started) {
                pthread_mutex_lock(&w->lock);
                w->stop = true;
                w->finishing = finishing;
                pthread_cond_signal(&w->wake);
                pthread_mutex_unlock(&w->lock);
                pthread_join(w->thread, NULL);
        }
        /* before the callbacks: one that queues a job is refused, not left in a list nobody reads */
        w->stopped = true;
        cancel_list(TAKE_PTR(w->finished), finishing && w->thread_started);
        w->finished_tail = NULL;
        cancel_list(TAKE_PTR(w->queue), false);
        w->queue_tail = NULL;
}

void cb_worker_stop(struct cb_worker *w) {
        stop_thread(w, false);
}

void cb_worker_finish(struct cb_worker *w) {
        stop_thread(w, true);
}

struct cb_worker *cb_worker_free(struct cb_worker *w) {
        if (!w)
                return NULL;
        cb_worker_stop(w);
        sd_event_source_disable_unref(w->source);
        if (w->efd >= 0)
                close(w->efd);
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
}

int cb_worker_run(struct cb_worker *w, cb_worker_job_t job, cb_worker_done_t done, void *data) {
        struct job *j;

        if (w->stopped)
                return -ESHUTDOWN;
        j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        *j = (struct job){ .job = job, .done = done, .data = data };
        pthread_mutex_lock(&w->lock);
        append(&w->queue, &w->queue_tail, j);
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        return 0;
}
