/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "firmware.h"

#include <string.h>

#include "bootproto.h"

static bool has_prefix(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool cb_firmware_opens_own_session(uint16_t pid, const char *served_name) {
        const char *base = strrchr(served_name, '/');

        base = base ? base + 1 : served_name;
        return pid == CB_USB_PID_BCM2711 && has_prefix(base, "start4") && has_suffix(base, ".elf");
}
