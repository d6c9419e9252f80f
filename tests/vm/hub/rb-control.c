/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * redir-boards: the guest's commands. The guest's scenarios (tests/vm/hub/
 * guest-run) write one command per line to the virtserialport cb.hub
 * (QEMU connects its chardev to DIR/ctl.sock) and read one reply line:
 * "ok", "ok JSON" or "err WHY". One command at a time.
 *
 *   hub-add ID PORT [ports=N] [power=on|off]   QEMU usb-hub at PORT ("1", "1.4"); power=on: port-power=on
 *   hub-unplug ID                              the hub leaves (its boards with it); replies once it is gone
 *   hub-plug ID                                the hub again, with the boards it had
 *   board-add B PORT [SETTING...]              a fresh board B (1..16) plugged into PORT ("1.3"); see rb-spec.c
 *   board-remove B                             its usb-redir device leaves QEMU
 *   unplug B | plug B                          the board out of / into its port (its QEMU device stays)
 *   keep-power B on|off                        its port's switch cuts its power (off) or not (on)
 *   status                                     every hub and board, JSON
 *   wait B COND [SECONDS]                      replies when COND holds (default limit 120 s), else err
 *   trigger B COND ACTION ARGS...              runs ACTION (hub-unplug ID | unplug B) once COND holds
 *
 * COND: up (running its kernel with every file intact), rom, server, gadget,
 * off-bus, on-bus, unpowered, powered, cuts>=N, attempt>=N, connections>=N,
 * received=FILE>=BYTES (FILE is being written to the board, and has that many bytes).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rb.h"

#define LINE_LEN 2048
#define MAX_WORDS 24
#define MAX_STEPS 48
#define MAX_TRIGGERS 8

enum cond_kind {
        COND_UP,
        COND_ROM,
        COND_SERVER,
        COND_GADGET,
        COND_OFF_BUS,
        COND_ON_BUS,
        COND_UNPOWERED,
        COND_POWERED,
        COND_CUTS,
        COND_ATTEMPT,
        COND_CONNECTIONS,
        COND_RECEIVED,
};

struct cond {
        enum cond_kind kind;
        unsigned long n;
        char file[260];
};

enum step_kind {
        STEP_HUB_ADD,
        STEP_HUB_DEL,
        STEP_CHARDEV_ADD,
        STEP_BOARD_ADD,
        STEP_BOARD_DEL,
};

struct step {
        enum step_kind kind;
        struct rb_hub *hub;
        struct rb_board *board;
};

/* A sequence of QMP steps, answered (to the guest, or nobody for a trigger) when the last is done. */
struct job {
        struct step steps[MAX_STEPS];
        size_t n, at;
        bool reply; /* the guest waits for it */
        bool waiting_gone; /* a device_del returned; DEVICE_DELETED is awaited */
};

struct trigger {
        bool armed;
        struct rb_board *board;
        struct cond cond;
        char action[32];
        char arg[32];
};

static struct {
        int listen_fd, fd;
        sd_event_source *listen_source, *io_source;
        char in[LINE_LEN];
        size_t in_len;
        bool busy; /* a command is being carried out: its reply is owed */
        struct job *job; /* the guest's job in flight, if any */
        struct job *jobs[4]; /* triggers' jobs */
        /* the guest's wait */
        bool waiting;
        struct rb_board *wait_board;
        struct cond wait_cond;
        sd_event_source *wait_timer;
        struct trigger triggers[MAX_TRIGGERS];
} c = { .listen_fd = -1, .fd = -1 };

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...) {
        char buf[65536];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n > sizeof buf - 2)
                n = (int) sizeof buf - 2;
        buf[n++] = '\n';
        c.busy = false;
        if (c.fd < 0)
                return;
        rb_vlog(NULL, "guest <- %.*s", n - 1, buf);
        for (size_t off = 0; off < (size_t) n;) {
                ssize_t w = write(c.fd, buf + off, (size_t) n - off);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                fd_set ws;
                                FD_ZERO(&ws);
                                FD_SET(c.fd, &ws);
                                (void) select(c.fd + 1, NULL, &ws, NULL, NULL);
                                continue;
                        }
                        rb_log(NULL, "control: write: %s", strerror(errno));
                        return;
                }
                off += (size_t) w;
        }
}

/* ------------------------------------------------------------------ conditions */

static int parse_cond(const char *s, struct cond *cd) {
        static const struct {
                const char *name;
                enum cond_kind kind;
        } plain[] = {
                { "up", COND_UP },         { "rom", COND_ROM },          { "server", COND_SERVER },
                { "gadget", COND_GADGET }, { "off-bus", COND_OFF_BUS },  { "on-bus", COND_ON_BUS },
                { "unpowered", COND_UNPOWERED }, { "powered", COND_POWERED },
        };
        static const struct {
                const char *prefix;
                enum cond_kind kind;
        } counted[] = {
                { "cuts>=", COND_CUTS },
                { "attempt>=", COND_ATTEMPT },
                { "connections>=", COND_CONNECTIONS },
        };
        char *end;

        memset(cd, 0, sizeof *cd);
        for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
                if (strcmp(s, plain[i].name) == 0) {
                        cd->kind = plain[i].kind;
                        return 0;
                }
        for (size_t i = 0; i < sizeof counted / sizeof counted[0]; i++) {
                size_t len = strlen(counted[i].prefix);
                if (strncmp(s, counted[i].prefix, len) == 0) {
                        cd->kind = counted[i].kind;
                        cd->n = strtoul(s + len, &end, 10);
                        return *end || end == s + len ? -EINVAL : 0;
                }
        }
        if (strncmp(s, "received=", 9) == 0) {
                const char *ge = strstr(s + 9, ">=");
                if (!ge || ge == s + 9 || (size_t) (ge - (s + 9)) >= sizeof cd->file)
                        return -EINVAL;
                cd->kind = COND_RECEIVED;
                memcpy(cd->file, s + 9, (size_t) (ge - (s + 9)));
                cd->n = strtoul(ge + 2, &end, 10);
                return *end || end == ge + 2 ? -EINVAL : 0;
        }
        return -EINVAL;
}

static bool cond_holds(const struct rb_board *b, const struct cond *cd) {
        char why[300];

        switch (cd->kind) {
        case COND_UP:
                return b->on_bus && rb_board_verify(b, why, sizeof why);
        case COND_ROM:
                return b->on_bus && b->emu.stage == EMU_STAGE_ROM;
        case COND_SERVER:
                return b->on_bus && b->emu.stage == EMU_STAGE_SERVER;
        case COND_GADGET:
                return b->on_bus && b->emu.stage == EMU_STAGE_GADGET;
        case COND_OFF_BUS:
                return !b->on_bus;
        case COND_ON_BUS:
                return b->on_bus;
        case COND_UNPOWERED:
                return !b->powered;
        case COND_POWERED:
                return b->powered;
        case COND_CUTS:
                return b->power_cuts >= cd->n;
        case COND_ATTEMPT:
                return b->emu.attempt >= cd->n;
        case COND_CONNECTIONS:
                return b->connections >= cd->n;
        case COND_RECEIVED:
                /* the file being written now, in this attempt (the record of earlier attempts does not count) */
                return b->on_bus && b->emu.stage == EMU_STAGE_SERVER && b->emu.write_pending &&
                       strcmp(b->emu.last_name, cd->file) == 0 && b->emu.write_got >= cd->n;
        }
        return false;
}

/* ------------------------------------------------------------------ jobs: QMP steps in order */

static void job_next(struct job *j);

static void job_end(struct job *j, const char *error) {
        if (j->reply) {
                c.job = NULL;
                if (error)
                        reply("err %s", error);
                else
                        reply("ok");
        } else if (error) {
                rb_log(NULL, "triggered action failed: %s", error);
        }
        for (size_t i = 0; i < sizeof c.jobs / sizeof c.jobs[0]; i++)
                if (c.jobs[i] == j)
                        c.jobs[i] = NULL;
        free(j);
        rb_changed();
}

static void on_step_done(void *userdata, const char *error, struct json_object *ret) {
        struct job *j = userdata;
        struct step *s = &j->steps[j->at];
        char why[512];

        if (error) {
                snprintf(why, sizeof why, "step %zu (%s %s): %s", j->at + 1,
                         s->kind == STEP_HUB_ADD || s->kind == STEP_HUB_DEL ? "hub" : "board",
                         s->hub ? s->hub->id : s->board ? s->board->qemu_id : "?", error);
                if (s->kind == STEP_BOARD_ADD && s->board)
                        s->board->in_qemu = false;
                job_end(j, why);
                return;
        }
        switch (s->kind) {
        case STEP_HUB_ADD:
                s->hub->present = true;
                s->hub->deleting = false;
                /* QEMU's hub powers every port at its reset; the kernel then says what it wants */
                for (unsigned p = 1; p <= RB_HUB_MAX_PORTS; p++)
                        s->hub->port_powered[p] = true;
                rb_log(NULL, "hub %s plugged into port %s", s->hub->id, s->hub->port);
                break;
        case STEP_HUB_DEL:
        case STEP_BOARD_DEL:
                /* QEMU reports DEVICE_DELETED (maybe already has): the step ends when it is gone */
                if (s->kind == STEP_HUB_DEL ? s->hub->present : s->board->in_qemu) {
                        j->waiting_gone = true;
                        return;
                }
                break;
        case STEP_CHARDEV_ADD:
                break;
        case STEP_BOARD_ADD:
                s->board->in_qemu = true;
                rb_log(s->board, "plugged in (its usb-redir device is in QEMU)");
                break;
        }
        rb_power_update();
        j->at++;
        job_next(j);
}

static struct json_object *cmd_object(const char *execute, struct json_object *arguments) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "execute", json_object_new_string(execute));
        json_object_object_add(o, "arguments", arguments);
        return o;
}

static void job_next(struct job *j) {
        struct step *s;
        struct json_object *a, *backend, *data, *addr, *addr_data;
        char id[24];
        int r = 0;

        if (j->at >= j->n) {
                job_end(j, NULL);
                return;
        }
        s = &j->steps[j->at];
        switch (s->kind) {
        case STEP_HUB_ADD:
                a = json_object_new_object();
                json_object_object_add(a, "driver", json_object_new_string("usb-hub"));
                json_object_object_add(a, "id", json_object_new_string(s->hub->id));
                json_object_object_add(a, "bus", json_object_new_string("xhci.0"));
                json_object_object_add(a, "port", json_object_new_string(s->hub->port));
                json_object_object_add(a, "ports", json_object_new_int((int) s->hub->n_ports));
                json_object_object_add(a, "port-power", json_object_new_boolean(s->hub->port_power_switching));
                r = rb_qmp(cmd_object("device_add", a), on_step_done, j);
                break;
        case STEP_HUB_DEL:
        case STEP_BOARD_DEL:
                a = json_object_new_object();
                json_object_object_add(a, "id", json_object_new_string(s->kind == STEP_HUB_DEL ? s->hub->id
                                                                                            : s->board->qemu_id));
                if (s->kind == STEP_HUB_DEL)
                        s->hub->deleting = true;
                rb_power_update();
                r = rb_qmp(cmd_object("device_del", a), on_step_done, j);
                break;
        case STEP_CHARDEV_ADD:
                snprintf(id, sizeof id, "rbc%u", s->board->index);
                addr_data = json_object_new_object();
                json_object_object_add(addr_data, "path", json_object_new_string(s->board->socket_path));
                addr = json_object_new_object();
                json_object_object_add(addr, "type", json_object_new_string("unix"));
                json_object_object_add(addr, "data", addr_data);
                data = json_object_new_object();
                json_object_object_add(data, "addr", addr);
                json_object_object_add(data, "server", json_object_new_boolean(false));
                backend = json_object_new_object();
                json_object_object_add(backend, "type", json_object_new_string("socket"));
                json_object_object_add(backend, "data", data);
                a = json_object_new_object();
                json_object_object_add(a, "id", json_object_new_string(id));
                json_object_object_add(a, "backend", backend);
                r = rb_qmp(cmd_object("chardev-add", a), on_step_done, j);
                break;
        case STEP_BOARD_ADD:
                snprintf(id, sizeof id, "rbc%u", s->board->index);
                s->board->in_qemu = true; /* its connection may come before the reply */
                r = rb_qmp_device_add("usb-redir", s->board->qemu_id, s->board->port, "chardev", id, on_step_done, j);
                break;
        }
        if (r < 0)
                job_end(j, "QMP is busy");
}

static void jobs_check_gone(void) {
        struct job *all[1 + sizeof c.jobs / sizeof c.jobs[0]];
        size_t n = 0;

        all[n++] = c.job;
        for (size_t i = 0; i < sizeof c.jobs / sizeof c.jobs[0]; i++)
                all[n++] = c.jobs[i];
        for (size_t i = 0; i < n; i++) {
                struct job *j = all[i];
                if (!j || !j->waiting_gone)
                        continue;
                struct step *s = &j->steps[j->at];
                if (s->kind == STEP_HUB_DEL ? s->hub->present : s->board->in_qemu)
                        continue;
                j->waiting_gone = false;
                j->at++;
                job_next(j);
        }
}

static struct job *job_new(bool guest) {
        struct job *j = calloc(1, sizeof *j);

        if (!j)
                return NULL;
        j->reply = guest;
        if (guest) {
                c.job = j;
                return j;
        }
        for (size_t i = 0; i < sizeof c.jobs / sizeof c.jobs[0]; i++)
                if (!c.jobs[i]) {
                        c.jobs[i] = j;
                        return j;
                }
        free(j);
        return NULL;
}

static void job_add(struct job *j, enum step_kind kind, struct rb_hub *h, struct rb_board *b) {
        if (j->n < MAX_STEPS)
                j->steps[j->n++] = (struct step){ kind, h, b };
}

/* Is board b behind hub h (directly or through hubs below it)? */
static bool behind(const struct rb_board *b, const struct rb_hub *h) {
        size_t len = strlen(h->port);
        return strncmp(b->port, h->port, len) == 0 && b->port[len] == '.';
}

static int start_hub_unplug(struct rb_hub *h, bool guest) {
        struct job *j = job_new(guest);

        if (!j)
                return -ENOMEM;
        job_add(j, STEP_HUB_DEL, h, NULL);
        rb_log(NULL, "unplugging hub %s (port %s) with its boards", h->id, h->port);
        job_next(j);
        return 0;
}

/* ------------------------------------------------------------------ commands */

static struct rb_board *board_arg(const char *s) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        return *end ? NULL : rb_board(v);
}

static void run_triggers(void) {
        for (size_t i = 0; i < MAX_TRIGGERS; i++) {
                struct trigger *t = &c.triggers[i];
                if (!t->armed || !cond_holds(t->board, &t->cond))
                        continue;
                t->armed = false;
                rb_log(t->board, "trigger: %s %s", t->action, t->arg);
                if (strcmp(t->action, "hub-unplug") == 0) {
                        struct rb_hub *h = rb_hub_by_id(t->arg);
                        if (h && h->present)
                                (void) start_hub_unplug(h, false);
                } else if (strcmp(t->action, "unplug") == 0) {
                        struct rb_board *b = board_arg(t->arg);
                        if (b) {
                                b->plugged = false;
                                rb_power_update();
                        }
                }
        }
}

static void wait_done(const char *error) {
        struct json_object *o;

        c.waiting = false;
        c.wait_timer = sd_event_source_disable_unref(c.wait_timer);
        if (!error) {
                reply("ok");
                return;
        }
        o = rb_board_json(c.wait_board);
        reply("err %s: board %u: %s", error, c.wait_board->index, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
}

void rb_control_check_waits(void) {
        run_triggers();
        jobs_check_gone();
        if (c.waiting && cond_holds(c.wait_board, &c.wait_cond))
                wait_done(NULL);
}

static int on_wait_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        wait_done("timeout");
        return 0;
}

static void cmd_hub_add(char **w, size_t n) {
        struct rb_hub *h = NULL;
        struct job *j;

        if (n < 3) {
                reply("err usage: hub-add ID PORT [ports=N] [power=on|off]");
                return;
        }
        h = rb_hub_by_id(w[1]);
        if (h && h->present) {
                reply("err hub %s is plugged in already", w[1]);
                return;
        }
        for (size_t i = 0; !h && i < RB_MAX_HUBS; i++)
                if (!rb_hubs[i].defined)
                        h = &rb_hubs[i];
        if (!h || strlen(w[1]) >= sizeof h->id || strlen(w[2]) >= sizeof h->port) {
                reply("err no room for hub %s", w[1]);
                return;
        }
        memset(h, 0, sizeof *h);
        h->defined = true;
        snprintf(h->id, sizeof h->id, "%s", w[1]);
        snprintf(h->port, sizeof h->port, "%s", w[2]);
        h->n_ports = 4;
        h->port_power_switching = true;
        for (size_t i = 3; i < n; i++) {
                if (strncmp(w[i], "ports=", 6) == 0) {
                        h->n_ports = (unsigned) strtoul(w[i] + 6, NULL, 10);
                } else if (strcmp(w[i], "power=on") == 0) {
                        h->port_power_switching = true;
                } else if (strcmp(w[i], "power=off") == 0) {
                        h->port_power_switching = false;
                } else {
                        h->defined = false;
                        reply("err unknown hub setting '%s'", w[i]);
                        return;
                }
        }
        if (h->n_ports < 1 || h->n_ports > RB_HUB_MAX_PORTS) {
                h->defined = false;
                reply("err ports=1..%d", RB_HUB_MAX_PORTS);
                return;
        }
        j = job_new(true);
        if (!j) {
                reply("err out of memory");
                return;
        }
        job_add(j, STEP_HUB_ADD, h, NULL);
        job_next(j);
}

static void cmd_hub_plug(struct rb_hub *h) {
        struct job *j = job_new(true);

        if (!j) {
                reply("err out of memory");
                return;
        }
        job_add(j, STEP_HUB_ADD, h, NULL);
        /* a hub plugged back carries its boards: each is a new usb-redir device, powered by the hub */
        for (unsigned i = 1; i <= RB_MAX_BOARDS; i++) {
                struct rb_board *b = &rb_boards[i];
                if (b->defined && b->plugged && !b->in_qemu && behind(b, h)) {
                        job_add(j, STEP_CHARDEV_ADD, NULL, b);
                        job_add(j, STEP_BOARD_ADD, NULL, b);
                }
        }
        job_next(j);
}

static void cmd_board_add(char **w, size_t n) {
        struct rb_board *b;
        char error[300], parent[RB_PORT_LEN];
        const char *dot;
        struct rb_hub *h;
        struct job *j;
        int r;

        if (n < 3 || !(b = board_arg(w[1]))) {
                reply("err usage: board-add B(1..%d) PORT [SETTING...]", RB_MAX_BOARDS);
                return;
        }
        if (b->in_qemu) {
                reply("err board %u is in QEMU already", b->index);
                return;
        }
        dot = strrchr(w[2], '.');
        if (!dot || strlen(w[2]) >= sizeof b->port || (size_t) (dot - w[2]) >= sizeof parent) {
                reply("err %s is not a port of a hub", w[2]);
                return;
        }
        memcpy(parent, w[2], (size_t) (dot - w[2]));
        parent[dot - w[2]] = '\0';
        h = rb_hub_by_port(parent);
        if (!h || !h->present) {
                reply("err no hub is plugged into port %s", parent);
                return;
        }
        b->defined = true;
        snprintf(b->port, sizeof b->port, "%s", w[2]);
        snprintf(b->qemu_id, sizeof b->qemu_id, "board%u", b->index);
        memset(&b->config, 0, sizeof b->config);
        b->keeps_power = false;
        for (size_t i = 3; i < n; i++)
                if (rb_parse_board_settings(b, w[i], error, sizeof error) < 0) {
                        reply("err %s", error);
                        return;
                }
        emu_board_init(&b->emu, &b->config);
        b->plugged = true;
        b->powered = false;
        r = rb_board_listen(b);
        if (r < 0) {
                reply("err cannot listen for board %u: %s", b->index, strerror(-r));
                return;
        }
        j = job_new(true);
        if (!j) {
                reply("err out of memory");
                return;
        }
        job_add(j, STEP_CHARDEV_ADD, NULL, b);
        job_add(j, STEP_BOARD_ADD, NULL, b);
        job_next(j);
}

static void cmd_wait(struct rb_board *b, const char *cond, const char *seconds) {
        unsigned long limit = seconds ? strtoul(seconds, NULL, 10) : 120;

        if (parse_cond(cond, &c.wait_cond) < 0) {
                reply("err unknown condition '%s'", cond);
                return;
        }
        c.wait_board = b;
        c.waiting = true;
        if (cond_holds(b, &c.wait_cond)) {
                wait_done(NULL);
                return;
        }
        (void) sd_event_add_time_relative(rb_event, &c.wait_timer, CLOCK_MONOTONIC, limit * 1000000u, 10000,
                                          on_wait_timeout, NULL);
}

static void cmd_trigger(struct rb_board *b, char **w, size_t n) {
        struct trigger *t = NULL;

        for (size_t i = 0; !t && i < MAX_TRIGGERS; i++)
                if (!c.triggers[i].armed)
                        t = &c.triggers[i];
        if (!t || n != 5 || (strcmp(w[3], "hub-unplug") != 0 && strcmp(w[3], "unplug") != 0) ||
            strlen(w[4]) >= sizeof t->arg) {
                reply("err usage: trigger B COND hub-unplug ID | unplug B");
                return;
        }
        if (parse_cond(w[2], &t->cond) < 0) {
                reply("err unknown condition '%s'", w[2]);
                return;
        }
        t->board = b;
        snprintf(t->action, sizeof t->action, "%s", w[3]);
        snprintf(t->arg, sizeof t->arg, "%s", w[4]);
        t->armed = true;
        reply("ok");
        rb_changed();
}

static void command(char *line) {
        char *w[MAX_WORDS], *save = NULL, *tok;
        size_t n = 0;
        struct rb_board *b = NULL;
        struct rb_hub *h = NULL;

        rb_vlog(NULL, "guest -> %s", line);
        for (tok = strtok_r(line, " \t", &save); tok && n < MAX_WORDS; tok = strtok_r(NULL, " \t", &save))
                w[n++] = tok;
        if (n == 0)
                return;
        if (c.busy) {
                reply("err busy: one command at a time");
                return;
        }
        c.busy = true;
        if (n >= 2 && strncmp(w[0], "hub-", 4) == 0 && strcmp(w[0], "hub-add") != 0) {
                h = rb_hub_by_id(w[1]);
                if (!h) {
                        reply("err no hub %s", w[1]);
                        return;
                }
        }
        if (n >= 2 && strcmp(w[0], "board-add") != 0 && strcmp(w[0], "status") != 0 && strncmp(w[0], "hub-", 4) != 0) {
                b = board_arg(w[1]);
                if (!b || !b->defined) {
                        reply("err no board %s", w[1]);
                        return;
                }
        }

        if (strcmp(w[0], "status") == 0) {
                struct json_object *o = rb_status_json();
                reply("ok %s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
        } else if (strcmp(w[0], "hub-add") == 0) {
                cmd_hub_add(w, n);
        } else if (strcmp(w[0], "hub-unplug") == 0 && h) {
                if (!h->present)
                        reply("err hub %s is not plugged in", h->id);
                else if (start_hub_unplug(h, true) < 0)
                        reply("err out of memory");
        } else if (strcmp(w[0], "hub-plug") == 0 && h) {
                if (h->present)
                        reply("err hub %s is plugged in already", h->id);
                else
                        cmd_hub_plug(h);
        } else if (strcmp(w[0], "board-add") == 0) {
                cmd_board_add(w, n);
        } else if (strcmp(w[0], "board-remove") == 0 && b) {
                struct job *j;
                if (!b->in_qemu) {
                        reply("err board %u is not in QEMU", b->index);
                        return;
                }
                if (!(j = job_new(true))) {
                        reply("err out of memory");
                        return;
                }
                b->plugged = false;
                job_add(j, STEP_BOARD_DEL, NULL, b);
                job_next(j);
        } else if ((strcmp(w[0], "unplug") == 0 || strcmp(w[0], "plug") == 0) && b && n == 2) {
                b->plugged = strcmp(w[0], "plug") == 0;
                rb_log(b, "%s", b->plugged ? "plugged into its port" : "pulled out of its port");
                rb_power_update();
                reply("ok");
        } else if (strcmp(w[0], "keep-power") == 0 && b && n == 3) {
                b->keeps_power = strcmp(w[2], "on") == 0;
                reply("ok");
        } else if (strcmp(w[0], "wait") == 0 && b && (n == 3 || n == 4)) {
                cmd_wait(b, w[2], n == 4 ? w[3] : NULL);
        } else if (strcmp(w[0], "trigger") == 0 && b) {
                cmd_trigger(b, w, n);
        } else {
                reply("err unknown command or arguments: %s", w[0]);
        }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        for (;;) {
                ssize_t n = read(fd, c.in + c.in_len, sizeof c.in - 1 - c.in_len);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        n = 0;
                }
                if (n == 0) {
                        rb_log(NULL, "the control channel closed");
                        c.io_source = sd_event_source_disable_unref(c.io_source);
                        close(c.fd);
                        c.fd = -1;
                        return 0;
                }
                c.in_len += (size_t) n;
                char *start = c.in, *nl;
                while ((nl = memchr(start, '\n', c.in_len - (size_t) (start - c.in)))) {
                        *nl = '\0';
                        if (nl > start && nl[-1] == '\r')
                                nl[-1] = '\0';
                        command(start);
                        start = nl + 1;
                }
                c.in_len -= (size_t) (start - c.in);
                memmove(c.in, start, c.in_len);
                if (c.in_len == sizeof c.in - 1)
                        c.in_len = 0;
        }
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (cfd < 0)
                return 0;
        if (c.fd >= 0) {
                close(cfd);
                return 0;
        }
        c.fd = cfd;
        c.in_len = 0;
        if (sd_event_add_io(rb_event, &c.io_source, cfd, EPOLLIN, on_io, NULL) < 0) {
                close(cfd);
                c.fd = -1;
        }
        return 0;
}

int rb_control_start(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char path[512];

        snprintf(path, sizeof path, "%s/ctl.sock", rb_opt.dir);
        if (strlen(path) >= sizeof sa.sun_path)
                return -1;
        strcpy(sa.sun_path, path);
        (void) unlink(path);
        c.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c.listen_fd < 0 || bind(c.listen_fd, (struct sockaddr *) &sa, sizeof sa) < 0 ||
            listen(c.listen_fd, 2) < 0 ||
            sd_event_add_io(rb_event, &c.listen_source, c.listen_fd, EPOLLIN, on_accept, NULL) < 0) {
                rb_log(NULL, "cannot listen on %s: %s", path, strerror(errno));
                return -1;
        }
        return 0;
}
