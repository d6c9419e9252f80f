/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "hotplug.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libudev.h>

#include "event-priority.h"
#include "log.h"
#include "portpath.h"
#include "usb-sysfs.h"
#include "util.h"

struct cb_hotplug {
        sd_event *event;
        struct udev *udev;
        struct udev_monitor *monitor;
        sd_event_source *source;
        cb_hotplug_added_t added;
        cb_hotplug_removed_t removed;
        void *userdata;
};

static int parse_hex16(const char *s, uint16_t *ret) {
        char *end;
        unsigned long v;

        if (!s)
                return -ENOENT;
        errno = 0;
        v = strtoul(s, &end, 16);
        if (errno || end == s || (*end && *end != '\n') || v > 0xffff)
                return -EINVAL;
        *ret = (uint16_t) v;
        return 0;
}

static int parse_unsigned(const char *s, unsigned *ret) {
        char *end;
        unsigned long v;

        if (!s)
                return -ENOENT;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || (*end && *end != '\n') || v > 0xffff)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

/* The device descriptor's iSerialNumber, from the raw "descriptors" attribute. */
static int read_serial_index(struct udev_device *dev, uint8_t *ret) {
        uint8_t desc[CB_USB_DEVICE_DESCRIPTOR_SIZE];
        int r = cb_usb_sysfs_device_descriptor(udev_device_get_syspath(dev), desc);

        if (r < 0)
                return r;
        *ret = desc[16];
        return 0;
}

static void report_add(struct cb_hotplug *h, struct udev_device *dev) {
        const char *sysname = udev_device_get_sysname(dev);
        const char *devtype = udev_device_get_devtype(dev);
        struct cb_presence d = { 0 };
        int r;

        if (!devtype || strcmp(devtype, "usb_device") != 0 || !sysname || !cb_port_path_valid(sysname))
                return;
        d.port = sysname;
        d.devnode = udev_device_get_devnode(dev);
        if (!d.devnode) {
                log_debug("%s: no device node; ignoring", sysname);
                return;
        }
        r = parse_hex16(udev_device_get_sysattr_value(dev, "idVendor"), &d.vid);
        if (r >= 0)
                r = parse_hex16(udev_device_get_sysattr_value(dev, "idProduct"), &d.pid);
        if (r < 0) {
                log_warning("%s: unreadable idVendor/idProduct; ignoring the device", sysname);
                return;
        }
        /* what the device node is named after; unreadable, they stay 0 (the node's name is what is opened) */
        if (parse_unsigned(udev_device_get_sysattr_value(dev, "busnum"), &d.busnum) < 0 ||
            parse_unsigned(udev_device_get_sysattr_value(dev, "devnum"), &d.devnum) < 0)
                d.busnum = d.devnum = 0;
        d.serial = udev_device_get_sysattr_value(dev, "serial");
        r = read_serial_index(dev, &d.serial_index);
        if (r < 0) {
                log_warning("%s: cannot read its device descriptor (%s); ignoring the device", sysname,
                            strerror(-r));
                return;
        }
        h->added(h->userdata, &d);
}

static int on_monitor(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct cb_hotplug *h = userdata;
        struct udev_device *dev;

        /* drain: one wakeup may carry several events */
        while ((dev = udev_monitor_receive_device(h->monitor))) {
                const char *action = udev_device_get_action(dev);
                const char *sysname = udev_device_get_sysname(dev);

                if (action && strcmp(action, "add") == 0)
                        report_add(h, dev);
                else if (action && strcmp(action, "remove") == 0 && sysname && cb_port_path_valid(sysname) &&
                         streq_ptr(udev_device_get_devtype(dev), "usb_device"))
                        h->removed(h->userdata, sysname);
                /* "change"/"bind"/"unbind" say nothing about presence */
                udev_device_unref(dev);
        }
        return 0;
}

int cb_hotplug_new(sd_event *event, cb_hotplug_added_t added, cb_hotplug_removed_t removed, void *userdata,
                   struct cb_hotplug **ret) {
        struct cb_hotplug *h = calloc(1, sizeof *h);
        int r;

        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(event);
        h->added = added;
        h->removed = removed;
        h->userdata = userdata;

        h->udev = udev_new();
        if (!h->udev) {
                r = errno > 0 ? -errno : -ENOMEM;
                goto fail;
        }
        h->monitor = udev_monitor_new_from_netlink(h->udev, "udev");
        if (!h->monitor) {
                r = log_error_errno(errno > 0 ? errno : ENOMEM, "cannot create a udev monitor");
                goto fail;
        }
        r = udev_monitor_filter_add_match_subsystem_devtype(h->monitor, "usb", "usb_device");
        if (r < 0)
                goto fail;
        /* boards announce themselves in bursts (32 boards x 2 stages): do not drop events */
        (void) udev_monitor_set_receive_buffer_size(h->monitor, 4 * 1024 * 1024);
        r = udev_monitor_enable_receiving(h->monitor);
        if (r < 0) {
                log_error_errno(r, "cannot listen for udev events");
                goto fail;
        }
        r = sd_event_add_io(event, &h->source, udev_monitor_get_fd(h->monitor), EPOLLIN, on_monitor, h);
        if (r < 0)
                goto fail;
        /* after libusb's completions (event-priority.h says why) */
        (void) sd_event_source_set_priority(h->source, CB_EVENT_PRIORITY_HOTPLUG);
        *ret = h;
        return 0;
fail:
        cb_hotplug_free(h);
        return r;
}

int cb_hotplug_enumerate(struct cb_hotplug *h) {
        struct udev_enumerate *e = udev_enumerate_new(h->udev);
        struct udev_list_entry *entry;
        int r;

        if (!e)
                return -ENOMEM;
        r = udev_enumerate_add_match_subsystem(e, "usb");
        if (r >= 0)
                r = udev_enumerate_add_match_property(e, "DEVTYPE", "usb_device");
        if (r >= 0)
                r = udev_enumerate_scan_devices(e);
        if (r < 0) {
                udev_enumerate_unref(e);
                return log_error_errno(r, "cannot enumerate USB devices");
        }
        udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
                struct udev_device *dev = udev_device_new_from_syspath(h->udev, udev_list_entry_get_name(entry));
                if (!dev)
                        continue;
                report_add(h, dev);
                udev_device_unref(dev);
        }
        udev_enumerate_unref(e);
        return 0;
}

struct cb_hotplug *cb_hotplug_free(struct cb_hotplug *h) {
        if (!h)
                return NULL;
        sd_event_source_disable_unref(h->source);
        udev_monitor_unref(h->monitor);
        udev_unref(h->udev);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}
