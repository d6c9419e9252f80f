/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "board-check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "synth.h"

#define PROBLEM(cond, ...)                                                       \
        do {                                                                     \
                if (!(cond)) {                                                   \
                        fprintf(stderr, "  FAIL %s: ", port);                    \
                        fprintf(stderr, __VA_ARGS__);                            \
                        fputc('\n', stderr);                                     \
                        problems++;                                              \
                }                                                                \
        } while (0)

unsigned tb_check_board(tb_testbed *tb, tb_board *b, unsigned scale) {
        unsigned problems = 0;

        tb_lock(tb);
        const struct emu_board *e = tb_board_emu(b);
        const char *port = tb_board_port(b);

        PROBLEM(e->stage == EMU_STAGE_GADGET, "stage %s, not running its kernel", emu_stage_name(e->stage));
        if (e->stage != EMU_STAGE_GADGET) {
                tb_unlock(tb);
                return problems;
        }
        PROBLEM(e->error[0] == '\0', "the board saw a protocol violation: %s", e->error);
        PROBLEM(e->boots_completed >= 1, "Done never reached");
        const char *loader = emu_soc_loader_name(e->config.soc);
        PROBLEM(e->loader_received == synth_size(loader, scale), "%s: %u bytes", loader, e->loader_received);
        PROBLEM(e->loader_hash == synth_hash(loader, scale), "%s: hash differs", loader);
        for (size_t i = 0; i < e->config.n_requests; i++) {
                const char *name = e->config.requests[i];
                const struct emu_received_file *f = emu_board_file(e, name);
                uint64_t size = synth_size(name, scale);

                if (!emu_request_is_file(name))
                        continue;

                PROBLEM(f != NULL, "%s never asked for", name);
                if (!f)
                        continue;
                PROBLEM(f->size == size, "%s announced %" PRIu64 " bytes, want %" PRIu64, name, f->size, size);
                if (size) {
                        PROBLEM(f->complete && f->received == size, "%s incomplete: %" PRIu64 " of %" PRIu64, name,
                                f->received, size);
                        PROBLEM(f->hash == synth_hash(name, scale), "%s hash differs", name);
                }
        }
        tb_unlock(tb);
        return problems;
}

static int write_one(const char *dir, const char *name, unsigned scale) {
        char path[1024];
        uint8_t buf[65536];
        uint64_t size = synth_size(name, scale);
        FILE *f;

        if (size == 0)
                return 0; /* "missing" files stay missing */
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (strchr(name, '/')) {
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%.*s", dir, (int) (strrchr(name, '/') - name), name);
                if (mkdir(sub, 0755) < 0 && errno != EEXIST)
                        return -errno;
        }
        f = fopen(path, "we");
        if (!f)
                return -errno;
        for (uint64_t off = 0; off < size; off += sizeof buf) {
                size_t n = (size_t) (size - off < sizeof buf ? size - off : sizeof buf);
                synth_fill(name, off, buf, n);
                if (fwrite(buf, 1, n, f) != n) {
                        fclose(f);
                        return -EIO;
                }
        }
        return fclose(f) == 0 ? 0 : -errno;
}

/* Every file any SoC's board asks for, and each SoC's loader. */
int tb_write_boot_files(const char *dir, unsigned scale) {
        static const enum emu_soc socs[] = { EMU_SOC_2835, EMU_SOC_2837, EMU_SOC_2711, EMU_SOC_2712 };

        for (size_t s = 0; s < sizeof socs / sizeof socs[0]; s++) {
                size_t n;
                const char *const *names = emu_soc_requests(socs[s], &n);
                int r = write_one(dir, emu_soc_loader_name(socs[s]), scale);

                for (size_t i = 0; r >= 0 && i < n; i++)
                        if (emu_request_is_file(names[i]))
                                r = write_one(dir, names[i], scale);
                if (r < 0)
                        return r;
        }
        return 0;
}
