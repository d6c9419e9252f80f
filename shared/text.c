/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ELLIPSIS_LEN (sizeof CB_TEXT_ELLIPSIS - 1)
/* "\xNN" */
#define ESCAPE_LEN 4

/*
 * The length of the valid UTF-8 sequence at p (1-4), and its code point;
 * 0 when the bytes there are not one (a stray continuation byte, an
 * overlong form, a surrogate, beyond U+10FFFF, or cut short).
 */
static size_t decode(const unsigned char *p, size_t avail, uint32_t *ret_cp) {
        unsigned char b = p[0];
        size_t len;
        uint32_t cp;
        unsigned char lo = 0x80, hi = 0xbf; /* the range allowed for the second byte */

        if (b < 0x80) {
                *ret_cp = b;
                return 1;
        }
        if (b >= 0xc2 && b <= 0xdf) {
                len = 2;
                cp = b & 0x1f;
        } else if (b >= 0xe0 && b <= 0xef) {
                len = 3;
                cp = b & 0x0f;
                if (b == 0xe0)
                        lo = 0xa0; /* below: overlong */
                else if (b == 0xed)
                        hi = 0x9f; /* above: surrogates */
        } else if (b >= 0xf0 && b <= 0xf4) {
                len = 4;
                cp = b & 0x07;
                if (b == 0xf0)
                        lo = 0x90; /* below: overlong */
                else if (b == 0xf4)
                        hi = 0x8f; /* above: beyond U+10FFFF */
        } else {
                return 0; /* continuation byte, C0/C1 (overlong ASCII), F5..FF */
        }
        if (avail < len || p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3f);
        }
        *ret_cp = cp;
        return len;
}

/* Characters that are valid but do not belong in a log line or a terminal as they are. */
static bool printable(uint32_t cp) {
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
                return false; /* C0, DEL, C1 */
        if (cp == '\\')
                return false; /* the escape character: escaped too, so an escape cannot be faked */
        if (cp == 0x061c || cp == 0x180e || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
            (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb))
                return false; /* zero-width, bidi marks/overrides/isolates, separators, BOM, annotations */
        if (cp >= 0xe0000 && cp <= 0xe007f)
                return false; /* tags: invisible ASCII */
        if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe)
                return false; /* noncharacters */
        return true;
}

/* How many input bytes the next unit takes and whether it is kept as it is (else its first byte is escaped). */
static size_t next_unit(const unsigned char *p, size_t avail, bool *ret_kept) {
        uint32_t cp = 0;
        size_t len = decode(p, avail, &cp);

        *ret_kept = len > 0 && printable(cp);
        return *ret_kept ? len : 1;
}

static void put_escape(char *out, unsigned char byte) {
        static const char hex[] = "0123456789abcdef";

        out[0] = '\\';
        out[1] = 'x';
        out[2] = hex[byte >> 4];
        out[3] = hex[byte & 0xf];
}

bool cb_text_valid_utf8(const void *data, size_t size) {
        const unsigned char *p = data;
        uint32_t cp;

        for (size_t i = 0; i < size;) {
                size_t len = decode(p + i, size - i, &cp);

                if (len == 0)
                        return false;
                i += len;
        }
        return true;
}

bool cb_text_is_safe(const void *data, size_t size) {
        const unsigned char *p = data;
        bool kept;

        for (size_t i = 0; i < size;) {
                i += next_unit(p + i, size - i, &kept);
                if (!kept)
                        return false;
        }
        return true;
}

char *cb_text_escape(const void *data, size_t size) {
        const unsigned char *p = data;
        size_t need = 1;
        bool kept;
        char *out;

        for (size_t i = 0; i < size;) {
                size_t n = next_unit(p + i, size - i, &kept);

                need += kept ? n : ESCAPE_LEN;
                i += n;
        }
        out = malloc(need);
        if (!out)
                return NULL;
        /* the whole form fits by construction: escape_to never cuts here */
        (void) cb_text_escape_to(out, need, data, size);
        return out;
}

size_t cb_text_escape_to(char *buf, size_t buf_size, const void *data, size_t size) {
        const unsigned char *p = data;
        size_t cap, at = 0, cut_at = 0;
        bool kept;

        if (buf_size == 0)
                return 0;
        cap = buf_size - 1;
        for (size_t i = 0; i < size;) {
                size_t n = next_unit(p + i, size - i, &kept);
                size_t out_len = kept ? n : ESCAPE_LEN;

                if (at + out_len > cap) {
                        /* back to the last boundary that leaves room for the ellipsis (if any can) */
                        if (cap >= ELLIPSIS_LEN) {
                                memcpy(buf + cut_at, CB_TEXT_ELLIPSIS, ELLIPSIS_LEN);
                                at = cut_at + ELLIPSIS_LEN;
                        }
                        break;
                }
                if (kept)
                        memcpy(buf + at, p + i, n);
                else
                        put_escape(buf + at, p[i]);
                at += out_len;
                i += n;
                if (at + ELLIPSIS_LEN <= cap)
                        cut_at = at;
        }
        buf[at] = '\0';
        return at;
}

/* The largest character boundary at or below `at` (at most 3 continuation bytes are stepped over). */
static size_t boundary_at_or_before(const char *s, size_t at) {
        for (unsigned back = 0; back < 3 && at > 0 && ((unsigned char) s[at] & 0xc0) == 0x80; back++)
                at--;
        return at;
}

size_t cb_text_cut(char *s, size_t max) {
        size_t len = strlen(s), at;

        if (len <= max)
                return len;
        if (max < ELLIPSIS_LEN) {
                at = boundary_at_or_before(s, max);
                s[at] = '\0';
                return at;
        }
        at = boundary_at_or_before(s, max - ELLIPSIS_LEN);
        memcpy(s + at, CB_TEXT_ELLIPSIS, ELLIPSIS_LEN + 1);
        return at + ELLIPSIS_LEN;
}
