/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "gadget-watch.h"

#include <libudev.h>

#include "event-priority.h"
#include "gadget-info.h"
#include "log.h"
#include "util.h"

struct cb_gadget_watch {
        struct udev *udev;
        struct udev_monitor *monitor;
        sd_event_source *source;
        struct cb_gadget_table *table;
};

static void take(struct cb_gadget_watch *w, struct udev_device *dev, const char *action) {
        const char *subsystem = udev_device_get_subsystem(dev), *devpath = udev_device_get_devpath(dev);
        const char *mac = NULL, *name;
        char port[64];
        int r;

        if (!subsystem || !devpath)
                return;
        /* the address is read (once per event, udev's doing) only for a gadget's interface */
        if (strcmp(subsystem, "net") == 0 && strcmp(action, "remove") != 0 &&
            cb_gadget_parse_devpath(devpath, subsystem, port, &name) == 0)
                mac = udev_device_get_sysattr_value(dev, "address");
        r = cb_gadget_table_event(w->table, action, subsystem, devpath,
                                  udev_device_get_property_value(dev, "DEVPATH_OLD"), mac);
        if (r < 0)
                log_debug("gadgets: %s of %s not kept: %s", action, devpath, strerror(-r));
}

static int on_monitor(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct cb_gadget_watch *w = userdata;
        struct udev_device *dev;

        while ((dev = udev_monitor_receive_device(w->monitor))) {
                const char *action = udev_device_get_action(dev);

                if (action)
                        take(w, dev, action);
                udev_device_unref(dev);
        }
        return 0;
}

/* The devices already there: each as if it had just been added. */
static int enumerate(struct cb_gadget_watch *w) {
        struct udev_enumerate *e = udev_enumerate_new(w->udev);
        struct udev_list_entry *entry;
        int r;

        if (!e)
                return -ENOMEM;
        r = udev_enumerate_add_match_subsystem(e, "net");
        if (r >= 0)
                r = udev_enumerate_add_match_subsystem(e, "tty");
        if (r >= 0)
                r = udev_enumerate_scan_devices(e);
        if (r < 0) {
                udev_enumerate_unref(e);
                return r;
        }
        udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
                const char *syspath = udev_list_entry_get_name(entry);
                struct udev_device *dev;

                /* a host has many ttys, few of them a USB gadget's: only those are looked at */
                if (!strstr(syspath, "/usb"))
                        continue;
                dev = udev_device_new_from_syspath(w->udev, syspath);
                if (!dev)
                        continue;
                take(w, dev, "add");
                udev_device_unref(dev);
        }
        udev_enumerate_unref(e);
        return 0;
}

int cb_gadget_watch_new(sd_event *event, struct cb_gadget_watch **ret) {
        struct cb_gadget_watch *w = calloc(1, sizeof *w);
        int r;

        if (!w)
                return -ENOMEM;
        r = cb_gadget_table_new(&w->table);
        if (r < 0)
                goto fail;
        w->udev = udev_new();
        if (!w->udev) {
                r = errno > 0 ? -errno : -ENOMEM;
                goto fail;
        }
        w->monitor = udev_monitor_new_from_netlink(w->udev, "udev");
        if (!w->monitor) {
                r = errno > 0 ? -errno : -ENOMEM;
                goto fail;
        }
        r = udev_monitor_filter_add_match_subsystem_devtype(w->monitor, "net", NULL);
        if (r >= 0)
                r = udev_monitor_filter_add_match_subsystem_devtype(w->monitor, "tty", NULL);
        /* before the enumeration, so that nothing between the two is missed */
        if (r >= 0)
                r = udev_monitor_enable_receiving(w->monitor);
        if (r >= 0)
                r = sd_event_add_io(event, &w->source, udev_monitor_get_fd(w->monitor), EPOLLIN, on_monitor, w);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_priority(w->source, CB_EVENT_PRIORITY_HOTPLUG);
        (void) sd_event_source_set_description(w->source, "gadget-watch");
        r = enumerate(w);
        if (r < 0)
                goto fail;
        *ret = w;
        return 0;
fail:
        cb_gadget_watch_free(w);
        return log_warning_errno(r, "cannot follow the boards' network interfaces and ttys; status will not list them");
}

struct cb_gadget_watch *cb_gadget_watch_free(struct cb_gadget_watch *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->source);
        udev_monitor_unref(w->monitor);
        udev_unref(w->udev);
        cb_gadget_table_free(w->table);
        free(w);
        return NULL;
}

const struct cb_gadget_table *cb_gadget_watch_table(const struct cb_gadget_watch *w) {
        return w ? w->table : NULL;
}
