/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "gadget-info.h"

#include "json-util.h"
#include "portpath.h"
#include "util.h"

/* Far more than any cluster's gadgets offer; a bound against a host whose devices churn without end. */
#define ENTRIES_MAX 4096

struct entry {
        struct entry *next;
        char *devpath;
        char port[64];
        bool tty;
        char *name; /* points into devpath */
        char *mac;  /* NULL for a tty */
};

struct cb_gadget_table {
        struct entry *entries;
        size_t n_entries;
};

int cb_gadget_table_new(struct cb_gadget_table **ret) {
        *ret = calloc(1, sizeof **ret);
        return *ret ? 0 : -ENOMEM;
}

static struct entry *entry_free(struct entry *e) {
        struct entry *next = e->next;

        free(e->devpath);
        free(e->mac);
        free(e);
        return next;
}

struct cb_gadget_table *cb_gadget_table_free(struct cb_gadget_table *t) {
        if (!t)
                return NULL;
        for (struct entry *e = t->entries; e;)
                e = entry_free(e);
        free(t);
        return NULL;
}

int cb_gadget_parse_devpath(const char *devpath, const char *subsystem, char port[static 64], const char **ret_name) {
        /* from the end: NAME, the subsystem's directory, the interface "PORT:C.I", the device PORT */
        const char *name, *dir, *iface, *dev;
        size_t sub_len = strlen(subsystem), port_len;

        name = strrchr(devpath, '/');
        if (!name || name == devpath || name[1] == '\0')
                return -EINVAL;
        for (dir = name - 1; dir > devpath && *dir != '/'; dir--)
                ;
        if (*dir != '/' || (size_t) (name - dir - 1) != sub_len || strncmp(dir + 1, subsystem, sub_len) != 0)
                return -EINVAL;
        for (iface = dir - 1; iface > devpath && *iface != '/'; iface--)
                ;
        if (*iface != '/' || iface == devpath)
                return -EINVAL;
        for (dev = iface - 1; dev > devpath && *dev != '/'; dev--)
                ;
        if (*dev != '/')
                return -EINVAL;
        port_len = (size_t) (iface - dev - 1);
        /* the interface must be the device's own: "PORT:..." right below PORT */
        if (port_len == 0 || port_len >= 64 || strncmp(iface + 1, dev + 1, port_len) != 0 ||
            iface[1 + port_len] != ':')
                return -EINVAL;
        memcpy(port, dev + 1, port_len);
        port[port_len] = '\0';
        if (!cb_port_path_valid(port))
                return -EINVAL;
        *ret_name = name + 1;
        return 0;
}

static struct entry **find(struct cb_gadget_table *t, const char *devpath) {
        struct entry **e = &t->entries;

        while (*e && strcmp((*e)->devpath, devpath) != 0)
                e = &(*e)->next;
        return e;
}

static void forget(struct cb_gadget_table *t, const char *devpath) {
        struct entry **e = devpath ? find(t, devpath) : NULL;

        if (e && *e) {
                *e = entry_free(*e);
                t->n_entries--;
        }
}

int cb_gadget_table_event(struct cb_gadget_table *t, const char *action, const char *subsystem, const char *devpath,
                          const char *devpath_old, const char *mac) {
        char port[64];
        const char *name;
        struct entry *e;
        bool tty;

        if (!action || !subsystem || !devpath)
                return 0;
        tty = strcmp(subsystem, "tty") == 0;
        if (!tty && strcmp(subsystem, "net") != 0)
                return 0;
        if (strcmp(action, "move") == 0)
                forget(t, devpath_old); /* a renamed interface: the old name is gone */
        if (strcmp(action, "remove") == 0) {
                forget(t, devpath);
                return 0;
        }
        if (cb_gadget_parse_devpath(devpath, subsystem, port, &name) < 0)
                return 0;
        /* "add", "move", "change" (and "bind" and the like): the device as it is now */
        forget(t, devpath);
        if (t->n_entries >= ENTRIES_MAX)
                return -ENOSPC;
        e = calloc(1, sizeof *e);
        if (!e)
                return -ENOMEM;
        e->devpath = strdup(devpath);
        e->mac = !tty && mac ? strdup(mac) : NULL;
        if (!e->devpath || (!tty && mac && !e->mac)) {
                entry_free(e);
                return -ENOMEM;
        }
        if (e->mac)
                e->mac[strcspn(e->mac, "\n")] = '\0'; /* as sysfs shows it, in case a caller read it there */
        snprintf(e->port, sizeof e->port, "%s", port);
        e->tty = tty;
        e->name = e->devpath + (name - devpath);
        e->next = t->entries;
        t->entries = e;
        t->n_entries++;
        return 0;
}

/* Takes `item`, also on failure. */
static int append(struct json_object *array, struct json_object *item) {
        if (!item)
                return -ENOMEM;
        if (json_object_array_add(array, item) < 0) {
                json_object_put(item);
                return -ENOMEM;
        }
        return 0;
}

/* Sorted by name, so that the output does not depend on the order of events. */
static int compare_names(const void *a, const void *b) {
        struct json_object *x = *(struct json_object *const *) a, *y = *(struct json_object *const *) b;
        const char *sx = json_object_is_type(x, json_type_string) ? json_object_get_string(x)
                                                                  : cb_json_string_or(x, "name", "");
        const char *sy = json_object_is_type(y, json_type_string) ? json_object_get_string(y)
                                                                  : cb_json_string_or(y, "name", "");
        return strcmp(sx, sy);
}

static int interface_json(const struct entry *e, struct json_object **ret) {
        _cleanup_json_ struct json_object *o = json_object_new_object();

        if (!o || cb_json_add_string(o, "name", e->name) < 0 || cb_json_add_string(o, "mac", e->mac) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int cb_gadget_table_json(const struct cb_gadget_table *t, const char *port, struct json_object **ret) {
        _cleanup_json_ struct json_object *o = json_object_new_object();
        struct json_object *interfaces = json_object_new_array(), *ttys = json_object_new_array();
        int r;

        if (!o) {
                json_object_put(interfaces);
                json_object_put(ttys);
                return -ENOMEM;
        }
        if (cb_json_add(o, "interfaces", interfaces) < 0) {
                json_object_put(ttys);
                return -ENOMEM;
        }
        if (cb_json_add(o, "ttys", ttys) < 0)
                return -ENOMEM;
        for (const struct entry *e = t ? t->entries : NULL; e; e = e->next) {
                struct json_object *item = NULL;

                if (strcmp(e->port, port) != 0)
                        continue;
                if (e->tty)
                        r = append(ttys, json_object_new_string(e->name));
                else {
                        r = interface_json(e, &item);
                        if (r >= 0)
                                r = append(interfaces, item);
                }
                if (r < 0)
                        return r;
        }
        json_object_array_sort(interfaces, compare_names);
        json_object_array_sort(ttys, compare_names);
        *ret = TAKE_PTR(o);
        return 0;
}
