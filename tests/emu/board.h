/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The emulated Raspberry Pi: one model of a board's USB boot behaviour,
 * shared by every test tier. It knows nothing about how it is attached: an
 * adapter (in-process transport, umockdev ioctl handler, raw-gadget program)
 * feeds it the host's operations and carries out what it answers.
 *
 * A board walks through: ROM (wants a boot message, the loader, answers a
 * status) -> drops off the bus -> second stage (asks for files, ends with
 * Done) -> drops off the bus -> its Linux gadget (any non-ROM VID:PID).
 * Faults can be planned at every step, for one boot attempt or for all.
 *
 * By default the board is the least forgiving one the public evidence
 * allows (../shared/docs/usb-boot-protocol.md §7): a USB reset reboots
 * nothing; a halted bulk endpoint stays halted until the host clears it;
 * after a failed bulk transfer the board still waits for exactly the
 * bytes it was promised, and a host that announces the file again, or
 * reads the next request before those bytes arrived, wedges it until its
 * power is cut. Only a power cut (unplug, plug) starts it afresh. The
 * forgiving behaviours of other boards are named variants below.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum emu_stage {
        EMU_STAGE_ROM,
        EMU_STAGE_SERVER,
        EMU_STAGE_GADGET,
        EMU_STAGE_OFF, /* not on the bus (unplugged, powered off, or between stages) */
};

/* What the board does with one host operation. */
enum emu_verdict {
        EMU_ACK,       /* accepted / answered */
        EMU_STALL,     /* protocol stall, or a halted endpoint (-EPIPE on the host) */
        EMU_NO_ANSWER, /* not completed now: see emu_board_wake_at() for when it may be, else the host times out */
        EMU_GONE,      /* the board dropped off the bus during this operation */
};

enum emu_fault_kind {
        EMU_FAULT_NONE,
        EMU_FAULT_STALL,           /* control: the operation stalls once; bulk: the endpoint halts */
        EMU_FAULT_NO_ANSWER,       /* the operation at the trigger is never answered (the next one is) */
        EMU_FAULT_PAUSE,           /* the board is busy for `pause_ms` (takes and answers nothing), then goes on */
        EMU_FAULT_HANG,            /* the board stops for good: nothing is answered until its power is cut */
        EMU_FAULT_VANISH,          /* board drops off the bus, comes back in ROM (a brown-out: the seed's failure) */
        EMU_FAULT_UNPLUG,          /* board drops off the bus and stays away until its power is cycled */
        EMU_FAULT_ROM_FAILURE,     /* the ROM answers status 0x80 */
        EMU_FAULT_BOGUS_COMMAND,   /* the next request carries an unknown command */
        EMU_FAULT_NAME_NO_NUL,     /* the next request's name has no terminating NUL */
        EMU_FAULT_ESCAPE_NAME,     /* the board asks for "../../etc/shadow" (and goes on) */
        EMU_FAULT_NO_GADGET,       /* after Done the kernel never shows its gadget */
};

enum emu_fault_point {
        EMU_AT_ROM_HEADER,   /* the boot message write */
        EMU_AT_ROM_LOADER,   /* the loader's bulk data, once `offset` bytes were taken */
        EMU_AT_ROM_STATUS,   /* the status read */
        EMU_AT_REQUEST,      /* the read of request number `index` (0-based) of the second stage */
        EMU_AT_FILE,         /* the bulk data of file `name`, once `offset` bytes were taken */
        EMU_AT_GADGET,       /* after Done */
};

/*
 * Some faults can only happen at one point (a ROM failure is the ROM's status,
 * a bogus command is a request): that point, or -EINVAL for faults that can
 * be placed anywhere.
 */
int emu_fault_natural_point(enum emu_fault_kind kind, enum emu_fault_point *ret);
const char *emu_fault_kind_name(enum emu_fault_kind kind);

struct emu_fault {
        enum emu_fault_kind kind;
        enum emu_fault_point point;
        unsigned attempt;  /* boot attempt (1-based, counted at each ROM entry) it applies to; 0 = every one */
        unsigned index;    /* EMU_AT_REQUEST */
        const char *name;  /* EMU_AT_FILE */
        size_t offset;     /* EMU_AT_FILE, EMU_AT_ROM_LOADER */
        unsigned pause_ms; /* EMU_FAULT_PAUSE */
        bool sticky;       /* keeps firing for the rest of the attempt */
};

/*
 * Behaviours the public reports do not settle. Each is a named setting, and
 * the zero value is the least forgiving one.
 */
enum emu_after_bulk_fault {
        EMU_AFTER_BULK_FAULT_WAIT_REST,   /* waits for exactly the remaining bytes; a re-announce or a read wedges it */
        EMU_AFTER_BULK_FAULT_FORGIVING,   /* takes the remaining bytes, or a fresh announce of the whole file */
        EMU_AFTER_BULK_FAULT_WAIT_RESEND, /* forgets the partial file: only a fresh announce of it works */
        EMU_AFTER_BULK_FAULT_RESTART,     /* drops off the bus and comes back in ROM */
};
enum emu_on_reset {
        EMU_ON_RESET_KEEP,    /* a USB reset reboots nothing: the board stays where it was (halts are cleared) */
        EMU_ON_RESET_RESTART, /* a USB reset restarts the SoC: back to ROM via re-enumeration */
};
enum emu_halt {
        EMU_HALT_STICKY, /* a halted endpoint stalls every transfer until CLEAR_FEATURE, SET_CONFIGURATION or reset */
        EMU_HALT_ONCE,   /* the stall is a one-off: the next transfer goes through */
};

/* The board's SoC: its USB identities, loader, and what its second stage asks for (board-soc.c). */
enum emu_soc {
        EMU_SOC_FROM_PID, /* taken from `rom_pid` (0x2763 when that is unset too) */
        EMU_SOC_2835,     /* Zero, Zero W, CM1, A+ */
        EMU_SOC_2837,     /* Zero 2 W, CM3, CM3+, 3A+ */
        EMU_SOC_2711,     /* CM4 */
        EMU_SOC_2712,     /* CM5 */
};

/*
 * How the 2711's firmware (start4.elf) moves on to its second file session.
 * Public logs show the re-enumeration but not whether a Done comes first,
 * so both are modelled; leaving without one is the harder case for a host.
 */
enum emu_handoff {
        EMU_HANDOFF_LEAVE, /* drops off the bus when it would read its next request */
        EMU_HANDOFF_DONE,  /* sends Done (empty name), then drops off */
};

/*
 * What the board's own Linux offers on the bus once it runs (the gadget
 * stage). The plain one is what every tier had first: a booted board the
 * host only has to notice. The others carry real CDC functions, so that a
 * host's cdc_ether (and cdc_acm) bind them, as they bind a Pi's g_ether or
 * g_multi; they carry no traffic.
 */
enum emu_gadget {
        EMU_GADGET_PLAIN,   /* one communication interface with an interrupt endpoint, no CDC descriptors */
        EMU_GADGET_ECM,     /* CDC ECM (0525:a4a1): a network interface on the host */
        EMU_GADGET_ECM_ACM, /* CDC ECM + CDC ACM, IAD-grouped (1d6b:0104): a network interface and a ttyACM */
};

/*
 * An entry of a request list that is not a file: the session ends here and
 * the board comes back in its second stage for the rest (2711).
 */
#define EMU_REQUEST_NEW_SESSION "<new-session>"
/* Request-list entries that name a file the host serves (not a session break, not "*KEY*VALUE" metadata). */
bool emu_request_is_file(const char *name);

#define EMU_MAX_FAULTS 8
#define EMU_MAX_FILES 32
#define EMU_SERIAL_MAX 17

struct emu_board_config {
        enum emu_soc soc;
        uint16_t rom_pid;            /* with EMU_SOC_FROM_PID: 0x2763 (Zero) or 0x2764 (Zero 2 W); else set from soc */
        uint16_t gadget_vid, gadget_pid; /* 0: the IDs of `gadget`'s Linux gadget */
        enum emu_gadget gadget;
        uint8_t mac[6];              /* the ECM function's iMACAddress, the host's side of the link; all 0: 02:00:cb:00:00:01 */
        const char *const *requests; /* names the second stage asks for, in order; NULL = the SoC's own list */
        size_t n_requests;
        char serial[EMU_SERIAL_MAX]; /* 2711/2712: the SoC serial the ROM shows ("": "10000001") */
        uint8_t server_serial_index; /* 2711/2712 second stage's iSerialNumber (0: 4; older CM4 firmware: 1) */
        bool product_d0;             /* 2712: "BCM2712D0 Boot" instead of "BCM2712 Boot" */
        enum emu_handoff handoff;
        bool metadata_by_read;       /* "*KEY*VALUE" requests come as ReadFile instead of GetFileSize */
        bool read_missing;           /* asks ReadFile even after "not found" (size 0), as the reference capture's board */
        enum emu_after_bulk_fault after_bulk_fault;
        enum emu_on_reset on_reset;
        enum emu_halt halt;
        struct emu_fault faults[EMU_MAX_FAULTS];
        size_t n_faults;
};

/* The forgiving board of earlier tests: a reset restarts it, stalls are one-offs, a re-sent file is taken. */
void emu_board_config_lenient(struct emu_board_config *c);

/* Bytes a board received for one file, so tests compare it with the file on disk. */
struct emu_received_file {
        char name[260];
        uint64_t size;      /* announced by GetFileSize (0 = not found) */
        uint64_t received;  /* bytes of ReadFile taken */
        uint64_t hash;      /* FNV-1a 64 of the received bytes */
        bool complete;
};

/* What the adapter must make happen on the bus after an operation. */
enum emu_bus_action {
        EMU_BUS_NONE,
        EMU_BUS_DISCONNECT,       /* drop off now; reconnect per emu_board_next_stage() later */
        EMU_BUS_DISCONNECT_FOREVER,
};

struct emu_board {
        struct emu_board_config config;
        enum emu_stage stage;
        enum emu_stage next_stage; /* where it comes back after a disconnect */
        unsigned attempt;          /* ROM entries so far */
        unsigned generation;       /* bumps on every (re)connection */
        enum emu_bus_action pending_bus_action;
        bool fault_fired[EMU_MAX_FAULTS]; /* spent for this attempt (a sticky fault never is) */
        unsigned faults_struck;            /* every time a planned fault struck, sticky ones each time */

        /* write in progress: control OUT announced `write_len`, bulk delivers */
        bool write_pending;
        uint32_t write_len;
        uint32_t write_got;
        uint64_t write_hash;
        bool write_faulted;         /* a bulk transfer of this write failed: what is allowed next is a setting */

        bool halted;                /* the bulk OUT endpoint is halted */
        bool wedged;                /* out of step with the host: answers nothing until its power is cut */
        uint64_t busy_until_ms;     /* EMU_FAULT_PAUSE: CLOCK_MONOTONIC ms until which nothing is taken */
        bool just_woke;             /* this operation is the one a pause held: it goes through */

        /* ROM */
        unsigned rom_step; /* 0 want header, 1 header data, 2 want loader, 3 loader data, 4 want status read */
        uint32_t loader_len;

        /* second stage */
        unsigned request_index;
        unsigned session_start;     /* list index the current file session began at (2711: after its break) */
        unsigned file_sessions;     /* file sessions opened this attempt */
        unsigned metadata_answered; /* "*KEY*VALUE" requests the host answered with a zero-length write */
        int last_command;           /* -1: none outstanding */
        char last_name[260];
        bool done;
        bool extra_request;         /* the outstanding request is a fault's, not a list entry */
        bool escape_asked;          /* an EMU_FAULT_ESCAPE_NAME request was made */
        uint64_t escape_answer;     /* size the host answered for it (must be 0) */

        /* results */
        struct emu_received_file files[EMU_MAX_FILES];
        size_t n_files;
        uint32_t loader_received;
        uint64_t loader_hash;
        uint8_t boot_signature[20]; /* the signature field of the last boot message (signed boot) */
        unsigned boots_completed;   /* times Done was reached */
        unsigned resets;
        unsigned halts_cleared;     /* CLEAR_FEATURE(ENDPOINT_HALT) that found the endpoint halted */
        unsigned power_cuts;        /* times its power was cut while it was on the bus */
        char error[256];            /* first protocol violation the board saw from the host */
};

void emu_board_init(struct emu_board *b, const struct emu_board_config *config);

/* Plug in / power on: the board appears in ROM, with nothing of an earlier boot. */
void emu_board_plug(struct emu_board *b);
/* Unplug / power off. */
void emu_board_unplug(struct emu_board *b);
/* The adapter finished a DISCONNECT: bring the board back in its next stage. */
void emu_board_reconnect(struct emu_board *b);

/* Host operations. `value`/`index` are the setup packet's wValue/wIndex. */
enum emu_verdict emu_board_control_out(struct emu_board *b, uint16_t value, uint16_t index);
enum emu_verdict emu_board_control_in(struct emu_board *b, uint16_t value, uint16_t index, uint8_t *buf, size_t len,
                                      size_t *ret_actual);
enum emu_verdict emu_board_bulk_out(struct emu_board *b, const uint8_t *data, size_t len, size_t *ret_taken);
/* A USB port reset by the host. */
void emu_board_reset(struct emu_board *b);
/* CLEAR_FEATURE(ENDPOINT_HALT) on `endpoint` (EMU_GONE when off the bus). */
enum emu_verdict emu_board_clear_halt(struct emu_board *b, uint8_t endpoint);
/* SET_CONFIGURATION: the board's endpoints start afresh (halts cleared), its protocol state does not. */
void emu_board_set_configuration(struct emu_board *b);
/*
 * After EMU_NO_ANSWER: the CLOCK_MONOTONIC time (ms) from which the same
 * operation may be answered (a busy board), or 0 if it never will be.
 */
uint64_t emu_board_wake_at(const struct emu_board *b);
uint64_t emu_now_ms(void);

/* Takes the bus action the last operation asked for (and clears it). */
enum emu_bus_action emu_board_take_bus_action(struct emu_board *b);

/* Descriptors of the current stage: device descriptor then configuration (the sysfs "descriptors" layout). */
size_t emu_board_descriptors(const struct emu_board *b, uint8_t *buf, size_t size);
uint16_t emu_board_vid(const struct emu_board *b);
uint16_t emu_board_pid(const struct emu_board *b);
bool emu_board_high_speed(const struct emu_board *b);
/* The bulk OUT endpoint of the current stage (0x01, or 0x03 on the 2837 ROM; an ECM gadget's: its data OUT, 0x01). */
uint8_t emu_board_bulk_endpoint(const struct emu_board *b);
/* The gadget's iMACAddress string, 12 hex digits (empty when its gadget has no network function). */
void emu_board_mac_string(const struct emu_board *b, char buf[13]);
/* The gadget's functions as a setting's value: "plain", "ecm" or "ecm-acm". */
const char *emu_gadget_name(enum emu_gadget gadget);
/* String descriptor `index` as UTF-16LE descriptor bytes; returns length or 0. */
size_t emu_board_string_descriptor(const struct emu_board *b, uint8_t index, uint8_t *buf, size_t size);
/* An ASCII string as a USB string descriptor (UTF-16LE); returns its length, or 0 if it does not fit. */
size_t emu_string_descriptor(const char *s, uint8_t *buf, size_t size);

const char *emu_stage_name(enum emu_stage stage);
const char *emu_verdict_name(enum emu_verdict v);
const struct emu_received_file *emu_board_file(const struct emu_board *b, const char *name);
uint64_t emu_fnv1a(uint64_t hash, const uint8_t *data, size_t len);
/* FNV-1a of a whole file, to compare with what a board received; returns 0 or -errno. */
int emu_hash_file(const char *path, uint64_t *ret_hash, uint64_t *ret_size);
#define EMU_FNV_INIT 0xcbf29ce484222325ULL

/* The list a Pi Zero W asks for in its second stage. */
extern const char *const emu_pi_zero_requests[];
extern const size_t emu_pi_zero_n_requests;

/* What a SoC's board asks for when no list is given, in order, session breaks included. */
const char *const *emu_soc_requests(enum emu_soc soc, size_t *ret_n);
/* "2835", "2837", "2711" or "2712" (soc= of board-spec.h) */
const char *emu_soc_name(enum emu_soc soc);
/* The second-stage loader its ROM is sent: bootcode.bin, bootcode4.bin or bootcode5.bin. */
const char *emu_soc_loader_name(enum emu_soc soc);
