/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "board.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BCM_VID 0x0a5cu
#define SECOND_STAGE_PID 0x2764u
#define CMD_GET_SIZE 0
#define CMD_READ 1
#define CMD_DONE 2
#define CMD_BOGUS 7
#define ESCAPE_NAME "../../etc/shadow"

const char *const emu_pi_zero_requests[] = {
        "autoboot.txt", "config.txt", "recovery.elf", "start.elf",   "fixup.dat",
        "config.txt",   "cmdline.txt", "kernel.img",  "bcm2708-rpi-zero-w.dtb", "overlays/dwc2.dtbo",
};
const size_t emu_pi_zero_n_requests = sizeof emu_pi_zero_requests / sizeof emu_pi_zero_requests[0];

uint64_t emu_fnv1a(uint64_t hash, const uint8_t *data, size_t len) {
        for (size_t i = 0; i < len; i++) {
                hash ^= data[i];
                hash *= 0x100000001b3ULL;
        }
        return hash;
}

int emu_hash_file(const char *path, uint64_t *ret_hash, uint64_t *ret_size) {
        uint8_t buf[65536];
        uint64_t h = EMU_FNV_INIT, size = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        while ((n = read(fd, buf, sizeof buf)) > 0) {
                h = emu_fnv1a(h, buf, (size_t) n);
                size += (uint64_t) n;
        }
        close(fd);
        if (n < 0)
                return -EIO;
        *ret_hash = h;
        *ret_size = size;
        return 0;
}

int emu_fault_natural_point(enum emu_fault_kind kind, enum emu_fault_point *ret) {
        switch (kind) {
        case EMU_FAULT_ROM_FAILURE:
                *ret = EMU_AT_ROM_STATUS;
                return 0;
        case EMU_FAULT_BOGUS_COMMAND:
        case EMU_FAULT_NAME_NO_NUL:
        case EMU_FAULT_ESCAPE_NAME:
                *ret = EMU_AT_REQUEST;
                return 0;
        case EMU_FAULT_NO_GADGET:
                *ret = EMU_AT_GADGET;
                return 0;
        default:
                return -EINVAL;
        }
}

const char *emu_stage_name(enum emu_stage stage) {
        static const char *const names[] = { "rom", "server", "gadget", "off" };
        return (unsigned) stage < 4 ? names[stage] : "?";
}

static void violation(struct emu_board *b, const char *what) {
        if (b->error[0] == '\0')
                snprintf(b->error, sizeof b->error, "%s (stage %s)", what, emu_stage_name(b->stage));
}

/* The planned fault for this point of this attempt, if any; fires once per attempt. */
static const struct emu_fault *fault_at(struct emu_board *b, enum emu_fault_point point, unsigned index,
                                        const char *name, size_t offset_end) {
        for (size_t i = 0; i < b->config.n_faults; i++) {
                const struct emu_fault *f = &b->config.faults[i];

                if (b->fault_fired[i] || f->point != point)
                        continue;
                if (f->attempt != 0 && f->attempt != b->attempt)
                        continue;
                if (point == EMU_AT_REQUEST && f->index != index)
                        continue;
                if (point == EMU_AT_FILE && (!name || strcmp(f->name, name) != 0 || offset_end <= f->offset))
                        continue;
                b->fault_fired[i] = !f->sticky;
                return f;
        }
        return NULL;
}

static void drop_off(struct emu_board *b, enum emu_stage next) {
        b->next_stage = next;
        b->stage = EMU_STAGE_OFF;
        b->write_pending = false;
        b->pending_bus_action = EMU_BUS_DISCONNECT;
}

/* Applies a fault whose kind concerns the bus; returns the verdict for the operation. */
static enum emu_verdict apply_fault(struct emu_board *b, const struct emu_fault *f) {
        switch (f->kind) {
        case EMU_FAULT_STALL:
                return EMU_STALL;
        case EMU_FAULT_NO_ANSWER:
                return EMU_NO_ANSWER;
        case EMU_FAULT_VANISH:
                drop_off(b, EMU_STAGE_ROM);
                return EMU_GONE;
        case EMU_FAULT_UNPLUG:
                drop_off(b, EMU_STAGE_OFF);
                b->pending_bus_action = EMU_BUS_DISCONNECT_FOREVER;
                return EMU_GONE;
        default:
                return EMU_ACK;
        }
}

static void enter_stage(struct emu_board *b, enum emu_stage stage) {
        b->stage = stage;
        b->generation++;
        b->write_pending = false;
        if (stage == EMU_STAGE_ROM) {
                b->attempt++;
                b->rom_step = 0;
                b->loader_len = 0;
                b->loader_received = 0;
                /* A fresh boot: faults planned for "every attempt" may fire again. */
                for (size_t i = 0; i < b->config.n_faults; i++)
                        if (b->config.faults[i].attempt == 0)
                                b->fault_fired[i] = false;
        } else if (stage == EMU_STAGE_SERVER) {
                b->request_index = 0;
                b->last_command = -1;
                b->extra_request = false;
                b->done = false;
        }
}

void emu_board_init(struct emu_board *b, const struct emu_board_config *config) {
        memset(b, 0, sizeof *b);
        b->config = *config;
        if (!b->config.rom_pid)
                b->config.rom_pid = 0x2763;
        if (!b->config.gadget_vid) {
                b->config.gadget_vid = 0x0525; /* the Linux Ethernet gadget's IDs */
                b->config.gadget_pid = 0xa4a2;
        }
        if (!b->config.requests) {
                b->config.requests = emu_pi_zero_requests;
                b->config.n_requests = emu_pi_zero_n_requests;
        }
        b->stage = EMU_STAGE_OFF;
        b->next_stage = EMU_STAGE_OFF;
        b->last_command = -1;
}

void emu_board_plug(struct emu_board *b) {
        enter_stage(b, EMU_STAGE_ROM);
}

void emu_board_unplug(struct emu_board *b) {
        b->stage = EMU_STAGE_OFF;
        b->next_stage = EMU_STAGE_OFF;
        b->write_pending = false;
}

void emu_board_reconnect(struct emu_board *b) {
        if (b->next_stage != EMU_STAGE_OFF)
                enter_stage(b, b->next_stage);
}

enum emu_bus_action emu_board_take_bus_action(struct emu_board *b) {
        enum emu_bus_action a = b->pending_bus_action;
        b->pending_bus_action = EMU_BUS_NONE;
        return a;
}

void emu_board_reset(struct emu_board *b) {
        if (b->stage == EMU_STAGE_OFF)
                return;
        b->resets++;
        if (b->config.on_reset == EMU_ON_RESET_RESTART) {
                drop_off(b, EMU_STAGE_ROM);
                return;
        }
        /* The SoC keeps running, but its USB stack starts over: a write in progress is forgotten
         * and the ROM waits for a boot message again. */
        b->write_pending = false;
        if (b->stage == EMU_STAGE_ROM)
                b->rom_step = 0;
}

static struct emu_received_file *record_file(struct emu_board *b, const char *name) {
        for (size_t i = 0; i < b->n_files; i++)
                if (strcmp(b->files[i].name, name) == 0)
                        return &b->files[i];
        if (b->n_files >= EMU_MAX_FILES)
                return &b->files[EMU_MAX_FILES - 1];
        struct emu_received_file *f = &b->files[b->n_files++];
        memset(f, 0, sizeof *f);
        snprintf(f->name, sizeof f->name, "%s", name);
        return f;
}

const struct emu_received_file *emu_board_file(const struct emu_board *b, const char *name) {
        for (size_t i = 0; i < b->n_files; i++)
                if (strcmp(b->files[i].name, name) == 0)
                        return &b->files[i];
        return NULL;
}

/* Called when a second-stage file's write completed or was answered "not found". */
static void file_answered(struct emu_board *b) {
        b->last_command = -1;
        b->request_index++;
}

enum emu_verdict emu_board_control_out(struct emu_board *b, uint16_t value, uint16_t index) {
        uint32_t len = (uint32_t) value | (uint32_t) index << 16;
        const struct emu_fault *f;

        switch (b->stage) {
        case EMU_STAGE_ROM:
                if (b->rom_step == 0 || b->rom_step == 1) {
                        if ((f = fault_at(b, EMU_AT_ROM_HEADER, 0, NULL, 0)))
                                return apply_fault(b, f);
                        if (len != 24) {
                                violation(b, "boot message write is not 24 bytes");
                                return EMU_STALL;
                        }
                        b->rom_step = 1;
                } else if (b->rom_step == 2 || b->rom_step == 3) {
                        if (len != b->loader_len) {
                                violation(b, "loader write length differs from the boot message");
                                return EMU_STALL;
                        }
                        b->rom_step = 3;
                        b->loader_received = 0;
                        b->loader_hash = EMU_FNV_INIT;
                } else {
                        violation(b, "unexpected write in ROM stage");
                        return EMU_STALL;
                }
                b->write_pending = true;
                b->write_len = len;
                b->write_got = 0;
                return EMU_ACK;

        case EMU_STAGE_SERVER:
                if (b->last_command == CMD_GET_SIZE) {
                        if (b->extra_request) {
                                b->escape_answer = len;
                                b->last_command = -1; /* not a list entry: do not advance */
                                b->extra_request = false;
                                return EMU_ACK;
                        }
                        struct emu_received_file *rf = record_file(b, b->last_name);
                        rf->size = len;
                        if (len == 0)
                                file_answered(b);
                        else
                                b->last_command = CMD_READ; /* the next request asks for the bytes */
                        return EMU_ACK;
                }
                if (b->last_command == CMD_READ + 100) {
                        /* ReadFile was sent: the host answers with a write of the file. */
                        if (len == 0) {
                                file_answered(b);
                                return EMU_ACK;
                        }
                        b->write_pending = true;
                        b->write_len = len;
                        b->write_got = 0;
                        b->write_hash = EMU_FNV_INIT;
                        return EMU_ACK;
                }
                if (len == 0 && b->last_command == -2)
                        return EMU_ACK; /* answer to an empty-name or bogus request */
                violation(b, "write with no request outstanding");
                return EMU_STALL;

        default:
                return EMU_GONE;
        }
}

enum emu_verdict emu_board_bulk_out(struct emu_board *b, const uint8_t *data, size_t len, size_t *ret_taken) {
        const struct emu_fault *f;
        size_t room;

        *ret_taken = 0;
        if (b->stage == EMU_STAGE_OFF || b->stage == EMU_STAGE_GADGET)
                return EMU_GONE;
        if (!b->write_pending) {
                violation(b, "bulk data with no write announced");
                return EMU_STALL;
        }
        room = b->write_len - b->write_got;
        if (len > room) {
                violation(b, "more bulk data than announced");
                len = room;
        }

        if (b->stage == EMU_STAGE_ROM) {
                if (b->rom_step == 1) {
                        /* the 24-byte boot message: the first 4 bytes are the loader's length */
                        for (size_t i = 0; i < len; i++) {
                                size_t pos = b->write_got + i;
                                if (pos < 4)
                                        b->loader_len |= (uint32_t) data[i] << (8 * pos);
                        }
                        b->write_got += (uint32_t) len;
                        *ret_taken = len;
                        if (b->write_got == b->write_len) {
                                b->write_pending = false;
                                b->rom_step = 2;
                        }
                        return EMU_ACK;
                }
                if ((f = fault_at(b, EMU_AT_ROM_LOADER, 0, NULL, 0))) {
                        b->write_pending = false;
                        b->rom_step = 0;
                        return apply_fault(b, f);
                }
                b->loader_hash = emu_fnv1a(b->loader_hash, data, len);
                b->write_got += (uint32_t) len;
                b->loader_received = b->write_got;
                *ret_taken = len;
                if (b->write_got == b->write_len) {
                        b->write_pending = false;
                        b->rom_step = 4;
                }
                return EMU_ACK;
        }

        /* second stage: file data */
        f = fault_at(b, EMU_AT_FILE, 0, b->last_name, b->write_got + len);
        if (f) {
                size_t upto = f->offset > b->write_got ? f->offset - b->write_got : 0;
                b->write_hash = emu_fnv1a(b->write_hash, data, upto);
                b->write_got += (uint32_t) upto;
                *ret_taken = upto;
                record_file(b, b->last_name)->received = b->write_got;
                if (f->kind == EMU_FAULT_VANISH || f->kind == EMU_FAULT_UNPLUG)
                        return apply_fault(b, f);
                /* The transfer failed under the board; what it does next is a setting. */
                b->write_pending = false;
                if (b->config.after_bulk_fault == EMU_AFTER_BULK_FAULT_RESTART)
                        drop_off(b, EMU_STAGE_ROM);
                return apply_fault(b, f);
        }
        b->write_hash = emu_fnv1a(b->write_hash, data, len);
        b->write_got += (uint32_t) len;
        *ret_taken = len;
        struct emu_received_file *rf = record_file(b, b->last_name);
        rf->received = b->write_got;
        if (b->write_got == b->write_len) {
                b->write_pending = false;
                rf->hash = b->write_hash;
                rf->complete = true;
                file_answered(b);
        }
        return EMU_ACK;
}

static void put_request(uint8_t *buf, size_t len, size_t *ret_actual, uint32_t command, const char *name) {
        uint8_t req[260] = { 0 };
        req[0] = (uint8_t) command;
        req[1] = (uint8_t) (command >> 8);
        req[2] = (uint8_t) (command >> 16);
        req[3] = (uint8_t) (command >> 24);
        if (name)
                strncpy((char *) req + 4, name, 255);
        *ret_actual = len < sizeof req ? len : sizeof req;
        memcpy(buf, req, *ret_actual);
}

enum emu_verdict emu_board_control_in(struct emu_board *b, uint16_t value, uint16_t index, uint8_t *buf, size_t len,
                                      size_t *ret_actual) {
        const struct emu_fault *f;

        *ret_actual = 0;
        if (b->write_pending) {
                violation(b, "read while a write was still being sent");
                return EMU_STALL;
        }

        switch (b->stage) {
        case EMU_STAGE_ROM: {
                uint32_t status = 0;

                if (b->rom_step != 4) {
                        violation(b, "status read before the loader was sent");
                        return EMU_STALL;
                }
                if ((f = fault_at(b, EMU_AT_ROM_STATUS, 0, NULL, 0))) {
                        if (f->kind == EMU_FAULT_ROM_FAILURE) {
                                status = 0x80;
                        } else {
                                b->rom_step = 4;
                                return apply_fault(b, f);
                        }
                }
                for (size_t i = 0; i < 4 && i < len; i++)
                        buf[i] = (uint8_t) (status >> (8 * i));
                *ret_actual = len < 4 ? len : 4;
                if (status == 0)
                        drop_off(b, EMU_STAGE_SERVER); /* the loader runs and re-enumerates */
                else
                        b->rom_step = 0;
                return EMU_ACK;
        }
        case EMU_STAGE_SERVER:
                break;
        default:
                return EMU_GONE;
        }

        if ((f = fault_at(b, EMU_AT_REQUEST, b->request_index, NULL, 0))) {
                switch (f->kind) {
                case EMU_FAULT_BOGUS_COMMAND:
                        b->last_command = -2;
                        put_request(buf, len, ret_actual, CMD_BOGUS, "config.txt");
                        return EMU_ACK;
                case EMU_FAULT_NAME_NO_NUL:
                        put_request(buf, len, ret_actual, CMD_GET_SIZE, NULL);
                        memset(buf + 4, 'A', *ret_actual > 4 ? *ret_actual - 4 : 0);
                        /* the host must answer "not found"; then the board goes on */
                        snprintf(b->last_name, sizeof b->last_name, "<no-nul>");
                        b->last_command = CMD_GET_SIZE;
                        b->extra_request = true;
                        return EMU_ACK;
                case EMU_FAULT_ESCAPE_NAME:
                        snprintf(b->last_name, sizeof b->last_name, ESCAPE_NAME);
                        b->escape_asked = true;
                        b->extra_request = true;
                        b->last_command = CMD_GET_SIZE;
                        put_request(buf, len, ret_actual, CMD_GET_SIZE, ESCAPE_NAME);
                        return EMU_ACK;
                default:
                        return apply_fault(b, f);
                }
        }

        if (b->last_command == CMD_READ) {
                /* GetFileSize said the file exists: ask for its bytes */
                b->last_command = CMD_READ + 100;
                put_request(buf, len, ret_actual, CMD_READ, b->last_name);
                return EMU_ACK;
        }
        if (b->last_command == CMD_READ + 100) {
                /* the host re-reads instead of answering: repeat the request */
                put_request(buf, len, ret_actual, CMD_READ, b->last_name);
                return EMU_ACK;
        }
        if (b->last_command == CMD_GET_SIZE) {
                put_request(buf, len, ret_actual, CMD_GET_SIZE, b->last_name);
                return EMU_ACK;
        }

        size_t entry = 0, answered = 0;
        /* request_index counts answered list entries */
        answered = b->request_index;
        entry = answered;
        if (entry < b->config.n_requests) {
                snprintf(b->last_name, sizeof b->last_name, "%s", b->config.requests[entry]);
                b->last_command = CMD_GET_SIZE;
                put_request(buf, len, ret_actual, CMD_GET_SIZE, b->last_name);
                return EMU_ACK;
        }

        put_request(buf, len, ret_actual, CMD_DONE, "");
        b->done = true;
        b->boots_completed++;
        if ((f = fault_at(b, EMU_AT_GADGET, 0, NULL, 0)) && f->kind == EMU_FAULT_NO_GADGET) {
                drop_off(b, EMU_STAGE_OFF);
                b->pending_bus_action = EMU_BUS_DISCONNECT_FOREVER;
        } else {
                drop_off(b, EMU_STAGE_GADGET);
        }
        return EMU_ACK;
}

/* ---- descriptors ---- */

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
                return SECOND_STAGE_PID;
        }
}

bool emu_board_high_speed(const struct emu_board *b) {
        /* the 2835 ROM runs at full speed; everything after it at high speed */
        return !(b->stage == EMU_STAGE_ROM && b->config.rom_pid == 0x2763);
}

size_t emu_board_descriptors(const struct emu_board *b, uint8_t *buf, size_t size) {
        uint16_t vid = emu_board_vid(b), pid = emu_board_pid(b);
        /* ROM: no serial string (index 0); second stage: index 1, the string "Broadcom" */
        uint8_t serial_index = b->stage == EMU_STAGE_SERVER ? 1 : 0;
        uint16_t mps = emu_board_high_speed(b) ? 512 : 64;
        size_t at, config_start;

        const uint8_t dev[18] = { 18, 1, 0x00, 0x02, 0, 0, 0, 64, (uint8_t) vid, (uint8_t) (vid >> 8),
                                  (uint8_t) pid, (uint8_t) (pid >> 8), 0x00, 0x01, 1, 2, serial_index, 1 };
        at = put(buf, size, 0, dev, sizeof dev);
        config_start = at;
        uint8_t cfg[9] = { 9, 2, 0, 0, 1, 1, 0, 0x80, 250 };
        at = put(buf, size, at, cfg, sizeof cfg);

        if (b->stage == EMU_STAGE_GADGET) {
                at = put_interface(buf, size, at, 0, 1, 0x02, 0x06, 0x00);
                at = put_endpoint(buf, size, at, 0x81, 0x03, 16);
        } else if (b->stage == EMU_STAGE_ROM && b->config.rom_pid == 0x2764) {
                /* the 2837 ROM also offers a mass-storage interface */
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
                buf[config_start + 4] = (b->stage == EMU_STAGE_ROM && b->config.rom_pid == 0x2764) ? 2 : 1;
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
                s = b->stage == EMU_STAGE_GADGET ? "Ethernet Gadget" : "BCM2708 Boot";
                break;
        default:
                return 0;
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
