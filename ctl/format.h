/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Turning numbers, times and untrusted text into what a person reads:
 * sizes ("8.1M"), durations ("2h 3min"), timestamps, terminal-safe strings,
 * and whether colours are wanted at all. Pure functions: unit-tested.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ANSI colours; only used when colours_wanted() said so. */
#define ANSI_RED "\033[0;31m"
#define ANSI_GREEN "\033[0;32m"
#define ANSI_YELLOW "\033[0;33m"
#define ANSI_BLUE "\033[0;34m"
#define ANSI_GREY "\033[0;38;5;245m"
#define ANSI_BOLD "\033[1m"
#define ANSI_UNDERLINE "\033[0;4m"
#define ANSI_NORMAL "\033[0m"

/* Colours on a terminal only, and never with NO_COLOR set (https://no-color.org) or TERM=dumb. */
bool colours_wanted(bool is_tty, const char *no_color, const char *term);

/* 1024-based: "512B", "8.1K", "45M", "1.2G". Returns buf. */
char *format_bytes(char *buf, size_t size, uint64_t bytes);
/* "850ms", "12.3s", "3min 12s", "2h 3min", "4d 2h". Returns buf. */
char *format_duration(char *buf, size_t size, uint64_t usec);
/* Local time of a CLOCK_REALTIME microsecond timestamp: "2024-05-01 12:00:01". */
char *format_timestamp(char *buf, size_t size, uint64_t realtime_usec);
/* Local time of day with milliseconds, for live events: "12:00:01.234". */
char *format_time_of_day(char *buf, size_t size, uint64_t realtime_usec);

/*
 * Copies `s` with control characters (and DEL) shown as '?': node messages
 * may quote file names a board asked for, and a board must not be able to
 * send escape sequences to the operator's terminal. Returns buf.
 */
char *format_sanitize(char *buf, size_t size, const char *s);

/* Display width of UTF-8 text (code points; the texts shown here have no wide characters). */
size_t text_width(const char *s);
/* Copies at most `width` columns of `s`, ending in "..." when cut. Returns buf. */
char *ellipsize(char *buf, size_t size, const char *s, size_t width);

/*
 * A duration as people type it: "30" (seconds), "1.5s", "500ms", "2min",
 * "1h", also combined ("1min 30s"). Returns 0, or -EINVAL.
 */
int parse_duration(const char *text, uint64_t *ret_usec);
