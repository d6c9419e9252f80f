/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Command lines (daemon/command-line.c) past the splitting that
 * test-power-command.c checks: %n and %p expanded in every word, quoted or
 * not, and a node name full of quotes, blanks and '%' staying one word
 * (never split or expanded again); a command shown for messages so that
 * splitting it gives its words back; the program found in PATH.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "scratch.h"

#include "command-line.h"

static size_t strv_length(char **v) {
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

static void check_argv(char **argv, const char *const *want, size_t n_want, const char *what) {
        CHECK_MSG(strv_length(argv) == n_want, "%s: %zu words, not %zu", what, strv_length(argv), n_want);
        for (size_t i = 0; argv && i < n_want && argv[i]; i++)
                CHECK_MSG(strcmp(argv[i], want[i]) == 0, "%s: word %zu is '%s', not '%s'", what, i, argv[i], want[i]);
}

static void test_prepare(void) {
        char **argv = NULL;

        CHECK(cb_command_prepare("/usr/bin/relay on %p --name=%n '%n x' \"%p\" 100%%", "node3", "1-1.3", &argv) == 0);
        {
                const char *want[] = { "/usr/bin/relay", "on", "1-1.3", "--name=node3", "node3 x", "1-1.3", "100%" };
                check_argv(argv, want, ELEMENTSOF(want), "plain");
        }
        cb_strv_free(argv);

        /* a hostile node name is one word, as it is: not split, not unquoted, not expanded again */
        argv = NULL;
        CHECK(cb_command_prepare("relay %n", "a b'\"$(x);%p%%\\", "1-1", &argv) == 0);
        {
                const char *want[] = { "relay", "a b'\"$(x);%p%%\\" };
                check_argv(argv, want, ELEMENTSOF(want), "hostile");
        }
        cb_strv_free(argv);

        argv = NULL;
        CHECK(cb_command_prepare("relay %n%n", "", "", &argv) == 0);
        {
                const char *want[] = { "relay", "" };
                check_argv(argv, want, ELEMENTSOF(want), "empty values");
        }
        cb_strv_free(argv);

        /* what does not parse is refused, and nothing is returned */
        argv = NULL;
        CHECK(cb_command_prepare("relay %x", "n", "p", &argv) == -EINVAL && !argv);
        CHECK(cb_command_prepare("relay 'on", "n", "p", &argv) == -EINVAL && !argv);
        CHECK(cb_command_prepare("", "n", "p", &argv) == -EINVAL && !argv);
        CHECK(cb_command_prepare("relay 5%", "n", "p", &argv) == -EINVAL && !argv);
}

/* Shown, then split again: the same words (but for '%', which split would take as a specifier). */
static void test_format_round_trip(void) {
        const char *words[][4] = {
                { "/bin/echo", "plain", "two words", NULL },
                { "/bin/echo", "it's", "\"quoted\"", NULL },
                { "/bin/echo", "back\\slash", "", NULL },
                { "/bin/echo", "tab\there", "new\nline", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(words); i++) {
                _cleanup_free_ char *shown = NULL;
                char **argv = NULL;
                const char *error = NULL;
                size_t n = 0;

                while (words[i][n])
                        n++;
                CHECK(cb_command_format(words[i][0], (char *const *) words[i], &shown) == 0);
                CHECK_MSG(cb_command_split(shown, &argv, &error) == 0, "'%s': %s", shown, error ? error : "");
                check_argv(argv, words[i], n, shown);
                cb_strv_free(argv);
        }

        /* argv[0] is shown as the program found, the rest as they are */
        {
                char *argv[] = { "relay", "on", NULL };
                _cleanup_free_ char *shown = NULL;
                CHECK(cb_command_format("/usr/local/bin/relay", argv, &shown) == 0);
                CHECK(shown && strcmp(shown, "/usr/local/bin/relay on") == 0);
        }
        {
                char *argv[] = { "x", "a'b", NULL };
                _cleanup_free_ char *shown = NULL;
                CHECK(cb_command_format("x", argv, &shown) == 0);
                CHECK_MSG(shown && strcmp(shown, "x 'a'\\''b'") == 0, "%s", shown);
        }
}

static void test_find_program(void) {
        _cleanup_free_ char *bin = at("bin"), *other = at("other"), *path = NULL, *found = NULL;

        REQUIRE(mkdir(bin, 0755) == 0 && mkdir(other, 0755) == 0);
        /* a "relative" PATH entry that, from the working directory, has the tool: still skipped */
        REQUIRE(chdir(root) == 0);
        REQUIRE(mkdir("relative", 0755) == 0);
        write_str("relative/tool", "#!/bin/sh\n");
        REQUIRE(chmod("relative/tool", 0755) == 0);
        write_str("bin/tool", "#!/bin/sh\n");
        write_str("other/tool", "#!/bin/sh\n");
        write_str("bin/data", "not a program\n");
        {
                _cleanup_free_ char *t = at("bin/tool"), *o = at("other/tool"), *d = at("other/dir");
                REQUIRE(chmod(t, 0755) == 0 && chmod(o, 0755) == 0 && mkdir(d, 0755) == 0);
        }

        /* the first directory of PATH that has it; relative entries are skipped */
        REQUIRE(asprintf(&path, "relative:%s:%s", other, bin) >= 0);
        REQUIRE(setenv("PATH", path, 1) == 0);
        CHECK(cb_command_find_program("tool", &found) == 0);
        {
                _cleanup_free_ char *want = at("other/tool");
                CHECK_MSG(found && strcmp(found, want) == 0, "found %s", found ? found : "(none)");
        }
        free(found);
        found = NULL;

        /* something by the name that cannot be run beats "not found"; a directory is not a program */
        CHECK(cb_command_find_program("data", &found) == -EACCES && !found);
        CHECK(cb_command_find_program("dir", &found) == -EACCES && !found);
        CHECK(cb_command_find_program("missing", &found) == -ENOENT && !found);

        /* an absolute path is checked as it is */
        {
                _cleanup_free_ char *t = at("bin/tool"), *d = at("bin/data");
                CHECK(cb_command_find_program(t, &found) == 0 && found && strcmp(found, t) == 0);
                free(found);
                found = NULL;
                CHECK(cb_command_find_program(d, &found) == -EACCES && !found);
        }

        /* PATH unset: the default one */
        REQUIRE(unsetenv("PATH") == 0);
        CHECK(cb_command_find_program("sh", &found) == 0 && found && found[0] == '/');
        free(found);
        found = NULL;
}

int main(void) {
        scratch_make("command-line");
        test_prepare();
        test_format_round_trip();
        test_find_program();
        REQUIRE(scratch_remove() == 0);
        return check_exit("test-command-line");
}
