/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "portpath.h"

#include <stddef.h>

#define PORT_NUMBER_MAX 255
#define PORT_DEPTH_MAX 7

/* Reads one number; returns where it ends, or NULL if it is not a valid one. */
static const char *port_number(const char *s) {
        unsigned v = 0;

        if (*s < '1' || *s > '9')
                return NULL;
        for (; *s >= '0' && *s <= '9'; s++) {
                v = v * 10 + (unsigned) (*s - '0');
                if (v > PORT_NUMBER_MAX)
                        return NULL;
        }
        return s;
}

bool cb_port_path_valid(const char *path) {
        const char *s = port_number(path);
        unsigned depth = 0;

        if (!s || *s != '-')
                return false;
        do {
                s = port_number(s + 1);
                if (!s || ++depth > PORT_DEPTH_MAX)
                        return false;
        } while (*s == '.');
        return *s == '\0';
}
