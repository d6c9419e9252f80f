/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the control server knows that every connection reads: who holds the
 * table's slots, the control group, and the socket's turns. Below the
 * connections (control-client.c) and above nothing of the control layer,
 * so the layers stay a line: table, client, reply, methods and power, the
 * server (control.c).
 */
#include <grp.h>

#include "clusterboot/varlink.h"
#include "control-internal.h"
#include "event-priority.h"

size_t uid_clients(struct cb_control *c, uid_t uid) {
        size_t n = 0;

        for (struct client *cl = c->clients; cl; cl = cl->next)
                n += !cl->dead && cl->cred.uid == uid;
        return n;
}

size_t uid_watchers(struct cb_control *c, uid_t uid) {
        size_t n = 0;

        for (struct client *cl = c->clients; cl; cl = cl->next)
                n += !cl->dead && cl->watching && cl->cred.uid == uid;
        return n;
}

void control_lookup_group(struct cb_control *c) {
        struct group *gr;

        errno = 0;
        gr = getgrnam(CB_VL_CONTROL_GROUP);
        /* "not found" comes with 0 or one of several errnos; these are the database failing */
        if (!gr && (errno == EIO || errno == EINTR || errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
                    errno == ERANGE))
                /* the database failed: what was known is kept rather than taking the group's rights away */
                log_warning_errno(errno, "control: cannot look the group " CB_VL_CONTROL_GROUP " up%s",
                                  c->group_exists ? "; its gid stays as it was" : "");
        else {
                c->group_exists = gr != NULL;
                c->group = gr ? gr->gr_gid : 0;
        }
}

const gid_t *control_group(const struct cb_control *c) {
        return c->group_exists ? &c->group : NULL;
}

void control_took_turn(struct cb_control *c, sd_event_source *s, bool *raised) {
        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &c->last_turn);
        if (*raised) {
                (void) sd_event_source_set_priority(s, CB_EVENT_PRIORITY_CONTROL);
                *raised = false;
        }
}
