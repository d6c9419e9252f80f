/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The files a board asks for in its second boot stage. The name comes from the
 * board and is untrusted: it is checked here, and resolved with openat2() so
 * that neither the name nor a symlink in the tree can reach outside the
 * directory it is looked up in.
 *
 * Several boards boot at once and want the same multi-megabyte files, so a
 * file's bytes are loaded once and shared: every lookup that finds the same
 * file version hands out another reference to the same cb_file. The cache does
 * not keep files alive; the last reference frees the bytes.
 *
 * Not thread-safe: the daemon serves all boards from one event loop.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bootproto.h" /* CB_FILE_NAME_MAX: the longest name a board may ask for */


/*
 * Immutable, refcounted snapshot of one file's bytes. The bytes are a private
 * copy, not a mapping of the file, so rewriting or truncating the file on disk
 * neither changes a transfer in flight nor kills the daemon with SIGBUS.
 */
struct cb_file;

/* Shares cb_file objects between callers, keyed by (st_dev, st_ino, size, mtime, ctime). */
struct cb_file_cache;

int cb_file_cache_new(struct cb_file_cache **ret);
/* Files still referenced stay valid and are freed by their last unref. Returns NULL. */
struct cb_file_cache *cb_file_cache_free(struct cb_file_cache *c);
/* Live entries, for tests. */
size_t cb_file_cache_count(const struct cb_file_cache *c);
/* Versions of bootfiles.bin indexed (or refused), for tests. */
size_t cb_file_cache_tar_count(const struct cb_file_cache *c);

/* The tar of per-chip boot files the reference host reads too. */
#define CB_BOOTFILES_TAR "bootfiles.bin"

/*
 * Checks a board-supplied name. Returns 0 if acceptable, else sets *reason (if
 * reason is not NULL) to a static string for a log line and returns:
 *   -EINVAL        empty, control characters or DEL, backslash, trailing '/'
 *   -ENAMETOOLONG  longer than CB_FILE_NAME_MAX bytes
 *   -EPERM         absolute, or a ".." component
 * Repeated slashes and "." components ("./config.txt") are accepted: the
 * firmware builds names by joining prefixes from config.txt, and neither can
 * leave the directory.
 */
int cb_bootname_check(const char *name, const char **reason);

/*
 * Looks `name` up in dirs[0..n_dirs-1] in order, the node's own directory
 * first; NULL entries and directories that do not exist are skipped.
 * Returns 0 and a new reference in *ret, or:
 *   -ENOENT  in none of the directories
 *   -EPERM   refused: *reason says why (bad name, symlink leaving the
 *            directory, not a regular file, too big for the 32-bit protocol).
 *            A refusal in one directory does not fall through to the next:
 *            it is a broken tree the admin should hear about.
 *   -ENOSYS  the kernel has no openat2() (Linux < 5.6): nothing is served
 *   -EAGAIN  the file changed while it was being read
 *   other negative errno on I/O errors.
 * *reason is NULL unless the return is -EPERM; reason may be NULL.
 * Symlinks are followed while they stay inside the directory; absolute
 * symlinks are always refused, even ones pointing back inside.
 */
int cb_file_cache_lookup(struct cb_file_cache *c, const char *const *dirs, size_t n_dirs, const char *name,
                         struct cb_file **ret, const char **reason);

/*
 * As cb_file_cache_lookup(), for a board whose chip folder is `chip` (NULL:
 * as cb_file_cache_lookup()). In each directory DIR, in order:
 *   DIR/<chip>/<name>                  on disk
 *   <chip>/<name> in DIR/bootfiles.bin (see bootfiles-tar.h; case-insensitive)
 *   DIR/<name>
 * so the node's own directory still comes first, and in each directory the
 * reference host's order holds. A tar member is read by offset, only its own
 * bytes, once per version of the tar, and shared like any file. A refused
 * tar (hostile or damaged: bootfiles-tar.h) is logged once per version and
 * counts as absent, so files found elsewhere are still served; a name found
 * nowhere then returns -EPERM with *reason saying why the tar is refused
 * (valid until the next lookup on the cache).
 */
int cb_file_cache_lookup_chip(struct cb_file_cache *c, const char *const *dirs, size_t n_dirs, const char *chip,
                              const char *name, struct cb_file **ret, const char **reason);

/*
 * The ROM stage's loader `name`, as cb_file_cache_lookup_chip(), and, if
 * want_signature, CB_BOOT_SIGNATURE_FILE from the same place (the same
 * directory, chip folder or tar): *ret_sig is NULL when there is none. A
 * signature that is not exactly CB_BOOT_SIGNATURE_SIZE bytes is -EPERM with
 * *reason saying so (it is not cut or padded: a wrong signature only makes
 * the ROM refuse the loader later, with no reason given).
 */
int cb_file_cache_lookup_loader(struct cb_file_cache *c, const char *const *dirs, size_t n_dirs, const char *chip,
                                const char *name, bool want_signature, struct cb_file **ret, struct cb_file **ret_sig,
                                const char **reason);

/*
 * Walk names without openat2(), following no symlink at all: what happens
 * by itself where the kernel lacks openat2; tests use it to cover that path.
 */
void cb_bootfiles_disable_openat2(void);

struct cb_file *cb_file_ref(struct cb_file *f);
/* Returns NULL. */
struct cb_file *cb_file_unref(struct cb_file *f);

/* Never NULL, also for an empty file. */
const uint8_t *cb_file_data(const struct cb_file *f);
/* At most UINT32_MAX. */
size_t cb_file_size(const struct cb_file *f);
/* "dir/name" the file was first found at, for logs. */
const char *cb_file_path(const struct cb_file *f);

static inline void cb_file_unrefp(struct cb_file **f) {
        if (*f)
                cb_file_unref(*f);
}
static inline void cb_file_cache_freep(struct cb_file_cache **c) {
        if (*c)
                cb_file_cache_free(*c);
}
