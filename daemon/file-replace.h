/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/*
 * Replaces `directory/name` with `content` so that a reader (or a power
 * cut) sees the old file or the new one whole, never a part: a temporary
 * file, fsync, rename, then fsync of the directory. Makes the directory
 * (one level) if it is missing. Blocking: call it off the loop (a worker
 * thread), or where blocking is fine (at start). Returns 0 or a negative
 * errno; `failed_step` (may be NULL) then says what failed, for a message.
 */
int cb_file_replace(const char *directory, const char *name, const char *content, size_t size,
                    const char **failed_step);
