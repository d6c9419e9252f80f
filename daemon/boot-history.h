/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The daemon's boot history: the log of every node's recent boots
 * (boot-history-log.h), kept in <StateDirectory>/boot-history.json
 * (boot-history-file.h) across restarts.
 *
 * It follows the nodes as the manager's listener does: every node change
 * is one observation, and nothing in the node is needed but what
 * cb_node_get_status() already tells. A change worth keeping (a boot
 * starts or ends, a stage, a fault, a recovery step) schedules a write;
 * writes are coalesced to at most one a second. The document is built on
 * the loop (bounded: CB_BOOT_HISTORY_FILE_MAX) and handed to a thread of
 * its own, which writes, fsync()s and renames it, so the loop never waits
 * for the disk. The file is read once, at start, before the loop runs.
 */

#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "node.h"

struct cb_boot_history;

/* Reads the history in `state_directory` (a bad file is set aside) and starts the writer. */
int cb_boot_history_new(sd_event *event, const char *state_directory, struct cb_boot_history **ret);
/* Every running boot ends as interrupted, the history is written one last time, the writer stops. */
struct cb_boot_history *cb_boot_history_free(struct cb_boot_history *h);

/* Shaped as the manager's listener. */
void cb_boot_history_node_changed(struct cb_boot_history *h, struct cb_node *node);

/*
 * The boots as a JSON array, oldest first: every node's, or those of the
 * boots whose node or port is `name_or_port`. 0 or -ENOMEM.
 */
int cb_boot_history_json(const struct cb_boot_history *h, const char *name_or_port, struct json_object **ret);
