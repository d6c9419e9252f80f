/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A node's life as one state machine. Every change of state goes through
 * enter_state(); everything else in struct cb_node is data. Three kinds of
 * sub-operation run on the node's behalf and each reports back once: a
 * boot session (session.c), a USB reset (the transport), and a power
 * operation (power-op.c). The node reacts to what they report, to the
 * board appearing and leaving, and to its one deadline timer, whose
 * meaning is the state's (see on_deadline()).
 *
 * How a failure is recovered is decided in one place, the ladder below
 * ("the recovery ladder"); the README's "How a retry flows" tells it.
 */
#include "node.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>

#include "bootfiles.h"
#include "event-priority.h"
#include "firmware.h"
#include "log.h"
#include "log-ratelimit.h"
#include "node-history.h"
#include "node-metadata.h"
#include "power-op.h"
#include "power.h"
#include "session.h"
#include "text.h"

/* Big enough to keep the bus busy, small enough for timely progress. */
#define BULK_CHUNK (256u * 1024u)
/*
 * How often a quiet board is looked at during a write, at most. The bytes a
 * transfer moved are known only when it ends, so the quiet budget of a board
 * that stopped mid-transfer starts up to this late.
 */
#define BULK_POLL_MAX (500 * USEC_PER_MSEC)

/* Why a power operation runs: what its end leads to. */
enum power_purpose {
        PURPOSE_NONE,
        PURPOSE_USER_OFF,    /* off, and stay off */
        PURPOSE_USER_ON,     /* on; an `off` node then boots afresh */
        PURPOSE_USER_REBOOT, /* cycle, then a fresh boot */
        PURPOSE_ENSURE_ON,   /* at start, or `power on` of a node not off: on in turn; boots go on meanwhile */
        PURPOSE_RECOVER,     /* the board is stuck or left: cycle, then the attempt counts as failed */
        PURPOSE_REVIVE,      /* the board stayed away (its attempt already counted): cycle, then wait for it */
        PURPOSE_FRESH,       /* found mid-boot with no boot of ours: cycle, then a fresh boot */
};

/* Why a USB reset runs. */
enum reset_purpose {
        RESET_RECOVER, /* RecoverByReset=yes: a stuck board, in case a reset reboots it */
        RESET_RESYNC,  /* RecoverByReset=yes: a second stage found mid-boot, before serving it */
};

struct user_action {
        enum cb_node_power_action action;
        cb_node_power_done_t done;
        void *userdata;
        bool pending;
};

struct cb_node {
        const struct cb_node_env *env;
        char *name;
        char *port;
        bool configured;

        enum cb_node_state state;
        unsigned attempt;
        char *last_error;

        /* the board on the port, as far as the node knows (udev, or a transfer that found it gone) */
        bool device_present;
        struct cb_node_device device;

        /* the daemon is stopping: no new step; `drained` is told when the session in flight ended */
        bool draining;
        void (*drained)(void *userdata);
        void *drained_userdata;

        /* sub-operations */
        struct cb_session *session;
        bool resetting;
        enum reset_purpose reset_purpose;
        struct cb_power_op *power_op;
        enum power_purpose power_purpose;
        cb_node_power_done_t power_done;
        void *power_done_userdata;
        char *power_not_cut;          /* the cycle in flight did not cut the power: this says so */
        bool expect_rom;              /* a power cycle ended: the next board on the port must be in its ROM */
        struct user_action next;      /* a user's power action waiting for the operation in flight */

        struct cb_power *power;       /* NULL: Power=none */
        enum cb_node_powered powered;

        /* the state's deadline (see on_deadline()) */
        sd_event_source *deadline;
        usec_t backoff_until;         /* RETRYING: the next attempt may start */
        usec_t comeback_until;        /* RETRYING: a board that is away must be back by then (0: none set) */

        /* this attempt */
        bool reset_tried;
        bool cycle_tried;
        bool firmware_due;            /* this session served a firmware that opens a file session of its own */
        bool firmware_session;        /* that session was awaited (or runs) this attempt: a further one is a restart */

        /* this boot's totals, of finished sessions */
        uint64_t bytes_served;
        unsigned files_served;
        unsigned step_retries;
        unsigned resets;
        unsigned power_cycles;

        usec_t boot_started;
        usec_t up_since;
        usec_t last_boot_duration;
        unsigned boots;

        struct cb_node_history history;
        struct cb_log_ratelimit board_lines; /* the lines the board's own input causes (board_log()) */
        struct cb_node_metadata metadata;
        bool metadata_unsaved; /* properties came in this boot's session: the owner keeps them once it ends */
};

static const struct cb_config *config(const struct cb_node *n) {
        return n->env->config;
}

static double seconds(usec_t u) {
        return (double) u / (double) USEC_PER_SEC;
}

/* ---- logging, with the node's journal fields ---- */

static struct cb_log_node log_fields(const struct cb_node *n) {
        return (struct cb_log_node){
                .name = n->name,
                .port = n->port[0] ? n->port : NULL, /* a node named by Serial= before its board is seen */
                .state = cb_node_state_name(n->state),
                .attempt = n->attempt,
                .serial = n->metadata.serial[0] ? n->metadata.serial : NULL,
        };
}

#define node_log_errno(n, prio, err, ...)                                               \
        __extension__({                                                                 \
                struct cb_log_node _f = log_fields(n);                                  \
                cb_log_full((prio), (err), &_f, NULL, __FILE__, __LINE__, __VA_ARGS__); \
        })
#define node_log(n, prio, ...) node_log_errno(n, prio, 0, __VA_ARGS__)

/*
 * A line the board's own input causes (a refused name, a malformed
 * property, a retry of its transfer): as many as it sends requests, so
 * limited per board, lest journald's limit for the whole service drop the
 * other boards' lines with them. State changes and the daemon's decisions
 * go through node_log() and are never held back. Debug lines are not
 * counted: whoever turns them on asked for every request.
 */
static bool board_line_passes(struct cb_node *n, int priority) {
        if (priority >= LOG_DEBUG || !cb_log_enabled(priority))
                return true;
        return cb_log_ratelimit_test(&n->board_lines, priority);
}

#define board_log_errno(n, prio, err, ...)                               \
        do {                                                             \
                if (board_line_passes((n), (prio)))                      \
                        (void) node_log_errno(n, prio, err, __VA_ARGS__); \
        } while (0)
#define board_log(n, prio, ...) board_log_errno(n, prio, 0, __VA_ARGS__)

static void board_lines_suppressed(void *userdata, unsigned suppressed, int priority) {
        struct cb_node *n = userdata;

        node_log(n, priority, "%u more line%s caused by the board's requests not logged (at most %u per %.0fs)",
                 suppressed, suppressed == 1 ? "" : "s", CB_LOG_RATELIMIT_BURST,
                 seconds(CB_LOG_RATELIMIT_INTERVAL));
}

static void notify_changed(struct cb_node *n) {
        if (n->env->callbacks.changed)
                n->env->callbacks.changed(n, n->env->callbacks.userdata);
}

static void set_last_error(struct cb_node *n, const char *reason) {
        (void) strdup_to(&n->last_error, reason);
}

/* ---- the one way to change state ---- */

static int state_priority(enum cb_node_state state) {
        switch (state) {
        case CB_NODE_FAILED:
                return LOG_ERR;
        case CB_NODE_RETRYING:
        case CB_NODE_POWER_CYCLING:
        case CB_NODE_NEEDS_POWER:
                return LOG_WARNING;
        default:
                return LOG_INFO;
        }
}

static const char *state_message_id(enum cb_node_state state) {
        switch (state) {
        case CB_NODE_UP:
                return CB_MESSAGE_NODE_UP;
        case CB_NODE_FAILED:
                return CB_MESSAGE_NODE_FAILED;
        case CB_NODE_NEEDS_POWER:
                return CB_MESSAGE_NODE_NEEDS_POWER;
        default:
                return NULL;
        }
}

/*
 * Changes state: logs "state NEW (from OLD): why" with the node's fields
 * (and the state's
 * MESSAGE_ID, if it has one), records it, drops the old state's deadline,
 * tells the owner.
 */
static void enter_state(struct cb_node *n, enum cb_node_state state, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
static void enter_state(struct cb_node *n, enum cb_node_state state, const char *format, ...) {
        enum cb_node_state old = n->state;
        va_list ap;

        va_start(ap, format);
        _cleanup_free_ char *message = cb_vformat(format, ap);
        va_end(ap);

        /* what the board caused before this change is told before it */
        cb_log_ratelimit_flush(&n->board_lines);
        n->state = state;
        (void) sd_event_source_set_enabled(n->deadline, SD_EVENT_OFF);
        struct cb_log_node f = log_fields(n);
        cb_log_full(state_priority(state), 0, &f, state_message_id(state), __FILE__, __LINE__,
                    "state %s (from %s): %s", cb_node_state_name(state), cb_node_state_name(old),
                    message ? message : CB_NO_MEMORY_TEXT);
        cb_node_history_add(&n->history, state, n->attempt, message ? message : CB_NO_MEMORY_TEXT);
        notify_changed(n);
}

static void arm_deadline(struct cb_node *n, usec_t delay) {
        (void) sd_event_source_set_time_relative(n->deadline, delay);
        (void) sd_event_source_set_enabled(n->deadline, SD_EVENT_ONESHOT);
}

/* ---- the board on the port ---- */

static void forget_device(struct cb_node *n) {
        n->device_present = false;
        n->device.transport = (struct cb_transport){ 0 };
}

/* ---- boot sessions ---- */

/* Where the node's files are looked for, in order: its own directory (if set), then the common one. */
static void boot_directories(const struct cb_node *n, const char *dirs[2]) {
        const struct cb_node_config *nc = cb_node_section(n);

        dirs[0] = nc ? nc->boot_directory : NULL;
        dirs[1] = config(n)->boot_directory;
}

static int lookup_file(void *userdata, const char *name, struct cb_file **ret, const char **reason) {
        struct cb_node *n = userdata;
        const char *dirs[2];

        boot_directories(n, dirs);
        return cb_file_cache_lookup_chip(n->env->cache, dirs, ELEMENTSOF(dirs), cb_proto_chip_folder(n->device.pid),
                                         name, ret, reason);
}

/* The ROM's loader and, on 2835/2837, the signature beside it (signed boot); as lookup_file(). */
static int lookup_loader(struct cb_node *n, const char *name, struct cb_file **ret, struct cb_file **ret_sig,
                         const char **reason) {
        const char *dirs[2];

        boot_directories(n, dirs);
        return cb_file_cache_lookup_loader(n->env->cache, dirs, ELEMENTSOF(dirs), cb_proto_chip_folder(n->device.pid),
                                           name, cb_proto_uses_boot_signature(n->device.pid), ret, ret_sig, reason);
}

static void absorb_session(struct cb_node *n) {
        struct cb_session_progress p;

        if (!n->session)
                return;
        cb_session_get_progress(n->session, &p);
        n->bytes_served += p.bytes_served;
        n->files_served += p.files_served;
        n->step_retries += p.step_retries;
}

/* Ends the session in flight, if any, keeping its progress in the totals. */
static void stop_session(struct cb_node *n) {
        if (!n->session)
                return;
        absorb_session(n);
        cb_session_abort(n->session);
        n->session = NULL;
}

/* A "*KEY*VALUE" request: kept for status, logged once it is known to be well-formed. */
static void board_property(struct cb_node *n, const char *key_star_value) {
        const struct cb_metadata_entry *kept;
        int r = cb_node_metadata_add(&n->metadata, key_star_value, &kept);
        char shown[CB_METADATA_KEY_MAX + CB_METADATA_VALUE_MAX];

        if (r == 0) {
                struct cb_log_node fields = log_fields(n);

                n->metadata_unsaved = true;
                if (!board_line_passes(n, LOG_INFO))
                        return;
                fields.property = kept->key;
                fields.property_value = kept->value;
                cb_log(LOG_INFO, 0, &fields, "board property %s: %s", kept->key, kept->value);
                return;
        }
        cb_text_escape_to(shown, sizeof shown, key_star_value, strlen(key_star_value));
        if (r == -ENOSPC)
                node_log(n, LOG_DEBUG, "board property not kept (already %d): %s", CB_METADATA_MAX, shown);
        else
                board_log(n, LOG_WARNING, "a board property that is not KEY*VALUE: %s", shown);
}

static void session_event(void *userdata, enum cb_session_event event, int error, const char *detail) {
        struct cb_node *n = userdata;

        switch (event) {
        case CB_SESSION_EVENT_STEP_RETRY:
                board_log_errno(n, LOG_WARNING, error, "%s", detail);
                break;
        case CB_SESSION_EVENT_NAME_REFUSED:
                board_log(n, LOG_WARNING, "%s", detail);
                break;
        case CB_SESSION_EVENT_FILE_SERVED:
                node_log(n, LOG_DEBUG, "served %s", detail);
                if (cb_firmware_opens_own_session(n->device.pid, detail))
                        n->firmware_due = true;
                notify_changed(n);
                break;
        case CB_SESSION_EVENT_FILE_MISSING:
                node_log(n, LOG_DEBUG, "asked for %s: not found", detail);
                break;
        case CB_SESSION_EVENT_METADATA:
                board_property(n, detail);
                break;
        case CB_SESSION_EVENT_REQUEST:
                node_log(n, LOG_DEBUG, "request %s", detail);
                break;
        }
}

static void session_finished(void *userdata, enum cb_session_outcome outcome, int error, const char *reason);

static const struct cb_session_callbacks session_callbacks = {
        .lookup = lookup_file,
        .event = session_event,
        .finished = session_finished,
};

static void node_up(struct cb_node *n);
static void give_up(struct cb_node *n, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void board_stuck(struct cb_node *n, const char *reason);

static struct cb_session_settings session_settings(const struct cb_node *n) {
        const struct cb_config *c = config(n);

        return (struct cb_session_settings){
                .control_timeout = c->control_timeout,
                .request_timeout = c->request_timeout,
                .bulk_timeout = c->bulk_timeout,
                .bulk_poll = MAX(MIN(c->bulk_timeout / 4, BULK_POLL_MAX), (usec_t) USEC_PER_MSEC),
                .step_retries = c->step_retries,
                .bulk_chunk = BULK_CHUNK,
                .bulk_recovery = c->bulk_recovery,
        };
}

/*
 * Starts a session on the board present. A device that already left (its
 * first transfer cannot even be submitted) costs nothing: the node forgets
 * it and waits for the board's next appearance, however late udev says so.
 */
static void start_session(struct cb_node *n, enum cb_session_kind kind) {
        const struct cb_session_settings settings = session_settings(n);
        _cleanup_(cb_file_unrefp) struct cb_file *loader = NULL, *signature = NULL;
        int r;

        assert(n->device_present && !n->session && !n->resetting);
        if (n->draining)
                return;
        if (kind == CB_SESSION_ROM) {
                const char *loader_name = cb_proto_second_stage_file(n->device.pid);
                const char *reason = NULL;

                r = lookup_loader(n, loader_name, &loader, &signature, &reason);
                if (r < 0) {
                        /* without the loader no attempt can succeed: say so instead of retrying */
                        give_up(n, "cannot serve %s from %s: %s", loader_name, config(n)->boot_directory,
                                reason ? reason : strerror(-r));
                        return;
                }
        }
        n->firmware_due = false;
        if (kind == CB_SESSION_ROM) {
                cb_node_metadata_clear_properties(&n->metadata); /* a board in its ROM tells its properties again */
                n->metadata_unsaved = false;
        }
        r = cb_session_new(kind, &n->device.transport, &settings, &session_callbacks, n, loader, &n->session);
        if (r >= 0 && signature)
                r = cb_session_set_boot_signature(n->session, cb_file_data(signature), cb_file_size(signature));
        if (r >= 0)
                r = cb_session_start(n->session);
        if (r < 0) {
                cb_session_free(n->session);
                n->session = NULL;
        }
        if (r == -ENODEV) {
                node_log(n, LOG_INFO, "the device on the port had already left; waiting for the board");
                forget_device(n);
                if (n->state == CB_NODE_RETRYING && !n->comeback_until) {
                        n->comeback_until = now_usec() + config(n)->reenumerate_timeout;
                        arm_deadline(n, config(n)->reenumerate_timeout);
                }
                return;
        }
        if (r < 0) {
                _cleanup_free_ char *why = cb_format("cannot start the %s session: %s",
                                                     kind == CB_SESSION_ROM ? "ROM" : "file", strerror(-r));
                board_stuck(n, why ? why : "cannot start a session");
                return;
        }
        if (!n->boot_started)
                n->boot_started = now_usec();
        enter_state(n, kind == CB_SESSION_ROM ? CB_NODE_ROM : CB_NODE_SERVING, "%s",
                    kind == CB_SESSION_ROM ? "sending the second-stage loader" : "serving boot files");
}

/* The board is present and it is time for it: start whatever its stage calls for. */
static void start_stage(struct cb_node *n) {
        switch (n->device.stage) {
        case CB_STAGE_ROM:
                start_session(n, CB_SESSION_ROM);
                break;
        case CB_STAGE_SERVER:
                start_session(n, CB_SESSION_SERVER);
                break;
        default:
                node_up(n);
                break;
        }
}

static void node_up(struct cb_node *n) {
        n->up_since = now_usec();
        if (n->boot_started) {
                n->last_boot_duration = n->up_since - n->boot_started;
                n->boots++;
                n->boot_started = 0;
                enter_state(n, CB_NODE_UP, "up after %.1fs, on attempt %u", seconds(n->last_boot_duration),
                            n->attempt);
        } else {
                enter_state(n, CB_NODE_UP, "a booted board (not a boot ROM) is on the port");
        }
}

/* ---- attempts ---- */

static void fresh_boot(struct cb_node *n) {
        n->attempt = 1;
        n->bytes_served = 0;
        n->files_served = 0;
        n->step_retries = 0;
        n->resets = 0;
        n->power_cycles = 0;
        n->reset_tried = false;
        n->cycle_tried = false;
        n->firmware_session = false;
        n->up_since = 0;
        n->boot_started = 0;
        n->backoff_until = n->comeback_until = 0;
        n->last_error = xfree(n->last_error);
}

static void give_up(struct cb_node *n, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        _cleanup_free_ char *reason = cb_vformat(format, ap);
        va_end(ap);
        set_last_error(n, reason ? reason : CB_NO_MEMORY_TEXT);
        n->boot_started = 0;
        enter_state(n, CB_NODE_FAILED, "giving up after attempt %u of %u: %s", n->attempt, config(n)->max_attempts,
                    n->last_error ? n->last_error : CB_NO_MEMORY_TEXT);
}

static bool attempts_left(const struct cb_node *n) {
        return n->attempt < config(n)->max_attempts;
}

static usec_t backoff_for(const struct cb_node *n, unsigned failed_attempt) {
        usec_t delay = config(n)->retry_delay;

        for (unsigned i = 1; i < failed_attempt && delay < config(n)->retry_delay_max; i++)
                delay *= 2;
        return MIN(delay, config(n)->retry_delay_max);
}

/*
 * The attempt failed for `reason`: the next one starts after a backoff,
 * once the board is on its port (it has ReenumerateTimeoutSec= to come back
 * if it is away); or the node gives up when it was the last.
 */
/* backoff: false after a power cycle, which was the pause already (the board needs no more to restart) */
static void next_attempt(struct cb_node *n, const char *reason, bool backoff) {
        usec_t now = now_usec(), delay;

        set_last_error(n, reason);
        if (!attempts_left(n)) {
                give_up(n, "%s", reason);
                return;
        }
        delay = backoff ? backoff_for(n, n->attempt) : 0;
        n->attempt++;
        n->reset_tried = n->cycle_tried = false;
        n->firmware_session = false;
        n->backoff_until = now + delay;
        n->comeback_until = n->device_present ? 0 : now + MAX(delay, config(n)->reenumerate_timeout);
        enter_state(n, CB_NODE_RETRYING, "attempt %u failed: %s; attempt %u in %.1fs", n->attempt - 1, reason,
                    n->attempt, seconds(delay));
        arm_deadline(n, delay);
}

static void attempt_failed(struct cb_node *n, const char *reason) {
        next_attempt(n, reason, true);
}

/* ---- the recovery ladder ---- */

static void start_reset(struct cb_node *n, enum reset_purpose purpose);
static int start_power(struct cb_node *n, enum power_purpose purpose, cb_node_power_done_t done, void *userdata);

static void needs_power(struct cb_node *n, const char *reason) {
        set_last_error(n, reason);
        n->boot_started = 0;
        enter_state(n, CB_NODE_NEEDS_POWER, "%s; it needs a power cycle: replug the board%s", reason,
                    n->power ? "" : ", or configure Power= for it");
}

/* A power cycle as the next rung; false if none can be started (the caller takes the rung after). */
static bool recover_by_power(struct cb_node *n, enum power_purpose purpose, const char *reason) {
        if (!n->power || n->power_op)
                return false;
        set_last_error(n, reason);
        if (start_power(n, purpose, NULL, NULL) < 0)
                return false;
        n->cycle_tried = true;
        n->power_cycles++;
        enter_state(n, CB_NODE_POWER_CYCLING, "%s: power-cycling the board (%s)", reason, cb_power_describe(n->power));
        return true;
}

/*
 * The board is on its port but cannot go on from where it is (a session
 * ended stuck). A USB reset does not reboot a Pi: only where the user says
 * it does (RecoverByReset=yes) is one tried first. Then its power is cut,
 * and without a switch the node says it needs one.
 */
static void board_stuck(struct cb_node *n, const char *reason) {
        if (!attempts_left(n)) {
                give_up(n, "%s", reason);
                return;
        }
        if (config(n)->recover_by_reset && !n->reset_tried && n->device_present && n->device.transport.ops &&
            n->device.transport.ops->reset) {
                set_last_error(n, reason);
                enter_state(n, CB_NODE_RETRYING, "%s: resetting the device (RecoverByReset=yes)", reason);
                start_reset(n, RESET_RECOVER);
                return;
        }
        if (recover_by_power(n, PURPOSE_RECOVER, reason))
                return;
        needs_power(n, reason);
}

/* The board left the bus in the middle of its session: it cannot be resumed. */
static void board_left(struct cb_node *n, const char *reason) {
        if (n->power && attempts_left(n) && recover_by_power(n, PURPOSE_RECOVER, reason))
                return;
        attempt_failed(n, reason); /* it may come back by itself (a brown-out): the next attempt waits for it */
}

/* The board has been away too long. `counted`: the attempt it left in has been counted already. */
static void board_lost(struct cb_node *n, const char *reason, bool counted) {
        if (!counted && !attempts_left(n)) {
                give_up(n, "%s", reason);
                return;
        }
        if (!n->cycle_tried && recover_by_power(n, counted ? PURPOSE_REVIVE : PURPOSE_RECOVER, reason))
                return;
        needs_power(n, reason);
}

/*
 * The session just ended (Done, or the board left between two requests)
 * after serving a firmware that goes on in a file session of its own: that
 * is the boot going on, in this attempt. Only one such session is expected;
 * the board restarting its second stage after it is a failure as ever.
 */
static bool firmware_takes_over(struct cb_node *n, const char *how) {
        if (!n->firmware_due || n->firmware_session)
                return false;
        n->firmware_due = false;
        n->firmware_session = true;
        enter_state(n, CB_NODE_LOADING, "%s after start4.elf; waiting for the firmware's own file session", how);
        arm_deadline(n, config(n)->reenumerate_timeout);
        return true;
}

/* The board said who it is: its owner keeps that where others can read it (a CM5's "<serial>.json"). */
static void tell_metadata(struct cb_node *n) {
        if (!n->metadata_unsaved)
                return;
        n->metadata_unsaved = false;
        if (n->env->callbacks.board_described)
                n->env->callbacks.board_described(n, n->env->callbacks.userdata);
}

/* The file session ended as a boot's does (a Done, or an empty name answered). */
static void session_over(struct cb_node *n, const char *how) {
        tell_metadata(n);
        if (firmware_takes_over(n, how))
                return;
        enter_state(n, CB_NODE_BOOTED, "boot files served (%u files, %" PRIu64 " bytes); the kernel starts",
                    n->files_served, n->bytes_served);
        if (config(n)->up_timeout > 0)
                arm_deadline(n, config(n)->up_timeout);
}

/*
 * The board left the bus while a session ran; the transfer (ENODEV) or udev
 * may tell first, and both come here with the session's progress. Where it
 * was decides: a board that leaves as it is answered, or between two
 * requests once start4.elf took over, went on; anywhere else it left.
 */
static void session_left(struct cb_node *n, const struct cb_session_progress *p, const char *reason) {
        if (p->loader_delivered) {
                /* the ROM took the whole loader and left before its status was seen: on to the second stage */
                enter_state(n, CB_NODE_LOADING, "the board took the loader and left; waiting for the second stage");
                arm_deadline(n, config(n)->reenumerate_timeout);
                return;
        }
        if (p->ending) {
                session_over(n, "the board left as its session ended");
                return;
        }
        if (p->awaiting_request && firmware_takes_over(n, "the board left"))
                return;
        board_left(n, reason);
}

/* ---- what sub-operations report ---- */

static void session_finished(void *userdata, enum cb_session_outcome outcome, int error, const char *reason) {
        struct cb_node *n = userdata;
        struct cb_session_progress progress;

        cb_session_get_progress(n->session, &progress);
        absorb_session(n);
        cb_session_free(n->session);
        n->session = NULL;

        if (n->draining) {
                /* whatever the outcome, the node stops here; the next daemon takes the board as it finds it */
                node_log(n, LOG_INFO, "session stopped for the daemon's exit: %s", reason ? reason : "done");
                if (n->drained)
                        n->drained(n->drained_userdata);
                n->drained = NULL;
                return;
        }

        switch (outcome) {
        case CB_SESSION_LOADER_SENT:
                enter_state(n, CB_NODE_LOADING, "loader accepted; waiting for the second stage");
                arm_deadline(n, config(n)->reenumerate_timeout);
                break;
        case CB_SESSION_BOOTED:
                session_over(n, "Done");
                break;
        case CB_SESSION_REFUSED:
                attempt_failed(n, reason); /* the ROM waits for a new boot message: the next attempt starts in place */
                break;
        case CB_SESSION_GONE:
                forget_device(n); /* the transfer said so: udev may say it later */
                session_left(n, &progress, reason);
                break;
        case CB_SESSION_STUCK: {
                _cleanup_free_ char *why = error ? cb_format("%s: %s", reason, strerror(-error)) : NULL;
                board_stuck(n, why ? why : reason);
                break;
        }
        case CB_SESSION_DRAINED:
                break; /* only asked for while draining, handled above */
        }
}

static void reset_done(void *userdata, int status, size_t actual) {
        struct cb_node *n = userdata;
        _cleanup_free_ char *reason = n->last_error ? strdup(n->last_error) : NULL;
        const char *why = reason ? reason : "the session failed";

        n->resetting = false;
        n->resets++;
        if (status == -ENODEV)
                node_log(n, LOG_INFO, "device reset; it re-enumerates");
        else if (status < 0)
                node_log_errno(n, LOG_WARNING, status, "device reset failed");
        else
                node_log(n, LOG_INFO, "device reset; it stayed on the bus");

        if (n->reset_purpose == RESET_RESYNC) {
                if (status == 0 && n->device_present)
                        start_stage(n);
                else
                        node_log(n, LOG_INFO, "waiting for the board to come back");
                return;
        }
        if (status == -ENODEV) {
                attempt_failed(n, why); /* the reset rebooted it: the next attempt waits for it */
                return;
        }
        board_stuck(n, why); /* the reset changed nothing: the next rung */
}

static void start_reset(struct cb_node *n, enum reset_purpose purpose) {
        int r;

        n->reset_tried = true;
        n->reset_purpose = purpose;
        r = n->device.transport.ops->reset(n->device.transport.impl, reset_done, n);
        if (r < 0) {
                node_log_errno(n, LOG_WARNING, r, "cannot reset the device");
                reset_done(n, r, 0);
                return;
        }
        n->resetting = true;
}

/* ---- deadlines ---- */

/* RETRYING: the backoff ended, or the board was due back. */
static void retrying_tick(struct cb_node *n) {
        usec_t now = now_usec();

        if (now < n->backoff_until) {
                arm_deadline(n, n->backoff_until - now);
                return;
        }
        if (n->resetting || n->power_op)
                return; /* their end decides */
        if (n->device_present) {
                start_stage(n);
                return;
        }
        if (!n->comeback_until)
                n->comeback_until = now + config(n)->reenumerate_timeout;
        if (now < n->comeback_until) {
                node_log(n, LOG_INFO, "waiting up to %.1fs for the board to come back", seconds(n->comeback_until - now));
                arm_deadline(n, n->comeback_until - now);
                return;
        }
        _cleanup_free_ char *why = cb_format("%s; then the board did not come back on its port within %.1fs",
                                             n->last_error ? n->last_error : "the attempt failed",
                                             seconds(config(n)->reenumerate_timeout));
        board_lost(n, why ? why : "the board did not come back", true);
}

static int on_deadline(sd_event_source *source, uint64_t usec, void *userdata) {
        struct cb_node *n = userdata;
        _cleanup_free_ char *why = NULL;

        switch (n->state) {
        case CB_NODE_LOADING:
                why = cb_format("the board did not come back in its second stage within %.1fs",
                                seconds(config(n)->reenumerate_timeout));
                board_lost(n, why ? why : "the board did not come back in its second stage", false);
                break;
        case CB_NODE_BOOTED:
                why = cb_format("no sign of the booted board (its USB gadget) within %.1fs of Done",
                                seconds(config(n)->up_timeout));
                if (!attempts_left(n) || !recover_by_power(n, PURPOSE_RECOVER, why ? why : "no gadget"))
                        give_up(n, "%s (if its kernel has no USB gadget, set UpTimeoutSec=0)", why ? why : "no gadget");
                break;
        case CB_NODE_RETRYING:
                retrying_tick(n);
                break;
        default:
                break; /* a deadline whose state has passed */
        }
        return 0;
}

/* ---- a board that shows up ---- */

/* A second stage with no boot of ours in progress (the daemon restarted mid-boot, say): it may be mid-file. */
static void found_mid_boot(struct cb_node *n) {
        if (recover_by_power(n, PURPOSE_FRESH, "found in its second stage with no boot in progress here"))
                return;
        if (config(n)->recover_by_reset && n->device.transport.ops->reset) {
                node_log(n, LOG_NOTICE, "found in its second stage with no boot in progress here; resetting it first");
                start_reset(n, RESET_RESYNC);
                return;
        }
        node_log(n, LOG_NOTICE, "found in its second stage with no boot in progress here; serving it as found");
        start_session(n, CB_SESSION_SERVER);
}

/* A fresh boot of the board present, from whatever stage it is in. */
static void boot_found(struct cb_node *n) {
        if (n->device.stage == CB_STAGE_SERVER)
                found_mid_boot(n);
        else
                start_stage(n);
}

/* Is a power operation running that takes the board away (so arrivals wait for its end)? */
static bool power_holds_boot(const struct cb_node *n) {
        return n->power_op && n->power_purpose != PURPOSE_ENSURE_ON;
}

/*
 * The first board after a power cycle: one that lost its power comes back in
 * its boot ROM. A second stage or a running board means the switch reported
 * the power off but did not cut it (a hub whose port status lies while VBUS
 * stays on): NULL, or why, for the last error.
 */
static void device_added_now(struct cb_node *n, const struct cb_node_device *device);

static char *restart_check(struct cb_node *n) {
        char *why;

        if (!n->expect_rom || !n->device_present)
                return NULL;
        n->expect_rom = false;
        if (n->device.stage == CB_STAGE_ROM)
                return NULL;
        why = cb_format("%s reported the power off, but the board did not restart: it came back as %s %04x:%04x, "
                        "not in its boot ROM; this switch does not really cut its power (use one that does, or "
                        "Power=command with a relay)",
                        n->power ? cb_power_describe(n->power) : "the switch",
                        n->device.stage == CB_STAGE_SERVER ? "its second stage" : "a running board", n->device.vid,
                        n->device.pid);
        if (why)
                node_log(n, LOG_WARNING, "%s", why);
        return why;
}

/* The SoC serial a 2711/2712 ROM shows: the board's identity wherever it is plugged. */
static void note_serial(struct cb_node *n, const char *serial) {
        char shown[4 * CB_SERIAL_MAX];

        if (!serial)
                return;
        if (cb_node_metadata_set_serial(&n->metadata, serial) < 0) {
                cb_text_escape_to(shown, sizeof shown, serial, strlen(serial));
                board_log(n, LOG_WARNING, "the board's ROM shows a serial that is not a SoC serial: %s", shown);
                return;
        }
        node_log(n, LOG_DEBUG, "SoC serial %s", n->metadata.serial);
}

void cb_node_device_added(struct cb_node *n, const struct cb_node_device *device) {
        n->device = *device;
        n->device.serial = NULL; /* only valid during this call */
        n->device_present = true;
        node_log(n, LOG_DEBUG, "device %04x:%04x appeared (%s)", device->vid, device->pid,
                 cb_proto_stage_name(device->stage));
        if (device->stage == CB_STAGE_ROM && cb_proto_rom_shows_soc_serial(device->pid))
                note_serial(n, device->serial);
        if (power_holds_boot(n) || n->resetting)
                return; /* the end of that operation looks at what is on the port */

        _cleanup_free_ char *not_restarted = restart_check(n);
        device_added_now(n, device);
        if (not_restarted)
                set_last_error(n, not_restarted); /* the boot goes on; the user hears what is wrong */
}

static void device_added_now(struct cb_node *n, const struct cb_node_device *device) {
        if (n->state == CB_NODE_OFF) {
                node_log(n, LOG_NOTICE, "a board appeared, but the node is powered off by request; not booting it "
                         "(use 'clusterbootctl power on %s')", n->name);
                return;
        }
        if (device->stage == CB_STAGE_NOT_PI) {
                node_up(n);
                return;
        }
        assert(!n->session); /* the manager reports a removal before a new device */

        switch (n->state) {
        case CB_NODE_FAILED:
                node_log(n, LOG_NOTICE, "the board is back in its %s stage, but the node has failed; "
                         "use 'clusterbootctl retry %s' to boot it", cb_proto_stage_name(device->stage), n->name);
                return;
        case CB_NODE_RETRYING:
                if (now_usec() >= n->backoff_until)
                        start_stage(n);
                return; /* else the backoff's end starts it */
        case CB_NODE_LOADING:
                if (device->stage == CB_STAGE_SERVER)
                        start_session(n, CB_SESSION_SERVER);
                else
                        attempt_failed(n, "the board came back in its ROM instead of its second stage");
                return;
        case CB_NODE_ROM:
        case CB_NODE_SERVING:
        case CB_NODE_BOOTED:
                attempt_failed(n, device->stage == CB_STAGE_ROM ? "the board restarted into its boot ROM"
                                                                : "the board restarted its second stage");
                return;
        default:
                /* absent, up, needs power: a board (replugged, or just plugged) boots from the start */
                fresh_boot(n);
                boot_found(n);
                return;
        }
}

void cb_node_device_removed(struct cb_node *n) {
        if (!n->device_present)
                return; /* already known (a transfer found it gone), or never there */
        forget_device(n);
        cb_power_op_board_left(n->power_op);

        if (n->session) {
                struct cb_session_progress p;
                _cleanup_free_ char *why = NULL;

                cb_session_get_progress(n->session, &p);
                if (p.current_file)
                        why = cb_format("the board left the bus while being sent %s (%" PRIu64 " of %" PRIu64 " bytes)",
                                        p.current_file, p.current_offset, p.current_size);
                p.current_file = NULL; /* the session's own text: gone with it */
                stop_session(n);
                session_left(n, &p, why ? why : n->state == CB_NODE_ROM ? "the board left the bus during its ROM stage"
                                                                       : "the board left the bus during its second stage");
                return;
        }
        if (n->state == CB_NODE_UP)
                enter_state(n, CB_NODE_ABSENT, "the board left the bus");
        else
                node_log(n, LOG_DEBUG, "device left the bus");
}

/* ---- power ---- */

static void power_event(void *userdata, enum cb_power_op_event event, const char *message) {
        struct cb_node *n = userdata;

        switch (event) {
        case CB_POWER_OP_EVENT_BOARD_OFF:
                n->powered = CB_NODE_POWERED_OFF;
                /* a device the kernel still lists for the port is dead: what shows up after power-on is new */
                forget_device(n);
                node_log(n, LOG_INFO, "%s", message);
                break;
        case CB_POWER_OP_EVENT_SWITCHED_ON:
                n->powered = CB_NODE_POWERED_ON;
                node_log(n, LOG_INFO, "%s", message);
                break;
        case CB_POWER_OP_EVENT_NOT_CUT:
                node_log(n, LOG_WARNING, "%s", message);
                (void) strdup_to(&n->power_not_cut, message);
                break;
        case CB_POWER_OP_EVENT_SWITCHED_OFF:
        case CB_POWER_OP_EVENT_WAITING_TURN:
                node_log(n, LOG_INFO, "%s", message);
                break;
        }
        notify_changed(n);
}

static void begin_user_action(struct cb_node *n, struct user_action a);

/* After a power-on: the node boots afresh, from whatever is on the port. */
static void boot_after_power_on(struct cb_node *n) {
        fresh_boot(n);
        if (n->device_present) {
                node_log(n, LOG_INFO, "powered on; the board is already on its port");
                boot_found(n);
        } else {
                enter_state(n, CB_NODE_ABSENT, "powered on; waiting for the board");
        }
}

/* A recovery power cycle that failed: nothing else here can restart the board. */
static void cycle_failed(struct cb_node *n, const char *reason, const char *message) {
        _cleanup_free_ char *why = cb_format("%s; the power cycle failed: %s", reason, message);

        needs_power(n, why ? why : message);
}

/* What the end of a power operation leads to. */
static void power_outcome(struct cb_node *n, enum power_purpose purpose, int result, const char *message) {
        const char *reason = n->last_error ? n->last_error : "the attempt failed";

        switch (purpose) {
        case PURPOSE_USER_OFF:
                if (result < 0) {
                        set_last_error(n, message);
                        enter_state(n, CB_NODE_OFF, "power off failed (the node is still kept off): %s", message);
                } else {
                        enter_state(n, CB_NODE_OFF, "powered off");
                }
                break;
        case PURPOSE_USER_ON:
        case PURPOSE_USER_REBOOT:
                if (result < 0) {
                        give_up(n, "cannot power on: %s", message);
                        break;
                }
                boot_after_power_on(n);
                break;
        case PURPOSE_ENSURE_ON:
                if (result < 0)
                        node_log(n, LOG_WARNING, "switching the power on failed: %s", message);
                break;
        case PURPOSE_RECOVER: {
                if (result < 0) {
                        cycle_failed(n, reason, message);
                        break;
                }
                _cleanup_free_ char *why = strdup(reason);
                next_attempt(n, why ? why : "the attempt failed", false); /* the board comes back in its ROM */
                break;
        }
        case PURPOSE_REVIVE:
                if (result < 0) {
                        cycle_failed(n, reason, message);
                        break;
                }
                n->backoff_until = now_usec();
                n->comeback_until = n->backoff_until + config(n)->reenumerate_timeout;
                enter_state(n, CB_NODE_RETRYING, "power cycled; waiting up to %.1fs for the board",
                            seconds(config(n)->reenumerate_timeout));
                retrying_tick(n);
                break;
        case PURPOSE_FRESH:
                if (result < 0) {
                        node_log(n, LOG_WARNING, "the power cycle failed (%s); serving the board as found", message);
                        if (n->device_present)
                                start_stage(n);
                        else
                                enter_state(n, CB_NODE_ABSENT, "waiting for the board");
                        break;
                }
                boot_after_power_on(n);
                break;
        case PURPOSE_NONE:
                break;
        }
}

static enum cb_power_op_kind purpose_kind(enum power_purpose purpose) {
        switch (purpose) {
        case PURPOSE_USER_OFF:
                return CB_POWER_OP_OFF;
        case PURPOSE_USER_ON:
        case PURPOSE_ENSURE_ON:
                return CB_POWER_OP_ON;
        default:
                return CB_POWER_OP_CYCLE;
        }
}

static void power_done(void *userdata, int result, const char *message) {
        struct cb_node *n = userdata;
        enum power_purpose purpose = n->power_purpose;
        cb_node_power_done_t done = n->power_done;
        void *done_userdata = n->power_done_userdata;
        _cleanup_free_ char *not_cut = TAKE_PTR(n->power_not_cut);

        n->power_op = cb_power_op_free(n->power_op);
        n->power_purpose = PURPOSE_NONE;
        n->power_done = NULL;
        n->power_done_userdata = NULL;
        if (result < 0)
                node_log(n, LOG_WARNING, "%s failed: %s", purpose == PURPOSE_USER_REBOOT ? "reboot" : "switching power",
                         message);

        if (result >= 0 && purpose_kind(purpose) == CB_POWER_OP_CYCLE)
                n->expect_rom = true;
        power_outcome(n, purpose, result, message);
        _cleanup_free_ char *not_restarted = restart_check(n); /* a board already there when the power came back */
        if (not_restarted)
                set_last_error(n, not_restarted);

        /* a cycle that did not cut the power ran, but a user hears what it was */
        if (result >= 0 && not_cut && purpose == PURPOSE_USER_REBOOT) {
                result = -EIO;
                message = not_cut;
        }
        if (done)
                done(done_userdata, result, message);

        if (!n->power_op && n->next.pending) {
                struct user_action next = n->next;
                n->next = (struct user_action){ 0 };
                begin_user_action(n, next);
        }
}

static const struct cb_power_op_callbacks power_callbacks = {
        .event = power_event,
        .done = power_done,
};

static int start_power(struct cb_node *n, enum power_purpose purpose, cb_node_power_done_t done, void *userdata) {
        const struct cb_power_op_settings settings = {
                .event = n->env->event,
                .backend = n->power,
                .queue = n->env->power_queue,
                .settle = config(n)->power_settle,
                .off_timeout = config(n)->power_off_timeout,
        };
        int r;

        assert(n->power && !n->power_op);
        if (purpose != PURPOSE_ENSURE_ON) {
                stop_session(n);
                (void) sd_event_source_set_enabled(n->deadline, SD_EVENT_OFF);
        }
        n->power_not_cut = xfree(n->power_not_cut);
        r = cb_power_op_start(purpose_kind(purpose), &settings, n->device_present, &power_callbacks, n, &n->power_op);
        if (r < 0) {
                node_log_errno(n, LOG_ERR, r, "cannot start switching the power");
                return r;
        }
        n->power_purpose = purpose;
        n->power_done = done;
        n->power_done_userdata = userdata;
        return 0;
}

static void begin_user_action(struct cb_node *n, struct user_action a) {
        enum power_purpose purpose;
        int r;

        switch (a.action) {
        case CB_NODE_POWER_OFF:
                purpose = PURPOSE_USER_OFF;
                break;
        case CB_NODE_POWER_ON:
                /* on a node that is not off, nothing holds the boot: an already-on switch stays on */
                purpose = n->state == CB_NODE_OFF ? PURPOSE_USER_ON : PURPOSE_ENSURE_ON;
                break;
        default:
                purpose = PURPOSE_USER_REBOOT;
                break;
        }
        r = start_power(n, purpose, a.done, a.userdata);
        if (r < 0) {
                if (a.done)
                        a.done(a.userdata, r, "cannot start switching the power");
                return;
        }
        switch (purpose) {
        case PURPOSE_USER_OFF:
                enter_state(n, CB_NODE_OFF, "powering off on request (%s)", cb_power_describe(n->power));
                break;
        case PURPOSE_USER_ON:
                node_log(n, LOG_INFO, "powering on on request");
                break;
        case PURPOSE_USER_REBOOT:
                n->boot_started = 0;
                enter_state(n, CB_NODE_REBOOTING, "rebooting on request: power off, %.1fs, power on",
                            seconds(config(n)->power_settle));
                break;
        default:
                break;
        }
}

int cb_node_power(struct cb_node *n, enum cb_node_power_action action, cb_node_power_done_t done,
                  void *userdata) {
        struct user_action a = { .action = action, .done = done, .userdata = userdata, .pending = true };

        assert((unsigned) action < _CB_NODE_POWER_ACTION_MAX);
        if (!n->power)
                return -EOPNOTSUPP;
        if (action == CB_NODE_REBOOT && n->state == CB_NODE_OFF && !n->power_op)
                return -EHOSTDOWN;
        if (n->resetting && !n->power_op)
                return -EBUSY;
        if (cb_power_op_only_queued(n->power_op) && n->power_purpose == PURPOSE_ENSURE_ON && !n->power_done) {
                /* a start-up power-on that has not begun gives way */
                n->power_op = cb_power_op_free(n->power_op);
                n->power_purpose = PURPOSE_NONE;
        }
        if (n->power_op) {
                /* the user's word comes right after the operation in flight; one such word waits */
                if (n->next.pending)
                        return -EBUSY;
                n->next = a;
                node_log(n, LOG_INFO, "%s requested; it follows the %s in progress",
                         action == CB_NODE_POWER_OFF ? "power off" : action == CB_NODE_POWER_ON ? "power on" : "reboot",
                         cb_power_op_kind_name(purpose_kind(n->power_purpose)));
        } else {
                begin_user_action(n, a);
        }
        if (action != CB_NODE_REBOOT && n->env->callbacks.power_requested)
                n->env->callbacks.power_requested(n, action == CB_NODE_POWER_OFF, n->env->callbacks.userdata);
        return 0;
}

void cb_node_power_at_start(struct cb_node *n, bool was_off) {
        if (!n->power || n->power_op)
                return;
        if (was_off) {
                if (start_power(n, PURPOSE_USER_OFF, NULL, NULL) >= 0)
                        enter_state(n, CB_NODE_OFF, "was powered off before the daemon restarted; switching it off");
                return;
        }
        (void) start_power(n, PURPOSE_ENSURE_ON, NULL, NULL);
}

int cb_node_set_power(struct cb_node *n, struct cb_power *power) {
        if (n->power_op) {
                cb_power_free(power);
                return -EBUSY;
        }
        cb_power_free(n->power);
        n->power = power;
        if (!power) {
                n->powered = CB_NODE_POWERED_UNKNOWN;
                if (n->state == CB_NODE_OFF) {
                        /* nothing could ever power it on again: it stops being kept off */
                        if (n->env->callbacks.power_requested)
                                n->env->callbacks.power_requested(n, false, n->env->callbacks.userdata);
                        boot_after_power_on(n);
                }
        }
        return 0;
}

bool cb_node_has_power(const struct cb_node *n) {
        return n->power != NULL;
}

/* ---- a user's retry ---- */

int cb_node_retry(struct cb_node *n) {
        switch (n->state) {
        case CB_NODE_OFF:
                return -EHOSTDOWN;
        case CB_NODE_UP:
                return -EALREADY;
        case CB_NODE_ROM:
        case CB_NODE_LOADING:
        case CB_NODE_SERVING:
        case CB_NODE_BOOTED:
        case CB_NODE_REBOOTING:
        case CB_NODE_POWER_CYCLING:
                return -EBUSY;
        default:
                break;
        }
        if (power_holds_boot(n) || n->resetting)
                return -EBUSY;
        fresh_boot(n);
        if (n->device_present) {
                node_log(n, LOG_INFO, "boot restarted on request");
                boot_found(n);
        } else {
                enter_state(n, CB_NODE_ABSENT, "boot restarted on request; waiting for the board");
        }
        return 0;
}

/* ---- life cycle and accessors ---- */

int cb_node_new(const struct cb_node_env *env, const char *name, const char *port, bool configured,
                struct cb_node **ret) {
        struct cb_node *n = calloc(1, sizeof *n);
        int r;

        if (!n)
                return -ENOMEM;
        n->env = env;
        n->name = strdup(name);
        n->port = strdup(port);
        if (!n->name || !n->port) {
                cb_node_free(n);
                return -ENOMEM;
        }
        r = sd_event_add_time_relative(env->event, &n->deadline, CLOCK_MONOTONIC, 0, 1000, on_deadline, n);
        if (r >= 0)
                r = sd_event_source_set_priority(n->deadline, CB_EVENT_PRIORITY_BOARDS);
        if (r >= 0)
                r = sd_event_source_set_enabled(n->deadline, SD_EVENT_OFF);
        if (r < 0) {
                cb_node_free(n);
                return r;
        }
        cb_log_ratelimit_init(&n->board_lines, CB_LOG_RATELIMIT_INTERVAL, CB_LOG_RATELIMIT_BURST, env->event,
                              board_lines_suppressed, n);
        n->configured = configured;
        n->state = CB_NODE_ABSENT;
        cb_node_history_add(&n->history, n->state, 0, configured ? "configured" : "seen on the bus");
        *ret = n;
        return 0;
}

int cb_node_drain(struct cb_node *n, void (*drained)(void *userdata), void *userdata) {
        n->draining = true;
        (void) sd_event_source_set_enabled(n->deadline, SD_EVENT_OFF);
        if (!n->session)
                return 1;
        if (cb_session_drain(n->session)) {
                cb_session_abort(n->session); /* waiting for a request the next daemon reads */
                n->session = NULL;
                node_log(n, LOG_INFO, "session stopped for the daemon's exit, between two requests");
                return 1;
        }
        node_log(n, LOG_INFO, "finishing the write in flight before the daemon exits");
        n->drained = drained;
        n->drained_userdata = userdata;
        return 0;
}

struct cb_node *cb_node_free(struct cb_node *n) {
        cb_node_power_done_t done, next_done;
        void *userdata, *next_userdata;

        if (!n)
                return NULL;
        done = n->power_done, userdata = n->power_done_userdata;
        next_done = n->next.pending ? n->next.done : NULL, next_userdata = n->next.userdata;
        cb_session_abort(n->session);
        /* the backend first: it drops a switch in flight without calling back, then the operation can go */
        n->power = cb_power_free(n->power);
        n->power_op = cb_power_op_free(n->power_op);
        sd_event_source_disable_unref(n->deadline);
        cb_log_ratelimit_done(&n->board_lines);
        free(n->power_not_cut);
        free(n->name);
        free(n->port);
        free(n->last_error);
        free(n);
        if (done)
                done(userdata, -ECANCELED, "the daemon is shutting down");
        if (next_done)
                next_done(next_userdata, -ECANCELED, "the daemon is shutting down");
        return NULL;
}

int cb_node_set_identity(struct cb_node *n, const char *name, bool configured) {
        _cleanup_free_ char *message = NULL;
        int r;

        if (streq_ptr(n->name, name) && n->configured == configured)
                return 0;
        message = cb_format("%s: was %s",
                            configured ? "renamed in the configuration"
                                       : "its [Node] section is gone; known by its port from now on",
                            n->name);
        if (!message)
                return -ENOMEM;
        r = strdup_to(&n->name, name);
        if (r < 0)
                return r;
        n->configured = configured;
        node_log(n, LOG_NOTICE, "%s", message);
        cb_node_history_add(&n->history, n->state, n->attempt, message);
        notify_changed(n);
        return 0;
}

int cb_node_follow_board(struct cb_node *n, const char *port, const char *serial) {
        _cleanup_free_ char *message = NULL;
        int r;

        if (streq_ptr(n->port, port))
                return 0;
        /* the serial matched a Serial= line, so it holds hex digits only: safe to log as it is */
        if (n->port[0])
                message = cb_format("its board (serial %s) is now on port %s; it was on %s", serial, port, n->port);
        else
                message = cb_format("its board (serial %s) is on port %s", serial, port);
        if (!message)
                return -ENOMEM;
        r = strdup_to(&n->port, port);
        if (r < 0)
                return r;
        node_log(n, LOG_NOTICE, "%s", message);
        cb_node_history_add(&n->history, n->state, n->attempt, message);
        notify_changed(n);
        return 0;
}

void cb_node_device_unusable(struct cb_node *n, const char *devnode, int error) {
        _cleanup_free_ char *message = NULL;

        /* EACCES: udev did not give the daemon's group the device (see clusterboot(8), TROUBLESHOOTING) */
        message = cb_format("a board is on the port, but its device %s cannot be used: %s%s", devnode,
                            strerror(-error),
                            error == -EACCES ? " (udev has not given the group clusterboot access to it)" : "");
        node_log(n, LOG_ERR, "%s", message ? message : CB_NO_MEMORY_TEXT); /* it names the error already */
        if (!message)
                return;
        set_last_error(n, message);
        cb_node_history_add(&n->history, n->state, n->attempt, message);
        notify_changed(n);
}

const struct cb_node_config *cb_node_section(const struct cb_node *n) {
        return n->configured ? cb_config_find_node_by_name(config(n), n->name) : NULL;
}

const char *cb_node_name(const struct cb_node *n) {
        return n->name;
}
const char *cb_node_port(const struct cb_node *n) {
        return n->port;
}
bool cb_node_configured(const struct cb_node *n) {
        return n->configured;
}
enum cb_node_state cb_node_state(const struct cb_node *n) {
        return n->state;
}
unsigned cb_node_attempt(const struct cb_node *n) {
        return n->attempt;
}
const char *cb_node_last_error(const struct cb_node *n) {
        return n->last_error;
}
bool cb_node_device_present(const struct cb_node *n) {
        return n->device_present;
}

const struct cb_node_metadata *cb_node_get_metadata(const struct cb_node *n) {
        return &n->metadata;
}

void cb_node_get_status(const struct cb_node *n, struct cb_node_status *ret) {
        struct cb_session_progress p = { 0 };

        if (n->session)
                cb_session_get_progress(n->session, &p);
        *ret = (struct cb_node_status){
                .state = n->state,
                .attempt = n->attempt,
                .last_error = n->last_error,
                .current_file = p.current_file,
                .current_offset = p.current_offset,
                .current_size = p.current_size,
                .bytes_served = n->bytes_served + p.bytes_served,
                .files_served = n->files_served + p.files_served,
                .step_retries = n->step_retries + p.step_retries,
                .resets = n->resets,
                .power_cycles = n->power_cycles,
                .powered = n->powered,
                .boot_started_usec = n->boot_started,
                .up_since_usec = n->up_since,
                .last_boot_duration_usec = n->last_boot_duration,
                .boots = n->boots,
                .n_events = cb_node_history_count(&n->history),
        };
}

const struct cb_node_event *cb_node_event_at(const struct cb_node *n, unsigned i) {
        return cb_node_history_at(&n->history, i);
}
