/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The emulated board's USB identity: descriptors and strings of each stage,
 * as an adapter presents them to the host (sysfs, usbfs, raw-gadget).
 */
#include <stdio.h>
#include <string.h>

#include "board.h"

#define BCM_VID 0x0a5cu
#define SECOND_STAGE_PID 0x2764u /* every 2835/2837 second stage */
#define DEFAULT_SERIAL "10000001"

/* The 2837 ROM also offers a mass-storage interface; its data interface is the second one. */
static bool two_interfaces(const struct emu_board *b) {
        return b->stage == EMU_STAGE_ROM && b->config.soc == EMU_SOC_2837;
}

/* 2711/2712 show the SoC serial; the 2835/2837 ROM shows none, their second stage "Broadcom" (index 1). */
static bool has_soc_serial(const struct emu_board *b) {
        return b->config.soc == EMU_SOC_2711 || b->config.soc == EMU_SOC_2712;
}

static uint8_t serial_index(const struct emu_board *b) {
        if (b->stage == EMU_STAGE_ROM)
                return has_soc_serial(b) ? 3 : 0;
        if (b->stage != EMU_STAGE_SERVER)
                return 0;
        if (!has_soc_serial(b))
                return 1;
        return b->config.server_serial_index ? b->config.server_serial_index : 4;
}

static const char *rom_product(const struct emu_board *b) {
        switch (b->config.soc) {
        case EMU_SOC_2837:
                return "BCM2710 Boot";
        case EMU_SOC_2711:
                return "BCM2711 Boot";
        case EMU_SOC_2712:
                return b->config.product_d0 ? "BCM2712D0 Boot" : "BCM2712 Boot";
        default:
                return "BCM2708 Boot";
        }
}


static size_t put(uint8_t *buf, size_t size, size_t at, const uint8_t *d, size_t n) {
        if (at + n <= size)
                memcpy(buf + at, d, n);
        return at + n;
}

static size_t put_endpoint(uint8_t *buf, size_t size, size_t at, uint8_t address, uint8_t attributes,
                           uint16_t max_packet, uint8_t interval) {
        const uint8_t ep[7] = { 7, 5, address, attributes, (uint8_t) max_packet, (uint8_t) (max_packet >> 8), interval };
        return put(buf, size, at, ep, sizeof ep);
}

static size_t put_interface(uint8_t *buf, size_t size, size_t at, uint8_t number, uint8_t alt, uint8_t n_endpoints,
                            uint8_t class_code, uint8_t subclass, uint8_t protocol) {
        const uint8_t intf[9] = { 9, 4, number, alt, n_endpoints, class_code, subclass, protocol, 0 };
        return put(buf, size, at, intf, sizeof intf);
}

/* An interface association: the host's drivers see which interfaces make up one function of a composite. */
static size_t put_iad(uint8_t *buf, size_t size, size_t at, uint8_t first, uint8_t count, uint8_t class_code,
                      uint8_t subclass, uint8_t protocol) {
        const uint8_t iad[8] = { 8, 0x0b, first, count, class_code, subclass, protocol, 0 };
        return put(buf, size, at, iad, sizeof iad);
}

#define CS_INTERFACE 0x24
#define CDC_CLASS 0x02
#define CDC_DATA_CLASS 0x0a
#define CDC_SUBCLASS_ACM 0x02
#define CDC_SUBCLASS_ECM 0x06
#define CDC_PROTO_AT 0x01
#define GADGET_MAC_STRING 4
/*
 * High speed (dummy_hcd's): interrupt endpoints poll every 2^(9-1)
 * microframes = 32 ms, as the Linux gadget's notifications do.
 */
#define HS_NOTIFY_INTERVAL 9
#define ECM_NOTIFY_PACKET 16 /* a SPEED_CHANGE notification in one packet */
#define ACM_NOTIFY_PACKET 10 /* a SERIAL_STATE notification */

static bool gadget_has_ecm(const struct emu_board *b) {
        return b->config.gadget == EMU_GADGET_ECM || b->config.gadget == EMU_GADGET_ECM_ACM;
}

static size_t put_cdc_header(uint8_t *buf, size_t size, size_t at) {
        const uint8_t header[5] = { 5, CS_INTERFACE, 0x00, 0x10, 0x01 }; /* CDC 1.10 */
        return put(buf, size, at, header, sizeof header);
}

static size_t put_cdc_union(uint8_t *buf, size_t size, size_t at, uint8_t control, uint8_t data) {
        const uint8_t u[5] = { 5, CS_INTERFACE, 0x06, control, data };
        return put(buf, size, at, u, sizeof u);
}

/* The boot ROM's and the second stage's: the protocol's vendor interface (the 2837 ROM's after a mass-storage one). */
static size_t boot_interfaces(const struct emu_board *b, uint8_t *buf, size_t size, size_t at, uint8_t *n_interfaces) {
        uint16_t mps = emu_board_high_speed(b) ? 512 : 64;

        if (two_interfaces(b)) {
                at = put_interface(buf, size, at, 0, 0, 2, 0x08, 0x06, 0x50);
                at = put_endpoint(buf, size, at, 0x81, 0x02, mps, 0);
                at = put_endpoint(buf, size, at, 0x02, 0x02, mps, 0);
                at = put_interface(buf, size, at, 1, 0, 2, 0xff, 0xff, 0xff);
                at = put_endpoint(buf, size, at, 0x84, 0x02, mps, 0);
                at = put_endpoint(buf, size, at, 0x03, 0x02, mps, 0);
                *n_interfaces = 2;
                return at;
        }
        at = put_interface(buf, size, at, 0, 0, 2, 0xff, 0xff, 0xff);
        at = put_endpoint(buf, size, at, 0x81, 0x02, mps, 0);
        at = put_endpoint(buf, size, at, 0x01, 0x02, mps, 0);
        *n_interfaces = 1;
        return at;
}

/* The plain gadget: a communication interface without the CDC descriptors a host driver would need. */
static size_t plain_gadget_interfaces(uint8_t *buf, size_t size, size_t at, uint8_t *n_interfaces) {
        at = put_interface(buf, size, at, 0, 0, 1, CDC_CLASS, CDC_SUBCLASS_ECM, 0x00);
        at = put_endpoint(buf, size, at, 0x81, 0x03, 16, 0);
        *n_interfaces = 1;
        return at;
}

/*
 * CDC ECM on interfaces `first` (control: header, union and Ethernet
 * descriptors, the notification endpoint) and first + 1 (data: alternate
 * setting 0 idle, 1 with the bulk pair, selected by the host's driver).
 */
static size_t ecm_function(uint8_t *buf, size_t size, size_t at, uint8_t first, bool in_composite) {
        const uint8_t ether[13] = {
                13, CS_INTERFACE, 0x0f, GADGET_MAC_STRING, 0, 0, 0, 0, /* no statistics */
                0xea, 0x05,                                            /* wMaxSegmentSize 1514 */
                0, 0,                                                  /* no multicast filters */
                0,                                                     /* no power filters */
        };

        if (in_composite)
                at = put_iad(buf, size, at, first, 2, CDC_CLASS, CDC_SUBCLASS_ECM, 0x00);
        at = put_interface(buf, size, at, first, 0, 1, CDC_CLASS, CDC_SUBCLASS_ECM, 0x00);
        at = put_cdc_header(buf, size, at);
        at = put_cdc_union(buf, size, at, first, (uint8_t) (first + 1));
        at = put(buf, size, at, ether, sizeof ether);
        at = put_endpoint(buf, size, at, 0x81, 0x03, ECM_NOTIFY_PACKET, HS_NOTIFY_INTERVAL);
        at = put_interface(buf, size, at, (uint8_t) (first + 1), 0, 0, CDC_DATA_CLASS, 0, 0);
        at = put_interface(buf, size, at, (uint8_t) (first + 1), 1, 2, CDC_DATA_CLASS, 0, 0);
        at = put_endpoint(buf, size, at, 0x82, 0x02, 512, 0);
        at = put_endpoint(buf, size, at, 0x01, 0x02, 512, 0);
        return at;
}

/* CDC ACM on interfaces `first` (control: its notification endpoint) and first + 1 (data: the bulk pair). */
static size_t acm_function(uint8_t *buf, size_t size, size_t at, uint8_t first) {
        const uint8_t call_management[5] = { 5, CS_INTERFACE, 0x01, 0x00, (uint8_t) (first + 1) };
        const uint8_t acm[4] = { 4, CS_INTERFACE, 0x02, 0x02 }; /* line coding and serial state */

        at = put_iad(buf, size, at, first, 2, CDC_CLASS, CDC_SUBCLASS_ACM, CDC_PROTO_AT);
        at = put_interface(buf, size, at, first, 0, 1, CDC_CLASS, CDC_SUBCLASS_ACM, CDC_PROTO_AT);
        at = put_cdc_header(buf, size, at);
        at = put(buf, size, at, call_management, sizeof call_management);
        at = put(buf, size, at, acm, sizeof acm);
        at = put_cdc_union(buf, size, at, first, (uint8_t) (first + 1));
        at = put_endpoint(buf, size, at, 0x83, 0x03, ACM_NOTIFY_PACKET, HS_NOTIFY_INTERVAL);
        at = put_interface(buf, size, at, (uint8_t) (first + 1), 0, 2, CDC_DATA_CLASS, 0, 0);
        at = put_endpoint(buf, size, at, 0x84, 0x02, 512, 0);
        at = put_endpoint(buf, size, at, 0x02, 0x02, 512, 0);
        return at;
}

static size_t gadget_interfaces(const struct emu_board *b, uint8_t *buf, size_t size, size_t at, uint8_t *n_interfaces) {
        switch (b->config.gadget) {
        case EMU_GADGET_ECM:
                *n_interfaces = 2;
                return ecm_function(buf, size, at, 0, false);
        case EMU_GADGET_ECM_ACM:
                *n_interfaces = 4;
                at = ecm_function(buf, size, at, 0, true);
                return acm_function(buf, size, at, 2);
        default:
                return plain_gadget_interfaces(buf, size, at, n_interfaces);
        }
}

/* bDeviceClass, SubClass, Protocol: a composite says its functions are grouped (IAD), ECM alone is CDC's. */
static void device_class(const struct emu_board *b, uint8_t class_triple[3]) {
        class_triple[0] = class_triple[1] = class_triple[2] = 0;
        if (b->stage != EMU_STAGE_GADGET)
                return;
        if (b->config.gadget == EMU_GADGET_ECM) {
                class_triple[0] = CDC_CLASS;
        } else if (b->config.gadget == EMU_GADGET_ECM_ACM) {
                class_triple[0] = 0xef;
                class_triple[1] = 0x02;
                class_triple[2] = 0x01;
        }
}

uint16_t emu_board_vid(const struct emu_board *b) {
        return b->stage == EMU_STAGE_GADGET ? b->config.gadget_vid : BCM_VID;
}

uint16_t emu_board_pid(const struct emu_board *b) {
        switch (b->stage) {
        case EMU_STAGE_ROM:
                return b->config.rom_pid;
        case EMU_STAGE_GADGET:
                return b->config.gadget_pid;
        default:
                /* the 2711 and 2712 keep their product ID in the second stage */
                return has_soc_serial(b) ? b->config.rom_pid : SECOND_STAGE_PID;
        }
}

bool emu_board_high_speed(const struct emu_board *b) {
        /* the 2835 ROM runs at full speed; everything after it at high speed */
        return !(b->stage == EMU_STAGE_ROM && b->config.soc == EMU_SOC_2835);
}

size_t emu_board_descriptors(const struct emu_board *b, uint8_t *buf, size_t size) {
        uint16_t vid = emu_board_vid(b), pid = emu_board_pid(b);
        uint8_t class_triple[3], n_interfaces = 0;
        size_t at, config_start;

        device_class(b, class_triple);
        const uint8_t dev[18] = { 18, 1, 0x00, 0x02, class_triple[0], class_triple[1], class_triple[2], 64,
                                  (uint8_t) vid, (uint8_t) (vid >> 8), (uint8_t) pid, (uint8_t) (pid >> 8), 0x00, 0x01,
                                  1, 2, serial_index(b), 1 };
        at = put(buf, size, 0, dev, sizeof dev);
        config_start = at;
        const uint8_t cfg[9] = { 9, 2, 0, 0, 1, 1, 0, 0x80, 250 };
        at = put(buf, size, at, cfg, sizeof cfg);

        if (b->stage == EMU_STAGE_GADGET)
                at = gadget_interfaces(b, buf, size, at, &n_interfaces);
        else
                at = boot_interfaces(b, buf, size, at, &n_interfaces);
        if (config_start + 9 <= size) {
                size_t total = at - config_start;
                buf[config_start + 2] = (uint8_t) total;
                buf[config_start + 3] = (uint8_t) (total >> 8);
                buf[config_start + 4] = n_interfaces;
        }
        return at;
}

const char *emu_gadget_name(enum emu_gadget gadget) {
        switch (gadget) {
        case EMU_GADGET_ECM:
                return "ecm";
        case EMU_GADGET_ECM_ACM:
                return "ecm-acm";
        default:
                return "plain";
        }
}

void emu_board_mac_string(const struct emu_board *b, char buf[13]) {
        buf[0] = '\0';
        if (!gadget_has_ecm(b))
                return;
        for (size_t i = 0; i < 6; i++)
                snprintf(buf + 2 * i, 3, "%02X", b->config.mac[i]);
}

size_t emu_board_string_descriptor(const struct emu_board *b, uint8_t index, uint8_t *buf, size_t size) {
        const char *s;

        if (index == GADGET_MAC_STRING && b->stage == EMU_STAGE_GADGET && gadget_has_ecm(b)) {
                char mac[13];
                emu_board_mac_string(b, mac);
                return emu_string_descriptor(mac, buf, size);
        }
        switch (index) {
        case 0:
                if (size < 4)
                        return 0;
                buf[0] = 4, buf[1] = 3, buf[2] = 0x09, buf[3] = 0x04; /* English (US) */
                return 4;
        case 1:
                s = b->stage == EMU_STAGE_GADGET ? "Linux" : "Broadcom";
                break;
        case 2:
                if (b->stage != EMU_STAGE_GADGET)
                        s = rom_product(b);
                else
                        s = b->config.gadget == EMU_GADGET_ECM_ACM ? "Multifunction Composite Gadget" : "Ethernet Gadget";
                break;
        default:
                if (b->stage == EMU_STAGE_GADGET || !has_soc_serial(b) || index != serial_index(b))
                        return 0;
                s = b->config.serial[0] ? b->config.serial : DEFAULT_SERIAL;
                break;
        }
        return emu_string_descriptor(s, buf, size);
}

size_t emu_string_descriptor(const char *s, uint8_t *buf, size_t size) {
        size_t n = 2 + 2 * strlen(s);

        if (n > size || n > 255)
                return 0;
        buf[0] = (uint8_t) n;
        buf[1] = 3;
        for (size_t i = 0; s[i]; i++)
                buf[2 + 2 * i] = (uint8_t) s[i], buf[3 + 2 * i] = 0;
        return n;
}

uint8_t emu_board_bulk_endpoint(const struct emu_board *b) {
        return two_interfaces(b) ? 0x03 : 0x01;
}
