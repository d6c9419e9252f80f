/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * JSON messages on a byte stream, shared by the daemon's control socket and
 * clusterbootctl: cutting NUL-terminated messages out of what arrives
 * (however it is split), parsing one strictly and with limits, and small
 * helpers to read and build json-c objects. No I/O and no logging here, so
 * both sides and the tests use the very same code.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* Accumulates stream bytes and hands out complete messages. */
struct cb_msgbuf {
        char *data;
        size_t start;   /* first byte of the next message */
        size_t end;     /* end of the bytes received */
        size_t scanned; /* bytes before this hold no NUL: not searched again */
        size_t allocated;
        size_t max;     /* longest message accepted (excluding the NUL) */
};

void cb_msgbuf_init(struct cb_msgbuf *b, size_t max);
void cb_msgbuf_done(struct cb_msgbuf *b);
/* Appends received bytes. Returns 0 or -ENOMEM. */
int cb_msgbuf_feed(struct cb_msgbuf *b, const void *data, size_t size);
/*
 * Returns 1 and the next complete message (NUL-terminated, valid until the
 * next feed), 0 when more bytes are needed, or -EMSGSIZE when the message
 * being received is longer than the maximum (the stream cannot be resynced:
 * drop it).
 */
int cb_msgbuf_next(struct cb_msgbuf *b, char **ret, size_t *ret_size);
/* Bytes received but not yet handed out (part of a message). */
size_t cb_msgbuf_pending(const struct cb_msgbuf *b);

/*
 * Parses one message: strict JSON, valid UTF-8 (RFC 3629: json-c's own check
 * lets overlong forms and surrogates through, so the bytes are checked
 * first), nesting depth limited, nothing but whitespace after the object,
 * and it must be an object. Returns 0, or -EBADMSG with a short reason in
 * *ret_reason (static string).
 */
int cb_json_parse_object(const char *text, size_t size, struct json_object **ret, const char **ret_reason);

/* Serialises compactly (no pretty printing, no "\/" escapes). The string belongs to `o`. */
const char *cb_json_to_string(struct json_object *o, size_t *ret_size);

/*
 * Typed lookups of an optional key. Return 1 (found, *ret set), 0 (absent or
 * JSON null; *ret untouched) or -EINVAL (present with another type). A
 * string with a NUL inside ("\u0000") is -EINVAL too: C would read it as
 * its prefix, a different string.
 */
int cb_json_get_string(struct json_object *o, const char *key, const char **ret);
/* The string with its length, NULs inside allowed (to say what was refused). */
int cb_json_get_string_len(struct json_object *o, const char *key, const char **ret, size_t *ret_len);
int cb_json_get_bool(struct json_object *o, const char *key, bool *ret);
int cb_json_get_u64(struct json_object *o, const char *key, uint64_t *ret);
int cb_json_get_object(struct json_object *o, const char *key, struct json_object **ret);
int cb_json_get_array(struct json_object *o, const char *key, struct json_object **ret);

/* Convenience reads for display code: the value, or the fallback if absent or of another type. */
const char *cb_json_string_or(struct json_object *o, const char *key, const char *fallback);
uint64_t cb_json_u64_or(struct json_object *o, const char *key, uint64_t fallback);
bool cb_json_bool_or(struct json_object *o, const char *key, bool fallback);

/*
 * Builders; each returns 0 or -ENOMEM, so they chain with ||. A NULL string
 * is added as JSON null. Strings go out as valid UTF-8 whatever they hold:
 * bytes that are not valid UTF-8 are written escaped (text.h), so one bad
 * string cannot make a whole reply unreadable.
 */
struct json_object *cb_json_new_string(const char *value);
int cb_json_add_string(struct json_object *o, const char *key, const char *value);
int cb_json_add_u64(struct json_object *o, const char *key, uint64_t value);
int cb_json_add_bool(struct json_object *o, const char *key, bool value);
int cb_json_add_null(struct json_object *o, const char *key);
/* Takes ownership of `value` (also on failure). */
int cb_json_add(struct json_object *o, const char *key, struct json_object *value);
/* Adds the value, or null when `present` is false. */
int cb_json_add_u64_or_null(struct json_object *o, const char *key, bool present, uint64_t value);

static inline void cb_json_putp(struct json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ __attribute__((cleanup(cb_json_putp)))
