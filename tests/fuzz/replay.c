/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fuzz targets without libFuzzer: a main() that feeds every file named on
 * the command line (directories: every regular file in them, in name order)
 * to LLVMFuzzerTestOneInput once. Built by default, so the checked-in corpora
 * and every crash input added to them replay in each build and under each
 * sanitizer and valgrind, with any compiler; finding new inputs needs the
 * libFuzzer build (-Dfuzz=true, tests/fuzz/run.sh).
 *
 * A target reports a broken promise by aborting, as it does under libFuzzer;
 * so does this driver, for an input it cannot read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* optional in a target, as with libFuzzer */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Larger than any corpus file; libFuzzer's own default -max_len is far smaller. */
#define INPUT_MAX (1024u * 1024u)

static unsigned n_inputs;

static void replay_file(const char *path) {
        static uint8_t buf[INPUT_MAX];
        size_t size = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                abort();
        }
        for (;;) {
                ssize_t n = read(fd, buf + size, sizeof buf - size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        fprintf(stderr, "%s: %s\n", path, strerror(errno));
                        abort();
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size == sizeof buf) {
                        fprintf(stderr, "%s: larger than %u bytes\n", path, INPUT_MAX);
                        abort();
                }
        }
        close(fd);
        /* a copy of exactly `size` bytes, so that ASan sees a read past the input as libFuzzer's build would */
        uint8_t *input = malloc(size ? size : 1);
        if (!input)
                abort();
        memcpy(input, buf, size);
        /* as libFuzzer does: the last line before an abort names the input */
        fprintf(stderr, "Running: %s (%zu bytes)\n", path, size);
        (void) LLVMFuzzerTestOneInput(input, size);
        free(input);
        n_inputs++;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static void replay(const char *path) {
        struct dirent **entries;
        struct stat st;
        int n;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                abort();
        }
        if (!S_ISDIR(st.st_mode)) {
                replay_file(path);
                return;
        }
        n = scandir(path, &entries, NULL, by_name);
        if (n < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                abort();
        }
        for (int i = 0; i < n; i++) {
                char child[4096];
                if (entries[i]->d_name[0] != '.') {
                        snprintf(child, sizeof child, "%s/%s", path, entries[i]->d_name);
                        if (stat(child, &st) == 0 && S_ISREG(st.st_mode))
                                replay_file(child);
                }
                free(entries[i]);
        }
        free(entries);
}

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIRECTORY...\n", argv[0]);
                return EXIT_FAILURE;
        }
        if (LLVMFuzzerInitialize)
                (void) LLVMFuzzerInitialize(&argc, &argv);
        for (int i = 1; i < argc; i++)
                replay(argv[i]);
        if (n_inputs == 0) {
                fprintf(stderr, "no inputs: a corpus that replays nothing checks nothing\n");
                return EXIT_FAILURE;
        }
        printf("%s: %u inputs replayed, no failure\n", argv[0], n_inputs);
        return EXIT_SUCCESS;
}
