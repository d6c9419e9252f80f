/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The interfaces io.clusterboot and org.varlink.service, in varlink's IDL. */
extern const char cb_control_interface_description[];
/* The rest of io.clusterboot: its description is both, one after the other. */
extern const char cb_control_interface_history_description[];
extern const char cb_control_service_interface_description[];
