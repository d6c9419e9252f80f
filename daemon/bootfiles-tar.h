/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * An index of the regular members of a tar file (`bootfiles.bin`): name to
 * (offset, size) of the member's data in the file. Building it reads only the
 * 512-byte headers; the data stays in the file and is read by offset when a
 * board asks for it (bootfiles.c).
 *
 * The tar comes from a firmware download and is not trusted: any member that
 * could not be served as a plain file under the boot directory refuses the
 * whole tar, with a sentence saying which member and why: a name that is
 * absolute or has a ".." component, a hard or symbolic link, a device, FIFO
 * or any other non-regular type, a size that runs past the end of the file or
 * does not fit the 32-bit protocol, a header with a bad checksum or cut off
 * by the end of the file, a missing end-of-archive block. Directories are
 * accepted (their names are checked too) and skipped. GNU long names ('L')
 * and pax extended headers ('x': GNU tar's --format=posix writes one per
 * member) are read for the name and size they give the next member, and
 * those are checked like any other; a pax global header ('g') that sets a
 * path or size is refused.
 *
 * Names are matched as the reference host does: ASCII case-insensitively;
 * the first of several members with the same name wins. A leading "./",
 * repeated slashes and "." components are ignored on both sides (names
 * written by `tar -C DIR .` start with "./").
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CB_TAR_BLOCK 512u
/* Regular members indexed at most; a bigger tar is refused (a real bootfiles.bin has about 30). */
#define CB_TAR_MEMBERS_MAX 4096u
/* A GNU long name ('L') longer than this is refused; names a board can ask for are at most 255 bytes. */
#define CB_TAR_LONGNAME_MAX 4096u

struct cb_tar;

/*
 * Reads `len` bytes at `offset` into `buf`. Returns the number of bytes read
 * (short only at the end of the file) or a negative errno.
 */
typedef ssize_t (*cb_tar_read_t)(void *userdata, void *buf, size_t len, uint64_t offset);

/*
 * Indexes the tar of `file_size` bytes that `read` reads. Returns 0 and the
 * index in *ret; -EBADMSG for a refused tar, with *ret_error a sentence
 * (free() it) naming the member and the reason; -ENOMEM, or the reader's
 * errno on an I/O error (*ret_error is then NULL).
 */
int cb_tar_index(cb_tar_read_t read, void *userdata, uint64_t file_size, struct cb_tar **ret, char **ret_error);

/* cb_tar_index() over a file descriptor, with pread(). */
int cb_tar_index_fd(int fd, uint64_t file_size, struct cb_tar **ret, char **ret_error);

/* Returns NULL. */
struct cb_tar *cb_tar_free(struct cb_tar *t);

/*
 * Finds the regular member `name`. Returns 0 with the offset of its data in
 * the file and its size, or -ENOENT. Never reads the file.
 */
int cb_tar_find(const struct cb_tar *t, const char *name, uint64_t *ret_offset, uint32_t *ret_size);

/* Regular members indexed. */
size_t cb_tar_count(const struct cb_tar *t);

static inline void cb_tar_freep(struct cb_tar **t) {
        if (*t)
                cb_tar_free(*t);
}
