/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Who may change things: root, or a member of the clusterboot group. */
#include <fcntl.h>
#include <stdlib.h>

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

/* The value of the "Key:" line of a /proc status text; NULL if it has none. */
static const char *status_field(const char *text, const char *key) {
        size_t len = strlen(key);

        for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
                if (strncmp(line, key, len) == 0)
                        return line + len;
        return NULL;
}

int cb_control_peer_groups_from_proc(const char *proc, pid_t pid, uid_t uid, gid_t **ret, size_t *ret_n) {
        char path[128], text[8192];
        _cleanup_free_ gid_t *groups = NULL;
        size_t n = 0, allocated = 0;
        unsigned long real, effective;
        const char *p;
        ssize_t len;

        snprintf(path, sizeof path, "%s/%d/status", proc ? proc : "/proc", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* procfs makes the whole text in one read; a longer one (65536 groups) is cut, and refused below */
        len = read(fd, text, sizeof text - 1);
        if (len < 0)
                return -errno;
        text[len] = '\0';

        /* the pid may have been reused since the connect: the groups are taken only from the same user */
        p = status_field(text, "Uid:");
        if (!p || sscanf(p, "%lu %lu", &real, &effective) != 2 || effective != (unsigned long) uid)
                return -ESRCH;
        p = status_field(text, "Groups:");
        if (!p || !strchr(p, '\n'))
                return -EBADMSG;
        for (;;) {
                char *end;
                unsigned long g;

                while (*p == ' ' || *p == '\t')
                        p++;
                if (*p == '\n')
                        break;
                errno = 0;
                g = strtoul(p, &end, 10);
                if (end == p || errno != 0 || g > (gid_t) -1)
                        return -EBADMSG;
                if (n == allocated) {
                        size_t want = allocated ? 2 * allocated : 32;
                        gid_t *bigger = realloc(groups, want * sizeof *groups);

                        if (!bigger)
                                return -ENOMEM;
                        groups = bigger;
                        allocated = want;
                }
                groups[n++] = (gid_t) g;
                p = end;
        }
        *ret = TAKE_PTR(groups);
        *ret_n = n;
        return 0;
}
