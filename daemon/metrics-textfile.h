/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Writing the metrics for node-exporter's textfile collector: the text is
 * written beside the file and renamed over it, so the collector reads the
 * old file or the new one, never half of one. The writing (a file system
 * call that can block) happens on a thread of its own; the loop only hands
 * over the newest text, which replaces any text not written yet.
 */

struct cb_metrics_textfile;

/* Starts the writer for `directory`. Returns 0 or a negative errno. */
int cb_metrics_textfile_new(const char *directory, struct cb_metrics_textfile **ret);
/* Writes what is still pending, stops the thread. */
struct cb_metrics_textfile *cb_metrics_textfile_free(struct cb_metrics_textfile *t);
/* Takes `text` (malloc'd); it is written soon. */
void cb_metrics_textfile_write(struct cb_metrics_textfile *t, char *text);
const char *cb_metrics_textfile_directory(const struct cb_metrics_textfile *t);
