/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The commands that change things: reboot, power on|off, retry, reload. */
#include <stdlib.h>
#include <string.h>

#include "clusterboot/varlink.h"
#include "ctl.h"
#include "json-util.h"

/* The same method for each node, going on after a failure; the status is the first failure's. */
static int for_each_node(struct ctl *ctl, const char *method, char **names, int n) {
        int status = EXIT_OK;

        for (int i = 0; i < n; i++) {
                struct json_object *params = ctl_name_params(names[i]);
                struct vl_reply reply = { 0 };
                int r;

                if (!params)
                        return fail(EXIT_FAILED, "out of memory");
                r = ctl_call(ctl, method, params, &reply);
                json_object_put(params);
                if (r == EXIT_OK)
                        vl_reply_done(&reply);
                else if (status == EXIT_OK)
                        status = r;
                if (r == EXIT_NOT_RUNNING)
                        break;
        }
        return status;
}

/*
 * A power call for each node, all at once (one connection each): the daemon
 * answers each when its switch is done, and staggers the power-ons itself.
 * The status is the first failure's.
 */
static int power_each_node(struct ctl *ctl, const char *method, char **names, int n) {
        struct vl_client **clients = calloc((size_t) n, sizeof *clients);
        int status = EXIT_OK;

        if (!clients)
                return fail(EXIT_FAILED, "out of memory");
        for (int i = 0; i < n; i++) {
                struct json_object *params = ctl_name_params(names[i]);
                int r;

                if (!params) {
                        status = fail(EXIT_FAILED, "out of memory");
                        break;
                }
                status = ctl_connect_new(ctl, &clients[i]);
                if (status != EXIT_OK) {
                        json_object_put(params);
                        break;
                }
                r = vl_client_send(clients[i], method, params, false);
                json_object_put(params);
                if (r < 0) {
                        status = ctl_transport_failure(ctl, r);
                        break;
                }
        }
        for (int i = 0; i < n; i++) {
                struct vl_reply reply = { 0 };
                int r;

                if (!clients[i])
                        continue;
                if (status != EXIT_NOT_RUNNING) {
                        r = vl_client_receive(clients[i], VL_TIMEOUT_POWER, &reply);
                        if (r < 0)
                                r = ctl_transport_failure(ctl, r);
                        else if (reply.error)
                                r = ctl_reply_failure(&reply, ctl->verb);
                        else
                                r = EXIT_OK;
                        vl_reply_done(&reply);
                        if (r != EXIT_OK && status == EXIT_OK)
                                status = r;
                }
                vl_client_free(clients[i]);
        }
        free(clients);
        return status;
}

int verb_reboot(struct ctl *ctl, int argc, char **argv) {
        return power_each_node(ctl, CB_VL_METHOD_REBOOT, argv + 1, argc - 1);
}

int verb_retry(struct ctl *ctl, int argc, char **argv) {
        return for_each_node(ctl, CB_VL_METHOD_RETRY, argv + 1, argc - 1);
}

int verb_power(struct ctl *ctl, int argc, char **argv) {
        if (strcmp(argv[1], "on") == 0) {
                ctl->verb = "power on";
                return power_each_node(ctl, CB_VL_METHOD_POWER_ON, argv + 2, argc - 2);
        }
        if (strcmp(argv[1], "off") == 0) {
                ctl->verb = "power off";
                return power_each_node(ctl, CB_VL_METHOD_POWER_OFF, argv + 2, argc - 2);
        }
        return fail(EXIT_USAGE, "power: expected 'on' or 'off', got '%s'", argv[1]);
}

int verb_reload(struct ctl *ctl, int argc, char **argv) {
        struct vl_reply reply = { 0 };
        int r = ctl_call(ctl, CB_VL_METHOD_RELOAD, NULL, &reply);

        if (r == EXIT_OK)
                vl_reply_done(&reply);
        return r;
}

