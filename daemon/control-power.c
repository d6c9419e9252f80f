/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reboot, PowerOn and PowerOff: calls answered when the node has switched the power, not when they are made. */
#include "clusterboot/varlink.h"
#include "config-check.h"
#include "control-internal.h"

/*
 * A power call whose answer comes when the switch is done. It outlives its
 * client (who may hang up) and the server (the node still calls back when
 * it is freed at exit): whichever goes first unhooks it.
 */
struct pending_power {
        struct cb_control *control; /* NULL once the server is gone */
        struct pending_power *prev, *next;
        uint64_t client_id;
        bool oneway;
        const char *method;
        char name[128];
};

static void pending_free(struct pending_power *p) {
        if (p->control) {
                if (p->prev)
                        p->prev->next = p->next;
                else
                        p->control->pending = p->next;
                if (p->next)
                        p->next->prev = p->prev;
        }
        free(p);
}

static int answer_power(struct call *call, const char *name, int result, const char *message) {
        if (result >= 0)
                return reply(call, NULL);
        if (result == -ECANCELED)
                return reply_error(call, CB_VL_ERROR_POWER_FAILED, name, "%s: cancelled: %s", name,
                                   message ? message : "the daemon is shutting down");
        return reply_error(call, CB_VL_ERROR_POWER_FAILED, name, "%s: %s", name,
                           message ? message : strerror(-result));
}

/* The node finished a power call: answer the client (if it is still there), then read its next calls. */
static void power_done(void *userdata, int result, const char *message) {
        struct pending_power *p = userdata;
        struct client *cl;
        int r;

        cl = p->control ? find_client(p->control, p->client_id) : NULL;
        if (!cl) {
                pending_free(p);
                return;
        }
        cl->busy++;
        cl->waiting--;
        struct call call = { .client = cl, .method = p->method, .oneway = p->oneway };
        r = answer_power(&call, p->name, result, message);
        pending_free(p);
        if (r < 0) {
                client_log(LOG_WARNING, cl, "cannot answer: %s; dropping it", strerror(-r));
                client_drop(cl);
        } else {
                client_serve(cl);
        }
        cl->busy--;
        if (cl->dead) {
                client_free(cl);
                return;
        }
        (void) client_settle(cl);
}

/* Reboot, PowerOn, PowerOff: answered when the switch is done (power_done). */
int method_power(struct call *call, struct json_object *params) {
        struct cb_control *c = call->client->control;
        struct cb_node *node = NULL;
        enum cb_node_power_action action;
        struct pending_power *p;
        char name[128];
        int r;

        r = param_node(call, params, true, &node);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        snprintf(name, sizeof name, "%s", cb_node_name(node));
        if (strcmp(call->method, CB_VL_METHOD_REBOOT) == 0)
                action = CB_NODE_REBOOT;
        else if (strcmp(call->method, CB_VL_METHOD_POWER_ON) == 0)
                action = CB_NODE_POWER_ON;
        else
                action = CB_NODE_POWER_OFF;

        /* "off" is a promise across restarts: refuse it when the state directory could not keep it */
        if (action == CB_NODE_POWER_OFF && cb_node_has_power(node) && current_config(c)) {
                char why[512];

                if (cb_state_directory_check(current_config(c)->state_directory, why, sizeof why) < 0)
                        return reply_error(call, CB_VL_ERROR_POWER_FAILED, name,
                                           "%s was not switched off: %s, so it would not stay off across a "
                                           "restart of the daemon (see StateDirectory=)",
                                           name, why);
        }

        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        *p = (struct pending_power){
                .control = c,
                .next = c->pending,
                .client_id = call->client->id,
                .oneway = call->oneway,
                .method = call->method,
        };
        snprintf(p->name, sizeof p->name, "%s", name);
        if (c->pending)
                c->pending->prev = p;
        c->pending = p;

        /* the node answers from the loop, never from inside this call */
        r = cb_node_power(node, action, power_done, p);
        if (r < 0) {
                pending_free(p);
                if (r == -EOPNOTSUPP) {
                        if (!cb_node_section(node))
                                return reply_error(call, CB_VL_ERROR_NO_POWER_CONTROL, name,
                                                   "%s has no power control: it has no [Node] section; add one with "
                                                   "Port=%s and Power=usb-hub or Power=command",
                                                   name, cb_node_port(node));
                        return reply_error(call, CB_VL_ERROR_NO_POWER_CONTROL, name,
                                           "%s has no power control: set Power=usb-hub or Power=command in its "
                                           "[Node %s] section of the configuration",
                                           name, name);
                }
                if (r == -EHOSTDOWN)
                        return reply_error(call, CB_VL_ERROR_NODE_OFF, name,
                                           "%s is powered off; use 'power on' to boot it", name);
                if (r == -EBUSY)
                        return reply_error(call, CB_VL_ERROR_BUSY, name,
                                           "%s: its power is being switched (or it is being reset); try again when "
                                           "that is done", name);
                return reply_error(call, CB_VL_ERROR_POWER_FAILED, name, "%s: %s", name, strerror(-r));
        }
        client_log(LOG_INFO, call->client, "%s of %s requested", call->method + strlen(CB_VL_INTERFACE) + 1, name);
        call->client->waiting++;
        return 0;
}

void pending_power_detach_all(struct cb_control *c) {
        /* the nodes still answer these at exit; there is nobody to tell any more */
        for (struct pending_power *p = c->pending, *next; p; p = next) {
                next = p->next;
                p->control = NULL;
                p->prev = p->next = NULL;
        }
        c->pending = NULL;
}
