/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * redir-boards: a board's settings, as the guest's board-add command gives
 * them, one word each (the syntax of gadget-boards' --fault and --board):
 *
 *   fault=KIND[:file=NAME][:offset=N][:request=N][:at=POINT][:attempt=N][:sticky]
 *   rom-pid=0x2763|0x2764   after-bulk-fault=wait-resend|restart   on-reset=restart|keep
 *   keep-power              (its port's switch does not cut its power: a lying hub)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb.h"

static const struct {
        const char *name;
        enum emu_fault_kind kind;
} fault_kinds[] = {
        { "stall", EMU_FAULT_STALL },
        { "no-answer", EMU_FAULT_NO_ANSWER },
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

static int parse_number(const char *s, unsigned long max, unsigned long *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 0);
        if (errno || end == s || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_fault(const char *spec, struct emu_fault *f, char name[260]) {
        char copy[512], *save = NULL, *tok;
        bool have_kind = false, have_point = false;

        if (strlen(spec) >= sizeof copy)
                return -EINVAL;
        strcpy(copy, spec);
        memset(f, 0, sizeof *f);
        name[0] = '\0';
        tok = strtok_r(copy, ":", &save);
        for (size_t i = 0; tok && i < sizeof fault_kinds / sizeof fault_kinds[0]; i++)
                if (strcmp(tok, fault_kinds[i].name) == 0) {
                        f->kind = fault_kinds[i].kind;
                        have_kind = true;
                }
        if (!have_kind)
                return -EINVAL;
        while ((tok = strtok_r(NULL, ":", &save))) {
                char *eq = strchr(tok, '=');
                const char *val = eq ? eq + 1 : "";
                unsigned long v;

                if (eq)
                        *eq = '\0';
                if (strcmp(tok, "sticky") == 0 && !eq) {
                        f->sticky = true;
                } else if (strcmp(tok, "file") == 0 && eq && *val && strlen(val) < 260) {
                        snprintf(name, 260, "%s", val);
                        f->point = EMU_AT_FILE;
                        have_point = true;
                } else if (strcmp(tok, "offset") == 0 && eq && parse_number(val, UINT32_MAX, &v) == 0) {
                        f->offset = v;
                } else if (strcmp(tok, "request") == 0 && eq && parse_number(val, 1000, &v) == 0) {
                        f->point = EMU_AT_REQUEST;
                        f->index = (unsigned) v;
                        have_point = true;
                } else if (strcmp(tok, "attempt") == 0 && eq && parse_number(val, 1000, &v) == 0) {
                        f->attempt = (unsigned) v;
                } else if (strcmp(tok, "at") == 0 && eq) {
                        size_t i;
                        for (i = 0; i < sizeof fault_points / sizeof fault_points[0]; i++)
                                if (strcmp(val, fault_points[i].name) == 0)
                                        break;
                        if (i == sizeof fault_points / sizeof fault_points[0])
                                return -EINVAL;
                        f->point = fault_points[i].point;
                        have_point = true;
                } else {
                        return -EINVAL;
                }
        }
        if (!have_point && emu_fault_natural_point(f->kind, &f->point) < 0)
                return -EINVAL;
        if (f->point == EMU_AT_FILE && !name[0])
                return -EINVAL;
        return 0;
}

int rb_parse_board_settings(struct rb_board *b, const char *word, char *error, size_t error_size) {
        struct emu_board_config *c = &b->config;
        unsigned long v;

        if (strncmp(word, "fault=", 6) == 0) {
                if (c->n_faults >= EMU_MAX_FAULTS) {
                        snprintf(error, error_size, "more than %d faults", EMU_MAX_FAULTS);
                        return -EINVAL;
                }
                if (parse_fault(word + 6, &c->faults[c->n_faults], b->fault_names[c->n_faults]) < 0) {
                        snprintf(error, error_size, "bad fault '%s'", word + 6);
                        return -EINVAL;
                }
                c->faults[c->n_faults].name = b->fault_names[c->n_faults];
                c->n_faults++;
        } else if (strncmp(word, "rom-pid=", 8) == 0 && parse_number(word + 8, 0xffff, &v) == 0 &&
                   (v == 0x2763 || v == 0x2764)) {
                c->rom_pid = (uint16_t) v;
        } else if (strcmp(word, "after-bulk-fault=wait-resend") == 0) {
                c->after_bulk_fault = EMU_AFTER_BULK_FAULT_WAIT_RESEND;
        } else if (strcmp(word, "after-bulk-fault=restart") == 0) {
                c->after_bulk_fault = EMU_AFTER_BULK_FAULT_RESTART;
        } else if (strcmp(word, "on-reset=restart") == 0) {
                c->on_reset = EMU_ON_RESET_RESTART;
        } else if (strcmp(word, "on-reset=keep") == 0) {
                c->on_reset = EMU_ON_RESET_KEEP;
        } else if (strcmp(word, "keep-power") == 0) {
                b->keeps_power = true;
        } else {
                snprintf(error, error_size, "unknown board setting '%s'", word);
                return -EINVAL;
        }
        return 0;
}
