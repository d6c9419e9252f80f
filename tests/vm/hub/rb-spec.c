/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * redir-boards: a board's settings, as the guest's board-add command gives
 * them, one word each (the syntax of gadget-boards' --fault and --board):
 *
 *   fault=SPEC              (see tests/emu/board-spec.h)
 *   rom-pid=0x2763|0x2764   after-bulk-fault=wait-resend|restart   on-reset=restart|keep
 *   keep-power              (its port's switch does not cut its power: a lying hub)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board-spec.h"
#include "rb.h"

int rb_parse_board_settings(struct rb_board *b, const char *word, char *error, size_t error_size) {
        struct emu_board_config *c = &b->config;
        char key[64];
        const char *eq = strchr(word, '=');
        int r;

        if (strncmp(word, "fault=", 6) == 0) {
                if (c->n_faults >= EMU_MAX_FAULTS) {
                        snprintf(error, error_size, "more than %d faults", EMU_MAX_FAULTS);
                        return -EINVAL;
                }
                if (emu_fault_parse(word + 6, &c->faults[c->n_faults], b->fault_names[c->n_faults]) < 0) {
                        snprintf(error, error_size, "bad fault '%s'", word + 6);
                        return -EINVAL;
                }
                c->faults[c->n_faults].name = b->fault_names[c->n_faults];
                c->n_faults++;
                return 0;
        }
        if (strcmp(word, "keep-power") == 0) {
                b->keeps_power = true;
                return 0;
        }
        r = -ENOENT;
        if (eq && (size_t) (eq - word) < sizeof key) {
                snprintf(key, sizeof key, "%.*s", (int) (eq - word), word);
                r = emu_board_setting_parse(key, eq + 1, c);
        }
        if (r < 0) {
                snprintf(error, error_size, "%s board setting '%s'", r == -ENOENT ? "unknown" : "bad", word);
                return -EINVAL;
        }
        return 0;
}
