/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "port-files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "log.h"
#include "util.h"

#define PORTS "ports"

static int write_port(int dir_fd, const struct cb_node_config *node) {
        _cleanup_free_ char *temp = NULL, *text = NULL;
        const char *ifname = cb_node_config_interface_name(node);
        _cleanup_close_ int fd = -1;
        int n;

        if (asprintf(&temp, ".%s.tmp", node->port) < 0)
                return -ENOMEM;
        n = asprintf(&text, "CLUSTERBOOT_NODE=%s\n%s%s%s", node->name, ifname ? "CLUSTERBOOT_INTERFACE=" : "",
                     ifname ? ifname : "", ifname ? "\n" : "");
        if (n < 0)
                return -ENOMEM;
        fd = openat(dir_fd, temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, CB_READABLE_FILE_MODE);
        if (fd < 0 || make_readable(fd) < 0)
                return -errno;
        if (write(fd, text, (size_t) n) != n) {
                int r = errno ? -errno : -EIO;
                (void) unlinkat(dir_fd, temp, 0);
                return r;
        }
        if (renameat(dir_fd, temp, dir_fd, node->port) < 0) {
                int r = -errno;
                (void) unlinkat(dir_fd, temp, 0);
                return r;
        }
        return 0;
}

/* Files of ports no longer configured go: udev must not name a stranger's interface. */
static void remove_stale(int dir_fd, const struct cb_config *config) {
        int fd = dup(dir_fd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *e;

        if (!d) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        while ((e = readdir(d)))
                if (e->d_name[0] != '.' && !cb_config_find_node_by_port(config, e->d_name))
                        (void) unlinkat(dir_fd, e->d_name, 0);
        closedir(d);
}

int cb_port_files_write(const char *directory, const struct cb_config *config) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int dir_fd = -1;
        int r = 0;

        if (asprintf(&path, "%s/" PORTS, directory) < 0)
                return -ENOMEM;
        r = mkdir_readable(path);
        if (r < 0)
                return log_warning_errno(r, "cannot create %s; interfaces are not named after their nodes", path);
        dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return log_warning_errno(errno, "cannot open %s", path);
        for (size_t i = 0; i < config->n_nodes; i++) {
                const struct cb_node_config *node = &config->nodes[i];
                int k;

                if (!node->port)
                        continue;
                k = write_port(dir_fd, node);
                if (k < 0 && r == 0)
                        r = log_warning_errno(k, "cannot write %s/%s", path, node->port);
        }
        remove_stale(dir_fd, config);
        return r;
}

int cb_port_files_update(const struct cb_config *config) {
        const char *runtime = getenv("RUNTIME_DIRECTORY");
        _cleanup_free_ char *first = NULL;

        if (!runtime || runtime[0] != '/')
                return 0;
        /* systemd lists every RuntimeDirectory= separated by ':'; ours is the first */
        first = strndup(runtime, strcspn(runtime, ":"));
        if (!first)
                return -ENOMEM;
        return cb_port_files_write(first, config);
}
