/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A USB device on a port, as the kernel describes it (sysfs and udev's
 * event), with no I/O on the device: what a source of presence tells the
 * manager (cb_manager_device_added()). The daemon's source is hotplug.c
 * (libudev); the unit tests' is the in-process emulated bus.
 */

#include <stdint.h>

struct cb_presence {
        const char *port;     /* "1-1.3": the sysfs name, stable across re-enumerations */
        const char *devnode;  /* "/dev/bus/usb/001/005" */
        unsigned busnum, devnum; /* this appearance on the bus: a re-enumeration gets a new devnum */
        uint16_t vid, pid;
        uint8_t serial_index; /* iSerialNumber: with the IDs, the stage (cb_proto_classify()) */
        const char *serial;   /* the serial string (sysfs "serial"), or NULL; 2711/2712 ROM: the SoC serial */
};
