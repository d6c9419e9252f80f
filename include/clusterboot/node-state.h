/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Node states: the single list shared by the daemon, the control socket and
 * clusterbootctl, so that a state is spelled the same everywhere.
 */
enum cb_node_state {
        CB_NODE_ABSENT,   /* configured, no board seen on its port */
        CB_NODE_ROM,      /* boot ROM is being sent the second-stage loader */
        CB_NODE_SERVING,  /* second stage is asking for boot files */
        CB_NODE_BOOTED,   /* Done received; waiting for the kernel's gadget */
        CB_NODE_UP,       /* the board's own USB gadget appeared */
        CB_NODE_RETRYING, /* an attempt failed; waiting to try again */
        CB_NODE_FAILED,   /* attempts exhausted; last_error says why */
        CB_NODE_OFF,      /* powered off on request; not booted until power on */
        _CB_NODE_STATE_MAX,
};

static inline const char *cb_node_state_name(enum cb_node_state state) {
        static const char *const names[_CB_NODE_STATE_MAX] = {
                [CB_NODE_ABSENT] = "absent",
                [CB_NODE_ROM] = "rom",
                [CB_NODE_SERVING] = "serving",
                [CB_NODE_BOOTED] = "booted",
                [CB_NODE_UP] = "up",
                [CB_NODE_RETRYING] = "retrying",
                [CB_NODE_FAILED] = "failed",
                [CB_NODE_OFF] = "off",
        };
        return (unsigned) state < _CB_NODE_STATE_MAX ? names[state] : "invalid";
}

