/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Whether the machine fits a configuration (daemon/config-check.c): the
 * state directory the daemon can keep (or make), with one sentence naming it
 * when it cannot. Runs in a scratch directory; the checks of write
 * permission need an unprivileged user and are left to tests/check-config.sh.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "scratch.h"

#include "config-check.h"

int main(void) {
        char why[512];

        scratch_make("config-check");
        {
                _cleanup_free_ char *dir = at("state");
                REQUIRE(mkdir(dir, 0755) == 0);
                why[0] = '\0';
                CHECK(cb_state_directory_check(dir, why, sizeof why) == 0);
                CHECK(why[0] == '\0');
        }
        {
                /* missing, with a parent it can be made in: the daemon makes the last level itself */
                _cleanup_free_ char *dir = at("state/new");
                CHECK(cb_state_directory_check(dir, why, sizeof why) == 0);
                CHECK(access(dir, F_OK) < 0); /* checked, not made */
        }
        {
                _cleanup_free_ char *dir = at("none/state");
                why[0] = '\0';
                CHECK(cb_state_directory_check(dir, why, sizeof why) == -ENOENT);
                CHECK_MSG(strstr(why, dir) && strstr(why, "its parent does not exist either"), "%s", why);
        }
        {
                _cleanup_free_ char *file = at("file"), *below = at("file/state");
                write_str("file", "x");
                why[0] = '\0';
                CHECK(cb_state_directory_check(file, why, sizeof why) == -ENOTDIR);
                CHECK_MSG(strstr(why, file) && strstr(why, "is not a directory"), "%s", why);
                why[0] = '\0';
                CHECK(cb_state_directory_check(below, why, sizeof why) == -ENOTDIR);
                CHECK_MSG(strstr(why, below) && strstr(why, "cannot be reached"), "%s", why);
        }
        REQUIRE(scratch_remove() == 0);
        return check_exit("test-config-check");
}
