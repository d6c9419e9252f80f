/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Publishing a device: its sysfs entry (attributes, properties, interfaces),
 * its node under /dev/bus/usb with the ioctl handler attached, the "add"
 * uevents; and removing it again ("remove" uevents).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#endif
#include "tb-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TB_USB_MAJOR 189

/* ------------------------------------------------------------------ */
/* adding and removing devices (main thread, lock held) */

static unsigned alloc_devnum(tb_testbed *tb, unsigned bus, bool root) {
        if (root) {
                tb->devnum_used[bus][1] = true;
                return 1;
        }
        for (unsigned i = 0; i < 126; i++) {
                unsigned n = tb->next_devnum[bus] + i;
                n = (n - 2) % 126 + 2;
                if (!tb->devnum_used[bus][n]) {
                        tb->devnum_used[bus][n] = true;
                        tb->next_devnum[bus] = n + 1;
                        return n;
                }
        }
        die("bus %u: out of device numbers", bus);
}

static void prop(GPtrArray *props, const char *key, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void prop(GPtrArray *props, const char *key, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        char *v = g_strdup_vprintf(format, ap);
        va_end(ap);
        g_ptr_array_add(props, g_strconcat(key, "=", v, NULL));
        g_free(v);
}

/* udev's ID_* encoding of a string: spaces to '_'. */
static char *udev_id(const char *s) {
        char *r = g_strdup(s);
        for (char *p = r; *p; p++)
                if (*p == ' ' || *p == '/')
                        *p = '_';
        return r;
}

static void split_props(GPtrArray *props, GPtrArray *out) {
        for (guint i = 0; i < props->len; i++) {
                const char *p = g_ptr_array_index(props, i);
                const char *eq = strchr(p, '=');
                g_ptr_array_add(out, g_strndup(p, (gsize) (eq - p)));
                g_ptr_array_add(out, g_strdup(eq + 1));
        }
        g_ptr_array_add(out, NULL);
}

static void attach_handler(tb_testbed *tb, const char *devnode) {
        GError *error = NULL;
        if (g_hash_table_contains(tb->attached, devnode)) {
                /* a device number used again after a wrap: new listener */
                umockdev_testbed_detach_ioctl(tb->umock, devnode, NULL);
                g_hash_table_remove(tb->attached, devnode);
        }
        if (!umockdev_testbed_attach_ioctl(tb->umock, devnode, tb->handler, &error))
                die("attach_ioctl %s: %s", devnode, error->message);
        g_hash_table_add(tb->attached, g_strdup(devnode));
}

/* umockdev_testbed_add_devicev() checks that a parent exists with a plain stat(), which
 * sees the real /sys unless this process runs under the preload. Giving no parent and
 * the path below /sys/devices as the name builds the same tree without that check. */
static char *add_devicev(tb_testbed *tb, const char *name, const char *parent_syspath, GPtrArray *attrs,
                         GPtrArray *props) {
        const char *prefix = "/sys/devices/";
        char *rel = parent_syspath ? g_strconcat(parent_syspath + strlen(prefix), "/", name, NULL) : g_strdup(name);
        if (parent_syspath && !g_str_has_prefix(parent_syspath, prefix))
                die("parent %s is not below %s", parent_syspath, prefix);
        char *sp = umockdev_testbed_add_devicev(tb->umock, "usb", rel, NULL, (gchar **) attrs->pdata,
                                                (gchar **) props->pdata);
        g_free(rel);
        return sp;
}

/* Adds d (desc, sysname, parent, board/hub filled in) to sysfs and /dev, sends "add". */
void dev_publish(struct tb_usbdev *d, const char *parent_syspath, bool root) {
        tb_testbed *tb = d->tb;
        const uint8_t *dd = d->desc;
        uint16_t vid = le16(dd + 8), pid = le16(dd + 10), bcd = le16(dd + 12);
        char manufacturer[128], product[128], serial[128];
        struct desc_walk w;
        char minor[16], tmp[256];

        desc_parse(d->desc, d->desc_len, &w);
        d->devnum = alloc_devnum(tb, d->busnum, root);
        snprintf(d->devnode, sizeof d->devnode, "/dev/bus/usb/%03u/%03u", d->busnum, d->devnum);
        dev_string(d, dd[14], manufacturer, sizeof manufacturer);
        dev_string(d, dd[15], product, sizeof product);
        dev_string(d, dd[16], serial, sizeof serial);
        snprintf(minor, sizeof minor, "%u", (d->busnum - 1) * 128 + (d->devnum - 1));

        /* the node, and its handler, before the device exists */
        attach_handler(tb, d->devnode);
        d->nodepath = g_strconcat(tb->root, d->devnode, NULL);
        char *dir = g_path_get_dirname(d->nodepath);
        g_mkdir_with_parents(dir, 0755);
        g_free(dir);
        unlink(d->nodepath);
        if (tb->opt.node_kind == TB_NODE_FIFO) {
                if (mkfifo(d->nodepath, 0666) < 0)
                        die("mkfifo %s: %s", d->nodepath, g_strerror(errno));
                d->fifo_fd = open(d->nodepath, O_RDWR | O_NONBLOCK | O_CLOEXEC);
                if (d->fifo_fd < 0)
                        die("open %s: %s", d->nodepath, g_strerror(errno));
                (void) fcntl(d->fifo_fd, F_SETPIPE_SZ, 4096);
                fifo_fill(d->fifo_fd);
        } else {
                d->fifo_fd = -1;
                if (!g_file_set_contents(d->nodepath, (const char *) d->desc, (gssize) d->desc_len, NULL))
                        die("cannot write %s", d->nodepath);
        }
        d->ready = false;

        /* properties: the kernel's and what udev's builtins would add */
        const char *devpath = strchr(d->sysname, '-') ? strchr(d->sysname, '-') + 1 : "0";
        char *idv = udev_id(manufacturer), *idm = udev_id(product), *ids = udev_id(serial);
        char *path_tag;
        d->props = g_ptr_array_new_with_free_func(g_free);
        prop(d->props, "DEVNAME", "%s", d->devnode);
        prop(d->props, "DEVTYPE", "usb_device");
        prop(d->props, "DRIVER", "usb");
        prop(d->props, "PRODUCT", "%x/%x/%x", vid, pid, bcd);
        prop(d->props, "TYPE", "%u/%u/%u", dd[4], dd[5], dd[6]);
        prop(d->props, "BUSNUM", "%03u", d->busnum);
        prop(d->props, "DEVNUM", "%03u", d->devnum);
        prop(d->props, "MAJOR", "%d", TB_USB_MAJOR);
        prop(d->props, "MINOR", "%s", minor);
        prop(d->props, "ID_BUS", "usb");
        prop(d->props, "ID_VENDOR_ID", "%04x", vid);
        prop(d->props, "ID_MODEL_ID", "%04x", pid);
        prop(d->props, "ID_REVISION", "%04x", bcd);
        prop(d->props, "ID_VENDOR", "%s", idv);
        prop(d->props, "ID_MODEL", "%s", idm);
        if (serial[0]) {
                prop(d->props, "ID_SERIAL", "%s_%s_%s", idv, idm, ids);
                prop(d->props, "ID_SERIAL_SHORT", "%s", ids);
        } else {
                prop(d->props, "ID_SERIAL", "%s_%s", idv, idm);
        }
        GString *ifs = g_string_new(":");
        for (unsigned i = 0; i < w.n_if; i++)
                g_string_append_printf(ifs, "%02x%02x%02x:", w.if_class[i][0], w.if_class[i][1], w.if_class[i][2]);
        prop(d->props, "ID_USB_INTERFACES", "%s", ifs->str);
        g_string_free(ifs, TRUE);
        prop(d->props, "ID_PATH", "platform-dummy_hcd.%u-usb-0:%s", d->busnum - 1, devpath);
        path_tag = udev_id((const char *) g_ptr_array_index(d->props, d->props->len - 1) + strlen("ID_PATH="));
        for (char *p = path_tag; *p; p++)
                if (*p == '.' || *p == ':' || *p == '-')
                        *p = '_';
        prop(d->props, "ID_PATH_TAG", "%s", path_tag);
        prop(d->props, "USEC_INITIALIZED", "%" PRId64, g_get_monotonic_time());
        g_free(path_tag);
        g_free(idv);
        g_free(idm);
        g_free(ids);

        GPtrArray *attrs = g_ptr_array_new_with_free_func(g_free);
#define ATTR(k, ...)                                                    \
        do {                                                            \
                g_ptr_array_add(attrs, g_strdup(k));                    \
                g_ptr_array_add(attrs, g_strdup_printf(__VA_ARGS__));   \
        } while (0)
        ATTR("busnum", "%u", d->busnum);
        ATTR("devnum", "%u", d->devnum);
        ATTR("devpath", "%s", devpath);
        ATTR("dev", "%d:%s", TB_USB_MAJOR, minor);
        ATTR("idVendor", "%04x", vid);
        ATTR("idProduct", "%04x", pid);
        ATTR("bcdDevice", "%04x", bcd);
        ATTR("bDeviceClass", "%02x", dd[4]);
        ATTR("bDeviceSubClass", "%02x", dd[5]);
        ATTR("bDeviceProtocol", "%02x", dd[6]);
        ATTR("bMaxPacketSize0", "%u", dd[7]);
        ATTR("bNumConfigurations", "%u", dd[17]);
        ATTR("bConfigurationValue", "1");
        ATTR("bNumInterfaces", "%2u", w.n_if);
        ATTR("bmAttributes", "%02x", d->desc_len > 25 ? d->desc[25] : 0x80);
        ATTR("bMaxPower", "%umA", d->desc_len > 26 ? d->desc[26] * 2u : 0u);
        ATTR("speed", "%s", d->high_speed ? "480" : "12");
        ATTR("version", " 2.00");
        ATTR("maxchild", "%u", d->hub ? emu_hub_model_ports(&d->hub->model) : 0);
        ATTR("authorized", "1");
        ATTR("avoid_reset_quirk", "0");
        ATTR("quirks", "0x0");
        ATTR("removable", "%s", d->board ? "removable" : "unknown");
        ATTR("configuration", "%s", "");
        ATTR("ltm_capable", "no");
        ATTR("urbnum", "0");
        ATTR("rx_lanes", "1");
        ATTR("tx_lanes", "1");
        if (manufacturer[0])
                ATTR("manufacturer", "%s", manufacturer);
        if (product[0])
                ATTR("product", "%s", product);
        if (serial[0])
                ATTR("serial", "%s", serial);
        g_ptr_array_add(attrs, NULL);

        GPtrArray *pv = g_ptr_array_new_with_free_func(g_free);
        split_props(d->props, pv);
        char *sp = add_devicev(tb, d->sysname, parent_syspath, attrs, pv);
        g_ptr_array_unref(attrs);
        g_ptr_array_unref(pv);
        if (!sp)
                die("add_device %s failed", d->sysname);
        d->syspath = sp;
        umockdev_testbed_set_attribute_binary(tb->umock, sp, "descriptors", d->desc, (gint) d->desc_len);
        g_hash_table_replace(tb->by_devnode, g_strdup(d->devnode), d);
        d->present = true;
        tb->stats.enumerations++;

        /* the interfaces (the kernel adds them once the device is configured) */
        d->n_if = 0;
        if (!tb->opt.no_interfaces)
                for (unsigned i = 0; i < w.n_if && i < TB_MAX_IF; i++) {
                        char name[64];
                        GPtrArray *ip = g_ptr_array_new_with_free_func(g_free);
                        snprintf(name, sizeof name, "%s:1.%u", d->sysname, w.if_number[i]);
                        prop(ip, "DEVTYPE", "usb_interface");
                        prop(ip, "PRODUCT", "%x/%x/%x", vid, pid, bcd);
                        prop(ip, "TYPE", "%u/%u/%u", dd[4], dd[5], dd[6]);
                        prop(ip, "INTERFACE", "%u/%u/%u", w.if_class[i][0], w.if_class[i][1], w.if_class[i][2]);
                        prop(ip, "MODALIAS", "usb:v%04Xp%04Xd%04Xdc%02Xdsc%02Xdp%02Xic%02Xisc%02Xip%02Xin%02X", vid,
                             pid, bcd, dd[4], dd[5], dd[6], w.if_class[i][0], w.if_class[i][1], w.if_class[i][2],
                             w.if_number[i]);
                        GPtrArray *ia = g_ptr_array_new_with_free_func(g_free);
                        g_ptr_array_add(ia, g_strdup("bInterfaceNumber"));
                        g_ptr_array_add(ia, g_strdup_printf("%02x", w.if_number[i]));
                        g_ptr_array_add(ia, g_strdup("bAlternateSetting"));
                        g_ptr_array_add(ia, g_strdup(" 0"));
                        g_ptr_array_add(ia, g_strdup("bNumEndpoints"));
                        g_ptr_array_add(ia, g_strdup_printf("%02x", w.if_n_ep[i]));
                        g_ptr_array_add(ia, g_strdup("bInterfaceClass"));
                        g_ptr_array_add(ia, g_strdup_printf("%02x", w.if_class[i][0]));
                        g_ptr_array_add(ia, g_strdup("bInterfaceSubClass"));
                        g_ptr_array_add(ia, g_strdup_printf("%02x", w.if_class[i][1]));
                        g_ptr_array_add(ia, g_strdup("bInterfaceProtocol"));
                        g_ptr_array_add(ia, g_strdup_printf("%02x", w.if_class[i][2]));
                        g_ptr_array_add(ia, g_strdup("authorized"));
                        g_ptr_array_add(ia, g_strdup("1"));
                        g_ptr_array_add(ia, NULL);
                        GPtrArray *ipv = g_ptr_array_new_with_free_func(g_free);
                        split_props(ip, ipv);
                        char *isp = add_devicev(tb, name, sp, ia, ipv);
                        g_ptr_array_unref(ia);
                        g_ptr_array_unref(ipv);
                        if (!isp)
                                die("add_device %s failed", name);
                        d->if_syspath[d->n_if] = isp;
                        d->if_props[d->n_if] = ip;
                        d->n_if++;
                }

        snprintf(tmp, sizeof tmp, "add %s %04x:%04x %s%s", d->sysname, vid, pid, d->devnode,
                 d->board ? "" : " (hub)");
        tb_event(tb, "%s%s%s", tmp, d->board ? " stage " : "", d->board ? emu_stage_name(d->board->emu.stage) : "");

        /* uevents in the kernel's order: the device, its interfaces, the device's driver bind */
        send_uevent(tb, d->syspath, "add", d->props, NULL);
        for (unsigned i = 0; i < d->n_if; i++)
                send_uevent(tb, d->if_syspath[i], "add", d->if_props[i], NULL);
        if (!tb->opt.no_bind_events)
                send_uevent(tb, d->syspath, "bind", d->props, NULL);
}

struct tb_usbdev *dev_new(tb_testbed *tb, unsigned busnum, const char *sysname) {
        struct tb_usbdev *d = g_new0(struct tb_usbdev, 1);
        d->tb = tb;
        d->busnum = busnum;
        d->fifo_fd = -1;
        g_strlcpy(d->sysname, sysname, sizeof d->sysname);
        d->clients = g_ptr_array_new();
        for (unsigned i = 0; i < TB_MAX_EP; i++)
                g_queue_init(&d->ep_queue[i]);
        g_ptr_array_add(tb->devs, d);
        return d;
}

/* Disconnect: URBs in flight end with -ESHUTDOWN, later ioctls with ENODEV; the
 * device leaves sysfs and /dev ("remove" uevents, interfaces first). */
void dev_remove(struct tb_usbdev *d) {
        tb_testbed *tb = d->tb;

        if (!d->present)
                return;
        d->gone = true;
        kill_urbs(d, NULL, -ESHUTDOWN, true);
        for (guint i = 0; i < d->clients->len; i++) {
                struct tb_client *c = g_ptr_array_index(d->clients, i);
                if (c->blocked_reap) {
                        UMockdevIoctlClient *client = c->blocked_reap;
                        c->blocked_reap = NULL;
                        umockdev_ioctl_client_complete(client, -1, ENODEV);
                }
        }
        for (unsigned i = d->n_if; i-- > 0;) {
                umockdev_testbed_remove_device(tb->umock, d->if_syspath[i]);
                send_uevent(tb, d->if_syspath[i], "remove", d->if_props[i], NULL);
        }
        umockdev_testbed_remove_device(tb->umock, d->syspath);
        unlink(d->nodepath);
        g_hash_table_remove(tb->by_devnode, d->devnode);
        tb->devnum_used[d->busnum][d->devnum] = false;
        d->present = false;
        tb->stats.removals++;
        tb_event(tb, "remove %s %s", d->sysname, d->devnode);
        if (!tb->opt.no_bind_events)
                send_uevent(tb, d->syspath, "unbind", d->props, NULL);
        send_uevent(tb, d->syspath, "remove", d->props, NULL);
        dev_update_ready(d);
}
