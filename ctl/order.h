/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The order nodes are shown in: natural order, where a run of digits
 * compares as a number, so node2 comes before node10 and port 1-1.2 before
 * 1-1.10 (a port path is numbers between '-' and '.').
 */

#include <json-c/json.h>

/* <0, 0, >0 as strcmp(), with digit runs compared by value (then by length: "01" after "1"). */
int natural_compare(const char *a, const char *b);

/* Sorts an array of node objects by host (-H), name, then port, naturally. NULL is left alone. */
void sort_nodes(struct json_object *nodes);
