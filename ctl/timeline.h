/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * `clusterbootctl timeline`: the boot history as a picture, an SVG document
 * written here (no browser or library needed to make it). Each node is a
 * row; each of its boots a lane in it, drawn from the boot's own start so
 * that boots line up and a board that fails at the same point every time
 * shows as marks in one column. A boot is bars coloured by the state it was
 * in; attempts (a line where the next one starts), faults (a red
 * triangle), resets and power cycles (their own marks) are marked, each
 * with a tooltip (<title>) saying what happened. The time axis is the time
 * since each boot's start.
 *
 * The elements carry what they were drawn from (class and data-*
 * attributes: node, state, attempt, offsets in microseconds), so a test
 * can read the picture back and compare it with the history.
 */

#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

struct timeline_options {
        unsigned last;          /* each node's last N boots; 0: all */
        uint64_t since_usec;    /* boots that started at or after this (CLOCK_REALTIME); 0: all */
        uint64_t now_usec;      /* CLOCK_REALTIME, where a running boot's bars end; 0: at its last stage (a saved history) */
};

/* GetHistory's reply parameters (or `history --json` output) as SVG into f. Returns the number of boots drawn, or -ENOMEM. */
int timeline_svg(FILE *f, struct json_object *history, const struct timeline_options *o);

/*
 * --since=: a time ago ("2h", "30min": parse_duration()), a moment in local
 * time ("2026-12-03 23:00[:SS]", "2026-12-03", or "23:00[:SS]" today), or
 * "@SECONDS" since the epoch. Returns 0 or -EINVAL.
 */
int timeline_parse_since(const char *text, uint64_t now_realtime_usec, uint64_t *ret_usec);
