/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The Raspberry Pi USB device-boot wire protocol as pure functions: no I/O,
 * no state. Everything a board sends is parsed here, so this is what the
 * fuzzer and the unit tests hammer. All integers on the wire are
 * little-endian.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CB_USB_VID_BROADCOM 0x0a5cu
#define CB_USB_PID_BCM2835_ROM 0x2763u /* Zero, Zero W, CM1, A+ ROM */
#define CB_USB_PID_BCM2837 0x2764u     /* Zero 2 W / CM3 ROM, and every 2835/2837 second stage */
#define CB_USB_PID_BCM2711 0x2711u     /* CM4 */
#define CB_USB_PID_BCM2712 0x2712u     /* CM5 */

/* Vendor requests: bRequest is always 0; direction decides write or read. */
#define CB_REQTYPE_WRITE 0x40u /* vendor | device | host-to-device */
#define CB_REQTYPE_READ 0xC0u  /* vendor | device | device-to-host */
#define CB_REQUEST 0x00u

#define CB_BOOT_MESSAGE_SIZE 24u
#define CB_BOOT_SIGNATURE_SIZE 20u
/* Signed boot on 2835/2837: the signature the boot message carries, in a file beside the loader. */
#define CB_BOOT_SIGNATURE_FILE "bootcode.sig"
#define CB_ROM_STATUS_SIZE 4u
#define CB_ROM_STATUS_OK 0u
#define CB_FILE_REQUEST_SIZE 260u
/* The request's name field on the wire; a name is NUL-terminated within it, so at most CB_FILE_NAME_MAX bytes. */
#define CB_FILE_NAME_FIELD 256u
#define CB_FILE_NAME_MAX (CB_FILE_NAME_FIELD - 1u)

enum cb_stage {
        CB_STAGE_NOT_PI, /* any other device, e.g. the booted board's own gadget */
        CB_STAGE_ROM,    /* boot ROM: wants the second-stage loader */
        CB_STAGE_SERVER, /* second stage: asks for boot files */
};

enum cb_soc {
        CB_SOC_UNKNOWN,
        CB_SOC_BCM2835,
        CB_SOC_BCM2837,
        CB_SOC_BCM2711,
        CB_SOC_BCM2712,
};

/*
 * The stage is told by the iSerialNumber string index alone (0 or 3: ROM);
 * the product ID only picks the family. A 2764 with index 0 is a 2837 ROM,
 * with any other index the second stage of either 2835 or 2837.
 */
enum cb_stage cb_proto_classify(uint16_t vid, uint16_t pid, uint8_t serial_index, enum cb_soc *ret_soc);

/* The file the ROM stage sends for this product, or NULL if not a Pi. */
const char *cb_proto_second_stage_file(uint16_t pid);

/*
 * The chip folder of this product's files, in DIR/<chip>/ and in
 * bootfiles.bin: "2711" (CM4), "2712" (CM5), and "2710" for 2763/2764
 * (2835 and 2837, as the reference host does); NULL if not a Pi.
 */
const char *cb_proto_chip_folder(uint16_t pid);

/* The 2711 and 2712 ROMs show the SoC serial as their serial string; the 2835/2837 ROMs show none. */
bool cb_proto_rom_shows_soc_serial(uint16_t pid);

/*
 * Whether this product's boot message carries a signature (from
 * CB_BOOT_SIGNATURE_FILE): 2835 and 2837 only; 2711 and 2712 sign inside
 * their bootcode.
 */
bool cb_proto_uses_boot_signature(uint16_t pid);

const char *cb_proto_stage_name(enum cb_stage stage);

/* A write of `length` bytes announces the length in wValue (low) and wIndex (high). */
static inline uint16_t cb_proto_length_value(uint32_t length) {
        return (uint16_t) (length & 0xffffu);
}
static inline uint16_t cb_proto_length_index(uint32_t length) {
        return (uint16_t) (length >> 16);
}
static inline uint32_t cb_proto_length_from_setup(uint16_t value, uint16_t index) {
        return (uint32_t) value | ((uint32_t) index << 16);
}

/*
 * Fills the 24-byte boot message: the second-stage file's length, then the
 * signature (zero unless signed boot is used; `signature` may be NULL).
 */
void cb_proto_boot_message(uint32_t file_length, const uint8_t *signature, uint8_t out[CB_BOOT_MESSAGE_SIZE]);

/* The ROM's 4-byte answer after the loader: 0 is success. */
int cb_proto_parse_rom_status(const uint8_t *buf, size_t len, uint32_t *ret_status);

enum cb_file_command {
        CB_FILE_GET_SIZE = 0,
        CB_FILE_READ = 1,
        CB_FILE_DONE = 2,
};

struct cb_file_request {
        enum cb_file_command command;
        /* NUL-terminated copy of the name; valid only if name_ok. */
        char name[CB_FILE_NAME_FIELD + 1];
        bool name_ok;       /* false: the board sent no NUL within 256 bytes */
        bool name_empty;    /* an empty name ends the session */
        bool name_metadata; /* "*PROPERTY*VALUE" metadata (2711/2712) */
};

/*
 * Parses a request read from the board. Returns 0, -EBADMSG if too short to
 * hold a command, or -EPROTO for an unknown command (ret->command is then
 * undefined). A name without NUL is not an error here: name_ok tells.
 */
int cb_proto_parse_request(const uint8_t *buf, size_t len, struct cb_file_request *ret);

const char *cb_proto_command_name(enum cb_file_command command);

/* One interface of the active configuration, as far as endpoint choice needs. */
struct cb_proto_interface {
        uint8_t number;
        uint8_t class_code;
        uint8_t bulk_out_endpoint; /* 0 if the interface has none */
};

/*
 * Picks the interface and bulk OUT endpoint to send data on: a
 * vendor-specific interface with a bulk OUT endpoint if there is one (the
 * 2837 ROM also has a mass-storage interface), else the only interface.
 * Returns 0 or -ENXIO.
 */
int cb_proto_pick_interface(const struct cb_proto_interface *interfaces, size_t n_interfaces, uint8_t *ret_interface,
                            uint8_t *ret_endpoint);
