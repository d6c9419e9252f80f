/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Command lines: splitting the configured text into words, expanding the
 * specifiers, formatting a command for messages, and finding its program in
 * PATH. The syntax is described in command-line.h.
 */
#include "command-line.h"

#include <sys/stat.h>

/* What a shell uses when PATH is unset; systemd sets the same for services. */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

char **cb_strv_free(char **v) {
        if (v)
                for (char **i = v; *i; i++)
                        free(*i);
        free(v);
        return NULL;
}

static int syntax_error(const char **error, const char *message) {
        if (error)
                *error = message;
        return -EINVAL;
}

/* Checks the specifiers of one (unquoted) word; NULL if they are fine. */
static const char *word_specifier_error(const char *word) {
        for (const char *c = word; *c; c++) {
                if (*c != '%')
                        continue;
                c++;
                if (*c == '\0')
                        return "'%' at the end of a word: write %% for a percent sign";
                if (*c != 'n' && *c != 'p' && *c != '%')
                        return "unknown specifier: only %n (node name), %p (port) and %% (a percent sign) are known";
        }
        return NULL;
}

static int strv_push(char ***v, size_t *n, char *s) {
        char **nv = realloc(*v, (*n + 2) * sizeof *nv);
        if (!nv)
                return -ENOMEM;
        nv[(*n)++] = s;
        nv[*n] = NULL;
        *v = nv;
        return 0;
}

int cb_command_split(const char *text, char ***ret_argv, const char **error) {
        _cleanup_(cb_strv_freep) char **argv = NULL;
        _cleanup_free_ char *word = NULL;
        size_t n_argv = 0, len = 0;
        bool in_word = false;
        const char *p;

        if (!text)
                return -EINVAL;
        /* Unquoting only ever shortens the text, so any word fits. */
        word = malloc(strlen(text) + 1);
        if (!word)
                return -ENOMEM;

        for (p = text;;) {
                char c = *p;

                if (c == '\0' || cb_command_is_blank(c)) {
                        if (in_word) {
                                const char *bad;
                                char *w;

                                word[len] = '\0';
                                bad = word_specifier_error(word);
                                if (bad)
                                        return syntax_error(error, bad);
                                w = strdup(word);
                                if (!w)
                                        return -ENOMEM;
                                if (strv_push(&argv, &n_argv, w) < 0) {
                                        free(w);
                                        return -ENOMEM;
                                }
                                len = 0;
                                in_word = false;
                        }
                        if (c == '\0')
                                break;
                        p++;
                        continue;
                }

                in_word = true;
                if (c == '\\') {
                        if (p[1] == '\0')
                                return syntax_error(error, "trailing backslash");
                        word[len++] = p[1];
                        p += 2;
                } else if (c == '\'') {
                        const char *end = strchr(p + 1, '\'');
                        if (!end)
                                return syntax_error(error, "unbalanced single quote");
                        memcpy(word + len, p + 1, (size_t) (end - p - 1));
                        len += (size_t) (end - p - 1);
                        p = end + 1;
                } else if (c == '"') {
                        for (p++;; p++) {
                                if (*p == '\0')
                                        return syntax_error(error, "unbalanced double quote");
                                if (*p == '"')
                                        break;
                                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                                        p++;
                                word[len++] = *p;
                        }
                        p++;
                } else {
                        word[len++] = c;
                        p++;
                }
        }

        if (n_argv == 0)
                return syntax_error(error, "empty command");
        if (argv[0][0] == '\0')
                return syntax_error(error, "empty program name");
        /* A relative path would depend on the daemon's working directory. */
        if (argv[0][0] != '/' && strchr(argv[0], '/'))
                return syntax_error(error, "the program must be an absolute path or a name looked up in PATH");

        if (ret_argv)
                *ret_argv = TAKE_PTR(argv);
        return 0;
}

static int expand_word(const char *word, const char *node, const char *port, char **ret) {
        size_t size = 1;
        char *s, *o;

        for (const char *c = word; *c; c++) {
                if (*c != '%') {
                        size++;
                        continue;
                }
                c++;
                if (*c == 'n')
                        size += strlen(node);
                else if (*c == 'p')
                        size += strlen(port);
                else if (*c == '%')
                        size++;
                else
                        return -EINVAL;
        }

        s = o = malloc(size);
        if (!s)
                return -ENOMEM;
        for (const char *c = word; *c; c++) {
                const char *value;
                if (*c != '%') {
                        *o++ = *c;
                        continue;
                }
                c++;
                value = *c == 'n' ? node : *c == 'p' ? port : "%";
                memcpy(o, value, strlen(value));
                o += strlen(value);
        }
        *o = '\0';
        *ret = s;
        return 0;
}

int cb_command_prepare(const char *text, const char *node, const char *port, char ***ret_argv) {
        _cleanup_(cb_strv_freep) char **argv = NULL;
        int r;

        r = cb_command_split(text, &argv, NULL);
        if (r < 0)
                return r;
        for (char **w = argv; *w; w++) {
                char *expanded;
                r = expand_word(*w, node, port, &expanded);
                if (r < 0)
                        return r;
                free(*w);
                *w = expanded;
        }
        *ret_argv = TAKE_PTR(argv);
        return 0;
}

int cb_command_format(const char *program, char *const *argv, char **ret) {
        size_t size = 1;
        char *s, *o;

        for (char *const *w = argv; *w; w++)
                size += 3 + 4 * strlen(w == argv ? program : *w); /* space, quotes, and ' becoming '\'' */
        s = o = malloc(size);
        if (!s)
                return -ENOMEM;
        for (char *const *w = argv; *w; w++) {
                const char *word = w == argv ? program : *w;
                bool quote = *word == '\0' || strpbrk(word, " \t\n\r\v\f'\"\\");
                if (w != argv)
                        *o++ = ' ';
                if (!quote) {
                        o = stpcpy(o, word);
                        continue;
                }
                *o++ = '\'';
                for (const char *c = word; *c; c++)
                        if (*c == '\'')
                                o = stpcpy(o, "'\\''");
                        else
                                *o++ = *c;
                *o++ = '\'';
        }
        *o = '\0';
        *ret = s;
        return 0;
}

static int check_executable(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EACCES;
        if (access(path, X_OK) < 0)
                return -errno;
        return 0;
}

/*
 * The program is looked up here rather than by posix_spawnp() so that "not
 * found" and "not executable" are errors we report with certainty: where
 * posix_spawn() is emulated with fork() (valgrind does), an exec failure is
 * only a child exiting with 127.
 */
int cb_command_find_program(const char *name, char **ret) {
        const char *path = getenv("PATH");
        int r = -ENOENT;

        if (name[0] == '/') {
                r = check_executable(name);
                if (r < 0)
                        return r;
                return strdup_to(ret, name);
        }

        if (!path || !*path)
                path = DEFAULT_PATH;
        for (const char *dir = path;;) {
                const char *end = strchrnul(dir, ':');

                /* Relative entries would depend on the daemon's working directory; skipped. */
                if (end > dir && dir[0] == '/') {
                        char *candidate;
                        int k;

                        if (asprintf(&candidate, "%.*s/%s", (int) (end - dir), dir, name) < 0)
                                return -ENOMEM;
                        k = check_executable(candidate);
                        if (k == 0) {
                                *ret = candidate;
                                return 0;
                        }
                        free(candidate);
                        /* Like execvp(): something by that name that cannot be run beats "not found". */
                        if (k == -EACCES)
                                r = -EACCES;
                }
                if (*end == '\0')
                        break;
                dir = end + 1;
        }
        return r;
}
