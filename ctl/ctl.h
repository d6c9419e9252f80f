/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What clusterbootctl's commands share: the exit statuses, the state of one
 * run, and talking to the daemon (calls.c). Each group of commands lives in
 * a file of its own (verbs-*.c); clusterbootctl.c parses the command line.
 */

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "varlink-client.h"
#include "views.h"

/* Exit statuses, documented in clusterbootctl(1). */
enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,       /* the daemon refused or could not do it */
        EXIT_USAGE = 2,        /* bad command line */
        EXIT_NOT_RUNNING = 3,  /* cannot reach the daemon */
        EXIT_NO_SUCH_NODE = 4,
        EXIT_PERMISSION = 5,
};

/* How many -H one run takes. */
#define CTL_HOSTS_MAX 64

struct ctl {
        const char *socket_path;
        const char *hosts[CTL_HOSTS_MAX]; /* -H [USER@]HOST, in order */
        size_t n_hosts;
        const char *host;                  /* the one being talked to (NULL: this machine) */
        const char *verb; /* the command as the user typed it, for messages: "power off" */
        struct view_options view;
        bool quiet;       /* -q: the exit status says it all */
        bool no_pager;
        const char *wait_state; /* wait --state=; NULL: up */
        uint64_t wait_timeout;  /* wait --timeout=, in usec; 0: none */
        const char *journal_directory; /* -D: journal files there, not the system's */
        unsigned lines;         /* logs -n N; 0: all */
        bool lines_given;
        bool follow;            /* logs -f */
        unsigned timeline_last; /* timeline --last=N; 0: all */
        const char *timeline_since; /* timeline --since= as given; NULL: all */
        const char *output;     /* timeline -o FILE; NULL: stdout */
        const char *input;      /* timeline --input=FILE: a saved history --json, not the daemon */
        struct vl_client *client;
};

/* "clusterbootctl: MESSAGE" on stderr; returns `status`. */
int fail(int status, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* ---- calls.c: talking to the daemon; each returns an exit status (and said why on stderr) ---- */

/* A new connection of its own (power calls run one each). */
int ctl_connect_new(const struct ctl *ctl, struct vl_client **ret);
/* ctl->client, connected once. */
int ctl_connect_daemon(struct ctl *ctl);
/* A failure below the protocol (timeout, hangup, garbage), as one line. */
int ctl_transport_failure(const struct ctl *ctl, int r);
/* A daemon error as one line; `what` is the command as typed. */
int ctl_reply_failure(const struct vl_reply *reply, const char *what);
/* One call, one reply; on EXIT_OK *reply is filled (vl_reply_done() it). */
int ctl_call(struct ctl *ctl, const char *method, struct json_object *params, struct vl_reply *reply);
/* {"name": name}, or NULL when out of memory. */
struct json_object *ctl_name_params(const char *name);
uint64_t ctl_realtime_now(void);

/* ---- the commands: argv[0] is the command ---- */

int verb_status(struct ctl *ctl, int argc, char **argv);
int verb_list_nodes(struct ctl *ctl, int argc, char **argv);
int verb_watch(struct ctl *ctl, int argc, char **argv);
int verb_reboot(struct ctl *ctl, int argc, char **argv);
int verb_retry(struct ctl *ctl, int argc, char **argv);
int verb_power(struct ctl *ctl, int argc, char **argv);
int verb_reload(struct ctl *ctl, int argc, char **argv);
int verb_wait(struct ctl *ctl, int argc, char **argv);
int verb_is_up(struct ctl *ctl, int argc, char **argv);
int verb_logs(struct ctl *ctl, int argc, char **argv);
int verb_metrics(struct ctl *ctl, int argc, char **argv);
int verb_history(struct ctl *ctl, int argc, char **argv);
int verb_timeline(struct ctl *ctl, int argc, char **argv);
/* watch on a terminal (live-watch.c) */
int verb_watch_live(struct ctl *ctl);
int verb_bridge(struct ctl *ctl, int argc, char **argv);
