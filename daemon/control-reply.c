/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Answering a call: the varlink replies and errors, and checking a call's parameters. */
#include <stdarg.h>

#include <json-c/json_object_iterator.h>

#include "clusterboot/varlink.h"
#include "control-internal.h"
#include "text.h"

/* A reply's message is one line for people. */
#define REPLY_MESSAGE_MAX 512
/* How much of a client's own string an error message repeats back. */
#define NAME_ECHO_MAX 128

/* ---- replies ---- */

/* Takes ownership of `parameters` (NULL: empty). */
int reply_full(struct call *call, const char *error, struct json_object *parameters, bool continues) {
        _cleanup_json_ struct json_object *params = parameters;
        _cleanup_json_ struct json_object *m = NULL;

        if (call->oneway)
                return 0;
        if (!params)
                params = json_object_new_object();
        m = json_object_new_object();
        if (!m || !params)
                return -ENOMEM;
        if ((error && cb_json_add_string(m, CB_VL_KEY_ERROR, error) < 0) ||
            cb_json_add(m, CB_VL_KEY_PARAMETERS, TAKE_PTR(params)) < 0 ||
            (continues && cb_json_add_bool(m, CB_VL_KEY_CONTINUES, true) < 0))
                return -ENOMEM;
        return client_queue_json(call->client, m);
}

int reply(struct call *call, struct json_object *parameters) {
        return reply_full(call, NULL, parameters, false);
}

/*
 * An io.clusterboot error: always with a one-line message for people; `name`
 * added when given. The message is cut (on a character boundary, with "…")
 * at REPLY_MESSAGE_MAX bytes: it is for a terminal line, not a transcript.
 */
int reply_error(struct call *call, const char *error, const char *name, const char *format, ...) {
        _cleanup_json_ struct json_object *p = json_object_new_object();
        _cleanup_free_ char *message = NULL;
        va_list ap;
        int r;

        if (!p)
                return -ENOMEM;
        va_start(ap, format);
        r = vasprintf(&message, format, ap);
        va_end(ap);
        if (r < 0) {
                message = NULL;
                return -ENOMEM;
        }
        (void) cb_text_cut(message, REPLY_MESSAGE_MAX);
        if ((name && cb_json_add_string(p, CB_VL_FIELD_NAME, name) < 0) ||
            cb_json_add_string(p, CB_VL_FIELD_MESSAGE, message) < 0)
                return -ENOMEM;
        return reply_full(call, error, TAKE_PTR(p), false);
}

/* A varlink service error with its one standard field, whose value (the client's own bytes) is escaped. */
int reply_service_error_len(struct call *call, const char *error, const char *field, const char *value,
                            size_t value_len) {
        _cleanup_json_ struct json_object *p = json_object_new_object();
        _cleanup_free_ char *escaped = value ? cb_text_escape(value, value_len) : NULL;

        if (!p || (value && !escaped))
                return -ENOMEM;
        if (field && cb_json_add_string(p, field, escaped) < 0)
                return -ENOMEM;
        return reply_full(call, error, TAKE_PTR(p), false);
}

int reply_service_error(struct call *call, const char *error, const char *field, const char *value) {
        return reply_service_error_len(call, error, field, value, value ? strlen(value) : 0);
}

int reply_invalid_parameter(struct call *call, const char *parameter) {
        return reply_service_error(call, CB_VL_ERROR_SERVICE_INVALID_PARAMETER, CB_VL_FIELD_PARAMETER, parameter);
}

/* ---- parameters ---- */

/* Refuses keys a method does not know: a typo must not silently mean "all nodes". */
int check_parameters(struct call *call, struct json_object *params, const char *const *allowed) {
        struct json_object_iterator it = json_object_iter_begin(params), end = json_object_iter_end(params);

        for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
                const char *key = json_object_iter_peek_name(&it);
                bool ok = false;

                for (size_t i = 0; allowed && allowed[i]; i++)
                        if (strcmp(key, allowed[i]) == 0)
                                ok = true;
                if (!ok) {
                        int r = reply_invalid_parameter(call, key);
                        return r < 0 ? r : -EINVAL;
                }
        }
        return 0;
}

/* The node named by the "name" parameter. Replies (and returns -EINVAL/-ENOENT) when there is none. */
int param_node(struct call *call, struct json_object *params, bool required, struct cb_node **ret) {
        struct cb_control *c = call->client->control;
        const char *name = NULL;
        int r;

        r = cb_json_get_string(params, CB_VL_FIELD_NAME, &name);
        if (r < 0 || (r == 0 && required) || (r > 0 && name[0] == '\0')) {
                r = reply_invalid_parameter(call, CB_VL_FIELD_NAME);
                return r < 0 ? r : -EINVAL;
        }
        if (r == 0) {
                *ret = NULL;
                return 0;
        }
        *ret = c->ops->find_node(c->userdata, name);
        if (!*ret) {
                /* the client's text, echoed: escaped, and cut so that it cannot crowd the message out */
                char shown[NAME_ECHO_MAX];

                (void) cb_text_escape_to(shown, sizeof shown, name, strlen(name));
                r = reply_error(call, CB_VL_ERROR_NO_SUCH_NODE, shown, "no node called '%s'", shown);
                return r < 0 ? r : -ENOENT;
        }
        return 0;
}

/* A message that is not a call: say why, then close, since nothing after it can be trusted. */
int reject_message(struct client *cl, const char *why) {
        struct call call = { .client = cl };
        int r;

        client_log(LOG_WARNING, cl, "sent an invalid message (%s); dropping it", why);
        cl->drop_after_flush = true;
        r = reply_error(&call, CB_VL_ERROR_INVALID_PARAMETER, NULL, "invalid varlink message: %s", why);
        return r == -ENOMEM ? r : 0;
}
