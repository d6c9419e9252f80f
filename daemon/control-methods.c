/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The methods of io.clusterboot and org.varlink.service (the power
 * methods: control-power.c), their table, and the dispatch of a call to one
 * of them.
 */
#include "cb-build-config.h"
#include "clusterboot/varlink.h"
#include "control-interface.h"
#include "control-internal.h"
#include "gadget-info.h"

/* ---- status as JSON (one node: control-json.c) ---- */

/* All nodes (or the one given) as a JSON array. */
static int nodes_json(struct cb_control *c, const struct cb_node *only, bool with_events, struct json_object **ret) {
        _cleanup_json_ struct json_object *a = json_object_new_array();
        const struct cb_config *config = current_config(c);
        usec_t mono = now_usec(), real = realtime_usec();
        size_t n = only ? 1 : c->ops->n_nodes(c->userdata);

        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const struct cb_node *node = only ? only : c->ops->node(c->userdata, i);
                struct json_object *o = NULL;
                int r;

                if (!node)
                        continue;
                r = cb_control_node_json(node, config, with_events, mono, real, &o);
                if (r < 0)
                        return r;
                if (with_events) {
                        struct json_object *gadget = NULL;

                        /* how to reach the booted board, as udev told it: no sysfs read for a caller */
                        r = cb_gadget_table_json(c->ops->gadgets ? c->ops->gadgets(c->userdata) : NULL,
                                                 cb_node_port(node), &gadget);
                        if (r >= 0)
                                r = cb_json_add(o, CB_VL_FIELD_GADGET, gadget);
                        if (r < 0) {
                                json_object_put(o);
                                return r;
                        }
                }
                if (json_object_array_add(a, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(a);
        return 0;
}

static int daemon_json(struct cb_control *c, struct json_object **ret) {
        _cleanup_json_ struct json_object *o = json_object_new_object();
        const struct cb_config *config = current_config(c);
        char summary[256] = "";

        if (!o)
                return -ENOMEM;
        if (c->ops->summary)
                c->ops->summary(c->userdata, summary, sizeof summary);
        if (cb_json_add_string(o, CB_VL_FIELD_VERSION, CB_VERSION) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_PID, (uint64_t) getpid()) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_SUMMARY, summary) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_CONFIG_PATH, config ? config->path : NULL) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_BOOT_DIRECTORY, config ? config->boot_directory : NULL) < 0 ||
            cb_json_add_string(o, CB_VL_FIELD_SOCKET_PATH, c->socket_path) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_STARTED_USEC, c->started_realtime) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_UPTIME_USEC, now_usec() - c->started_monotonic) < 0 ||
            cb_json_add_u64(o, CB_VL_FIELD_N_CLIENTS, c->n_clients) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* ---- methods ---- */

static const char *const params_none[] = { NULL };
static const char *const params_name[] = { CB_VL_FIELD_NAME, NULL };
static const char *const params_interface[] = { CB_VL_FIELD_INTERFACE, NULL };

static int method_get_status(struct call *call, struct json_object *params) {
        struct cb_control *c = call->client->control;
        _cleanup_json_ struct json_object *p = json_object_new_object();
        struct json_object *daemon = NULL, *nodes = NULL;
        struct cb_node *node = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = param_node(call, params, false, &node);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        r = daemon_json(c, &daemon);
        if (r < 0)
                return r;
        r = cb_json_add(p, CB_VL_FIELD_DAEMON, daemon);
        if (r < 0)
                return r;
        /* the history only for one node: every node's 32 events would make the table's reply large for nothing */
        r = nodes_json(c, node, node != NULL, &nodes);
        if (r < 0)
                return r;
        r = cb_json_add(p, CB_VL_FIELD_NODES, nodes);
        if (r < 0)
                return r;
        return reply(call, TAKE_PTR(p));
}

static int method_watch(struct call *call, struct json_object *params) {
        struct client *cl = call->client;
        _cleanup_json_ struct json_object *p = NULL;
        struct json_object *nodes = NULL;
        int r;

        if (!call->more)
                return reply_service_error(call, CB_VL_ERROR_EXPECTED_MORE, NULL, NULL);
        if (call->oneway)
                return 0; /* a stream nobody reads */
        /* every event is sent to every watcher: one user's watchers are bounded, or it could take the table */
        if (!cl->privileged && uid_watchers(cl->control, cl->cred.uid) >= cl->control->max_watchers_per_uid) {
                client_log(LOG_NOTICE, cl, "Watch refused: its user has %zu watchers already",
                           uid_watchers(cl->control, cl->cred.uid));
                return reply_error(call, CB_VL_ERROR_LIMIT_REACHED, NULL,
                                   "user %u has %zu watchers, the most one user may have",
                                   (unsigned) cl->cred.uid, cl->control->max_watchers_per_uid);
        }
        p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        r = nodes_json(cl->control, NULL, false, &nodes);
        if (r < 0)
                return r;
        r = cb_json_add(p, CB_VL_FIELD_NODES, nodes);
        if (r < 0)
                return r;
        r = reply_full(call, NULL, TAKE_PTR(p), true);
        if (r < 0)
                return r;
        cl->watching = true;
        cl->control->n_watchers++;
        client_log(LOG_DEBUG, cl, "%s", "watching");
        return 0;
}

static int method_retry(struct call *call, struct json_object *params) {
        struct cb_node *node = NULL;
        char name[128];
        int r;

        r = param_node(call, params, true, &node);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        /* the node may log and notify watchers from inside the retry; keep what the reply needs */
        snprintf(name, sizeof name, "%s", cb_node_name(node));
        r = cb_node_retry(node);
        if (r == -EBUSY)
                return reply_error(call, CB_VL_ERROR_BUSY, name, "%s is booting (state %s); nothing to retry", name,
                                   cb_node_state_name(cb_node_state(node)));
        if (r == -EHOSTDOWN)
                return reply_error(call, CB_VL_ERROR_NODE_OFF, name, "%s is powered off; power it on instead", name);
        /* a retry starts a boot afresh, which an up board would not notice: only a power cut reboots it */
        if (r == -EALREADY)
                return reply_error(call, CB_VL_ERROR_BUSY, name, "%s is up; use reboot to boot it again", name);
        if (r < 0)
                return reply_error(call, CB_VL_ERROR_BUSY, name, "cannot retry %s: %s", name, strerror(-r));
        client_log(LOG_INFO, call->client, "boot of %s restarted", name);
        return reply(call, NULL);
}

/* At most this many of a refused file's errors travel in the reply; the log has them all. */
#define RELOAD_ERRORS_MAX 10

/* ReloadFailed with the file's first errors: the message holds the first, "errors" up to RELOAD_ERRORS_MAX. */
static int reply_reload_failed(struct call *call, const struct cb_config_report *report, int result) {
        _cleanup_json_ struct json_object *p = json_object_new_object();
        struct json_object *errors = json_object_new_array();
        char first[1024] = "", line[1024], message[1536];
        unsigned n = 0;

        if (!p || cb_json_add(p, CB_VL_FIELD_ERRORS, errors) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < report->n_messages && n < RELOAD_ERRORS_MAX; i++) {
                if (report->messages[i].warning)
                        continue;
                cb_config_message_format(report, &report->messages[i], line, sizeof line);
                if (n++ == 0)
                        snprintf(first, sizeof first, "%s", line);
                if (json_object_array_add(errors, json_object_new_string(line)) < 0)
                        return -ENOMEM;
        }
        if (report->n_errors > 1)
                snprintf(message, sizeof message, "%s (and %u more); the running configuration is kept", first,
                         report->n_errors - 1);
        else if (first[0])
                snprintf(message, sizeof message, "%s; the running configuration is kept", first);
        else
                snprintf(message, sizeof message, "the configuration cannot be loaded: %s; the running one is kept",
                         strerror(-result));
        if (cb_json_add_string(p, CB_VL_FIELD_MESSAGE, message) < 0)
                return -ENOMEM;
        return reply_full(call, CB_VL_ERROR_RELOAD_FAILED, TAKE_PTR(p), false);
}

static int method_reload(struct call *call, struct json_object *params) {
        struct cb_control *c = call->client->control;
        struct cb_config_report report = { 0 };
        int r;

        if (!c->ops->reload)
                return reply_error(call, CB_VL_ERROR_RELOAD_FAILED, NULL, "this daemon cannot reload");
        client_log(LOG_INFO, call->client, "%s", "reload requested");
        r = c->ops->reload(c->userdata, &report);
        if (r < 0)
                r = reply_reload_failed(call, &report, r);
        else
                r = reply(call, NULL);
        cb_config_report_done(&report);
        return r;
}

static int method_get_metrics(struct call *call, struct json_object *params) {
        struct cb_control *c = call->client->control;
        _cleanup_json_ struct json_object *p = NULL;
        char *text = NULL;
        int r;

        if (!c->ops->metrics)
                return reply_service_error(call, CB_VL_ERROR_METHOD_NOT_FOUND, CB_VL_FIELD_METHOD, call->method);
        r = c->ops->metrics(c->userdata, &text);
        if (r < 0)
                return r;
        p = json_object_new_object();
        r = !p ? -ENOMEM : cb_json_add_string(p, CB_VL_FIELD_TEXT, text);
        free(text);
        if (r < 0)
                return r;
        return reply(call, TAKE_PTR(p));
}

static int method_get_history(struct call *call, struct json_object *params) {
        struct cb_control *c = call->client->control;
        _cleanup_json_ struct json_object *p = NULL;
        struct json_object *boots = NULL;
        struct cb_node *node = NULL;
        int r;

        if (!c->ops->history)
                return reply_service_error(call, CB_VL_ERROR_METHOD_NOT_FOUND, CB_VL_FIELD_METHOD, call->method);
        r = param_node(call, params, false, &node);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        /* by its port: the boots it had under an earlier name are its own too */
        r = c->ops->history(c->userdata, node ? cb_node_port(node) : NULL, &boots);
        if (r < 0)
                return r;
        p = json_object_new_object();
        if (!p) {
                json_object_put(boots);
                return -ENOMEM;
        }
        r = cb_json_add(p, CB_VL_FIELD_BOOTS, boots);
        if (r < 0)
                return r;
        return reply(call, TAKE_PTR(p));
}

static int method_get_info(struct call *call, struct json_object *params) {
        _cleanup_json_ struct json_object *p = json_object_new_object();
        struct json_object *ifaces = json_object_new_array();

        if (!p || cb_json_add(p, CB_VL_FIELD_INTERFACES, ifaces) < 0)
                return -ENOMEM;
        if (json_object_array_add(ifaces, cb_json_new_string(CB_VL_SERVICE_INTERFACE)) < 0 ||
            json_object_array_add(ifaces, cb_json_new_string(CB_VL_INTERFACE)) < 0 ||
            cb_json_add_string(p, CB_VL_FIELD_VENDOR, "clusterboot") < 0 ||
            cb_json_add_string(p, CB_VL_FIELD_PRODUCT, "clusterboot") < 0 ||
            cb_json_add_string(p, CB_VL_FIELD_VERSION, CB_VERSION) < 0 ||
            cb_json_add_string(p, CB_VL_FIELD_URL, "man:clusterbootctl(1)") < 0)
                return -ENOMEM;
        return reply(call, TAKE_PTR(p));
}

static int method_get_interface_description(struct call *call, struct json_object *params) {
        _cleanup_json_ struct json_object *p = NULL;
        _cleanup_free_ char *whole = NULL;
        const char *iface = NULL, *text;

        if (cb_json_get_string(params, CB_VL_FIELD_INTERFACE, &iface) <= 0)
                return reply_invalid_parameter(call, CB_VL_FIELD_INTERFACE);
        if (strcmp(iface, CB_VL_INTERFACE) == 0) {
                if (asprintf(&whole, "%s%s", cb_control_interface_description,
                             cb_control_interface_history_description) < 0)
                        return -ENOMEM;
                text = whole;
        } else if (strcmp(iface, CB_VL_SERVICE_INTERFACE) == 0)
                text = cb_control_service_interface_description;
        else
                return reply_service_error(call, CB_VL_ERROR_INTERFACE_NOT_FOUND, CB_VL_FIELD_INTERFACE, iface);
        p = json_object_new_object();
        if (!p || cb_json_add_string(p, CB_VL_FIELD_DESCRIPTION, text) < 0)
                return -ENOMEM;
        return reply(call, TAKE_PTR(p));
}

struct method {
        const char *name;
        bool changing; /* needs root or the control group */
        const char *const *parameters;
        int (*run)(struct call *call, struct json_object *params);
};

static const struct method methods[] = {
        { CB_VL_METHOD_GET_STATUS, false, params_name, method_get_status },
        { CB_VL_METHOD_WATCH, false, params_none, method_watch },
        { CB_VL_METHOD_REBOOT, true, params_name, method_power },
        { CB_VL_METHOD_POWER_ON, true, params_name, method_power },
        { CB_VL_METHOD_POWER_OFF, true, params_name, method_power },
        { CB_VL_METHOD_RETRY, true, params_name, method_retry },
        { CB_VL_METHOD_RELOAD, true, params_none, method_reload },
        { CB_VL_METHOD_GET_METRICS, false, params_none, method_get_metrics },
        { CB_VL_METHOD_GET_HISTORY, false, params_name, method_get_history },
        { CB_VL_METHOD_GET_INFO, false, params_none, method_get_info },
        { CB_VL_METHOD_GET_INTERFACE_DESCRIPTION, false, params_interface, method_get_interface_description },
};

int handle_message(struct client *cl, const char *text, size_t size) {
        _cleanup_json_ struct json_object *m = NULL;
        struct json_object *params = NULL, *empty = NULL;
        const char *reason = NULL, *method = NULL;
        size_t method_len = 0;
        struct call call = { .client = cl };
        const struct method *meth = NULL;
        int r;

        r = cb_json_parse_object(text, size, &m, &reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return reject_message(cl, reason);
        if (cb_json_get_string_len(m, CB_VL_KEY_METHOD, &method, &method_len) <= 0)
                return reject_message(cl, "no \"method\" string");
        if (cb_json_get_object(m, CB_VL_KEY_PARAMETERS, &params) < 0)
                return reject_message(cl, "\"parameters\" is not an object");
        if (cb_json_get_bool(m, CB_VL_KEY_MORE, &call.more) < 0 ||
            cb_json_get_bool(m, CB_VL_KEY_ONEWAY, &call.oneway) < 0)
                return reject_message(cl, "\"more\" or \"oneway\" is not a boolean");
        call.method = method;
        cl->last_active = now_usec();

        /* by its whole length: "GetStatus\u0000junk" is another method, not GetStatus */
        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (strlen(methods[i].name) == method_len && memcmp(methods[i].name, method, method_len) == 0)
                        meth = &methods[i];
        if (!meth)
                return reply_service_error_len(&call, CB_VL_ERROR_METHOD_NOT_FOUND, CB_VL_FIELD_METHOD, method,
                                               method_len);

        if (meth->changing && !client_may_change(cl)) {
                client_log(LOG_NOTICE, cl, "%s refused: not root and not in the group " CB_VL_CONTROL_GROUP, method);
                return reply_error(&call, CB_VL_ERROR_PERMISSION_DENIED, NULL,
                                   "%s needs root or membership in the group '" CB_VL_CONTROL_GROUP "'",
                                   method + strlen(CB_VL_INTERFACE) + 1);
        }

        if (!params) {
                params = empty = json_object_new_object();
                if (!params)
                        return -ENOMEM;
        }
        r = check_parameters(&call, params, meth->parameters);
        if (r >= 0)
                r = meth->run(&call, params);
        else if (r == -EINVAL)
                r = 0; /* answered */
        json_object_put(empty);
        return r;
}
