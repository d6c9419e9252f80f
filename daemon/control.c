/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control server (see control.h): its listening socket (socket
 * activation, or bound to a path with stale-socket handling), accepting
 * connections fairly (per-user caps, slots kept for privileged peers, the
 * greediest user's idle client evicted when full, a reserve descriptor for
 * when the daemon runs out of them), and the public API. Connections: control-client.c; replies:
 * control-reply.c; methods: control-methods.c, control-power.c; Watch
 * events: control-watch.c.
 */
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <systemd/sd-daemon.h>

#include "clusterboot/varlink.h"
#include "control-internal.h"

/* After accept() failed for want of memory: try again this much later instead of spinning. */
#define ACCEPT_PAUSE_USEC (250 * USEC_PER_MSEC)
/* A whole listen queue (LISTEN_BACKLOG, control-listen.c) is taken in one turn. */
#define ACCEPTS_PER_WAKEUP 64
/* The longest the socket waits for a turn while the boards keep the loop busy, and who gets one then. */
#define TURN_WAIT_USEC (20 * USEC_PER_MSEC)
#define TURN_ACCURACY_USEC (2 * USEC_PER_MSEC)
#define TURN_OTHERS 2
/* At most this many log lines of one kind of refusal per interval, so that a flood cannot flood the journal. */
#define RATELIMIT_INTERVAL_USEC (10 * USEC_PER_SEC)
#define RATELIMIT_BURST 5

static void refusals_suppressed(void *userdata, unsigned suppressed, int priority) {
        log_warning("control: %u similar message%s suppressed", suppressed, suppressed == 1 ? "" : "s");
}


/* ---- turns: busy boards do not starve the socket ---- */

/*
 * The socket's sources run last (event-priority.h), so while the boards keep
 * the loop busy they would wait for as long as that lasts: a whole boot of
 * 32 boards. So when the socket has had no turn for TURN_WAIT_USEC while
 * something of it is pending, the listener, every privileged client and a
 * few others (in turn) are raised above the boards for one dispatch each,
 * after which each goes back down. Above them, not level with them: at the
 * boards' priority a raised source would still queue behind every pending
 * libusb descriptor (32 boards, 32 of them), which measured as half a second
 * per turn. The boards wait for those few budgets at most, once per
 * interval; a privileged client is served as it is accepted (its call is
 * usually there by then), so root's status waits one interval, not the
 * boot.
 *
 * How it notices, without a timer ticking while the daemon is idle: a post
 * source (run after any dispatch) arms a one-shot timer for an interval
 * later and goes off; the timer looks at whether the loop ran meanwhile
 * (sd-event's iteration count): if it did, the socket's starvation is
 * checked and the timer armed again; if not (idle), the post source is
 * turned back on for the next activity, and nothing runs until then.
 */

static void raise_source(sd_event_source *s, int64_t priority, bool *raised) {
        if (s && sd_event_source_get_pending(s) > 0 && sd_event_source_set_priority(s, priority) >= 0)
                *raised = true;
}

static bool client_pending(struct client *cl) {
        return !cl->dead && (sd_event_source_get_pending(cl->io) > 0 ||
                             (cl->backlog && sd_event_source_get_pending(cl->backlog) > 0));
}

/* Within a turn the listener and the privileged go first: root's call is not behind a flooder's budget. */
static void raise_client(struct client *cl) {
        int64_t priority = cl->privileged ? CB_EVENT_PRIORITY_TURN : CB_EVENT_PRIORITY_TURN_OTHERS;

        raise_source(cl->io, priority, &cl->raised);
        raise_source(cl->backlog, priority, &cl->raised);
}

static void raise_starved(struct cb_control *c) {
        unsigned others = 0;
        uint64_t last = 0;

        raise_source(c->listen_source, CB_EVENT_PRIORITY_TURN, &c->listen_raised);
        /* privileged clients all (there are few, and they are whom the socket is kept for) */
        for (struct client *cl = c->clients; cl; cl = cl->next)
                if (cl->privileged && !cl->private_socket && client_pending(cl))
                        raise_client(cl);
        /* the others a few at a time, in turn: from below the id where the last round stopped, then again from the top */
        for (int pass = 0; pass < 2 && others < TURN_OTHERS; pass++)
                for (struct client *cl = c->clients; cl && others < TURN_OTHERS; cl = cl->next)
                        if (!cl->privileged && !cl->raised && (pass == 1 || cl->id < c->next_turn_id) &&
                            client_pending(cl)) {
                                raise_client(cl);
                                others++;
                                last = cl->id;
                        }
        c->next_turn_id = last ? last : UINT64_MAX;
}

static void arm_turn_timer(struct cb_control *c, usec_t now) {
        (void) sd_event_source_set_time(c->turn_timer, now + TURN_WAIT_USEC);
        (void) sd_event_source_set_enabled(c->turn_timer, SD_EVENT_ONESHOT);
        (void) sd_event_get_iteration(c->event, &c->armed_iteration);
}

static int on_busy(sd_event_source *s, void *userdata) {
        struct cb_control *c = userdata;
        usec_t now = 0;

        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        arm_turn_timer(c, now);
        return 0;
}

static int on_turn_timer(sd_event_source *s, uint64_t now, void *userdata) {
        struct cb_control *c = userdata;
        uint64_t iteration = 0;

        (void) sd_event_get_iteration(c->event, &iteration);
        /* the post source and this timer are two iterations: anything more is other work */
        if (iteration - c->armed_iteration <= 2) {
                (void) sd_event_source_set_enabled(c->busy_post, SD_EVENT_ON);
                return 0;
        }
        if (now - c->last_turn >= TURN_WAIT_USEC)
                raise_starved(c);
        arm_turn_timer(c, now);
        return 0;
}

static int start_turns(struct cb_control *c) {
        int r = sd_event_add_post(c->event, &c->busy_post, on_busy, c);

        if (r < 0)
                return r;
        /* above the boards, or the boards would starve it too */
        (void) sd_event_source_set_priority(c->busy_post, CB_EVENT_PRIORITY_TURN);
        (void) sd_event_source_set_description(c->busy_post, "control-busy");
        r = sd_event_add_time(c->event, &c->turn_timer, CLOCK_MONOTONIC, 0, TURN_ACCURACY_USEC, on_turn_timer, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(c->turn_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_priority(c->turn_timer, CB_EVENT_PRIORITY_TURN);
        (void) sd_event_source_set_description(c->turn_timer, "control-turn");
        return 0;
}

/* ---- accepting ---- */

/*
 * Which connection gives way to `newcomer` when there is no room for it
 * (`own_uid`: only one of the newcomer's own user). Never a privileged
 * peer's for an unprivileged newcomer, and for a privileged one only an idle
 * privileged connection when no unprivileged one is left. Among the rest the
 * greediest user loses first: the one with the most connections (the
 * newcomer counted with its own), then its connection idle the longest. An
 * unprivileged newcomer takes only an idle connection (nothing asked, nothing
 * owed, not watching), and only from a user who holds at least as many as
 * its own would; a privileged newcomer takes any unprivileged one, idle first.
 * NULL: the newcomer is refused.
 *
 * Quadratic in the table (a count per candidate), on a table of 128 at most,
 * and only when it is full.
 */
static struct client *find_victim(struct cb_control *c, struct client *newcomer, bool own_uid) {
        size_t own = uid_clients(c, newcomer->cred.uid);
        struct client *best = NULL;
        size_t best_count = 0;
        bool best_idle = false;

        for (struct client *cl = c->clients; cl; cl = cl->next) {
                if (cl == newcomer || cl->dead || (own_uid && cl->cred.uid != newcomer->cred.uid))
                        continue;
                if (cl->privileged && (!newcomer->privileged || c->n_privileged < c->n_clients))
                        continue;
                bool idle = client_idle(cl);
                if (!idle && (!newcomer->privileged || cl->privileged))
                        continue;
                size_t count = cl->cred.uid == newcomer->cred.uid ? own : uid_clients(c, cl->cred.uid);
                if (!newcomer->privileged && count < own)
                        continue;
                bool better = !best || (idle && !best_idle) ||
                              (idle == best_idle && (count > best_count ||
                                                     (count == best_count && cl->last_active < best->last_active)));
                if (better) {
                        best = cl;
                        best_count = count;
                        best_idle = idle;
                }
        }
        return best;
}

/* Tells a connection that cannot be taken why, as an error it reads as the answer to its first call. */
static void refuse(struct client *cl, const char *error, const char *why) {
        char text[512];
        int n = snprintf(text, sizeof text, "{\"error\":\"%s\",\"parameters\":{\"message\":\"%s\"}}", error, why);

        /* a new socket's buffer is empty: this fits, or the peer is gone and it does not matter */
        if (n > 0 && (size_t) n < sizeof text)
                (void) send(cl->fd, text, (size_t) n + 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        client_drop(cl);
}

/*
 * A connection just joined the table: does it stay, and who makes room for
 * it? `fd_limited`: the daemon is out of file descriptors, so the table is
 * full wherever its limit says. Returns false if the newcomer was refused.
 */
static bool admit(struct cb_control *c, struct client *cl, bool fd_limited) {
        struct client *victim = NULL;
        const char *why = NULL;
        char why_buf[160];
        bool own_uid = false;

        if (!cl->privileged && uid_clients(c, cl->cred.uid) > c->max_clients_per_uid) {
                /* a user past its own cap makes room among its own connections, or waits */
                snprintf(why_buf, sizeof why_buf, "user %u has %zu connections, the most one user may have",
                         (unsigned) cl->cred.uid, c->max_clients_per_uid);
                why = why_buf;
                own_uid = true;
        } else if (!cl->privileged && c->n_clients - c->n_privileged > c->max_clients - c->privileged_clients) {
                why = "the connections that are not root's or the group's are all taken";
        } else if (c->n_clients > c->max_clients || fd_limited) {
                why = fd_limited ? "the daemon is out of file descriptors" : "every connection is taken";
        } else
                return true;

        victim = find_victim(c, cl, own_uid);
        if (!victim) {
                if (cb_log_ratelimit_test(&c->refuse_ratelimit, LOG_WARNING))
                        client_log(LOG_WARNING, cl, "refused: %s (%zu clients connected)", why, c->n_clients);
                refuse(cl, CB_VL_ERROR_LIMIT_REACHED, why);
                return false;
        }
        if (cb_log_ratelimit_test(&c->refuse_ratelimit, LOG_WARNING))
                client_log(LOG_WARNING, victim,
                           "dropped to make room (%s): its user has the most connections (%zu), and it was idle "
                           "for %.1fs",
                           why, uid_clients(c, victim->cred.uid), (double) (now_usec() - victim->last_active) / 1e6);
        client_drop(victim);
        return true;
}

static int on_accept_resume(sd_event_source *s, uint64_t usec, void *userdata) {
        struct cb_control *c = userdata;

        (void) sd_event_source_set_enabled(c->listen_source, SD_EVENT_ON);
        if (c->private_source)
                (void) sd_event_source_set_enabled(c->private_source, SD_EVENT_ON);
        return 0;
}

/* Out of memory (or of descriptors with no reserve left): stop accepting for a moment rather than spin. */
static void pause_accepting(struct cb_control *c) {
        usec_t when = now_usec() + ACCEPT_PAUSE_USEC;

        (void) sd_event_source_set_enabled(c->listen_source, SD_EVENT_OFF);
        if (c->private_source)
                (void) sd_event_source_set_enabled(c->private_source, SD_EVENT_OFF);
        if (!c->accept_pause) {
                if (sd_event_add_time(c->event, &c->accept_pause, CLOCK_MONOTONIC, when, 0, on_accept_resume, c) < 0)
                        (void) sd_event_source_set_enabled(c->listen_source, SD_EVENT_ON);
                else
                        (void) sd_event_source_set_priority(c->accept_pause, CB_EVENT_PRIORITY_CONTROL);
                return;
        }
        (void) sd_event_source_set_time(c->accept_pause, when);
        (void) sd_event_source_set_enabled(c->accept_pause, SD_EVENT_ONESHOT);
}

static void open_reserve(struct cb_control *c) {
        if (c->reserve_fd < 0)
                c->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/*
 * Out of file descriptors, the reserve one is given up for a moment, so
 * that the waiting connection can be taken and judged like any other with
 * the table full: an idle client of the greediest user makes room for it,
 * or it is refused (and told why). Either way the reserve is taken back.
 * Without this, idle clients holding every descriptor would stop accepts for
 * good: nothing else would ever close one. Returns the connection, or -errno.
 */
static int accept_on_reserve(struct cb_control *c, int listen_fd) {
        int fd;

        if (c->reserve_fd < 0)
                return -EMFILE;
        close(c->reserve_fd);
        c->reserve_fd = -1;
        fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        return fd >= 0 ? fd : -errno;
}

/*
 * A client of the private socket: only root and the group can connect to
 * it (the file's mode), so nobody else's connections queue before theirs,
 * and its calls are served above the boards (event-priority.h), bounded by
 * the same budgets. Anyone else there (a mode loosened by hand) is refused.
 */
static bool admit_private(struct client *cl) {
        if (!cl->privileged) {
                refuse(cl, CB_VL_ERROR_PERMISSION_DENIED,
                       "the private socket is for root and the group " CB_VL_CONTROL_GROUP);
                return false;
        }
        cl->private_socket = true;
        (void) sd_event_source_set_priority(cl->io, CB_EVENT_PRIORITY_TURN);
        return true;
}

/* A burst of connections is taken a slice at a time: the boards and the clients get their turns. */
static void accept_some(struct cb_control *c, int listen_fd, bool private_socket) {
        for (unsigned i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
                int cfd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                bool fd_limited = false;
                struct client *cl = NULL;

                if (cfd < 0 && (errno == EMFILE || errno == ENFILE)) {
                        cfd = accept_on_reserve(c, listen_fd);
                        fd_limited = cfd >= 0;
                        errno = cfd < 0 ? -cfd : 0;
                }
                if (cfd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        if (cb_log_ratelimit_test(&c->refuse_ratelimit, LOG_WARNING))
                                log_warning_errno(errno, "control: cannot accept a connection");
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                                pause_accepting(c);
                        break;
                }
                if (client_new(c, cfd, &cl) >= 0 && (!private_socket || admit_private(cl)) &&
                    admit(c, cl, fd_limited) && cl->privileged)
                        client_serve_at_once(cl);
                open_reserve(c);
        }
        open_reserve(c);
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct cb_control *c = userdata;

        control_took_turn(c, s, &c->listen_raised);
        accept_some(c, c->listen_fd, false);
        return 0;
}

static int on_accept_private(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        accept_some(userdata, fd, true);
        return 0;
}

/*
 * The private socket, beside the public one (its path with
 * CB_VL_PRIVATE_SUFFIX): the daemon's own, bound at start (also under
 * socket activation, so it is there while the daemon runs), mode 0660 in
 * the group clusterboot. Without it (no path, or it cannot be bound) root
 * uses the public socket as before: a warning, not a failure.
 */
static int listen_private(struct cb_control *c) {
        int r;

        if (!c->socket_path)
                return 0;
        if (asprintf(&c->private_path, "%s" CB_VL_PRIVATE_SUFFIX, c->socket_path) < 0) {
                c->private_path = NULL;
                return -ENOMEM;
        }
        r = control_listen_on_path(c->private_path, 0660, control_group(c), &c->private_fd);
        if (r < 0) {
                log_warning_errno(r, "control: no private socket; root and the group use the public one");
                free(c->private_path);
                c->private_path = NULL;
                return 0;
        }
        r = sd_event_add_io(c->event, &c->private_source, c->private_fd, EPOLLIN, on_accept_private, c);
        if (r < 0)
                return log_error_errno(r, "control: cannot watch the private socket");
        (void) sd_event_source_set_priority(c->private_source, CB_EVENT_PRIORITY_TURN);
        (void) sd_event_source_set_description(c->private_source, "control-listen-private");
        return 0;
}

int cb_control_new(sd_event *event, const struct cb_control_settings *settings, const struct cb_control_ops *ops,
                   void *userdata, struct cb_control **ret) {
        struct cb_control *c = calloc(1, sizeof *c);
        const char *path = settings && settings->socket_path ? settings->socket_path : CB_VL_DEFAULT_SOCKET;
        int r;

        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->ops = ops;
        c->userdata = userdata;
        c->listen_fd = -1;
        c->private_fd = -1;
        c->reserve_fd = -1;
        c->dispatch = handle_message;
        c->reject = reject_message;
#define SETTING(field, fallback) (settings && settings->field ? settings->field : (fallback))
        c->max_clients = SETTING(max_clients, CB_CONTROL_MAX_CLIENTS);
        c->privileged_clients = MIN(SETTING(privileged_clients, CB_CONTROL_PRIVILEGED_CLIENTS), c->max_clients / 2);
        c->max_clients_per_uid = SETTING(max_clients_per_uid, CB_CONTROL_MAX_CLIENTS_PER_UID);
        c->max_watchers_per_uid = SETTING(max_watchers_per_uid, CB_CONTROL_MAX_WATCHERS_PER_UID);
        c->calls_per_wakeup = SETTING(calls_per_wakeup, CB_CONTROL_CALLS_PER_WAKEUP);
        c->max_message_size = SETTING(max_message_size, CB_VL_REQUEST_MAX);
        c->max_output_size = SETTING(max_output_size, CB_CONTROL_MAX_OUTPUT);
        c->output_high_water = MIN(SETTING(output_high_water, CB_CONTROL_OUTPUT_HIGH_WATER), c->max_output_size);
        c->output_low_water = MIN(SETTING(output_low_water, CB_CONTROL_OUTPUT_LOW_WATER), c->output_high_water);
        c->stall_timeout = SETTING(stall_timeout, CB_CONTROL_STALL_TIMEOUT_USEC);
#undef SETTING
        control_lookup_group(c);
        cb_log_ratelimit_init(&c->refuse_ratelimit, RATELIMIT_INTERVAL_USEC, RATELIMIT_BURST, event,
                              refusals_suppressed, c);
        c->started_realtime = realtime_usec();
        c->started_monotonic = now_usec();

        r = control_take_activation_socket(&c->listen_fd, &c->socket_path);
        if (r == 0) {
                r = strdup_to(&c->socket_path, path);
                if (r >= 0)
                        r = control_listen_on_path(path, 0666, NULL, &c->listen_fd);
                c->socket_owned = r >= 0;
        }
        if (r < 0)
                goto fail;
        r = sd_event_add_io(event, &c->listen_source, c->listen_fd, EPOLLIN, on_accept, c);
        if (r < 0) {
                log_error_errno(r, "control: cannot watch the socket");
                goto fail;
        }
        (void) sd_event_source_set_priority(c->listen_source, CB_EVENT_PRIORITY_CONTROL);
        (void) sd_event_source_set_description(c->listen_source, "control-listen");
        r = listen_private(c);
        if (r < 0)
                goto fail;
        open_reserve(c);
        r = start_turns(c);
        if (r < 0) {
                log_error_errno(r, "control: cannot set up its turns on the loop");
                goto fail;
        }
        log_debug("control: listening on %s", c->socket_path ? c->socket_path : "(socket from systemd)");
        *ret = c;
        return 0;
fail:
        cb_control_free(c);
        return r;
}

struct cb_control *cb_control_free(struct cb_control *c) {
        if (!c)
                return NULL;
        while (c->clients)
                client_free(c->clients);
        pending_power_detach_all(c);
        sd_event_source_disable_unref(c->listen_source);
        sd_event_source_disable_unref(c->accept_pause);
        sd_event_source_disable_unref(c->busy_post);
        sd_event_source_disable_unref(c->turn_timer);
        if (c->listen_fd >= 0)
                close(c->listen_fd);
        sd_event_source_disable_unref(c->private_source);
        if (c->private_fd >= 0)
                close(c->private_fd);
        if (c->private_path)
                (void) unlink(c->private_path);
        free(c->private_path);
        if (c->reserve_fd >= 0)
                close(c->reserve_fd);
        if (c->socket_owned && c->socket_path)
                (void) unlink(c->socket_path);
        free(c->socket_path);
        free(c->seen);
        cb_log_ratelimit_done(&c->refuse_ratelimit);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

void cb_control_reload_group(struct cb_control *c) {
        control_lookup_group(c);
}

size_t cb_control_n_clients(const struct cb_control *c) {
        return c->n_clients;
}
