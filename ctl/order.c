/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "order.h"

#include <stdbool.h>
#include <string.h>

#include "clusterboot/varlink.h"
#include "json-util.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

int natural_compare(const char *a, const char *b) {
        while (*a && *b) {
                if (is_digit(*a) && is_digit(*b)) {
                        const char *sa = a, *sb = b;
                        size_t na, nb;
                        int leading;

                        /* leading zeros do not make a number larger */
                        while (*sa == '0' && is_digit(sa[1]))
                                sa++;
                        while (*sb == '0' && is_digit(sb[1]))
                                sb++;
                        for (na = 0; is_digit(sa[na]); na++)
                                ;
                        for (nb = 0; is_digit(sb[nb]); nb++)
                                ;
                        if (na != nb)
                                return na < nb ? -1 : 1;
                        int c = memcmp(sa, sb, na);
                        if (c != 0)
                                return c;
                        leading = (int) (sa - a) - (int) (sb - b);
                        if (leading != 0)
                                return leading;
                        a = sa + na;
                        b = sb + nb;
                        continue;
                }
                if (*a != *b)
                        return (unsigned char) *a < (unsigned char) *b ? -1 : 1;
                a++;
                b++;
        }
        return *a ? 1 : *b ? -1 : 0;
}

/* "rack2" of "pi@rack2". */
static const char *host_name(const char *destination) {
        const char *at = strrchr(destination, '@');
        return at ? at + 1 : destination;
}

static int compare_nodes(const void *x, const void *y) {
        struct json_object *a = *(struct json_object *const *) x, *b = *(struct json_object *const *) y;
        /* rows from several controllers (-H) are grouped by host: by its name, whoever logs in */
        int c = natural_compare(host_name(cb_json_string_or(a, "host", "")), host_name(cb_json_string_or(b, "host", "")));

        if (c != 0)
                return c;
        c = natural_compare(cb_json_string_or(a, CB_VL_FIELD_NAME, ""), cb_json_string_or(b, CB_VL_FIELD_NAME, ""));

        if (c != 0)
                return c;
        return natural_compare(cb_json_string_or(a, CB_VL_FIELD_PORT, ""), cb_json_string_or(b, CB_VL_FIELD_PORT, ""));
}

void sort_nodes(struct json_object *nodes) {
        if (nodes && json_object_is_type(nodes, json_type_array))
                json_object_array_sort(nodes, compare_nodes);
}
