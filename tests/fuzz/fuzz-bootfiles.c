/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: a board-supplied name through the confined lookup, in a
 * tree built to tempt it: symlinks inside, symlinks leaving (relative,
 * absolute, through a directory link), a loop, a directory, a fifo, a device
 * node, and a node directory searched before the common one. Outside the
 * two boot directories lies a file whose bytes must never be served; a
 * served file must have been found under one of the directories.
 *
 * CB_FUZZ_NO_OPENAT2=1 fuzzes the walk used where openat2() is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bootfiles.h"
#include "log.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "outside-the-boot-directory"

static char root[] = "/tmp/cb-fuzz-bootfiles-XXXXXX";
static char node_dir[128], common_dir[128];
static struct cb_file_cache *cache;

static void fail_setup(const char *what) {
        fprintf(stderr, "fuzz-bootfiles setup: %s: %s\n", what, strerror(errno));
        abort();
}

static void put(const char *rel, const char *content) {
        char p[256];
        FILE *f;

        snprintf(p, sizeof p, "%s/%s", root, rel);
        f = fopen(p, "we");
        if (!f || fputs(content, f) < 0 || fclose(f) != 0)
                fail_setup(rel);
}

static void dir(const char *rel) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", root, rel);
        if (mkdir(p, 0755) < 0)
                fail_setup(rel);
}

static void link_to(const char *target, const char *rel) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", root, rel);
        if (symlink(target, p) < 0)
                fail_setup(rel);
}

static void remove_tree(void) {
        char cmd[128];
        cache = cb_file_cache_free(cache);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        char p[256], abs_target[256];

        cb_log_open(CB_LOG_STDERR);
        cb_log_set_max_level(LOG_CRIT);
        if (getenv("CB_FUZZ_NO_OPENAT2"))
                cb_bootfiles_disable_openat2();

        if (!mkdtemp(root))
                fail_setup("mkdtemp");
        snprintf(node_dir, sizeof node_dir, "%s/nodes/node3", root);
        snprintf(common_dir, sizeof common_dir, "%s/boot", root);
        dir("boot");
        dir("boot/overlays");
        dir("boot/kernel.img");
        dir("nodes");
        dir("nodes/node3");
        dir("outside");
        put("outside/secret", SECRET);
        put("boot/config.txt", "enable_uart=1\n");
        put("boot/start.elf", "start.elf bytes");
        put("boot/overlays/dwc2.dtbo", "dtbo bytes");
        put("nodes/node3/cmdline.txt", "console=serial0\n");
        link_to("overlays/dwc2.dtbo", "boot/inside");
        link_to("overlays", "boot/ov");
        link_to("../outside/secret", "boot/escape");
        link_to("overlays/../../outside/secret", "boot/escape-deep");
        link_to("..", "boot/up");
        link_to("../outside", "boot/out");
        link_to("loop", "boot/loop");
        link_to("../../boot/config.txt", "nodes/node3/to-common");
        snprintf(abs_target, sizeof abs_target, "%s/outside/secret", root);
        link_to(abs_target, "boot/absolute");
        link_to("/proc/self/root/etc/passwd", "boot/magic");
        snprintf(p, sizeof p, "%s/boot/fifo", root);
        if (mkfifo(p, 0644) < 0)
                fail_setup("fifo");
        /* a device node needs root; the fuzzer runs as root in CI */
        snprintf(p, sizeof p, "%s/boot/null", root);
        (void) mknod(p, S_IFCHR | 0644, makedev(1, 3));

        if (cb_file_cache_new(&cache) < 0)
                fail_setup("cache");
        atexit(remove_tree);
        return 0;
}

static bool under(const char *path, const char *dir_path) {
        size_t n = strlen(dir_path);
        return strncmp(path, dir_path, n) == 0 && path[n] == '/';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *dirs[] = { node_dir, common_dir };
        char name[CB_FILE_NAME_MAX + 64];
        struct cb_file *f = NULL;
        const char *reason = NULL;
        int r;

        if (size >= sizeof name)
                size = sizeof name - 1;
        memcpy(name, data, size);
        name[size] = '\0';

        r = cb_file_cache_lookup(cache, dirs, ELEMENTSOF(dirs), name, &f, &reason);
        if (r == 0) {
                if (!f || (r = cb_bootname_check(name, NULL)) < 0)
                        abort(); /* served a name the check refuses */
                if (memmem(cb_file_data(f), cb_file_size(f), SECRET, strlen(SECRET)))
                        abort(); /* served a file from outside */
                if (!under(cb_file_path(f), node_dir) && !under(cb_file_path(f), common_dir))
                        abort();
        } else if (f || (r == -EPERM) != (reason != NULL)) {
                abort();
        }
        cb_file_unref(f);
        return 0;
}
