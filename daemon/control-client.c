/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control server's connections: taking one on (who is calling) and
 * ending it, reading and framing its calls, queueing and sending its replies
 * with back-pressure (a client that does not read is dropped).
 */
#include <sys/epoll.h>

#include "clusterboot/varlink.h"
#include "control-internal.h"

/* Reads per wake-up of one client: a client streaming calls cannot keep the loop to itself. */
#define READ_CHUNK (16u * 1024u)
#define READS_PER_WAKEUP 4

/* ---- life cycle ---- */

void client_free(struct client *cl) {
        struct cb_control *c = cl->control;

        if (cl->prev)
                cl->prev->next = cl->next;
        else
                c->clients = cl->next;
        if (cl->next)
                cl->next->prev = cl->prev;
        c->n_clients--;
        if (cl->watching)
                c->n_watchers--;
        /* unref detaches the fd from epoll even while its own callback runs, so closing after it is safe */
        sd_event_source_disable_unref(cl->io);
        if (cl->fd >= 0)
                close(cl->fd);
        cb_msgbuf_done(&cl->in);
        free(cl->out);
        free(cl->groups);
        free(cl);
}

/*
 * Ends a client. Inside one of its own callbacks the memory stays until the
 * callback ends (the caller may still look at it); the socket goes at once.
 */
void client_drop(struct client *cl) {
        if (cl->dead)
                return;
        cl->dead = true;
        if (cl->busy == 0)
                client_free(cl);
        else
                (void) sd_event_source_set_enabled(cl->io, SD_EVENT_OFF);
}

struct client *find_client(struct cb_control *c, uint64_t id) {
        for (struct client *cl = c->clients; cl; cl = cl->next)
                if (cl->id == id)
                        return cl->dead ? NULL : cl;
        return NULL;
}

/* ---- permission ---- */

bool client_may_change(struct client *c) {
        struct cb_peer peer = {
                .pid = c->cred.pid,
                .uid = c->cred.uid,
                .gid = c->cred.gid,
                .groups = c->groups,
                .n_groups = c->n_groups,
        };
        return cb_control_peer_may_change_now(&peer, c->groups_known);
}

/* ---- output ---- */

static bool client_reads(const struct client *cl) {
        return !cl->watching && !cl->input_closed && !cl->drop_after_flush && cl->waiting == 0;
}

/* Sends what is queued, as far as the socket takes it. Returns 0 or a negative errno (the peer is gone). */
static int client_flush(struct client *cl) {
        while (cl->out_start < cl->out_end) {
                ssize_t n = send(cl->fd, cl->out + cl->out_start, cl->out_end - cl->out_start,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }
                cl->out_start += (size_t) n;
        }
        if (cl->out_start == cl->out_end)
                cl->out_start = cl->out_end = 0;
        return 0;
}

/*
 * After anything happened to a client: flush, then decide whether it lives
 * on (and what to wait for) or is done. Returns false if it was dropped.
 */
bool client_settle(struct client *cl) {
        uint32_t events;
        int r;

        if (cl->dead)
                return false;
        r = client_flush(cl);
        if (r < 0) {
                client_log(LOG_DEBUG, cl, "gone while being answered (%s)", strerror(-r));
                client_drop(cl);
                return false;
        }
        if (client_pending_output(cl) > cl->control->max_output_size) {
                client_log(LOG_WARNING, cl, "not reading its replies (%zu bytes queued); dropping it",
                           client_pending_output(cl));
                client_drop(cl);
                return false;
        }
        if (client_pending_output(cl) == 0 && cl->waiting == 0 && (cl->input_closed || cl->drop_after_flush)) {
                client_log(LOG_DEBUG, cl, "%s", "done");
                client_drop(cl);
                return false;
        }
        /* A watcher waits for nothing but room to write; its hangup still arrives as EPOLLHUP. */
        events = (client_reads(cl) ? EPOLLIN : 0) | (client_pending_output(cl) > 0 ? EPOLLOUT : 0);
        r = sd_event_source_set_io_events(cl->io, events);
        if (r < 0) {
                client_log(LOG_WARNING, cl, "cannot wait for it: %s", strerror(-r));
                client_drop(cl);
                return false;
        }
        return true;
}

int client_queue(struct client *cl, const char *data, size_t size) {
        /* the NUL that ends a varlink message */
        size_t need = size + 1;

        if (cl->out_allocated - cl->out_end < need && cl->out_start > 0) {
                memmove(cl->out, cl->out + cl->out_start, cl->out_end - cl->out_start);
                cl->out_end -= cl->out_start;
                cl->out_start = 0;
        }
        if (cl->out_allocated - cl->out_end < need) {
                size_t n = cl->out_allocated ? cl->out_allocated : 4096;
                char *p;

                while (n - cl->out_end < need)
                        n *= 2;
                p = realloc(cl->out, n);
                if (!p)
                        return -ENOMEM;
                cl->out = p;
                cl->out_allocated = n;
        }
        memcpy(cl->out + cl->out_end, data, size);
        cl->out[cl->out_end + size] = '\0';
        cl->out_end += need;
        return 0;
}

int client_queue_json(struct client *cl, struct json_object *message) {
        size_t size = 0;
        const char *s = cb_json_to_string(message, &size);

        if (!s)
                return -ENOMEM;
        return client_queue(cl, s, size);
}

/* ---- reading ---- */

/* A message that is not a call: say why, then close, since nothing after it can be trusted. */
int reject_message(struct client *cl, const char *why) {
        struct call call = { .client = cl };
        int r;

        client_log(LOG_WARNING, cl, "sent an invalid message (%s); dropping it", why);
        cl->drop_after_flush = true;
        r = reply_error(&call, CB_VL_ERROR_INVALID_PARAMETER, NULL, "invalid varlink message: %s", why);
        return r == -ENOMEM ? r : 0;
}

/* Answers the complete calls received so far. */
void client_process(struct client *cl) {
        while (!cl->dead && client_reads(cl)) {
                char *text = NULL;
                size_t size = 0;
                int r = cb_msgbuf_next(&cl->in, &text, &size);

                if (r == -EMSGSIZE) {
                        char why[64];
                        snprintf(why, sizeof why, "longer than %zu bytes", cl->control->max_message_size);
                        r = reject_message(cl, why);
                } else if (r > 0) {
                        r = handle_message(cl, text, size);
                } else {
                        break;
                }
                if (r < 0) {
                        client_log(LOG_WARNING, cl, "cannot answer: %s; dropping it", strerror(-r));
                        client_drop(cl);
                }
        }
}

static void client_read(struct client *cl) {
        char buf[READ_CHUNK];

        for (unsigned i = 0; i < READS_PER_WAKEUP && !cl->dead && client_reads(cl); i++) {
                ssize_t n = recv(cl->fd, buf, sizeof buf, MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return;
                        client_log(LOG_DEBUG, cl, "read failed: %s", strerror(errno));
                        client_drop(cl);
                        return;
                }
                if (n == 0) {
                        cl->input_closed = true;
                        if (cb_msgbuf_pending(&cl->in) > 0)
                                client_log(LOG_DEBUG, cl, "hung up in the middle of a message (%zu bytes)",
                                           cb_msgbuf_pending(&cl->in));
                        return;
                }
                if (cb_msgbuf_feed(&cl->in, buf, (size_t) n) < 0) {
                        client_log(LOG_WARNING, cl, "%s", "out of memory; dropping it");
                        client_drop(cl);
                        return;
                }
                client_process(cl);
        }
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct client *cl = userdata;

        cl->busy++;
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (client_reads(cl))
                        client_read(cl); /* pending calls first: a client may send and hang up at once */
                else if (revents & (EPOLLHUP | EPOLLERR)) {
                        client_log(LOG_DEBUG, cl, "%s", "hung up");
                        client_drop(cl);
                }
        }
        cl->busy--;
        if (cl->dead) {
                client_free(cl);
                return 0;
        }
        (void) client_settle(cl);
        return 0;
}

/* ---- connecting ---- */

static int read_peer_groups(struct client *cl) {
        socklen_t len = 64 * sizeof(gid_t);

        for (;;) {
                gid_t *g = realloc(cl->groups, len > 0 ? len : sizeof(gid_t));

                if (!g)
                        return -ENOMEM;
                cl->groups = g;
                if (getsockopt(cl->fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) >= 0) {
                        cl->n_groups = len / sizeof(gid_t);
                        cl->groups_known = true;
                        return 0;
                }
                if (errno != ERANGE)
                        return -errno;
                /* len now says how much is needed */
        }
}

int client_new(struct cb_control *c, int fd) {
        struct client *cl = calloc(1, sizeof *cl);
        socklen_t len = sizeof cl->cred;
        int r;

        if (!cl) {
                close(fd);
                return -ENOMEM;
        }
        cl->control = c;
        cl->fd = fd;
        cl->id = ++c->next_client_id;
        cl->last_active = now_usec();
        cb_msgbuf_init(&cl->in, c->max_message_size);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cl->cred, &len) < 0) {
                r = -errno;
                close(fd);
                cb_msgbuf_done(&cl->in);
                free(cl);
                return log_warning_errno(r, "control: cannot tell who connected; closing the connection");
        }
        r = read_peer_groups(cl);
        if (r < 0 && r != -ENOPROTOOPT)
                client_log(LOG_DEBUG, cl, "no SO_PEERGROUPS (%s); the user database will be asked", strerror(-r));

        cl->next = c->clients;
        if (c->clients)
                c->clients->prev = cl;
        c->clients = cl;
        c->n_clients++;

        r = sd_event_add_io(c->event, &cl->io, fd, EPOLLIN, on_client_io, cl);
        if (r < 0) {
                client_free(cl);
                return log_warning_errno(r, "control: cannot watch a new connection");
        }
        (void) sd_event_source_set_priority(cl->io, CB_EVENT_PRIORITY_CONTROL);
        (void) sd_event_source_set_description(cl->io, "control-client");
        client_log(LOG_DEBUG, cl, "%s", "connected");
        return 0;
}
