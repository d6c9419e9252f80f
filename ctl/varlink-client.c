/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "varlink-client.h"

#include <errno.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clusterboot/varlink.h"
#include "json-util.h"

struct vl_client {
        int fd;
        pid_t pid; /* the command the connection runs through (ssh), or 0 */
        struct cb_msgbuf in;
};

static uint64_t monotonic_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static int connect_path(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n = strlen(path);
        int fd;

        if (n == 0 || n >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, n + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/*
 * The private socket first (root and the group may connect to it, and there
 * a flood of other users' connections does not make them queue); anyone
 * else, and a daemon without one (stopped: the public socket is systemd's
 * and starts it), gets the public socket, whose error is the one reported.
 */
int vl_connect_socket(const char *path) {
        char private_path[sizeof ((struct sockaddr_un *) NULL)->sun_path];
        int n = snprintf(private_path, sizeof private_path, "%s" CB_VL_PRIVATE_SUFFIX, path);

        if (n > 0 && (size_t) n < sizeof private_path) {
                int fd = connect_path(private_path);
                if (fd >= 0)
                        return fd;
        }
        return connect_path(path);
}

int vl_client_connect(const char *path, struct vl_client **ret) {
        struct vl_client *c;
        int fd = vl_connect_socket(path);

        if (fd < 0)
                return fd;
        c = calloc(1, sizeof *c);
        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        cb_msgbuf_init(&c->in, CB_VL_REPLY_MAX);
        c->fd = fd;
        *ret = c;
        return 0;
}

int vl_client_connect_command(char *const *argv, struct vl_client **ret) {
        posix_spawn_file_actions_t actions;
        struct vl_client *c;
        int pair[2], r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        c = calloc(1, sizeof *c);
        if (!c) {
                close(pair[0]);
                close(pair[1]);
                return -ENOMEM;
        }
        cb_msgbuf_init(&c->in, CB_VL_REPLY_MAX);
        c->fd = pair[0];
        /* the command's stdin and stdout are the connection; its stderr stays ours, for ssh's messages */
        r = -posix_spawn_file_actions_init(&actions);
        if (r == 0)
                r = -posix_spawn_file_actions_adddup2(&actions, pair[1], STDIN_FILENO);
        if (r == 0)
                r = -posix_spawn_file_actions_adddup2(&actions, pair[1], STDOUT_FILENO);
        if (r == 0)
                r = -posix_spawnp(&c->pid, argv[0], &actions, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        close(pair[1]);
        if (r < 0) {
                c->pid = 0;
                vl_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

struct vl_client *vl_client_free(struct vl_client *c) {
        if (!c)
                return NULL;
        if (c->fd >= 0)
                close(c->fd);
        if (c->pid > 0) {
                int status;

                /* our end is closed: the far side sees EOF and ends; ssh then ends too */
                while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
                        ;
        }
        cb_msgbuf_done(&c->in);
        free(c);
        return NULL;
}

extern char **environ;

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EPIPE ? -ECONNRESET : -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int vl_client_send(struct vl_client *c, const char *method, struct json_object *parameters, bool more) {
        struct json_object *m = json_object_new_object();
        const char *text;
        size_t size = 0;
        int r;

        if (!m)
                return -ENOMEM;
        if (cb_json_add_string(m, CB_VL_KEY_METHOD, method) < 0 ||
            cb_json_add(m, CB_VL_KEY_PARAMETERS,
                        parameters ? json_object_get(parameters) : json_object_new_object()) < 0 ||
            (more && cb_json_add_bool(m, CB_VL_KEY_MORE, true) < 0) || !(text = cb_json_to_string(m, &size))) {
                json_object_put(m);
                return -ENOMEM;
        }
        /* the terminating NUL is part of the message */
        r = write_all(c->fd, text, size + 1);
        json_object_put(m);
        return r;
}

static int parse_reply(const char *text, size_t size, struct vl_reply *ret) {
        struct json_object *root = NULL, *params = NULL;
        const char *reason = NULL, *error = NULL;
        bool continues = false;
        int r;

        r = cb_json_parse_object(text, size, &root, &reason);
        if (r < 0)
                return r;
        if (cb_json_get_string(root, CB_VL_KEY_ERROR, &error) < 0 ||
            cb_json_get_object(root, CB_VL_KEY_PARAMETERS, &params) < 0 ||
            cb_json_get_bool(root, CB_VL_KEY_CONTINUES, &continues) < 0) {
                json_object_put(root);
                return -EBADMSG;
        }
        if (!params) {
                /* a reply may leave out empty parameters */
                params = json_object_new_object();
                if (!params || cb_json_add(root, CB_VL_KEY_PARAMETERS, params) < 0) {
                        json_object_put(root);
                        return -ENOMEM;
                }
        }
        *ret = (struct vl_reply){ .root = root, .parameters = params, .error = error, .continues = continues };
        return 0;
}

int vl_client_receive_watching(struct vl_client *c, uint64_t timeout_usec, int watch_fd, struct vl_reply *ret) {
        uint64_t deadline = timeout_usec == VL_TIMEOUT_INFINITY ? UINT64_MAX : monotonic_usec() + timeout_usec;
        char buf[65536];

        for (;;) {
                char *text = NULL;
                size_t size = 0;
                int r = cb_msgbuf_next(&c->in, &text, &size);

                if (r < 0)
                        return -EBADMSG;
                if (r > 0)
                        return parse_reply(text, size, ret);

                int wait_ms = -1;
                if (deadline != UINT64_MAX) {
                        uint64_t now = monotonic_usec();
                        if (now >= deadline)
                                return -ETIMEDOUT;
                        wait_ms = (int) ((deadline - now + 999) / 1000);
                }
                /* no events asked of watch_fd: poll() still tells its error and hangup (a closed pipe) */
                struct pollfd p[2] = { { .fd = c->fd, .events = POLLIN }, { .fd = watch_fd } };
                r = poll(p, 2, wait_ms);
                if (r < 0)
                        return -errno; /* -EINTR included: the caller's signal handler asked to stop */
                if (p[1].revents & (POLLERR | POLLHUP))
                        return -EPIPE;
                if (p[1].revents & POLLNVAL)
                        watch_fd = -1; /* not open: nothing to watch, and poll() would not wait any more */
                if (p[0].revents == 0)
                        continue; /* the deadline check above says whether to give up */

                ssize_t n = recv(c->fd, buf, sizeof buf, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                return -EINTR;
                        return errno == ECONNRESET ? -ECONNRESET : -errno;
                }
                if (n == 0)
                        return -ECONNRESET;
                r = cb_msgbuf_feed(&c->in, buf, (size_t) n);
                if (r < 0)
                        return r;
        }
}

int vl_client_receive(struct vl_client *c, uint64_t timeout_usec, struct vl_reply *ret) {
        return vl_client_receive_watching(c, timeout_usec, -1, ret);
}

int vl_client_call(struct vl_client *c, const char *method, struct json_object *parameters, struct vl_reply *ret) {
        int r = vl_client_send(c, method, parameters, false);

        if (r < 0)
                return r;
        return vl_client_receive(c, VL_TIMEOUT_DEFAULT, ret);
}

void vl_reply_done(struct vl_reply *r) {
        if (r->root)
                json_object_put(r->root);
        *r = (struct vl_reply){ 0 };
}

const char *vl_reply_message(const struct vl_reply *r) {
        return cb_json_string_or(r->parameters, CB_VL_FIELD_MESSAGE, NULL);
}
