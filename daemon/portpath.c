/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "portpath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int cb_port_parent(const char *port, char *parent, size_t size, unsigned *port_number) {
        const char *dash, *dot, *last;
        int n;

        if (!port || !parent || !cb_port_path_valid(port))
                return -EINVAL;
        dash = strchr(port, '-');
        dot = strrchr(port, '.');
        last = dot ? dot : dash;
        if (dot)
                n = snprintf(parent, size, "%.*s", (int) (dot - port), port);
        else
                n = snprintf(parent, size, "usb%.*s", (int) (dash - port), port);
        if (n < 0 || (size_t) n >= size)
                return -ENOBUFS;
        if (port_number)
                *port_number = (unsigned) strtoul(last + 1, NULL, 10);
        return 0;
}

int cb_port_disable_path(const char *hub, unsigned port, char *buf, size_t size) {
        int n;

        if (!hub || !buf || port < 1 || port > PORT_NUMBER_MAX)
                return -EINVAL;
        if (strncmp(hub, "usb", 3) == 0) {
                const char *bus = hub + 3, *end = port_number(bus);
                if (!end || *end != '\0')
                        return -EINVAL;
                n = snprintf(buf, size, CB_SYSFS_USB_DEVICES "/%s-0:1.0/%s-port%u/disable", bus, hub, port);
        } else {
                if (!cb_port_path_valid(hub))
                        return -EINVAL;
                n = snprintf(buf, size, CB_SYSFS_USB_DEVICES "/%s:1.0/%s-port%u/disable", hub, hub, port);
        }
        if (n < 0 || (size_t) n >= size)
                return -ENOBUFS;
        return 0;
}

/* "usb2" (a root hub), or a port path: the names of hubs in sysfs */
static bool hub_name_valid(const char *hub) {
        if (strncmp(hub, "usb", 3) == 0) {
                const char *end = port_number(hub + 3);
                return end && *end == '\0';
        }
        return cb_port_path_valid(hub);
}

int cb_port_dir_parse(const char *name, char *hub, size_t size, unsigned *port) {
        const char *sep, *end;
        int n;

        if (!name || !hub)
                return -EINVAL;
        sep = strstr(name, "-port");
        /* a hub name has no "-port" in it: the first one ends it */
        if (!sep)
                return -EINVAL;
        end = port_number(sep + 5);
        if (!end || *end != '\0')
                return -EINVAL;
        n = snprintf(hub, size, "%.*s", (int) (sep - name), name);
        if (n < 0 || (size_t) n >= size)
                return -ENOBUFS;
        if (!hub_name_valid(hub))
                return -EINVAL;
        if (port)
                *port = (unsigned) strtoul(sep + 5, NULL, 10);
        return 0;
}
