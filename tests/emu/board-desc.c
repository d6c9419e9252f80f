/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The emulated board's USB identity: descriptors and strings of each stage,
 * as an adapter presents them to the host (sysfs, usbfs, raw-gadget).
 */
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
                           uint16_t max_packet) {
        const uint8_t ep[7] = { 7, 5, address, attributes, (uint8_t) max_packet, (uint8_t) (max_packet >> 8), 0 };
        return put(buf, size, at, ep, sizeof ep);
}

static size_t put_interface(uint8_t *buf, size_t size, size_t at, uint8_t number, uint8_t n_endpoints,
                            uint8_t class_code, uint8_t subclass, uint8_t protocol) {
        const uint8_t intf[9] = { 9, 4, number, 0, n_endpoints, class_code, subclass, protocol, 0 };
        return put(buf, size, at, intf, sizeof intf);
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
        uint16_t mps = emu_board_high_speed(b) ? 512 : 64;
        size_t at, config_start;

        const uint8_t dev[18] = { 18, 1, 0x00, 0x02, 0, 0, 0, 64, (uint8_t) vid, (uint8_t) (vid >> 8),
                                  (uint8_t) pid, (uint8_t) (pid >> 8), 0x00, 0x01, 1, 2, serial_index(b), 1 };
        at = put(buf, size, 0, dev, sizeof dev);
        config_start = at;
        uint8_t cfg[9] = { 9, 2, 0, 0, 1, 1, 0, 0x80, 250 };
        at = put(buf, size, at, cfg, sizeof cfg);

        if (b->stage == EMU_STAGE_GADGET) {
                at = put_interface(buf, size, at, 0, 1, 0x02, 0x06, 0x00);
                at = put_endpoint(buf, size, at, 0x81, 0x03, 16);
        } else if (two_interfaces(b)) {
                at = put_interface(buf, size, at, 0, 2, 0x08, 0x06, 0x50);
                at = put_endpoint(buf, size, at, 0x81, 0x02, mps);
                at = put_endpoint(buf, size, at, 0x02, 0x02, mps);
                at = put_interface(buf, size, at, 1, 2, 0xff, 0xff, 0xff);
                at = put_endpoint(buf, size, at, 0x84, 0x02, mps);
                at = put_endpoint(buf, size, at, 0x03, 0x02, mps);
        } else {
                at = put_interface(buf, size, at, 0, 2, 0xff, 0xff, 0xff);
                at = put_endpoint(buf, size, at, 0x81, 0x02, mps);
                at = put_endpoint(buf, size, at, 0x01, 0x02, mps);
        }
        if (config_start + 9 <= size) {
                size_t total = at - config_start;
                buf[config_start + 2] = (uint8_t) total;
                buf[config_start + 3] = (uint8_t) (total >> 8);
                buf[config_start + 4] = two_interfaces(b) ? 2 : 1;
        }
        return at;
}

size_t emu_board_string_descriptor(const struct emu_board *b, uint8_t index, uint8_t *buf, size_t size) {
        const char *s;

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
                s = b->stage == EMU_STAGE_GADGET ? "Ethernet Gadget" : rom_product(b);
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
