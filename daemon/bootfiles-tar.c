/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "bootfiles-tar.h"

#include <inttypes.h>
#include <stdarg.h>
#include <strings.h>

#include "text.h"
#include "util.h"

/* The ustar header's fields this reader uses: offset and length in the 512-byte block. */
#define H_NAME 0
#define H_NAME_LEN 100
#define H_SIZE 124
#define H_SIZE_LEN 12
#define H_CHKSUM 148
#define H_CHKSUM_LEN 8
#define H_TYPE 156
#define H_MAGIC 257
#define H_PREFIX 345
#define H_PREFIX_LEN 155

/* Longest member name kept in the index: a board's request holds at most 255 bytes. */
#define NAME_MAX_KEPT 255u

struct member {
        char *name; /* normalised: no "./", no empty or "." components */
        uint64_t offset;
        uint32_t size;
};

struct cb_tar {
        struct member *members;
        size_t n_members;
};

struct cb_tar *cb_tar_free(struct cb_tar *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_members; i++)
                free(t->members[i].name);
        free(t->members);
        free(t);
        return NULL;
}

size_t cb_tar_count(const struct cb_tar *t) {
        return t ? t->n_members : 0;
}

/*
 * Writes `name` without empty and "." components into out (out_size bytes).
 * Returns the length, or -ENAMETOOLONG if it does not fit.
 */
static ssize_t normalise(const char *name, char *out, size_t out_size) {
        size_t len = 0;

        for (const char *p = name; *p;) {
                size_t n = strcspn(p, "/");
                if (n > 0 && !(n == 1 && p[0] == '.')) {
                        size_t need = len + (len > 0) + n;
                        if (need + 1 > out_size)
                                return -ENAMETOOLONG;
                        if (len > 0)
                                out[len++] = '/';
                        memcpy(out + len, p, n);
                        len += n;
                }
                p += n;
                p += strspn(p, "/");
        }
        if (out_size > 0)
                out[len] = '\0';
        return (ssize_t) len;
}

int cb_tar_find(const struct cb_tar *t, const char *name, uint64_t *ret_offset, uint32_t *ret_size) {
        char want[NAME_MAX_KEPT + 1];

        if (!t || !name || normalise(name, want, sizeof want) <= 0)
                return -ENOENT;
        for (size_t i = 0; i < t->n_members; i++)
                if (strcasecmp(t->members[i].name, want) == 0) {
                        if (ret_offset)
                                *ret_offset = t->members[i].offset;
                        if (ret_size)
                                *ret_size = t->members[i].size;
                        return 0;
                }
        return -ENOENT;
}

/* The parse in progress; `error` is set once, by refuse(). */
struct parse {
        cb_tar_read_t read;
        void *userdata;
        uint64_t file_size;
        struct cb_tar *tar;
        char *error;
};

static int refuse(struct parse *p, const char *format, ...) __attribute__((format(printf, 2, 3)));
static int refuse(struct parse *p, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        p->error = cb_vformat(format, ap);
        va_end(ap);
        return p->error ? -EBADMSG : -ENOMEM;
}

static int read_exact(struct parse *p, void *buf, size_t len, uint64_t offset) {
        size_t done = 0;

        while (done < len) {
                ssize_t n = p->read(p->userdata, (uint8_t *) buf + done, len - done, offset + done);
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        return -ENODATA; /* the file shrank under us */
                done += (size_t) n;
        }
        return 0;
}

static bool all_zero(const uint8_t *b, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (b[i])
                        return false;
        return true;
}

/*
 * A numeric field: octal digits, maybe led by spaces and ended by a space or
 * NUL (every tar writes one of those), or GNU's base-256 for big values
 * (first byte 0x80). Returns 0 or -EINVAL.
 */
static int parse_number(const uint8_t *field, size_t len, uint64_t *ret) {
        uint64_t v = 0;
        size_t i = 0;
        bool digits = false;

        if (len > 0 && field[0] == 0x80) {
                for (i = 1; i < len; i++) {
                        if (v >> 56)
                                return -EINVAL;
                        v = v << 8 | field[i];
                }
                *ret = v;
                return 0;
        }
        while (i < len && field[i] == ' ')
                i++;
        for (; i < len && field[i] >= '0' && field[i] <= '7'; i++) {
                if (v >> 61)
                        return -EINVAL;
                v = v << 3 | (uint64_t) (field[i] - '0');
                digits = true;
        }
        /* after the digits only terminators: "12a" is no number */
        for (; i < len; i++)
                if (field[i] != ' ' && field[i] != '\0')
                        return -EINVAL;
        if (!digits)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* The checksum is over the header with its own field read as spaces; old tars summed signed chars. */
static bool checksum_ok(const uint8_t h[CB_TAR_BLOCK]) {
        uint64_t stored;
        uint64_t sum_unsigned = 0;
        int64_t sum_signed = 0;

        if (parse_number(h + H_CHKSUM, H_CHKSUM_LEN, &stored) < 0)
                return false;
        for (size_t i = 0; i < CB_TAR_BLOCK; i++) {
                uint8_t b = i >= H_CHKSUM && i < H_CHKSUM + H_CHKSUM_LEN ? ' ' : h[i];
                sum_unsigned += b;
                sum_signed += (int8_t) b;
        }
        return stored == sum_unsigned || (int64_t) stored == sum_signed;
}

static const char *type_refusal(uint8_t type) {
        switch (type) {
        case '1':
                return "a hard link";
        case '2':
                return "a symbolic link";
        case 'K':
                return "a GNU long link name";
        case '3':
                return "a character device";
        case '4':
                return "a block device";
        case '6':
                return "a FIFO";
        case 'S':
                return "a GNU sparse file";
        default:
                return NULL;
        }
}

/*
 * The records of a pax extended header ("LEN key=value\n" each) that matter
 * here: "path" renames the next member, "size" overrides its size field.
 * Every other key (times, owners, GNU's own) changes nothing we serve.
 */
static int pax_parse(struct parse *p, const char *data, size_t len, uint64_t where, char **path, bool *has_size,
                     uint64_t *size) {
        size_t pos = 0;

        while (pos < len) {
                const char *rec = data + pos, *key, *eq, *end;
                size_t rec_len = 0, i = 0;

                while (i < len - pos && rec[i] >= '0' && rec[i] <= '9' && rec_len <= len)
                        rec_len = rec_len * 10 + (size_t) (rec[i++] - '0');
                if (i == 0 || i >= len - pos || rec[i] != ' ' || rec_len <= i + 1 || rec_len > len - pos ||
                    rec[rec_len - 1] != '\n')
                        return refuse(p, "a malformed pax record in the extended header at offset %" PRIu64, where);
                key = rec + i + 1;
                end = rec + rec_len - 1;
                eq = memchr(key, '=', (size_t) (end - key));
                if (!eq)
                        return refuse(p, "a pax record without '=' in the extended header at offset %" PRIu64, where);
                if ((size_t) (eq - key) == 4 && memcmp(key, "path", 4) == 0) {
                        size_t n = (size_t) (end - eq - 1);
                        if (memchr(eq + 1, '\0', n))
                                return refuse(p, "a pax path with a NUL byte at offset %" PRIu64, where);
                        free(*path);
                        *path = strndup(eq + 1, n);
                        if (!*path)
                                return -ENOMEM;
                } else if ((size_t) (eq - key) == 4 && memcmp(key, "size", 4) == 0) {
                        uint64_t v = 0;
                        if (eq + 1 == end)
                                return refuse(p, "an empty pax size at offset %" PRIu64, where);
                        for (const char *c = eq + 1; c < end; c++) {
                                if (*c < '0' || *c > '9' || v > (UINT64_MAX - 9) / 10)
                                        return refuse(p, "a bad pax size at offset %" PRIu64, where);
                                v = v * 10 + (uint64_t) (*c - '0');
                        }
                        *has_size = true;
                        *size = v;
                }
                pos += rec_len;
        }
        return 0;
}

/* Checks a member's name for anything that could leave the directory it stands for. */
static const char *name_refusal(const char *name) {
        if (name[0] == '\0')
                return "an empty name";
        if (name[0] == '/')
                return "an absolute name";
        for (const char *c = name; *c;) {
                size_t n = strcspn(c, "/");
                if (n == 2 && c[0] == '.' && c[1] == '.')
                        return "a '..' component";
                c += n;
                c += strspn(c, "/");
        }
        if (strchr(name, '\\'))
                return "a backslash";
        return NULL;
}

static int add_member(struct parse *p, const char *shown, const char *name, uint64_t offset, uint32_t size) {
        char normal[NAME_MAX_KEPT + 1];
        ssize_t len = normalise(name, normal, sizeof normal);
        struct member *m;

        /* too long for any request: it can never be asked for, and needs no room */
        if (len == -ENAMETOOLONG)
                return 0;
        if (len <= 0)
                return refuse(p, "member \"%s\" has no name left once \".\" components are removed", shown);
        if (p->tar->n_members >= CB_TAR_MEMBERS_MAX)
                return refuse(p, "more than %u members", CB_TAR_MEMBERS_MAX);
        m = realloc(p->tar->members, (p->tar->n_members + 1) * sizeof *m);
        if (!m)
                return -ENOMEM;
        p->tar->members = m;
        m = &p->tar->members[p->tar->n_members];
        m->name = strdup(normal);
        if (!m->name)
                return -ENOMEM;
        m->offset = offset;
        m->size = size;
        p->tar->n_members++;
        return 0;
}

/* The header's own name: the POSIX prefix, if any, then the name field. */
static void header_name(const uint8_t h[CB_TAR_BLOCK], char out[H_PREFIX_LEN + 1 + H_NAME_LEN + 1]) {
        size_t name_len = strnlen((const char *) h + H_NAME, H_NAME_LEN);
        size_t len = 0;

        /* only POSIX ustar ("ustar\0") has a prefix there; GNU's "ustar  " keeps other fields in it */
        if (memcmp(h + H_MAGIC, "ustar\0", 6) == 0) {
                size_t prefix_len = strnlen((const char *) h + H_PREFIX, H_PREFIX_LEN);
                if (prefix_len > 0) {
                        memcpy(out, h + H_PREFIX, prefix_len);
                        len = prefix_len;
                        out[len++] = '/';
                }
        }
        memcpy(out + len, h + H_NAME, name_len);
        out[len + name_len] = '\0';
}

/* Reads an extended header's data ('L' or 'x', at most CB_TAR_LONGNAME_MAX bytes) into a new string. */
static int read_extension(struct parse *p, uint64_t size, uint64_t data_off, uint64_t where, char **ret) {
        _cleanup_free_ char *data = NULL;
        int r;

        if (size == 0 || size > CB_TAR_LONGNAME_MAX)
                return refuse(p, "an extended header of %" PRIu64 " bytes at offset %" PRIu64, size, where);
        data = malloc((size_t) size + 1);
        if (!data)
                return -ENOMEM;
        r = read_exact(p, data, (size_t) size, data_off);
        if (r < 0)
                return r;
        data[size] = '\0';
        *ret = data;
        data = NULL;
        return 0;
}

static int parse_all(struct parse *p) {
        /* what extended headers said about the next member */
        _cleanup_free_ char *long_name = NULL;
        bool has_pax_size = false, extended = false;
        uint64_t pax_size = 0;
        uint8_t h[CB_TAR_BLOCK];
        char plain_name[H_PREFIX_LEN + 1 + H_NAME_LEN + 1];
        uint64_t off = 0;
        unsigned headers = 0;
        int r;

        for (;;) {
                uint64_t size, data_off;
                const char *name, *why;
                _cleanup_free_ char *shown = NULL;
                uint8_t type;

                if (off == p->file_size)
                        return refuse(p, "no end-of-archive block after %u headers (the file is cut short?)",
                                      headers);
                if (p->file_size - off < CB_TAR_BLOCK)
                        return refuse(p, "the header at offset %" PRIu64 " is cut off by the end of the file", off);
                r = read_exact(p, h, sizeof h, off);
                if (r < 0)
                        return r;
                if (all_zero(h, sizeof h)) {
                        if (extended)
                                return refuse(p, "an extended header at the end of the archive names no member");
                        return 0; /* end of archive; what follows (the second zero block, padding) is not ours */
                }
                headers++;
                if (!checksum_ok(h))
                        return refuse(p, "bad header checksum at offset %" PRIu64 " (not a tar, or damaged)", off);
                if (parse_number(h + H_SIZE, H_SIZE_LEN, &size) < 0)
                        return refuse(p, "bad size field in the header at offset %" PRIu64, off);
                type = h[H_TYPE];
                if (has_pax_size && type != 'x' && type != 'L')
                        size = pax_size;
                data_off = off + CB_TAR_BLOCK;

                if (long_name) {
                        name = long_name;
                } else {
                        header_name(h, plain_name);
                        name = plain_name;
                }
                shown = cb_text_escape(name, strlen(name));
                if (!shown)
                        return -ENOMEM;

                if (size > p->file_size - data_off)
                        return refuse(p, "member \"%s\" claims %" PRIu64 " bytes, past the end of the file", shown,
                                      size);

                why = type_refusal(type);
                if (why)
                        return refuse(p, "member \"%s\" is %s", shown, why);

                if (type == 'L') {
                        /* GNU's long name: the data is the next member's name, up to its first NUL */
                        char *next_name = NULL;
                        r = read_extension(p, size, data_off, off, &next_name);
                        if (r < 0)
                                return r;
                        free(long_name);
                        long_name = next_name;
                        extended = true;
                } else if (type == 'x' || type == 'g') {
                        _cleanup_free_ char *records = NULL;
                        _cleanup_free_ char *path = NULL;
                        bool sized = false;
                        uint64_t v = 0;

                        r = read_extension(p, size, data_off, off, &records);
                        if (r < 0)
                                return r;
                        r = pax_parse(p, records, (size_t) size, off, &path, &sized, &v);
                        if (r < 0)
                                return r;
                        if (type == 'g') {
                                /* a global header renaming or resizing every member is no tar a release ships */
                                if (path || sized)
                                        return refuse(p, "a pax global header sets a path or size at offset %" PRIu64,
                                                      off);
                        } else {
                                if (path) {
                                        free(long_name);
                                        long_name = path;
                                        path = NULL;
                                }
                                if (sized) {
                                        has_pax_size = true;
                                        pax_size = v;
                                }
                                extended = true;
                        }
                } else {
                        bool dir = type == '5' || ((type == '0' || type == '\0') && name[0] &&
                                                   name[strlen(name) - 1] == '/');

                        if (type != '0' && type != '\0' && type != '7' && type != '5')
                                return refuse(p, "member \"%s\" has the unsupported type 0x%02x", shown, type);
                        why = name_refusal(name);
                        if (why)
                                return refuse(p, "member \"%s\" has %s", shown, why);
                        if (!dir) {
                                if (size > UINT32_MAX)
                                        return refuse(p, "member \"%s\" is larger than 4 GiB, more than the protocol carries",
                                                      shown);
                                r = add_member(p, shown, name, data_off, (uint32_t) size);
                                if (r < 0)
                                        return r;
                        }
                        long_name = xfree(long_name);
                        has_pax_size = extended = false;
                }
                /* the data is padded to whole blocks; a missing pad shows as a cut header next */
                off = data_off + (size + CB_TAR_BLOCK - 1) / CB_TAR_BLOCK * CB_TAR_BLOCK;
                if (off > p->file_size)
                        off = p->file_size;
        }
}

int cb_tar_index(cb_tar_read_t read, void *userdata, uint64_t file_size, struct cb_tar **ret, char **ret_error) {
        struct parse p = { .read = read, .userdata = userdata, .file_size = file_size };
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (!read || !ret)
                return -EINVAL;
        p.tar = calloc(1, sizeof *p.tar);
        if (!p.tar)
                return -ENOMEM;
        r = parse_all(&p);
        if (r < 0) {
                cb_tar_free(p.tar);
                if (ret_error)
                        *ret_error = p.error;
                else
                        free(p.error);
                return r;
        }
        *ret = p.tar;
        return 0;
}

static ssize_t read_fd(void *userdata, void *buf, size_t len, uint64_t offset) {
        int fd = *(int *) userdata;
        ssize_t n;

        do
                n = pread(fd, buf, len, (off_t) offset);
        while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : n;
}

int cb_tar_index_fd(int fd, uint64_t file_size, struct cb_tar **ret, char **ret_error) {
        return cb_tar_index(read_fd, &fd, file_size, ret, ret_error);
}
