/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Untrusted text made safe where it enters. A board's file name, a client's
 * method name: bytes someone else chose, on their way to logs, events,
 * last_error and JSON. The escaped form is printable, valid UTF-8 (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF): every byte that
 * is not part of a valid, printable character becomes "\xNN" (lower-case
 * hex), and so does the backslash itself, so that the form cannot be forged
 * and reads back unambiguously. Non-printable means C0 and C1 controls, DEL,
 * the line and paragraph separators, the invisible format characters that
 * reorder or hide text (bidi overrides and isolates, zero-width characters,
 * tags, BOM) and the noncharacters.
 *
 * Cuts never split a character (or an escape) and end with "…" when they
 * dropped something. No allocation except in cb_text_escape(), no I/O, no
 * locale.
 */

#include <stdbool.h>
#include <stddef.h>

/* What a cut text ends with (3 bytes of UTF-8). */
#define CB_TEXT_ELLIPSIS "\xe2\x80\xa6"

/* The escaped form of `size` bytes, allocated, NUL-terminated; NULL only when out of memory. */
char *cb_text_escape(const void *data, size_t size);

/*
 * The escaped form of `size` bytes into buf (buf_size > 0), always
 * NUL-terminated; cut (see cb_text_cut()) when it does not fit. Returns the
 * length written, without the NUL.
 */
size_t cb_text_escape_to(char *buf, size_t buf_size, const void *data, size_t size);

/*
 * Cuts the string `s` in place to at most `max` bytes: on a character
 * boundary, ending with "…" when it cut (when max >= 3; below that, just on
 * a boundary). Meant for valid UTF-8; on other bytes it still never leaves a
 * partial sequence behind. Returns the new length.
 */
size_t cb_text_cut(char *s, size_t max);

/* True if `size` bytes are valid UTF-8 (RFC 3629); NULs count as valid. */
bool cb_text_valid_utf8(const void *data, size_t size);

/* True if cb_text_escape() would return the same bytes. */
bool cb_text_is_safe(const void *data, size_t size);
