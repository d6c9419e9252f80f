/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Node states: the single list shared by the daemon, the control socket and
 * clusterbootctl, so that a state is spelled the same everywhere. A node is
 * in exactly one of them; it is what `clusterbootctl status` shows.
 */
enum cb_node_state {
        CB_NODE_ABSENT,        /* no board on its port */
        CB_NODE_ROM,           /* the boot ROM is being sent the second-stage loader */
        CB_NODE_LOADING,       /* the ROM took the loader; waiting for the board to come back in its second stage */
        CB_NODE_SERVING,       /* the second stage asks for boot files */
        CB_NODE_BOOTED,        /* Done received; waiting for the kernel's gadget */
        CB_NODE_UP,            /* the board's own USB gadget appeared */
        CB_NODE_RETRYING,      /* an attempt failed; the next one starts when the board is back */
        CB_NODE_REBOOTING,     /* a reboot asked for by a user: power off, settle, power on */
        CB_NODE_POWER_CYCLING, /* recovery: the board's power is being cut and restored */
        CB_NODE_NEEDS_POWER,   /* the board is stuck and only a power cut can help: replug it, or configure Power= */
        CB_NODE_FAILED,        /* attempts exhausted, or nothing can succeed; last_error says why */
        CB_NODE_OFF,           /* powered off on request; not booted until power on */
        _CB_NODE_STATE_MAX,
};

static inline const char *cb_node_state_name(enum cb_node_state state) {
        static const char *const names[_CB_NODE_STATE_MAX] = {
                [CB_NODE_ABSENT] = "absent",
                [CB_NODE_ROM] = "rom",
                [CB_NODE_LOADING] = "loading",
                [CB_NODE_SERVING] = "serving",
                [CB_NODE_BOOTED] = "booted",
                [CB_NODE_UP] = "up",
                [CB_NODE_RETRYING] = "retrying",
                [CB_NODE_REBOOTING] = "rebooting",
                [CB_NODE_POWER_CYCLING] = "power-cycling",
                [CB_NODE_NEEDS_POWER] = "needs-power",
                [CB_NODE_FAILED] = "failed",
                [CB_NODE_OFF] = "off",
        };
        return (unsigned) state < _CB_NODE_STATE_MAX ? names[state] : "invalid";
}
