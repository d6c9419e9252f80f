/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The `command` power backend: a node is switched by running the configured
 * PowerOnCommand= / PowerOffCommand=, e.g. `clusterctrl on p3`.
 *
 * The command line syntax (%n: node name, %p: port) is in command-line.h.
 *
 * Running (child-process.h): the program runs in its own process group,
 * its output is logged to the journal with the node's fields, and it gets
 * the daemon's environment (as it was when the backend was created) plus
 * CLUSTERBOOT_NODE=, CLUSTERBOOT_PORT= and CLUSTERBOOT_POWER=on|off. Exit
 * status 0 is success. After the timeout the group gets SIGTERM, then
 * SIGKILL once the kill grace has passed.
 */

#include <systemd/sd-event.h>

#include "command-line.h"
#include "power.h"
#include "util.h"

/* Used when the settings' timeout is 0. */
#define CB_POWER_COMMAND_TIMEOUT_DEFAULT (30 * USEC_PER_SEC)
/* Between SIGTERM and SIGKILL after a timeout; used when the settings' kill_grace is 0. */
#define CB_POWER_COMMAND_KILL_GRACE_DEFAULT (2 * USEC_PER_SEC)

struct cb_power_command_settings {
        const char *node_name;   /* for the journal fields and %n, $CLUSTERBOOT_NODE */
        const char *port;        /* %p, $CLUSTERBOOT_PORT */
        const char *on_command;  /* PowerOnCommand= text */
        const char *off_command; /* PowerOffCommand= text */
        usec_t timeout;          /* PowerCommandTimeoutSec=; 0 = CB_POWER_COMMAND_TIMEOUT_DEFAULT, USEC_INFINITY = none */
        usec_t kill_grace;       /* 0 = CB_POWER_COMMAND_KILL_GRACE_DEFAULT; the tests shorten it */
};

/*
 * Creates the backend. All settings but the timeouts are required; the
 * strings are copied. Returns -EINVAL if a command does not parse (the
 * configuration has already checked them with cb_command_split()).
 */
int cb_power_command_new(sd_event *event, const struct cb_power_command_settings *s, struct cb_power **ret);
