/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bootfiles.bin: the tar reader against tars GNU tar writes (every format it
 * has) and against hand-made hostile headers; then the lookup chain of
 * bootfiles.c with a tar in it (order, sharing, offsets, a refused tar).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bootfiles-tar.h"
#include "bootfiles.h"
#include "check.h"
#include "scratch.h"
#include "util.h"

extern char **environ;


static void make_dirs(const char *rel) {
        _cleanup_free_ char *p = at(rel);
        for (char *s = p + strlen(root) + 1; *s; s++)
                if (*s == '/') {
                        *s = '\0';
                        REQUIRE(mkdir(p, 0755) == 0 || errno == EEXIST);
                        *s = '/';
                }
        REQUIRE(mkdir(p, 0755) == 0 || errno == EEXIST);
}

static void rename_rel(const char *from, const char *to) {
        _cleanup_free_ char *a = at(from), *b = at(to);
        REQUIRE(rename(a, b) == 0);
}

static void unlink_rel(const char *rel) {
        _cleanup_free_ char *p = at(rel);
        REQUIRE(unlink(p) == 0);
}

/* Runs GNU tar with `args` (NULL-terminated, after "tar"); true if it exited 0. */
static bool run_tar(const char *const *args) {
        const char *argv[32] = { "tar" };
        size_t n = 1;
        pid_t pid;
        int status;

        for (; args[n - 1]; n++) {
                REQUIRE(n < ELEMENTSOF(argv) - 1);
                argv[n] = args[n - 1];
        }
        argv[n] = NULL;
        REQUIRE(posix_spawnp(&pid, "tar", NULL, NULL, (char *const *) argv, environ) == 0);
        REQUIRE(waitpid(pid, &status, 0) == pid);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Indexes the file `rel`: the result, the index in *ret, the refusal in *error. */
static int index_file(const char *rel, struct cb_tar **ret, char **error) {
        _cleanup_free_ char *p = at(rel);
        _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
        struct stat st;

        REQUIRE(fd >= 0 && fstat(fd, &st) == 0);
        return cb_tar_index_fd(fd, (uint64_t) st.st_size, ret, error);
}

/* The member's bytes, read at the offset the index gives, are `want`. */
static bool member_is(const char *tar_rel, const struct cb_tar *t, const char *name, const char *want) {
        _cleanup_free_ char *p = at(tar_rel);
        _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        uint64_t offset;
        uint32_t size;

        if (cb_tar_find(t, name, &offset, &size) < 0 || size != strlen(want))
                return false;
        buf = calloc(1, (size_t) size + 1);
        REQUIRE(fd >= 0 && buf);
        return pread(fd, buf, size, (off_t) offset) == (ssize_t) size && memcmp(buf, want, size) == 0;
}

/* The tree GNU tar packs: per-chip folders, a name longer than 100 bytes, an empty file. */
static const char long_dir[] = "2712/a-folder-name-long-enough-that-the-whole-path-needs-more-than-the-hundred-bytes/of";

static void make_tree(void) {
        make_dirs("src/2711");
        make_dirs("src/2712");
        make_dirs("src/2710");
        make_dirs("src/2712/a-folder-name-long-enough-that-the-whole-path-needs-more-than-the-hundred-bytes/of");
        write_str("src/2711/bootcode4.bin", "bootcode4 for the CM4");
        write_str("src/2711/start4.elf", "start4");
        write_str("src/2712/bootcode5.bin", "bootcode5 for the CM5, a little longer");
        write_str("src/2712/config.txt", "");
        write_str("src/2710/bootcode.bin", "bootcode for the 2837 family");
        write_str("src/2712/a-folder-name-long-enough-that-the-whole-path-needs-more-than-the-hundred-bytes/of/"
                  "ustar-header.txt",
                  "deep");
}

static void check_tree_index(const char *tar_rel, const char *format) {
        _cleanup_(cb_tar_freep) struct cb_tar *t = NULL;
        _cleanup_free_ char *error = NULL;
        _cleanup_free_ char *deep = NULL;
        int r;

        REQUIRE(asprintf(&deep, "%s/ustar-header.txt", long_dir) >= 0);
        r = index_file(tar_rel, &t, &error);
        CHECK_MSG(r == 0, "%s: %d %s", format, r, error ? error : "");
        if (r < 0)
                return;
        CHECK_MSG(cb_tar_count(t) == 6, "%s: %zu members", format, cb_tar_count(t));
        CHECK(member_is(tar_rel, t, "2711/bootcode4.bin", "bootcode4 for the CM4"));
        CHECK(member_is(tar_rel, t, "2711/start4.elf", "start4"));
        CHECK(member_is(tar_rel, t, "2712/bootcode5.bin", "bootcode5 for the CM5, a little longer"));
        CHECK(member_is(tar_rel, t, "2712/config.txt", ""));
        CHECK(member_is(tar_rel, t, "2710/bootcode.bin", "bootcode for the 2837 family"));
        CHECK_MSG(member_is(tar_rel, t, deep, "deep"), "%s: the long name", format);
        /* as the reference host: case-insensitive; and "./", "//" do not matter */
        CHECK(member_is(tar_rel, t, "2711/BOOTCODE4.BIN", "bootcode4 for the CM4"));
        CHECK(member_is(tar_rel, t, "./2711//start4.elf", "start4"));
        /* folders are not members; other chips' files are not this chip's */
        CHECK(cb_tar_find(t, "2711", NULL, NULL) == -ENOENT);
        CHECK(cb_tar_find(t, "bootcode4.bin", NULL, NULL) == -ENOENT);
        CHECK(cb_tar_find(t, "2712/bootcode4.bin", NULL, NULL) == -ENOENT);
        CHECK(cb_tar_find(t, "", NULL, NULL) == -ENOENT);
}

static void test_gnu_tar_formats(void) {
        static const char *const formats[] = { "gnu", "ustar", "posix", "oldgnu" };
        _cleanup_free_ char *src = at("src");

        make_tree();
        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                _cleanup_free_ char *rel = NULL, *out = NULL, *fmt = NULL;

                REQUIRE(asprintf(&rel, "%s.tar", formats[i]) >= 0);
                out = at(rel);
                REQUIRE(asprintf(&fmt, "--format=%s", formats[i]) >= 0);
                const char *args[] = { "-C", src, fmt, "-cf", out, "2711", "2712", "2710", NULL };
                REQUIRE(run_tar(args));
                check_tree_index(rel, formats[i]);
        }
        /* `tar -C DIR .` writes every name with "./" in front */
        {
                _cleanup_free_ char *out = at("dot.tar");
                const char *args[] = { "-C", src, "-cf", out, ".", NULL };
                REQUIRE(run_tar(args));
                check_tree_index("dot.tar", "./ names");
        }
}

/* GNU tar keeps what it is told to: links, FIFOs, absolute and ".." names (with -P) are all refused. */
static void expect_refused(const char *tar_rel, const char *why) {
        _cleanup_(cb_tar_freep) struct cb_tar *t = NULL;
        _cleanup_free_ char *error = NULL;
        int r = index_file(tar_rel, &t, &error);

        CHECK_MSG(r == -EBADMSG && !t, "%s: %d", tar_rel, r);
        CHECK_MSG(error && strstr(error, why), "%s: \"%s\" does not say \"%s\"", tar_rel, error ? error : "(null)",
                  why);
}

static void test_gnu_tar_hostile(void) {
        _cleanup_free_ char *src = at("src");

        make_dirs("src/links");
        {
                _cleanup_free_ char *sym = at("src/links/sym");
                REQUIRE(symlink("/etc/passwd", sym) == 0);
        }
        {
                _cleanup_free_ char *out = at("symlink.tar");
                const char *args[] = { "-C", src, "-cf", out, "links/sym", NULL };
                REQUIRE(run_tar(args));
                expect_refused("symlink.tar", "is a symbolic link");
        }
        {
                _cleanup_free_ char *a = at("src/links/a"), *b = at("src/links/b");
                write_str("src/links/a", "one inode, two names");
                REQUIRE(link(a, b) == 0);
                _cleanup_free_ char *out = at("hardlink.tar");
                const char *args[] = { "-C", src, "-cf", out, "links/a", "links/b", NULL };
                REQUIRE(run_tar(args));
                expect_refused("hardlink.tar", "is a hard link");
        }
        {
                _cleanup_free_ char *fifo = at("src/links/fifo");
                REQUIRE(mkfifo(fifo, 0644) == 0);
                _cleanup_free_ char *out = at("fifo.tar");
                const char *args[] = { "-C", src, "-cf", out, "links/fifo", NULL };
                REQUIRE(run_tar(args));
                expect_refused("fifo.tar", "is a FIFO");
        }
        {
                _cleanup_free_ char *abs = at("src/2711/start4.elf");
                _cleanup_free_ char *out = at("absolute.tar");
                const char *args[] = { "-P", "-cf", out, abs, NULL };
                REQUIRE(run_tar(args));
                expect_refused("absolute.tar", "has an absolute name");
        }
        {
                _cleanup_free_ char *dir = at("src/2711");
                _cleanup_free_ char *out = at("dotdot.tar");
                const char *args[] = { "-C", dir, "-P", "-cf", out, "../2712/bootcode5.bin", NULL };
                REQUIRE(run_tar(args));
                expect_refused("dotdot.tar", "has a '..' component");
        }
        /* a real tar cut anywhere: mid-header, mid-data, or just before its end blocks */
        {
                _cleanup_free_ char *p = at("gnu.tar");
                _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
                struct stat st;
                static char buf[1 << 16];
                ssize_t n;

                REQUIRE(fd >= 0 && fstat(fd, &st) == 0 && st.st_size <= (off_t) sizeof buf);
                n = pread(fd, buf, sizeof buf, 0);
                REQUIRE(n == st.st_size);
                write_file("cut.tar", buf, 300);
                expect_refused("cut.tar", "cut off by the end of the file");
                /* every length short of the end blocks is refused, and never crashes */
                for (size_t len = 0; len < (size_t) n; len += 97) {
                        _cleanup_(cb_tar_freep) struct cb_tar *t = NULL;
                        _cleanup_free_ char *error = NULL;
                        write_file("cut.tar", buf, len);
                        int r = index_file("cut.tar", &t, &error);
                        /* only a cut in the zero blocks at the end leaves a whole archive */
                        CHECK_MSG(r == -EBADMSG || (r == 0 && cb_tar_count(t) == 6), "cut at %zu: %d", len, r);
                }
        }
}

/* ---- hand-made headers ---- */

struct header {
        const char *name;
        char type;
        uint64_t size;
        const char *size_field; /* instead of the octal of size */
        bool bad_checksum;
        bool base256_size;
};

static void put_octal(uint8_t *field, size_t len, uint64_t v) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%0*llo", (int) len - 1, (unsigned long long) v);
        memcpy(field, tmp, len - 1);
        field[len - 1] = '\0';
}

static void make_header(uint8_t h[CB_TAR_BLOCK], const struct header *d) {
        unsigned sum = 0;

        memset(h, 0, CB_TAR_BLOCK);
        strncpy((char *) h, d->name, 100);
        put_octal(h + 100, 8, 0644);
        put_octal(h + 108, 8, 0);
        put_octal(h + 116, 8, 0);
        if (d->size_field)
                memcpy(h + 124, d->size_field, strnlen(d->size_field, 12));
        else if (d->base256_size) {
                h[124] = 0x80;
                for (int i = 0; i < 8; i++)
                        h[135 - i] = (uint8_t) (d->size >> (8 * i));
        } else
                put_octal(h + 124, 12, d->size);
        put_octal(h + 136, 12, 0);
        h[156] = (uint8_t) d->type;
        memcpy(h + 257, "ustar\0" "00", 8);
        memset(h + 148, ' ', 8);
        for (size_t i = 0; i < CB_TAR_BLOCK; i++)
                sum += h[i];
        if (d->bad_checksum)
                sum++;
        snprintf((char *) h + 148, 8, "%06o", sum);
}

/* One pax record, "LEN key=value\n", LEN counting itself. */
static char *pax_record(const char *key, const char *value) {
        size_t body = strlen(key) + strlen(value) + 3; /* ' ', '=', '\n' */
        size_t len = body + 1;
        char *r;

        while (snprintf(NULL, 0, "%zu", len) + body != len)
                len++;
        REQUIRE(asprintf(&r, "%zu %s=%s\n", len, key, value) >= 0);
        return r;
}

/* An in-memory tar: headers, each followed by its data (zeros, or `data`), padded; then two zero blocks. */
struct mem {
        uint8_t bytes[64 * 1024];
        size_t len;
        int fail_at_read; /* the reader returns -EIO on this read (1-based), 0: never */
        int reads;
};

static void mem_add(struct mem *m, const struct header *d, const void *data, size_t data_len) {
        make_header(m->bytes + m->len, d);
        m->len += CB_TAR_BLOCK;
        if (data)
                memcpy(m->bytes + m->len, data, data_len);
        m->len += (data_len + CB_TAR_BLOCK - 1) / CB_TAR_BLOCK * CB_TAR_BLOCK;
        REQUIRE(m->len + 2 * CB_TAR_BLOCK <= sizeof m->bytes);
}

static void mem_end(struct mem *m) {
        m->len += 2 * CB_TAR_BLOCK; /* already zero */
}

static ssize_t mem_read(void *userdata, void *buf, size_t len, uint64_t offset) {
        struct mem *m = userdata;

        if (++m->reads == m->fail_at_read)
                return -EIO;
        if (offset >= m->len)
                return 0;
        len = MIN(len, m->len - (size_t) offset);
        memcpy(buf, m->bytes + offset, len);
        return (ssize_t) len;
}

static int mem_index(struct mem *m, struct cb_tar **t, char **error) {
        m->reads = 0;
        return cb_tar_index(mem_read, m, m->len, t, error);
}

static void expect_mem_refused(struct mem *m, const char *why, int line) {
        _cleanup_(cb_tar_freep) struct cb_tar *t = NULL;
        _cleanup_free_ char *error = NULL;
        int r = mem_index(m, &t, &error);

        CHECK_MSG(r == -EBADMSG && !t, "line %d: %d", line, r);
        CHECK_MSG(error && strstr(error, why), "line %d: \"%s\" does not say \"%s\"", line, error ? error : "(null)",
                  why);
}
#define EXPECT_REFUSED(m, why) expect_mem_refused((m), (why), __LINE__)

static void test_hand_made(void) {
        static struct mem m;
        static const char *const types[][2] = {
                { "3", "is a character device" }, { "4", "is a block device" }, { "1", "is a hard link" },
                { "2", "is a symbolic link" },    { "6", "is a FIFO" },         { "K", "long link name" },
                { "S", "sparse" },                { "V", "unsupported type 0x56" },
        };

        /* the good case first, so the refusals below are the headers' fault */
        memset(&m, 0, sizeof m);
        mem_add(&m, &(struct header){ .name = "2711/", .type = '5' }, NULL, 0);
        mem_add(&m, &(struct header){ .name = "2711/a.bin", .type = '0', .size = 5 }, "hello", 5);
        mem_add(&m, &(struct header){ .name = "2711/b.bin", .type = '\0', .size = 3, .base256_size = true }, "abc", 3);
        mem_end(&m);
        {
                _cleanup_(cb_tar_freep) struct cb_tar *t = NULL;
                _cleanup_free_ char *error = NULL;
                uint64_t off;
                uint32_t size;
                CHECK(mem_index(&m, &t, &error) == 0 && !error);
                CHECK(cb_tar_count(t) == 2);
                CHECK(cb_tar_find(t, "2711/a.bin", &off, &size) == 0 && off == 2 * CB_TAR_BLOCK && size == 5);
                CHECK(cb_tar_find(t, "2711/b.bin", &off, &size) == 0 && off == 4 * CB_TAR_BLOCK && size == 3);
        }
        /* an I/O error is no refusal: no sentence, the errno */
        m.fail_at_read = 2;
        {
                _cleanup_(cb_tar_freep) struct cb_tar *t = NULL;
                _cleanup_free_ char *error = NULL;
                CHECK(mem_index(&m, &t, &error) == -EIO && !error && !t);
        }
        m.fail_at_read = 0;

        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                memset(&m, 0, sizeof m);
                mem_add(&m, &(struct header){ .name = "2711/ok.bin", .type = '0', .size = 2 }, "ok", 2);
                mem_add(&m, &(struct header){ .name = "2711/bad", .type = types[i][0][0] }, NULL, 0);
                mem_end(&m);
                EXPECT_REFUSED(&m, types[i][1]);
        }

        static const struct {
                const char *name;
                const char *why;
        } names[] = {
                { "/etc/passwd", "absolute" },         { "../outside", "'..' component" },
                { "2711/../../x", "'..' component" },   { "2711/..", "'..' component" },
                { "2711\\bootcode4.bin", "backslash" }, { ".", "no name left" },
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                memset(&m, 0, sizeof m);
                mem_add(&m, &(struct header){ .name = names[i].name, .type = '0', .size = 1 }, "x", 1);
                mem_end(&m);
                EXPECT_REFUSED(&m, names[i].why);
        }
        /* a ".." directory is refused too: a later member could sit below it */
        memset(&m, 0, sizeof m);
        mem_add(&m, &(struct header){ .name = "../", .type = '5' }, NULL, 0);
        mem_end(&m);
        EXPECT_REFUSED(&m, "'..' component");

        /* sizes past the end, in octal and base-256, and sizes the 32-bit protocol cannot carry */
        memset(&m, 0, sizeof m);
        mem_add(&m, &(struct header){ .name = "2711/big", .type = '0', .size = 1u << 20 }, NULL, 0);
        mem_end(&m);
        EXPECT_REFUSED(&m, "past the end of the file");
        memset(&m, 0, sizeof m);
        mem_add(&m, &(struct header){ .name = "2711/huge", .type = '0', .size = UINT64_MAX / 2, .base256_size = true },
                NULL, 0);
        mem_end(&m);
        EXPECT_REFUSED(&m, "past the end of the file");
        memset(&m, 0, sizeof m);
        mem_add(&m, &(struct header){ .name = "2711/x", .type = '0', .size_field = "12x" }, NULL, 0);
        mem_end(&m);
        EXPECT_REFUSED(&m, "bad size field");
        memset(&m, 0, sizeof m);
        mem_add(&m, &(struct header){ .name = "2711/x", .type = '0', .size_field = "" }, NULL, 0);
        mem_end(&m);
        EXPECT_REFUSED(&m, "bad size field");

        /* a damaged header, and a file that is no tar */
        memset(&m, 0, sizeof m);
        mem_add(&m, &(struct header){ .name = "2711/a", .type = '0', .size = 1 }, "a", 1);
        mem_add(&m, &(struct header){ .name = "2711/b", .type = '0', .size = 1, .bad_checksum = true }, "b", 1);
        mem_end(&m);
        EXPECT_REFUSED(&m, "bad header checksum at offset 1024");
        memset(&m, 0, sizeof m);
        memset(m.bytes, 'A', 4096);
        m.len = 4096;
        EXPECT_REFUSED(&m, "bad header checksum at offset 0");
        memset(&m, 0, sizeof m);
        EXPECT_REFUSED(&m, "no end-of-archive block after 0 headers");

        /* GNU long names: one that hides "..", one that is too long, one naming nothing */
        {
                static const char evil[] = "2711/../../../etc/shadow";
                memset(&m, 0, sizeof m);
                mem_add(&m, &(struct header){ .name = "././@LongLink", .type = 'L', .size = sizeof evil }, evil,
                        sizeof evil);
                mem_add(&m, &(struct header){ .name = "2711/harmless", .type = '0', .size = 1 }, "x", 1);
                mem_end(&m);
                EXPECT_REFUSED(&m, "\"2711/../../../etc/shadow\" has a '..' component");
        }
        memset(&m, 0, sizeof m);
        mem_add(&m, &(struct header){ .name = "././@LongLink", .type = 'L', .size = CB_TAR_LONGNAME_MAX + 1 }, NULL,
                CB_TAR_LONGNAME_MAX + 1);
        mem_add(&m, &(struct header){ .name = "2711/x", .type = '0', .size = 1 }, "x", 1);
        mem_end(&m);
        EXPECT_REFUSED(&m, "an extended header of 4097 bytes");
        memset(&m, 0, sizeof m);
        mem_add(&m, &(struct header){ .name = "././@LongLink", .type = 'L', .size = 7 }, "2711/x", 7);
        mem_end(&m);
        EXPECT_REFUSED(&m, "names no member");

        /* pax: a path record renames the next member (and is checked), a size record resizes it */
        {
                _cleanup_free_ char *rec = pax_record("path", "2711/renamed-by-pax.bin");
                _cleanup_(cb_tar_freep) struct cb_tar *t = NULL;
                _cleanup_free_ char *error = NULL;
                uint32_t size;

                memset(&m, 0, sizeof m);
                mem_add(&m, &(struct header){ .name = "PaxHeaders/x", .type = 'x', .size = strlen(rec) }, rec,
                        strlen(rec));
                mem_add(&m, &(struct header){ .name = "2711/plain-name", .type = '0', .size = 2 }, "px", 2);
                mem_end(&m);
                CHECK(mem_index(&m, &t, &error) == 0);
                CHECK(cb_tar_find(t, "2711/renamed-by-pax.bin", NULL, &size) == 0 && size == 2);
                CHECK(cb_tar_find(t, "2711/plain-name", NULL, NULL) == -ENOENT);
        }
        {
                _cleanup_free_ char *rec = pax_record("path", "../escape.bin");
                memset(&m, 0, sizeof m);
                mem_add(&m, &(struct header){ .name = "PaxHeaders/x", .type = 'x', .size = strlen(rec) }, rec,
                        strlen(rec));
                mem_add(&m, &(struct header){ .name = "2711/plain-name", .type = '0', .size = 2 }, "px", 2);
                mem_end(&m);
                EXPECT_REFUSED(&m, "\"../escape.bin\" has a '..' component");
        }
        {
                _cleanup_free_ char *rec = pax_record("size", "9999999");
                memset(&m, 0, sizeof m);
                mem_add(&m, &(struct header){ .name = "PaxHeaders/x", .type = 'x', .size = strlen(rec) }, rec,
                        strlen(rec));
                mem_add(&m, &(struct header){ .name = "2711/small", .type = '0', .size = 2 }, "px", 2);
                mem_end(&m);
                EXPECT_REFUSED(&m, "claims 9999999 bytes, past the end");
        }
        {
                static const char rec[] = "99 path=x\n";
                memset(&m, 0, sizeof m);
                mem_add(&m, &(struct header){ .name = "PaxHeaders/x", .type = 'x', .size = strlen(rec) }, rec,
                        strlen(rec));
                mem_add(&m, &(struct header){ .name = "2711/small", .type = '0', .size = 2 }, "px", 2);
                mem_end(&m);
                EXPECT_REFUSED(&m, "malformed pax record");
        }
        {
                _cleanup_free_ char *rec = pax_record("path", "2711/all.bin");
                memset(&m, 0, sizeof m);
                mem_add(&m, &(struct header){ .name = "GlobalHead", .type = 'g', .size = strlen(rec) }, rec,
                        strlen(rec));
                mem_add(&m, &(struct header){ .name = "2711/small", .type = '0', .size = 2 }, "px", 2);
                mem_end(&m);
                EXPECT_REFUSED(&m, "global header sets a path");
        }

}

/* ---- the lookup chain with a tar in it ---- */

/* Bytes this process has read through read()/pread(), from /proc/self/io. */
static unsigned long long bytes_read(void) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/io", "re");
        unsigned long long v = 0;
        char key[32];

        REQUIRE(f);
        while (fscanf(f, "%31s %llu", key, &v) == 2)
                if (strcmp(key, "rchar:") == 0)
                        return v;
        REQUIRE(!"no rchar in /proc/self/io");
        return 0;
}

static bool has_content(const struct cb_file *f, const char *want) {
        return f && cb_file_size(f) == strlen(want) && memcmp(cb_file_data(f), want, strlen(want)) == 0;
}

static char *node_dir, *common_dir;

static int lookup(struct cb_file_cache *c, const char *chip, const char *name, struct cb_file **ret,
                  const char **reason) {
        const char *dirs[] = { node_dir, common_dir };
        return cb_file_cache_lookup_chip(c, dirs, ELEMENTSOF(dirs), chip, name, ret, reason);
}

/* Packs lk/tarsrc/ (its 2710, 2711 and 2712 folders) into `tar_rel`. */
static void pack(const char *tar_rel) {
        _cleanup_free_ char *src = at("lk/tarsrc"), *out = at(tar_rel);
        const char *args[] = { "-C", src, "-cf", out, "2710", "2711", "2712", NULL };
        REQUIRE(run_tar(args));
}

static void test_lookup_order(void) {
        _cleanup_(cb_file_cache_freep) struct cb_file_cache *c = NULL;
        const char *reason = NULL;
        static char big[4 << 20];

        make_dirs("lk/node");
        make_dirs("lk/common/2711");
        make_dirs("lk/tarsrc/2710");
        make_dirs("lk/tarsrc/2711");
        make_dirs("lk/tarsrc/2712");
        node_dir = at("lk/node");
        common_dir = at("lk/common");
        write_str("lk/tarsrc/2711/start4.elf", "start4 from the tar");
        write_str("lk/tarsrc/2711/config.txt", "config from the tar");
        write_str("lk/tarsrc/2711/cmdline.txt", "cmdline from the tar");
        write_str("lk/tarsrc/2712/start4.elf", "the 2712 folder's");
        memset(big, 'B', sizeof big);
        write_file("lk/tarsrc/2712/boot.img", big, sizeof big); /* the tar is 4 MiB more than any small member */
        pack("lk/common/bootfiles.bin");
        write_str("lk/common/2711/config.txt", "config from common/2711");
        write_str("lk/common/config.txt", "config from common");
        write_str("lk/common/start4.elf", "start4 from common");
        write_str("lk/common/fixup4.dat", "fixup4 from common");
        write_str("lk/node/cmdline.txt", "cmdline from the node");

        REQUIRE(cb_file_cache_new(&c) == 0);
        {
                _cleanup_(cb_file_unrefp) struct cb_file *f = NULL;
                /* DIR/<chip>/<name> on disk comes before the tar's member */
                CHECK(lookup(c, "2711", "config.txt", &f, &reason) == 0 && has_content(f, "config from common/2711"));
        }
        {
                _cleanup_(cb_file_unrefp) struct cb_file *f = NULL, *again = NULL, *upper = NULL;
                unsigned long long before = bytes_read();
                /* the tar's member comes before DIR/<name>; only its own bytes are read, not the tar */
                CHECK(lookup(c, "2711", "start4.elf", &f, &reason) == 0 && has_content(f, "start4 from the tar"));
                CHECK_MSG(bytes_read() - before < 64 * 1024, "%llu bytes read for a 19-byte member",
                          bytes_read() - before);
                CHECK(f && strstr(cb_file_path(f), "/lk/common/bootfiles.bin:2711/start4.elf"));
                /* shared: the second board gets the same bytes, read nothing again */
                before = bytes_read();
                CHECK(lookup(c, "2711", "start4.elf", &again, &reason) == 0 && again == f);
                CHECK(lookup(c, "2711", "START4.ELF", &upper, &reason) == 0 && upper == f);
                CHECK(bytes_read() - before < 8 * 1024);
                CHECK(cb_file_cache_tar_count(c) == 1);
        }
        {
                _cleanup_(cb_file_unrefp) struct cb_file *f = NULL;
                /* the node's own directory still comes first */
                CHECK(lookup(c, "2711", "cmdline.txt", &f, &reason) == 0 && has_content(f, "cmdline from the node"));
        }
        {
                _cleanup_(cb_file_unrefp) struct cb_file *f = NULL, *g = NULL, *h = NULL, *big_member = NULL;
                /* neither on disk for the chip nor in the tar: DIR/<name> */
                CHECK(lookup(c, "2711", "fixup4.dat", &f, &reason) == 0 && has_content(f, "fixup4 from common"));
                /* another chip's folder is not this chip's */
                CHECK(lookup(c, "2712", "start4.elf", &g, &reason) == 0 && has_content(g, "the 2712 folder's"));
                /* a board of no known chip: no chip folder, no tar */
                CHECK(lookup(c, NULL, "start4.elf", &h, &reason) == 0 && has_content(h, "start4 from common"));
                CHECK(lookup(c, "2712", "boot.img", &big_member, &reason) == 0 && big_member &&
                      cb_file_size(big_member) == sizeof big && memcmp(cb_file_data(big_member), big, sizeof big) == 0);
        }
        {
                _cleanup_(cb_file_unrefp) struct cb_file *f = NULL;
                CHECK(lookup(c, "2711", "missing.bin", &f, &reason) == -ENOENT && !f && !reason);
                /* the chip folder is no way around the name check */
                CHECK(lookup(c, "2711", "../2712/boot.img", &f, &reason) == -EPERM && !f);
        }

        /* a new version of the tar: served from then on; a board mid-transfer keeps the old bytes */
        {
                _cleanup_(cb_file_unrefp) struct cb_file *old = NULL, *now = NULL;
                CHECK(lookup(c, "2711", "start4.elf", &old, &reason) == 0);
                write_str("lk/tarsrc/2711/start4.elf", "start4, the next release");
                pack("lk/common/bootfiles.bin.new");
                rename_rel("lk/common/bootfiles.bin.new", "lk/common/bootfiles.bin");
                CHECK(lookup(c, "2711", "start4.elf", &now, &reason) == 0 &&
                      has_content(now, "start4, the next release"));
                CHECK(has_content(old, "start4 from the tar"));
                CHECK(cb_file_cache_tar_count(c) == 1);
        }

        /* a hostile tar: refused once, files elsewhere still served, the tar's own files say why */
        {
                _cleanup_(cb_file_unrefp) struct cb_file *chip_disk = NULL, *plain = NULL, *node = NULL,
                                                          *only_in_tar = NULL;
                _cleanup_free_ char *lnk = at("lk/tarsrc/2711/evil");
                REQUIRE(symlink("/etc/shadow", lnk) == 0);
                pack("lk/common/bootfiles.bin.new");
                rename_rel("lk/common/bootfiles.bin.new", "lk/common/bootfiles.bin");

                CHECK(lookup(c, "2711", "config.txt", &chip_disk, &reason) == 0 &&
                      has_content(chip_disk, "config from common/2711"));
                CHECK(lookup(c, "2711", "fixup4.dat", &plain, &reason) == 0 &&
                      has_content(plain, "fixup4 from common"));
                CHECK(lookup(c, "2711", "cmdline.txt", &node, &reason) == 0 &&
                      has_content(node, "cmdline from the node"));
                unlink_rel("lk/common/start4.elf");
                CHECK(lookup(c, "2711", "start4.elf", &only_in_tar, &reason) == -EPERM && !only_in_tar);
                CHECK_MSG(reason && strstr(reason, "bootfiles.bin is refused") &&
                                  strstr(reason, "member \"2711/evil\" is a symbolic link"),
                          "%s", reason ? reason : "(null)");
                CHECK(cb_file_cache_tar_count(c) == 1);
        }
}

/* bootcode.sig is looked up where bootcode.bin was found, and must be 20 bytes. */
static void test_loader_signature(void) {
        _cleanup_(cb_file_cache_freep) struct cb_file_cache *c = NULL;
        static const char sig20[] = "0123456789abcdefghij";
        _cleanup_free_ char *node = at("sig/node"), *common = at("sig/common");
        const char *dirs[2] = { node, common };
        const char *reason = NULL;

        make_dirs("sig/node");
        make_dirs("sig/common/2710");
        make_dirs("sig/tarsrc/2710");
        REQUIRE(cb_file_cache_new(&c) == 0);

        write_str("sig/common/bootcode.bin", "plain bootcode");
        {
                _cleanup_(cb_file_unrefp) struct cb_file *l = NULL, *s = NULL;
                /* no file: no signature */
                CHECK(cb_file_cache_lookup_loader(c, dirs, 2, "2710", "bootcode.bin", true, &l, &s, &reason) == 0 &&
                      has_content(l, "plain bootcode") && !s);
        }
        write_str("sig/common/bootcode.sig", sig20);
        {
                _cleanup_(cb_file_unrefp) struct cb_file *l = NULL, *s = NULL;
                CHECK(cb_file_cache_lookup_loader(c, dirs, 2, "2710", "bootcode.bin", true, &l, &s, &reason) == 0 &&
                      has_content(s, sig20));
        }
        {
                _cleanup_(cb_file_unrefp) struct cb_file *l = NULL, *s = NULL;
                /* a 2711 or 2712 loader carries none, whatever lies beside it */
                CHECK(cb_file_cache_lookup_loader(c, dirs, 2, "2710", "bootcode.bin", false, &l, &s, &reason) == 0 &&
                      l && !s);
        }
        {
                _cleanup_(cb_file_unrefp) struct cb_file *l = NULL, *s = NULL;
                /* the node's own loader is not signed by the common directory's signature */
                write_str("sig/node/bootcode.bin", "the node's bootcode");
                CHECK(cb_file_cache_lookup_loader(c, dirs, 2, "2710", "bootcode.bin", true, &l, &s, &reason) == 0 &&
                      has_content(l, "the node's bootcode") && !s);
                unlink_rel("sig/node/bootcode.bin");
        }
        {
                _cleanup_(cb_file_unrefp) struct cb_file *l = NULL, *s = NULL;
                /* in the tar: the tar's signature, not the one in the directory */
                write_str("sig/tarsrc/2710/bootcode.bin", "bootcode in the tar");
                write_str("sig/tarsrc/2710/bootcode.sig", "ABCDEFGHIJKLMNOPQRST");
                _cleanup_free_ char *src = at("sig/tarsrc"), *out = at("sig/common/bootfiles.bin");
                const char *args[] = { "-C", src, "-cf", out, "2710", NULL };
                REQUIRE(run_tar(args));
                CHECK(cb_file_cache_lookup_loader(c, dirs, 2, "2710", "bootcode.bin", true, &l, &s, &reason) == 0 &&
                      has_content(l, "bootcode in the tar") && has_content(s, "ABCDEFGHIJKLMNOPQRST"));
                REQUIRE(unlink(out) == 0);
        }
        static const size_t wrong[] = { 0, 19, 21, 256 };
        for (size_t i = 0; i < ELEMENTSOF(wrong); i++) {
                _cleanup_(cb_file_unrefp) struct cb_file *l = NULL, *s = NULL;
                static char bytes[256];
                write_file("sig/common/bootcode.sig", bytes, wrong[i]);
                reason = NULL;
                CHECK_MSG(cb_file_cache_lookup_loader(c, dirs, 2, "2710", "bootcode.bin", true, &l, &s, &reason) ==
                                          -EPERM &&
                                  !l && !s,
                          "%zu bytes", wrong[i]);
                CHECK(reason && strstr(reason, "bootcode.sig beside it is not exactly 20 bytes"));
        }
}

int main(void) {
        scratch_make("test-bootfiles-tar");
        test_gnu_tar_formats();
        test_gnu_tar_hostile();
        test_hand_made();
        test_lookup_order();
        test_loader_signature();
        scratch_remove();
        free(node_dir);
        free(common_dir);
        return check_exit("test-bootfiles-tar");
}
