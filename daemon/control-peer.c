/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Who may change things: root, or a member of the clusterboot group. */
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>

#include "clusterboot/varlink.h"
#include "control.h"
#include "util.h"

bool cb_control_peer_may_change(const struct cb_peer *peer, const gid_t *group) {
        if (peer->uid == 0)
                return true;
        if (!group)
                return false;
        if (peer->gid == *group)
                return true;
        for (size_t i = 0; i < peer->n_groups; i++)
                if (peer->groups[i] == *group)
                        return true;
        return false;
}

/*
 * The peer's supplementary groups from the user database, for kernels
 * without SO_PEERGROUPS. Less exact (a process may have dropped groups its
 * user has), so only a fallback.
 */
static int groups_from_user_db(uid_t uid, gid_t gid, gid_t **ret, size_t *ret_n) {
        struct passwd *pw = getpwuid(uid);
        int n = 32;

        if (!pw)
                return -ESRCH;
        for (;;) {
                gid_t *g = malloc((size_t) n * sizeof *g);
                int want = n;

                if (!g)
                        return -ENOMEM;
                if (getgrouplist(pw->pw_name, gid, g, &want) >= 0) {
                        *ret = g;
                        *ret_n = (size_t) want;
                        return 0;
                }
                free(g);
                if (want <= n || want > 65536)
                        return -E2BIG;
                n = want;
        }
}

bool cb_control_peer_may_change_now(struct cb_peer *peer, bool groups_known) {
        struct group *gr = getgrnam(CB_VL_CONTROL_GROUP);
        gid_t group = gr ? gr->gr_gid : 0;
        _cleanup_free_ gid_t *db_groups = NULL;

        if (peer->uid != 0 && gr && !groups_known &&
            groups_from_user_db(peer->uid, peer->gid, &db_groups, &peer->n_groups) >= 0)
                peer->groups = db_groups;
        bool ok = cb_control_peer_may_change(peer, gr ? &group : NULL);
        peer->groups = NULL; /* db_groups is freed here */
        return ok;
}
