/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "node-metadata.h"

#include <errno.h>
#include <string.h>

#include "text.h"

static struct cb_metadata_entry *find(struct cb_node_metadata *m, const char *key) {
        for (size_t i = 0; i < m->n_entries; i++)
                if (strcmp(m->entries[i].key, key) == 0)
                        return &m->entries[i];
        return NULL;
}

int cb_node_metadata_add(struct cb_node_metadata *m, const char *key_star_value,
                         const struct cb_metadata_entry **ret) {
        const char *star = strchr(key_star_value, '*');
        char key[CB_METADATA_KEY_MAX];
        struct cb_metadata_entry *e;

        if (!star || star == key_star_value)
                return -EINVAL;
        cb_text_escape_to(key, sizeof key, key_star_value, (size_t) (star - key_star_value));
        e = find(m, key);
        if (!e) {
                if (m->n_entries >= CB_METADATA_MAX) {
                        m->dropped++;
                        return -ENOSPC;
                }
                e = &m->entries[m->n_entries++];
                memcpy(e->key, key, sizeof key);
        }
        cb_text_escape_to(e->value, sizeof e->value, star + 1, strlen(star + 1));
        if (ret)
                *ret = e;
        return 0;
}

int cb_node_metadata_set_serial(struct cb_node_metadata *m, const char *serial) {
        size_t n = serial ? strlen(serial) : 0;

        if (n == 0 || n >= CB_SERIAL_MAX || strspn(serial, "0123456789abcdefABCDEF") != n)
                return -EINVAL;
        memcpy(m->serial, serial, n + 1);
        return 0;
}

const char *cb_node_metadata_get(const struct cb_node_metadata *m, const char *key) {
        for (size_t i = 0; i < m->n_entries; i++)
                if (strcmp(m->entries[i].key, key) == 0)
                        return m->entries[i].value;
        return NULL;
}

void cb_node_metadata_clear_properties(struct cb_node_metadata *m) {
        m->n_entries = 0;
        m->dropped = 0;
}
