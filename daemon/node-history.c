/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "node-history.h"

#include <string.h>
#include <time.h>

#include "text.h"

void cb_node_history_add(struct cb_node_history *h, enum cb_node_state state, unsigned attempt, const char *message) {
        struct cb_node_event *e = &h->events[h->n % CB_NODE_EVENTS_MAX];
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        e->realtime_usec = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
        e->state = state;
        e->attempt = attempt;
        size_t len = strlen(message);

        if (len < sizeof e->message) {
                memcpy(e->message, message, len + 1);
        } else {
                /* one byte short of full, so that the cut sees there is more and says so */
                memcpy(e->message, message, sizeof e->message - 1);
                e->message[sizeof e->message - 1] = '\0';
                cb_text_cut(e->message, sizeof e->message - 2);
        }
        h->n++;
}

unsigned cb_node_history_count(const struct cb_node_history *h) {
        return MIN(h->n, (unsigned) CB_NODE_EVENTS_MAX);
}

const struct cb_node_event *cb_node_history_at(const struct cb_node_history *h, unsigned i) {
        unsigned kept = cb_node_history_count(h);

        if (i >= kept)
                return NULL;
        return &h->events[(h->n - kept + i) % CB_NODE_EVENTS_MAX];
}
