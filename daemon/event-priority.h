/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The sd-event priorities of the daemon's sources, in one place. sd-event
 * dispatches the pending source with the lowest value first, one source
 * per iteration, so these say who waits when several are ready at once:
 *
 *   TURN      the control socket's turn (control.c): its timer, and a
 *             source of the socket raised for one dispatch once it has
 *             waited TURN_WAIT_USEC; above USB, or it would queue behind
 *             every pending libusb descriptor. Bounded by the budgets.
 *             The unprivileged clients of a turn go after the listener and
 *             the privileged ones (TURN_OTHERS), still before the boards.
 *   USB       libusb's file descriptors and timeout, the USB resync and
 *             the workers' completions (a device opened, a port reset):
 *             a board's transfer that completed is taken before anything
 *             else, before the deadline that would give up on it too.
 *   BOARDS    node deadlines, power operations and their queue, hub power
 *             requests, power commands: the default priority, as before
 *             this table existed.
 *   HOTPLUG   udev's monitor: after libusb's completions, since a board's
 *             last answer of a stage (the ROM status, Done) and its
 *             removal can be ready together and the answer must be first.
 *   CONTROL   the control socket's listener, its accept pause and every
 *             client: last, so that no client, however busy, makes a
 *             board wait. A client yields after a bounded amount of work
 *             (control-client.c), so boards get the loop back quickly.
 *
 * Everything else (signals, the metrics and history files) runs at
 * SD_EVENT_PRIORITY_NORMAL, with the boards.
 */

#include <systemd/sd-event.h>

#define CB_EVENT_PRIORITY_TURN (SD_EVENT_PRIORITY_NORMAL - 20)
#define CB_EVENT_PRIORITY_TURN_OTHERS (SD_EVENT_PRIORITY_NORMAL - 19)
#define CB_EVENT_PRIORITY_USB (SD_EVENT_PRIORITY_NORMAL - 10)
#define CB_EVENT_PRIORITY_BOARDS SD_EVENT_PRIORITY_NORMAL
#define CB_EVENT_PRIORITY_HOTPLUG (SD_EVENT_PRIORITY_NORMAL + 10)
#define CB_EVENT_PRIORITY_CONTROL (SD_EVENT_PRIORITY_NORMAL + 20)
