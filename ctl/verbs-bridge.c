/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bridge (hidden): the far end of -H. `ssh HOST clusterbootctl bridge`
 * joins the ssh session's stdin and stdout to this host's control socket,
 * as systemd-stdio-bridge does for D-Bus, so that every command works on
 * another controller exactly as here: the same calls, the same permission
 * checks (the daemon sees the ssh user connect).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"

/* Copies what is there from `from` to `to`; 0 at end of input, <0 on an error, else the bytes copied. */
static ssize_t copy_some(int from, int to) {
        char buf[65536];
        ssize_t n = read(from, buf, sizeof buf);

        if (n <= 0)
                return n < 0 && errno == EINTR ? 1 : n < 0 ? -errno : 0;
        for (ssize_t done = 0; done < n;) {
                ssize_t k = write(to, buf + done, (size_t) (n - done));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += k;
        }
        return n;
}

int verb_bridge(struct ctl *ctl, int argc, char **argv) {
        int fd = vl_connect_socket(ctl->socket_path);

        if (fd == -ENAMETOOLONG)
                return fail(EXIT_USAGE, "bridge: socket path too long");
        if (fd < 0)
                return fail(EXIT_NOT_RUNNING, "clusterboot is not running on this host (cannot connect to %s: %s)",
                            ctl->socket_path, strerror(-fd));
        for (;;) {
                struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = fd, .events = POLLIN } };

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                /* the client hung up: there is nobody left to take an answer (a Watch would never end) */
                if (p[0].revents && copy_some(STDIN_FILENO, fd) <= 0)
                        break;
                if (p[1].revents && copy_some(fd, STDOUT_FILENO) <= 0)
                        break;
        }
        close(fd);
        return EXIT_OK;
}
