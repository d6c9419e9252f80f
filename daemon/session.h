/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * One boot stage of one board, spoken over a cb_transport: either the ROM
 * stage (send the loader, read the status) or the second-stage file server
 * (answer requests until Done). A session recovers in place what can be
 * recovered without losing step with the board: a control transfer is sent
 * or read again; a bulk write that stalled has the endpoint's halt cleared
 * and goes on at the exact byte the board has; a board that is quiet for a
 * while is waited for. Anything else ends the session with an outcome the
 * node decides on (see node.c: power-cycle, wait for a replug, next attempt).
 */

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "transport.h"
#include "util.h"

struct cb_file;
struct cb_session;

enum cb_session_kind {
        CB_SESSION_ROM,
        CB_SESSION_SERVER,
};

enum cb_session_outcome {
        CB_SESSION_LOADER_SENT, /* the ROM took the loader; the board re-enumerates next */
        CB_SESSION_BOOTED,      /* Done (or an empty name): the board starts its kernel */
        CB_SESSION_REFUSED,     /* the ROM refused the loader (status 0x80) and waits for a new boot message */
        CB_SESSION_STUCK,       /* the board cannot go on from where it is: it needs a fresh start */
        CB_SESSION_GONE,        /* the board left the bus mid-session */
        CB_SESSION_DRAINED,     /* stopped between two requests, as cb_session_drain() asked */
};

enum cb_session_event {
        CB_SESSION_EVENT_STEP_RETRY,    /* detail: what is repeated or resumed, and why */
        CB_SESSION_EVENT_FILE_SERVED,   /* detail: file name */
        CB_SESSION_EVENT_FILE_MISSING,  /* detail: file name */
        CB_SESSION_EVENT_NAME_REFUSED,  /* detail: why (warning) */
        CB_SESSION_EVENT_METADATA,      /* detail: "PROPERTY*VALUE" as the board sent it: raw, escape to show */
        CB_SESSION_EVENT_REQUEST,       /* detail: "GetFileSize(config.txt)"; debug */
};

struct cb_session_settings {
        usec_t control_timeout; /* a control OUT, before it is sent again */
        usec_t request_timeout; /* the board's next request (or the ROM's status): the board stopped asking */
        usec_t bulk_timeout;    /* the board takes no byte of a write for this long: it is stuck */
        usec_t bulk_poll;       /* one bulk transfer's own timeout: how often a quiet board is looked at */
        unsigned step_retries;  /* re-sends or resumes of one exchange before giving up on it */
        size_t bulk_chunk;
        enum cb_bulk_recovery bulk_recovery;
};

struct cb_session_callbacks {
        /* A board-supplied name to a file: 0 + new reference, -ENOENT, or -EPERM (refused; *reason set). */
        int (*lookup)(void *userdata, const char *name, struct cb_file **ret, const char **reason);
        void (*event)(void *userdata, enum cb_session_event event, int error, const char *detail);
        /*
         * The session ended. No transfer is in flight any more: the owner may
         * free the session from inside this call. `reason` says what happened
         * in a sentence (valid during the call); `error` is the errno behind
         * it, or 0.
         */
        void (*finished)(void *userdata, enum cb_session_outcome outcome, int error, const char *reason);
};

/* `loader` (ROM only) is the second-stage file; the session takes its own reference. */
int cb_session_new(enum cb_session_kind kind, const struct cb_transport *transport,
                   const struct cb_session_settings *settings, const struct cb_session_callbacks *callbacks, void *userdata,
                   struct cb_file *loader, struct cb_session **ret);
/*
 * ROM only, before cb_session_start(): the boot message carries this
 * signature (signed boot on 2835/2837) instead of zeros. -EINVAL unless
 * `size` is CB_BOOT_SIGNATURE_SIZE.
 */
int cb_session_set_boot_signature(struct cb_session *s, const uint8_t *signature, size_t size);
/* Issues the first transfer; -ENODEV if the device is already gone (nothing was sent then). */
int cb_session_start(struct cb_session *s);

/*
 * Ends the session without calling `finished`. If a transfer is in flight
 * it is cancelled and the session frees itself when the transfer returns,
 * so the caller must not touch it again either way.
 */
void cb_session_abort(struct cb_session *s);
/* Frees a session that has finished (or never started). */
void cb_session_free(struct cb_session *s);

/*
 * The daemon is stopping: a file session ends at the next request boundary
 * (after the write in flight, so the board is not left waiting for bytes)
 * with CB_SESSION_DRAINED; a ROM session runs to its end. Returns true if the
 * session is at a boundary now (waiting for the board's request: the caller
 * aborts it), false if `finished` will come.
 */
bool cb_session_drain(struct cb_session *s);

/* Progress, for status and logs. */
struct cb_session_progress {
        const char *current_file; /* NULL when not sending a file */
        uint64_t current_offset;
        uint64_t current_size;
        uint64_t bytes_served; /* bytes of file data the board took */
        unsigned files_served;
        unsigned step_retries; /* retries and resumes spent in this session */
        unsigned exchanges;    /* transfers that completed: 0 means the board never answered */
        bool loader_delivered; /* ROM: the loader's bulk data all went through; its status is awaited */
        bool awaiting_request; /* file session: every request was answered; the board's next one is awaited */
        bool ending;           /* file session: the board asked to end (an empty name) and is answered */
};
/* Of a finished session (inside `finished`, say): where it was when it ended. */
void cb_session_get_progress(const struct cb_session *s, struct cb_session_progress *ret);
