/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The control protocol between the daemon and clusterbootctl (and any
 * generic varlink client): the one place where method, field and error names
 * are spelled. Wire format is varlink: one JSON object per message,
 * terminated by a NUL byte, over a UNIX stream socket.
 *
 *   call:  {"method":"io.clusterboot.GetStatus","parameters":{...},"more":true?,"oneway":true?}
 *   reply: {"parameters":{...},"continues":true?}  or  {"error":"NAME","parameters":{...}}
 *
 * Node states are spelled by cb_node_state_name() (node-state.h).
 */

/* Where the daemon listens unless told otherwise (--socket=, $CLUSTERBOOT_SOCKET for the client). */
#define CB_VL_DEFAULT_SOCKET "/run/clusterboot/io.clusterboot"
/* The client's way to pick another socket. */
#define CB_VL_SOCKET_ENV "CLUSTERBOOT_SOCKET"
/*
 * Beside the socket, root's and the group's own (mode 0660, group
 * clusterboot): nobody else can connect to it, so nobody else's
 * connections queue before theirs. Clients try it first.
 */
#define CB_VL_PRIVATE_SUFFIX ".private"
/* Members may call the changing methods (root always may). */
#define CB_VL_CONTROL_GROUP "clusterboot"

/* Largest request the daemon accepts; a longer one is answered with an error and the client dropped. */
#define CB_VL_REQUEST_MAX (64u * 1024u)
/* Largest reply the client accepts (GetStatus of many nodes with their events is big, but not this big). */
#define CB_VL_REPLY_MAX (16u * 1024u * 1024u)

/* ---- message keys (varlink itself) ---- */
#define CB_VL_KEY_METHOD "method"
#define CB_VL_KEY_PARAMETERS "parameters"
#define CB_VL_KEY_MORE "more"
#define CB_VL_KEY_ONEWAY "oneway"
#define CB_VL_KEY_UPGRADE "upgrade"
#define CB_VL_KEY_CONTINUES "continues"
#define CB_VL_KEY_ERROR "error"

/* ---- interfaces and methods ---- */
/*
 * One interface holds the methods, their types and their errors: varlink's IDL
 * has interface names in lower case only, and an interface with no method
 * (errors alone) is no interface to its parsers.
 */
#define CB_VL_INTERFACE "io.clusterboot"
#define CB_VL_ERROR_INTERFACE CB_VL_INTERFACE
#define CB_VL_SERVICE_INTERFACE "org.varlink.service"

#define CB_VL_METHOD_GET_STATUS CB_VL_INTERFACE ".GetStatus" /* (name?) -> (daemon, nodes) */
#define CB_VL_METHOD_WATCH CB_VL_INTERFACE ".Watch"          /* more: (nodes) then (event)... */
#define CB_VL_METHOD_REBOOT CB_VL_INTERFACE ".Reboot"        /* (name) -> () */
#define CB_VL_METHOD_POWER_ON CB_VL_INTERFACE ".PowerOn"     /* (name) -> () */
#define CB_VL_METHOD_POWER_OFF CB_VL_INTERFACE ".PowerOff"   /* (name) -> () */
#define CB_VL_METHOD_RETRY CB_VL_INTERFACE ".Retry"          /* (name) -> () */
#define CB_VL_METHOD_RELOAD CB_VL_INTERFACE ".Reload"        /* () -> () */
#define CB_VL_METHOD_GET_METRICS CB_VL_INTERFACE ".GetMetrics" /* () -> (text) */
#define CB_VL_METHOD_GET_HISTORY CB_VL_INTERFACE ".GetHistory" /* (name?) -> (boots) */
#define CB_VL_METHOD_GET_INFO CB_VL_SERVICE_INTERFACE ".GetInfo"
#define CB_VL_METHOD_GET_INTERFACE_DESCRIPTION CB_VL_SERVICE_INTERFACE ".GetInterfaceDescription"

/* ---- errors; every io.clusterboot error carries "message" (one line for people) ---- */
#define CB_VL_ERROR_PERMISSION_DENIED CB_VL_ERROR_INTERFACE ".PermissionDenied"
#define CB_VL_ERROR_NO_SUCH_NODE CB_VL_ERROR_INTERFACE ".NoSuchNode"         /* + name */
#define CB_VL_ERROR_NO_POWER_CONTROL CB_VL_ERROR_INTERFACE ".NoPowerControl" /* + name */
/* A message that is not a varlink call (not JSON, not an object, no method, too large): the client is dropped. */
#define CB_VL_ERROR_INVALID_PARAMETER CB_VL_ERROR_INTERFACE ".InvalidParameter"
#define CB_VL_ERROR_BUSY CB_VL_ERROR_INTERFACE ".Busy"                       /* + name, state */
#define CB_VL_ERROR_NODE_OFF CB_VL_ERROR_INTERFACE ".NodeOff"                /* + name */
#define CB_VL_ERROR_POWER_FAILED CB_VL_ERROR_INTERFACE ".PowerFailed"        /* + name: the switch failed */
#define CB_VL_ERROR_RELOAD_FAILED CB_VL_ERROR_INTERFACE ".ReloadFailed"
/* One user has as many connections or watchers as it may (the message says which); root never gets it. */
#define CB_VL_ERROR_LIMIT_REACHED CB_VL_ERROR_INTERFACE ".LimitReached"
#define CB_VL_ERROR_METHOD_NOT_FOUND CB_VL_SERVICE_INTERFACE ".MethodNotFound"       /* + method */
#define CB_VL_ERROR_INTERFACE_NOT_FOUND CB_VL_SERVICE_INTERFACE ".InterfaceNotFound" /* + interface */
/* A call's parameters are wrong (unknown key, wrong type, missing): + parameter */
#define CB_VL_ERROR_SERVICE_INVALID_PARAMETER CB_VL_SERVICE_INTERFACE ".InvalidParameter"
#define CB_VL_ERROR_EXPECTED_MORE CB_VL_SERVICE_INTERFACE ".ExpectedMore"

/* ---- fields ---- */
/* error parameters */
#define CB_VL_FIELD_MESSAGE "message"
#define CB_VL_FIELD_PARAMETER "parameter"
#define CB_VL_FIELD_METHOD "method"
#define CB_VL_FIELD_INTERFACE "interface"
#define CB_VL_FIELD_ERRORS "errors"     /* ReloadFailed: the file's first errors, "file:line: message" */

/* GetStatus reply */
#define CB_VL_FIELD_DAEMON "daemon"
#define CB_VL_FIELD_NODES "nodes"

/* daemon object */
#define CB_VL_FIELD_VERSION "version"
#define CB_VL_FIELD_PID "pid"
#define CB_VL_FIELD_SUMMARY "summary"
#define CB_VL_FIELD_CONFIG_PATH "config_path"         /* null: built-in defaults */
#define CB_VL_FIELD_BOOT_DIRECTORY "boot_directory"
#define CB_VL_FIELD_SOCKET_PATH "socket_path"
#define CB_VL_FIELD_STARTED_USEC "started_usec"       /* CLOCK_REALTIME */
#define CB_VL_FIELD_UPTIME_USEC "uptime_usec"         /* daemon: since start; node: since up, or null */
#define CB_VL_FIELD_N_CLIENTS "clients"

/* node object (also the body of a Watch event) */
#define CB_VL_FIELD_NAME "name"
#define CB_VL_FIELD_PORT "port"
#define CB_VL_FIELD_STATE "state"                     /* cb_node_state_name() */
#define CB_VL_FIELD_CONFIGURED "configured"           /* has a [Node] section (false: AutoNodes=) */
#define CB_VL_FIELD_DEVICE_PRESENT "device_present"
#define CB_VL_FIELD_POWER "power"                     /* none, usb-hub, command */
/* true, false, or null (unknown): the last confirmed switch, else true while a board is on the bus */
#define CB_VL_FIELD_POWERED "powered"
#define CB_VL_FIELD_ATTEMPT "attempt"
#define CB_VL_FIELD_MAX_ATTEMPTS "max_attempts"
#define CB_VL_FIELD_LAST_ERROR "last_error"           /* null if none */
#define CB_VL_FIELD_BYTES_SERVED "bytes_served"       /* this boot, all stages and attempts */
#define CB_VL_FIELD_FILES_SERVED "files_served"
#define CB_VL_FIELD_CURRENT_FILE "current_file"       /* null if none */
#define CB_VL_FIELD_CURRENT_OFFSET "current_offset"
#define CB_VL_FIELD_CURRENT_SIZE "current_size"
#define CB_VL_FIELD_STEP_RETRIES "step_retries"
#define CB_VL_FIELD_RESETS "resets"
#define CB_VL_FIELD_POWER_CYCLES "power_cycles"     /* by recovery, this boot */
#define CB_VL_FIELD_BOOTS "boots"                     /* successful boots since the daemon started */
#define CB_VL_FIELD_BOOT_STARTED_USEC "boot_started_usec" /* CLOCK_REALTIME, null when not booting */
#define CB_VL_FIELD_BOOT_ELAPSED_USEC "boot_elapsed_usec" /* time in the current boot, null when not booting */
#define CB_VL_FIELD_UP_SINCE_USEC "up_since_usec"     /* CLOCK_REALTIME, null when not up */
#define CB_VL_FIELD_LAST_BOOT_DURATION_USEC "last_boot_duration_usec" /* first ROM to up; null if never */
#define CB_VL_FIELD_SERIAL "serial"                   /* the SoC serial a 2711/2712 ROM showed; null if none */
#define CB_VL_FIELD_METADATA "metadata"               /* the board's "*KEY*VALUE" properties of its last boot: {KEY: VALUE} */
#define CB_VL_FIELD_EVENTS "events"                   /* GetStatus with name only: oldest first */
#define CB_VL_FIELD_GADGET "gadget"                   /* GetStatus with name only: {interfaces: [{name, mac}], ttys: [name]} */

/* event object (node history and Watch) */
#define CB_VL_FIELD_REALTIME_USEC "realtime_usec"
/* Watch */
#define CB_VL_FIELD_EVENT "event"
#define CB_VL_FIELD_KIND "kind"                       /* "state" (a transition) or "progress" (a file served) */
#define CB_VL_FIELD_NODE "node"                       /* node name */
#define CB_VL_EVENT_KIND_STATE "state"
#define CB_VL_EVENT_KIND_PROGRESS "progress"

/* GetMetrics reply */
#define CB_VL_FIELD_TEXT "text"                       /* Prometheus text format */

/* GetHistory reply: CB_VL_FIELD_BOOTS, the boot objects, oldest first (kept across restarts) */
/* boot object: node, port, attempts, bytes_served, files_served, step_retries, resets, power_cycles, and */
#define CB_VL_FIELD_START_USEC "start_usec"           /* CLOCK_REALTIME */
#define CB_VL_FIELD_END_USEC "end_usec"               /* CLOCK_REALTIME; null while the boot runs */
#define CB_VL_FIELD_OUTCOME "outcome"                 /* the state it ended in, or "interrupted"; null while it runs */
#define CB_VL_FIELD_ATTEMPTS "attempts"
#define CB_VL_FIELD_UP_UNTIL_USEC "up_until_usec"     /* ended up: when it stopped being up; null: still, or not known */
#define CB_VL_FIELD_STAGES "stages"                   /* [{state, offset_usec, attempt}]: each stretch, in order */
#define CB_VL_FIELD_STAGES_DROPPED "stages_dropped"   /* stretches past the ones kept */
#define CB_VL_FIELD_OFFSET_USEC "offset_usec"         /* from the boot's start */
#define CB_VL_FIELD_DURATIONS "durations"             /* {state: usec}: time spent in each state */
#define CB_VL_FIELD_FAULTS "faults"                   /* [{offset_usec, attempt, state, reason, steps, recovered}] */
#define CB_VL_FIELD_FAULTS_DROPPED "faults_dropped"
#define CB_VL_FIELD_REASON "reason"
#define CB_VL_FIELD_STEPS "steps"                     /* [{action, offset_usec, attempt}]: reset, power-cycle, attempt */
#define CB_VL_FIELD_STEPS_DROPPED "steps_dropped"
#define CB_VL_FIELD_ACTION "action"
#define CB_VL_FIELD_RECOVERED "recovered"             /* the boot went on past the fault */

/* GetInfo reply */
#define CB_VL_FIELD_VENDOR "vendor"
#define CB_VL_FIELD_PRODUCT "product"
#define CB_VL_FIELD_URL "url"
#define CB_VL_FIELD_INTERFACES "interfaces"
#define CB_VL_FIELD_DESCRIPTION "description"
