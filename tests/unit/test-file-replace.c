/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replacing a file whole (daemon/file-replace.c): the new content under the
 * name, no temporary file left beside it, the directory made when missing,
 * and a failure that leaves the old file as it was and says which step
 * failed. Runs in a scratch directory under /tmp.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "scratch.h"

#include "file-replace.h"

static bool exists(const char *rel) {
        _cleanup_free_ char *p = at(rel);
        struct stat st;

        return lstat(p, &st) == 0;
}

static void test_replace(void) {
        _cleanup_free_ char *dir = at("state");
        const char *step = "untouched";
        char *text;

        /* the directory is made (one level) */
        CHECK(cb_file_replace(dir, "node.json", "{\"a\": 1}\n", 9, &step) == 0);
        CHECK(strcmp(step, "untouched") == 0);
        text = read_text("state/node.json");
        CHECK(text && strcmp(text, "{\"a\": 1}\n") == 0);
        free(text);
        CHECK(!exists("state/.node.json.tmp"));

        /* replaced by a shorter one: nothing of the old is left at its end */
        CHECK(cb_file_replace(dir, "node.json", "{}", 2, NULL) == 0);
        text = read_text("state/node.json");
        CHECK(text && strcmp(text, "{}") == 0);
        free(text);

        /* a longer temporary file left by a crash does not show through */
        write_str("state/.node.json.tmp", "a stale, longer leftover of a crash");
        CHECK(cb_file_replace(dir, "node.json", "{1}", 3, NULL) == 0);
        text = read_text("state/node.json");
        CHECK_MSG(text && strcmp(text, "{1}") == 0, "'%s'", text ? text : "(gone)");
        free(text);

        /* exactly `size` bytes, NULs included */
        CHECK(cb_file_replace(dir, "bin", "a\0b", 3, NULL) == 0);
        {
                _cleanup_free_ char *p = at("state/bin");
                struct stat st;
                CHECK(stat(p, &st) == 0 && st.st_size == 3 && (st.st_mode & 0777) == 0644);
        }

        /* empty content is an empty file */
        CHECK(cb_file_replace(dir, "empty", "", 0, NULL) == 0);
        text = read_text("state/empty");
        CHECK(text && text[0] == '\0');
        free(text);
}

/* A step that fails leaves the old file whole, and no temporary one. */
static void test_failure_keeps_old(void) {
        _cleanup_free_ char *dir = at("keep"), *tmp = at("keep/.node.json.tmp"), *deep = at("missing/a/b");
        const char *step = NULL;
        char *text;

        CHECK(cb_file_replace(dir, "node.json", "old", 3, NULL) == 0);

        /* the temporary name is taken by a directory: the rename cannot replace it... */
        REQUIRE(mkdir(tmp, 0755) == 0);
        CHECK(cb_file_replace(dir, "node.json", "new", 3, &step) < 0);
        CHECK_MSG(step && strcmp(step, "create") == 0, "step: %s", step ? step : "(null)");
        text = read_text("keep/node.json");
        CHECK_MSG(text && strcmp(text, "old") == 0, "the old file became '%s'", text ? text : "(gone)");
        free(text);
        REQUIRE(rmdir(tmp) == 0);

        /* ...a symlink under the temporary name is not followed */
        write_str("target", "target's own");
        {
                _cleanup_free_ char *target = at("target");
                REQUIRE(symlink(target, tmp) == 0);
        }
        step = NULL;
        CHECK(cb_file_replace(dir, "node.json", "new", 3, &step) == -ELOOP);
        CHECK(step && strcmp(step, "create") == 0);
        text = read_text("target");
        CHECK(text && strcmp(text, "target's own") == 0);
        free(text);
        text = read_text("keep/node.json");
        CHECK(text && strcmp(text, "old") == 0);
        free(text);
        REQUIRE(unlink(tmp) == 0);

        /* the name is a directory: the rename fails, the temporary file goes */
        {
                _cleanup_free_ char *d = at("keep/taken");
                REQUIRE(mkdir(d, 0755) == 0);
        }
        step = NULL;
        CHECK(cb_file_replace(dir, "taken", "x", 1, &step) == -EISDIR);
        CHECK(step && strcmp(step, "write") == 0);
        CHECK(!exists("keep/.taken.tmp"));

        /* only one level is made */
        step = NULL;
        CHECK(cb_file_replace(deep, "f", "x", 1, &step) == -ENOENT);
        CHECK(step && strcmp(step, "create the directory") == 0);

        /* not a directory */
        write_str("plain", "x");
        {
                _cleanup_free_ char *plain = at("plain");
                step = NULL;
                CHECK(cb_file_replace(plain, "f", "x", 1, &step) == -ENOTDIR);
                CHECK(step && strcmp(step, "open the directory") == 0);
        }
}

int main(void) {
        scratch_make("file-replace");
        test_replace();
        test_failure_keeps_old();
        REQUIRE(scratch_remove() == 0);
        return check_exit("test-file-replace");
}
