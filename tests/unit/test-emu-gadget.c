/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The emulated board's booted gadget (tests/emu/board-desc.c): the plain one
 * every tier had keeps its bytes, and the CDC ones (gadget=ecm, ecm-acm) are
 * descriptor sets a real kernel takes from a high-speed device: the chain of
 * lengths ends at wTotalLength, every interface and alternate setting has
 * the endpoints it announces, bulk packets are 512 bytes, interrupt
 * endpoints poll at a valid interval, the union descriptors name a control
 * and a data interface, and the iMACAddress string is 12 hex digits.
 */
#include <errno.h>
#include <string.h>

#include "board-spec.h"
#include "board.h"
#include "check.h"

static void gadget_board(struct emu_board *b, enum emu_gadget gadget) {
        struct emu_board_config c = { .gadget = gadget };

        emu_board_init(b, &c);
        b->stage = EMU_STAGE_GADGET; /* as after Done: only its descriptors are looked at */
}

/* What the gadget stage offered before the setting existed: every other test relies on it. */
static void test_plain_unchanged(void) {
        static const uint8_t want[] = {
                18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x25, 0x05, 0xa2, 0xa4, 0x00, 0x01, 1, 2, 0, 1, /* device */
                9, 2, 25, 0, 1, 1, 0, 0x80, 250,                                                /* configuration */
                9, 4, 0, 0, 1, 0x02, 0x06, 0x00, 0,                                             /* interface */
                7, 5, 0x81, 0x03, 16, 0, 0,                                                     /* endpoint */
        };
        struct emu_board b;
        uint8_t buf[512];
        char mac[13];

        gadget_board(&b, EMU_GADGET_PLAIN);
        size_t n = emu_board_descriptors(&b, buf, sizeof buf);
        CHECK_MSG(n == sizeof want && memcmp(buf, want, n) == 0, "the plain gadget's %zu bytes changed", n);
        CHECK(emu_board_string_descriptor(&b, 4, buf, sizeof buf) == 0);
        emu_board_mac_string(&b, mac);
        CHECK(mac[0] == '\0');
}

struct walk {
        unsigned interfaces;       /* distinct interface numbers (bit set) */
        unsigned n_iads;
        uint8_t mac_index;
        bool union_seen, ether_seen;
        uint8_t union_control, union_data;
        uint8_t class_of[8];       /* bInterfaceClass of each interface's setting 0 */
};

/* Walks a configuration, checking what a kernel's parser and a high-speed host require. */
static void walk_config(const char *name, const uint8_t *cfg, size_t n, struct walk *w) {
        unsigned endpoints_left = 0, ep_addresses = 0;

        memset(w, 0, sizeof *w);
        CHECK_MSG(n >= 9 && cfg[1] == 2, "%s: no configuration descriptor", name);
        CHECK_MSG((size_t) (cfg[2] | cfg[3] << 8) == n, "%s: wTotalLength %u, descriptors %zu", name,
                  cfg[2] | cfg[3] << 8, n);
        for (size_t at = 9; at < n;) {
                const uint8_t *d = cfg + at;
                CHECK_MSG(d[0] >= 2 && at + d[0] <= n, "%s: descriptor at %zu of length %u overruns", name, at, d[0]);
                if (d[0] < 2 || at + d[0] > n)
                        return;
                switch (d[1]) {
                case 0x0b: /* interface association */
                        CHECK_MSG(d[0] == 8 && endpoints_left == 0, "%s: IAD at %zu", name, at);
                        w->n_iads++;
                        break;
                case 4:
                        CHECK_MSG(d[0] == 9 && endpoints_left == 0, "%s: interface at %zu (%u endpoints missing)", name,
                                  at, endpoints_left);
                        CHECK_MSG(d[2] < 8, "%s: interface %u", name, d[2]);
                        w->interfaces |= 1u << (d[2] & 7);
                        if (d[3] == 0)
                                w->class_of[d[2] & 7] = d[5];
                        endpoints_left = d[4];
                        break;
                case 0x24: /* class-specific interface descriptors */
                        if (d[2] == 0x06) {
                                CHECK_MSG(d[0] == 5, "%s: union of length %u", name, d[0]);
                                if (!w->union_seen) {
                                        w->union_control = d[3];
                                        w->union_data = d[4];
                                }
                                w->union_seen = true;
                        } else if (d[2] == 0x0f) {
                                CHECK_MSG(d[0] == 13, "%s: Ethernet descriptor of length %u", name, d[0]);
                                w->ether_seen = true;
                                w->mac_index = d[3];
                        }
                        break;
                case 5: {
                        uint16_t mps = (uint16_t) (d[4] | d[5] << 8);
                        unsigned type = d[3] & 3;
                        CHECK_MSG(d[0] == 7 && endpoints_left > 0, "%s: endpoint 0x%02x not announced", name, d[2]);
                        if (endpoints_left)
                                endpoints_left--;
                        CHECK_MSG(!(ep_addresses & (1u << ((d[2] & 0x0f) | (d[2] >> 7 << 4)))),
                                  "%s: endpoint 0x%02x twice in the configuration", name, d[2]);
                        ep_addresses |= 1u << ((d[2] & 0x0f) | (d[2] >> 7 << 4));
                        if (type == 2)
                                CHECK_MSG(mps == 512, "%s: bulk endpoint 0x%02x of %u bytes", name, d[2], mps);
                        if (type == 3)
                                CHECK_MSG(mps >= 8 && mps <= 1024 && d[6] >= 1 && d[6] <= 16,
                                          "%s: interrupt endpoint 0x%02x: %u bytes, bInterval %u", name, d[2], mps,
                                          d[6]);
                        break;
                }
                default:
                        CHECK_MSG(false, "%s: descriptor type 0x%02x at %zu", name, d[1], at);
                        break;
                }
                at += d[0];
        }
        CHECK_MSG(endpoints_left == 0, "%s: %u endpoints missing at the end", name, endpoints_left);
        CHECK_MSG((unsigned) __builtin_popcount(w->interfaces) == cfg[4], "%s: bNumInterfaces %u, interfaces 0x%x", name,
                  cfg[4], w->interfaces);
}

static void test_cdc(const char *name, enum emu_gadget gadget, uint16_t vid, uint16_t pid, unsigned n_interfaces,
                     unsigned n_iads) {
        struct emu_board b;
        struct walk w;
        uint8_t buf[512], str[64];
        char mac[13], got[13];

        gadget_board(&b, gadget);
        size_t n = emu_board_descriptors(&b, buf, sizeof buf);
        REQUIRE(n > 18 && n <= sizeof buf);
        CHECK_MSG(emu_board_vid(&b) == vid && emu_board_pid(&b) == pid, "%s: %04x:%04x", name, emu_board_vid(&b),
                  emu_board_pid(&b));
        CHECK(emu_board_high_speed(&b));
        CHECK(buf[0] == 18 && buf[1] == 1 && buf[7] == 64);
        if (n_iads)
                CHECK_MSG(buf[4] == 0xef && buf[5] == 2 && buf[6] == 1, "%s: a composite without the IAD class", name);
        else
                CHECK_MSG(buf[4] == 2, "%s: device class %u", name, buf[4]);
        walk_config(name, buf + 18, n - 18, &w);
        CHECK_MSG(buf[18 + 4] == n_interfaces, "%s: %u interfaces", name, buf[18 + 4]);
        CHECK_MSG(w.n_iads == n_iads, "%s: %u IADs", name, w.n_iads);
        CHECK_MSG(w.union_seen && w.ether_seen, "%s: no union or no Ethernet descriptor", name);
        CHECK_MSG(w.class_of[w.union_control & 7] == 0x02 && w.class_of[w.union_data & 7] == 0x0a,
                  "%s: the union's control %u / data %u", name, w.union_control, w.union_data);
        CHECK(emu_board_bulk_endpoint(&b) == 0x01);

        emu_board_mac_string(&b, mac);
        CHECK_MSG(strcmp(mac, "0200CB000001") == 0, "%s: MAC %s", name, mac);
        size_t len = emu_board_string_descriptor(&b, w.mac_index, str, sizeof str);
        CHECK_MSG(len == 2 + 2 * 12 && str[1] == 3, "%s: iMACAddress string of %zu bytes", name, len);
        for (size_t i = 0; i < 12 && len == 26; i++)
                got[i] = (char) str[2 + 2 * i];
        got[12] = '\0';
        CHECK_MSG(len == 26 && strcmp(got, mac) == 0, "%s: the string says %s", name, got);

        /* the MAC is the board's: a configured one is offered as it is */
        struct emu_board_config c = { .gadget = gadget, .mac = { 0x02, 0x00, 0xcb, 0x00, 0x00, 0x1e } };
        emu_board_init(&b, &c);
        emu_board_mac_string(&b, mac);
        CHECK_MSG(strcmp(mac, "0200CB00001E") == 0, "%s: configured MAC %s", name, mac);
        /* not before the board runs its gadget */
        CHECK(emu_board_string_descriptor(&b, w.mac_index, str, sizeof str) == 0);
}

static void test_setting(void) {
        struct emu_board_config c = { 0 };

        CHECK(emu_board_setting_parse("gadget", "ecm", &c) == 0 && c.gadget == EMU_GADGET_ECM);
        CHECK(emu_board_setting_parse("gadget", "ecm-acm", &c) == 0 && c.gadget == EMU_GADGET_ECM_ACM);
        CHECK(emu_board_setting_parse("gadget", "plain", &c) == 0 && c.gadget == EMU_GADGET_PLAIN);
        CHECK(emu_board_setting_parse("gadget", "rndis", &c) == -EINVAL && c.gadget == EMU_GADGET_PLAIN);
        CHECK(emu_board_setting_parse("gadget", "", &c) == -EINVAL);
}

int main(void) {
        test_plain_unchanged();
        test_cdc("ecm", EMU_GADGET_ECM, 0x0525, 0xa4a1, 2, 0);
        test_cdc("ecm-acm", EMU_GADGET_ECM_ACM, 0x1d6b, 0x0104, 4, 2);
        test_setting();
        return check_exit("emu-gadget");
}
