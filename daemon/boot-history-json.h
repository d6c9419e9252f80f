/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A boot record as JSON: the same object in the history file and in the
 * control socket's GetHistory reply (field names in clusterboot/varlink.h),
 * so that what a client shows is what the file keeps.
 *
 * Reading is strict: a record read back from a file is someone else's
 * bytes (an older or newer daemon, a hand edit, a disk that lost a block),
 * so every field is checked for its type and every list for its limit; a
 * record that does not fit is refused with a reason, never cut to fit.
 */

#include <json-c/json.h>

#include "boot-history-log.h"

/* The boot as an object; 0 or -ENOMEM. */
int cb_boot_to_json(const struct cb_boot *boot, struct json_object **ret);

/* Bytes of JSON one listing of boots (the file's, a GetHistory reply's) may take: well below the control socket's output limit. */
#define CB_BOOT_JSON_BUDGET (768u * 1024u)

/*
 * The boots of `log` whose node or port is `name_or_port` (NULL: all) as a
 * JSON array, oldest first, of at most `budget` bytes when serialised: the
 * newest boots are taken first, and the oldest that do not fit are left
 * out (their number in *ret_left_out, which may be NULL). The log's limits
 * bound its memory; this bounds what is written and sent, whatever the
 * records hold (a reason full of bytes JSON escapes sixfold). 0 or -ENOMEM.
 */
int cb_boot_log_json(const struct cb_boot_log *log, const char *name_or_port, size_t budget, struct json_object **ret,
                     size_t *ret_left_out);

/*
 * Fills *ret from an object written by cb_boot_to_json(). Returns 0, or
 * -EBADMSG with a short reason (static string) in *ret_reason.
 */
int cb_boot_from_json(struct json_object *o, struct cb_boot *ret, const char **ret_reason);
