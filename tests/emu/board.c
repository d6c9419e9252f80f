/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The emulated board's boot protocol: what it does with each host
 * operation, in each stage, with the planned faults. See board.h for the
 * behaviours it models and their variants.
 */
#include "board.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CMD_GET_SIZE 0
#define CMD_READ 1
#define CMD_DONE 2
#define CMD_BOGUS 7
#define ESCAPE_NAME "../../etc/shadow"
#define ROM_STATUS_FAILED 0x80u

/* last_command: what the board expects the host to do next in the second stage */
enum {
        EXPECT_REQUEST_READ = -1, /* nothing outstanding: the host reads the next request */
        EXPECT_ZERO_ANSWER = -2,  /* a request only a zero-length write answers (bogus command) */
        EXPECT_FINAL_ANSWER = -3, /* the empty-name Done: a zero-length write, then the kernel starts */
        EXPECT_FILE_WRITE = CMD_READ + 100, /* ReadFile was asked: the host writes the file */
};

static size_t min_size(size_t a, size_t b) {
        return a < b ? a : b;
}

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

uint64_t emu_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
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

const char *emu_fault_kind_name(enum emu_fault_kind kind) {
        static const char *const names[] = {
                [EMU_FAULT_NONE] = "none",           [EMU_FAULT_STALL] = "stall",
                [EMU_FAULT_NO_ANSWER] = "no-answer", [EMU_FAULT_PAUSE] = "pause",
                [EMU_FAULT_HANG] = "hang",           [EMU_FAULT_VANISH] = "vanish",
                [EMU_FAULT_UNPLUG] = "unplug",       [EMU_FAULT_ROM_FAILURE] = "rom-failure",
                [EMU_FAULT_BOGUS_COMMAND] = "bogus-command", [EMU_FAULT_NAME_NO_NUL] = "name-no-nul",
                [EMU_FAULT_ESCAPE_NAME] = "escape-name",     [EMU_FAULT_NO_GADGET] = "no-gadget",
        };
        return (unsigned) kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

const char *emu_verdict_name(enum emu_verdict v) {
        switch (v) {
        case EMU_ACK:
                return "ack";
        case EMU_STALL:
                return "stall";
        case EMU_NO_ANSWER:
                return "no answer";
        case EMU_GONE:
                return "gone";
        }
        return "?";
}

const char *emu_stage_name(enum emu_stage stage) {
        static const char *const names[] = { "rom", "server", "gadget", "off" };
        return (unsigned) stage < 4 ? names[stage] : "?";
}

void emu_board_config_lenient(struct emu_board_config *c) {
        c->after_bulk_fault = EMU_AFTER_BULK_FAULT_FORGIVING;
        c->on_reset = EMU_ON_RESET_RESTART;
        c->halt = EMU_HALT_ONCE;
}

static void violation(struct emu_board *b, const char *what) {
        if (b->error[0] == '\0')
                snprintf(b->error, sizeof b->error, "%s (stage %s)", what, emu_stage_name(b->stage));
}

/* A host mistake the board cannot recover from: it answers nothing more until its power is cut. */
static enum emu_verdict wedge(struct emu_board *b, const char *what) {
        violation(b, what);
        b->wedged = true;
        return EMU_NO_ANSWER;
}

/* The planned fault for this point of this attempt, if any; fires once per attempt unless sticky. */
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
                if (point == EMU_AT_FILE && (!name || strcmp(f->name, name) != 0))
                        continue;
                if ((point == EMU_AT_FILE || point == EMU_AT_ROM_LOADER) && offset_end <= f->offset)
                        continue;
                if (f->kind == EMU_FAULT_PAUSE && b->just_woke) {
                        /* the pause is over: what it held is taken (a sticky pause holds the next one again) */
                        b->just_woke = false;
                        continue;
                }
                b->fault_fired[i] = !f->sticky;
                b->faults_struck++;
                return f;
        }
        return NULL;
}

static void drop_off(struct emu_board *b, enum emu_stage next) {
        b->next_stage = next;
        b->stage = EMU_STAGE_OFF;
        b->write_pending = false;
        b->pending_bus_action = next == EMU_STAGE_OFF ? EMU_BUS_DISCONNECT_FOREVER : EMU_BUS_DISCONNECT;
}

/* Applies a fault that concerns the bus or the board's liveness; returns the verdict for the operation. */
static enum emu_verdict apply_fault(struct emu_board *b, const struct emu_fault *f) {
        switch (f->kind) {
        case EMU_FAULT_STALL:
                return EMU_STALL;
        case EMU_FAULT_NO_ANSWER:
                return EMU_NO_ANSWER;
        case EMU_FAULT_PAUSE:
                b->busy_until_ms = emu_now_ms() + f->pause_ms;
                return EMU_NO_ANSWER;
        case EMU_FAULT_HANG:
                b->wedged = true;
                return EMU_NO_ANSWER;
        case EMU_FAULT_VANISH:
                drop_off(b, EMU_STAGE_ROM);
                return EMU_GONE;
        case EMU_FAULT_UNPLUG:
                drop_off(b, EMU_STAGE_OFF);
                return EMU_GONE;
        default:
                return EMU_ACK;
        }
}

/* Every operation first: is the board there, and able to answer now? */
static enum emu_verdict gate(struct emu_board *b) {
        if (b->stage == EMU_STAGE_OFF || b->stage == EMU_STAGE_GADGET)
                return EMU_GONE;
        if (b->wedged)
                return EMU_NO_ANSWER;
        b->just_woke = false;
        if (b->busy_until_ms) {
                if (emu_now_ms() < b->busy_until_ms)
                        return EMU_NO_ANSWER;
                b->busy_until_ms = 0;
                b->just_woke = true;
        }
        return EMU_ACK;
}

uint64_t emu_board_wake_at(const struct emu_board *b) {
        if (b->stage == EMU_STAGE_OFF || b->wedged)
                return 0;
        return b->busy_until_ms;
}

static void enter_stage(struct emu_board *b, enum emu_stage stage) {
        b->stage = stage;
        b->generation++;
        b->write_pending = false;
        b->write_faulted = false;
        b->halted = false;
        b->busy_until_ms = 0;
        if (stage == EMU_STAGE_ROM) {
                b->attempt++;
                b->rom_step = 0;
                b->loader_len = 0;
                b->loader_received = 0;
                /* the SoC starts afresh: nothing of an earlier boot is in its memory */
                b->n_files = 0;
                b->session_start = 0;
                b->file_sessions = 0;
                /* A fresh boot: faults planned for "every attempt" may fire again. */
                for (size_t i = 0; i < b->config.n_faults; i++)
                        if (b->config.faults[i].attempt == 0)
                                b->fault_fired[i] = false;
        } else if (stage == EMU_STAGE_SERVER) {
                b->request_index = b->session_start;
                b->file_sessions++;
                b->last_command = EXPECT_REQUEST_READ;
                b->extra_request = false;
                b->done = false;
        }
}

void emu_board_init(struct emu_board *b, const struct emu_board_config *config) {
        memset(b, 0, sizeof *b);
        b->config = *config;
        if (b->config.soc == EMU_SOC_FROM_PID)
                b->config.soc = b->config.rom_pid == 0x2764 ? EMU_SOC_2837 : EMU_SOC_2835;
        switch (b->config.soc) {
        case EMU_SOC_2837:
                b->config.rom_pid = 0x2764;
                break;
        case EMU_SOC_2711:
                b->config.rom_pid = 0x2711;
                break;
        case EMU_SOC_2712:
                b->config.rom_pid = 0x2712;
                break;
        default:
                b->config.rom_pid = 0x2763;
                break;
        }
        if (!b->config.gadget_vid) {
                switch (b->config.gadget) {
                case EMU_GADGET_ECM:
                        /* g_ether's CDC-only IDs: its RNDIS ones (a4a2) are cdc_subset's too, which
                         * could take the data interface before cdc_ether claims it */
                        b->config.gadget_vid = 0x0525;
                        b->config.gadget_pid = 0xa4a1;
                        break;
                case EMU_GADGET_ECM_ACM:
                        b->config.gadget_vid = 0x1d6b; /* g_multi's */
                        b->config.gadget_pid = 0x0104;
                        break;
                default:
                        b->config.gadget_vid = 0x0525; /* the Linux Ethernet gadget's IDs */
                        b->config.gadget_pid = 0xa4a2;
                        break;
                }
        }
        static const uint8_t no_mac[6];
        if (memcmp(b->config.mac, no_mac, sizeof no_mac) == 0)
                memcpy(b->config.mac, (const uint8_t[6]) { 0x02, 0x00, 0xcb, 0x00, 0x00, 0x01 }, 6);
        if (!b->config.requests)
                b->config.requests = emu_soc_requests(b->config.soc, &b->config.n_requests);
        b->stage = EMU_STAGE_OFF;
        b->next_stage = EMU_STAGE_OFF;
        b->last_command = EXPECT_REQUEST_READ;
}

void emu_board_plug(struct emu_board *b) {
        /* power returns: whatever wedged the board is gone with the power */
        b->wedged = false;
        enter_stage(b, EMU_STAGE_ROM);
}

void emu_board_unplug(struct emu_board *b) {
        if (b->stage != EMU_STAGE_OFF)
                b->power_cuts++;
        b->stage = EMU_STAGE_OFF;
        b->next_stage = EMU_STAGE_OFF;
        b->write_pending = false;
        b->wedged = false;
        b->pending_bus_action = EMU_BUS_NONE;
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
                b->wedged = false; /* the SoC starts over, whatever state its firmware was in */
                drop_off(b, EMU_STAGE_ROM);
                return;
        }
        /* the bus reset clears the endpoints' halts; the SoC, and where it is in the protocol, stay */
        b->halted = false;
}

enum emu_verdict emu_board_clear_halt(struct emu_board *b, uint8_t endpoint) {
        if (b->stage == EMU_STAGE_OFF || b->stage == EMU_STAGE_GADGET)
                return EMU_GONE;
        /* the USB controller answers this itself, even when the firmware above it is stuck */
        if (endpoint == emu_board_bulk_endpoint(b) && b->halted) {
                b->halted = false;
                b->halts_cleared++;
        }
        return EMU_ACK;
}

void emu_board_set_configuration(struct emu_board *b) {
        b->halted = false;
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

static void file_answered(struct emu_board *b);

/* A property is acknowledged with a zero-length write; anything else is a host that took it for a file. */
static void metadata_answered(struct emu_board *b, uint32_t len) {
        if (len != 0)
                violation(b, "a \"*KEY*VALUE\" property answered with a size");
        else
                b->metadata_answered++;
        file_answered(b);
}

/* The list's next entry ends this file session (2711: start4.elf opens one of its own). */
static bool session_break_next(const struct emu_board *b) {
        return b->request_index < b->config.n_requests &&
               strcmp(b->config.requests[b->request_index], EMU_REQUEST_NEW_SESSION) == 0;
}

/* Leaves the bus and comes back in the second stage, to go on after the break. */
static void next_session(struct emu_board *b) {
        b->request_index++;
        b->session_start = b->request_index;
        drop_off(b, EMU_STAGE_SERVER);
}

/* Called when a second-stage file's write completed or was answered "not found". */
static void file_answered(struct emu_board *b) {
        b->last_command = EXPECT_REQUEST_READ;
        b->request_index++;
}

static void begin_write(struct emu_board *b, uint32_t len) {
        b->write_pending = true;
        b->write_faulted = false;
        b->write_len = len;
        b->write_got = 0;
        b->write_hash = EMU_FNV_INIT;
}

/*
 * The host announces a write (or reads) while the board still waits for
 * bytes of the last write. A forgiving board starts over; the least
 * forgiving one is now out of step with the host for good.
 * Returns EMU_ACK when the board forgot the incomplete write.
 */
static enum emu_verdict write_overtaken(struct emu_board *b, const char *what) {
        char msg[160];

        if (b->config.after_bulk_fault == EMU_AFTER_BULK_FAULT_FORGIVING ||
            b->config.after_bulk_fault == EMU_AFTER_BULK_FAULT_WAIT_RESEND) {
                b->write_pending = false;
                return EMU_ACK;
        }
        snprintf(msg, sizeof msg, "%s while %u of %u announced bytes were still awaited", what,
                 b->write_len - b->write_got, b->write_len);
        return wedge(b, msg);
}

static enum emu_verdict rom_control_out(struct emu_board *b, uint32_t len) {
        const struct emu_fault *f;
        enum emu_verdict v;

        /* a forgiving ROM takes a new boot message at any point: the host starts over */
        if (len == 24 && b->rom_step >= 1 && b->rom_step <= 3 && b->write_pending) {
                v = write_overtaken(b, "a new boot message");
                if (v != EMU_ACK)
                        return v;
                b->rom_step = 0;
        }
        if (b->rom_step == 0) {
                if ((f = fault_at(b, EMU_AT_ROM_HEADER, 0, NULL, 0)))
                        return apply_fault(b, f);
                if (len != 24) {
                        violation(b, "boot message write is not 24 bytes");
                        return EMU_STALL;
                }
                b->rom_step = 1;
                b->loader_len = 0;
                begin_write(b, len);
                return EMU_ACK;
        }
        if (b->rom_step == 2) {
                if (len != b->loader_len) {
                        violation(b, "loader write length differs from the boot message");
                        return EMU_STALL;
                }
                b->rom_step = 3;
                b->loader_received = 0;
                b->loader_hash = EMU_FNV_INIT;
                begin_write(b, len);
                return EMU_ACK;
        }
        if (b->write_pending)
                return write_overtaken(b, "another write announced");
        violation(b, "unexpected write in ROM stage");
        return EMU_STALL;
}

static enum emu_verdict server_control_out(struct emu_board *b, uint32_t len) {
        if (b->write_pending) {
                enum emu_verdict v = write_overtaken(b, "the file announced again");
                if (v != EMU_ACK)
                        return v;
        }
        switch (b->last_command) {
        case CMD_GET_SIZE:
                if (b->extra_request) {
                        b->escape_answer = len;
                        b->last_command = EXPECT_REQUEST_READ; /* not a list entry: do not advance */
                        b->extra_request = false;
                        return EMU_ACK;
                }
                if (b->last_name[0] == '*') {
                        metadata_answered(b, len);
                        return EMU_ACK;
                }
                record_file(b, b->last_name)->size = len;
                if (len == 0 && !b->config.read_missing)
                        file_answered(b);
                else
                        b->last_command = CMD_READ; /* the next request asks for the bytes */
                return EMU_ACK;
        case EXPECT_FILE_WRITE:
                /* ReadFile was sent: the host answers with a write of the file */
                if (b->last_name[0] == '*') {
                        metadata_answered(b, len);
                        return EMU_ACK;
                }
                if (len == 0) {
                        file_answered(b);
                        return EMU_ACK;
                }
                begin_write(b, len);
                return EMU_ACK;
        case EXPECT_ZERO_ANSWER:
                if (len != 0)
                        break;
                b->last_command = EXPECT_REQUEST_READ;
                return EMU_ACK;
        case EXPECT_FINAL_ANSWER:
                if (len != 0)
                        break;
                if (session_break_next(b)) {
                        /* the firmware goes on in a file session of its own: the kernel is not started yet */
                        next_session(b);
                        return EMU_ACK;
                }
                /* the session is over: the firmware starts the kernel, which shows its own gadget */
                b->done = true;
                b->boots_completed++;
                const struct emu_fault *f = fault_at(b, EMU_AT_GADGET, 0, NULL, 0);
                drop_off(b, f && f->kind == EMU_FAULT_NO_GADGET ? EMU_STAGE_OFF : EMU_STAGE_GADGET);
                return EMU_ACK;
        default:
                break;
        }
        violation(b, "write with no request outstanding");
        return EMU_STALL;
}

enum emu_verdict emu_board_control_out(struct emu_board *b, uint16_t value, uint16_t index) {
        uint32_t len = (uint32_t) value | (uint32_t) index << 16;
        enum emu_verdict v = gate(b);

        if (v != EMU_ACK)
                return v;
        return b->stage == EMU_STAGE_ROM ? rom_control_out(b, len) : server_control_out(b, len);
}

/*
 * What a bulk fault leaves behind, besides the verdict: the board's view of
 * the incomplete write is a setting (board.h), the endpoint's halt another.
 */
static enum emu_verdict bulk_fault(struct emu_board *b, const struct emu_fault *f) {
        if (f->kind == EMU_FAULT_VANISH || f->kind == EMU_FAULT_UNPLUG || f->kind == EMU_FAULT_HANG ||
            f->kind == EMU_FAULT_PAUSE)
                return apply_fault(b, f); /* a busy board keeps waiting for its bytes */
        if (f->kind == EMU_FAULT_STALL && b->config.halt == EMU_HALT_STICKY)
                b->halted = true;
        b->write_faulted = true;
        switch (b->config.after_bulk_fault) {
        case EMU_AFTER_BULK_FAULT_WAIT_RESEND:
                b->write_pending = false;
                if (b->stage == EMU_STAGE_ROM)
                        b->rom_step = 0;
                break;
        case EMU_AFTER_BULK_FAULT_RESTART:
                drop_off(b, EMU_STAGE_ROM);
                break;
        default:
                break;
        }
        return apply_fault(b, f);
}

/* Takes `len` bytes of the write in progress; returns true when the write is complete. */
static bool take(struct emu_board *b, const uint8_t *data, size_t len) {
        if (b->stage == EMU_STAGE_ROM && b->rom_step == 1) {
                /* the 24-byte boot message: the first 4 bytes are the loader's length */
                for (size_t i = 0; i < len; i++) {
                        size_t pos = b->write_got + i;
                        if (pos < 4)
                                b->loader_len |= (uint32_t) data[i] << (8 * pos);
                        else if (pos < 4 + sizeof b->boot_signature)
                                b->boot_signature[pos - 4] = data[i];
                }
        } else if (b->stage == EMU_STAGE_ROM) {
                b->loader_hash = emu_fnv1a(b->loader_hash, data, len);
        } else {
                b->write_hash = emu_fnv1a(b->write_hash, data, len);
        }
        b->write_got += (uint32_t) len;
        if (b->stage == EMU_STAGE_ROM && b->rom_step == 3)
                b->loader_received = b->write_got;
        if (b->stage == EMU_STAGE_SERVER)
                record_file(b, b->last_name)->received = b->write_got;
        return b->write_got == b->write_len;
}

static void write_complete(struct emu_board *b) {
        b->write_pending = false;
        b->write_faulted = false;
        if (b->stage == EMU_STAGE_ROM) {
                b->rom_step = b->rom_step == 1 ? 2 : 4;
                return;
        }
        struct emu_received_file *rf = record_file(b, b->last_name);
        rf->hash = b->write_hash;
        rf->complete = true;
        file_answered(b);
}

enum emu_verdict emu_board_bulk_out(struct emu_board *b, const uint8_t *data, size_t len, size_t *ret_taken) {
        const struct emu_fault *f = NULL;
        enum emu_verdict v = gate(b);
        size_t room, upto;

        *ret_taken = 0;
        if (v != EMU_ACK)
                return v;
        if (b->halted)
                return EMU_STALL;
        if (!b->write_pending) {
                violation(b, "bulk data with no write announced");
                return EMU_STALL;
        }
        room = b->write_len - b->write_got;
        if (len > room) {
                violation(b, "more bulk data than announced");
                len = room;
        }

        if (b->stage == EMU_STAGE_ROM && b->rom_step == 3)
                f = fault_at(b, EMU_AT_ROM_LOADER, 0, NULL, b->write_got + len);
        else if (b->stage == EMU_STAGE_SERVER)
                f = fault_at(b, EMU_AT_FILE, 0, b->last_name, b->write_got + len);
        upto = len;
        if (f) {
                /* the board takes what comes before the fault's offset, then the fault strikes */
                upto = f->offset > b->write_got ? min_size(f->offset - b->write_got, len) : 0;
        }
        if (upto > 0 && take(b, data, upto))
                write_complete(b);
        *ret_taken = upto;
        return f ? bulk_fault(b, f) : EMU_ACK;
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

static enum emu_verdict rom_status(struct emu_board *b, uint8_t *buf, size_t len, size_t *ret_actual) {
        const struct emu_fault *f;
        uint32_t status = 0;

        if (b->rom_step != 4) {
                violation(b, "status read before the loader was sent");
                return EMU_STALL;
        }
        if ((f = fault_at(b, EMU_AT_ROM_STATUS, 0, NULL, 0))) {
                if (f->kind != EMU_FAULT_ROM_FAILURE)
                        return apply_fault(b, f);
                status = ROM_STATUS_FAILED;
        }
        for (size_t i = 0; i < 4 && i < len; i++)
                buf[i] = (uint8_t) (status >> (8 * i));
        *ret_actual = len < 4 ? len : 4;
        if (status == 0)
                drop_off(b, EMU_STAGE_SERVER); /* the loader runs and re-enumerates */
        else
                b->rom_step = 0; /* the ROM waits for a new boot message */
        return EMU_ACK;
}

/* A request that is a fault's, not an entry of the board's list. */
static enum emu_verdict faulty_request(struct emu_board *b, const struct emu_fault *f, uint8_t *buf, size_t len,
                                       size_t *ret_actual) {
        switch (f->kind) {
        case EMU_FAULT_BOGUS_COMMAND:
                b->last_command = EXPECT_ZERO_ANSWER;
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

static enum emu_verdict server_request(struct emu_board *b, uint8_t *buf, size_t len, size_t *ret_actual) {
        const struct emu_fault *f;

        switch (b->last_command) {
        case EXPECT_REQUEST_READ:
                break;
        case CMD_READ:
                /* GetFileSize said the file exists: ask for its bytes */
                b->last_command = EXPECT_FILE_WRITE;
                put_request(buf, len, ret_actual, CMD_READ, b->last_name);
                return EMU_ACK;
        case EXPECT_FILE_WRITE:
        case CMD_GET_SIZE:
                /* the host reads again instead of answering: the board repeats its request */
                put_request(buf, len, ret_actual, b->last_command == CMD_GET_SIZE ? CMD_GET_SIZE : CMD_READ,
                            b->last_name);
                return EMU_ACK;
        default:
                violation(b, "read while the board waits for the answer to its last request");
                return EMU_STALL;
        }

        if ((f = fault_at(b, EMU_AT_REQUEST, b->request_index, NULL, 0)))
                return faulty_request(b, f, buf, len, ret_actual);

        if (session_break_next(b) && b->config.handoff == EMU_HANDOFF_LEAVE) {
                /* start4.elf re-enumerates where it would ask for its next file: this read never completes */
                next_session(b);
                return EMU_GONE;
        }
        if (b->request_index < b->config.n_requests && !session_break_next(b)) {
                snprintf(b->last_name, sizeof b->last_name, "%s", b->config.requests[b->request_index]);
                /* which command carries a property is not documented: both are modelled */
                b->last_command = b->last_name[0] == '*' && b->config.metadata_by_read ? EXPECT_FILE_WRITE
                                                                                      : CMD_GET_SIZE;
                put_request(buf, len, ret_actual, b->last_command == CMD_GET_SIZE ? CMD_GET_SIZE : CMD_READ,
                            b->last_name);
                return EMU_ACK;
        }
        /* Done, with an empty name, as the firmware sends it: the host answers with a zero-length write */
        b->last_command = EXPECT_FINAL_ANSWER;
        put_request(buf, len, ret_actual, CMD_DONE, "");
        return EMU_ACK;
}

enum emu_verdict emu_board_control_in(struct emu_board *b, uint16_t value, uint16_t index, uint8_t *buf, size_t len,
                                      size_t *ret_actual) {
        enum emu_verdict v = gate(b);

        *ret_actual = 0;
        if (v != EMU_ACK)
                return v;
        if (b->write_pending) {
                if (b->config.after_bulk_fault == EMU_AFTER_BULK_FAULT_FORGIVING ||
                    b->config.after_bulk_fault == EMU_AFTER_BULK_FAULT_WAIT_RESEND) {
                        violation(b, "read while a write was still being sent");
                        return EMU_STALL;
                }
                return wedge(b, "a read while bytes of the last write were still awaited");
        }
        return b->stage == EMU_STAGE_ROM ? rom_status(b, buf, len, ret_actual) : server_request(b, buf, len, ret_actual);
}
