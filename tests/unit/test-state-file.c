/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A board's file in the state directory (daemon/state-file.c), written off
 * the loop by a real worker thread: it appears whole under its name; names
 * that are not plain file names are refused; a write that fails is only
 * logged; a stopped worker refuses. The content is always taken (freed),
 * which valgrind checks (tests/run-all.sh). Waits are for the file itself,
 * bounded, never a guessed delay.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "scratch.h"

#include "log.h"
#include "state-file.h"
#include "worker.h"

#define RUN_TIMEOUT (20 * USEC_PER_SEC)

/* Runs the loop until `rel` holds `want` (or the timeout). */
static bool wait_for(sd_event *e, const char *rel, const char *want) {
        usec_t deadline = now_usec() + RUN_TIMEOUT;

        for (;;) {
                _cleanup_free_ char *text = read_text(rel);
                if (text && strcmp(text, want) == 0)
                        return true;
                if (now_usec() >= deadline)
                        return false;
                REQUIRE(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
        }
}

static void test_write(sd_event *e, struct cb_worker *w) {
        _cleanup_free_ char *dir = at("state");

        CHECK(cb_state_file_write(w, dir, "100000001.json", strdup("{\"serial\": 1}\n"), 14) == 0);
        CHECK(wait_for(e, "state/100000001.json", "{\"serial\": 1}\n"));
        /* replaced, in order: the last one queued is what stays */
        CHECK(cb_state_file_write(w, dir, "100000001.json", strdup("{\"serial\": 2}\n"), 14) == 0);
        CHECK(cb_state_file_write(w, dir, "100000001.json", strdup("{\"serial\": 3}\n"), 14) == 0);
        CHECK(wait_for(e, "state/100000001.json", "{\"serial\": 3}\n"));
        {
                _cleanup_free_ char *tmp = at("state/.100000001.json.tmp");
                CHECK(access(tmp, F_OK) < 0 && errno == ENOENT);
        }
}

/* Not a plain name: refused at once, nothing written anywhere, the content freed. */
static void test_refused(struct cb_worker *w) {
        _cleanup_free_ char *dir = at("state");
        const char *bad[] = { "", "../escape.json", "sub/x.json", ".hidden", "..", "." };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                CHECK_MSG(cb_state_file_write(w, dir, bad[i], strdup("x"), 1) == -EINVAL, "'%s' accepted", bad[i]);
        CHECK(cb_state_file_write(w, NULL, "x.json", strdup("x"), 1) == -EINVAL);
        CHECK(cb_state_file_write(w, dir, NULL, strdup("x"), 1) == -EINVAL);
        CHECK(cb_state_file_write(NULL, dir, "x.json", strdup("x"), 1) == -EINVAL);
        {
                _cleanup_free_ char *escaped = at("escape.json");
                CHECK(access(escaped, F_OK) < 0);
        }
}

/* A write that cannot be done (the directory is a file) is only logged; the next one still works. */
static void test_failure(sd_event *e, struct cb_worker *w) {
        _cleanup_free_ char *plain = at("plain"), *dir = at("state");

        write_str("plain", "not a directory");
        CHECK(cb_state_file_write(w, plain, "a.json", strdup("lost"), 4) == 0); /* queued: fails on the worker */
        CHECK(cb_state_file_write(w, dir, "b.json", strdup("kept"), 4) == 0);
        CHECK(wait_for(e, "state/b.json", "kept"));
        {
                _cleanup_free_ char *text = read_text("plain");
                CHECK(text && strcmp(text, "not a directory") == 0);
        }
}

int main(void) {
        sd_event *e = NULL;
        struct cb_worker *w = NULL;

        cb_log_open(CB_LOG_STDERR);
        scratch_make("state-file");
        REQUIRE(sd_event_new(&e) >= 0);
        REQUIRE(cb_worker_new(e, &w) == 0);
        test_write(e, w);
        test_refused(w);
        test_failure(e, w);
        cb_worker_stop(w);
        {
                _cleanup_free_ char *dir = at("state");
                CHECK(cb_state_file_write(w, dir, "late.json", strdup("late"), 4) == -ESHUTDOWN);
        }
        cb_worker_free(w);
        sd_event_unref(e);
        REQUIRE(scratch_remove() == 0);
        return check_exit("test-state-file");
}
