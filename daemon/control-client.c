/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control server's connections: taking one on (who is calling) and
 * ending it, reading and framing its calls, queueing and sending its replies.
 *
 * Fairness, per client: a wakeup answers at most calls_per_wakeup calls;
 * calls read beyond that wait in the client's buffer and are taken up on a
 * later loop iteration (the backlog source), after the boards and the other
 * clients had their turn. Before each reply is built, the client's queued
 * output is looked at: at the high-water mark it is not read (nor answered)
 * any further until it has taken its replies down to the low-water mark, so
 * a client that pipelines calls without reading costs a bounded queue, not
 * a reply per call it sent. A peer that hung up (EPOLLHUP: it can read no
 * more) is dropped with whatever it asked still unanswered: no reply is
 * built for nobody.
 *
 * A client that owes replies and reads none, while nothing it could still
 * send would be read (paused at the high water, or its sending side shut,
 * or its stream broken), is given stall_timeout to take a byte of them;
 * then it is dropped. Without that, a pipelining client that shuts its
 * sending side and never reads holds its slot and its queue for ever.
 */
#include <linux/sockios.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>

#include "clusterboot/varlink.h"
#include "control-internal.h"

/*
 * One read: a few hundred small calls. Only read when no complete call is
 * buffered, so the buffer stays near this size however much a client sends.
 */
#define READ_CHUNK (16u * 1024u)
/* Reads per wakeup that brought no complete call (a large call arriving in pieces). */
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
        if (cl->privileged)
                c->n_privileged--;
        /* unref detaches the fd from epoll even while its own callback runs, so closing after it is safe */
        sd_event_source_disable_unref(cl->io);
        sd_event_source_disable_unref(cl->backlog);
        sd_event_source_disable_unref(cl->stall);
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
        else {
                (void) sd_event_source_set_enabled(cl->io, SD_EVENT_OFF);
                (void) sd_event_source_set_enabled(cl->backlog, SD_EVENT_OFF);
                (void) sd_event_source_set_enabled(cl->stall, SD_EVENT_OFF);
        }
}

struct client *find_client(struct cb_control *c, uint64_t id) {
        for (struct client *cl = c->clients; cl; cl = cl->next)
                if (cl->id == id)
                        return cl->dead ? NULL : cl;
        return NULL;
}

/* ---- permission ---- */

/* The peer as the permission checks see it (control-peer.c). */
static struct cb_peer client_peer(const struct client *cl) {
        return (struct cb_peer){
                .pid = cl->cred.pid,
                .uid = cl->cred.uid,
                .gid = cl->cred.gid,
                .groups = cl->groups,
                .n_groups = cl->n_groups,
        };
}

bool client_may_change(struct client *cl) {
        struct cb_peer peer = client_peer(cl);

        /* the group's gid as of the last reload, the peer's groups as of its connect: no lookup here */
        return cb_control_peer_may_change(&peer, control_group(cl->control));
}

/* ---- output ---- */

static bool client_reads(const struct client *cl) {
        return !cl->watching && !cl->input_closed && !cl->drop_after_flush && cl->waiting == 0 && !cl->output_paused;
}

/* Bytes the peer sent that are still in the socket, unread. */
static size_t socket_unread(const struct client *cl) {
        int n = 0;

        return ioctl(cl->fd, SIOCINQ, &n) == 0 && n > 0 ? (size_t) n : 0;
}

bool client_idle(struct client *cl) {
        return !cl->dead && !cl->watching && cl->waiting == 0 && client_pending_output(cl) == 0 &&
               cb_msgbuf_pending(&cl->in) == 0 && socket_unread(cl) == 0;
}

/* Has the peer gone for good (it cannot read what we would answer)? Asked between wakeups of the backlog. */
static bool peer_hung_up(const struct client *cl) {
        struct pollfd p = { .fd = cl->fd };

        return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

static int on_client_backlog(sd_event_source *s, void *userdata);

static void schedule_backlog(struct client *cl) {
        int r;

        if (!cl->backlog) {
                r = sd_event_add_defer(cl->control->event, &cl->backlog, on_client_backlog, cl);
                if (r < 0) {
                        /* its next bytes wake it instead; a client that sends none waits for them */
                        client_log(LOG_WARNING, cl, "cannot queue its remaining calls: %s", strerror(-r));
                        return;
                }
                (void) sd_event_source_set_priority(cl->backlog, cl->private_socket ? CB_EVENT_PRIORITY_TURN
                                                                                     : CB_EVENT_PRIORITY_CONTROL);
                (void) sd_event_source_set_description(cl->backlog, "control-client-backlog");
        }
        (void) sd_event_source_set_enabled(cl->backlog, SD_EVENT_ONESHOT);
}

static usec_t loop_now(const struct client *cl) {
        uint64_t now = 0;

        return sd_event_now(cl->control->event, CLOCK_MONOTONIC, &now) >= 0 ? now : now_usec();
}

/*
 * Sends what is queued, as far as the socket takes it. Returns 0 or a
 * negative errno (the peer is gone); *ret_sent: whether any byte went.
 */
static int client_flush(struct client *cl, bool *ret_sent) {
        *ret_sent = false;
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
                *ret_sent = *ret_sent || n > 0;
        }
        if (cl->out_start == cl->out_end)
                cl->out_start = cl->out_end = 0;
        return 0;
}

/* It owes replies, and nothing it could send would be read: only its taking them moves it on. */
static bool client_stalled(const struct client *cl) {
        return client_pending_output(cl) > 0 && !cl->watching &&
               (cl->output_paused || cl->input_closed || cl->drop_after_flush);
}

static int on_client_stall(sd_event_source *s, uint64_t usec, void *userdata);

/* Arms (or disarms) the stall timer after a settle; `sent`: it took bytes just now. */
static int watch_stall(struct client *cl, bool sent) {
        usec_t now;
        int r;

        if (!client_stalled(cl)) {
                cl->stalled_since = 0;
                return sd_event_source_set_enabled(cl->stall, SD_EVENT_OFF);
        }
        now = loop_now(cl);
        if (cl->stalled_since == 0 || sent)
                cl->stalled_since = now;
        if (!cl->stall) {
                r = sd_event_add_time(cl->control->event, &cl->stall, CLOCK_MONOTONIC,
                                      cl->stalled_since + cl->control->stall_timeout, USEC_PER_SEC / 10,
                                      on_client_stall, cl);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_priority(cl->stall, CB_EVENT_PRIORITY_CONTROL);
                (void) sd_event_source_set_description(cl->stall, "control-client-stall");
                return 0;
        }
        r = sd_event_source_set_time(cl->stall, cl->stalled_since + cl->control->stall_timeout);
        if (r >= 0)
                r = sd_event_source_set_enabled(cl->stall, SD_EVENT_ONESHOT);
        return r;
}

/*
 * After anything happened to a client: flush, then decide whether it lives
 * on (and what to wait for) or is done. Returns false if it was dropped.
 */
bool client_settle(struct client *cl) {
        uint32_t events;
        bool sent;
        int r;

        if (cl->dead)
                return false;
        r = client_flush(cl, &sent);
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
        if (cl->output_paused && client_pending_output(cl) <= cl->control->output_low_water) {
                cl->output_paused = false;
                /* calls it sent while paused may be in its buffer already, with nothing new to wake it */
                if (cb_msgbuf_pending(&cl->in) > 0)
                        schedule_backlog(cl);
        }
        if (client_pending_output(cl) == 0 && cl->waiting == 0 && (cl->input_closed || cl->drop_after_flush)) {
                client_log(LOG_DEBUG, cl, "%s", "done");
                client_drop(cl);
                return false;
        }
        /* A watcher waits for nothing but room to write; its hangup still arrives as EPOLLHUP. */
        events = (client_reads(cl) ? EPOLLIN : 0) | (client_pending_output(cl) > 0 ? EPOLLOUT : 0);
        r = sd_event_source_set_io_events(cl->io, events);
        if (r >= 0)
                r = watch_stall(cl, sent);
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


/*
 * Answers the calls received so far and reads more while the budget lasts:
 * at most calls_per_wakeup calls, and none once the client's queued output
 * reached the high-water mark (looked at before each call, so the queue
 * passes it by one reply at most). What is left over is taken up by the
 * backlog source on a later iteration.
 */
void client_serve(struct client *cl) {
        struct cb_control *c = cl->control;
        size_t budget = c->calls_per_wakeup;
        unsigned reads = 0;
        char buf[READ_CHUNK];

        while (!cl->dead && budget > 0 && client_reads(cl)) {
                char *text = NULL;
                size_t size = 0;
                int r;

                if (client_pending_output(cl) >= c->output_high_water) {
                        /* what the socket takes now does not count against it */
                        if (client_settle(cl) && client_pending_output(cl) >= c->output_high_water) {
                                client_log(LOG_DEBUG, cl, "%zu bytes of replies queued; not read until it takes them",
                                           client_pending_output(cl));
                                cl->output_paused = true;
                        }
                        continue;
                }
                r = cb_msgbuf_next(&cl->in, &text, &size);
                if (r == -EMSGSIZE) {
                        char why[64];
                        snprintf(why, sizeof why, "longer than %zu bytes", c->max_message_size);
                        r = c->reject(cl, why);
                } else if (r > 0) {
                        budget--;
                        r = c->dispatch(cl, text, size);
                } else {
                        /* no complete call buffered: read more */
                        ssize_t n;

                        if (reads++ >= READS_PER_WAKEUP)
                                break;
                        n = recv(cl->fd, buf, sizeof buf, MSG_DONTWAIT);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0 && errno == EAGAIN)
                                break;
                        if (n < 0) {
                                client_log(LOG_DEBUG, cl, "read failed: %s", strerror(errno));
                                client_drop(cl);
                                break;
                        }
                        if (n == 0) {
                                cl->input_closed = true;
                                if (cb_msgbuf_pending(&cl->in) > 0)
                                        client_log(LOG_DEBUG, cl, "hung up in the middle of a message (%zu bytes)",
                                                   cb_msgbuf_pending(&cl->in));
                                break;
                        }
                        r = cb_msgbuf_feed(&cl->in, buf, (size_t) n);
                        if (r < 0) {
                                client_log(LOG_WARNING, cl, "%s", "out of memory; dropping it");
                                client_drop(cl);
                                break;
                        }
                }
                if (r < 0) {
                        client_log(LOG_WARNING, cl, "cannot answer: %s; dropping it", strerror(-r));
                        client_drop(cl);
                }
        }
        /* the budget ran out with calls (or their start) buffered: their bytes will not wake it again */
        if (!cl->dead && budget == 0 && client_reads(cl) && cb_msgbuf_pending(&cl->in) > 0)
                schedule_backlog(cl);
}

/* The peer is gone: what it asked is not answered, since nobody would read the replies. */
static void client_hung_up(struct client *cl) {
        size_t unread = cb_msgbuf_pending(&cl->in) + socket_unread(cl);

        if (unread > 0)
                client_log(LOG_DEBUG, cl, "hung up; its %zu bytes of calls not yet answered are dropped", unread);
        else
                client_log(LOG_DEBUG, cl, "%s", "hung up");
        client_drop(cl);
}

void client_took_turn(struct client *cl) {
        bool raised = cl->raised;

        control_took_turn(cl->control, cl->io, &cl->raised);
        if (raised && cl->backlog)
                (void) sd_event_source_set_priority(cl->backlog, CB_EVENT_PRIORITY_CONTROL);
}

/* One turn of a client: its hangup, or its calls; then it is freed if that ended it, else settled. */
static int client_turn(struct client *cl, bool hung_up, bool readable) {
        client_took_turn(cl);
        cl->busy++;
        if (hung_up)
                client_hung_up(cl);
        else if (readable)
                client_serve(cl);
        cl->busy--;
        if (cl->dead) {
                client_free(cl);
                return 0;
        }
        (void) client_settle(cl);
        return 0;
}

/*
 * A privileged peer's call is usually in the socket when its connection is
 * accepted: served then, it does not wait a second turn of the socket.
 */
void client_serve_at_once(struct client *cl) {
        (void) client_turn(cl, false, true);
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        /*
         * EPOLLHUP: both directions are shut, the peer can read nothing. A
         * half close (shutdown(SHUT_WR), EPOLLRDHUP alone) is not a hangup:
         * such a peer still reads, and its calls are answered (EOF then ends it).
         */
        return client_turn(userdata, revents & (EPOLLHUP | EPOLLERR), revents & EPOLLIN);
}

/* It took none of the replies it owes for stall_timeout (a settle in between would have moved the time on). */
static int on_client_stall(sd_event_source *s, uint64_t usec, void *userdata) {
        struct client *cl = userdata;

        client_took_turn(cl);
        if (!client_stalled(cl)) {
                (void) client_settle(cl);
                return 0;
        }
        client_log(LOG_WARNING, cl, "took none of its %zu bytes of replies for %.1fs (%s); dropping it",
                   client_pending_output(cl), (double) cl->control->stall_timeout / USEC_PER_SEC,
                   cl->output_paused ? "not read until it takes them" : "it sends nothing more");
        client_drop(cl);
        return 0;
}

/* The calls left over from an earlier wakeup. */
static int on_client_backlog(sd_event_source *s, void *userdata) {
        struct client *cl = userdata;

        return client_turn(cl, peer_hung_up(cl), true);
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
                        return 0;
                }
                if (errno != ERANGE)
                        return -errno;
                /* len now says how much is needed */
        }
}

int client_new(struct cb_control *c, int fd, struct client **ret) {
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
        if (r < 0) {
                /* a kernel before 4.13: procfs tells them, without the user database (which may block) */
                free(cl->groups);
                cl->groups = NULL;
                cl->n_groups = 0;
                r = cb_control_peer_groups_from_proc(NULL, cl->cred.pid, cl->cred.uid, &cl->groups, &cl->n_groups);
                if (r < 0)
                        client_log(LOG_DEBUG, cl, "its groups are not known (%s); only its primary one counts",
                                   strerror(-r));
        }
        cl->privileged = client_may_change(cl);

        cl->next = c->clients;
        if (c->clients)
                c->clients->prev = cl;
        c->clients = cl;
        c->n_clients++;
        c->n_privileged += cl->privileged;

        r = sd_event_add_io(c->event, &cl->io, fd, EPOLLIN, on_client_io, cl);
        if (r < 0) {
                client_free(cl);
                return log_warning_errno(r, "control: cannot watch a new connection");
        }
        (void) sd_event_source_set_priority(cl->io, CB_EVENT_PRIORITY_CONTROL);
        (void) sd_event_source_set_description(cl->io, "control-client");
        client_log(LOG_DEBUG, cl, "%s", cl->privileged ? "connected (privileged)" : "connected");
        *ret = cl;
        return 0;
}
