/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Preloaded (after libumockdev-preload) into the program under test when the
 * harness backs /dev/bus/usb/BBB/DDD with FIFOs (TB_NODE_FIFO, see testbed.h).
 *
 * A FIFO can be watched with epoll and the harness makes it poll POLLOUT
 * exactly while an URB is ready to be reaped, as usbfs does. But a FIFO
 * cannot seek, and libusb_wrap_sys_device() lseek()s the fd to 0 before it
 * read()s the descriptors (the read itself is answered by the harness). So
 * lseek() on an fd whose file is a FIFO under $UMOCKDEV_DIR/dev/ succeeds
 * here and returns 0. Nothing else is changed.
 */
/* Both symbols are interposed: with _FILE_OFFSET_BITS=64 (meson's default) the
 * headers would make lseek an alias of lseek64. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

off_t lseek(int fd, off_t offset, int whence);
off64_t lseek64(int fd, off64_t offset, int whence);

static bool is_mock_usbfs_fifo(int fd) {
        const char *root = getenv("UMOCKDEV_DIR");
        char link[64], target[PATH_MAX];
        struct stat st;
        long n;

        if (!root || !*root)
                return false;
        if (syscall(SYS_fstat, fd, &st) < 0 || !S_ISFIFO(st.st_mode))
                return false;
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        n = syscall(SYS_readlinkat, AT_FDCWD, link, target, sizeof target - 1);
        if (n <= 0)
                return false;
        target[n] = '\0';
        size_t rl = strlen(root);
        return strncmp(target, root, rl) == 0 && strncmp(target + rl, "/dev/", 5) == 0;
}

off_t lseek(int fd, off_t offset, int whence) {
        static off_t (*real)(int, off_t, int);
        int saved = errno;

        if (!real)
                *(void **) &real = dlsym(RTLD_NEXT, "lseek");
        off_t r = real(fd, offset, whence);
        if (r < 0 && errno == ESPIPE && is_mock_usbfs_fifo(fd)) {
                errno = saved;
                return 0;
        }
        return r;
}

off64_t lseek64(int fd, off64_t offset, int whence) {
        static off64_t (*real)(int, off64_t, int);
        int saved = errno;

        if (!real)
                *(void **) &real = dlsym(RTLD_NEXT, "lseek64");
        off64_t r = real(fd, offset, whence);
        if (r < 0 && errno == ESPIPE && is_mock_usbfs_fifo(fd)) {
                errno = saved;
                return 0;
        }
        return r;
}
