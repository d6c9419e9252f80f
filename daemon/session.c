/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "session.h"

#include <stdio.h>

#include "bootfiles.h"
#include "bootproto.h"

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
        STEP_ANSWER_SIZE,  /* a bare control OUT carrying a size (or 0: not found) */
        STEP_FILE_CONTROL, /* announce the file's length */
        STEP_FILE_BULK,    /* its bytes, chunk by chunk */
};

struct cb_session {
        enum cb_session_kind kind;
        struct cb_transport transport;
        struct cb_session_settings settings;
        struct cb_session_hooks hooks;
        void *userdata;

        enum step step;
        bool in_flight;
        bool aborted;
        unsigned retries_left;

        struct cb_file *loader;
        uint8_t boot_message[CB_BOOT_MESSAGE_SIZE];
        uint8_t in_buf[CB_FILE_REQUEST_SIZE];

        /* the file being answered: from GetFileSize, re-used by the ReadFile that follows */
        struct cb_file *file;
        char file_name[CB_FILE_NAME_MAX + 1];
        uint32_t answer_size;
        uint64_t offset;
        size_t chunk_len;
        bool end_after_answer; /* the empty name: answer, then the session is over */

        uint64_t bytes_served;
        unsigned files_served;
        unsigned step_retries_total;
};

static void transfer_done(void *userdata, int status, size_t actual);

static const char *step_name(enum step step) {
        switch (step) {
        case STEP_ROM_HEADER_CONTROL:
        case STEP_ROM_HEADER_BULK:
                return "sending the boot message";
        case STEP_ROM_LOADER_CONTROL:
        case STEP_ROM_LOADER_BULK:
                return "sending the loader";
        case STEP_ROM_STATUS:
                return "reading the ROM's status";
        case STEP_READ_REQUEST:
                return "waiting for the board's request";
        case STEP_ANSWER_SIZE:
                return "answering GetFileSize";
        case STEP_FILE_CONTROL:
        case STEP_FILE_BULK:
                return "sending a file";
        default:
                return "idle";
        }
}

static void emit(struct cb_session *s, enum cb_session_event event, int error, const char *detail) {
        if (s->hooks.event)
                s->hooks.event(s->userdata, event, error, detail);
}

static void finish(struct cb_session *s, enum cb_session_outcome outcome, int error, const char *reason) {
        s->step = STEP_IDLE;
        s->hooks.finished(s->userdata, outcome, error, reason);
}

static void drop_file(struct cb_session *s) {
        s->file = cb_file_unref(s->file);
        s->file_name[0] = '\0';
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
        case STEP_ROM_HEADER_BULK:
                r = ops->bulk_out(impl, s->boot_message, sizeof s->boot_message, s->settings.bulk_timeout,
                                  transfer_done, s);
                break;
        case STEP_ROM_LOADER_CONTROL:
        case STEP_FILE_CONTROL:
                length = (uint32_t) cb_file_size(s->step == STEP_ROM_LOADER_CONTROL ? s->loader : s->file);
                r = ops->control_out(impl, cb_proto_length_value(length), cb_proto_length_index(length),
                                     s->settings.control_timeout, transfer_done, s);
                break;
        case STEP_ROM_LOADER_BULK:
        case STEP_FILE_BULK: {
                const struct cb_file *f = s->step == STEP_ROM_LOADER_BULK ? s->loader : s->file;
                uint64_t left = cb_file_size(f) - s->offset;

                s->chunk_len = (size_t) MIN(left, (uint64_t) s->settings.bulk_chunk);
                r = ops->bulk_out(impl, cb_file_data(f) + s->offset, s->chunk_len, s->settings.bulk_timeout,
                                  transfer_done, s);
                break;
        }
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
        default:
                return -EINVAL;
        }
        if (r >= 0)
                s->in_flight = true;
        return r;
}

/*
 * Moves to `step` and starts it. The retry budget is not renewed here: a
 * retry goes back to an earlier step, and renewing on the way forward again
 * would let a board that fails the same way every time loop forever. It is
 * renewed only where an exchange with the board completed (new_exchange()).
 */
static int go(struct cb_session *s, enum step step) {
        s->step = step;
        return issue(s);
}

static int new_exchange(struct cb_session *s, enum step step) {
        s->retries_left = s->settings.step_retries;
        return go(s, step);
}

static int start_file_write(struct cb_session *s) {
        s->offset = 0;
        return go(s, STEP_FILE_CONTROL);
}

/* The board asked for `name`: resolve it, keeping the file for the ReadFile that follows. */
static void resolve(struct cb_session *s, const char *name) {
        const char *reason = NULL;
        int r;

        if (s->file && strcmp(s->file_name, name) == 0)
                return;
        drop_file(s);
        r = s->hooks.lookup(s->userdata, name, &s->file, &reason);
        if (r == -EPERM) {
                char msg[CB_FILE_NAME_MAX + 128];
                snprintf(msg, sizeof msg, "refused \"%s\": %s; answering not found", name,
                         reason ? reason : "not allowed");
                emit(s, CB_SESSION_EVENT_NAME_REFUSED, r, msg);
        } else if (r == -ENOENT) {
                emit(s, CB_SESSION_EVENT_FILE_MISSING, 0, name);
        } else if (r < 0) {
                char msg[CB_FILE_NAME_MAX + 64];
                snprintf(msg, sizeof msg, "cannot read \"%s\"; answering not found", name);
                emit(s, CB_SESSION_EVENT_NAME_REFUSED, r, msg);
        }
        if (r < 0)
                s->file = NULL;
        snprintf(s->file_name, sizeof s->file_name, "%s", name);
}

static int handle_request(struct cb_session *s, size_t actual) {
        struct cb_file_request req;
        char detail[CB_FILE_NAME_MAX + 32];
        int r;

        r = cb_proto_parse_request(s->in_buf, actual, &req);
        if (r == -EPROTO) {
                uint32_t cmd = (uint32_t) s->in_buf[0] | (uint32_t) s->in_buf[1] << 8 | (uint32_t) s->in_buf[2] << 16 |
                               (uint32_t) s->in_buf[3] << 24;
                snprintf(detail, sizeof detail, "protocol error: unknown command %u from the board", cmd);
                finish(s, CB_SESSION_FAILED, -EPROTO, detail);
                return 0;
        }
        if (r < 0) {
                snprintf(detail, sizeof detail, "protocol error: %zu-byte request", actual);
                finish(s, CB_SESSION_FAILED, r, detail);
                return 0;
        }

        if (req.command == CB_FILE_DONE) {
                drop_file(s);
                finish(s, CB_SESSION_BOOTED, 0, "Done");
                return 0;
        }
        if (!req.name_ok) {
                emit(s, CB_SESSION_EVENT_NAME_REFUSED, -EINVAL,
                     "refused a file name without a terminating NUL; answering not found");
                drop_file(s);
                s->answer_size = 0;
                return go(s, STEP_ANSWER_SIZE);
        }
        if (req.name_empty) {
                /* an empty name is the board closing the session */
                drop_file(s);
                s->answer_size = 0;
                s->end_after_answer = true;
                return go(s, STEP_ANSWER_SIZE);
        }
        if (req.name_metadata) {
                emit(s, CB_SESSION_EVENT_METADATA, 0, req.name + 1);
                s->answer_size = 0;
                return go(s, STEP_ANSWER_SIZE);
        }

        snprintf(detail, sizeof detail, "%s(%s)", cb_proto_command_name(req.command), req.name);
        emit(s, CB_SESSION_EVENT_REQUEST, 0, detail);
        resolve(s, req.name);

        /* A missing and an empty file look the same to the board: size 0. */
        if (req.command == CB_FILE_GET_SIZE) {
                s->answer_size = s->file ? (uint32_t) cb_file_size(s->file) : 0;
                return go(s, STEP_ANSWER_SIZE);
        }
        if (!s->file || cb_file_size(s->file) == 0) {
                s->answer_size = 0;
                return go(s, STEP_ANSWER_SIZE);
        }
        return start_file_write(s);
}

/* Where a failed step starts again, or STEP_IDLE if repeating it is not safe. */
static enum step retry_point(const struct cb_session *s) {
        switch (s->step) {
        case STEP_ROM_HEADER_CONTROL:
        case STEP_ROM_HEADER_BULK:
        case STEP_ROM_LOADER_CONTROL:
        case STEP_ROM_LOADER_BULK:
                /* the ROM drops a write it did not finish: start the message again */
                return STEP_ROM_HEADER_CONTROL;
        case STEP_ROM_STATUS:
        case STEP_READ_REQUEST:
        case STEP_ANSWER_SIZE:
        case STEP_FILE_CONTROL:
                return s->step;
        case STEP_FILE_BULK:
                /* a half-sent file is sent again whole, announced again */
                return STEP_FILE_CONTROL;
        default:
                return STEP_IDLE;
        }
}

/* "sending a file (kernel.img, 3000000 of 5904128 bytes)": where the session was, for messages. */
static void describe_step(const struct cb_session *s, char *buf, size_t size) {
        if (s->step == STEP_FILE_BULK || s->step == STEP_ROM_LOADER_BULK)
                snprintf(buf, size, "%s (%s, %llu of %llu bytes)", step_name(s->step),
                         s->step == STEP_FILE_BULK ? s->file_name : "loader", (unsigned long long) s->offset,
                         (unsigned long long) cb_file_size(s->step == STEP_FILE_BULK ? s->file : s->loader));
        else if (s->step == STEP_FILE_CONTROL || s->step == STEP_ANSWER_SIZE)
                snprintf(buf, size, "%s (%s)", step_name(s->step), s->file_name);
        else
                snprintf(buf, size, "%s", step_name(s->step));
}

static void fail_step(struct cb_session *s, int status, const char *what) {
        char detail[CB_FILE_NAME_MAX + 200], where[CB_FILE_NAME_MAX + 100];
        enum step again;
        int r;

        describe_step(s, where, sizeof where);
        if (status == -ENODEV) {
                snprintf(detail, sizeof detail, "the board left the bus while %s", where);
                drop_file(s);
                finish(s, CB_SESSION_GONE, status, detail);
                return;
        }

        again = retry_point(s);
        if (again != STEP_IDLE && s->retries_left > 0) {
                unsigned left = --s->retries_left;
                snprintf(detail, sizeof detail, "%s while %s; retrying (%u left)", what, where, left);
                emit(s, CB_SESSION_EVENT_STEP_RETRY, status, detail);
                s->step_retries_total++;
                s->step = again;
                if (again == STEP_FILE_CONTROL || again == STEP_ROM_HEADER_CONTROL)
                        s->offset = 0;
                r = issue(s);
                if (r >= 0)
                        return;
                if (r == -ENODEV) {
                        fail_step(s, r, what); /* gone between the failure and the retry */
                        return;
                }
                status = r;
                what = "could not submit the transfer";
        }

        snprintf(detail, sizeof detail, "%s while %s", what, where);
        drop_file(s);
        finish(s, CB_SESSION_FAILED, status, detail);
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

static int advance(struct cb_session *s, size_t actual) {
        uint32_t status;

        switch (s->step) {
        case STEP_ROM_HEADER_CONTROL:
                s->step = STEP_ROM_HEADER_BULK;
                return issue(s);
        case STEP_ROM_HEADER_BULK:
                return go(s, STEP_ROM_LOADER_CONTROL);
        case STEP_ROM_LOADER_CONTROL:
                s->offset = 0;
                s->step = STEP_ROM_LOADER_BULK;
                return issue(s);
        case STEP_ROM_LOADER_BULK:
                s->offset += actual;
                s->bytes_served += actual;
                if (s->offset < cb_file_size(s->loader))
                        return issue(s);
                return new_exchange(s, STEP_ROM_STATUS);
        case STEP_ROM_STATUS:
                if (cb_proto_parse_rom_status(s->in_buf, actual, &status) < 0) {
                        fail_step(s, -EBADMSG, "short status");
                        return 0;
                }
                if (status != CB_ROM_STATUS_OK) {
                        char detail[64];
                        snprintf(detail, sizeof detail, "the ROM reported failure 0x%x for the loader", status);
                        finish(s, CB_SESSION_FAILED, -EIO, detail);
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
        case STEP_FILE_CONTROL:
                s->step = STEP_FILE_BULK;
                return issue(s);
        case STEP_FILE_BULK:
                s->offset += actual;
                s->bytes_served += actual;
                if (s->offset < cb_file_size(s->file))
                        return issue(s);
                s->files_served++;
                emit(s, CB_SESSION_EVENT_FILE_SERVED, 0, s->file_name);
                return new_exchange(s, STEP_READ_REQUEST);
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
        if (status == 0 && (s->step == STEP_ROM_HEADER_BULK || s->step == STEP_ROM_LOADER_BULK ||
                            s->step == STEP_FILE_BULK)) {
                size_t expected = s->step == STEP_ROM_HEADER_BULK ? CB_BOOT_MESSAGE_SIZE : s->chunk_len;
                if (actual != expected)
                        status = -EIO;
        }
        if (status < 0) {
                fail_step(s, status, status_text(status));
                return;
        }
        r = advance(s, actual);
        if (r < 0)
                fail_step(s, r, "could not submit the transfer");
}

int cb_session_new(enum cb_session_kind kind, const struct cb_transport *transport,
                   const struct cb_session_settings *settings, const struct cb_session_hooks *hooks, void *userdata,
                   struct cb_file *loader, struct cb_session **ret) {
        struct cb_session *s;

        if (kind == CB_SESSION_ROM && (!loader || cb_file_size(loader) == 0 || cb_file_size(loader) > UINT32_MAX))
                return -EINVAL;
        if (!hooks->finished || !hooks->lookup || settings->bulk_chunk == 0)
                return -EINVAL;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->kind = kind;
        s->transport = *transport;
        s->settings = *settings;
        s->hooks = *hooks;
        s->userdata = userdata;
        if (loader) {
                s->loader = cb_file_ref(loader);
                cb_proto_boot_message((uint32_t) cb_file_size(loader), NULL, s->boot_message);
        }
        *ret = s;
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

void cb_session_get_progress(const struct cb_session *s, struct cb_session_progress *ret) {
        bool sending = s->step == STEP_FILE_CONTROL || s->step == STEP_FILE_BULK || s->step == STEP_ROM_LOADER_CONTROL ||
                       s->step == STEP_ROM_LOADER_BULK;
        const struct cb_file *f = s->kind == CB_SESSION_ROM ? s->loader : s->file;

        *ret = (struct cb_session_progress){
                .current_file = sending ? (s->kind == CB_SESSION_ROM ? "loader" : s->file_name) : NULL,
                .current_offset = sending ? s->offset : 0,
                .current_size = sending && f ? cb_file_size(f) : 0,
                .bytes_served = s->bytes_served,
                .files_served = s->files_served,
                .step_retries = s->step_retries_total,
                .loader_delivered = s->step == STEP_ROM_STATUS,
        };
}
