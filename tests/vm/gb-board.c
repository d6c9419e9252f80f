/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gadget-boards: a board's runner thread: its stages on and off the bus
 * (unplugged, back after a power cut, between stages), one raw-gadget
 * connection per stage; the host's port resets; and the ticker that
 * re-kicks runners out of blocking ioctls.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "gadget-boards.h"

/* Wakes the runner out of a blocking ioctl (raw-gadget waits interruptibly). */
void kick_runner(struct gboard *g) {
        if (g->runner_started)
                pthread_kill(g->runner, SIGUSR1);
}

/* Asks the board's current connection to end. Called with the lock held. */
void request_disconnect(struct gboard *g) {
        g->stop_conn = true;
        pthread_cond_broadcast(&g->cond);
        kick_runner(g);
}

void handle_reset(struct gboard *g) {
        pthread_mutex_lock(&g->lock);
        g->resets_seen++;
        if (!g->configured) {
                /* part of the host's enumeration */
                pthread_mutex_unlock(&g->lock);
                vlog(g, "bus reset during enumeration");
                return;
        }
        emu_board_reset(&g->emu);
        enum emu_bus_action a = emu_board_take_bus_action(&g->emu);
        snprintf(g->last_event, sizeof g->last_event, "port reset by the host: %s",
                 a != EMU_BUS_NONE ? "the board restarts" : "the board keeps its state");
        blog(g, "%s", g->last_event);
        g->hold_pending = false;
        if (a != EMU_BUS_NONE) {
                g->stop_conn = true;
        } else {
                /* the host enumerates again and sets the configuration; endpoints stay enabled */
                g->configured = false;
        }
        pthread_mutex_unlock(&g->lock);
        status_changed();
}

void *runner_main(void *arg) {
        struct gboard *g = arg;

        pthread_mutex_lock(&g->lock);
        for (;;) {
                if (g->quit)
                        break;
                if (g->emu.stage == EMU_STAGE_OFF) {
                        if (g->unplugged) {
                                /* out of its port: waits for "plug", or for the end of a "replug" */
                                if (!g->replug_at) {
                                        pthread_cond_wait(&g->cond, &g->lock);
                                        continue;
                                }
                                uint64_t now = now_ms();
                                if (now < g->replug_at) {
                                        struct timespec ts = deadline_in((unsigned) (g->replug_at - now));
                                        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
                                        continue;
                                }
                                g->replug_at = 0;
                                g->unplugged = false;
                                emu_board_plug(&g->emu);
                                snprintf(g->last_event, sizeof g->last_event, "plugged in again");
                                blog(g, "%s", g->last_event);
                                status_changed();
                                continue;
                        }
                        if (g->power_cut) {
                                /* a fresh board in its ROM; it attaches now and the host sees it when the
                                 * port has power again (dummy_hcd connects a bound gadget only then) */
                                g->power_cut = false;
                                g->dark = true;
                                emu_board_plug(&g->emu);
                                status_changed();
                                continue;
                        }
                        wait_off_bus(g);
                        continue;
                }
                g->stop_conn = false;
                pthread_mutex_unlock(&g->lock);
                run_connection(g);
                pthread_mutex_lock(&g->lock);
        }
        pthread_mutex_unlock(&g->lock);
        return NULL;
}

/* Re-kicks runners that must stop or whose unanswered request is due (a kick can miss a thread that
 * was about to block). */
void *ticker_main(void *arg) {
        (void) arg;
        while (!quitting) {
                uint64_t now = now_ms();
                for (unsigned i = 0; i < opt.n_boards; i++) {
                        struct gboard *g = &boards[i];
                        pthread_mutex_lock(&g->lock);
                        if ((g->connected && (g->stop_conn || g->quit)) ||
                            (g->hold_pending && g->in_fetch && now >= g->hold_deadline))
                                kick_runner(g);
                        pthread_mutex_unlock(&g->lock);
                }
                sleep_ms(10);
        }
        return NULL;
}
