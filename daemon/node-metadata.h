/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What a board told about itself: its SoC serial (the 2711/2712 ROM's
 * serial string) and the "*KEY*VALUE" properties its second stage sends
 * (MAC_ADDR, USER_SERIAL_NUM, BOOT_ROM, ...). Both come from the board, so
 * both are untrusted: kept escaped, bounded in count and size. A property
 * sent again replaces its value; past the bound new keys are dropped (and
 * counted), known keys still update.
 */

#include <stdbool.h>
#include <stddef.h>

#define CB_METADATA_MAX 32
#define CB_METADATA_KEY_MAX 64    /* escaped, with NUL */
#define CB_METADATA_VALUE_MAX 256 /* escaped, with NUL */
#define CB_SERIAL_MAX 33          /* hex digits, with NUL */

struct cb_metadata_entry {
        char key[CB_METADATA_KEY_MAX];
        char value[CB_METADATA_VALUE_MAX];
};

struct cb_node_metadata {
        char serial[CB_SERIAL_MAX]; /* "" if the board has shown none */
        struct cb_metadata_entry entries[CB_METADATA_MAX];
        size_t n_entries;
        unsigned dropped; /* properties not kept: too many keys */
};

/*
 * Keeps one property, given as the board sent it after its leading '*':
 * "KEY*VALUE" (raw bytes, NUL-terminated). Returns 0 and the entry kept
 * (ret may be NULL), -EINVAL for a property with no '*' or an empty key,
 * -ENOSPC when it was dropped.
 */
int cb_node_metadata_add(struct cb_node_metadata *m, const char *key_star_value,
                         const struct cb_metadata_entry **ret);
/*
 * The SoC serial a ROM showed. Only hex digits make a serial (the 2711 and
 * 2712 show 8 of them); anything else is refused with -EINVAL and keeps the
 * serial known before.
 */
int cb_node_metadata_set_serial(struct cb_node_metadata *m, const char *serial);
const char *cb_node_metadata_get(const struct cb_node_metadata *m, const char *key);
/* A new boot: the properties go (the board sends them again); the serial stays with the board. */
void cb_node_metadata_clear_properties(struct cb_node_metadata *m);
