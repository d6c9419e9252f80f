/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bootfiles.h"
#include "check.h"
#include "scratch.h"
#include "util.h"

static char *node_dir, *common_dir, *missing_dir;

static void make_dir(const char *rel) {
        _cleanup_free_ char *p = at(rel);
        REQUIRE(mkdir(p, 0755) == 0);
}

static void make_symlink(const char *target, const char *rel) {
        _cleanup_free_ char *p = at(rel);
        REQUIRE(symlink(target, p) == 0);
}

static bool has_content(const struct cb_file *f, const void *data, size_t size) {
        return f && cb_file_size(f) == size && memcmp(cb_file_data(f), data, size) == 0;
}

/* Lookup in node dir, a NULL slot, a missing dir, then common: the daemon's own chain. */
static int lookup(struct cb_file_cache *c, const char *name, struct cb_file **ret, const char **reason) {
        const char *dirs[] = { node_dir, NULL, missing_dir, common_dir };
        return cb_file_cache_lookup(c, dirs, ELEMENTSOF(dirs), name, ret, reason);
}

static void test_names(void) {
        char long_name[301];
        static const struct {
                const char *name;
                int expect;
        } cases[] = {
                { "config.txt", 0 },
                { "overlays/x.dtbo", 0 },
                { "./start.elf", 0 },
                { "overlays//x.dtbo", 0 },
                { "..foo", 0 },
                { "foo..", 0 },
                { "\xc3\xa9t\xc3\xa9.txt", 0 },
                { "", -EINVAL },
                { "../../etc/shadow", -EPERM },
                { "/etc/shadow", -EPERM },
                { "a/../../x", -EPERM },
                { "a/..", -EPERM },
                { "..", -EPERM },
                { "a//../x", -EPERM },
                { "config\x01.txt", -EINVAL },
                { "config.txt\x7f", -EINVAL },
                { "config\n.txt", -EINVAL },
                { "overlays\\x.dtbo", -EINVAL },
                { "overlays/", -EINVAL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *reason = (const char *) 1;
                int r = cb_bootname_check(cases[i].name, &reason);
                if (r != cases[i].expect)
                        fprintf(stderr, "name \"%s\": got %d, want %d\n", cases[i].name, r, cases[i].expect);
                CHECK(r == cases[i].expect);
                CHECK(r == 0 ? reason == NULL : reason != NULL);
        }

        memset(long_name, 'a', 300);
        long_name[300] = '\0';
        CHECK(cb_bootname_check(long_name, NULL) == -ENAMETOOLONG);
        long_name[CB_FILE_NAME_MAX] = '\0';
        CHECK(cb_bootname_check(long_name, NULL) == 0);

        CHECK(cb_bootname_check(NULL, NULL) == -EINVAL);
}

static void build_tree(void) {
        scratch_make("test-bootfiles");
        node_dir = at("node");
        common_dir = at("common");
        missing_dir = at("does-not-exist");

        make_dir("node");
        make_dir("common");
        make_dir("common/overlays");
        make_dir("other");

        write_str("common/config.txt", "# common config\n");
        write_str("node/config.txt", "# node3 config\n");
        write_str("node/cmdline.txt", "console=serial0 root=/dev/nfs\n");
        write_str("common/overlays/x.dtbo", "dtbo bytes");
        write_str("other/secret", "secret");
        write_file("common/empty.bin", "", 0);

        make_symlink("overlays/x.dtbo", "common/link-inside");
        make_symlink("/etc/passwd", "common/passwd");
        make_symlink("../other/secret", "common/escape");
        make_symlink("overlays/../../other/secret", "common/escape-deep");
        make_symlink("loop", "common/loop");
        make_dir("common/kernel.img");

        {
                _cleanup_free_ char *fifo = at("common/fifo");
                REQUIRE(mkfifo(fifo, 0644) == 0);
        }
        {
                /* Absolute symlinks are refused even when they point back inside. */
                _cleanup_free_ char *target = at("common/config.txt");
                make_symlink(target, "common/abs-inside");
        }
        {
                /* Sparse: takes no space but is too big for a 32-bit length. */
                _cleanup_free_ char *p = at("common/huge.img");
                _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                REQUIRE(fd >= 0);
                REQUIRE(ftruncate(fd, (off_t) UINT32_MAX + 1) == 0);
        }
}

static uint8_t *big_pattern(size_t size) {
        uint8_t *b = malloc(size);
        uint32_t x = 0x12345678;
        REQUIRE(b);
        for (size_t i = 0; i < size; i++) {
                x = x * 1103515245u + 12345u;
                b[i] = (uint8_t) (x >> 24);
        }
        return b;
}

static void test_lookup(void) {
        _cleanup_(cb_file_cache_freep) struct cb_file_cache *c = NULL;
        _cleanup_(cb_file_unrefp) struct cb_file *cfg = NULL, *cmdline = NULL, *elf1 = NULL, *elf2 = NULL,
                                                 *elf3 = NULL, *dtbo = NULL, *dtbo_link = NULL, *dtbo_slashes = NULL,
                                                 *empty = NULL, *f = NULL;
        const size_t big_size = 2900 * 1024;
        _cleanup_free_ uint8_t *big = big_pattern(big_size);
        const char *reason;

        write_file("common/start.elf", big, big_size);
        REQUIRE(cb_file_cache_new(&c) == 0);
        CHECK(cb_file_cache_count(c) == 0);

        /* The node's own directory wins. */
        CHECK(lookup(c, "config.txt", &cfg, &reason) == 0);
        CHECK(reason == NULL);
        CHECK(has_content(cfg, "# node3 config\n", 15));
        CHECK(cfg && strncmp(cb_file_path(cfg), node_dir, strlen(node_dir)) == 0 &&
              streq_ptr(cb_file_path(cfg) + strlen(node_dir), "/config.txt"));
        CHECK(lookup(c, "cmdline.txt", &cmdline, NULL) == 0);
        CHECK(has_content(cmdline, "console=serial0 root=/dev/nfs\n", 30));

        /* Falls through to common; several boards share one copy. */
        CHECK(lookup(c, "start.elf", &elf1, &reason) == 0);
        CHECK(has_content(elf1, big, big_size));
        CHECK(lookup(c, "start.elf", &elf2, &reason) == 0);
        CHECK(lookup(c, "./start.elf", &elf3, &reason) == 0);
        CHECK(elf1 && elf1 == elf2 && elf2 == elf3);
        CHECK(elf1 && elf2 && cb_file_data(elf1) == cb_file_data(elf2));
        CHECK(cb_file_cache_count(c) == 3);

        /* Sub-folder, an inside symlink and repeated slashes all reach the same inode. */
        CHECK(lookup(c, "overlays/x.dtbo", &dtbo, &reason) == 0);
        CHECK(has_content(dtbo, "dtbo bytes", 10));
        CHECK(lookup(c, "link-inside", &dtbo_link, &reason) == 0);
        CHECK(lookup(c, "overlays//x.dtbo", &dtbo_slashes, &reason) == 0);
        CHECK(dtbo && dtbo == dtbo_link && dtbo == dtbo_slashes);
        CHECK(cb_file_cache_count(c) == 4);

        CHECK(lookup(c, "empty.bin", &empty, &reason) == 0);
        CHECK(empty && cb_file_size(empty) == 0 && cb_file_data(empty) != NULL);

        /* Not found anywhere: ENOENT without a reason. */
        reason = "stale";
        CHECK(lookup(c, "fixup.dat", &f, &reason) == -ENOENT);
        CHECK(f == NULL && reason == NULL);
        CHECK(lookup(c, "config.txt/x", &f, &reason) == -ENOENT);
        CHECK(lookup(c, "overlays/missing.dtbo", &f, &reason) == -ENOENT);
        CHECK(cb_file_cache_lookup(c, NULL, 0, "config.txt", &f, &reason) == -ENOENT);

        /* Refusals: -EPERM with a reason, nothing handed out, nothing cached. */
        static const char *const refused[] = {
                "passwd",           /* symlink to /etc/passwd */
                "escape",           /* symlink to ../other */
                "escape-deep",      /* symlink that wanders out through a sub-folder */
                "abs-inside",       /* absolute symlink */
                "loop",             /* symlink to itself */
                "kernel.img",       /* a directory named like a file */
                "fifo",             /* must not block */
                "overlays",         /* a directory */
                ".",                /* the directory itself */
                "huge.img",         /* over 4 GiB */
                "../../etc/shadow", /* names caught before any open */
                "/etc/shadow",
                "a/../../x",
                "../other/secret",
                "",
                "config.txt\x01",
                "overlays\\x.dtbo",
        };
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                reason = NULL;
                int r = lookup(c, refused[i], &f, &reason);
                if (r != -EPERM)
                        fprintf(stderr, "lookup \"%s\": got %d, want -EPERM\n", refused[i], r);
                CHECK(r == -EPERM);
                CHECK(reason != NULL);
                CHECK(f == NULL);
        }
        {
                char long_name[301];
                memset(long_name, 'a', 300);
                long_name[300] = '\0';
                CHECK(lookup(c, long_name, &f, &reason) == -EPERM && reason != NULL);
        }
        CHECK(cb_file_cache_count(c) == 5);

        /* A directory in the chain that is not a directory is a configuration error, not "skip". */
        {
                _cleanup_free_ char *file_as_dir = at("common/config.txt");
                const char *dirs[] = { file_as_dir };
                CHECK(cb_file_cache_lookup(c, dirs, 1, "config.txt", &f, &reason) == -ENOTDIR);
        }

        cfg = cb_file_unref(cfg);
        CHECK(cb_file_cache_count(c) == 4);
        cmdline = cb_file_unref(cmdline);
        elf1 = cb_file_unref(elf1);
        elf2 = cb_file_unref(elf2);
        CHECK(cb_file_cache_count(c) == 3); /* elf3 still holds start.elf */
        CHECK(has_content(elf3, big, big_size));
        elf3 = cb_file_unref(elf3);
        dtbo = cb_file_unref(dtbo);
        dtbo_link = cb_file_unref(dtbo_link);
        dtbo_slashes = cb_file_unref(dtbo_slashes);
        empty = cb_file_unref(empty);
        CHECK(cb_file_cache_count(c) == 0);
}

static void test_replace(void) {
        _cleanup_(cb_file_cache_freep) struct cb_file_cache *c = NULL;
        _cleanup_(cb_file_unrefp) struct cb_file *old = NULL, *renamed = NULL, *rewritten = NULL, *again = NULL;
        _cleanup_free_ char *tmp = at("common/.cmdline.new"), *dst = at("common/cmdline-common.txt");

        REQUIRE(cb_file_cache_new(&c) == 0);
        write_str("common/cmdline-common.txt", "version one, rather long\n");
        CHECK(lookup(c, "cmdline-common.txt", &old, NULL) == 0);

        /* Atomic replacement, the way package managers and rsync do it: new inode. */
        write_str("common/.cmdline.new", "version two\n");
        REQUIRE(rename(tmp, dst) == 0);
        CHECK(lookup(c, "cmdline-common.txt", &renamed, NULL) == 0);
        CHECK(renamed && renamed != old);
        CHECK(has_content(renamed, "version two\n", 12));
        CHECK(has_content(old, "version one, rather long\n", 25));
        CHECK(cb_file_cache_count(c) == 2);

        /* In-place rewrite (cp, editors): same inode, shorter. Transfers in flight keep their bytes. */
        write_str("common/cmdline-common.txt", "v3\n");
        CHECK(lookup(c, "cmdline-common.txt", &rewritten, NULL) == 0);
        CHECK(rewritten && rewritten != renamed);
        CHECK(has_content(rewritten, "v3\n", 3));
        CHECK(has_content(renamed, "version two\n", 12));
        CHECK(cb_file_cache_count(c) == 3);

        CHECK(lookup(c, "cmdline-common.txt", &again, NULL) == 0);
        CHECK(again == rewritten);

        old = cb_file_unref(old);
        renamed = cb_file_unref(renamed);
        CHECK(cb_file_cache_count(c) == 1);
        again = cb_file_unref(again);
        rewritten = cb_file_unref(rewritten);
        CHECK(cb_file_cache_count(c) == 0);
}

static void test_cache_freed_first(void) {
        struct cb_file_cache *c = NULL;
        struct cb_file *a = NULL, *b = NULL;

        REQUIRE(cb_file_cache_new(&c) == 0);
        CHECK(lookup(c, "config.txt", &a, NULL) == 0);
        CHECK(lookup(c, "overlays/x.dtbo", &b, NULL) == 0);
        CHECK(cb_file_cache_count(c) == 2);

        /* Boards still mid-transfer keep their files after the cache goes away. */
        c = cb_file_cache_free(c);
        CHECK(has_content(a, "# node3 config\n", 15));
        CHECK(has_content(b, "dtbo bytes", 10));
        a = cb_file_unref(a);
        b = cb_file_unref(b);
        CHECK(cb_file_ref(NULL) == NULL);
        CHECK(cb_file_unref(NULL) == NULL);
        CHECK(cb_file_cache_count(NULL) == 0);
}

static bool have_openat2(void) {
        struct open_how how = { .flags = O_PATH | O_CLOEXEC };
        long fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
        if (fd >= 0)
                close((int) fd);
        return fd >= 0 || errno != ENOSYS;
}

/* Without openat2 (old kernels, valgrind < 3.21): plain names are served, no symlink is followed, nothing escapes. */
static void test_without_openat2(void) {
        _cleanup_(cb_file_cache_freep) struct cb_file_cache *c = NULL;
        struct cb_file *f = NULL;
        const char *reason = NULL;
        static const char *const refused[] = { "link-inside", "passwd", "escape", "escape-deep", "loop",
                                               "/etc/shadow", "../../etc/shadow", "overlays/../../x" };

        cb_bootfiles_disable_openat2();
        REQUIRE(cb_file_cache_new(&c) == 0);
        CHECK(lookup(c, "config.txt", &f, &reason) == 0);
        CHECK(f && has_content(f, "# node3 config\n", 15));
        f = cb_file_unref(f);
        CHECK(lookup(c, "overlays/x.dtbo", &f, &reason) == 0);
        CHECK(f && has_content(f, "dtbo bytes", 10));
        f = cb_file_unref(f);
        CHECK(lookup(c, "./overlays//x.dtbo", &f, &reason) == 0);
        f = cb_file_unref(f);
        CHECK(lookup(c, "no-such-file", &f, &reason) == -ENOENT);
        for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
                reason = NULL;
                CHECK(lookup(c, refused[i], &f, &reason) == -EPERM && reason != NULL && f == NULL);
        }
        CHECK(cb_file_cache_count(c) == 0);
}

int main(void) {
        bool skipped = false;

        /* A lookup that blocks (e.g. on the fifo) must fail the test, not hang it. */
        alarm(60);

        test_names();
        build_tree();
        if (have_openat2()) {
                test_lookup();
                test_replace();
                test_cache_freed_first();
        } else {
                fprintf(stderr, "openat2() unavailable (valgrind?): checking the fallback only\n");
                skipped = true;
        }
        test_without_openat2();

        CHECK(scratch_remove() == 0);
        free(node_dir);
        free(common_dir);
        free(missing_dir);

        if (check_failures > 0)
                return check_exit("test-bootfiles");
        return skipped ? 77 : EXIT_SUCCESS; /* 77: meson's "skipped" */
}
