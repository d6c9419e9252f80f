/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

typedef uint64_t usec_t;
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define USEC_INFINITY ((usec_t) UINT64_MAX)

/* Ownership helpers for __attribute__((cleanup)). */
static inline void freep(void *p) {
        free(*(void **) p);
}
static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_close_ _cleanup_(closep)

/* Hand an owned pointer over: returns it and clears the source. */
#define TAKE_PTR(p) __extension__             \
        ({                                   \
                __typeof__(p) _taken_ = (p); \
                (p) = NULL;                  \
                _taken_;                     \
        })
#define TAKE_FD(fd) __extension__     \
        ({                           \
                int _taken_ = (fd);  \
                (fd) = -1;           \
                _taken_;             \
        })

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

static inline void *xfree(void *p) {
        free(p);
        return NULL;
}

/* What a message says when it could not be allocated. */
#define CB_NO_MEMORY_TEXT "(out of memory)"

/* printf into a new string; NULL only when out of memory. */
static inline __attribute__((format(printf, 1, 0))) char *cb_vformat(const char *format, va_list ap) {
        char *s = NULL;
        return vasprintf(&s, format, ap) < 0 ? NULL : s;
}

static inline __attribute__((format(printf, 1, 2))) char *cb_format(const char *format, ...) {
        va_list ap;
        char *s;

        va_start(ap, format);
        s = cb_vformat(format, ap);
        va_end(ap);
        return s;
}

/* Sets *dst to a copy of src (or NULL); returns 0 or -ENOMEM. */
static inline int strdup_to(char **dst, const char *src) {
        char *copy = NULL;
        if (src) {
                copy = strdup(src);
                if (!copy)
                        return -ENOMEM;
        }
        free(*dst);
        *dst = copy;
        return 0;
}

usec_t now_usec(void);

/*
 * The service runs with UMask=0077: what the daemon makes for readers (its
 * state for clusterbootctl, metrics for an exporter, the ports for udev, the
 * socket's directory) gets its mode set outright, not left to the umask.
 */
#define CB_READABLE_FILE_MODE 0644
#define CB_READABLE_DIR_MODE 0755

/* A directory others may enter: made if missing (then its mode set); 0 or -errno. */
static inline int mkdir_readable(const char *path) {
        if (mkdir(path, CB_READABLE_DIR_MODE) < 0)
                return errno == EEXIST ? 0 : -errno;
        return chmod(path, CB_READABLE_DIR_MODE) < 0 ? -errno : 0;
}

/* A new file of `fd` others may read, whatever the umask; 0 or -errno. */
static inline int make_readable(int fd) {
        return fchmod(fd, CB_READABLE_FILE_MODE) < 0 ? -errno : 0;
}
