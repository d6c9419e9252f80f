/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config-check.h"

#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>

#include "command-line.h"
#include "util.h"

/* The file the ROM of every board this daemon boots asks for first (BCM2835/2836/2837). */
#define FIRST_BOOT_FILE "bootcode.bin"

/* Writable by the daemon as it runs: the effective ids, and a read-only mount counts. */
static int writable(const char *path) {
        return faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS) < 0 ? -errno : 0;
}

int cb_state_directory_check(const char *directory, char *why, size_t size) {
        _cleanup_free_ char *copy = NULL;
        struct stat st;
        int r;

        if (stat(directory, &st) == 0) {
                if (!S_ISDIR(st.st_mode)) {
                        snprintf(why, size, "the state directory %s is not a directory", directory);
                        return -ENOTDIR;
                }
                r = writable(directory);
                if (r < 0)
                        snprintf(why, size, "the state directory %s is not writable: %s", directory, strerror(-r));
                return r;
        }
        r = -errno;
        if (r != -ENOENT) {
                snprintf(why, size, "the state directory %s cannot be reached: %s", directory, strerror(-r));
                return r;
        }
        /* the daemon creates the last level itself */
        copy = strdup(directory);
        if (!copy)
                return -ENOMEM;
        r = writable(dirname(copy));
        if (r < 0)
                snprintf(why, size, "the state directory %s does not exist and cannot be created: %s", directory,
                         r == -ENOENT ? "its parent does not exist either" : strerror(-r));
        return r;
}

/* A directory the daemon reads boot files from; `who` ("", "[Node n]: ") starts the message. */
static int check_boot_directory(struct cb_config_report *report, const char *directory, unsigned line,
                                const char *who, bool needs_first_file) {
        _cleanup_free_ char *first = NULL;
        struct stat st;

        if (stat(directory, &st) < 0)
                return cb_config_report_add(report, true, line, "%s%sBootDirectory=%s %s", who,
                                            line == 0 ? "the default " : "", directory,
                                            errno == ENOENT ? "does not exist" : strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return cb_config_report_add(report, true, line, "%sBootDirectory=%s is not a directory", who,
                                            directory);
        if (faccessat(AT_FDCWD, directory, R_OK | X_OK, AT_EACCESS) < 0)
                return cb_config_report_add(report, true, line, "%sBootDirectory=%s cannot be read: %s", who,
                                            directory, strerror(errno));
        if (!needs_first_file)
                return 0;
        if (asprintf(&first, "%s/" FIRST_BOOT_FILE, directory) < 0)
                return -ENOMEM;
        if (stat(first, &st) < 0 || !S_ISREG(st.st_mode))
                return cb_config_report_add(report, true, line,
                                            "%s%s is missing: no board can start booting (put the Raspberry Pi "
                                            "firmware files there)",
                                            who, first);
        return 0;
}

static int check_command(struct cb_config_report *report, const struct cb_node_config *node, const char *key,
                         const char *command, unsigned line) {
        _cleanup_(cb_strv_freep) char **argv = NULL;
        _cleanup_free_ char *program = NULL;
        const char *error = NULL;
        int r;

        if (!command)
                return 0;
        r = cb_command_split(command, &argv, &error);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !argv || !argv[0])
                return 0; /* the parser already reported it */
        r = cb_command_find_program(argv[0], &program);
        if (r == -ENOMEM)
                return r;
        if (r == -ENOENT)
                return cb_config_report_add(report, true, line, "[Node %s]: %s=: %s %s", node->name, key, argv[0],
                                            strchr(argv[0], '/') ? "does not exist" : "is not in $PATH");
        if (r < 0)
                return cb_config_report_add(report, true, line, "[Node %s]: %s=: %s cannot be run: %s",
                                            node->name, key, argv[0], r == -EACCES ? "not an executable file" : strerror(-r));
        return 0;
}

int cb_config_check_environment(const struct cb_config *config, struct cb_config_report *report) {
        char why[1024];
        int r;

        r = check_boot_directory(report, config->boot_directory, config->boot_directory_line, "", true);
        if (r < 0)
                return r;
        if (cb_state_directory_check(config->state_directory, why, sizeof why) < 0) {
                r = cb_config_report_add(report, true, config->state_directory_line,
                                         "%s: a node powered off would not stay off across a restart", why);
                if (r < 0)
                        return r;
        }
        if (config->metrics_directory) {
                struct stat st;

                if (stat(config->metrics_directory, &st) < 0 || !S_ISDIR(st.st_mode))
                        r = cb_config_report_add(report, true, config->metrics_directory_line,
                                                 "MetricsDirectory=%s %s: no metrics will be written",
                                                 config->metrics_directory,
                                                 errno == ENOENT ? "does not exist" : "is not a directory");
                else if (writable(config->metrics_directory) < 0)
                        r = cb_config_report_add(report, true, config->metrics_directory_line,
                                                 "MetricsDirectory=%s is not writable: %s", config->metrics_directory,
                                                 strerror(errno));
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < config->n_nodes; i++) {
                const struct cb_node_config *n = &config->nodes[i];
                char who[128];

                if (n->boot_directory) {
                        snprintf(who, sizeof who, "[Node %s]: ", n->name);
                        r = check_boot_directory(report, n->boot_directory, n->boot_directory_line, who, false);
                        if (r < 0)
                                return r;
                }
                if (n->power != CB_POWER_COMMAND)
                        continue;
                if ((r = check_command(report, n, "PowerOnCommand", n->power_on_command, n->power_on_line)) < 0 ||
                    (r = check_command(report, n, "PowerOffCommand", n->power_off_command, n->power_off_line)) < 0)
                        return r;
        }
        return 0;
}
