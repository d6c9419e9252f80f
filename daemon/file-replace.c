/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "file-replace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static int write_all(int fd, const char *data, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, data, size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                data += n;
                size -= (size_t) n;
        }
        return 0;
}

static int fail(const char **failed_step, const char *step, int r) {
        if (failed_step)
                *failed_step = step;
        return r;
}

int cb_file_replace(const char *directory, const char *name, const char *content, size_t size,
                    const char **failed_step) {
        _cleanup_free_ char *temp = NULL;
        _cleanup_close_ int dir_fd = -1, fd = -1;
        int r;

        if (asprintf(&temp, ".%s.tmp", name) < 0)
                return fail(failed_step, "prepare", -ENOMEM);
        /* systemd makes StateDirectory= for the unit; run by hand, the daemon makes it */
        r = mkdir_readable(directory);
        if (r < 0)
                return fail(failed_step, "create the directory", r);
        dir_fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return fail(failed_step, "open the directory", -errno);
        fd = openat(dir_fd, temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, CB_READABLE_FILE_MODE);
        if (fd < 0)
                return fail(failed_step, "create", -errno);
        r = make_readable(fd);
        if (r == 0)
                r = write_all(fd, content, size);
        /* the data on disk before the name points at it: else a power cut can leave an empty file under the name */
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && renameat(dir_fd, temp, dir_fd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dir_fd, temp, 0);
                return fail(failed_step, "write", r);
        }
        (void) fsync(dir_fd); /* the rename itself; the file is whole either way */
        return 0;
}
