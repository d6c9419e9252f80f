/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Long output on a terminal goes through a pager, as systemd's tools do:
 * $CLUSTERBOOT_PAGER, else $SYSTEMD_PAGER, else $PAGER, else less (with
 * LESS=FRSXMK unless set: it quits at once when the text fits, keeps
 * colours, chops long lines). Nothing changes into a pipe or a file, with
 * --no-pager, or when the pager is set to "" or "cat".
 */

#include <stdbool.h>

/* Standard output goes to the pager from now on, if one applies. */
void pager_open(void);
/* Ends the output and waits for the reader to quit the pager. */
void pager_close(void);
