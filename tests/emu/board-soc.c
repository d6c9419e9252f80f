/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What sets one SoC's board apart from another's, as the public logs tell
 * (../shared/docs/usb-boot-protocol.md §1, §4, §8): the loader its ROM is
 * given and what its second stage asks for. Descriptors are in board-desc.c.
 */
#include <string.h>

#include "board.h"

const char *const emu_pi_zero_requests[] = {
        "autoboot.txt", "config.txt", "recovery.elf", "start.elf",   "fixup.dat",
        "config.txt",   "cmdline.txt", "kernel.img",  "bcm2708-rpi-zero-w.dtb", "overlays/dwc2.dtbo",
};
const size_t emu_pi_zero_n_requests = sizeof emu_pi_zero_requests / sizeof emu_pi_zero_requests[0];

static const char *const zero2_requests[] = {
        "autoboot.txt", "config.txt",  "recovery.elf", "start.elf", "fixup.dat", "config.txt",
        "cmdline.txt",  "kernel8.img", "bcm2710-rpi-zero-2-w.dtb", "overlays/dwc2.dtbo",
};

/* bootcode4.bin's session, then start4.elf's own one for the kernel (§8) */
static const char *const cm4_requests[] = {
        "config.txt", "pieeprom.sig", "recover4.elf", "recovery.elf", "start4.elf", "fixup4.dat",
        EMU_REQUEST_NEW_SESSION,
        "config.txt", "cmdline.txt", "kernel8.img", "bcm2711-rpi-cm4.dtb", "overlays/dwc2.dtbo",
        "*MAC_ADDR*dc:a6:32:00:00:01",
};

/* the mass-storage-gadget / ramdisk flow, with the board's properties near its end (§8) */
static const char *const cm5_requests[] = {
        "mcb.bin",  "memsys00.bin", "memsys01.bin", "memsys02.bin",
        "memsys03.bin", "bootmain", "config.txt",
        "*USER_SERIAL_NUM*00000000", "*MAC_ADDR*2c:cf:67:00:00:01", "*BOOT_ROM*0x0000c8b0",
        "boot.img",
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

const char *const *emu_soc_requests(enum emu_soc soc, size_t *ret_n) {
        switch (soc) {
        case EMU_SOC_2837:
                *ret_n = N(zero2_requests);
                return zero2_requests;
        case EMU_SOC_2711:
                *ret_n = N(cm4_requests);
                return cm4_requests;
        case EMU_SOC_2712:
                *ret_n = N(cm5_requests);
                return cm5_requests;
        default:
                *ret_n = emu_pi_zero_n_requests;
                return emu_pi_zero_requests;
        }
}

const char *emu_soc_loader_name(enum emu_soc soc) {
        switch (soc) {
        case EMU_SOC_2711:
                return "bootcode4.bin";
        case EMU_SOC_2712:
                return "bootcode5.bin";
        default:
                return "bootcode.bin";
        }
}

bool emu_request_is_file(const char *name) {
        return name[0] != '*' && strcmp(name, EMU_REQUEST_NEW_SESSION) != 0;
}

const char *emu_soc_name(enum emu_soc soc) {
        switch (soc) {
        case EMU_SOC_2837:
                return "2837";
        case EMU_SOC_2711:
                return "2711";
        case EMU_SOC_2712:
                return "2712";
        default:
                return "2835";
        }
}
