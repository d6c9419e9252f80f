/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "board-spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
        const char *name;
        enum emu_fault_kind kind;
} fault_kinds[] = {
        { "stall", EMU_FAULT_STALL },
        { "no-answer", EMU_FAULT_NO_ANSWER },
        { "pause", EMU_FAULT_PAUSE },
        { "hang", EMU_FAULT_HANG },
        { "vanish", EMU_FAULT_VANISH },
        { "unplug", EMU_FAULT_UNPLUG },
        { "rom-failure", EMU_FAULT_ROM_FAILURE },
        { "bogus-command", EMU_FAULT_BOGUS_COMMAND },
        { "name-no-nul", EMU_FAULT_NAME_NO_NUL },
        { "escape", EMU_FAULT_ESCAPE_NAME },
        { "no-gadget", EMU_FAULT_NO_GADGET },
};

static const struct {
        const char *name;
        enum emu_fault_point point;
} fault_points[] = {
        { "rom-header", EMU_AT_ROM_HEADER }, { "rom-loader", EMU_AT_ROM_LOADER }, { "rom-status", EMU_AT_ROM_STATUS },
        { "request", EMU_AT_REQUEST },       { "file", EMU_AT_FILE },             { "gadget", EMU_AT_GADGET },
};

int emu_parse_unsigned(const char *s, unsigned long max, unsigned long *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 0);
        if (errno || end == s || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* One ":key=value" (or ":sticky") of a fault after its kind. */
static int fault_option(char *tok, struct emu_fault *f, char name[EMU_FAULT_NAME_SIZE], bool *have_point) {
        char *eq = strchr(tok, '=');
        const char *val = eq ? eq + 1 : "";
        unsigned long v;

        if (!eq) {
                if (strcmp(tok, "sticky") != 0)
                        return -EINVAL;
                f->sticky = true;
                return 0;
        }
        *eq = '\0';
        if (strcmp(tok, "file") == 0 && *val && strlen(val) < EMU_FAULT_NAME_SIZE) {
                snprintf(name, EMU_FAULT_NAME_SIZE, "%s", val);
                f->point = EMU_AT_FILE;
        } else if (strcmp(tok, "request") == 0 && emu_parse_unsigned(val, 1000, &v) == 0) {
                f->point = EMU_AT_REQUEST;
                f->index = (unsigned) v;
        } else if (strcmp(tok, "at") == 0) {
                size_t i;
                for (i = 0; i < N(fault_points) && strcmp(val, fault_points[i].name) != 0; i++)
                        ;
                if (i == N(fault_points))
                        return -EINVAL;
                f->point = fault_points[i].point;
        } else if (strcmp(tok, "offset") == 0 && emu_parse_unsigned(val, UINT32_MAX, &v) == 0) {
                f->offset = v;
                return 0;
        } else if (strcmp(tok, "attempt") == 0 && emu_parse_unsigned(val, 1000, &v) == 0) {
                f->attempt = (unsigned) v;
                return 0;
        } else if (strcmp(tok, "ms") == 0 && emu_parse_unsigned(val, 600000, &v) == 0) {
                f->pause_ms = (unsigned) v;
                return 0;
        } else {
                return -EINVAL;
        }
        *have_point = true;
        return 0;
}

int emu_fault_parse(const char *spec, struct emu_fault *f, char name[EMU_FAULT_NAME_SIZE]) {
        char *copy = strdup(spec), *save = NULL, *tok;
        bool have_point = false;
        size_t i;
        int r = -EINVAL;

        if (!copy)
                return -ENOMEM;
        memset(f, 0, sizeof *f);
        name[0] = '\0';
        tok = strtok_r(copy, ":", &save);
        for (i = 0; tok && i < N(fault_kinds) && strcmp(tok, fault_kinds[i].name) != 0; i++)
                ;
        if (!tok || i == N(fault_kinds))
                goto out;
        f->kind = fault_kinds[i].kind;
        while ((tok = strtok_r(NULL, ":", &save)))
                if (fault_option(tok, f, name, &have_point) < 0)
                        goto out;
        if (!have_point && emu_fault_natural_point(f->kind, &f->point) < 0)
                goto out; /* where would it fire? */
        if (f->point == EMU_AT_FILE && !name[0])
                goto out;
        r = 0;
out:
        free(copy);
        return r;
}

/* The settings that tell one SoC's board from another's (board-soc.c, board-desc.c). */
static int soc_setting_parse(const char *key, const char *value, struct emu_board_config *c) {
        unsigned long v;

        if (strcmp(key, "soc") == 0) {
                /* the names are emu_soc_name()'s */
                for (enum emu_soc soc = EMU_SOC_2835; soc <= EMU_SOC_2712; soc++)
                        if (strcmp(value, emu_soc_name(soc)) == 0) {
                                c->soc = soc;
                                return 0;
                        }
                return -EINVAL;
        }
        if (strcmp(key, "serial") == 0) {
                /* what a ROM shows: hex digits, as long as a real SoC serial at most */
                if (!value[0] || strlen(value) >= sizeof c->serial || strspn(value, "0123456789abcdefABCDEF") != strlen(value))
                        return -EINVAL;
                snprintf(c->serial, sizeof c->serial, "%s", value);
                return 0;
        }
        if (strcmp(key, "serial-index") == 0) {
                if (emu_parse_unsigned(value, 255, &v) < 0 || v == 0)
                        return -EINVAL;
                c->server_serial_index = (uint8_t) v;
                return 0;
        }
        if (strcmp(key, "handoff") == 0) {
                if (strcmp(value, "leave") == 0)
                        c->handoff = EMU_HANDOFF_LEAVE;
                else if (strcmp(value, "done") == 0)
                        c->handoff = EMU_HANDOFF_DONE;
                else
                        return -EINVAL;
                return 0;
        }
        if (strcmp(key, "read-missing") == 0) {
                if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
                        return -EINVAL;
                c->read_missing = strcmp(value, "yes") == 0;
                return 0;
        }
        if (strcmp(key, "product") == 0) {
                if (strcmp(value, "d0") != 0)
                        return -EINVAL;
                c->product_d0 = true;
                return 0;
        }
        return -ENOENT;
}

int emu_board_setting_parse(const char *key, const char *value, struct emu_board_config *c) {
        unsigned long v;

        if (strcmp(key, "rom-pid") == 0) {
                if (emu_parse_unsigned(value, 0xffff, &v) < 0 || (v != 0x2763 && v != 0x2764))
                        return -EINVAL;
                c->rom_pid = (uint16_t) v;
                return 0;
        }
        if (strcmp(key, "after-bulk-fault") == 0) {
                if (strcmp(value, "restart") == 0)
                        c->after_bulk_fault = EMU_AFTER_BULK_FAULT_RESTART;
                else if (strcmp(value, "wait-resend") == 0)
                        c->after_bulk_fault = EMU_AFTER_BULK_FAULT_WAIT_RESEND;
                else
                        return -EINVAL;
                return 0;
        }
        if (strcmp(key, "on-reset") == 0) {
                if (strcmp(value, "restart") == 0)
                        c->on_reset = EMU_ON_RESET_RESTART;
                else if (strcmp(value, "keep") == 0)
                        c->on_reset = EMU_ON_RESET_KEEP;
                else
                        return -EINVAL;
                return 0;
        }
        if (strcmp(key, "gadget") == 0) {
                static const enum emu_gadget kinds[] = { EMU_GADGET_PLAIN, EMU_GADGET_ECM, EMU_GADGET_ECM_ACM };
                for (size_t i = 0; i < N(kinds); i++)
                        if (strcmp(value, emu_gadget_name(kinds[i])) == 0) {
                                c->gadget = kinds[i];
                                return 0;
                        }
                return -EINVAL;
        }
        return soc_setting_parse(key, value, c);
}
