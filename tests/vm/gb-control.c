/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gadget-boards: the control FIFO (--control): plug, unplug, replug,
 * throttle and quit commands, one a line, and the board lists they name
 * (also used by the options).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gadget-boards.h"

int parse_board_list(const char *s, bool sel[MAX_BOARDS]) {
        memset(sel, 0, sizeof(bool) * MAX_BOARDS);
        if (strcmp(s, "all") == 0) {
                for (unsigned i = 0; i < opt.n_boards; i++)
                        sel[i] = true;
                return 0;
        }
        char *copy = strdup(s), *save = NULL;
        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                char *end;
                unsigned long a = strtoul(t, &end, 10), b = a;
                if (*end == '-')
                        b = strtoul(end + 1, &end, 10);
                if (*end || a < 1 || b < a || b > opt.n_boards) {
                        free(copy);
                        return -EINVAL;
                }
                for (unsigned long k = a; k <= b; k++)
                        sel[k - 1] = true;
        }
        free(copy);
        return 0;
}

static void command(char *line) {
        char verb[32], who[128];
        unsigned arg = 0;
        bool sel[MAX_BOARDS];
        int n = sscanf(line, "%31s %127s %u", verb, who, &arg);

        if (n < 1)
                return;
        if (strcmp(verb, "quit") == 0) {
                kill(getpid(), SIGTERM);
                return;
        }
        if (n < 2 || parse_board_list(who, sel) < 0) {
                blog(NULL, "control: cannot parse \"%s\"", line);
                return;
        }
        for (unsigned i = 0; i < opt.n_boards; i++) {
                struct gboard *g = &boards[i];
                if (!sel[i])
                        continue;
                pthread_mutex_lock(&g->lock);
                if (strcmp(verb, "plug") == 0) {
                        /* also revives a wedged board (off the bus for good after a fault), as reseating it would */
                        if (g->emu.stage == EMU_STAGE_OFF && g->emu.next_stage == EMU_STAGE_OFF && !g->connected) {
                                g->unplugged = false;
                                g->replug_at = 0;
                                g->power_cut = false;
                                emu_board_plug(&g->emu);
                                snprintf(g->last_event, sizeof g->last_event, "plugged in");
                                blog(g, "plugged in");
                        }
                } else if (strcmp(verb, "unplug") == 0 || strcmp(verb, "replug") == 0) {
                        /* replug B [MS]: out, and back in (in ROM, a fresh board) MS later (default --reconnect-ms);
                         * it shows on the bus then only if its port has power */
                        bool replug = verb[0] == 'r';
                        emu_board_unplug(&g->emu);
                        (void) emu_board_take_bus_action(&g->emu);
                        g->power_cut = false;
                        g->unplugged = true;
                        g->replug_at = replug ? now_ms() + (n == 3 ? arg : opt.reconnect_ms) : 0;
                        snprintf(g->last_event, sizeof g->last_event, "%s",
                                 replug ? "unplugged, to be plugged in again" : "unplugged");
                        blog(g, "%s", g->last_event);
                        if (g->connected)
                                request_disconnect(g);
                } else if (strcmp(verb, "throttle") == 0 && n == 3) {
                        g->throttle_kbps = arg;
                        blog(g, "bulk data throttled to %u KiB/s%s", arg, arg ? "" : " (no limit)");
                } else {
                        blog(NULL, "control: unknown command \"%s\"", line);
                        pthread_mutex_unlock(&g->lock);
                        return;
                }
                pthread_cond_broadcast(&g->cond);
                pthread_mutex_unlock(&g->lock);
        }
        status_changed();
}

void *control_main(void *arg) {
        char line[256];
        FILE *f;

        (void) arg;
        /* O_RDWR: the FIFO never reports end-of-file when a writer closes it */
        int fd = open(opt.control, O_RDWR | O_CLOEXEC);
        if (fd < 0 || !(f = fdopen(fd, "r"))) {
                blog(NULL, "cannot open the control FIFO %s: %s", opt.control, strerror(errno));
                return NULL;
        }
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\r\n")] = '\0';
                blog(NULL, "control: %s", line);
                command(line);
        }
        fclose(f);
        return NULL;
}
