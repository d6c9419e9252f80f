/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The interface io.clusterboot.Manager, and io.clusterboot for its errors, in varlink's IDL. */
extern const char cb_control_interface_description[];
extern const char cb_control_error_interface_description[];
