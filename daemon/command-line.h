/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Command lines as the configuration writes them (PowerOnCommand=,
 * PowerOffCommand=): splitting the text into words, expanding the
 * specifiers, showing a command in messages, and finding its program.
 *
 * Command line syntax (no shell is involved unless the user runs one, as in
 * `PowerOnCommand=/bin/sh -c "relay on 3 && sleep 1"`):
 *
 *  - Words are separated by unquoted blanks (space, tab, newline, CR, VT, FF).
 *  - Outside quotes, a backslash takes the next character literally
 *    (`a\ b` is one word "a b"); a backslash at the end is an error.
 *  - 'Single quotes' take everything up to the next single quote literally,
 *    backslashes included.
 *  - "Double quotes" take everything up to the next unescaped double quote
 *    literally, except that \" and \\ stand for " and \ (a backslash before
 *    any other character is kept as it is).
 *  - Quoted and unquoted parts next to each other form one word (`x"a b"y` is
 *    "xa by"); '' or "" alone is an empty word. An unbalanced quote is an
 *    error.
 *  - Specifiers are expanded in every word after quotes and escapes are
 *    removed, so a '%' is always a specifier, even when quoted: %n is the
 *    node name, %p its port, %% a percent sign; anything else after '%' is an
 *    error. A substituted value is never split or unquoted again.
 *  - The first word (the program) must be an absolute path or a bare name
 *    (no '/') looked up in the daemon's PATH. An empty command is an error.
 *  - '#', ';', '|', '$', '*', '>' have no special meaning.
 */

#include "util.h"

/* The characters that separate words. */
static inline bool cb_command_is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

char **cb_strv_free(char **v);
static inline void cb_strv_freep(char ***v) {
        cb_strv_free(*v);
}

/*
 * Splits a command line into a NULL-terminated argv (free it with
 * cb_strv_free()), following the rules above, for config validation and for
 * running. Specifiers are checked but left in place (they are expanded when
 * the backend is created). On a syntax error returns -EINVAL and sets *error
 * to a static message, e.g. "unbalanced double quote"; -ENOMEM otherwise.
 * `ret_argv` may be NULL to only check the syntax.
 */
int cb_command_split(const char *text, char ***ret_argv, const char **error);

/* Splits `text` and expands %n to `node`, %p to `port` and %% in every word; -EINVAL if it does not parse. */
int cb_command_prepare(const char *text, const char *node, const char *port, char ***ret_argv);

/*
 * The argv, with `program` shown for argv[0], quoted so that a reader (and
 * cb_command_split(), but for '%') sees the words it was run with.
 */
int cb_command_format(const char *program, char *const *argv, char **ret);

/*
 * Finds the program `name` (argv[0]): an absolute path is checked, a bare
 * name is looked up in PATH (or the default PATH when unset). Returns 0 with
 * the path in *ret, -ENOENT, -EACCES (found, but not an executable file),
 * another negative errno, or -ENOMEM.
 */
int cb_command_find_program(const char *name, char **ret);
