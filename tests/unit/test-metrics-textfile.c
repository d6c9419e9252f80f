/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metrics textfile for node-exporter (daemon/metrics-textfile.c): the
 * text handed over is in MetricsDirectory=/clusterboot.prom, whole, after
 * the writer thread is freed (which writes what is pending); the newest
 * text wins; no temporary file is left, and the temporary name does not end
 * in .prom (the collector would read it); a directory it cannot write only
 * costs a warning.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "scratch.h"

#include "log.h"
#include "metrics-textfile.h"
#include "metrics.h"

int main(void) {
        struct cb_metrics_textfile *t = NULL;
        _cleanup_free_ char *dir = NULL;

        cb_log_open(CB_LOG_STDERR);
        scratch_make("metrics-textfile");
        dir = at("metrics");
        REQUIRE(mkdir(dir, 0755) == 0);

        CHECK(cb_metrics_textfile_new(dir, &t) == 0);
        CHECK(strcmp(cb_metrics_textfile_directory(t), dir) == 0);
        cb_metrics_textfile_write(t, strdup("clusterboot_node_up{node=\"n1\",port=\"1-1\"} 0\n"));
        cb_metrics_textfile_write(t, strdup("clusterboot_node_up{node=\"n1\",port=\"1-1\"} 1\n"));
        CHECK(cb_metrics_textfile_free(t) == NULL); /* writes what is pending */
        {
                _cleanup_free_ char *text = read_text("metrics/" CB_METRICS_FILE);
                CHECK_MSG(text && strcmp(text, "clusterboot_node_up{node=\"n1\",port=\"1-1\"} 1\n") == 0, "'%s'",
                          text ? text : "(none)");
        }
        {
                /* nothing but the file: the temporary one is renamed, and its name is no .prom */
                _cleanup_free_ char *tmp = at("metrics/." CB_METRICS_FILE ".tmp");
                CHECK(access(tmp, F_OK) < 0 && errno == ENOENT);
        }

        /* a directory that is not there: warned about, nothing written, nothing leaks */
        {
                _cleanup_free_ char *missing = at("missing");
                CHECK(cb_metrics_textfile_new(missing, &t) == 0);
                cb_metrics_textfile_write(t, strdup("x 1\n"));
                cb_metrics_textfile_free(t);
                CHECK(access(missing, F_OK) < 0);
        }

        /* freed with nothing handed over: no file */
        {
                _cleanup_free_ char *empty = at("empty"), *file = at("empty/" CB_METRICS_FILE);
                REQUIRE(mkdir(empty, 0755) == 0);
                CHECK(cb_metrics_textfile_new(empty, &t) == 0);
                cb_metrics_textfile_free(t);
                CHECK(access(file, F_OK) < 0);
        }
        REQUIRE(scratch_remove() == 0);
        return check_exit("test-metrics-textfile");
}
