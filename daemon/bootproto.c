/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "bootproto.h"

#include <errno.h>
#include <string.h>

enum cb_stage cb_proto_classify(uint16_t vid, uint16_t pid, uint8_t serial_index, enum cb_soc *ret_soc) {
        enum cb_soc soc = CB_SOC_UNKNOWN;
        enum cb_stage stage = CB_STAGE_NOT_PI;

        if (vid == CB_USB_VID_BROADCOM) {
                bool rom = serial_index == 0 || serial_index == 3;

                switch (pid) {
                case CB_USB_PID_BCM2835_ROM:
                        soc = CB_SOC_BCM2835;
                        stage = rom ? CB_STAGE_ROM : CB_STAGE_SERVER;
                        break;
                case CB_USB_PID_BCM2837:
                        /* The second stage of a 2835 also says 2764; only the ROM tells the SoC apart. */
                        soc = rom ? CB_SOC_BCM2837 : CB_SOC_UNKNOWN;
                        stage = rom ? CB_STAGE_ROM : CB_STAGE_SERVER;
                        break;
                case CB_USB_PID_BCM2711:
                        soc = CB_SOC_BCM2711;
                        stage = rom ? CB_STAGE_ROM : CB_STAGE_SERVER;
                        break;
                case CB_USB_PID_BCM2712:
                        soc = CB_SOC_BCM2712;
                        stage = rom ? CB_STAGE_ROM : CB_STAGE_SERVER;
                        break;
                default:
                        break;
                }
        }
        if (ret_soc)
                *ret_soc = soc;
        return stage;
}

const char *cb_proto_second_stage_file(uint16_t pid) {
        switch (pid) {
        case CB_USB_PID_BCM2835_ROM:
        case CB_USB_PID_BCM2837:
                return "bootcode.bin";
        case CB_USB_PID_BCM2711:
                return "bootcode4.bin";
        case CB_USB_PID_BCM2712:
                return "bootcode5.bin";
        default:
                return NULL;
        }
}

const char *cb_proto_chip_folder(uint16_t pid) {
        switch (pid) {
        case CB_USB_PID_BCM2835_ROM:
        case CB_USB_PID_BCM2837:
                /* the reference host's folder for every board that is neither 2711 nor 2712 */
                return "2710";
        case CB_USB_PID_BCM2711:
                return "2711";
        case CB_USB_PID_BCM2712:
                return "2712";
        default:
                return NULL;
        }
}

bool cb_proto_rom_shows_soc_serial(uint16_t pid) {
        return pid == CB_USB_PID_BCM2711 || pid == CB_USB_PID_BCM2712;
}

bool cb_proto_uses_boot_signature(uint16_t pid) {
        return pid == CB_USB_PID_BCM2835_ROM || pid == CB_USB_PID_BCM2837;
}

const char *cb_proto_stage_name(enum cb_stage stage) {
        switch (stage) {
        case CB_STAGE_ROM:
                return "rom";
        case CB_STAGE_SERVER:
                return "second-stage";
        default:
                return "not-a-boot-device";
        }
}

static void put_le32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
        p[2] = (uint8_t) (v >> 16);
        p[3] = (uint8_t) (v >> 24);
}

static uint32_t get_le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

void cb_proto_boot_message(uint32_t file_length, const uint8_t *signature, uint8_t out[CB_BOOT_MESSAGE_SIZE]) {
        put_le32(out, file_length);
        if (signature)
                memcpy(out + 4, signature, CB_BOOT_SIGNATURE_SIZE);
        else
                memset(out + 4, 0, CB_BOOT_SIGNATURE_SIZE);
}

int cb_proto_parse_rom_status(const uint8_t *buf, size_t len, uint32_t *ret_status) {
        if (len < CB_ROM_STATUS_SIZE)
                return -EBADMSG;
        *ret_status = get_le32(buf);
        return 0;
}

int cb_proto_parse_request(const uint8_t *buf, size_t len, struct cb_file_request *ret) {
        uint32_t command;
        size_t name_room;
        const uint8_t *nul;

        if (len < 4)
                return -EBADMSG;
        command = get_le32(buf);
        if (command > CB_FILE_DONE)
                return -EPROTO;

        memset(ret, 0, sizeof *ret);
        ret->command = (enum cb_file_command) command;

        /* Only bytes the board really sent count: a short read has no name beyond them. */
        name_room = len - 4 < CB_FILE_NAME_FIELD ? len - 4 : CB_FILE_NAME_FIELD;
        nul = memchr(buf + 4, 0, name_room);
        if (!nul) {
                ret->name_ok = name_room == 0; /* a bare command carries an empty name */
                ret->name_empty = name_room == 0;
                return 0;
        }
        memcpy(ret->name, buf + 4, (size_t) (nul - (buf + 4)));
        ret->name[nul - (buf + 4)] = '\0';
        ret->name_ok = true;
        ret->name_empty = ret->name[0] == '\0';
        ret->name_metadata = ret->name[0] == '*';
        return 0;
}

const char *cb_proto_command_name(enum cb_file_command command) {
        switch (command) {
        case CB_FILE_GET_SIZE:
                return "GetFileSize";
        case CB_FILE_READ:
                return "ReadFile";
        case CB_FILE_DONE:
                return "Done";
        default:
                return "unknown";
        }
}

int cb_proto_pick_interface(const struct cb_proto_interface *interfaces, size_t n_interfaces, uint8_t *ret_interface,
                            uint8_t *ret_endpoint) {
        const struct cb_proto_interface *pick = NULL;

        for (size_t i = 0; i < n_interfaces; i++)
                if (interfaces[i].class_code == 0xff && interfaces[i].bulk_out_endpoint) {
                        pick = &interfaces[i];
                        break;
                }
        if (!pick && n_interfaces == 1 && interfaces[0].bulk_out_endpoint)
                pick = &interfaces[0];
        if (!pick)
                return -ENXIO;
        *ret_interface = pick->number;
        *ret_endpoint = pick->bulk_out_endpoint;
        return 0;
}
