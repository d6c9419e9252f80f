/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "json-util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* Calls and replies are flat objects; a deeper message is an attack on the parser's stack, not a request. */
#define JSON_DEPTH_MAX 16

void cb_msgbuf_init(struct cb_msgbuf *b, size_t max) {
        *b = (struct cb_msgbuf){ .max = max };
}

void cb_msgbuf_done(struct cb_msgbuf *b) {
        free(b->data);
        *b = (struct cb_msgbuf){ .max = b->max };
}

size_t cb_msgbuf_pending(const struct cb_msgbuf *b) {
        return b->end - b->start;
}

int cb_msgbuf_feed(struct cb_msgbuf *b, const void *data, size_t size) {
        if (size == 0)
                return 0;
        /* Handed-out messages are no longer referenced once more bytes arrive: reclaim their room. */
        if (b->start > 0) {
                memmove(b->data, b->data + b->start, b->end - b->start);
                b->end -= b->start;
                b->scanned -= b->start;
                b->start = 0;
        }
        if (size > b->allocated - b->end) {
                size_t want = b->end + size, n = b->allocated ? b->allocated : 4096;
                char *d;

                while (n < want)
                        n *= 2;
                d = realloc(b->data, n);
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->allocated = n;
        }
        memcpy(b->data + b->end, data, size);
        b->end += size;
        return 0;
}

int cb_msgbuf_next(struct cb_msgbuf *b, char **ret, size_t *ret_size) {
        size_t from = b->scanned > b->start ? b->scanned : b->start;
        char *nul = from < b->end ? memchr(b->data + from, '\0', b->end - from) : NULL;

        if (!nul) {
                b->scanned = b->end;
                /* Refuse as soon as the partial message is too long, not only once its end arrives. */
                return b->end - b->start > b->max ? -EMSGSIZE : 0;
        }
        size_t size = (size_t) (nul - (b->data + b->start));
        if (size > b->max)
                return -EMSGSIZE;
        *ret = b->data + b->start;
        *ret_size = size;
        b->start += size + 1;
        b->scanned = b->start;
        return 1;
}

static bool is_json_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int cb_json_parse_object(const char *text, size_t size, struct json_object **ret, const char **ret_reason) {
        struct json_tokener *tok;
        struct json_object *o;
        const char *reason = NULL;

        /* Surrounding whitespace is legal JSON; strict mode would count the trailing part as garbage. */
        while (size > 0 && is_json_space(text[size - 1]))
                size--;
        if (size == 0) {
                *ret_reason = "empty message";
                return -EBADMSG;
        }
        if (size > INT32_MAX) {
                *ret_reason = "message too large";
                return -EBADMSG;
        }
        if (!cb_text_valid_utf8(text, size)) {
                *ret_reason = "invalid UTF-8";
                return -EBADMSG;
        }

        tok = json_tokener_new_ex(JSON_DEPTH_MAX);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        o = json_tokener_parse_ex(tok, text, (int) size);
        if (!o) {
                enum json_tokener_error e = json_tokener_get_error(tok);
                /* a literal null parses to NULL with success */
                reason = e == json_tokener_success ? "not a JSON object"
                         : e == json_tokener_continue ? "incomplete JSON"
                         : json_tokener_error_desc(e);
        } else if (json_tokener_get_parse_end(tok) != size) {
                reason = "trailing data after the JSON object";
        } else if (!json_object_is_type(o, json_type_object)) {
                reason = "not a JSON object";
        }
        json_tokener_free(tok);
        if (reason) {
                json_object_put(o);
                *ret_reason = reason;
                return -EBADMSG;
        }
        *ret = o;
        return 0;
}

const char *cb_json_to_string(struct json_object *o, size_t *ret_size) {
        return json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                                 ret_size);
}

/* The value of `key`, or NULL when the key is absent or its value is null. */
static struct json_object *lookup(struct json_object *o, const char *key) {
        struct json_object *v = NULL;

        if (!o || !json_object_is_type(o, json_type_object))
                return NULL;
        if (!json_object_object_get_ex(o, key, &v))
                return NULL;
        return v;
}

int cb_json_get_string_len(struct json_object *o, const char *key, const char **ret, size_t *ret_len) {
        struct json_object *v = lookup(o, key);
        int len;

        if (!v)
                return 0;
        if (!json_object_is_type(v, json_type_string))
                return -EINVAL;
        len = json_object_get_string_len(v);
        *ret = json_object_get_string(v);
        *ret_len = len > 0 ? (size_t) len : 0;
        return 1;
}

int cb_json_get_string(struct json_object *o, const char *key, const char **ret) {
        const char *s = NULL;
        size_t len = 0;
        int r = cb_json_get_string_len(o, key, &s, &len);

        if (r <= 0)
                return r;
        if (strlen(s) != len)
                return -EINVAL;
        *ret = s;
        return 1;
}

int cb_json_get_bool(struct json_object *o, const char *key, bool *ret) {
        struct json_object *v = lookup(o, key);

        if (!v)
                return 0;
        if (!json_object_is_type(v, json_type_boolean))
                return -EINVAL;
        *ret = json_object_get_boolean(v);
        return 1;
}

int cb_json_get_u64(struct json_object *o, const char *key, uint64_t *ret) {
        struct json_object *v = lookup(o, key);

        if (!v)
                return 0;
        /* json-c keeps big positives as uint64, for which get_int64 saturates at INT64_MAX: still >= 0 */
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
                return -EINVAL;
        *ret = json_object_get_uint64(v);
        return 1;
}

int cb_json_get_object(struct json_object *o, const char *key, struct json_object **ret) {
        struct json_object *v = lookup(o, key);

        if (!v)
                return 0;
        if (!json_object_is_type(v, json_type_object))
                return -EINVAL;
        *ret = v;
        return 1;
}

int cb_json_get_array(struct json_object *o, const char *key, struct json_object **ret) {
        struct json_object *v = lookup(o, key);

        if (!v)
                return 0;
        if (!json_object_is_type(v, json_type_array))
                return -EINVAL;
        *ret = v;
        return 1;
}

const char *cb_json_string_or(struct json_object *o, const char *key, const char *fallback) {
        const char *s = NULL;
        return cb_json_get_string(o, key, &s) > 0 ? s : fallback;
}

uint64_t cb_json_u64_or(struct json_object *o, const char *key, uint64_t fallback) {
        uint64_t u = 0;
        return cb_json_get_u64(o, key, &u) > 0 ? u : fallback;
}

bool cb_json_bool_or(struct json_object *o, const char *key, bool fallback) {
        bool b = false;
        return cb_json_get_bool(o, key, &b) > 0 ? b : fallback;
}

int cb_json_add(struct json_object *o, const char *key, struct json_object *value) {
        if (!value)
                return -ENOMEM;
        if (json_object_object_add(o, key, value) < 0) {
                /* json-c keeps no reference on failure */
                json_object_put(value);
                return -ENOMEM;
        }
        return 0;
}

int cb_json_add_null(struct json_object *o, const char *key) {
        return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
}

struct json_object *cb_json_new_string(const char *value) {
        size_t len = strlen(value);
        char *escaped;
        struct json_object *s;

        if (cb_text_valid_utf8(value, len))
                return json_object_new_string(value);
        escaped = cb_text_escape(value, len);
        if (!escaped)
                return NULL;
        s = json_object_new_string(escaped);
        free(escaped);
        return s;
}

int cb_json_add_string(struct json_object *o, const char *key, const char *value) {
        if (!value)
                return cb_json_add_null(o, key);
        return cb_json_add(o, key, cb_json_new_string(value));
}

int cb_json_add_u64(struct json_object *o, const char *key, uint64_t value) {
        return cb_json_add(o, key, json_object_new_uint64(value));
}

int cb_json_add_bool(struct json_object *o, const char *key, bool value) {
        return cb_json_add(o, key, json_object_new_boolean(value));
}

int cb_json_add_u64_or_null(struct json_object *o, const char *key, bool present, uint64_t value) {
        return present ? cb_json_add_u64(o, key, value) : cb_json_add_null(o, key);
}
