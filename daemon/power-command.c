/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The `command` power backend: cb_power_ops over a child process
 * (child-process.h) that runs the node's PowerOnCommand= or
 * PowerOffCommand=, parsed and expanded by command-line.h, with the
 * CLUSTERBOOT_* environment.
 */
#include "power-command.h"

#include "child-process.h"
#include "log.h"

static const char *const power_word[] = { [false] = "off", [true] = "on" };
static const char *const command_label[] = { [false] = "power-off command", [true] = "power-on command" };

struct power_command {
        sd_event *event;
        char *node_name;
        char *port;
        char **argv[2]; /* indexed by `on`; specifiers expanded */
        char **env[2];  /* indexed by `on`: what env_is_passed() keeps of the daemon's, and CLUSTERBOOT_* */
        usec_t timeout;
        usec_t kill_grace;
        struct cb_child *child; /* the call in flight, or NULL */
        cb_power_done_t done;   /* its caller's */
        void *userdata;
};

/*
 * What a command is given of the daemon's environment: where programs are,
 * the language, and who it runs as (ssh to a power switch wants HOME). Not
 * the service manager's channels (NOTIFY_SOCKET would let a command tell
 * systemd the daemon is ready, stopping or alive; LISTEN_FDS, WATCHDOG_*),
 * nor anything else a unit or drop-in put there.
 */
static bool env_is_passed(const char *entry) {
        static const char *const names[] = { "PATH=", "LANG=", "LANGUAGE=", "TZ=", "HOME=", "USER=", "LOGNAME=" };

        if (strncmp(entry, "LC_", 3) == 0 && strchr(entry, '='))
                return true;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
                if (strncmp(entry, names[i], strlen(names[i])) == 0)
                        return true;
        return false;
}

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Leaves *slot NULL on failure, so that the vector stays freeable. */
static int env_set(char **slot, const char *name, const char *value) {
        if (asprintf(slot, "%s=%s", name, value) < 0) {
                *slot = NULL;
                return -ENOMEM;
        }
        return 0;
}

static int build_environment(const char *node_name, const char *port, bool on, char ***ret) {
        _cleanup_(cb_strv_freep) char **env = NULL;
        size_t n = 0, k = 0;

        bool have_path = false;

        for (char **e = environ; e && *e; e++)
                n++;
        env = calloc(n + 5, sizeof *env);
        if (!env)
                return -ENOMEM;
        for (char **e = environ; e && *e; e++) {
                if (!env_is_passed(*e))
                        continue;
                have_path = have_path || strncmp(*e, "PATH=", 5) == 0;
                env[k] = strdup(*e);
                if (!env[k])
                        return -ENOMEM;
                k++;
        }
        /* a bare command name is looked up in PATH, which a daemon started by hand may lack */
        if (!have_path && env_set(&env[k++], "PATH", DEFAULT_PATH) < 0)
                return -ENOMEM;
        if (env_set(&env[k++], "CLUSTERBOOT_NODE", node_name) < 0 || env_set(&env[k++], "CLUSTERBOOT_PORT", port) < 0 ||
            env_set(&env[k++], "CLUSTERBOOT_POWER", power_word[on]) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(env);
        return 0;
}

/* The child has ended, and is freed: report. The backend may be gone after `done`. */
static void on_child_done(void *userdata, int result, const char *message) {
        struct power_command *pc = userdata;
        cb_power_done_t done = pc->done;
        void *done_userdata = pc->userdata;

        pc->child = NULL;
        pc->done = NULL;
        pc->userdata = NULL;
        if (result < 0 && !message)
                message = "power command failed (out of memory while describing why)";
        done(done_userdata, result, message);
}

static int command_set(void *impl, bool on, cb_power_done_t done, void *userdata) {
        struct power_command *pc = impl;
        /* Its strings are the backend's, which outlives the child. */
        const struct cb_log_node node = { .name = pc->node_name, .port = pc->port };
        int r;

        if (!done)
                return -EINVAL;
        if (pc->child)
                return -EBUSY;

        r = cb_child_start(pc->event,
                           &(const struct cb_child_settings){
                                   .argv = pc->argv[on],
                                   .env = pc->env[on],
                                   .log_node = &node,
                                   .label = command_label[on],
                                   .timeout = pc->timeout,
                                   .kill_grace = pc->kill_grace,
                           },
                           on_child_done, pc, &pc->child);
        if (r < 0)
                return r;
        pc->done = done;
        pc->userdata = userdata;
        return 0;
}

static void command_cancel(void *impl) {
        struct power_command *pc = impl;

        /* `done` follows once it is reaped (or from the pending start failure). */
        cb_child_cancel(pc->child);
}

static void command_free(void *impl) {
        struct power_command *pc = impl;

        if (!pc)
                return;
        pc->child = cb_child_free(pc->child);
        for (int on = false; on <= true; on++) {
                cb_strv_free(pc->argv[on]);
                cb_strv_free(pc->env[on]);
        }
        free(pc->node_name);
        free(pc->port);
        sd_event_unref(pc->event);
        free(pc);
}

static const char *command_describe(void *impl) {
        return "command";
}

static const struct cb_power_ops command_ops = {
        .set = command_set,
        .cancel = command_cancel,
        .free = command_free,
        .describe = command_describe,
};

static void command_freep(struct power_command **pc) {
        command_free(*pc);
}

int cb_power_command_new(sd_event *event, const struct cb_power_command_settings *s, struct cb_power **ret) {
        _cleanup_(command_freep) struct power_command *pc = NULL;
        struct cb_power *p;
        int r;

        if (!event || !s || !ret || !s->node_name || !s->port || !s->on_command || !s->off_command)
                return -EINVAL;

        pc = calloc(1, sizeof *pc);
        if (!pc)
                return -ENOMEM;
        pc->event = sd_event_ref(event);
        pc->timeout = s->timeout > 0 ? s->timeout : CB_POWER_COMMAND_TIMEOUT_DEFAULT;
        pc->kill_grace = s->kill_grace > 0 ? s->kill_grace : CB_POWER_COMMAND_KILL_GRACE_DEFAULT;
        if (strdup_to(&pc->node_name, s->node_name) < 0 || strdup_to(&pc->port, s->port) < 0)
                return -ENOMEM;
        /* Both once here: the words and the environment are the same on every run. */
        for (int on = false; on <= true; on++) {
                r = cb_command_prepare(on ? s->on_command : s->off_command, s->node_name, s->port, &pc->argv[on]);
                if (r < 0)
                        return r;
                r = build_environment(s->node_name, s->port, on, &pc->env[on]);
                if (r < 0)
                        return r;
        }

        p = malloc(sizeof *p);
        if (!p)
                return -ENOMEM;
        *p = (struct cb_power){ .ops = &command_ops, .impl = TAKE_PTR(pc) };
        *ret = p;
        return 0;
}
