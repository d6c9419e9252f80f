/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Boot files beyond a plain directory, through the real daemon on emulated
 * boards: bootfiles.bin (members under 2710/, which the 2763/2764 boards
 * look in), a hostile one, and the signed-boot signature (bootcode.sig).
 *
 * usage: test-bootfiles [TEST...]
 * Environment: CLUSTERBOOT (meson sets it), TB_ECHO=1 to see the daemon's log.
 */
#include <errno.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board-check.h"
#include "board.h"
#include "cluster.h"
#include "testbed.h"

#define SCALE 16

static void path_of(char *out, size_t size, const char *dir, const char *name) {
        int n = snprintf(out, size, "%s/%s", dir, name);
        if (n < 0 || (size_t) n >= size)
                abort(); /* the test's own paths are short */
}

/* GNU tar: `members` of `stage`, into `out`. */
static bool pack(const char *stage, const char *out, const char *const *members) {
        const char *argv[16] = { "tar", "-C", stage, "-cf", out };
        size_t k = 5;
        int status = -1;
        GError *e = NULL;

        for (size_t i = 0; members[i] && k < G_N_ELEMENTS(argv) - 1; i++)
                argv[k++] = members[i];
        argv[k] = NULL;
        if (!g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, &e)) {
                fprintf(stderr, "cannot run tar: %s\n", e->message);
                g_error_free(e);
                return false;
        }
        return g_spawn_check_wait_status(status, NULL);
}

/* stage/2710/ with the synthetic boot files, as a board of the 2763/2764 products finds them in the tar. */
static void make_stage(struct cluster *c, char *stage, size_t size) {
        char chip[256];

        path_of(stage, size, c->dir, "stage");
        path_of(chip, sizeof chip, stage, "2710");
        CHECK(mkdir(stage, 0755) == 0 && mkdir(chip, 0755) == 0, "cannot make %s", chip);
        CHECK(tb_write_boot_files(chip, SCALE) == 0, "cannot write boot files to %s", chip);
}

static void remove_from_boot(struct cluster *c, const char *name) {
        char p[256];
        path_of(p, sizeof p, c->boot, name);
        CHECK(unlink(p) == 0, "cannot remove %s", p);
}

static bool signature_is(struct cluster *c, unsigned board, const uint8_t want[20]) {
        return memcmp(tb_board_emu(tb_board_at(c->tb, board))->boot_signature, want, 20) == 0;
}

/* start.elf and kernel.img are only in bootfiles.bin: every board gets them from the tar, byte for byte. */
static void test_tar(void) {
        static const uint8_t zeros[20];
        struct cluster c;
        char stage[256], tar[256];

        cluster_init(&c, 3, SCALE, NULL, NULL);
        make_stage(&c, stage, sizeof stage);
        path_of(tar, sizeof tar, c.boot, "bootfiles.bin");
        const char *members[] = { "2710/start.elf", "2710/kernel.img", NULL };
        CHECK(pack(stage, tar, members), "tar failed");
        remove_from_boot(&c, "start.elf");
        remove_from_boot(&c, "kernel.img");

        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 60000), "not every node came up");
        check_boards(&c, 0);
        CHECK(tb_log_count_matches(c.tb, "is refused") == 0, "the tar was refused");
        /* no bootcode.sig: the boot message's signature is zeros */
        for (unsigned i = 0; i < c.n; i++)
                CHECK(signature_is(&c, i, zeros), "board %u saw a signature", i + 1);
        cluster_free(&c);
}

/*
 * Two hostile tars, whose start.elf is the wrong bytes: one in the common
 * directory (a symbolic link among its members), one in node1's own
 * directory (cut short in a member's data). Both are refused, each logged
 * once; every board boots from the files on disk, byte for byte, at once.
 */
static void test_tar_hostile(void) {
        struct cluster c;
        char stage[256], tar[256], link[256], bad[256], node_dir[256], node_tar[256];
        static uint8_t zeros[1 << 20];

        cluster_init(&c, 3, SCALE, NULL, NULL);
        make_stage(&c, stage, sizeof stage);
        path_of(bad, sizeof bad, stage, "2710/start.elf");
        FILE *f = fopen(bad, "we");
        CHECK(f && fwrite(zeros, 1, 100000, f) == 100000 && fclose(f) == 0, "cannot write %s", bad);
        path_of(link, sizeof link, stage, "2710/evil");
        CHECK(symlink("/etc/shadow", link) == 0, "cannot make %s", link);
        path_of(tar, sizeof tar, c.boot, "bootfiles.bin");
        const char *members[] = { "2710/start.elf", "2710/evil", NULL };
        CHECK(pack(stage, tar, members), "tar failed");

        path_of(node_dir, sizeof node_dir, c.dir, "node1");
        CHECK(mkdir(node_dir, 0755) == 0, "cannot make %s", node_dir);
        path_of(node_tar, sizeof node_tar, node_dir, "bootfiles.bin");
        const char *good[] = { "2710/start.elf", NULL };
        CHECK(pack(stage, node_tar, good), "tar failed");
        CHECK(truncate(node_tar, 512 + 50000) == 0, "cannot cut %s", node_tar);
        char *conf = g_strdup_printf("BootDirectory=%s\n", node_dir);
        cluster_set_node_conf(&c, 1, conf);
        g_free(conf);

        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 60000), "not every node came up");
        check_boards(&c, 0);
        /* each tar once, as itself; then every request it might have answered says why it did not */
        char *common_line = g_strdup_printf("] warning: %s is refused, none of its members is served: member "
                                            "\"2710/evil\" is a symbolic link",
                                            tar);
        char *node_line = g_strdup_printf("] warning: %s is refused, none of its members is served: member "
                                          "\"2710/start.elf\" claims 100000 bytes, past the end of the file",
                                          node_tar);
        CHECK(tb_log_count_matches(c.tb, common_line) == 1, "the common tar's refusal is not logged once");
        CHECK(tb_log_count_matches(c.tb, node_line) == 1, "node1's tar's refusal is not logged once");
        CHECK(tb_log_count_matches(c.tb, "] warning: /") == 2, "not exactly the two tars refused");
        CHECK(tb_log_count_matches(c.tb, "node2[2-1]: refused \"recovery.elf\": ") == 1,
              "node2's missing file does not say the tar was refused");
        g_free(common_line);
        g_free(node_line);
        cluster_free(&c);
}

/* bootcode.sig beside bootcode.bin: every board's boot message carries its 20 bytes. */
static void test_signature(void) {
        static const uint8_t sig[20] = "signed-boot-20-bytes";
        struct cluster c;
        char p[256];

        cluster_init(&c, 2, SCALE, NULL, NULL);
        path_of(p, sizeof p, c.boot, "bootcode.sig");
        FILE *f = fopen(p, "we");
        CHECK(f && fwrite(sig, 1, sizeof sig, f) == sizeof sig && fclose(f) == 0, "cannot write %s", p);
        cluster_start(&c);
        plug_all(&c);
        CHECK(all_up(&c, 60000), "not every node came up");
        check_boards(&c, 0);
        for (unsigned i = 0; i < c.n; i++)
                CHECK(signature_is(&c, i, sig), "board %u did not see the signature", i + 1);
        cluster_free(&c);
}

/* A bootcode.sig of the wrong size: the node fails at once, saying why; the board beside it boots. */
static void test_signature_wrong_size(void) {
        struct cluster c;
        char dir[256], p[256];

        cluster_init(&c, 2, SCALE, NULL, NULL);
        path_of(dir, sizeof dir, c.dir, "node1");
        CHECK(mkdir(dir, 0755) == 0, "cannot make %s", dir);
        CHECK(tb_write_boot_files(dir, SCALE) == 0, "cannot write boot files to %s", dir);
        path_of(p, sizeof p, dir, "bootcode.sig");
        FILE *f = fopen(p, "we");
        CHECK(f && fwrite("twenty-one bytes long", 1, 21, f) == 21 && fclose(f) == 0, "cannot write %s", p);
        char *conf = g_strdup_printf("BootDirectory=%s\n", dir);
        cluster_set_node_conf(&c, 1, conf);
        g_free(conf);

        cluster_start(&c);
        plug_all(&c);
        const struct tb_log_line *l = wait_state(&c, 1, "failed", 30000);
        CHECK(l && strstr(l->text, "bootcode.sig beside it is not exactly 20 bytes"), "node1: %s",
              l ? l->text : "(not failed)");
        CHECK(wait_state(&c, 2, "up", 60000) != NULL, "node2 did not come up");
        check_boards(&c, 1);
        cluster_free(&c);
}

static const struct cluster_test tests[] = {
        { "tar", test_tar },
        { "tar-hostile", test_tar_hostile },
        { "signature", test_signature },
        { "signature-wrong-size", test_signature_wrong_size },
};

int main(int argc, char **argv) {
        clusterboot = getenv("CLUSTERBOOT");
        if (!clusterboot) {
                fprintf(stderr, "set CLUSTERBOOT to the binary under test\n");
                return 2;
        }
        return cluster_run_tests(tests, G_N_ELEMENTS(tests), argc, argv);
}
