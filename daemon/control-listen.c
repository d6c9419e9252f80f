/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control server's listening sockets as files: bound to a path (its
 * directory made, a stale socket of a dead daemon replaced, one of a
 * running daemon left alone, its mode and group set), or taken from
 * systemd's socket activation. Plumbing only: what is accepted, and how,
 * is control.c's.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <systemd/sd-daemon.h>

#include "control-internal.h"

/*
 * Connections waiting to be accepted. Small on purpose: a user who connects
 * and closes in a loop keeps the queue full, and everybody else's connection
 * waits behind all of it (the kernel's queue is first come, first served). A
 * client finding it full waits in connect() for a free place, and gets one as
 * soon as the churner does. control.c takes all of it in one turn.
 * clusterboot.socket says the same (Backlog=).
 */
#define LISTEN_BACKLOG 64

static int mkdir_parents(const char *path) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                int r = mkdir_readable(p);
                if (r < 0)
                        return r;
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

static bool has_group(const char *path, gid_t group) {
        struct stat st;

        return stat(path, &st) == 0 && st.st_gid == group;
}

int control_listen_on_path(const char *path, mode_t mode, const gid_t *group, int *ret_fd) {
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
        /*
         * Connecting needs write permission on the socket file: the mode and group say who may. As
         * the service (its own group already) it never chowns: the unit's system-call filter refuses
         * chown() (@privileged), measured in the VM.
         */
        if ((group && !has_group(sa.sun_path, *group) && chown(sa.sun_path, (uid_t) -1, *group) < 0) ||
            chmod(sa.sun_path, mode) < 0) {
                r = log_error_errno(errno, "control: cannot set who may use %s", sa.sun_path);
                (void) unlink(sa.sun_path);
                return r;
        }
        if (listen(fd, LISTEN_BACKLOG) < 0) {
                r = log_error_errno(errno, "control: cannot listen on %s", path);
                (void) unlink(path);
                return r;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/*
 * The listening UNIX stream socket systemd passed (clusterboot.socket), if
 * any: its fd and its path (NULL if it has none). Returns 1, or 0 if there
 * is none.
 */
int control_take_activation_socket(int *ret_fd, char **ret_path) {
        int n = sd_listen_fds(true);

        for (int fd = SD_LISTEN_FDS_START; n > 0 && fd < SD_LISTEN_FDS_START + n; fd++) {
                struct sockaddr_un sa;
                socklen_t len = sizeof sa;

                if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
                        continue;
                if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
                        return log_error_errno(errno, "control: cannot use the socket passed by systemd");
                (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
                *ret_path = NULL;
                if (getsockname(fd, (struct sockaddr *) &sa, &len) == 0 && len > offsetof(struct sockaddr_un, sun_path) &&
                    sa.sun_path[0] != '\0') {
                        sa.sun_path[sizeof sa.sun_path - 1] = '\0';
                        if (strdup_to(ret_path, sa.sun_path) < 0)
                                return -ENOMEM;
                }
                *ret_fd = fd;
                return 1;
        }
        return 0;
}
