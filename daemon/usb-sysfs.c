/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "usb-sysfs.h"

#include <fcntl.h>

#include "util.h"

int cb_usb_sysfs_device_descriptor(const char *syspath, uint8_t ret[CB_USB_DEVICE_DESCRIPTOR_SIZE]) {
        _cleanup_close_ int fd = -1;
        char path[512];
        ssize_t n;

        snprintf(path, sizeof path, "%s/descriptors", syspath);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        /* the attribute starts with the device descriptor; the configurations follow */
        n = read(fd, ret, CB_USB_DEVICE_DESCRIPTOR_SIZE);
        if (n < 0)
                return -errno;
        if (n != CB_USB_DEVICE_DESCRIPTOR_SIZE || ret[0] != CB_USB_DEVICE_DESCRIPTOR_SIZE || ret[1] != 1)
                return -EBADMSG;
        return 0;
}
