/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What an emulated USB device (board or hub) says, whatever the transport:
 * its descriptors and strings, and its answers to control requests (the
 * standard ones here; hub class requests in tb-hub.c, the boot protocol's
 * vendor requests in the board model).
 */
#include "tb-internal.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* descriptors */

void desc_parse(const uint8_t *desc, size_t len, struct desc_walk *w) {
        memset(w, 0, sizeof *w);
        size_t at = 18;
        int cur_if = -1;
        while (at + 2 <= len && desc[at] >= 2 && at + desc[at] <= len) {
                const uint8_t *d = desc + at;
                if (d[1] == 4 && d[0] >= 9) {
                        cur_if = -1;
                        if (d[3] == 0 && w->n_if < TB_MAX_IF) {
                                cur_if = (int) w->n_if++;
                                w->if_number[cur_if] = d[2];
                                w->if_n_ep[cur_if] = d[4];
                                w->if_class[cur_if][0] = d[5];
                                w->if_class[cur_if][1] = d[6];
                                w->if_class[cur_if][2] = d[7];
                        }
                } else if (d[1] == 5 && d[0] >= 7 && cur_if >= 0 && w->n_ep < TB_MAX_EP) {
                        w->ep_addr[w->n_ep] = d[2];
                        w->ep_if[w->n_ep] = w->if_number[cur_if];
                        w->n_ep++;
                }
                at += d[0];
        }
}

bool dev_has_endpoint(struct tb_usbdev *d, uint8_t ep) {
        struct desc_walk w;
        if ((ep & 0x0f) == 0)
                return true;
        desc_parse(d->desc, d->desc_len, &w);
        for (unsigned i = 0; i < w.n_ep; i++)
                if (w.ep_addr[i] == ep)
                        return true;
        return false;
}

bool dev_has_interface(struct tb_usbdev *d, unsigned ifno) {
        struct desc_walk w;
        desc_parse(d->desc, d->desc_len, &w);
        for (unsigned i = 0; i < w.n_if; i++)
                if (w.if_number[i] == ifno)
                        return true;
        return false;
}

static size_t dev_string_descriptor(struct tb_usbdev *d, uint8_t index, uint8_t *buf, size_t size) {
        if (d->board)
                return emu_board_string_descriptor(&d->board->emu, index, buf, size);
        if (index == 0) {
                if (size < 4)
                        return 0;
                buf[0] = 4, buf[1] = 3, buf[2] = 0x09, buf[3] = 0x04;
                return 4;
        }
        if (index == 1)
                return emu_string_descriptor(d->hub->root ? "Linux 6.1.0 dummy_hcd" : "VIA Labs, Inc.", buf, size);
        if (index == 2)
                return emu_string_descriptor(d->hub->root ? "Dummy host controller" : "USB2.0 Hub", buf, size);
        return 0;
}

/* The string as a C string (for sysfs attributes), "" if none. */
void dev_string(struct tb_usbdev *d, uint8_t index, char *out, size_t size) {
        uint8_t buf[256];
        size_t n = index ? dev_string_descriptor(d, index, buf, sizeof buf) : 0;
        size_t j = 0;
        for (size_t i = 2; i + 1 < n && j + 1 < size; i += 2)
                out[j++] = (char) buf[i];
        out[j] = '\0';
}

/* ---- control requests ---- */

static enum emu_verdict standard_request(struct tb_usbdev *d, uint8_t rt, uint8_t req, uint16_t value,
                                         uint16_t index, uint8_t *data, size_t len, size_t *actual) {
        *actual = 0;
        if (rt == 0x80 && req == 6) { /* GET_DESCRIPTOR */
                uint8_t type = (uint8_t) (value >> 8), idx = (uint8_t) value;
                if (type == 1) {
                        *actual = MIN(len, (size_t) 18);
                        memcpy(data, d->desc, *actual);
                        return EMU_ACK;
                }
                if (type == 2 && idx == 0 && d->desc_len > 18) {
                        *actual = MIN(len, d->desc_len - 18);
                        memcpy(data, d->desc + 18, *actual);
                        return EMU_ACK;
                }
                if (type == 3) {
                        uint8_t s[256];
                        size_t n = dev_string_descriptor(d, idx, s, sizeof s);
                        if (n == 0)
                                return EMU_STALL;
                        *actual = MIN(len, n);
                        memcpy(data, s, *actual);
                        return EMU_ACK;
                }
                return EMU_STALL; /* qualifier, BOS, other speed: a USB 2.0 device without them */
        }
        if (rt == 0x80 && req == 8) { /* GET_CONFIGURATION */
                if (len >= 1)
                        data[0] = 1, *actual = 1;
                return EMU_ACK;
        }
        if ((rt & 0x80) && req == 0) { /* GET_STATUS */
                *actual = MIN(len, (size_t) 2);
                memset(data, 0, *actual);
                return EMU_ACK;
        }
        if (rt == 0x00 && req == 9) { /* SET_CONFIGURATION */
                if (value > 1)
                        return EMU_STALL;
                dev_set_configuration(d);
                return EMU_ACK;
        }
        if (rt == 0x01 && req == 11) /* SET_INTERFACE */
                return value == 0 ? EMU_ACK : EMU_STALL;
        if (rt == 0x02 && req == 1 && value == 0) { /* CLEAR_FEATURE(ENDPOINT_HALT) */
                dev_clear_halt(d, (uint8_t) index);
                return EMU_ACK;
        }
        if (rt == 0x00 && (req == 1 || req == 3)) /* device SET/CLEAR_FEATURE */
                return EMU_ACK;
        return EMU_STALL;
}

enum emu_verdict control_request(struct tb_usbdev *d, const uint8_t setup[8], uint8_t *data, size_t len,
                                        size_t *actual) {
        uint8_t rt = setup[0], req = setup[1];
        uint16_t value = le16(setup + 2), index = le16(setup + 4), wlength = le16(setup + 6);
        size_t n = MIN(len, (size_t) wlength);

        *actual = 0;
        if ((rt & 0x60) == 0x20) { /* class */
                if (d->hub)
                        return hub_class_request(d, rt, req, value, index, data, n, actual);
                return EMU_STALL;
        }
        if ((rt & 0x60) == 0x40 && d->board) { /* vendor: the boot protocol */
                if (rt == 0x40)
                        return emu_board_control_out(&d->board->emu, value, index);
                if (rt == 0xc0)
                        return emu_board_control_in(&d->board->emu, value, index, data, n, actual);
                return EMU_STALL;
        }
        if ((rt & 0x60) == 0x00)
                return standard_request(d, rt, req, value, index, data, n, actual);
        return EMU_STALL;
}
