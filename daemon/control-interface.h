/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The interfaces io.clusterboot and org.varlink.service, in varlink's IDL. */
extern const char cb_control_interface_description[];
extern const char cb_control_service_interface_description[];
