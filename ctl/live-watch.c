/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * watch on a terminal: the live table (live.h). Each Watch reply redraws
 * it; between replies only the clocks move (a redraw a second, from this
 * side: nothing is asked of the daemon), and a resized terminal is redrawn
 * at its new width at once.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "clusterboot/varlink.h"
#include "ctl.h"
#include "json-util.h"
#include "live.h"

#define TICK_USEC 1000000ULL

static volatile sig_atomic_t live_stop;

static void on_live_stop(int sig) {
        live_stop = 1;
}

static void on_resize(int sig) {
        /* nothing to do here: the wait ends with EINTR, and the next frame asks for the width */
}

static size_t columns(void) {
        struct winsize ws;

        return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
}

int verb_watch_live(struct ctl *ctl) {
        /* no SA_RESTART: the wait must end on Ctrl-C and on a resize */
        struct sigaction stop = { .sa_handler = on_live_stop }, resize = { .sa_handler = on_resize };
        struct live *live = NULL;
        int r = ctl_connect_daemon(ctl), status = EXIT_OK;

        if (r != EXIT_OK)
                return r;
        if (live_new(&live) < 0)
                return fail(EXIT_FAILED, "out of memory");
        sigemptyset(&stop.sa_mask);
        sigemptyset(&resize.sa_mask);
        sigaction(SIGINT, &stop, NULL);
        sigaction(SIGTERM, &stop, NULL);
        sigaction(SIGWINCH, &resize, NULL);

        r = vl_client_send(ctl->client, CB_VL_METHOD_WATCH, NULL, true);
        if (r < 0) {
                live_free(live);
                return ctl_transport_failure(ctl, r);
        }
        fputs("\033[?25l", stdout); /* no cursor blinking over the table */
        bool started = false;
        while (!live_stop) {
                struct vl_reply reply = { 0 };
                struct json_object *nodes = NULL, *event = NULL;
                bool more = true;

                r = vl_client_receive_watching(ctl->client, started ? TICK_USEC : VL_TIMEOUT_INFINITY, STDOUT_FILENO,
                                               &reply);
                if (r == -EPIPE)
                        break;
                if (r < 0 && r != -EINTR && r != -ETIMEDOUT) {
                        status = ctl_transport_failure(ctl, r);
                        break;
                }
                if (r >= 0) {
                        if (reply.error) {
                                status = ctl_reply_failure(&reply, ctl->verb);
                                vl_reply_done(&reply);
                                break;
                        }
                        uint64_t now = ctl_realtime_now();
                        if (cb_json_get_array(reply.parameters, CB_VL_FIELD_NODES, &nodes) > 0)
                                r = live_nodes(live, nodes, now);
                        else if (cb_json_get_object(reply.parameters, CB_VL_FIELD_EVENT, &event) > 0)
                                r = live_event(live, event, now);
                        more = reply.continues;
                        vl_reply_done(&reply);
                        if (r < 0) {
                                status = fail(EXIT_FAILED, "out of memory");
                                break;
                        }
                        started = true;
                }
                if (started)
                        live_draw(live, stdout,
                                  &(struct live_draw_options){ .colours = ctl->view.colours, .width = columns(),
                                                               .now = ctl_realtime_now() });
                fflush(stdout);
                if (!more)
                        break;
        }
        fputs("\033[?25h", stdout);
        fflush(stdout);
        live_free(live);
        return status;
}
