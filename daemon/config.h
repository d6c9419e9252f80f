/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config-report.h"
#include "util.h"

/*
 * The configuration, parsed from an INI file (systemd-style):
 *
 *   [Daemon]
 *   BootDirectory=/var/lib/clusterboot/boot
 *   MaxAttempts=5
 *   [Node node3]
 *   Port=1-1.3
 *   BootDirectory=/var/lib/clusterboot/nodes/node3
 *
 * Every error names file:line; a configuration with any error is refused.
 * Comments are whole lines starting with '#' or ';'; a " #" inside a value
 * is part of the value (commands may hold one), and is warned about.
 */

enum cb_power_kind {
        CB_POWER_NONE,
        CB_POWER_USB_HUB,
        CB_POWER_COMMAND,
};

/*
 * HubPowerMethod=: how Power=usb-hub switches a port. "sysfs" writes the
 * port's `disable` file, so the kernel's hub driver leaves the port off;
 * "request" sends the hub class request itself (the kernel may switch a
 * port it owns back on); "auto" is sysfs where the kernel has the file.
 */
enum cb_hub_power_method {
        CB_HUB_POWER_AUTO,
        CB_HUB_POWER_SYSFS,
        CB_HUB_POWER_REQUEST,
};

/*
 * BulkRecovery=: after a bulk transfer failed (not merely timed out), how
 * the write goes on. Public reports do not settle which a board accepts
 * (protocol notes §7); the rest of the bytes is the only way that stays in
 * step with a board that still waits for them.
 */
enum cb_bulk_recovery {
        CB_BULK_RESUME, /* "resume": clear the halt, send the bytes the board does not have yet */
        CB_BULK_RESEND, /* "resend": clear the halt, announce the file again and send it whole */
};

struct cb_node_config {
        char *name;           /* from the section header: [Node NAME] */
        char *port;           /* USB port path, e.g. "1-1.3"; NULL if the node is named by Serial= alone */
        char *serial;         /* Serial=: the SoC serial of its board (lower-case hex), or NULL */
        char *boot_directory; /* searched before the daemon's BootDirectory; may be NULL */
        enum cb_power_kind power;
        char *power_on_command;  /* Power=command */
        char *power_off_command; /* Power=command */
        unsigned line;           /* line of the section header, for messages */
        char *interface_name;    /* InterfaceName=; see interface_name_set */
        bool interface_name_set; /* InterfaceName= given (empty: the interface keeps the kernel's name) */
        /* lines of the settings (0: not set), for messages about them */
        unsigned boot_directory_line, power_on_line, power_off_line, interface_name_line, serial_line;
};

struct cb_config {
        char *path;           /* file it was read from, or NULL for defaults */
        char *boot_directory; /* BootDirectory=, common to all nodes */
        char *state_directory;/* StateDirectory= */
        unsigned max_attempts;/* MaxAttempts=, >= 1 */
        bool auto_nodes;      /* AutoNodes=: boot boards on ports with no [Node] */
        unsigned step_retries;/* StepRetries=: re-sends of one safe step before escalating */
        bool recover_by_reset;/* RecoverByReset=: try a USB reset on a stuck board (for boards a reset reboots) */
        enum cb_bulk_recovery bulk_recovery; /* BulkRecovery=resume|resend */

        /* Timeouts (all "...Sec=" settings; accept "1.5", "500ms", "2s", "1min") */
        usec_t control_timeout;     /* ControlTimeoutSec=: host->board control OUT */
        usec_t request_timeout;     /* RequestTimeoutSec=: waiting for the board's next request / ROM status */
        usec_t bulk_timeout;        /* BulkTimeoutSec=: the board takes no byte of a write this long: stuck */
        usec_t reenumerate_timeout; /* ReenumerateTimeoutSec=: board to come back after a stage or reset */
        usec_t up_timeout;          /* UpTimeoutSec=: after Done, for the gadget to appear; 0 = do not wait */
        usec_t retry_delay;         /* RetryDelaySec=: first backoff between attempts */
        usec_t retry_delay_max;     /* RetryDelayMaxSec=: backoff cap */
        usec_t power_settle;        /* PowerSettleSec=: off time during a power cycle */
        usec_t power_on_delay;      /* PowerOnDelaySec= (or PowerOnDelay=): stagger between power-ons */
        usec_t power_off_timeout;   /* PowerOffTimeoutSec=: switched off, the board should leave the bus */
        usec_t power_command_timeout; /* PowerCommandTimeoutSec= */
        enum cb_hub_power_method hub_power_method; /* HubPowerMethod=auto|sysfs|request */
        char *metrics_directory; /* MetricsDirectory=: node-exporter's textfile directory; NULL: none */
        /* lines of the directories' settings (0: the default), for messages about them */
        unsigned boot_directory_line, state_directory_line, metrics_directory_line;

        struct cb_node_config *nodes;
        size_t n_nodes;
};

/* A configuration holding only the defaults. */
int cb_config_new_default(struct cb_config **ret);

/*
 * Parse `path`. A missing file is not an error when `missing_ok` (the
 * defaults apply). Every problem found goes into `report` (initialised here;
 * the caller frees it with cb_config_report_done(), also on failure) as
 * "path:line: message"; warnings do not refuse the file. Returns 0, or a
 * negative errno: -EINVAL for content errors, the errno of reading the file.
 */
int cb_config_load_report(const char *path, bool missing_ok, struct cb_config_report *report,
                          struct cb_config **ret);
/* The same, from a string; `name` is used in messages. */
int cb_config_load_string_report(const char *name, const char *text, struct cb_config_report *report,
                                 struct cb_config **ret);

/* The same, with every message logged (and a closing "N errors" line when refused). */
int cb_config_load(const char *path, bool missing_ok, struct cb_config **ret);
int cb_config_load_string(const char *name, const char *text, struct cb_config **ret);

/* "none", "usb-hub", "command": the spelling of Power= */
const char *cb_power_kind_name(enum cb_power_kind kind);
/* "resume", "resend": the spelling of BulkRecovery= */
const char *cb_bulk_recovery_name(enum cb_bulk_recovery recovery);
/* "auto", "sysfs", "request": the spelling of HubPowerMethod= */
const char *cb_hub_power_method_name(enum cb_hub_power_method method);

/* The name the node's gadget's network interface gets: InterfaceName=, else the node's name if it fits; NULL: none. */
const char *cb_node_config_interface_name(const struct cb_node_config *node);

const struct cb_node_config *cb_config_find_node_by_port(const struct cb_config *config, const char *port);
const struct cb_node_config *cb_config_find_node_by_name(const struct cb_config *config, const char *name);
/* The section whose Serial= is `serial` (any case), or NULL. */
const struct cb_node_config *cb_config_find_node_by_serial(const struct cb_config *config, const char *serial);
/* What Serial= accepts: 1 to 32 hex digits (the 2711/2712 ROMs show 8). */
bool cb_soc_serial_valid(const char *serial);

struct cb_config *cb_config_free(struct cb_config *config);
static inline void cb_config_freep(struct cb_config **c) {
        cb_config_free(*c);
}
#define _cleanup_config_ _cleanup_(cb_config_freep)

/* Parses a time span: "2", "1.5", "500ms", "2s", "1min", "0"; returns 0 or -EINVAL/-ERANGE. */
int cb_parse_timespan(const char *text, usec_t *ret);
