/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdio.h>
#include <stdlib.h>

/* Minimal assertions for the unit tests: report where, keep counting, fail at the end. */
static unsigned check_failures;

#define CHECK(cond)                                                                        \
        do {                                                                               \
                if (!(cond)) {                                                             \
                        fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
                        check_failures++;                                                  \
                }                                                                          \
        } while (0)

#define CHECK_MSG(cond, ...)                                                               \
        do {                                                                               \
                if (!(cond)) {                                                             \
                        fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
                        fprintf(stderr, __VA_ARGS__);                                      \
                        fputc('\n', stderr);                                               \
                        check_failures++;                                                  \
                }                                                                          \
        } while (0)

/* Fatal: the rest of the test would only cascade. Needs <errno.h> and <string.h>. */
#define REQUIRE(expr)                                                                                    \
        do {                                                                                             \
                if (!(expr)) {                                                                           \
                        fprintf(stderr, "%s:%d: REQUIRE failed: %s (errno: %s)\n", __FILE__, __LINE__, #expr, \
                                strerror(errno));                                                        \
                        exit(EXIT_FAILURE);                                                              \
                }                                                                                        \
        } while (0)

static inline int check_exit(const char *name) {
        if (check_failures) {
                fprintf(stderr, "%s: %u check(s) failed\n", name, check_failures);
                return EXIT_FAILURE;
        }
        printf("%s: all checks passed\n", name);
        return EXIT_SUCCESS;
}
