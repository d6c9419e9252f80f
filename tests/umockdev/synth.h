/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Synthetic boot files, written into the daemon's boot directory and checked
 * against what the emulated boards received: every name has a
 * deterministic size and deterministic bytes. Sizes follow the real Pi Zero
 * files (bootcode.bin ~52 KB, start.elf ~2.9 MB, kernel.img ~5.9 MB), divided
 * by `scale`. Names a Pi asks for but a boot directory usually lacks
 * (autoboot.txt, recovery.elf) and anything that is not a plain relative path
 * are "not found" (size 0).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SYNTH_LOADER_NAME "bootcode.bin"

static inline uint64_t synth_fnv(const char *s) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (; *s; s++) {
                h ^= (uint8_t) *s;
                h *= 0x100000001b3ULL;
        }
        return h;
}

/* Whether a board-supplied name is one a boot directory could serve. */
static inline bool synth_name_ok(const char *name) {
        if (!name[0] || name[0] == '/' || name[0] == '*')
                return false;
        for (const char *p = name; *p; p++)
                if (p[0] == '.' && p[1] == '.' && (p == name || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
                        return false;
        return true;
}

static inline uint64_t synth_size(const char *name, unsigned scale) {
        static const struct {
                const char *name;
                uint64_t size;
        } table[] = {
                { "autoboot.txt", 0 },        { "recovery.elf", 0 },      { SYNTH_LOADER_NAME, 52456 },
                { "config.txt", 1853 },       { "start.elf", 2974976 },   { "start_cd.elf", 808060 },
                { "fixup.dat", 7314 },        { "cmdline.txt", 147 },     { "kernel.img", 5904128 },
                { "bcm2708-rpi-zero-w.dtb", 25910 }, { "overlays/dwc2.dtbo", 1016 },
                /* the Zero 2 W's, the CM4's and the CM5's own (plain firmware: no EEPROM recovery files) */
                { "kernel8.img", 8147456 },   { "bcm2710-rpi-zero-2-w.dtb", 32753 },
                { "bootcode4.bin", 104848 },  { "pieeprom.sig", 0 },      { "recover4.elf", 0 },
                { "start4.elf", 2251392 },    { "fixup4.dat", 5425 },     { "bcm2711-rpi-cm4.dtb", 52593 },
                { "bootcode5.bin", 91136 },   { "mcb.bin", 8192 },        { "bootmain", 184320 },
                { "boot.img", 25165824 },
        };
        uint64_t size = 0;
        bool known = false;

        if (!synth_name_ok(name))
                return 0;
        if (scale == 0)
                scale = 1;
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
                if (strcmp(table[i].name, name) == 0) {
                        size = table[i].size;
                        known = true;
                }
        if (!known)
                size = 1000 + synth_fnv(name) % 20000; /* any other name: a small file */
        if (size == 0)
                return 0;
        size /= scale;
        return size ? size : 1;
}

static inline uint64_t synth_mix(uint64_t x) {
        x += 0x9e3779b97f4a7c15ULL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
}

/* Bytes [offset, offset + len) of file `name`. */
static inline void synth_fill(const char *name, uint64_t offset, uint8_t *buf, size_t len) {
        uint64_t seed = synth_fnv(name);
        uint64_t word = offset / 8, cur = synth_mix(seed ^ word);
        for (size_t i = 0; i < len; i++) {
                uint64_t pos = offset + i;
                if (pos / 8 != word) {
                        word = pos / 8;
                        cur = synth_mix(seed ^ word);
                }
                buf[i] = (uint8_t) (cur >> (8 * (pos % 8)));
        }
}

/* FNV-1a 64 of the whole file, as struct emu_received_file.hash records it. */
static inline uint64_t synth_hash(const char *name, unsigned scale) {
        uint64_t h = 0xcbf29ce484222325ULL, size = synth_size(name, scale);
        uint8_t buf[4096];
        for (uint64_t off = 0; off < size; off += sizeof buf) {
                size_t n = size - off < sizeof buf ? (size_t) (size - off) : sizeof buf;
                synth_fill(name, off, buf, n);
                for (size_t i = 0; i < n; i++) {
                        h ^= buf[i];
                        h *= 0x100000001b3ULL;
                }
        }
        return h;
}
