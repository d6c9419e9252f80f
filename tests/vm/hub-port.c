/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hub-port: a hub's port power from userspace, through usbfs, the way a
 * Power=usb-hub backend with HubPowerMethod=request does it (hub class
 * requests to the hub device, no interface claimed). For the VM tier's
 * experiments and scenarios.
 *
 *   hub-port BUS DEV PORT status   GET_STATUS(port): wPortStatus wPortChange, and "power on|off"
 *   hub-port BUS DEV PORT on       SET_FEATURE(PORT_POWER)
 *   hub-port BUS DEV PORT off      CLEAR_FEATURE(PORT_POWER)
 *   hub-port BUS DEV PORT hub      the hub descriptor: ports, wHubCharacteristics, power switching mode
 *   hub-port BUS DEV 0 reset       USBDEVFS_RESET of device DEV itself (a port reset, as libusb_reset_device)
 *
 * BUS and DEV name /dev/bus/usb/BBB/DDD (a root hub is device 1 of its bus).
 * Exit code 0 on success, 1 on a failed request (errno printed), 2 on usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/usbdevice_fs.h>

#define REQ_GET_STATUS 0x00
#define REQ_CLEAR_FEATURE 0x01
#define REQ_SET_FEATURE 0x03
#define REQ_GET_DESCRIPTOR 0x06
#define FEAT_PORT_POWER 8
#define RT_PORT_OUT 0x23 /* class, other (port), host to device */
#define RT_PORT_IN 0xa3
#define RT_HUB_IN 0xa0
#define DT_HUB 0x29

static int control(int fd, uint8_t type, uint8_t req, uint16_t value, uint16_t index, void *data, uint16_t len) {
        struct usbdevfs_ctrltransfer c = {
                .bRequestType = type,
                .bRequest = req,
                .wValue = value,
                .wIndex = index,
                .wLength = len,
                .timeout = 1000,
                .data = data,
        };
        int r = ioctl(fd, USBDEVFS_CONTROL, &c);
        return r < 0 ? -errno : r;
}

int main(int argc, char **argv) {
        char path[64];
        uint8_t buf[64];
        int fd, r;
        unsigned long bus, dev, port;

        if (argc != 5) {
                fprintf(stderr, "usage: hub-port BUS DEV PORT status|on|off|hub|reset\n");
                return 2;
        }
        bus = strtoul(argv[1], NULL, 10);
        dev = strtoul(argv[2], NULL, 10);
        port = strtoul(argv[3], NULL, 10);
        snprintf(path, sizeof path, "/dev/bus/usb/%03lu/%03lu", bus, dev);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "hub-port: %s: %s\n", path, strerror(errno));
                return 1;
        }
        if (strcmp(argv[4], "status") == 0) {
                r = control(fd, RT_PORT_IN, REQ_GET_STATUS, 0, (uint16_t) port, buf, 4);
                if (r < 4) {
                        fprintf(stderr, "hub-port: GET_STATUS(port %lu): %s\n", port, r < 0 ? strerror(-r) : "short");
                        return 1;
                }
                unsigned status = buf[0] | buf[1] << 8, change = buf[2] | buf[3] << 8;
                printf("port %lu: wPortStatus 0x%04x wPortChange 0x%04x power %s connection %s enable %s\n", port,
                       status, change, status & 0x0100 ? "on" : "off", status & 0x0001 ? "yes" : "no",
                       status & 0x0002 ? "yes" : "no");
                return 0;
        }
        if (strcmp(argv[4], "on") == 0 || strcmp(argv[4], "off") == 0) {
                bool on = strcmp(argv[4], "on") == 0;
                r = control(fd, RT_PORT_OUT, on ? REQ_SET_FEATURE : REQ_CLEAR_FEATURE, FEAT_PORT_POWER,
                            (uint16_t) port, NULL, 0);
                if (r < 0) {
                        fprintf(stderr, "hub-port: %s_FEATURE(PORT_POWER) port %lu: %s\n", on ? "SET" : "CLEAR", port,
                                strerror(-r));
                        return 1;
                }
                printf("port %lu: %s_FEATURE(PORT_POWER) sent\n", port, on ? "SET" : "CLEAR");
                return 0;
        }
        if (strcmp(argv[4], "reset") == 0) {
                if (ioctl(fd, USBDEVFS_RESET, 0) < 0) {
                        fprintf(stderr, "hub-port: USBDEVFS_RESET %s: %s\n", path, strerror(errno));
                        return 1;
                }
                printf("%s: reset\n", path);
                return 0;
        }
        if (strcmp(argv[4], "hub") == 0) {
                r = control(fd, RT_HUB_IN, REQ_GET_DESCRIPTOR, DT_HUB << 8, 0, buf, sizeof buf);
                if (r < 7) {
                        fprintf(stderr, "hub-port: GET_DESCRIPTOR(hub): %s\n", r < 0 ? strerror(-r) : "short");
                        return 1;
                }
                unsigned ch = buf[3] | buf[4] << 8;
                static const char *const lpsm[] = { "ganged", "individual", "none (1.0 hub)", "none (1.0 hub)" };
                printf("hub: %u ports, wHubCharacteristics 0x%04x, power switching %s (bits 1:0 = %u%u), "
                       "bPwrOn2PwrGood %u ms\n",
                       buf[2], ch, lpsm[ch & 3], (ch >> 1) & 1, ch & 1, buf[5] * 2u);
                return 0;
        }
        fprintf(stderr, "usage: hub-port BUS DEV PORT status|on|off|hub|reset\n");
        return 2;
}
