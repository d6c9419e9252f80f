/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "world.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board-verify.h"
#include "bootfiles.h"
#include "inproc-power.h"

struct boot_file {
        const char *name;
        size_t small, real;
};

static const struct boot_file boot_files[] = {
        { "bootcode.bin", 52 * 1024 + 17, 52 * 1024 + 17 },
        { "config.txt", 120, 120 },
        { "start.elf", 40 * 1024 + 3, 2900 * 1024 + 3 },
        { "fixup.dat", 7 * 1024, 7 * 1024 },
        { "cmdline.txt", 90, 90 },
        { "kernel.img", 60 * 1024 + 1, 5000 * 1024 + 1 },
        { "bcm2708-rpi-zero-w.dtb", 25 * 1024, 25 * 1024 },
        { "overlays/dwc2.dtbo", 1500, 1500 },
        /* the Zero 2 W's, the CM4's and the CM5's own */
        { "kernel8.img", 64 * 1024 + 5, 8000 * 1024 + 5 },
        { "bcm2710-rpi-zero-2-w.dtb", 26 * 1024, 26 * 1024 },
        { "bootcode4.bin", 100 * 1024 + 7, 100 * 1024 + 7 },
        { "start4.elf", 36 * 1024 + 9, 2200 * 1024 + 9 },
        { "fixup4.dat", 5 * 1024, 5 * 1024 },
        { "bcm2711-rpi-cm4.dtb", 50 * 1024, 50 * 1024 },
        { "bootcode5.bin", 90 * 1024 + 1, 90 * 1024 + 1 },
        { "mcb.bin", 8 * 1024, 8 * 1024 },
        { "memsys00.bin", 12 * 1024, 12 * 1024 },
        { "memsys01.bin", 12 * 1024 + 1, 12 * 1024 + 1 },
        { "memsys02.bin", 12 * 1024 + 2, 12 * 1024 + 2 },
        { "memsys03.bin", 12 * 1024 + 3, 12 * 1024 + 3 },
        { "bootmain", 180 * 1024, 180 * 1024 },
        { "boot.img", 96 * 1024 + 11, 24 * 1024 * 1024 + 11 },
};

static int write_file(const char *path, size_t size, unsigned seed) {
        FILE *f = fopen(path, "we");
        uint32_t x = seed * 2654435761u + 1;

        if (!f)
                return -errno;
        for (size_t i = 0; i < size; i++) {
                x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                fputc((int) (x & 0xff), f);
        }
        return fclose(f) == 0 ? 0 : -errno;
}

void world_fast_timeouts(struct cb_config *c) {
        c->control_timeout = 20 * USEC_PER_MSEC;
        c->request_timeout = 40 * USEC_PER_MSEC;
        c->bulk_timeout = 40 * USEC_PER_MSEC;
        c->reenumerate_timeout = 200 * USEC_PER_MSEC;
        c->up_timeout = 200 * USEC_PER_MSEC;
        c->retry_delay = 5 * USEC_PER_MSEC;
        c->retry_delay_max = 40 * USEC_PER_MSEC;
}

int world_init(struct world *w, bool real_sizes) {
        char path[256];
        int r;

        memset(w, 0, sizeof *w);
        snprintf(w->dir, sizeof w->dir, "/tmp/cb-world-XXXXXX");
        if (!mkdtemp(w->dir))
                return -errno;
        snprintf(w->boot_dir, sizeof w->boot_dir, "%s/boot", w->dir);
        if (mkdir(w->boot_dir, 0755) < 0)
                return -errno;
        snprintf(path, sizeof path, "%s/overlays", w->boot_dir);
        if (mkdir(path, 0755) < 0)
                return -errno;
        for (size_t i = 0; i < ELEMENTSOF(boot_files); i++) {
                snprintf(path, sizeof path, "%s/%s", w->boot_dir, boot_files[i].name);
                r = write_file(path, real_sizes ? boot_files[i].real : boot_files[i].small, (unsigned) i + 1);
                if (r < 0)
                        return r;
        }
        r = cb_config_new_default(&w->config);
        if (r < 0)
                return r;
        r = strdup_to(&w->config->boot_directory, w->boot_dir);
        if (r < 0)
                return r;
        world_fast_timeouts(w->config);
        r = cb_file_cache_new(&w->cache);
        if (r < 0)
                return r;
        r = sd_event_new(&w->event);
        if (r < 0)
                return r;
        w->env = (struct cb_node_env){
                .event = w->event,
                .config = w->config,
                .cache = w->cache,
                .callbacks = { .userdata = w },
        };
        return 0;
}

struct emu_port *world_add(struct world *w, const struct emu_board_config *config) {
        char name[32], port[32];
        size_t i = w->n_ports;

        if (i >= WORLD_MAX_PORTS)
                return NULL;
        snprintf(name, sizeof name, "node%zu", i + 1);
        snprintf(port, sizeof port, "%zu-1", i + 1);
        if (cb_node_new(&w->env, name, port, false, &w->nodes[i]) < 0)
                return NULL;
        emu_port_init(&w->ports[i], w->event, config, w->nodes[i]);
        w->n_ports++;
        return &w->ports[i];
}

int world_add_switch(struct world *w, size_t i, const struct emu_power_settings *settings, struct emu_power_log *log) {
        struct cb_power *power = NULL;
        int r = emu_power_new(&w->ports[i], settings, log, &power);

        if (r < 0)
                return r;
        return cb_node_set_power(w->nodes[i], power);
}

bool world_settled(const struct world *w) {
        for (size_t i = 0; i < w->n_ports; i++) {
                enum cb_node_state s = cb_node_state(w->nodes[i]);
                if (s != CB_NODE_UP && s != CB_NODE_FAILED && s != CB_NODE_OFF && s != CB_NODE_NEEDS_POWER)
                        return false;
        }
        return true;
}

int world_run(struct world *w, usec_t timeout) {
        usec_t deadline = now_usec() + timeout;

        /* step the loop rather than exit it, so a test can run it again */
        while (!(w->n_ports > 0 && world_settled(w))) {
                usec_t now = now_usec();
                int r;

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = sd_event_run(w->event, deadline - now);
                if (r < 0)
                        return r;
        }
        return 0;
}

int world_verify_board(const struct world *w, size_t i, char *why, size_t why_size) {
        struct emu_boot_truth truth;

        emu_boot_truth_load(&truth, w->boot_dir);
        return emu_board_verify(&w->ports[i].board, &truth, why, why_size) ? 0 : -EBADMSG;
}

void world_done(struct world *w) {
        char cmd[128];

        for (size_t i = 0; i < w->n_ports; i++) {
                w->ports[i].bus_source = sd_event_source_disable_unref(w->ports[i].bus_source);
                w->ports[i].node = NULL;
                cb_node_free(w->nodes[i]);
        }
        /* let cancelled transfers complete, so aborted sessions free themselves */
        if (w->event)
                while (sd_event_run(w->event, 0) > 0)
                        ;
        for (size_t i = 0; i < w->n_ports; i++)
                emu_port_done(&w->ports[i]);
        cb_file_cache_free(w->cache);
        cb_config_free(w->config);
        sd_event_unref(w->event);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", w->dir);
}

void world_dump(const struct world *w, size_t i) {
        const struct emu_board *b = &w->ports[i].board;
        const struct cb_node_event *e;

        fprintf(stderr, "  %s: state %s, attempt %u, last error: %s\n", cb_node_name(w->nodes[i]),
                cb_node_state_name(cb_node_state(w->nodes[i])), cb_node_attempt(w->nodes[i]),
                cb_node_last_error(w->nodes[i]) ? cb_node_last_error(w->nodes[i]) : "-");
        fprintf(stderr, "  board: stage %s, attempt %u, rom %04x, after-bulk-fault %d, on-reset %d, resets %u%s%s\n",
                emu_stage_name(b->stage), b->attempt, b->config.rom_pid, b->config.after_bulk_fault,
                b->config.on_reset, b->resets, b->error[0] ? ", error: " : "", b->error);
        for (size_t k = 0; k < b->config.n_faults; k++) {
                const struct emu_fault *f = &b->config.faults[k];
                fprintf(stderr, "  fault: kind %d at %d, attempt %u, index %u, %s+%zu%s\n", f->kind, f->point,
                        f->attempt, f->index, f->name ? f->name : "-", f->offset, f->sticky ? ", sticky" : "");
        }
        for (unsigned k = 0; (e = cb_node_event_at(w->nodes[i], k)); k++)
                fprintf(stderr, "    [%s #%u] %s\n", cb_node_state_name(e->state), e->attempt, e->message);
}
