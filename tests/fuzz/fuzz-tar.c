/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the input is a bootfiles.bin, indexed by the tar reader
 * (bootfiles-tar.c) as the lookup does. A firmware download is not trusted,
 * so besides memory errors this checks what bootfiles.c relies on:
 *
 * - the result is an index, a refusal with a sentence that is safe to log
 *   (valid UTF-8, no control characters), or -ENOMEM; nothing else;
 * - a reader that returns a few bytes per call gives the same answer as one
 *   that returns all (the parse does not depend on read sizes), and a file
 *   that shrinks while it is read is an error, never an index;
 * - every member found lies inside the file, its data at a block boundary
 *   after its header, and no member is found under a name that leaves the
 *   directory the tar stands for.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootfiles-tar.h"
#include "text.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
        const uint8_t *data;
        size_t size;  /* bytes that can be read */
        size_t chunk; /* at most this many per call */
};

static ssize_t read_input(void *userdata, void *buf, size_t len, uint64_t offset) {
        const struct input *in = userdata;

        if (offset >= in->size)
                return 0;
        if (len > in->size - offset)
                len = in->size - (size_t) offset;
        if (len > in->chunk)
                len = in->chunk;
        memcpy(buf, in->data + offset, len);
        return (ssize_t) len;
}

/* Valid UTF-8 without control characters: a member's name in it is escaped, so it cannot forge a log line. */
static bool loggable(const char *s) {
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                if (*c < 0x20 || *c == 0x7f)
                        return false;
        return cb_text_valid_utf8(s, strlen(s));
}

static void check_error(int r, const char *error) {
        if (r == -EBADMSG) {
                if (!error || !error[0] || !loggable(error))
                        abort();
        } else if (error) {
                abort(); /* a sentence only with a refusal */
        }
}

/* Names a hostile tar would like to be served under: each must have been refused with its member. */
static const char *const escaping[] = { "..", "../x", "../etc/shadow", "a/../../x", "a/..", "..\\x", "a\\..\\x" };

/* A ".." component, or a backslash (a name some hosts would read as one). */
static bool leaves(const char *name) {
        if (strchr(name, '\\'))
                return true;
        for (const char *c = name; *c;) {
                size_t n = strcspn(c, "/");
                if (n == 2 && c[0] == '.' && c[1] == '.')
                        return true;
                c += n;
                c += strspn(c, "/");
        }
        return false;
}

static void check_member(const struct cb_tar *t, const char *name, size_t size) {
        uint64_t offset;
        uint32_t len;

        if (cb_tar_find(t, name, &offset, &len) < 0)
                return;
        if (leaves(name))
                abort();
        if (offset < CB_TAR_BLOCK || offset % CB_TAR_BLOCK != 0 || offset > size || len > size - offset)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct input whole = { data, size, SIZE_MAX }, chunked = { data, size, 7 };
        _cleanup_(cb_tar_freep) struct cb_tar *t = NULL, *t2 = NULL, *t3 = NULL;
        _cleanup_free_ char *error = NULL, *error2 = NULL, *error3 = NULL;
        int r, r2, r3;

        r = cb_tar_index(read_input, &whole, size, &t, &error);
        check_error(r, error);
        if (r != 0 && r != -EBADMSG && r != -ENOMEM)
                abort();

        r2 = cb_tar_index(read_input, &chunked, size, &t2, &error2);
        check_error(r2, error2);
        if (r2 != r || cb_tar_count(t2) != cb_tar_count(t) || (error && strcmp(error, error2) != 0))
                abort();

        /* the file was `size` bytes when looked at, and has lost its second half since */
        struct input shrunk = { data, size / 2, SIZE_MAX };
        r3 = cb_tar_index(read_input, &shrunk, size, &t3, &error3);
        check_error(r3, error3);
        if (r3 == 0 && r != 0)
                abort(); /* bytes that are gone made a refused tar acceptable */
        if (r3 != 0 && r3 != -EBADMSG && r3 != -ENOMEM && r3 != -ENODATA)
                abort();

        if (r != 0)
                return 0;
        if (cb_tar_count(t) > CB_TAR_MEMBERS_MAX)
                abort();
        for (size_t i = 0; i < ELEMENTSOF(escaping); i++)
                if (cb_tar_find(t, escaping[i], NULL, NULL) == 0)
                        abort();
        /* each header's own name, as a board would ask for it */
        for (size_t off = 0; off + CB_TAR_BLOCK <= size; off += CB_TAR_BLOCK) {
                char name[101];
                memcpy(name, data + off, 100);
                name[100] = '\0';
                if (name[0])
                        check_member(t, name, size);
        }
        return 0;
}
