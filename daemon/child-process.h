/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A child process run on the sd-event loop, for a command the configuration
 * names (power-command.c runs PowerOnCommand= / PowerOffCommand= with it).
 *
 * Running: the program (argv[0], an absolute path or a name looked up in
 * PATH, see command-line.h) gets its own process group, stdin from
 * /dev/null, no signal mask and default signal dispositions, and stdout and
 * stderr logged line by line to the journal with the given fields (at most
 * 100 lines of 1024 bytes each, control characters replaced). When the
 * program exits (or is killed), whatever it left behind in its process group
 * is killed too: a left-over process would keep the output pipe open and
 * escape the timeout. After the timeout the group gets SIGTERM, then SIGKILL
 * once the kill grace has passed.
 *
 * `done` runs exactly once per started child, on the event loop, never from
 * inside cb_child_start(), with
 *    0             the program exited with status 0
 *   -ECANCELED     cb_child_cancel() was called
 *   -ETIMEDOUT     it ran longer than the timeout and was killed
 *   -EIO           it exited with another status, was killed by a signal,
 *                  or its exit status is unknown
 *   -ENOENT, -EACCES, ...
 *                  it could not be started
 * and `message`: NULL on success; on failure one sentence saying what went
 * wrong, which names the label and the command, e.g. "power-on command
 * '/usr/bin/relay on 3' failed with exit status 3: relay busy" (ending with
 * the last line of its output). It is NULL on failure only when memory ran
 * out while writing it, and only valid during the call. The child is freed
 * before `done` runs: its handle must not be used from then on.
 */

#include <systemd/sd-event.h>

#include "log.h"
#include "util.h"

struct cb_child;

struct cb_child_settings {
        char *const *argv;                  /* NULL-terminated; argv[0] is the program */
        char *const *env;                   /* the whole environment; NULL: the daemon's */
        const struct cb_log_node *log_node; /* the journal fields of its lines; may be NULL */
        const char *label;                  /* what it is in messages, e.g. "power-on command" */
        usec_t timeout;                     /* SIGTERM after this long; USEC_INFINITY: never */
        usec_t kill_grace;                  /* between SIGTERM and SIGKILL */
};

typedef void (*cb_child_done_t)(void *userdata, int result, const char *message);

/*
 * Starts the program and returns its handle in *ret, or a negative errno if
 * it could not be set up (then `done` never runs). A program that cannot be
 * found or run is reported through `done`. `argv` and `env` are only used
 * during the call; the label and the log node's strings (the struct is
 * copied) must stay valid until `done` runs or the child is freed.
 */
int cb_child_start(sd_event *event, const struct cb_child_settings *s, cb_child_done_t done, void *userdata,
                   struct cb_child **ret);

/* Kills the child's process group; `done` follows, with -ECANCELED, once it is reaped. */
void cb_child_cancel(struct cb_child *c);

/* Kills and reaps the child without waiting for anything else; `done` does NOT run. */
struct cb_child *cb_child_free(struct cb_child *c);
static inline void cb_child_freep(struct cb_child **c) {
        cb_child_free(*c);
}

/*
 * Children started from now on are reaped by polling, as where pidfd_open()
 * is missing (valgrind 3.19, seccomp filters, kernels before 5.3), or with a
 * pidfd again (false; found missing, polling comes back). For tests, so that
 * both ways run everywhere.
 */
void cb_child_set_polling(bool polling);
