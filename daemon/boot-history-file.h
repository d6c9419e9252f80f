/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The boot history on disk: <StateDirectory>/boot-history.json, one JSON
 * document {"format": "clusterboot-boot-history", "version": 1, "boots":
 * [...]} with the records of boot-history-json.h, oldest first.
 *
 * It is replaced atomically: written to a temporary file beside it,
 * fsync()ed, renamed over it, and the directory fsync()ed, so a crash or a
 * power cut leaves the old history or the new one, never a mix. A file
 * that cannot be read as a history (corrupt, cut short, too large, another
 * format or a newer version) is reported, renamed aside as
 * boot-history.json.bad (the previous such file goes) and the daemon
 * starts with an empty history: it is never fatal, and nothing is deleted.
 */

#include <stddef.h>

#include "boot-history-log.h"

#define CB_BOOT_HISTORY_FILE "boot-history.json"
#define CB_BOOT_HISTORY_FILE_ASIDE CB_BOOT_HISTORY_FILE ".bad"
#define CB_BOOT_HISTORY_FORMAT "clusterboot-boot-history"
#define CB_BOOT_HISTORY_VERSION 1
/* Larger than any file this daemon writes (CB_BOOT_JSON_BUDGET and a header; a unit test checks): a larger one is not ours. */
#define CB_BOOT_HISTORY_FILE_MAX (1024u * 1024u)

/* The document for the boots of `log`, the newest that fit in CB_BOOT_JSON_BUDGET; 0 or -ENOMEM. *ret is malloc'd. */
int cb_boot_history_format(const struct cb_boot_log *log, char **ret, size_t *ret_size);

/*
 * Appends the boots of a document to `log` (boots still running when it
 * was written are closed as interrupted). Returns 0, or -EBADMSG with a
 * short reason in *ret_reason; on -EBADMSG nothing was added. -ENOMEM.
 */
int cb_boot_history_parse(const char *text, size_t size, struct cb_boot_log *log, const char **ret_reason);

/*
 * Reads the file in `directory` into `log`. A missing file is an empty
 * history. A bad one is set aside (logged with the reason); that is still
 * 0. Negative errno only for what is not the file's fault (-ENOMEM).
 * Called once, at start, before the loop runs.
 */
int cb_boot_history_load(const char *directory, struct cb_boot_log *log);

/* Replaces the file in `directory` with `text` (atomically, see above). 0 or a negative errno. Blocks: not on the loop. */
int cb_boot_history_save(const char *directory, const char *text, size_t size);
