/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: a configuration file, read the way the daemon reads
 * /etc/clusterboot/clusterboot.conf (from a file descriptor, so NUL bytes and
 * lines without a newline reach the parser as they would from disk). A file
 * that is accepted must keep the promises the rest of the daemon builds on:
 * every node has a name and a port, and both are unique. Every message in
 * the report formats, and a refusal for content says at least one error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        /* every bad line is logged: that is the parser working, not news */
        cb_log_open(CB_LOG_STDERR);
        cb_log_set_max_level(LOG_CRIT);
        return 0;
}

static void check_accepted(const struct cb_config *c) {
        if (c->max_attempts < 1 || !c->boot_directory)
                abort();
        for (size_t i = 0; i < c->n_nodes; i++) {
                const struct cb_node_config *n = &c->nodes[i];
                if (!n->name || !n->port)
                        abort();
                if (cb_config_find_node_by_name(c, n->name) != n || cb_config_find_node_by_port(c, n->port) != n)
                        abort();
                if (n->power == CB_POWER_COMMAND && (!n->power_on_command || !n->power_off_command))
                        abort();
        }
}

/* Every message formats (as --check-config prints it and a failed Reload sends it), and the counts agree. */
static void check_report(const struct cb_config_report *report, int r) {
        unsigned errors = 0, warnings = 0;
        char line[1024];

        for (size_t i = 0; i < report->n_messages; i++) {
                const struct cb_config_message *m = &report->messages[i];
                if (!m->text || cb_config_message_format(report, m, line, sizeof line) != line)
                        abort();
                m->warning ? warnings++ : errors++;
        }
        /* a message that could not be stored is still counted: counts may exceed the list, never fall short */
        if (report->n_errors < errors || report->n_warnings < warnings)
                abort();
        if (r == 0 && report->n_errors > 0)
                abort(); /* accepted with errors */
        if (r == -EINVAL && report->n_errors == 0)
                abort(); /* refused for content, without saying where */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct cb_config_report report = { 0 };
        struct cb_config *c = NULL;
        char path[64];
        int fd, r;

        fd = memfd_create("fuzz-config", MFD_CLOEXEC);
        if (fd < 0)
                abort();
        if (size > 0 && write(fd, data, size) != (ssize_t) size)
                abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        r = cb_config_load_report(path, false, &report, &c);
        if (r == 0)
                check_accepted(c);
        else if (c)
                abort(); /* a refused file hands back nothing */
        check_report(&report, r);
        cb_config_report_done(&report);
        cb_config_free(c);
        close(fd);
        return 0;
}
