/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The wire protocol's pure functions: classification, encoding, and parsing of hostile requests. */
#include <errno.h>
#include <string.h>

#include "bootproto.h"
#include "check.h"

static void test_classify(void) {
        enum cb_soc soc;

        CHECK(cb_proto_classify(0x0a5c, 0x2763, 0, &soc) == CB_STAGE_ROM && soc == CB_SOC_BCM2835);
        CHECK(cb_proto_classify(0x0a5c, 0x2764, 0, &soc) == CB_STAGE_ROM && soc == CB_SOC_BCM2837);
        CHECK(cb_proto_classify(0x0a5c, 0x2764, 1, &soc) == CB_STAGE_SERVER);
        CHECK(cb_proto_classify(0x0a5c, 0x2763, 1, NULL) == CB_STAGE_SERVER);
        CHECK(cb_proto_classify(0x0a5c, 0x2711, 3, &soc) == CB_STAGE_ROM && soc == CB_SOC_BCM2711);
        CHECK(cb_proto_classify(0x0a5c, 0x2711, 4, NULL) == CB_STAGE_SERVER);
        CHECK(cb_proto_classify(0x0a5c, 0x2711, 1, NULL) == CB_STAGE_SERVER);
        CHECK(cb_proto_classify(0x0a5c, 0x2712, 0, &soc) == CB_STAGE_ROM && soc == CB_SOC_BCM2712);
        CHECK(cb_proto_classify(0x0525, 0xa4a2, 0, NULL) == CB_STAGE_NOT_PI);
        CHECK(cb_proto_classify(0x0a5c, 0x1234, 0, NULL) == CB_STAGE_NOT_PI);
        CHECK(strcmp(cb_proto_second_stage_file(0x2763), "bootcode.bin") == 0);
        CHECK(strcmp(cb_proto_second_stage_file(0x2764), "bootcode.bin") == 0);
        CHECK(strcmp(cb_proto_second_stage_file(0x2711), "bootcode4.bin") == 0);
        CHECK(strcmp(cb_proto_second_stage_file(0x2712), "bootcode5.bin") == 0);
        CHECK(cb_proto_second_stage_file(0xa4a2) == NULL);
}

static void test_encoding(void) {
        uint8_t msg[CB_BOOT_MESSAGE_SIZE], sig[CB_BOOT_SIGNATURE_SIZE];
        uint8_t status[4] = { 0x80, 0, 0, 0 };
        uint32_t st;

        cb_proto_boot_message(53264, NULL, msg);
        CHECK(msg[0] == 0x10 && msg[1] == 0xd0 && msg[2] == 0 && msg[3] == 0);
        for (size_t i = 4; i < sizeof msg; i++)
                CHECK(msg[i] == 0);
        memset(sig, 0xab, sizeof sig);
        cb_proto_boot_message(0x01020304, sig, msg);
        CHECK(msg[0] == 4 && msg[3] == 1 && msg[4] == 0xab && msg[23] == 0xab);

        CHECK(cb_proto_length_value(0x00123456) == 0x3456 && cb_proto_length_index(0x00123456) == 0x12);
        CHECK(cb_proto_length_from_setup(0x3456, 0x12) == 0x123456);
        CHECK(cb_proto_length_from_setup(cb_proto_length_value(5000001), cb_proto_length_index(5000001)) == 5000001);

        CHECK(cb_proto_parse_rom_status(status, 4, &st) == 0 && st == 0x80);
        CHECK(cb_proto_parse_rom_status(status, 3, &st) == -EBADMSG);
}

static void put_cmd(uint8_t *buf, uint32_t cmd) {
        buf[0] = (uint8_t) cmd, buf[1] = (uint8_t) (cmd >> 8), buf[2] = (uint8_t) (cmd >> 16),
        buf[3] = (uint8_t) (cmd >> 24);
}

static void test_requests(void) {
        uint8_t buf[CB_FILE_REQUEST_SIZE];
        struct cb_file_request req;

        memset(buf, 0, sizeof buf);
        put_cmd(buf, 0);
        strcpy((char *) buf + 4, "config.txt");
        CHECK(cb_proto_parse_request(buf, sizeof buf, &req) == 0);
        CHECK(req.command == CB_FILE_GET_SIZE && req.name_ok && !req.name_empty && strcmp(req.name, "config.txt") == 0);

        put_cmd(buf, 1);
        CHECK(cb_proto_parse_request(buf, sizeof buf, &req) == 0 && req.command == CB_FILE_READ);
        put_cmd(buf, 2);
        CHECK(cb_proto_parse_request(buf, sizeof buf, &req) == 0 && req.command == CB_FILE_DONE);
        put_cmd(buf, 3);
        CHECK(cb_proto_parse_request(buf, sizeof buf, &req) == -EPROTO);
        put_cmd(buf, 0xffffffffu);
        CHECK(cb_proto_parse_request(buf, sizeof buf, &req) == -EPROTO);
        CHECK(cb_proto_parse_request(buf, 3, &req) == -EBADMSG);
        CHECK(cb_proto_parse_request(buf, 0, &req) == -EBADMSG);

        /* a name filling all 256 bytes without NUL: refused, never read past the buffer */
        put_cmd(buf, 0);
        memset(buf + 4, 'A', 256);
        CHECK(cb_proto_parse_request(buf, sizeof buf, &req) == 0 && !req.name_ok);
        /* a short read: the name ends where the board's bytes end, so no NUL in them is no name */
        memset(buf + 4, 'B', 10);
        CHECK(cb_proto_parse_request(buf, 14, &req) == 0 && !req.name_ok);
        /* bare command: empty name */
        CHECK(cb_proto_parse_request(buf, 4, &req) == 0 && req.name_ok && req.name_empty);
        /* empty name */
        buf[4] = 0;
        CHECK(cb_proto_parse_request(buf, sizeof buf, &req) == 0 && req.name_empty);
        /* metadata */
        strcpy((char *) buf + 4, "*SERIAL*1234abcd");
        CHECK(cb_proto_parse_request(buf, sizeof buf, &req) == 0 && req.name_metadata);
        /* a 255-character name with its NUL at the last byte */
        memset(buf + 4, 'c', 255);
        buf[4 + 255] = 0;
        CHECK(cb_proto_parse_request(buf, sizeof buf, &req) == 0 && req.name_ok && strlen(req.name) == 255);
}

static void test_pick_interface(void) {
        uint8_t intf = 0xee, ep = 0xee;
        const struct cb_proto_interface one[] = { { 0, 0xff, 0x01 } };
        const struct cb_proto_interface zero2[] = { { 0, 0x08, 0x02 }, { 1, 0xff, 0x03 } };
        const struct cb_proto_interface odd_ep[] = { { 0, 0xff, 0x02 } };
        const struct cb_proto_interface no_out[] = { { 0, 0xff, 0 } };
        const struct cb_proto_interface storage_only[] = { { 0, 0x08, 0x02 }, { 1, 0x08, 0x04 } };

        CHECK(cb_proto_pick_interface(one, 1, &intf, &ep) == 0 && intf == 0 && ep == 0x01);
        CHECK(cb_proto_pick_interface(zero2, 2, &intf, &ep) == 0 && intf == 1 && ep == 0x03);
        CHECK(cb_proto_pick_interface(odd_ep, 1, &intf, &ep) == 0 && ep == 0x02);
        CHECK(cb_proto_pick_interface(no_out, 1, &intf, &ep) == -ENXIO);
        CHECK(cb_proto_pick_interface(storage_only, 2, &intf, &ep) == -ENXIO);
        CHECK(cb_proto_pick_interface(NULL, 0, &intf, &ep) == -ENXIO);
}

int main(void) {
        test_classify();
        test_encoding();
        test_requests();
        test_pick_interface();
        return check_exit("test-bootproto");
}
