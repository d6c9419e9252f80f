/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "gadget-info.h"

#include <dirent.h>
#include <fcntl.h>

#include "json-util.h"
#include "util.h"

/* Takes `item`, also on failure. */
static int append(struct json_object *array, struct json_object *item) {
        if (json_object_array_add(array, item) < 0) {
                json_object_put(item);
                return -ENOMEM;
        }
        return 0;
}

/* Sorted by name, so that the output does not depend on the order of a directory. */
static int compare_names(const void *a, const void *b) {
        struct json_object *x = *(struct json_object *const *) a, *y = *(struct json_object *const *) b;
        const char *sx = json_object_is_type(x, json_type_string) ? json_object_get_string(x)
                                                                  : cb_json_string_or(x, "name", "");
        const char *sy = json_object_is_type(y, json_type_string) ? json_object_get_string(y)
                                                                  : cb_json_string_or(y, "name", "");
        return strcmp(sx, sy);
}

/* The first line of a small sysfs file, without its newline; NULL if it cannot be read. */
static char *read_line(int dir_fd, const char *path) {
        char buf[128];
        _cleanup_close_ int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return NULL;
        n = read(fd, buf, sizeof buf - 1);
        if (n <= 0)
                return NULL;
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return strdup(buf);
}

/* Calls `each` for every entry of dir_fd/sub (but "." and ".."). */
static int each_entry(int dir_fd, const char *sub, int (*each)(int sub_fd, const char *name, void *userdata),
                      void *userdata) {
        int fd = openat(dir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;
        struct dirent *e;
        int r = 0;

        if (fd < 0)
                return 0; /* nothing of that kind here */
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return 0;
        }
        while (r >= 0 && (e = readdir(d)))
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                        r = each(dirfd(d), e->d_name, userdata);
        closedir(d);
        return r;
}

struct found {
        struct json_object *interfaces, *ttys;
        const char *port;
        size_t port_len;
};

static int add_interface(int net_fd, const char *name, void *userdata) {
        struct found *f = userdata;
        struct json_object *o = json_object_new_object();
        _cleanup_free_ char *address_path = NULL, *mac = NULL;

        if (!o || asprintf(&address_path, "%s/address", name) < 0) {
                json_object_put(o);
                return -ENOMEM;
        }
        mac = read_line(net_fd, address_path);
        if (cb_json_add_string(o, "name", name) < 0 || cb_json_add_string(o, "mac", mac) < 0) {
                json_object_put(o);
                return -ENOMEM;
        }
        return append(f->interfaces, o);
}

static int add_tty(int tty_fd, const char *name, void *userdata) {
        struct found *f = userdata;
        struct json_object *s = json_object_new_string(name);

        return s ? append(f->ttys, s) : -ENOMEM;
}

/* One interface of the gadget ("1-1.3:1.0"): its net/ and tty/ children (CDC ECM/NCM/RNDIS, CDC ACM). */
static int scan_interface(int port_fd, const char *name, void *userdata) {
        struct found *f = userdata;
        char sub[300];
        int r;

        if (strncmp(name, f->port, f->port_len) != 0 || name[f->port_len] != ':')
                return 0;
        snprintf(sub, sizeof sub, "%s/net", name);
        r = each_entry(port_fd, sub, add_interface, f);
        if (r >= 0) {
                snprintf(sub, sizeof sub, "%s/tty", name);
                r = each_entry(port_fd, sub, add_tty, f);
        }
        return r;
}

int cb_gadget_info_json(const char *root, const char *port, struct json_object **ret) {
        _cleanup_json_ struct json_object *o = json_object_new_object();
        struct found f = { .interfaces = json_object_new_array(), .ttys = json_object_new_array(), .port = port,
                           .port_len = strlen(port) };
        _cleanup_close_ int root_fd = -1;
        int r;

        if (!o || cb_json_add(o, "interfaces", f.interfaces) < 0 || cb_json_add(o, "ttys", f.ttys) < 0)
                return -ENOMEM;
        /* a port is a file name of its own: no path may climb out of the directory */
        if (port[0] && !strchr(port, '/') && strcmp(port, "..") != 0 &&
            (root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
                r = each_entry(root_fd, port, scan_interface, &f);
                if (r < 0)
                        return r;
        }
        json_object_array_sort(f.interfaces, compare_names);
        json_object_array_sort(f.ttys, compare_names);
        *ret = TAKE_PTR(o);
        return 0;
}
