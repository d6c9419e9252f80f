/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What a board says about itself is kept escaped and bounded, whatever it sends. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "node-metadata.h"

int main(void) {
        struct cb_node_metadata m = { 0 };
        char kv[64], big[1000];

        CHECK(cb_node_metadata_add(&m, "MAC_ADDR*2c:cf:67:00:00:01", NULL) == 0);
        CHECK(strcmp(cb_node_metadata_get(&m, "MAC_ADDR"), "2c:cf:67:00:00:01") == 0);
        /* sent again: replaced, not added */
        CHECK(cb_node_metadata_add(&m, "MAC_ADDR*2c:cf:67:00:00:02", NULL) == 0 && m.n_entries == 1);
        CHECK(strcmp(cb_node_metadata_get(&m, "MAC_ADDR"), "2c:cf:67:00:00:02") == 0);
        /* an empty value is a value; no star or no key is not a property */
        CHECK(cb_node_metadata_add(&m, "EMPTY*", NULL) == 0 && strcmp(cb_node_metadata_get(&m, "EMPTY"), "") == 0);
        CHECK(cb_node_metadata_add(&m, "NOSTAR", NULL) == -EINVAL);
        CHECK(cb_node_metadata_add(&m, "*VALUE", NULL) == -EINVAL);
        /* terminal escapes from a hostile board never reach a log or a terminal as they are */
        CHECK(cb_node_metadata_add(&m, "K\x1b]0;x\x07*v\x1b[2J", NULL) == 0);
        for (size_t i = 0; i < m.n_entries; i++)
                CHECK(!strchr(m.entries[i].key, '\x1b') && !strchr(m.entries[i].value, '\x1b'));
        /* a value longer than kept is cut, not overflowed */
        memset(big, 'A', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        memcpy(big, "LONG*", 5);
        CHECK(cb_node_metadata_add(&m, big, NULL) == 0 && strlen(cb_node_metadata_get(&m, "LONG")) < CB_METADATA_VALUE_MAX);
        /* past the bound, new keys are dropped and counted; known ones still update */
        for (unsigned i = 0; i < 2 * CB_METADATA_MAX; i++) {
                snprintf(kv, sizeof kv, "KEY%u*%u", i, i);
                (void) cb_node_metadata_add(&m, kv, NULL);
        }
        CHECK(m.n_entries == CB_METADATA_MAX && m.dropped > 0);
        CHECK(cb_node_metadata_add(&m, "MAC_ADDR*2c:cf:67:00:00:03", NULL) == 0);
        CHECK(strcmp(cb_node_metadata_get(&m, "MAC_ADDR"), "2c:cf:67:00:00:03") == 0);
        /* a new boot forgets the properties, not the serial */
        CHECK(cb_node_metadata_set_serial(&m, "a1b2c3d4") == 0);
        cb_node_metadata_clear_properties(&m);
        CHECK(m.n_entries == 0 && strcmp(m.serial, "a1b2c3d4") == 0);
        /* only hex digits make a SoC serial; a refused one keeps the one known before */
        CHECK(cb_node_metadata_set_serial(&m, "Broadcom") == -EINVAL);
        CHECK(cb_node_metadata_set_serial(&m, "12\x1b[2J") == -EINVAL);
        CHECK(cb_node_metadata_set_serial(&m, "") == -EINVAL && cb_node_metadata_set_serial(&m, NULL) == -EINVAL);
        CHECK(strcmp(m.serial, "a1b2c3d4") == 0);
        return check_exit("test-node-metadata");
}
