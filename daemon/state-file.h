/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Small files the daemon keeps in its StateDirectory for others to read
 * (a board's "<serial>.json"), written atomically off the loop: the write,
 * fsync and rename run on a worker thread, so a slow disk never stalls a
 * board's transfer. A failure is logged; nothing waits for it.
 */

#include <stddef.h>

struct cb_worker;

/*
 * Queues `directory/name` to be replaced by `content` (size bytes; taken:
 * freed when written, also on failure). `name` must be a plain file name.
 * Returns 0 once queued, or a negative errno (content is then freed too).
 */
int cb_state_file_write(struct cb_worker *worker, const char *directory, const char *name, char *content,
                        size_t size);
