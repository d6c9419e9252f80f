/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "format.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define USEC_PER_MSEC 1000ULL
#define USEC_PER_SEC 1000000ULL
#define USEC_PER_MINUTE (60ULL * USEC_PER_SEC)
#define USEC_PER_HOUR (60ULL * USEC_PER_MINUTE)
#define USEC_PER_DAY (24ULL * USEC_PER_HOUR)

bool colours_wanted(bool is_tty, const char *no_color, const char *term) {
        if (!is_tty)
                return false;
        if (no_color && no_color[0] != '\0')
                return false;
        if (term && strcmp(term, "dumb") == 0)
                return false;
        return true;
}

char *format_bytes(char *buf, size_t size, uint64_t bytes) {
        static const char units[] = { 'K', 'M', 'G', 'T', 'P', 'E' };
        double v = (double) bytes;
        size_t u = 0;

        if (bytes < 1024) {
                snprintf(buf, size, "%lluB", (unsigned long long) bytes);
                return buf;
        }
        v /= 1024.0;
        while (v >= 1024.0 && u + 1 < sizeof units) {
                v /= 1024.0;
                u++;
        }
        /* one decimal while it carries information, none above 10 */
        if (v < 10.0)
                snprintf(buf, size, "%.1f%c", v, units[u]);
        else
                snprintf(buf, size, "%.0f%c", v, units[u]);
        return buf;
}

char *format_duration(char *buf, size_t size, uint64_t usec) {
        if (usec < USEC_PER_SEC)
                snprintf(buf, size, "%llums", (unsigned long long) (usec / USEC_PER_MSEC));
        else if (usec < USEC_PER_MINUTE)
                snprintf(buf, size, "%llu.%llus", (unsigned long long) (usec / USEC_PER_SEC),
                         (unsigned long long) (usec % USEC_PER_SEC / (USEC_PER_SEC / 10)));
        else if (usec < USEC_PER_HOUR)
                snprintf(buf, size, "%llumin %llus", (unsigned long long) (usec / USEC_PER_MINUTE),
                         (unsigned long long) (usec % USEC_PER_MINUTE / USEC_PER_SEC));
        else if (usec < USEC_PER_DAY)
                snprintf(buf, size, "%lluh %llumin", (unsigned long long) (usec / USEC_PER_HOUR),
                         (unsigned long long) (usec % USEC_PER_HOUR / USEC_PER_MINUTE));
        else
                snprintf(buf, size, "%llud %lluh", (unsigned long long) (usec / USEC_PER_DAY),
                         (unsigned long long) (usec % USEC_PER_DAY / USEC_PER_HOUR));
        return buf;
}

static bool local_time(uint64_t realtime_usec, struct tm *tm) {
        time_t t = (time_t) (realtime_usec / USEC_PER_SEC);
        return localtime_r(&t, tm) != NULL;
}

char *format_timestamp(char *buf, size_t size, uint64_t realtime_usec) {
        struct tm tm;

        if (!local_time(realtime_usec, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, size, "@%llu", (unsigned long long) (realtime_usec / USEC_PER_SEC));
        return buf;
}

char *format_time_of_day(char *buf, size_t size, uint64_t realtime_usec) {
        struct tm tm;
        char hms[16];

        if (!local_time(realtime_usec, &tm) || strftime(hms, sizeof hms, "%H:%M:%S", &tm) == 0)
                snprintf(hms, sizeof hms, "??:??:??");
        snprintf(buf, size, "%s.%03llu", hms, (unsigned long long) (realtime_usec % USEC_PER_SEC / USEC_PER_MSEC));
        return buf;
}

char *format_sanitize(char *buf, size_t size, const char *s) {
        size_t i = 0;

        if (size == 0)
                return buf;
        for (; s && *s && i + 1 < size; s++) {
                unsigned char ch = (unsigned char) *s;
                buf[i++] = ch < 0x20 || ch == 0x7f ? '?' : (char) ch;
        }
        buf[i] = '\0';
        return buf;
}

/* UTF-8 continuation bytes do not start a column. */
static bool starts_column(char c) {
        return ((unsigned char) c & 0xc0) != 0x80;
}

size_t text_width(const char *s) {
        size_t w = 0;

        for (; *s; s++)
                w += starts_column(*s);
        return w;
}

char *ellipsize(char *buf, size_t size, const char *s, size_t width) {
        size_t keep, cols = 0, i = 0;

        if (size == 0)
                return buf;
        if (text_width(s) <= width) {
                snprintf(buf, size, "%s", s);
                return buf;
        }
        if (width <= 3) {
                snprintf(buf, size, "%.*s", (int) width, "...");
                return buf;
        }
        keep = width - 3;
        /* stop at a code point boundary, never inside a character */
        while (s[i] && i + 4 < size) {
                if (starts_column(s[i])) {
                        if (cols == keep)
                                break;
                        cols++;
                }
                i++;
        }
        while (i > 0 && s[i] && !starts_column(s[i]))
                i--;
        snprintf(buf, size, "%.*s...", (int) i, s);
        return buf;
}

static int parse_duration_part(const char **p, uint64_t *ret) {
        static const struct {
                const char *unit;
                uint64_t usec;
        } units[] = {
                /* longest first: "ms" is not "m" then "s" */
                { "msec", USEC_PER_MSEC }, { "ms", USEC_PER_MSEC }, { "min", USEC_PER_MINUTE }, { "sec", USEC_PER_SEC },
                { "s", USEC_PER_SEC },     { "h", USEC_PER_HOUR },  { "d", USEC_PER_DAY },
        };
        const char *s = *p;
        uint64_t whole = 0, frac = 0, scale = 1, unit = USEC_PER_SEC;
        bool digits = false;

        for (; *s >= '0' && *s <= '9'; s++, digits = true) {
                if (whole > UINT64_MAX / 10 / USEC_PER_DAY)
                        return -EINVAL;
                whole = whole * 10 + (uint64_t) (*s - '0');
        }
        if (*s == '.')
                for (s++; *s >= '0' && *s <= '9'; s++, digits = true)
                        if (scale < USEC_PER_SEC) {
                                frac = frac * 10 + (uint64_t) (*s - '0');
                                scale *= 10;
                        }
        if (!digits)
                return -EINVAL;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
                if (strncmp(s, units[i].unit, strlen(units[i].unit)) == 0) {
                        unit = units[i].usec;
                        s += strlen(units[i].unit);
                        break;
                }
        *ret = whole * unit + frac * unit / scale;
        *p = s;
        return 0;
}

int parse_duration(const char *text, uint64_t *ret_usec) {
        const char *p = text;
        uint64_t total = 0;

        if (!text)
                return -EINVAL;
        while (*p == ' ')
                p++;
        if (*p == '\0')
                return -EINVAL;
        while (*p) {
                uint64_t part;

                if (parse_duration_part(&p, &part) < 0 || total > UINT64_MAX - part)
                        return -EINVAL;
                total += part;
                while (*p == ' ')
                        p++;
        }
        *ret_usec = total;
        return 0;
}
