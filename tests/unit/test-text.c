/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Untrusted text (text.c): what is kept, what is escaped, that the escaped
 * form is printable valid UTF-8 and reads back to the very bytes it came
 * from, and that cuts never split a character or an escape.
 */
#include <string.h>

#include "check.h"
#include "text.h"
#include "util.h"

#define ELLIPSIS CB_TEXT_ELLIPSIS

static void expect_escape(const char *in, size_t in_size, const char *want) {
        char *got = cb_text_escape(in, in_size);

        CHECK_MSG(got && strcmp(got, want) == 0, "escape of %zu bytes: got \"%s\", want \"%s\"", in_size,
                  got ? got : "(null)", want);
        CHECK(cb_text_is_safe(in, in_size) == (strlen(want) == in_size && memcmp(in, want, in_size) == 0));
        free(got);
}

#define EXPECT(in, want) expect_escape((in), sizeof(in) - 1, (want))

static void test_kept(void) {
        EXPECT("", "");
        EXPECT("kernel.img", "kernel.img");
        EXPECT("overlays/dwc2.dtbo", "overlays/dwc2.dtbo");
        EXPECT("a b~!\"#$%&'()*+,-./:;<=>?@[]^_`{|}", "a b~!\"#$%&'()*+,-./:;<=>?@[]^_`{|}");
        /* every width of valid UTF-8, at the edges of each range */
        EXPECT("caf\xc3\xa9", "caf\xc3\xa9");             /* U+00E9 */
        EXPECT("\xc2\xa0", "\xc2\xa0");                   /* U+00A0, first after C1 */
        EXPECT("\xdf\xbf", "\xdf\xbf");                   /* U+07FF */
        EXPECT("\xe0\xa0\x80", "\xe0\xa0\x80");           /* U+0800 */
        EXPECT("\xe2\x82\xac", "\xe2\x82\xac");           /* U+20AC euro */
        EXPECT("\xed\x9f\xbf", "\xed\x9f\xbf");           /* U+D7FF, last before the surrogates */
        EXPECT("\xee\x80\x80", "\xee\x80\x80");           /* U+E000 */
        EXPECT("\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac");
        EXPECT("\xf0\x90\x80\x80", "\xf0\x90\x80\x80");   /* U+10000 */
        EXPECT("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");   /* an emoji */
        EXPECT("\xf4\x8f\xbf\xbd", "\xf4\x8f\xbf\xbd");   /* U+10FFFD */
        EXPECT(ELLIPSIS, ELLIPSIS);
}

static void test_invalid(void) {
        EXPECT("\x80", "\\x80");                          /* a stray continuation byte */
        EXPECT("\xbf\x80", "\\xbf\\x80");
        EXPECT("\xc3\x28", "\\xc3(");                     /* a lead byte without its continuation */
        EXPECT("a\xc3", "a\\xc3");                        /* cut short at the end */
        EXPECT("\xe2\x82", "\\xe2\\x82");
        EXPECT("\xf0\x9f\x98", "\\xf0\\x9f\\x98");
        /* overlong forms of '/' and NUL: the classic ways around a '/' check */
        EXPECT("\xc0\xaf", "\\xc0\\xaf");
        EXPECT("\xc1\xbf", "\\xc1\\xbf");
        EXPECT("\xc0\x80", "\\xc0\\x80");
        EXPECT("\xe0\x80\xaf", "\\xe0\\x80\\xaf");
        EXPECT("\xe0\x9f\xbf", "\\xe0\\x9f\\xbf");
        EXPECT("\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf");
        EXPECT("\xf0\x8f\xbf\xbf", "\\xf0\\x8f\\xbf\\xbf");
        /* surrogates, alone and as a CESU-8 pair */
        EXPECT("\xed\xa0\x80", "\\xed\\xa0\\x80");
        EXPECT("\xed\xbf\xbf", "\\xed\\xbf\\xbf");
        EXPECT("\xed\xa0\xbd\xed\xb8\x80", "\\xed\\xa0\\xbd\\xed\\xb8\\x80");
        /* beyond U+10FFFF, and bytes that never occur */
        EXPECT("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
        EXPECT("\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80");
        EXPECT("\xf8\x88\x80\x80\x80", "\\xf8\\x88\\x80\\x80\\x80");
        EXPECT("\xfe\xff", "\\xfe\\xff");
        /* an invalid byte does not swallow the valid character after it */
        EXPECT("\xe2\x28\xa1", "\\xe2(\\xa1");
        EXPECT("\xc3\xc3\xa9", "\\xc3\xc3\xa9");
}

static void test_non_printable(void) {
        EXPECT("\n", "\\x0a");
        EXPECT("a\r\nMESSAGE=forged", "a\\x0d\\x0aMESSAGE=forged");
        EXPECT("\x1b[31mred", "\\x1b[31mred");
        EXPECT("\t\x7f", "\\x09\\x7f");
        EXPECT("x\0y", "x\\x00y");                          /* a NUL inside the bytes is escaped, not an end */
        EXPECT("C:\\boot", "C:\\x5cboot");                  /* the backslash itself */
        EXPECT("\\x41", "\\x5cx41");                        /* so an escape cannot be faked */
        EXPECT("\xc2\x85", "\\xc2\\x85");                   /* U+0085 NEL, a C1 control */
        EXPECT("\xc2\x9b" "31m", "\\xc2\\x9b31m");          /* U+009B CSI */
        EXPECT("\xe2\x80\xa8", "\\xe2\\x80\\xa8");          /* U+2028 line separator */
        EXPECT("\xe2\x80\xa9", "\\xe2\\x80\\xa9");          /* U+2029 */
        EXPECT("txt.\xe2\x80\xaegpj", "txt.\\xe2\\x80\\xaegpj"); /* U+202E right-to-left override */
        EXPECT("\xe2\x81\xa6", "\\xe2\\x81\\xa6");          /* U+2066 isolate */
        EXPECT("\xe2\x80\x8b", "\\xe2\\x80\\x8b");          /* U+200B zero width space */
        EXPECT("\xef\xbb\xbf", "\\xef\\xbb\\xbf");          /* U+FEFF BOM */
        EXPECT("\xf3\xa0\x80\x81", "\\xf3\\xa0\\x80\\x81"); /* U+E0001 language tag */
        EXPECT("\xef\xbf\xbe", "\\xef\\xbf\\xbe");          /* U+FFFE noncharacter */
        EXPECT("\xef\xb7\x90", "\\xef\\xb7\\x90");          /* U+FDD0 noncharacter */
        EXPECT("\xf4\x8f\xbf\xbf", "\\xf4\\x8f\\xbf\\xbf"); /* U+10FFFF noncharacter */
}

/* Reverses the escape (the test's own reader): the form must be unambiguous. */
static size_t unescape(const char *s, unsigned char *out) {
        size_t n = 0;

        while (*s) {
                if (s[0] == '\\') {
                        unsigned v = 0;
                        CHECK(s[1] == 'x' && sscanf(s + 2, "%2x", &v) == 1);
                        out[n++] = (unsigned char) v;
                        s += 4;
                } else {
                        out[n++] = (unsigned char) *s++;
                }
        }
        return n;
}

static uint32_t rng_state = 12345;
static uint32_t rng(void) {
        rng_state = rng_state * 1103515245u + 12345u;
        return rng_state >> 8;
}

/* Random bytes, biased towards UTF-8 lead and continuation bytes so that near-valid sequences are common. */
static void random_bytes(unsigned char *b, size_t n) {
        static const unsigned char interesting[] = { 0x00, 0x0a, 0x1b, 0x5c, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0,
                                                     0xc1, 0xc2, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff };
        for (size_t i = 0; i < n; i++) {
                uint32_t r = rng();
                b[i] = r % 3 == 0 ? interesting[(r >> 4) % sizeof interesting]
                       : r % 3 == 1 ? (unsigned char) (0x80 | ((r >> 4) & 0x3f))
                                    : (unsigned char) (r >> 4);
        }
}

static void test_random_round_trip(void) {
        unsigned char in[64], back[64];

        for (int round = 0; round < 20000; round++) {
                size_t n = rng() % sizeof in;
                char *out;

                random_bytes(in, n);
                out = cb_text_escape(in, n);
                CHECK(out != NULL);
                if (!out)
                        return;
                CHECK_MSG(cb_text_valid_utf8(out, strlen(out)), "round %d: not valid UTF-8", round);
                /* with its escapes taken out, what is left is all printable */
                _cleanup_free_ char *plain = strdup(out);
                size_t m = 0;
                for (const char *p = out; *p;)
                        if (*p == '\\') {
                                plain[m++] = '_';
                                p += 4;
                        } else {
                                plain[m++] = *p++;
                        }
                CHECK_MSG(cb_text_is_safe(plain, m), "round %d: \"%s\"", round, out);
                CHECK_MSG(unescape(out, back) == n && memcmp(back, in, n) == 0, "round %d: does not read back",
                          round);
                /* escaping is idempotent on the safe parts: a safe input comes out unchanged */
                CHECK(!cb_text_is_safe(in, n) || (strlen(out) == n && memcmp(out, in, n) == 0));
                free(out);
        }
}

/* Every buffer size: a prefix of the whole form, cut at a unit boundary, with "…" when it cut. */
static void check_escape_to_all_sizes(const char *in, size_t in_size) {
        _cleanup_free_ char *whole = cb_text_escape(in, in_size);
        size_t whole_len = whole ? strlen(whole) : 0;
        char buf[256];

        CHECK(whole && whole_len + 1 <= sizeof buf);
        if (!whole)
                return;
        for (size_t size = 1; size <= whole_len + 1; size++) {
                size_t n;

                memset(buf, 'Z', sizeof buf);
                n = cb_text_escape_to(buf, size, in, in_size);
                CHECK(n < size && buf[n] == '\0' && strlen(buf) == n);
                CHECK(cb_text_valid_utf8(buf, n));
                if (size == whole_len + 1) {
                        CHECK(strcmp(buf, whole) == 0);
                        continue;
                }
                /* cut: the kept part is a prefix ending on a boundary of the whole form, then the ellipsis */
                size_t kept = n;
                if (size > sizeof ELLIPSIS - 1) {
                        CHECK_MSG(n >= 3 && strcmp(buf + n - 3, ELLIPSIS) == 0, "size %zu: \"%s\"", size, buf);
                        kept = n - 3;
                }
                CHECK(memcmp(buf, whole, kept) == 0);
                CHECK_MSG(whole[kept] != '\0' && ((unsigned char) whole[kept] & 0xc0) != 0x80 &&
                                  (kept < 1 || whole[kept - 1] != '\\') && (kept < 2 || whole[kept - 2] != '\\') &&
                                  (kept < 3 || whole[kept - 3] != '\\'),
                          "size %zu: cut inside a character or an escape: \"%s\"", size, buf);
                /* and it keeps as much as fits: the next unit (a character or an escape) would not have */
                unsigned char lead = (unsigned char) whole[kept];
                size_t next = lead == '\\' ? 4 : lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
                CHECK_MSG(size <= 3 || kept + 3 + next > size - 1, "size %zu: \"%s\" could keep more", size, buf);
        }
        CHECK(cb_text_escape_to(buf, 0, in, in_size) == 0);
}

static void test_escape_to(void) {
        static const char mixed[] = "k\xc3\xa9rnel\n\xe2\x82\xac\xf0\x9f\x98\x80\xff.img\\";
        char buf[16];

        check_escape_to_all_sizes(mixed, sizeof mixed - 1);
        check_escape_to_all_sizes("plain ascii name", 16);
        check_escape_to_all_sizes("\xe6\x97\xa5\xe6\x9c\xac\xe6\x97\xa5\xe6\x9c\xac", 12);

        /* exactly full: no ellipsis */
        CHECK(cb_text_escape_to(buf, 11, "kernel.img", 10) == 10 && strcmp(buf, "kernel.img") == 0);
        CHECK(cb_text_escape_to(buf, 10, "kernel.img", 10) == 9 && strcmp(buf, "kernel" ELLIPSIS) == 0);
        /* an escape is never split */
        CHECK(cb_text_escape_to(buf, 9, "ab\ncdefgh", 9) == 5 && strcmp(buf, "ab" ELLIPSIS) == 0);
        /* too small for the ellipsis: just a boundary */
        CHECK(cb_text_escape_to(buf, 3, "\xc3\xa9\xc3\xa9", 4) == 2 && strcmp(buf, "\xc3\xa9") == 0);
        CHECK(cb_text_escape_to(buf, 1, "abc", 3) == 0 && buf[0] == '\0');
}

static void test_cut(void) {
        char s[64];

        snprintf(s, sizeof s, "kernel.img");
        CHECK(cb_text_cut(s, 10) == 10 && strcmp(s, "kernel.img") == 0);
        CHECK(cb_text_cut(s, 100) == 10);
        CHECK(cb_text_cut(s, 9) == 9 && strcmp(s, "kernel" ELLIPSIS) == 0);

        /* "aé€😀" = 1 + 2 + 3 + 4 bytes: every max lands on a boundary */
        static const char wide[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
        static const size_t boundaries[] = { 0, 1, 3, 6, 10 };
        for (size_t max = 0; max <= 10; max++) {
                size_t n, want_kept = 0;

                snprintf(s, sizeof s, "%s", wide);
                n = cb_text_cut(s, max);
                CHECK(n <= max && strlen(s) == n && cb_text_valid_utf8(s, n));
                if (max == 10) {
                        CHECK(strcmp(s, wide) == 0);
                        continue;
                }
                size_t room = max >= 3 ? max - 3 : max;
                for (size_t i = 0; i < ELEMENTSOF(boundaries); i++)
                        if (boundaries[i] <= room)
                                want_kept = boundaries[i];
                CHECK_MSG(memcmp(s, wide, want_kept) == 0 &&
                                  (max >= 3 ? n == want_kept + 3 && strcmp(s + want_kept, ELLIPSIS) == 0
                                            : n == want_kept),
                          "max %zu: \"%s\" (%zu bytes)", max, s, n);
        }

        /* a 200-byte event message of three-byte characters: cut to a boundary, not mid-character */
        char msg[201];
        for (size_t i = 0; i + 3 <= 200; i += 3)
                memcpy(msg + i, "\xe2\x82\xac", 3);
        msg[198] = '\0';
        CHECK(cb_text_cut(msg, 100) <= 100 && cb_text_valid_utf8(msg, strlen(msg)));
        CHECK(strlen(msg) == 99 && strcmp(msg + 96, ELLIPSIS) == 0);
}

static void test_valid_utf8(void) {
        CHECK(cb_text_valid_utf8("", 0));
        CHECK(cb_text_valid_utf8("a\0b", 3));
        CHECK(cb_text_valid_utf8("\n\x1b\xc2\x85\xe2\x80\xae", 8)); /* valid, though not printable */
        CHECK(!cb_text_valid_utf8("\xc0\xaf", 2));
        CHECK(!cb_text_valid_utf8("\xed\xa0\x80", 3));
        CHECK(!cb_text_valid_utf8("\xf4\x90\x80\x80", 4));
        CHECK(!cb_text_valid_utf8("\xe2\x82", 2));
}

int main(void) {
        test_kept();
        test_invalid();
        test_non_printable();
        test_random_round_trip();
        test_escape_to();
        test_cut();
        test_valid_utf8();
        return check_exit("test-text");
}
