/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A test's scratch directory under /tmp, and files in it by relative path.
 * Include after check.h (REQUIRE); one scratch directory per test program.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static char root[64];

/* Makes /tmp/cb-NAME-XXXXXX, the directory every relative path below is in. */
static inline void scratch_make(const char *name) {
        REQUIRE(snprintf(root, sizeof root, "/tmp/cb-%s-XXXXXX", name) < (int) sizeof root);
        REQUIRE(mkdtemp(root));
}

static inline int scratch_remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) st, (void) type, (void) ftw;
        return remove(path);
}

/* Removes the scratch directory and all in it; 0 or -1 (errno). */
static inline int scratch_remove(void) {
        return nftw(root, scratch_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The absolute path of `rel`: free() it. */
static inline char *at(const char *rel) {
        char *p;
        REQUIRE(asprintf(&p, "%s/%s", root, rel) >= 0);
        return p;
}

static inline void write_file(const char *rel, const void *data, size_t size) {
        _cleanup_free_ char *p = at(rel);
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        REQUIRE(fd >= 0);
        REQUIRE(write(fd, data, size) == (ssize_t) size);
}

static inline void write_str(const char *rel, const char *s) {
        write_file(rel, s, strlen(s));
}

/* The whole text of `rel` (free() it): "" for an empty file, NULL if it cannot be opened. */
static inline char *read_text(const char *rel) {
        _cleanup_free_ char *p = at(rel);
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        char *text = NULL;
        size_t size = 0;

        if (!f)
                return NULL;
        if (getdelim(&text, &size, '\0', f) < 0) {
                REQUIRE(feof(f));
                free(text);
                return strdup(""); /* empty */
        }
        return text;
}
