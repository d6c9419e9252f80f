/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the control socket's message dispatch, driven through
 * the real server. The server listens on a socket in a temporary
 * directory, with an in-process cluster behind its ops (two nodes with
 * emulated boards that booted, one of them with an emulated power switch,
 * so power calls run to their answer). Each input is written by one client
 * as the raw byte stream (NUL bytes end messages, as in varlink), the loop
 * runs until the replies settle, and everything the server sent is read
 * back: each message must be a JSON object in valid UTF-8 (whatever bytes
 * the input or a board put in a string). The client then hangs up and
 * the loop runs until the server has let it go.
 *
 * Only the server's public interface (control.h) is used, so the target
 * keeps working however the server is organised inside.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "control.h"
#include "inproc-power.h"
#include "log.h"
#include "world.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Loop iterations in a row with nothing dispatched and nothing received: the replies have settled. */
#define QUIET_ROUNDS 3
/* Generous bounds; an input that needs more is a hang, which libFuzzer's -timeout reports. */
#define SETTLE_USEC (2 * USEC_PER_SEC)

static struct world w;
static struct cb_control *control;
static char dir[] = "/tmp/cb-fuzz-control-XXXXXX";
static char path[sizeof(((struct sockaddr_un *) 0)->sun_path)];
static struct emu_power_log power_log;

static size_t fx_n_nodes(void *userdata) {
        return w.n_ports;
}
static struct cb_node *fx_node(void *userdata, size_t i) {
        return i < w.n_ports ? w.nodes[i] : NULL;
}
static struct cb_node *fx_find_node(void *userdata, const char *name) {
        for (size_t i = 0; i < w.n_ports; i++)
                if (strcmp(cb_node_name(w.nodes[i]), name) == 0 || strcmp(cb_node_port(w.nodes[i]), name) == 0)
                        return w.nodes[i];
        return NULL;
}
static const struct cb_config *fx_config(void *userdata) {
        return w.config;
}
static void fx_summary(void *userdata, char *buf, size_t size) {
        snprintf(buf, size, "%zu nodes", w.n_ports);
}
/*
 * Every other reload fails with a report that holds bytes a file may hold
 * (invalid UTF-8, a control character), so ReloadFailed's text is checked as
 * JSON like every other reply.
 */
static int fx_reload(void *userdata, struct cb_config_report *report) {
        static unsigned reloads;
        int r = cb_config_report_init(report, "/etc/clusterboot/clusterboot.conf");

        if (r < 0 || reloads++ % 2 == 0)
                return r;
        (void) cb_config_report_add(report, false, 3, "unknown key \"%s\"", "Bo\xc3\x28t\x1b[2J");
        (void) cb_config_report_add(report, true, 4, "%s", "a warning");
        return -EINVAL;
}
static int fx_metrics(void *userdata, char **ret_text) {
        *ret_text = strdup("# HELP clusterboot_nodes nodes\nclusterboot_nodes 2\n");
        return *ret_text ? 0 : -ENOMEM;
}
static const struct cb_control_ops fx_ops = {
        .n_nodes = fx_n_nodes,
        .node = fx_node,
        .find_node = fx_find_node,
        .config = fx_config,
        .summary = fx_summary,
        .reload = fx_reload,
        .metrics = fx_metrics,
};

static void fail_setup(const char *what, int r) {
        fprintf(stderr, "fuzz-control setup: %s: %s\n", what, strerror(r < 0 ? -r : r));
        abort();
}

static void teardown(void) {
        w.env.callbacks.changed = NULL;
        control = cb_control_free(control);
        world_done(&w);
        (void) rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        struct cb_control_settings s = { 0 };
        struct emu_power_settings ps = { 0 };
        struct emu_board_config plain = { 0 };
        int r;

        cb_log_open(CB_LOG_STDERR);
        /* CB_FUZZ_LOG=1: the daemon's debug log, to follow what an input that failed did to the nodes */
        cb_log_set_max_level(getenv("CB_FUZZ_LOG") ? LOG_DEBUG : LOG_CRIT);
        r = world_init(&w, false);
        if (r < 0)
                fail_setup("world", r);
        w.config->power_settle = 0;
        w.config->power_on_delay = 0;
        if (!mkdtemp(dir))
                fail_setup("mkdtemp", errno);
        snprintf(path, sizeof path, "%s/io.clusterboot", dir);
        for (int i = 0; i < 2; i++)
                if (!world_add(&w, &plain))
                        fail_setup("node", -ENOMEM);
        r = world_add_switch(&w, 0, &ps, &power_log);
        if (r < 0)
                fail_setup("power", r);
        for (size_t i = 0; i < w.n_ports; i++)
                emu_port_plug(&w.ports[i]);
        r = world_run(&w, 20 * USEC_PER_SEC);
        if (r < 0)
                fail_setup("boot", r);

        s.socket_path = path;
        r = cb_control_new(w.event, &s, &fx_ops, NULL, &control);
        if (r < 0)
                fail_setup("control server", r);
        w.env.callbacks.changed = cb_control_node_changed;
        w.env.callbacks.userdata = control;
        atexit(teardown);
        return 0;
}

struct replies {
        char *buf;
        size_t size, allocated;
};

/* Reads what the server sent so far; returns true if anything came, false on EAGAIN or hang-up. */
static bool receive(int fd, struct replies *in) {
        bool got = false;

        for (;;) {
                if (in->allocated - in->size < 65536) {
                        size_t n = in->allocated ? in->allocated * 2 : 131072;
                        char *b = realloc(in->buf, n);
                        if (!b)
                                abort();
                        in->buf = b;
                        in->allocated = n;
                }
                ssize_t n = recv(fd, in->buf + in->size, in->allocated - in->size, MSG_DONTWAIT);
                if (n <= 0)
                        return got;
                in->size += (size_t) n;
                got = true;
        }
}

/* Every complete message the server sent must be one JSON object, in valid UTF-8. */
static void check_replies(const struct replies *in) {
        size_t pos = 0;

        while (pos < in->size) {
                const char *start = in->buf + pos, *nul = memchr(start, '\0', in->size - pos);
                struct json_tokener *tok;
                struct json_object *o;
                size_t len;

                if (!nul)
                        break; /* cut short by the server dropping the client: allowed */
                len = (size_t) (nul - start);
                tok = json_tokener_new();
                if (!tok)
                        abort();
                json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
                o = json_tokener_parse_ex(tok, start, (int) len);
                if (!o || json_tokener_get_error(tok) != json_tokener_success ||
                    (size_t) json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object)) {
                        fprintf(stderr, "the server sent a message that is not a JSON object: %.*s\n", (int) len,
                                start);
                        abort();
                }
                json_object_put(o);
                json_tokener_free(tok);
                pos += len + 1;
        }
}

static int connect_client(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                abort();
        return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct replies in = { 0 };
        size_t sent = 0;
        unsigned quiet = 0;
        usec_t deadline;
        int fd = connect_client();

        /* the server may stop reading (limits, a dropped client): then the rest of the input is moot */
        deadline = now_usec() + SETTLE_USEC;
        while (sent < size && now_usec() < deadline) {
                ssize_t n = send(fd, data + sent, size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0)
                        sent += (size_t) n;
                else if (n < 0 && errno != EAGAIN)
                        break;
                (void) sd_event_run(w.event, 0);
                (void) receive(fd, &in);
        }

        deadline = now_usec() + SETTLE_USEC;
        while (quiet < QUIET_ROUNDS && now_usec() < deadline) {
                int r = sd_event_run(w.event, 0);
                bool got = receive(fd, &in);
                quiet = r == 0 && !got ? quiet + 1 : 0;
        }
        check_replies(&in);
        if (getenv("CB_FUZZ_SHOW")) /* what an input got back, to see what a corpus file reaches */
                for (size_t pos = 0; pos < in.size; pos += strnlen(in.buf + pos, in.size - pos) + 1)
                        fprintf(stderr, "<- %.*s\n", (int) strnlen(in.buf + pos, in.size - pos), in.buf + pos);
        free(in.buf);
        close(fd);

        /*
         * The hang-up reaches the server, which lets the client go (also one
         * with a power call pending). What the input started on the nodes
         * (a power cycle, a boot, a retry waiting for its board) carries on
         * into the next inputs, as it would in the daemon.
         */
        deadline = now_usec() + 10 * SETTLE_USEC;
        while (cb_control_n_clients(control) > 0 && now_usec() < deadline)
                (void) sd_event_run(w.event, 10 * USEC_PER_MSEC);
        if (cb_control_n_clients(control) > 0) {
                fprintf(stderr, "the server kept a client that hung up\n");
                abort();
        }
        return 0;
}
