/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "bootfiles.h"

#include "bootfiles-tar.h"
#include "bootproto.h"

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
        /* the bytes served: the whole file (0, size), or a tar member's data */
        uint64_t data_offset;
        uint64_t data_size;
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

/* One version of a bootfiles.bin: its index, or why it is refused. */
struct tar_entry {
        struct tar_entry *next;
        struct file_key key; /* of the whole file */
        char *path;
        struct cb_tar *index; /* NULL: refused */
        char *error;          /* why it is refused */
};

struct cb_file_cache {
        struct cb_file *files;
        size_t n_files;
        struct tar_entry *tars;
        size_t n_tars;
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

static struct tar_entry *tar_entry_free(struct tar_entry *t) {
        struct tar_entry *next;

        if (!t)
                return NULL;
        next = t->next;
        cb_tar_free(t->index);
        free(t->error);
        free(t->path);
        free(t);
        return next;
}

struct cb_file_cache *cb_file_cache_free(struct cb_file_cache *c) {
        struct cb_file *f, *next;

        if (!c)
                return NULL;
        for (struct tar_entry *t = c->tars; t;)
                t = tar_entry_free(t);
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

size_t cb_file_cache_tar_count(const struct cb_file_cache *c) {
        return c ? c->n_tars : 0;
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
        len = strnlen(name, CB_FILE_NAME_MAX + 1);
        if (len > CB_FILE_NAME_MAX)
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
                .data_offset = 0,
                .data_size = (uint64_t) st->st_size,
        };
}

/* The same version of the same file on disk. */
static bool file_equal(const struct file_key *a, const struct file_key *b) {
        return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
               a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
               a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* The same bytes of it. */
static bool key_equal(const struct file_key *a, const struct file_key *b) {
        return file_equal(a, b) && a->data_offset == b->data_offset && a->data_size == b->data_size;
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
        const size_t size = (size_t) key->data_size;
        struct stat st;
        struct file_key after;
        uint8_t *data;
        size_t done = 0;

        if (size == 0)
                return 0;

        data = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (data == MAP_FAILED)
                return -errno;

        /* a tar member: only its own bytes are read, at their offset; the rest of the tar stays on disk */
        while (done < size) {
                ssize_t n = pread(fd, data + done, size - done, (off_t) (key->data_offset + done));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        int r = n < 0 ? -errno : -EAGAIN; /* EOF early: truncated under us */
                        munmap(data, size);
                        return r;
                }
                done += (size_t) n;
        }

        /* Best effort only: a same-size rewrite within the timestamp granularity goes unseen. */
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                munmap(data, size);
                return r;
        }
        key_from_stat(&after, &st);
        if (!file_equal(key, &after)) {
                munmap(data, size);
                return -EAGAIN;
        }

        if (mprotect(data, size, PROT_READ) < 0) {
                int r = -errno;
                munmap(data, size);
                return r;
        }
        f->data = data;
        f->size = size;
        return 0;
}

/*
 * Opens `name` beneath `dir` for reading. Returns 1 with the descriptor and
 * its stat, 0 if it is not there, -EPERM with *reason if refused, or a
 * negative errno.
 */
static int open_beneath(const char *dir, const char *name, int *ret_fd, struct stat *ret_st, const char **reason) {
        _cleanup_close_ int dir_fd = -1, fd = -1;

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

        if (fstat(fd, ret_st) < 0)
                return -errno;
        if (!S_ISREG(ret_st->st_mode))
                return refuse(reason, "not a regular file", -EPERM);
        *ret_fd = TAKE_FD(fd);
        return 1;
}

/* The shared snapshot of `key`'s bytes in `fd`: the cached one, or a new one taking `path`. Returns 1. */
static int file_get(struct cb_file_cache *c, int fd, const struct file_key *key, char *path, struct cb_file **ret) {
        _cleanup_free_ char *owned_path = path;
        _cleanup_(file_freep) struct cb_file *f = NULL;
        struct cb_file *found;
        int r;

        if (!owned_path)
                return -ENOMEM;
        found = cache_find(c, key);
        if (found) {
                *ret = cb_file_ref(found);
                return 1;
        }

        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->key = *key;
        f->path = owned_path;
        owned_path = NULL;
        r = file_snapshot(fd, key, f);
        if (r < 0)
                return r;

        f->n_ref = 1;
        cache_link(c, f);
        /* Not TAKE_PTR(): its statement expression trips -Wpedantic (warning_level=3). */
        *ret = f;
        f = NULL;
        return 1;
}

/* Returns 1 and a reference if found, 0 if not in this directory, negative errno otherwise. */
static int lookup_in_dir(struct cb_file_cache *c, const char *dir, const char *name, struct cb_file **ret,
                         const char **reason) {
        _cleanup_close_ int fd = -1;
        struct file_key key;
        struct stat st;
        int r;

        r = open_beneath(dir, name, &fd, &st, reason);
        if (r <= 0)
                return r;
        if ((uint64_t) st.st_size > UINT32_MAX)
                return refuse(reason, "larger than 4 GiB, the protocol carries 32-bit sizes", -EPERM);
        key_from_stat(&key, &st);
        return file_get(c, fd, &key, path_join(dir, name), ret);
}

/* The index of this version of the tar at `path` (fd, st): cached, or built from its headers now. */
static int tar_get(struct cb_file_cache *c, int fd, const struct stat *st, const char *path,
                   const struct tar_entry **ret) {
        _cleanup_free_ char *error = NULL;
        struct tar_entry *t, **link;
        struct file_key key;
        int r;

        key_from_stat(&key, st);
        for (t = c->tars; t; t = t->next)
                if (file_equal(&t->key, &key) && strcmp(t->path, path) == 0) {
                        *ret = t;
                        return 0;
                }

        /* the tar at this path was replaced: its old index goes (the members already read stay alive) */
        for (link = &c->tars; *link;)
                if (strcmp((*link)->path, path) == 0) {
                        *link = tar_entry_free(*link);
                        c->n_tars--;
                } else {
                        link = &(*link)->next;
                }

        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->key = key;
        t->path = strdup(path);
        if (!t->path) {
                tar_entry_free(t);
                return -ENOMEM;
        }
        r = cb_tar_index_fd(fd, (uint64_t) st->st_size, &t->index, &error);
        if (r == -EBADMSG) {
                t->error = cb_format("%s is refused, none of its members is served: %s", path, error);
                if (!t->error) {
                        tar_entry_free(t);
                        return -ENOMEM;
                }
                /* once per version of the file: every request that would have looked in it says so too */
                log_warning("%s", t->error);
        } else if (r < 0) {
                /* an I/O error is not the tar's fault: nothing is cached, the next request tries again */
                tar_entry_free(t);
                return r;
        }
        t->next = c->tars;
        c->tars = t;
        c->n_tars++;
        *ret = t;
        return 0;
}

/*
 * The member `member` of DIR/bootfiles.bin. Returns 1 and a reference, 0 if
 * there is no such tar or member (a refused tar sets *tar_refusal and counts
 * as absent), or a negative errno.
 */
static int lookup_in_tar(struct cb_file_cache *c, const char *dir, const char *member, struct cb_file **ret,
                         const char **tar_refusal) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *tar_path = path_join(dir, CB_BOOTFILES_TAR);
        const struct tar_entry *t;
        const char *why = NULL;
        struct file_key key;
        struct stat st;
        uint64_t offset;
        uint32_t size;
        int r;

        if (!tar_path)
                return -ENOMEM;
        r = open_beneath(dir, CB_BOOTFILES_TAR, &fd, &st, &why);
        if (r == -EPERM) {
                *tar_refusal = why;
                return 0;
        }
        if (r <= 0)
                return r;
        r = tar_get(c, fd, &st, tar_path, &t);
        if (r < 0)
                return r;
        if (!t->index) {
                *tar_refusal = t->error;
                return 0;
        }
        if (cb_tar_find(t->index, member, &offset, &size) < 0)
                return 0;

        key_from_stat(&key, &st);
        key.data_offset = offset;
        key.data_size = size;
        return file_get(c, fd, &key, cb_format("%s:%s", tar_path, member), ret);
}

/* Where in one directory a name is looked for, in this order. */
enum place {
        PLACE_CHIP_DIR, /* DIR/<chip>/<name> on disk */
        PLACE_TAR,      /* member <chip>/<name> of DIR/bootfiles.bin */
        PLACE_DIR,      /* DIR/<name> */
};

static int lookup_at(struct cb_file_cache *c, const char *dir, enum place place, const char *chip, const char *name,
                     struct cb_file **ret, const char **reason, const char **tar_refusal) {
        _cleanup_free_ char *in_chip = NULL;

        if (place == PLACE_DIR)
                return lookup_in_dir(c, dir, name, ret, reason);
        in_chip = cb_format("%s/%s", chip, name);
        if (!in_chip)
                return -ENOMEM;
        if (place == PLACE_CHIP_DIR)
                return lookup_in_dir(c, dir, in_chip, ret, reason);
        return lookup_in_tar(c, dir, in_chip, ret, tar_refusal);
}

/* The chain; on success *ret_dir and *ret_place say where the file was found. */
static int lookup_chain(struct cb_file_cache *c, const char *const *dirs, size_t n_dirs, const char *chip,
                        const char *name, struct cb_file **ret, const char **reason, size_t *ret_dir,
                        enum place *ret_place) {
        static const enum place with_chip[] = { PLACE_CHIP_DIR, PLACE_TAR, PLACE_DIR };
        static const enum place without_chip[] = { PLACE_DIR };
        const enum place *places = chip ? with_chip : without_chip;
        const size_t n_places = chip ? ELEMENTSOF(with_chip) : ELEMENTSOF(without_chip);
        const char *why = NULL, *tar_refusal = NULL;
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
                for (size_t k = 0; k < n_places; k++) {
                        r = lookup_at(c, dirs[i], places[k], chip, name, ret, reason, &tar_refusal);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                *ret_dir = i;
                                *ret_place = places[k];
                                return 0;
                        }
                }
        }
        /* found nowhere else: the tar that might have held it is what the admin needs to hear about */
        if (tar_refusal)
                return refuse(reason, tar_refusal, -EPERM);
        return -ENOENT;
}

int cb_file_cache_lookup_chip(struct cb_file_cache *c, const char *const *dirs, size_t n_dirs, const char *chip,
                              const char *name, struct cb_file **ret, const char **reason) {
        size_t dir;
        enum place place;

        return lookup_chain(c, dirs, n_dirs, chip, name, ret, reason, &dir, &place);
}

int cb_file_cache_lookup(struct cb_file_cache *c, const char *const *dirs, size_t n_dirs, const char *name,
                         struct cb_file **ret, const char **reason) {
        return cb_file_cache_lookup_chip(c, dirs, n_dirs, NULL, name, ret, reason);
}

int cb_file_cache_lookup_loader(struct cb_file_cache *c, const char *const *dirs, size_t n_dirs, const char *chip,
                                const char *name, bool want_signature, struct cb_file **ret, struct cb_file **ret_sig,
                                const char **reason) {
        _cleanup_(cb_file_unrefp) struct cb_file *loader = NULL, *sig = NULL;
        const char *tar_refusal = NULL;
        size_t dir = 0;
        enum place place = PLACE_DIR;
        int r;

        if (!ret_sig)
                return -EINVAL;
        *ret_sig = NULL;
        r = lookup_chain(c, dirs, n_dirs, chip, name, &loader, reason, &dir, &place);
        if (r < 0)
                return r;
        if (want_signature) {
                /* beside the loader: a signature found anywhere else would sign some other file */
                r = lookup_at(c, dirs[dir], place, chip, CB_BOOT_SIGNATURE_FILE, &sig, reason, &tar_refusal);
                if (r < 0)
                        return r;
                if (sig && cb_file_size(sig) != CB_BOOT_SIGNATURE_SIZE)
                        return refuse(reason,
                                      CB_BOOT_SIGNATURE_FILE " beside it is not exactly 20 bytes, the boot message's "
                                      "signature field",
                                      -EPERM);
        }
        *ret = loader;
        loader = NULL;
        *ret_sig = sig;
        sig = NULL;
        return 0;
}
