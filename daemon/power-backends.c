/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "power-backends.h"

#include <errno.h>
#include <stdlib.h>

#include "hub-link-usb.h"
#include "power-command.h"
#include "power-hub.h"
#include "worker.h"

struct cb_power_backends {
        sd_event *event;
        struct cb_usb *usb;
        struct cb_worker *sysfs; /* the hub ports' disable writes */
};

int cb_power_backends_new(sd_event *event, struct cb_usb *usb, struct cb_power_backends **ret) {
        struct cb_power_backends *b = calloc(1, sizeof *b);
        int r;

        if (!b)
                return -ENOMEM;
        b->event = sd_event_ref(event);
        b->usb = usb;
        r = cb_worker_new(event, &b->sysfs);
        if (r < 0) {
                cb_power_backends_free(b);
                return r;
        }
        *ret = b;
        return 0;
}

void cb_power_backends_stop(struct cb_power_backends *b) {
        if (b)
                cb_worker_stop(b->sysfs); /* the hub links keep it: it refuses what they ask after this */
}

struct cb_power_backends *cb_power_backends_free(struct cb_power_backends *b) {
        if (!b)
                return NULL;
        cb_worker_free(b->sysfs);
        sd_event_unref(b->event);
        free(b);
        return NULL;
}

int cb_power_backends_make(void *impl, const struct cb_config *config, const struct cb_node_config *node,
                           const char *port, struct cb_power **ret) {
        struct cb_power_backends *b = impl;

        switch (node->power) {
        case CB_POWER_USB_HUB: {
                const struct cb_power_hub_settings s = {
                        .node = node->name,
                        .port = port,
                        .method = config->hub_power_method,
                        .timeout = config->control_timeout,
                };
                return cb_power_usb_hub_new(b->event, b->usb, b->sysfs, &s, ret);
        }
        case CB_POWER_COMMAND: {
                const struct cb_power_command_settings s = {
                        .node_name = node->name,
                        .port = port,
                        .on_command = node->power_on_command,
                        .off_command = node->power_off_command,
                        .timeout = config->power_command_timeout,
                };
                return cb_power_command_new(b->event, &s, ret);
        }
        case CB_POWER_NONE:
                break;
        }
        *ret = NULL;
        return 0;
}
