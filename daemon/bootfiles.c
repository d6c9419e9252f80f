/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "bootfiles.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>

#include "log.h"
#include "util.h"

/* glibc only wraps openat2() since 2.38 (and not everywhere); the number is the same on every architecture. */
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

struct file_key {
        dev_t dev;
        ino_t ino;
        uint64_t size;
        struct timespec mtime;
        /* ctime too: tools like rsync restore mtime, but nobody can set ctime, so a rewrite always shows. */
        struct timespec ctime;
};

struct cb_file {
        unsigned n_ref;
        struct cb_file_cache *cache; /* NULL once the cache is freed before us */
        struct cb_file *prev, *next;
        struct file_key key;
        uint8_t *data; /* NULL for an empty file */
        size_t size;
        char *path;
};

struct cb_file_cache {
        struct cb_file *files;
        size_t n_files;
};

int cb_file_cache_new(struct cb_file_cache **ret) {
        struct cb_file_cache *c;

        if (!ret)
                return -EINVAL;
        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}

struct cb_file_cache *cb_file_cache_free(struct cb_file_cache *c) {
        struct cb_file *f, *next;

        if (!c)
                return NULL;
        /* Boards may still be mid-transfer: orphan the entries instead of freeing them. */
        for (f = c->files; f; f = next) {
                next = f->next;
                f->cache = NULL;
                f->prev = f->next = NULL;
        }
        free(c);
        return NULL;
}

size_t cb_file_cache_count(const struct cb_file_cache *c) {
        return c ? c->n_files : 0;
}

static void cache_unlink(struct cb_file *f) {
        if (!f->cache)
                return;
        if (f->prev)
                f->prev->next = f->next;
        else
                f->cache->files = f->next;
        if (f->next)
                f->next->prev = f->prev;
        f->cache->n_files--;
        f->cache = NULL;
        f->prev = f->next = NULL;
}

static void cache_link(struct cb_file_cache *c, struct cb_file *f) {
        f->cache = c;
        f->prev = NULL;
        f->next = c->files;
        if (c->files)
                c->files->prev = f;
        c->files = f;
        c->n_files++;
}

static void file_free(struct cb_file *f) {
        if (!f)
                return;
        cache_unlink(f);
        if (f->data)
                munmap(f->data, f->size);
        free(f->path);
        free(f);
}

static void file_freep(struct cb_file **f) {
        file_free(*f);
}

struct cb_file *cb_file_ref(struct cb_file *f) {
        if (f)
                f->n_ref++;
        return f;
}

struct cb_file *cb_file_unref(struct cb_file *f) {
        if (f && --f->n_ref == 0)
                file_free(f);
        return NULL;
}

const uint8_t *cb_file_data(const struct cb_file *f) {
        /* Callers may hand the pointer to memcpy() with a zero length, which must not be NULL. */
        static const uint8_t empty[1];
        return f->data ? f->data : empty;
}

size_t cb_file_size(const struct cb_file *f) {
        return f->size;
}

const char *cb_file_path(const struct cb_file *f) {
        return f->path;
}

static int refuse(const char **reason, const char *why, int r) {
        if (reason)
                *reason = why;
        return r;
}

int cb_bootname_check(const char *name, const char **reason) {
        size_t len;

        if (reason)
                *reason = NULL;
        if (!name || name[0] == '\0')
                return refuse(reason, "empty name", -EINVAL);
        len = strnlen(name, CB_BOOTNAME_MAX + 1);
        if (len > CB_BOOTNAME_MAX)
                return refuse(reason, "name longer than 255 bytes", -ENAMETOOLONG);
        if (name[0] == '/')
                return refuse(reason, "absolute path", -EPERM);
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char) name[i];
                if (ch < 0x20 || ch == 0x7f)
                        return refuse(reason, "name contains control characters", -EINVAL);
                /* Never part of a Pi boot file name; refusing it keeps Windows-minded tools from seeing a separator. */
                if (ch == '\\')
                        return refuse(reason, "name contains a backslash", -EINVAL);
        }
        /* A trailing slash can only name a directory, and we serve files. */
        if (name[len - 1] == '/')
                return refuse(reason, "name ends with '/'", -EINVAL);

        /*
         * openat2(RESOLVE_BENEATH) would let "a/../b" through since it stays
         * inside; refusing every ".." keeps the rule simple to state and audit.
         */
        for (const char *p = name; *p;) {
                size_t n = strcspn(p, "/");
                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return refuse(reason, "name contains a '..' component", -EPERM);
                p += n;
                p += strspn(p, "/");
        }
        return 0;
}

/*
 * Without openat2() (kernels before 5.6, or valgrind, which does not know the
 * call) the name is walked one component at a time and no symlink is
 * followed at all: stricter than openat2, never looser. ".." and absolute
 * names never get here (cb_bootname_check()).
 */
static int open_beneath_nofollow(int dir_fd, const char *name) {
        _cleanup_free_ char *copy = strdup(name);
        _cleanup_close_ int cur = -1;
        char *save = NULL, *comp, *next;
        struct stat st;
        int fd;

        if (!copy)
                return -ENOMEM;
        cur = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return -errno;
        comp = strtok_r(copy, "/", &save);
        while (comp) {
                next = strtok_r(NULL, "/", &save);
                if (strcmp(comp, ".") == 0) {
                        comp = next;
                        continue;
                }
                if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                if (S_ISLNK(st.st_mode))
                        return -ELOOP;
                if (!next)
                        break;
                fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                close(cur);
                cur = fd;
                comp = next;
        }
        if (!comp)
                return -EISDIR; /* the name was only "." components */
        fd = openat(cur, comp, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
        return fd < 0 ? -errno : fd;
}

static bool have_openat2 = true;

void cb_bootfiles_disable_openat2(void) {
        have_openat2 = false;
}

static int openat2_beneath(int dir_fd, const char *name) {
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                /*
                 * BENEATH confines "..", absolute paths and symlinks to dir_fd.
                 * NO_MAGICLINKS: /proc links jump anywhere without a path walk.
                 * Not NO_XDEV: mounts inside the boot directory are placed by
                 * the admin (e.g. a bind mount of /boot/firmware); only the
                 * name is untrusted.
                 */
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        long fd;

        if (!have_openat2)
                return open_beneath_nofollow(dir_fd, name);
        do
                fd = syscall(SYS_openat2, dir_fd, name, &how, sizeof how);
        while (fd < 0 && errno == EINTR);
        if (fd < 0 && errno == ENOSYS) {
                have_openat2 = false;
                log_warning("openat2() is not available: boot files are served without following any symlink");
                return open_beneath_nofollow(dir_fd, name);
        }
        return fd < 0 ? -errno : (int) fd;
}

static void key_from_stat(struct file_key *k, const struct stat *st) {
        *k = (struct file_key){
                .dev = st->st_dev,
                .ino = st->st_ino,
                .size = (uint64_t) st->st_size,
                .mtime = st->st_mtim,
                .ctime = st->st_ctim,
        };
}

static bool key_equal(const struct file_key *a, const struct file_key *b) {
        return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
               a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
               a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static struct cb_file *cache_find(struct cb_file_cache *c, const struct file_key *k) {
        for (struct cb_file *f = c->files; f; f = f->next)
                if (key_equal(&f->key, k))
                        return f;
        return NULL;
}

static char *path_join(const char *dir, const char *name) {
        size_t n = strlen(dir);
        char *p;

        if (asprintf(&p, "%s%s%s", dir, n > 0 && dir[n - 1] == '/' ? "" : "/", name) < 0)
                return NULL;
        return p;
}

/*
 * Copies the file into an anonymous mapping, then makes it read-only. A
 * mapping of the file itself would follow in-place rewrites into transfers
 * already running and raise SIGBUS past a truncation; the copy costs one read
 * per file version, shared by every board.
 */
static int file_snapshot(int fd, const struct file_key *key, struct cb_file *f) {
        struct stat st;
        struct file_key after;
        uint8_t *data;
        size_t done = 0;

        if (key->size == 0)
                return 0;

        data = mmap(NULL, (size_t) key->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (data == MAP_FAILED)
                return -errno;

        while (done < key->size) {
                ssize_t n = pread(fd, data + done, (size_t) key->size - done, (off_t) done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        int r = n < 0 ? -errno : -EAGAIN; /* EOF early: truncated under us */
                        munmap(data, (size_t) key->size);
                        return r;
                }
                done += (size_t) n;
        }

        /* Best effort only: a same-size rewrite within the timestamp granularity goes unseen. */
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                munmap(data, (size_t) key->size);
                return r;
        }
        key_from_stat(&after, &st);
        if (!key_equal(key, &after)) {
                munmap(data, (size_t) key->size);
                return -EAGAIN;
        }

        if (mprotect(data, (size_t) key->size, PROT_READ) < 0) {
                int r = -errno;
                munmap(data, (size_t) key->size);
                return r;
        }
        f->data = data;
        f->size = (size_t) key->size;
        return 0;
}

/* Returns 1 and a reference if found, 0 if not in this directory, negative errno otherwise. */
static int lookup_in_dir(struct cb_file_cache *c, const char *dir, const char *name, struct cb_file **ret,
                         const char **reason) {
        _cleanup_close_ int dir_fd = -1, fd = -1;
        _cleanup_(file_freep) struct cb_file *f = NULL;
        struct file_key key;
        struct stat st;
        struct cb_file *found;
        int r;

        dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return errno == ENOENT ? 0 : -errno;

        fd = openat2_beneath(dir_fd, name);
        switch (fd) {
        case -ENOENT:
        case -ENOTDIR: /* "config.txt/x": a path component is a file, so the name is not here */
                return 0;
        case -EXDEV:
                return refuse(reason, "path leaves the boot directory (symlink pointing outside, or absolute)",
                              -EPERM);
        case -ELOOP:
                return refuse(reason, "symlink loop, /proc magic link, or a symlink on a kernel without openat2",
                              -EPERM);
        case -EISDIR:
                return refuse(reason, "not a regular file", -EPERM);
        case -EPERM:
                /* Keep -EPERM meaning "refused, see reason" for the caller. */
                return refuse(reason, "the kernel denied opening it", -EPERM);
        default:
                if (fd < 0)
                        return fd;
        }

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return refuse(reason, "not a regular file", -EPERM);
        if ((uint64_t) st.st_size > UINT32_MAX)
                return refuse(reason, "larger than 4 GiB, the protocol carries 32-bit sizes", -EPERM);

        key_from_stat(&key, &st);
        found = cache_find(c, &key);
        if (found) {
                *ret = cb_file_ref(found);
                return 1;
        }

        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->key = key;
        f->path = path_join(dir, name);
        if (!f->path)
                return -ENOMEM;
        r = file_snapshot(fd, &key, f);
        if (r < 0)
                return r;

        f->n_ref = 1;
        cache_link(c, f);
        /* Not TAKE_PTR(): its statement expression trips -Wpedantic (warning_level=3). */
        *ret = f;
        f = NULL;
        return 1;
}

int cb_file_cache_lookup(struct cb_file_cache *c, const char *const *dirs, size_t n_dirs, const char *name,
                         struct cb_file **ret, const char **reason) {
        const char *why = NULL;
        int r;

        if (reason)
                *reason = NULL;
        if (!c || !ret || (!dirs && n_dirs > 0))
                return -EINVAL;
        *ret = NULL;

        if (cb_bootname_check(name, &why) < 0)
                return refuse(reason, why, -EPERM);

        for (size_t i = 0; i < n_dirs; i++) {
                if (!dirs[i])
                        continue;
                r = lookup_in_dir(c, dirs[i], name, ret, reason);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        return -ENOENT;
}
