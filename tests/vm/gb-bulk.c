/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gadget-boards: a board's bulk OUT thread, which reads the endpoint into
 * the model (sized to what the announced write still lacks; a booted
 * board's network function drops what it reads), and starting and
 * stopping it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include <linux/usb/raw_gadget.h>

#include "gadget-boards.h"

/* Where a planned fault caught the write; called right after the model refused, with the lock held. */
static void fault_struck(struct gboard *g, bool in_rom) {
        const struct emu_board *b = &g->emu;
        uint64_t host_sent = (uint64_t) b->write_got + g->kept_len;

        if (!g->fault_seen)
                g->fault_ms = now_ms() - t_start; /* from the first strike: a sticky fault strikes again */
        g->fault_seen = true;
        snprintf(g->fault_write, sizeof g->fault_write, "%s", in_rom ? "loader" : b->last_name);
        g->fault_offset = b->write_got;
        g->fault_unsent = b->write_len > host_sent ? b->write_len - host_sent : 0;
        blog(g, "fault struck %s at byte %" PRIu64 " of %" PRIu32 "; the host had %" PRIu64 " bytes still unsent",
             g->fault_write, g->fault_offset, b->write_len, g->fault_unsent);
}

/*
 * Gives the kept bytes (kept[kept_off, +kept_len)) to the model; what it does
 * not take stays kept. Returns true when the board left the bus (the thread
 * ends). Called with the lock held.
 */
static bool feed(struct gboard *g, const uint8_t *kept, int fd, int ep) {
        enum emu_verdict v = EMU_ACK;
        unsigned struck = g->emu.faults_struck;
        bool in_rom = g->emu.stage == EMU_STAGE_ROM; /* a vanish takes the board off the bus */

        while (g->kept_len > 0) {
                size_t taken = 0;
                v = emu_board_bulk_out(&g->emu, kept + g->kept_off, g->kept_len, &taken);
                g->kept_off += taken;
                g->kept_len -= taken;
                if (v != EMU_ACK || taken == 0)
                        break;
        }
        if (g->emu.faults_struck != struck)
                fault_struck(g, in_rom);
        if (v == EMU_NO_ANSWER) {
                /* the board stops taking data: the host's transfer times out, or a busy board wakes */
                g->bulk_hold = true;
                blog(g, "bulk data no longer taken (%s), %zu bytes kept", emu_board_wake_at(&g->emu) ? "busy" : "fault",
                     g->kept_len);
        } else if (v == EMU_STALL) {
                blog(g, "bulk data refused (%s); halting the endpoint, %zu bytes kept",
                     g->emu.error[0] ? g->emu.error : "a fault", g->kept_len);
                (void) ioctl(fd, USB_RAW_IOCTL_EP_SET_HALT, (unsigned long) ep);
        }
        if (g->kept_len > 0 && !g->bulk_hold && !g->emu.halted) {
                /* taken by nobody (the model already said why, as a violation): not offered again */
                g->kept_len = 0;
        }
        enum emu_bus_action a = emu_board_take_bus_action(&g->emu);
        pthread_cond_broadcast(&g->cond);
        if (a != EMU_BUS_NONE) {
                snprintf(g->last_event, sizeof g->last_event, "dropped off the bus during bulk data (%s)",
                         a == EMU_BUS_DISCONNECT ? "comes back" : "stays away");
                blog(g, "%s", g->last_event);
                request_disconnect(g);
                status_changed();
                return true;
        }
        status_changed();
        return false;
}

/*
 * Everything read off the endpoint goes through `kept`: the host counts bytes
 * the UDC took as sent, so bytes the model refused (a stall, a busy board)
 * are the first it gets when it takes data again, and a host that resumes
 * from its own count stays in step with the board.
 */
static void *bulk_main(void *arg) {
        struct gboard *g = arg;
        struct usb_raw_ep_io *io = malloc(sizeof *io + BULK_BUF);
        uint8_t *kept = malloc(2 * BULK_BUF);
        int fd, ep;

        if (!io || !kept) {
                free(io);
                free(kept);
                return NULL;
        }
        pthread_mutex_lock(&g->lock);
        fd = g->fd;
        ep = g->ep_out;
        for (;;) {
                size_t len, lacks;
                int r, err;

                while (!g->bulk_stop && g->bulk_hold) {
                        /* a busy board (EMU_FAULT_PAUSE) takes data again at a known time */
                        uint64_t wake = emu_board_wake_at(&g->emu);
                        if (wake) {
                                uint64_t now = emu_now_ms();
                                struct timespec ts = deadline_in(wake > now ? (unsigned) (wake - now) : 0);
                                if (pthread_cond_timedwait(&g->cond, &g->lock, &ts) != 0 &&
                                    emu_board_wake_at(&g->emu) <= emu_now_ms())
                                        g->bulk_hold = false;
                        } else {
                                pthread_cond_wait(&g->cond, &g->lock);
                        }
                }
                if (g->bulk_stop)
                        break;
                if (g->kept_len > 0 && !g->emu.halted) {
                        if (feed(g, kept, fd, ep))
                                break;
                        continue;
                }
                /* Read exactly what the announced write still lacks: the host sends no zero-length
                 * packet, so a longer read would wait forever for the end of a transfer that is a
                 * multiple of the packet size. With no write announced, read one packet, so data
                 * the board did not ask for shows up as a violation. */
                lacks = g->emu.write_pending && g->emu.write_len > g->emu.write_got ? g->emu.write_len - g->emu.write_got
                                                                                     : 0;
                len = lacks > g->kept_len ? lacks - g->kept_len : g->ep_out_mps;
                if (len > BULK_BUF)
                        len = BULK_BUF;
                pthread_mutex_unlock(&g->lock);

                io->ep = (uint16_t) ep;
                io->flags = 0;
                io->length = (uint32_t) len;
                r = ioctl(fd, USB_RAW_IOCTL_EP_READ, io);
                err = errno;

                pthread_mutex_lock(&g->lock);
                if (g->bulk_stop)
                        break;
                if (r < 0) {
                        /* EINTR: a stray kick; ESHUTDOWN: a bus reset flushed the endpoint */
                        if (err != EINTR)
                                vlog(g, "bulk read: %s", strerror(err));
                        if (err != EINTR) {
                                struct timespec ts = deadline_in(10);
                                pthread_cond_timedwait(&g->cond, &g->lock, &ts);
                        }
                        continue;
                }

                g->bulk_bytes += (uint64_t) r;
                if (g->emu.stage == EMU_STAGE_GADGET) {
                        /* the booted board's network function carries nothing: what the host sends is
                         * taken and dropped, so that its transmit queue never backs up */
                        g->net_bytes += (uint64_t) r;
                        status_changed();
                        continue;
                }
                if (g->emu.halted) {
                        /* data through a halted endpoint: the host cleared the halt (the UDC answers
                         * CLEAR_FEATURE(ENDPOINT_HALT) itself, this program never sees it) */
                        emu_board_clear_halt(&g->emu, emu_board_bulk_endpoint(&g->emu));
                        blog(g, "the host cleared the endpoint's halt");
                }
                memmove(kept, kept + g->kept_off, g->kept_len);
                g->kept_off = 0;
                if (g->kept_len + (size_t) r > 2 * BULK_BUF) {
                        blog(g, "more bulk data than the board could hold; dropping %zu kept bytes", g->kept_len);
                        g->kept_len = 0;
                }
                memcpy(kept + g->kept_len, io->data, (size_t) r);
                g->kept_len += (size_t) r;
                if (feed(g, kept, fd, ep))
                        break;
                if (g->throttle_kbps) {
                        unsigned ms = (unsigned) ((uint64_t) r * 1000u / ((uint64_t) g->throttle_kbps * 1024u));
                        struct timespec ts = deadline_in(ms ? ms : 1);
                        while (!g->bulk_stop && g->throttle_kbps &&
                               pthread_cond_timedwait(&g->cond, &g->lock, &ts) == 0)
                                ;
                }
        }
        pthread_mutex_unlock(&g->lock);
        free(io);
        free(kept);
        return NULL;
}

void start_bulk(struct gboard *g) {
        if (g->bulk_running || g->ep_out < 0)
                return;
        g->bulk_stop = false;
        g->bulk_hold = false;
        g->kept_len = 0;
        if (pthread_create(&g->bulk, NULL, bulk_main, g) != 0) {
                blog(g, "cannot start the bulk thread");
                return;
        }
        g->bulk_running = true;
}

/* Called with the lock held; drops it while waiting. */
void stop_bulk(struct gboard *g) {
        if (!g->bulk_running)
                return;
        g->bulk_stop = true;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->lock);
        for (;;) {
                struct timespec ts;
                pthread_kill(g->bulk, SIGUSR1);
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 10 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                if (pthread_timedjoin_np(g->bulk, NULL, &ts) == 0)
                        break;
        }
        pthread_mutex_lock(&g->lock);
        g->bulk_running = false;
}
