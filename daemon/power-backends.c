/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "power-backends.h"

#include "hub-link-usb.h"
#include "power-command.h"
#include "power-hub.h"

int cb_power_backend_new(sd_event *event, struct cb_usb *usb, const struct cb_config *config,
                         const struct cb_node_config *node, const char *port, struct cb_power **ret) {
        switch (node->power) {
        case CB_POWER_USB_HUB: {
                const struct cb_power_hub_settings s = {
                        .node = node->name,
                        .port = port,
                        .method = config->hub_power_method,
                        .timeout = config->control_timeout,
                };
                return cb_power_usb_hub_new(event, usb, &s, ret);
        }
        case CB_POWER_COMMAND: {
                const struct cb_power_command_settings s = {
                        .node_name = node->name,
                        .port = port,
                        .on_command = node->power_on_command,
                        .off_command = node->power_off_command,
                        .timeout = config->power_command_timeout,
                };
                return cb_power_command_new(event, &s, ret);
        }
        case CB_POWER_NONE:
                break;
        }
        *ret = NULL;
        return 0;
}
