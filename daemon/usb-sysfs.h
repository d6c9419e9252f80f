/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What the kernel already knows of a USB device, read from sysfs rather
 * than asked of the device: no I/O on the bus.
 */

#include <stdint.h>

#define CB_USB_DEVICE_DESCRIPTOR_SIZE 18

/* The device descriptor from SYSPATH/descriptors; -EBADMSG if it is not one. */
int cb_usb_sysfs_device_descriptor(const char *syspath, uint8_t ret[CB_USB_DEVICE_DESCRIPTOR_SIZE]);
