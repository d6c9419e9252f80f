/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control server (see control.h): its listening socket (socket
 * activation, or bound to a path with stale-socket handling), accepting
 * connections (evicting an idle client when full, pausing when out of file
 * descriptors), and the public API. Connections: control-client.c; replies:
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

/* After accept() ran out of file descriptors: try again this much later instead of spinning. */
#define ACCEPT_PAUSE_USEC (250 * USEC_PER_MSEC)
/* At most this many log lines of one kind of refusal per interval, so that a flood cannot flood the journal. */
#define RATELIMIT_INTERVAL_USEC (10 * USEC_PER_SEC)
#define RATELIMIT_BURST 5

static bool ratelimit_pass(struct ratelimit *rl) {
        usec_t now = now_usec();

        if (rl->begin == 0 || now - rl->begin >= RATELIMIT_INTERVAL_USEC) {
                if (rl->suppressed > 0)
                        log_warning("control: %u similar message%s suppressed", rl->suppressed,
                                    rl->suppressed == 1 ? "" : "s");
                *rl = (struct ratelimit){ .begin = now };
        }
        if (rl->n < RATELIMIT_BURST) {
                rl->n++;
                return true;
        }
        rl->suppressed++;
        return false;
}

/* ---- accepting ---- */

/* With every slot taken, the connection idle the longest (and not watching) gives way to the new one. */
static struct client *find_evictable(struct cb_control *c) {
        struct client *best = NULL;

        for (struct client *cl = c->clients; cl; cl = cl->next)
                if (!cl->watching && !cl->dead && client_pending_output(cl) == 0 &&
                    (!best || cl->last_active <= best->last_active))
                        best = cl;
        return best;
}

static int on_accept_resume(sd_event_source *s, uint64_t usec, void *userdata) {
        struct cb_control *c = userdata;

        (void) sd_event_source_set_enabled(c->listen_source, SD_EVENT_ON);
        return 0;
}

/* Out of file descriptors: stop accepting for a moment rather than spin on the ready socket. */
static void pause_accepting(struct cb_control *c) {
        usec_t when = now_usec() + ACCEPT_PAUSE_USEC;

        (void) sd_event_source_set_enabled(c->listen_source, SD_EVENT_OFF);
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

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct cb_control *c = userdata;

        for (;;) {
                int cfd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (cfd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        if (ratelimit_pass(&c->refuse_ratelimit))
                                log_warning_errno(errno, "control: cannot accept a connection");
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                                pause_accepting(c);
                        return 0;
                }
                if (c->n_clients >= c->max_clients) {
                        struct client *victim = find_evictable(c);

                        if (!victim) {
                                if (ratelimit_pass(&c->refuse_ratelimit))
                                        log_warning("control: %zu clients connected, all watching; refusing a new one",
                                                    c->n_clients);
                                close(cfd);
                                continue;
                        }
                        if (ratelimit_pass(&c->refuse_ratelimit))
                                client_log(LOG_WARNING, victim,
                                           "dropped: %zu clients connected, and it was idle the longest (%.1fs)",
                                           c->n_clients, (double) (now_usec() - victim->last_active) / 1e6);
                        client_drop(victim);
                }
                (void) client_new(c, cfd);
        }
}

/* ---- the listening socket ---- */

static int mkdir_parents(const char *path) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *slash = '/';
        }
        return 0;
}

static int make_address(const char *path, struct sockaddr_un *sa, socklen_t *len) {
        size_t n = strlen(path);

        if (n == 0 || n >= sizeof sa->sun_path)
                return -ENAMETOOLONG;
        *sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
        memcpy(sa->sun_path, path, n + 1);
        *len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1);
        return 0;
}

/*
 * A socket file left by a daemon that died is removed; one that answers
 * belongs to a running daemon and is left alone (two daemons would fight
 * over the boards).
 */
static int remove_stale_socket(const char *path, const struct sockaddr_un *sa, socklen_t len) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return log_error_errno(EEXIST, "control: %s exists and is not a socket; not replacing it", path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) sa, len) == 0 || errno == EAGAIN || errno == EINPROGRESS)
                return log_error_errno(EADDRINUSE, "control: %s is in use: is another clusterboot running?", path);
        if (errno != ECONNREFUSED)
                return log_error_errno(errno, "control: cannot check %s", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return log_error_errno(errno, "control: cannot remove the stale socket %s", path);
        log_debug("control: removed the stale socket %s", path);
        return 0;
}

static int listen_on_path(struct cb_control *c, const char *path) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa;
        socklen_t len;
        int r;

        r = make_address(path, &sa, &len);
        if (r < 0)
                return log_error_errno(r, "control: cannot use %s as a socket path", path);
        r = mkdir_parents(path);
        if (r < 0)
                return log_error_errno(r, "control: cannot create the directory of %s", path);
        r = remove_stale_socket(path, &sa, len);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "control: cannot create a socket");
        if (bind(fd, (const struct sockaddr *) &sa, len) < 0)
                return log_error_errno(errno, "control: cannot bind %s", path);
        c->socket_owned = true;
        /* Connecting needs write permission on the socket; reading is for everyone, changing is checked per call. */
        if (chmod(path, 0666) < 0)
                return log_error_errno(errno, "control: cannot make %s accessible", path);
        if (listen(fd, SOMAXCONN) < 0)
                return log_error_errno(errno, "control: cannot listen on %s", path);
        c->listen_fd = TAKE_FD(fd);
        return 0;
}

/* A listening UNIX stream socket from systemd (clusterboot.socket), if there is one. */
static int take_activation_socket(struct cb_control *c) {
        int n = sd_listen_fds(true);

        for (int fd = SD_LISTEN_FDS_START; n > 0 && fd < SD_LISTEN_FDS_START + n; fd++) {
                struct sockaddr_un sa;
                socklen_t len = sizeof sa;

                if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
                        continue;
                if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
                        return log_error_errno(errno, "control: cannot use the socket passed by systemd");
                (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
                if (getsockname(fd, (struct sockaddr *) &sa, &len) == 0 && len > offsetof(struct sockaddr_un, sun_path) &&
                    sa.sun_path[0] != '\0') {
                        sa.sun_path[sizeof sa.sun_path - 1] = '\0';
                        if (strdup_to(&c->socket_path, sa.sun_path) < 0)
                                return -ENOMEM;
                }
                c->listen_fd = fd;
                return 1;
        }
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
        c->max_clients = settings && settings->max_clients ? settings->max_clients : CB_CONTROL_MAX_CLIENTS;
        c->max_message_size =
                settings && settings->max_message_size ? settings->max_message_size : CB_VL_REQUEST_MAX;
        c->max_output_size = settings && settings->max_output_size ? settings->max_output_size : CB_CONTROL_MAX_OUTPUT;
        c->started_realtime = realtime_usec();
        c->started_monotonic = now_usec();

        r = take_activation_socket(c);
        if (r == 0) {
                r = strdup_to(&c->socket_path, path);
                if (r >= 0)
                        r = listen_on_path(c, path);
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
        if (c->listen_fd >= 0)
                close(c->listen_fd);
        if (c->socket_owned && c->socket_path)
                (void) unlink(c->socket_path);
        free(c->socket_path);
        free(c->seen);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

size_t cb_control_n_clients(const struct cb_control *c) {
        return c->n_clients;
}
