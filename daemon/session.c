/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "session.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "bootfiles.h"
#include "bootproto.h"
#include "text.h"

enum step {
        STEP_IDLE,
        /* ROM */
        STEP_ROM_HEADER_CONTROL,
        STEP_ROM_HEADER_BULK,
        STEP_ROM_LOADER_CONTROL,
        STEP_ROM_LOADER_BULK,
        STEP_ROM_STATUS,
        /* second stage */
        STEP_READ_REQUEST,
        STEP_ANSWER_SIZE,  /* a bare control OUT carrying a size (or 0: not found, or the end) */
        STEP_FILE_CONTROL, /* announce the file's length */
        STEP_FILE_BULK,    /* its bytes, chunk by chunk */
        /* either */
        STEP_CLEAR_HALT,   /* the data endpoint's halt is being cleared; `after_halt` comes next */
};

struct cb_session {
        enum cb_session_kind kind;
        struct cb_transport transport;
        struct cb_session_settings settings;
        struct cb_session_callbacks callbacks;
        void *userdata;

        enum step step;
        enum step after_halt;
        bool in_flight;
        bool aborted;
        bool draining; /* end at the next request boundary */
        bool replaying; /* BulkRecovery=resend is sending a write again: its steps are not new exchanges */
        enum step ended_at; /* the step the session was at when it finished: what progress tells afterwards */
        unsigned retries_left;

        struct cb_file *loader;
        uint8_t boot_message[CB_BOOT_MESSAGE_SIZE];
        uint8_t in_buf[CB_FILE_REQUEST_SIZE];

        /* the file being answered: from GetFileSize, re-used by the ReadFile that follows */
        struct cb_file *file;
        char file_name[CB_FILE_NAME_FIELD + 1];
        /* the board's name as messages show it: escaped, it is untrusted bytes */
        char file_label[4 * CB_FILE_NAME_FIELD + 1];
        uint32_t answer_size;
        bool end_after_answer; /* the empty name: answer, then the session is over */

        /* the bulk write in progress (boot message, loader or file) */
        uint64_t offset;
        size_t chunk_len;
        usec_t quiet_since; /* the board last took a byte of it (or the write began) */

        uint64_t bytes_served;
        unsigned files_served;
        unsigned step_retries_total;
        unsigned exchanges;
};

static void transfer_done(void *userdata, int status, size_t actual);

static bool is_bulk(enum step step) {
        return step == STEP_ROM_HEADER_BULK || step == STEP_ROM_LOADER_BULK || step == STEP_FILE_BULK;
}

static bool is_control_in(enum step step) {
        return step == STEP_ROM_STATUS || step == STEP_READ_REQUEST;
}

/* The data of the write a bulk step carries. */
static const uint8_t *write_data(const struct cb_session *s) {
        switch (s->step) {
        case STEP_ROM_HEADER_BULK:
                return s->boot_message;
        case STEP_ROM_LOADER_BULK:
                return cb_file_data(s->loader);
        default:
                return cb_file_data(s->file);
        }
}

/* The write a step belongs to: its size and name. */
static uint64_t write_size_of(const struct cb_session *s, enum step step) {
        switch (step) {
        case STEP_ROM_HEADER_CONTROL:
        case STEP_ROM_HEADER_BULK:
                return sizeof s->boot_message;
        case STEP_ROM_LOADER_CONTROL:
        case STEP_ROM_LOADER_BULK:
                return cb_file_size(s->loader);
        default:
                return cb_file_size(s->file);
        }
}

static const char *write_name_of(const struct cb_session *s, enum step step) {
        switch (step) {
        case STEP_ROM_HEADER_CONTROL:
        case STEP_ROM_HEADER_BULK:
                return "the boot message";
        case STEP_ROM_LOADER_CONTROL:
        case STEP_ROM_LOADER_BULK:
                return "the loader";
        default:
                return s->file_label;
        }
}

static uint64_t write_size(const struct cb_session *s) {
        return write_size_of(s, s->step);
}

static const char *write_name(const struct cb_session *s) {
        return write_name_of(s, s->step);
}

/* "while sending kernel.img (3000000 of 5904128 bytes)": where the session is, for messages. */
static char *describe_step(const struct cb_session *s) {
        switch (s->step) {
        case STEP_ROM_HEADER_CONTROL:
        case STEP_ROM_HEADER_BULK:
                return cb_format("while sending the boot message");
        case STEP_ROM_LOADER_CONTROL:
                return cb_format("while announcing the loader");
        case STEP_ROM_STATUS:
                return cb_format("while reading the ROM's status");
        case STEP_READ_REQUEST:
                return cb_format("while waiting for the board's request");
        case STEP_ANSWER_SIZE:
                return cb_format("while answering for %s", s->file_name[0] ? s->file_label : "an empty name");
        case STEP_FILE_CONTROL:
                return cb_format("while announcing %s", s->file_label);
        case STEP_ROM_LOADER_BULK:
        case STEP_FILE_BULK:
                return cb_format("while sending %s (%" PRIu64 " of %" PRIu64 " bytes)", write_name(s), s->offset,
                                 write_size(s));
        case STEP_CLEAR_HALT:
                /* part of a write: the file is what the user needs to hear about */
                return cb_format("while sending %s (%" PRIu64 " of %" PRIu64 " bytes; clearing a halt)",
                                 write_name_of(s, s->after_halt), s->offset, write_size_of(s, s->after_halt));
        default:
                return cb_format("with nothing in flight");
        }
}

static void emit(struct cb_session *s, enum cb_session_event event, int error, const char *detail) {
        if (s->callbacks.event)
                s->callbacks.event(s->userdata, event, error, detail);
}

static void emitf(struct cb_session *s, enum cb_session_event event, int error, const char *format, ...)
        __attribute__((format(printf, 4, 5)));
static void emitf(struct cb_session *s, enum cb_session_event event, int error, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        _cleanup_free_ char *detail = cb_vformat(format, ap);
        va_end(ap);
        emit(s, event, error, detail ? detail : CB_NO_MEMORY_TEXT);
}

static void drop_file(struct cb_session *s) {
        s->file = cb_file_unref(s->file);
        s->file_name[0] = '\0';
        s->file_label[0] = '\0';
}

static void finish(struct cb_session *s, enum cb_session_outcome outcome, int error, const char *format, ...)
        __attribute__((format(printf, 4, 5)));
static void finish(struct cb_session *s, enum cb_session_outcome outcome, int error, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        _cleanup_free_ char *reason = cb_vformat(format, ap);
        va_end(ap);
        drop_file(s);
        s->ended_at = s->step;
        s->step = STEP_IDLE;
        s->callbacks.finished(s->userdata, outcome, error, reason ? reason : CB_NO_MEMORY_TEXT);
}

/* How long one bulk transfer may wait: until the board is due another look, or its quiet time is up. */
static usec_t bulk_wait(const struct cb_session *s) {
        usec_t quiet = now_usec() - s->quiet_since;
        usec_t left = quiet < s->settings.bulk_timeout ? s->settings.bulk_timeout - quiet : 0;

        return MAX(MIN(left, s->settings.bulk_poll), (usec_t) USEC_PER_MSEC);
}

static int issue(struct cb_session *s) {
        const struct cb_transport_ops *ops = s->transport.ops;
        void *impl = s->transport.impl;
        uint32_t length;
        int r;

        switch (s->step) {
        case STEP_ROM_HEADER_CONTROL:
                r = ops->control_out(impl, cb_proto_length_value(CB_BOOT_MESSAGE_SIZE),
                                     cb_proto_length_index(CB_BOOT_MESSAGE_SIZE), s->settings.control_timeout,
                                     transfer_done, s);
                break;
        case STEP_ROM_LOADER_CONTROL:
        case STEP_FILE_CONTROL:
                length = (uint32_t) cb_file_size(s->step == STEP_ROM_LOADER_CONTROL ? s->loader : s->file);
                r = ops->control_out(impl, cb_proto_length_value(length), cb_proto_length_index(length),
                                     s->settings.control_timeout, transfer_done, s);
                break;
        case STEP_ROM_HEADER_BULK:
        case STEP_ROM_LOADER_BULK:
        case STEP_FILE_BULK:
                s->chunk_len = (size_t) MIN(write_size(s) - s->offset, (uint64_t) s->settings.bulk_chunk);
                r = ops->bulk_out(impl, write_data(s) + s->offset, s->chunk_len, bulk_wait(s), transfer_done, s);
                break;
        case STEP_ROM_STATUS:
                r = ops->control_in(impl, cb_proto_length_value(CB_ROM_STATUS_SIZE),
                                    cb_proto_length_index(CB_ROM_STATUS_SIZE), s->in_buf, CB_ROM_STATUS_SIZE,
                                    s->settings.request_timeout, transfer_done, s);
                break;
        case STEP_READ_REQUEST:
                r = ops->control_in(impl, cb_proto_length_value(CB_FILE_REQUEST_SIZE),
                                    cb_proto_length_index(CB_FILE_REQUEST_SIZE), s->in_buf, CB_FILE_REQUEST_SIZE,
                                    s->settings.request_timeout, transfer_done, s);
                break;
        case STEP_ANSWER_SIZE:
                r = ops->control_out(impl, cb_proto_length_value(s->answer_size),
                                     cb_proto_length_index(s->answer_size), s->settings.control_timeout,
                                     transfer_done, s);
                break;
        case STEP_CLEAR_HALT:
                r = ops->clear_halt ? ops->clear_halt(impl, transfer_done, s) : -EOPNOTSUPP;
                break;
        default:
                return -EINVAL;
        }
        if (r >= 0)
                s->in_flight = true;
        return r;
}

/*
 * Moves to `step` and starts it. The retry budget is not renewed here: a
 * retry goes back to the same step, and renewing on the way forward would
 * let a board that fails the same way every time loop forever. It is
 * renewed only where an exchange with the board completed (new_exchange()),
 * or a write made progress.
 */
static int go(struct cb_session *s, enum step step) {
        s->step = step;
        return issue(s);
}

static int new_exchange(struct cb_session *s, enum step step) {
        if (s->draining && step == STEP_READ_REQUEST) {
                finish(s, CB_SESSION_DRAINED, 0, "stopped between two requests");
                return 0;
        }
        if (!s->replaying)
                s->retries_left = s->settings.step_retries;
        return go(s, step);
}

/* A write's first bulk transfer: its quiet clock starts now. */
static int begin_bulk(struct cb_session *s, enum step step) {
        s->offset = 0;
        s->quiet_since = now_usec();
        return go(s, step);
}

/* The board asked for `name`: resolve it, keeping the file for the ReadFile that follows. */
static void resolve(struct cb_session *s, const char *name) {
        const char *reason = NULL;
        int r;

        if (s->file && strcmp(s->file_name, name) == 0)
                return;
        drop_file(s);
        snprintf(s->file_name, sizeof s->file_name, "%s", name);
        (void) cb_text_escape_to(s->file_label, sizeof s->file_label, name, strlen(name));
        r = s->callbacks.lookup(s->userdata, name, &s->file, &reason);
        if (r == -EPERM)
                emitf(s, CB_SESSION_EVENT_NAME_REFUSED, r, "refused \"%s\": %s; answering not found", s->file_label,
                      reason ? reason : "not allowed");
        else if (r == -ENOENT)
                emit(s, CB_SESSION_EVENT_FILE_MISSING, 0, s->file_label);
        else if (r < 0)
                emitf(s, CB_SESSION_EVENT_NAME_REFUSED, r, "cannot read \"%s\"; answering not found", s->file_label);
        if (r < 0)
                s->file = NULL;
}

static int answer(struct cb_session *s, uint32_t size) {
        s->answer_size = size;
        return go(s, STEP_ANSWER_SIZE);
}

static int handle_request(struct cb_session *s, size_t actual) {
        struct cb_file_request req;
        int r;

        r = cb_proto_parse_request(s->in_buf, actual, &req);
        if (r == -EPROTO) {
                uint32_t cmd = (uint32_t) s->in_buf[0] | (uint32_t) s->in_buf[1] << 8 | (uint32_t) s->in_buf[2] << 16 |
                               (uint32_t) s->in_buf[3] << 24;
                finish(s, CB_SESSION_STUCK, -EPROTO, "protocol error: unknown command %" PRIu32 " from the board", cmd);
                return 0;
        }
        if (r < 0) {
                finish(s, CB_SESSION_STUCK, r, "protocol error: %zu-byte request", actual);
                return 0;
        }

        if (!req.name_ok) {
                emit(s, CB_SESSION_EVENT_NAME_REFUSED, -EINVAL,
                     "refused a file name without a terminating NUL; answering not found");
                drop_file(s);
                return answer(s, 0);
        }
        if (req.name_empty) {
                /* an empty name, whatever its command (Done included), is answered and ends the session */
                drop_file(s);
                s->end_after_answer = true;
                return answer(s, 0);
        }
        if (req.command == CB_FILE_DONE) {
                finish(s, CB_SESSION_BOOTED, 0, "Done");
                return 0;
        }
        if (req.name_metadata) {
                emit(s, CB_SESSION_EVENT_METADATA, 0, req.name + 1);
                return answer(s, 0);
        }

        resolve(s, req.name);
        emitf(s, CB_SESSION_EVENT_REQUEST, 0, "%s(%s)", cb_proto_command_name(req.command), s->file_label);

        /* A missing and an empty file look the same to the board: size 0. */
        if (req.command == CB_FILE_GET_SIZE)
                return answer(s, s->file ? (uint32_t) cb_file_size(s->file) : 0);
        if (!s->file || cb_file_size(s->file) == 0)
                return answer(s, 0);
        return go(s, STEP_FILE_CONTROL);
}

static const char *status_text(int status) {
        switch (status) {
        case -ETIMEDOUT:
                return "timed out";
        case -EPIPE:
                return "stalled";
        case -EIO:
                return "I/O error";
        case -EOVERFLOW:
                return "overflow";
        default:
                return "transfer error";
        }
}

static void stuck(struct cb_session *s, int status, const char *what) {
        _cleanup_free_ char *where = describe_step(s);

        finish(s, CB_SESSION_STUCK, status, "%s %s", what, where ? where : "");
}

static void gone(struct cb_session *s) {
        _cleanup_free_ char *where = describe_step(s);

        finish(s, CB_SESSION_GONE, -ENODEV, "the board left the bus %s", where ? where : "");
}

/* A submission failed before anything was sent: a board gone in between, or the end. */
static void submit_failed(struct cb_session *s, int r) {
        if (r == -ENODEV)
                gone(s);
        else
                stuck(s, r, "could not submit the transfer");
}

static void resubmit(struct cb_session *s) {
        int r = issue(s);

        if (r < 0)
                submit_failed(s, r);
}

/*
 * A bulk transfer of a write failed or timed out, having moved `actual`
 * bytes. The write goes on where the board is: a quiet board is given its
 * time; a stalled endpoint has its halt cleared first.
 */
static void bulk_failed(struct cb_session *s, int status, size_t actual) {
        bool resume = s->settings.bulk_recovery == CB_BULK_RESUME;
        usec_t now = now_usec();

        s->offset += actual;
        if (s->step != STEP_ROM_HEADER_BULK)
                s->bytes_served += actual;
        if (actual > 0) {
                s->quiet_since = now;
                /* resumed bytes are new to the board: progress. Re-sent ones are not. */
                if (resume)
                        s->retries_left = s->settings.step_retries;
        }
        if (status == -ETIMEDOUT && now - s->quiet_since >= s->settings.bulk_timeout) {
                _cleanup_free_ char *what =
                        cb_format("the board took no data for %.1fs", (double) s->settings.bulk_timeout / USEC_PER_SEC);
                stuck(s, status, what ? what : "the board took no data");
                return;
        }
        if (status == -ETIMEDOUT && resume) {
                resubmit(s); /* a busy board: look again, the write goes on where it is */
                return;
        }
        if (s->retries_left == 0) {
                stuck(s, status, status == -EPIPE ? "the board kept stalling" : "the transfer kept failing");
                return;
        }
        s->retries_left--;
        s->step_retries_total++;
        if (resume) {
                s->after_halt = s->step;
                emitf(s, CB_SESSION_EVENT_STEP_RETRY, status,
                      "%s while sending %s at byte %" PRIu64 " of %" PRIu64 "; clearing the halt and resuming there",
                      status_text(status), write_name(s), s->offset, write_size(s));
        } else {
                s->after_halt = s->kind == CB_SESSION_ROM ? STEP_ROM_HEADER_CONTROL : STEP_FILE_CONTROL;
                /* the boot message sent again is no progress: the budget lasts until the write is through */
                s->replaying = true;
                emitf(s, CB_SESSION_EVENT_STEP_RETRY, status,
                      "%s while sending %s at byte %" PRIu64 " of %" PRIu64 "; sending it again (BulkRecovery=resend)",
                      status_text(status), write_name(s), s->offset, write_size(s));
                if (status == -ETIMEDOUT) {
                        /* nothing is halted: announce again at once */
                        s->offset = 0;
                        s->quiet_since = now;
                        s->step = s->after_halt;
                        resubmit(s);
                        return;
                }
        }
        s->step = STEP_CLEAR_HALT;
        resubmit(s);
}

static void control_failed(struct cb_session *s, int status) {
        if (is_control_in(s->step) && status == -ETIMEDOUT) {
                /* a read waits long already; issuing it again would only risk losing step with the board */
                stuck(s, status, "timed out");
                return;
        }
        if (s->retries_left == 0) {
                stuck(s, status, status_text(status));
                return;
        }
        s->retries_left--;
        s->step_retries_total++;
        _cleanup_free_ char *where = describe_step(s);
        emitf(s, CB_SESSION_EVENT_STEP_RETRY, status, "%s %s; retrying (%u left)", status_text(status),
              where ? where : "", s->retries_left);
        resubmit(s);
}

static void fail_step(struct cb_session *s, int status, size_t actual) {
        if (status == -ENODEV) {
                gone(s);
                return;
        }
        if (is_bulk(s->step)) {
                bulk_failed(s, status, actual);
                return;
        }
        if (s->step == STEP_CLEAR_HALT) {
                /*
                 * A board takes CLEAR_FEATURE(ENDPOINT_HALT) whether its endpoint is halted or not: one
                 * whose link fails it is leaving the bus. Some host controllers end its transfers with
                 * EPROTO or ESHUTDOWN (libusb: an I/O error) until the kernel notices the disconnect,
                 * so ENODEV may never come; udev's removal does, later. It left (a brown-out's board
                 * comes back), rather than being stuck where only a power cut helps.
                 */
                if (status == -EIO || status == -EPROTO || status == -ESHUTDOWN)
                        gone(s);
                else
                        stuck(s, status, "could not clear the endpoint's halt");
                return;
        }
        control_failed(s, status);
}

static int advance(struct cb_session *s, size_t actual) {
        uint32_t status;

        switch (s->step) {
        case STEP_ROM_HEADER_CONTROL:
                return begin_bulk(s, STEP_ROM_HEADER_BULK);
        case STEP_ROM_LOADER_CONTROL:
                return begin_bulk(s, STEP_ROM_LOADER_BULK);
        case STEP_FILE_CONTROL:
                return begin_bulk(s, STEP_FILE_BULK);
        case STEP_ROM_HEADER_BULK:
        case STEP_ROM_LOADER_BULK:
        case STEP_FILE_BULK:
                s->offset += actual;
                if (s->step != STEP_ROM_HEADER_BULK)
                        s->bytes_served += actual;
                s->quiet_since = now_usec();
                if (s->settings.bulk_recovery == CB_BULK_RESUME)
                        s->retries_left = s->settings.step_retries;
                if (s->offset < write_size(s))
                        return issue(s);
                if (s->step != STEP_ROM_HEADER_BULK)
                        s->replaying = false; /* the write that failed is through */
                if (s->step == STEP_ROM_HEADER_BULK)
                        return new_exchange(s, STEP_ROM_LOADER_CONTROL);
                if (s->step == STEP_ROM_LOADER_BULK)
                        return new_exchange(s, STEP_ROM_STATUS);
                s->files_served++;
                emit(s, CB_SESSION_EVENT_FILE_SERVED, 0, s->file_label);
                return new_exchange(s, STEP_READ_REQUEST);
        case STEP_ROM_STATUS:
                if (cb_proto_parse_rom_status(s->in_buf, actual, &status) < 0) {
                        stuck(s, -EBADMSG, "short status");
                        return 0;
                }
                if (status != CB_ROM_STATUS_OK) {
                        finish(s, CB_SESSION_REFUSED, -EIO, "the ROM reported failure 0x%" PRIx32 " for the loader",
                               status);
                        return 0;
                }
                s->files_served++;
                finish(s, CB_SESSION_LOADER_SENT, 0, "loader accepted");
                return 0;
        case STEP_READ_REQUEST:
                s->retries_left = s->settings.step_retries; /* the answer is a new exchange */
                return handle_request(s, actual);
        case STEP_ANSWER_SIZE:
                if (s->end_after_answer) {
                        finish(s, CB_SESSION_BOOTED, 0, "the board ended the session");
                        return 0;
                }
                return new_exchange(s, STEP_READ_REQUEST);
        case STEP_CLEAR_HALT:
                /* resume: the write goes on at its offset; resend: it is announced (and sent) again from 0 */
                if (s->after_halt == STEP_ROM_HEADER_CONTROL || s->after_halt == STEP_FILE_CONTROL)
                        s->offset = 0;
                s->quiet_since = now_usec();
                return go(s, s->after_halt);
        default:
                return -EINVAL;
        }
}

static void transfer_done(void *userdata, int status, size_t actual) {
        struct cb_session *s = userdata;
        int r;

        s->in_flight = false;
        if (s->aborted) {
                cb_session_free(s);
                return;
        }
        if (status == 0 && is_bulk(s->step) && actual != s->chunk_len)
                status = -EIO; /* a short write: the rest is resumed like any other failure */
        if (status < 0) {
                fail_step(s, status, actual);
                return;
        }
        s->exchanges++;
        r = advance(s, actual);
        if (r < 0)
                submit_failed(s, r);
}

int cb_session_new(enum cb_session_kind kind, const struct cb_transport *transport,
                   const struct cb_session_settings *settings, const struct cb_session_callbacks *callbacks, void *userdata,
                   struct cb_file *loader, struct cb_session **ret) {
        struct cb_session *s;

        if (kind == CB_SESSION_ROM && (!loader || cb_file_size(loader) == 0 || cb_file_size(loader) > UINT32_MAX))
                return -EINVAL;
        if (!callbacks->finished || !callbacks->lookup || settings->bulk_chunk == 0 || settings->bulk_poll == 0)
                return -EINVAL;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->kind = kind;
        s->transport = *transport;
        s->settings = *settings;
        s->callbacks = *callbacks;
        s->userdata = userdata;
        if (loader) {
                s->loader = cb_file_ref(loader);
                cb_proto_boot_message((uint32_t) cb_file_size(loader), NULL, s->boot_message);
        }
        *ret = s;
        return 0;
}

int cb_session_set_boot_signature(struct cb_session *s, const uint8_t *signature, size_t size) {
        if (s->kind != CB_SESSION_ROM || !signature || size != CB_BOOT_SIGNATURE_SIZE)
                return -EINVAL;
        cb_proto_boot_message((uint32_t) cb_file_size(s->loader), signature, s->boot_message);
        return 0;
}

int cb_session_start(struct cb_session *s) {
        return new_exchange(s, s->kind == CB_SESSION_ROM ? STEP_ROM_HEADER_CONTROL : STEP_READ_REQUEST);
}

void cb_session_free(struct cb_session *s) {
        if (!s)
                return;
        cb_file_unref(s->file);
        cb_file_unref(s->loader);
        free(s);
}

void cb_session_abort(struct cb_session *s) {
        if (!s)
                return;
        if (!s->in_flight) {
                cb_session_free(s);
                return;
        }
        s->aborted = true;
        s->transport.ops->cancel(s->transport.impl);
}

bool cb_session_drain(struct cb_session *s) {
        if (s->kind == CB_SESSION_ROM)
                return false; /* a ROM left between its steps would wait for its status read */
        if (s->step == STEP_READ_REQUEST)
                return true;
        s->draining = true;
        return false;
}

void cb_session_get_progress(const struct cb_session *s, struct cb_session_progress *ret) {
        enum step at = s->step == STEP_IDLE ? s->ended_at : s->step;
        enum step step = at == STEP_CLEAR_HALT ? s->after_halt : at;
        bool loader = step == STEP_ROM_LOADER_CONTROL || step == STEP_ROM_LOADER_BULK;
        bool file = step == STEP_FILE_CONTROL || step == STEP_FILE_BULK;

        *ret = (struct cb_session_progress){
                .current_file = loader ? "loader" : file ? s->file_label : NULL,
                .current_offset = loader || file ? s->offset : 0,
                .current_size = loader ? cb_file_size(s->loader) : file && s->file ? cb_file_size(s->file) : 0,
                .bytes_served = s->bytes_served,
                .files_served = s->files_served,
                .step_retries = s->step_retries_total,
                .exchanges = s->exchanges,
                .loader_delivered = step == STEP_ROM_STATUS,
                .awaiting_request = step == STEP_READ_REQUEST,
                .ending = s->end_after_answer,
        };
}
