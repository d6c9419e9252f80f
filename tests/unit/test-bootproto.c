/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The wire protocol's pure functions: classification, encoding, and parsing of hostile requests. */
#include <errno.h>
#include <string.h>

#include "bootproto.h"
#include "check.h"
#include "util.h"

/*
 * Every device a board shows on the bus, as README's "Every SoC" lists them,
 * and a few that are not a board in boot mode: what the one classification
 * (cb_proto_classify) and the helpers keyed by product ID make of each, and
 * which interface and endpoint its data goes to.
 */
struct device_row {
        const char *what;
        uint16_t vid, pid;
        uint8_t serial_index;
        struct cb_proto_interface interfaces[2];
        size_t n_interfaces;
        enum cb_stage stage;
        enum cb_soc soc;
        const char *loader;   /* cb_proto_second_stage_file() */
        const char *chip;     /* cb_proto_chip_folder() */
        bool soc_serial;      /* cb_proto_rom_shows_soc_serial() */
        bool signature;       /* cb_proto_uses_boot_signature() */
        int pick;             /* cb_proto_pick_interface() */
        uint8_t interface, endpoint;
};

#define VENDOR_EP(n, ep) { (n), 0xff, (ep) }
#define STORAGE_EP(n, ep) { (n), 0x08, (ep) }

static const struct device_row device_rows[] = {
        { "Zero (2835) ROM", 0x0a5c, 0x2763, 0, { VENDOR_EP(0, 0x01) }, 1,
          CB_STAGE_ROM, CB_SOC_BCM2835, "bootcode.bin", "2710", false, true, 0, 0, 0x01 },
        { "2835 second stage (says 2764)", 0x0a5c, 0x2764, 1, { VENDOR_EP(0, 0x01) }, 1,
          CB_STAGE_SERVER, CB_SOC_UNKNOWN, "bootcode.bin", "2710", false, true, 0, 0, 0x01 },
        { "2763 with a string index", 0x0a5c, 0x2763, 1, { VENDOR_EP(0, 0x01) }, 1,
          CB_STAGE_SERVER, CB_SOC_BCM2835, "bootcode.bin", "2710", false, true, 0, 0, 0x01 },
        { "Zero 2 W (2837) ROM: mass storage first, data on 1", 0x0a5c, 0x2764, 0,
          { STORAGE_EP(0, 0x02), VENDOR_EP(1, 0x03) }, 2,
          CB_STAGE_ROM, CB_SOC_BCM2837, "bootcode.bin", "2710", false, true, 0, 1, 0x03 },
        { "2837 second stage", 0x0a5c, 0x2764, 1, { VENDOR_EP(0, 0x01) }, 1,
          CB_STAGE_SERVER, CB_SOC_UNKNOWN, "bootcode.bin", "2710", false, true, 0, 0, 0x01 },
        { "CM4 (2711) ROM", 0x0a5c, 0x2711, 3, { VENDOR_EP(0, 0x01) }, 1,
          CB_STAGE_ROM, CB_SOC_BCM2711, "bootcode4.bin", "2711", true, false, 0, 0, 0x01 },
        { "CM4 second stage", 0x0a5c, 0x2711, 4, { VENDOR_EP(0, 0x01) }, 1,
          CB_STAGE_SERVER, CB_SOC_BCM2711, "bootcode4.bin", "2711", true, false, 0, 0, 0x01 },
        { "CM4 second stage, older firmware", 0x0a5c, 0x2711, 1, { VENDOR_EP(0, 0x01) }, 1,
          CB_STAGE_SERVER, CB_SOC_BCM2711, "bootcode4.bin", "2711", true, false, 0, 0, 0x01 },
        { "CM5 (2712) ROM", 0x0a5c, 0x2712, 3, { VENDOR_EP(0, 0x01) }, 1,
          CB_STAGE_ROM, CB_SOC_BCM2712, "bootcode5.bin", "2712", true, false, 0, 0, 0x01 },
        { "CM5 ROM without a serial index", 0x0a5c, 0x2712, 0, { VENDOR_EP(0, 0x01) }, 1,
          CB_STAGE_ROM, CB_SOC_BCM2712, "bootcode5.bin", "2712", true, false, 0, 0, 0x01 },
        { "CM5 second stage", 0x0a5c, 0x2712, 4, { VENDOR_EP(0, 0x01) }, 1,
          CB_STAGE_SERVER, CB_SOC_BCM2712, "bootcode5.bin", "2712", true, false, 0, 0, 0x01 },
        { "booted board's gadget (g_ether)", 0x0525, 0xa4a2, 0, { { 0, 0x02, 0 } }, 1,
          CB_STAGE_NOT_PI, CB_SOC_UNKNOWN, NULL, NULL, false, false, -ENXIO, 0, 0 },
        { "booted board's gadget (CDC ECM)", 0x0525, 0xa4a1, 0, { { 0, 0x02, 0 }, { 1, 0x0a, 0x02 } }, 2,
          CB_STAGE_NOT_PI, CB_SOC_UNKNOWN, NULL, NULL, false, false, -ENXIO, 0, 0 },
        { "booted board's gadget (ECM + ACM)", 0x1d6b, 0x0104, 3, { { 0, 0x02, 0 } }, 1,
          CB_STAGE_NOT_PI, CB_SOC_UNKNOWN, NULL, NULL, false, false, -ENXIO, 0, 0 },
        { "another Broadcom product", 0x0a5c, 0x1234, 0, { VENDOR_EP(0, 0x01) }, 1,
          CB_STAGE_NOT_PI, CB_SOC_UNKNOWN, NULL, NULL, false, false, 0, 0, 0x01 },
        { "a Pi product ID from another vendor", 0x1234, 0x2763, 0, { VENDOR_EP(0, 0x01) }, 1,
          CB_STAGE_NOT_PI, CB_SOC_UNKNOWN, "bootcode.bin", "2710", false, true, 0, 0, 0x01 },
};

static void test_classify(void) {
        for (size_t i = 0; i < ELEMENTSOF(device_rows); i++) {
                const struct device_row *d = &device_rows[i];
                enum cb_soc soc = (enum cb_soc) -1;
                enum cb_stage stage = cb_proto_classify(d->vid, d->pid, d->serial_index, &soc);
                const char *loader = cb_proto_second_stage_file(d->pid), *chip = cb_proto_chip_folder(d->pid);
                uint8_t intf = 0xee, ep = 0xee;
                int r = cb_proto_pick_interface(d->interfaces, d->n_interfaces, &intf, &ep);

                CHECK_MSG(stage == d->stage, "%s: stage %s, expected %s", d->what, cb_proto_stage_name(stage),
                          cb_proto_stage_name(d->stage));
                CHECK_MSG(soc == d->soc, "%s: SoC %d, expected %d", d->what, (int) soc, (int) d->soc);
                CHECK(cb_proto_classify(d->vid, d->pid, d->serial_index, NULL) == stage);
                CHECK_MSG(streq_ptr(loader, d->loader), "%s: loader %s", d->what, loader ? loader : "(none)");
                CHECK_MSG(streq_ptr(chip, d->chip), "%s: chip folder %s", d->what, chip ? chip : "(none)");
                CHECK_MSG(cb_proto_rom_shows_soc_serial(d->pid) == d->soc_serial, "%s: SoC serial", d->what);
                CHECK_MSG(cb_proto_uses_boot_signature(d->pid) == d->signature, "%s: signature", d->what);
                CHECK_MSG(r == d->pick, "%s: interface pick %d, expected %d", d->what, r, d->pick);
                if (r == 0 && d->pick == 0)
                        CHECK_MSG(intf == d->interface && ep == d->endpoint, "%s: interface %u endpoint 0x%02x",
                                  d->what, intf, ep);
        }
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
