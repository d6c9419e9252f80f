/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control server on a real UNIX socket, in-process: real nodes booting
 * emulated boards on the same sd-event loop, clients as plain sockets that
 * the test reads while it steps the loop. Covers the methods, Watch during
 * a boot with a retry, permission (a child process turned into nobody),
 * and every limit: garbage, oversize, half messages, too many clients, a
 * client that stops reading.
 */
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "check.h"
#include "clusterboot/varlink.h"
#include "control.h"
#include "inproc-power.h"
#include "json-util.h"
#include "log.h"
#include "text.h"
#include "world.h"

#define RUN_TIMEOUT (20 * USEC_PER_SEC)
#define REPLY_TIMEOUT (5 * USEC_PER_SEC)

/* ---- the daemon side: a world of nodes behind the control ops ---- */

struct fixture {
        struct world w;
        struct cb_control *control;
        char dir[64];
        char path[128];
        int reload_result;
        unsigned reloads;
};

static size_t fx_n_nodes(void *userdata) {
        return ((struct fixture *) userdata)->w.n_ports;
}
static struct cb_node *fx_node(void *userdata, size_t i) {
        struct fixture *f = userdata;
        return i < f->w.n_ports ? f->w.nodes[i] : NULL;
}
static struct cb_node *fx_find_node(void *userdata, const char *name) {
        struct fixture *f = userdata;
        for (size_t i = 0; i < f->w.n_ports; i++)
                if (strcmp(cb_node_name(f->w.nodes[i]), name) == 0)
                        return f->w.nodes[i];
        for (size_t i = 0; i < f->w.n_ports; i++)
                if (strcmp(cb_node_port(f->w.nodes[i]), name) == 0)
                        return f->w.nodes[i];
        return NULL;
}
static const struct cb_config *fx_config(void *userdata) {
        return ((struct fixture *) userdata)->w.config;
}
static void fx_summary(void *userdata, char *buf, size_t size) {
        snprintf(buf, size, "%zu nodes in the test", ((struct fixture *) userdata)->w.n_ports);
}
static int fx_reload(void *userdata, struct cb_config_report *report) {
        struct fixture *f = userdata;
        f->reloads++;
        return f->reload_result;
}
static const struct cb_control_ops fx_ops = {
        .n_nodes = fx_n_nodes,
        .node = fx_node,
        .find_node = fx_find_node,
        .config = fx_config,
        .summary = fx_summary,
        .reload = fx_reload,
};

static void fx_init(struct fixture *f, size_t n_boards, const struct emu_board_config *boards,
                    const struct cb_control_settings *settings) {
        struct cb_control_settings s = settings ? *settings : (struct cb_control_settings){ 0 };
        struct emu_board_config plain = { 0 };

        memset(f, 0, sizeof *f);
        CHECK(world_init(&f->w, false) == 0);
        snprintf(f->dir, sizeof f->dir, "/tmp/cb-control-XXXXXX");
        CHECK(mkdtemp(f->dir) != NULL);
        /* a child that became nobody must reach the socket */
        CHECK(chmod(f->dir, 0755) == 0);
        /* in a directory that does not exist yet: the server creates it */
        snprintf(f->path, sizeof f->path, "%s/run/io.clusterboot", f->dir);
        s.socket_path = f->path;
        for (size_t i = 0; i < n_boards; i++)
                world_add(&f->w, boards ? &boards[i] : &plain);
        CHECK(cb_control_new(f->w.event, &s, &fx_ops, f, &f->control) == 0);
        /* as the daemon does with cb_manager_set_listener() */
        f->w.env.callbacks.changed = cb_control_node_changed;
        f->w.env.callbacks.userdata = f->control;
}

static void fx_done(struct fixture *f) {
        char run[160];

        f->w.env.callbacks.changed = NULL;
        cb_control_free(f->control);
        /* the socket is removed with the server */
        CHECK(access(f->path, F_OK) < 0 && errno == ENOENT);
        snprintf(run, sizeof run, "%s/run", f->dir);
        (void) rmdir(run);
        (void) rmdir(f->dir);
        world_done(&f->w);
}

/*
 * Until the daemon has noticed every closed client: as long as it takes (a
 * fixed time was luck under valgrind on a loaded machine), bounded only
 * against a hang.
 */
static void pump_until_no_clients(struct fixture *f) {
        usec_t end = now_usec() + 30 * USEC_PER_SEC;
        while (cb_control_n_clients(f->control) > 0 && now_usec() < end)
                (void) sd_event_run(f->w.event, 10 * USEC_PER_MSEC);
}

static void pump(struct fixture *f, usec_t for_usec) {
        usec_t end = now_usec() + for_usec;
        while (now_usec() < end)
                (void) sd_event_run(f->w.event, 2 * USEC_PER_MSEC);
}

/* ---- the client side: plain sockets, read while the loop is stepped ---- */

struct tclient {
        int fd;
        struct cb_msgbuf in;
};

static int connect_to(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int r = -errno;
                if (fd >= 0)
                        close(fd);
                return r;
        }
        return fd;
}

static void tc_open(struct fixture *f, struct tclient *c) {
        c->fd = connect_to(f->path);
        CHECK(c->fd >= 0);
        cb_msgbuf_init(&c->in, CB_VL_REPLY_MAX);
}

static void tc_close(struct tclient *c) {
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        cb_msgbuf_done(&c->in);
}

static void tc_send_raw(struct tclient *c, const char *data, size_t size) {
        CHECK(send(c->fd, data, size, MSG_NOSIGNAL) == (ssize_t) size);
}

static void tc_send(struct tclient *c, const char *json) {
        tc_send_raw(c, json, strlen(json) + 1);
}

/*
 * The next message from the server, parsed; NULL on timeout. *ret_closed is
 * set when the server closed the connection instead.
 */
static struct json_object *tc_receive_within(struct fixture *f, struct tclient *c, usec_t timeout, bool *ret_closed) {
        usec_t deadline = now_usec() + timeout;
        char buf[65536];

        if (ret_closed)
                *ret_closed = false;
        while (now_usec() < deadline) {
                char *text;
                size_t size;
                struct json_object *o = NULL;
                const char *reason;

                if (cb_msgbuf_next(&c->in, &text, &size) > 0) {
                        /* checked here, not only by the parser: every byte the server sends must be valid UTF-8 */
                        CHECK_MSG(cb_text_valid_utf8(text, size), "reply is not valid UTF-8: %s", text);
                        CHECK_MSG(cb_json_parse_object(text, size, &o, &reason) == 0, "bad reply: %s", text);
                        return o;
                }
                ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n > 0) {
                        CHECK(cb_msgbuf_feed(&c->in, buf, (size_t) n) == 0);
                        continue;
                }
                if (n == 0 || (n < 0 && errno != EAGAIN)) {
                        if (ret_closed)
                                *ret_closed = true;
                        return NULL;
                }
                (void) sd_event_run(f->w.event, 2 * USEC_PER_MSEC);
        }
        return NULL;
}

static struct json_object *tc_receive(struct fixture *f, struct tclient *c, bool *ret_closed) {
        return tc_receive_within(f, c, REPLY_TIMEOUT, ret_closed);
}

/* Waits until the server has closed this connection. */
static bool tc_closed(struct fixture *f, struct tclient *c) {
        bool closed = false;
        struct json_object *o;

        while ((o = tc_receive(f, c, &closed)))
                json_object_put(o);
        return closed;
}

static const char *reply_error(struct json_object *reply) {
        return cb_json_string_or(reply, CB_VL_KEY_ERROR, NULL);
}

static struct json_object *reply_params(struct json_object *reply) {
        struct json_object *p = NULL;
        (void) cb_json_get_object(reply, CB_VL_KEY_PARAMETERS, &p);
        return p;
}

static struct json_object *call(struct fixture *f, struct tclient *c, const char *json) {
        tc_send(c, json);
        return tc_receive(f, c, NULL);
}

static bool error_is(struct json_object *reply, const char *error) {
        const char *e = reply ? reply_error(reply) : NULL;
        CHECK_MSG(e && strcmp(e, error) == 0, "expected %s, got %s", error, e ? e : "(no error)");
        return e && strcmp(e, error) == 0;
}

/* The replies to `two` (below): GetInfo's, then GetStatus's, in that order. */
static void receive_info_then_status(struct fixture *f, struct tclient *c) {
        struct json_object *r = tc_receive(f, c, NULL);

        CHECK(r && cb_json_get_string(reply_params(r), CB_VL_FIELD_VENDOR, &(const char *){ NULL }) == 1);
        json_object_put(r);
        r = tc_receive(f, c, NULL);
        CHECK(r && cb_json_get_array(reply_params(r), CB_VL_FIELD_NODES, &(struct json_object *){ NULL }) == 1);
        json_object_put(r);
}

/* ---- tests ---- */

static void test_methods(void) {
        struct fixture f;
        struct tclient c;
        struct json_object *r, *nodes = NULL, *daemon = NULL;

        fx_init(&f, 3, NULL, NULL);
        tc_open(&f, &c);

        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\"}");
        CHECK(r && !reply_error(r));
        CHECK(cb_json_get_array(reply_params(r), CB_VL_FIELD_NODES, &nodes) == 1 && json_object_array_length(nodes) == 3);
        CHECK(cb_json_get_object(reply_params(r), CB_VL_FIELD_DAEMON, &daemon) == 1);
        CHECK(strcmp(cb_json_string_or(daemon, CB_VL_FIELD_SUMMARY, ""), "3 nodes in the test") == 0);
        CHECK(strcmp(cb_json_string_or(daemon, CB_VL_FIELD_SOCKET_PATH, ""), f.path) == 0);
        CHECK(cb_json_u64_or(daemon, CB_VL_FIELD_N_CLIENTS, 0) == 1);
        /* the table's reply carries no history */
        CHECK(!json_object_object_get_ex(json_object_array_get_idx(nodes, 0), CB_VL_FIELD_EVENTS, NULL));
        json_object_put(r);

        /* one node, by name and by port, with its events */
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\",\"parameters\":{\"name\":\"node2\"}}");
        CHECK(r && !reply_error(r));
        CHECK(cb_json_get_array(reply_params(r), CB_VL_FIELD_NODES, &nodes) == 1 && json_object_array_length(nodes) == 1);
        CHECK(strcmp(cb_json_string_or(json_object_array_get_idx(nodes, 0), CB_VL_FIELD_NAME, ""), "node2") == 0);
        CHECK(json_object_object_get_ex(json_object_array_get_idx(nodes, 0), CB_VL_FIELD_EVENTS, NULL));
        json_object_put(r);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\",\"parameters\":{\"name\":\"3-1\"}}");
        CHECK(r && cb_json_get_array(reply_params(r), CB_VL_FIELD_NODES, &nodes) == 1 &&
              strcmp(cb_json_string_or(json_object_array_get_idx(nodes, 0), CB_VL_FIELD_NAME, ""), "node3") == 0);
        json_object_put(r);

        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\",\"parameters\":{\"name\":\"node9\"}}");
        if (error_is(r, CB_VL_ERROR_NO_SUCH_NODE))
                CHECK(strcmp(cb_json_string_or(reply_params(r), CB_VL_FIELD_NAME, ""), "node9") == 0 &&
                      cb_json_string_or(reply_params(r), CB_VL_FIELD_MESSAGE, NULL));
        json_object_put(r);

        /* parameter mistakes are answered, and the connection stays usable */
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\",\"parameters\":{\"nmae\":\"node2\"}}");
        if (error_is(r, CB_VL_ERROR_SERVICE_INVALID_PARAMETER))
                CHECK(strcmp(cb_json_string_or(reply_params(r), CB_VL_FIELD_PARAMETER, ""), "nmae") == 0);
        json_object_put(r);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\",\"parameters\":{\"name\":5}}");
        error_is(r, CB_VL_ERROR_SERVICE_INVALID_PARAMETER);
        json_object_put(r);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_RETRY "\"}");
        error_is(r, CB_VL_ERROR_SERVICE_INVALID_PARAMETER);
        json_object_put(r);
        r = call(&f, &c, "{\"method\":\"io.clusterboot.Manager.Explode\"}");
        if (error_is(r, CB_VL_ERROR_METHOD_NOT_FOUND))
                CHECK(strcmp(cb_json_string_or(reply_params(r), CB_VL_FIELD_METHOD, ""),
                             "io.clusterboot.Manager.Explode") == 0);
        json_object_put(r);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_WATCH "\"}");
        error_is(r, CB_VL_ERROR_EXPECTED_MORE);
        json_object_put(r);

        /* power: Power=none, and the answer says how to configure it */
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_REBOOT "\",\"parameters\":{\"name\":\"node1\"}}");
        if (error_is(r, CB_VL_ERROR_NO_POWER_CONTROL))
                CHECK(strstr(cb_json_string_or(reply_params(r), CB_VL_FIELD_MESSAGE, ""), "Power=") != NULL);
        json_object_put(r);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_POWER_OFF "\",\"parameters\":{\"name\":\"node7\"}}");
        error_is(r, CB_VL_ERROR_NO_SUCH_NODE);
        json_object_put(r);

        /* reload goes to the daemon's callback; its failure is an error */
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_RELOAD "\"}");
        CHECK(r && !reply_error(r) && f.reloads == 1);
        json_object_put(r);
        f.reload_result = -EINVAL;
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_RELOAD "\"}");
        error_is(r, CB_VL_ERROR_RELOAD_FAILED);
        json_object_put(r);

        /* generic varlink clients */
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_INFO "\"}");
        CHECK(r && !reply_error(r) && strcmp(cb_json_string_or(reply_params(r), CB_VL_FIELD_VENDOR, ""), "clusterboot") == 0);
        json_object_put(r);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_INTERFACE_DESCRIPTION "\",\"parameters\":{\"interface\":\"" CB_VL_INTERFACE "\"}}");
        CHECK(r && strstr(cb_json_string_or(reply_params(r), CB_VL_FIELD_DESCRIPTION, ""), "method GetStatus(") != NULL);
        json_object_put(r);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_INTERFACE_DESCRIPTION "\",\"parameters\":{\"interface\":\"org.example\"}}");
        error_is(r, CB_VL_ERROR_INTERFACE_NOT_FOUND);
        json_object_put(r);

        /* oneway: done, and nothing is answered; the next call's reply is the next message */
        f.reload_result = 0;
        tc_send(&c, "{\"method\":\"" CB_VL_METHOD_RELOAD "\",\"oneway\":true}");
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_INFO "\"}");
        CHECK(r && !reply_error(r) && strcmp(cb_json_string_or(reply_params(r), CB_VL_FIELD_VENDOR, ""), "clusterboot") == 0);
        CHECK(f.reloads == 3);
        json_object_put(r);

        tc_close(&c);
        fx_done(&f);
}

/* Calls split anywhere, several in one write, and a message left half-sent. */
static void test_framing_on_the_wire(void) {
        static const char two[] = "{\"method\":\"" CB_VL_METHOD_GET_INFO "\"}\0{\"method\":\"" CB_VL_METHOD_GET_STATUS
                                  "\",\"parameters\":{\"name\":\"node1\"}}";
        struct fixture f;
        struct tclient c, half;
        struct json_object *r;

        fx_init(&f, 1, NULL, NULL);
        tc_open(&f, &c);
        tc_open(&f, &half);

        /* byte by byte, with the loop running in between */
        for (size_t i = 0; i < sizeof two; i++) {
                tc_send_raw(&c, two + i, 1);
                pump(&f, 100);
        }
        receive_info_then_status(&f, &c);

        /* both in one write, in order */
        tc_send_raw(&c, two, sizeof two);
        receive_info_then_status(&f, &c);

        /* a half message waits without harm; others are served meanwhile */
        tc_send_raw(&half, "{\"method\":\"" CB_VL_METHOD_GET_INFO, 20);
        pump(&f, 20 * USEC_PER_MSEC);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_INFO "\"}");
        CHECK(r && !reply_error(r));
        json_object_put(r);
        /* ...and completes when the rest comes */
        const char *whole = "{\"method\":\"" CB_VL_METHOD_GET_INFO "\"}";
        tc_send(&half, whole + 20);
        r = tc_receive(&f, &half, NULL);
        CHECK(r && !reply_error(r));
        json_object_put(r);

        /* a client that sends a call and hangs up at once still has it carried out */
        unsigned reloads = f.reloads;
        tc_send(&half, "{\"method\":\"" CB_VL_METHOD_RELOAD "\"}");
        shutdown(half.fd, SHUT_WR);
        r = tc_receive(&f, &half, NULL);
        CHECK(r && !reply_error(r) && f.reloads == reloads + 1);
        json_object_put(r);
        CHECK(tc_closed(&f, &half));

        tc_close(&half);
        tc_close(&c);
        pump_until_no_clients(&f);
        CHECK(cb_control_n_clients(f.control) == 0);
        fx_done(&f);
}

/* Garbage and oversize messages are answered with an error, then the client is dropped. */
static void test_bad_clients(void) {
        static const char *const garbage[] = {
                "hello",
                "[1,2,3]",
                "{\"parameters\":{}}",
                "{\"method\":42}",
                "{\"method\":\"" CB_VL_METHOD_GET_INFO "\",\"parameters\":[]}",
                "{\"method\":\"" CB_VL_METHOD_GET_INFO "\",\"more\":\"yes\"}",
                "{\"method\":\"" CB_VL_METHOD_GET_INFO "\"} trailing",
                "{\"method\":\"\xc3\x28\"}",
                /* valid to json-c, not UTF-8: an overlong '/', a surrogate, beyond U+10FFFF */
                "{\"method\":\"" CB_VL_METHOD_GET_INFO "\",\"parameters\":{\"x\":\"\xc0\xaf\"}}",
                "{\"method\":\"\xed\xa0\x80\"}",
                "{\"method\":\"\xf4\x90\x80\x80\"}",
                "",
        };
        struct cb_control_settings s = { .max_message_size = 1024 };
        struct fixture f;
        struct tclient c, good;
        struct json_object *r;
        char big[2048];

        fx_init(&f, 1, NULL, &s);
        tc_open(&f, &good);

        for (size_t i = 0; i < ELEMENTSOF(garbage); i++) {
                tc_open(&f, &c);
                r = call(&f, &c, garbage[i]);
                CHECK_MSG(r && reply_error(r) && strcmp(reply_error(r), CB_VL_ERROR_INVALID_PARAMETER) == 0,
                          "garbage %zu not refused", i);
                json_object_put(r);
                CHECK_MSG(tc_closed(&f, &c), "garbage %zu: still connected", i);
                tc_close(&c);
        }

        /* oversize: refused before its end arrives, and the connection closed */
        tc_open(&f, &c);
        memset(big, ' ', sizeof big);
        tc_send_raw(&c, big, sizeof big);
        r = tc_receive(&f, &c, NULL);
        if (error_is(r, CB_VL_ERROR_INVALID_PARAMETER))
                CHECK(strstr(cb_json_string_or(reply_params(r), CB_VL_FIELD_MESSAGE, ""), "1024") != NULL);
        json_object_put(r);
        CHECK(tc_closed(&f, &c));
        tc_close(&c);

        /* nothing of it disturbed anyone else */
        r = call(&f, &good, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\"}");
        CHECK(r && !reply_error(r));
        json_object_put(r);
        CHECK(cb_control_n_clients(f.control) == 1);
        tc_close(&good);
        fx_done(&f);
}

/* Too many clients: the one idle the longest makes room; watchers are never evicted. */
static void test_client_limit(void) {
        struct cb_control_settings s = { .max_clients = 4 };
        struct fixture f;
        struct tclient c[6];
        struct json_object *r;

        fx_init(&f, 1, NULL, &s);
        for (int i = 0; i < 4; i++) {
                tc_open(&f, &c[i]);
                pump(&f, 5 * USEC_PER_MSEC);
        }
        CHECK(cb_control_n_clients(f.control) == 4);
        /* the first one is kept busy: it becomes the most recently active */
        r = call(&f, &c[0], "{\"method\":\"" CB_VL_METHOD_GET_INFO "\"}");
        json_object_put(r);

        tc_open(&f, &c[4]);
        r = call(&f, &c[4], "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\"}");
        CHECK(r && !reply_error(r));
        json_object_put(r);
        CHECK(cb_control_n_clients(f.control) == 4);
        CHECK(tc_closed(&f, &c[1])); /* idle the longest */
        r = call(&f, &c[0], "{\"method\":\"" CB_VL_METHOD_GET_INFO "\"}");
        CHECK(r && !reply_error(r));
        json_object_put(r);

        /* all watching: a new connection is refused instead */
        struct tclient *w[] = { &c[0], &c[2], &c[3], &c[4] };
        for (size_t i = 0; i < ELEMENTSOF(w); i++) {
                r = call(&f, w[i], "{\"method\":\"" CB_VL_METHOD_WATCH "\",\"more\":true}");
                CHECK(r && cb_json_bool_or(r, CB_VL_KEY_CONTINUES, false));
                json_object_put(r);
        }
        tc_open(&f, &c[5]);
        CHECK(tc_closed(&f, &c[5]));
        CHECK(cb_control_n_clients(f.control) == 4);

        for (int i = 0; i < 6; i++)
                tc_close(&c[i]);
        pump_until_no_clients(&f);
        CHECK(cb_control_n_clients(f.control) == 0);
        fx_done(&f);
}

/* A watcher that stops reading is dropped once its queue is full; the loop never blocks on it. */
static void test_slow_reader(void) {
        struct cb_control_settings s = { .max_output_size = 16 * 1024 };
        struct fixture f;
        struct tclient slow, good;
        struct json_object *r;
        int small = 4096;
        usec_t start;

        fx_init(&f, 1, NULL, &s);
        tc_open(&f, &slow);
        tc_open(&f, &good);
        CHECK(setsockopt(slow.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
        r = call(&f, &slow, "{\"method\":\"" CB_VL_METHOD_WATCH "\",\"more\":true}");
        CHECK(r && cb_json_bool_or(r, CB_VL_KEY_CONTINUES, false));
        json_object_put(r);

        start = now_usec();
        for (int i = 0; i < 20000 && cb_control_n_clients(f.control) == 2; i++)
                cb_control_node_changed(f.w.nodes[0], f.control);
        CHECK(cb_control_n_clients(f.control) == 1);
        CHECK(now_usec() - start < 5 * USEC_PER_SEC);
        r = call(&f, &good, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\"}");
        CHECK(r && !reply_error(r));
        json_object_put(r);

        tc_close(&slow);
        tc_close(&good);
        fx_done(&f);
}

/* Watch during real boots: the first reply holds every node, then each change follows, a retry included. */
static void test_watch_boot_with_retry(void) {
        struct emu_board_config boards[2] = { 0 };
        static const char *const expected[] = { "rom", "serving", "retrying", "rom", "serving", "booted", "up" };
        struct fixture f;
        struct tclient c;
        struct json_object *r, *nodes = NULL, *event = NULL;
        size_t matched = 0, progress = 0, n_events = 0;
        const char *last_state = NULL;
        uint64_t last_attempt = 0;

        /* board 2 vanishes in the middle of kernel.img on its first attempt and comes back in the ROM */
        boards[1].faults[0] = (struct emu_fault){ .kind = EMU_FAULT_VANISH, .point = EMU_AT_FILE, .attempt = 1,
                                                  .name = "kernel.img", .offset = 100 };
        boards[1].n_faults = 1;
        fx_init(&f, 2, boards, NULL);
        tc_open(&f, &c);

        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_WATCH "\",\"more\":true}");
        CHECK(r && !reply_error(r) && cb_json_bool_or(r, CB_VL_KEY_CONTINUES, false));
        CHECK(cb_json_get_array(reply_params(r), CB_VL_FIELD_NODES, &nodes) == 1 && json_object_array_length(nodes) == 2);
        json_object_put(r);

        emu_port_plug(&f.w.ports[0]);
        emu_port_plug(&f.w.ports[1]);
        CHECK(world_run(&f.w, RUN_TIMEOUT) == 0);
        CHECK(cb_node_state(f.w.nodes[1]) == CB_NODE_UP && cb_node_attempt(f.w.nodes[1]) == 2);

        static char last_node2[32];
        /* everything was sent while the boards booted; what is queued arrives at once */
        while ((r = tc_receive_within(&f, &c, 200 * USEC_PER_MSEC, NULL))) {
                struct json_object *p = reply_params(r);
                const char *node, *state, *kind;

                CHECK(cb_json_bool_or(r, CB_VL_KEY_CONTINUES, false));
                CHECK(cb_json_get_object(p, CB_VL_FIELD_EVENT, &event) == 1);
                node = cb_json_string_or(event, CB_VL_FIELD_NODE, "");
                state = cb_json_string_or(event, CB_VL_FIELD_STATE, "");
                kind = cb_json_string_or(event, CB_VL_FIELD_KIND, "");
                CHECK(cb_json_u64_or(event, CB_VL_FIELD_REALTIME_USEC, 0) > 0);
                CHECK(!json_object_object_get_ex(event, CB_VL_FIELD_NAME, NULL));
                n_events++;
                if (strcmp(node, "node2") == 0) {
                        if (strcmp(kind, CB_VL_EVENT_KIND_PROGRESS) == 0) {
                                progress++;
                                CHECK(cb_json_get_string(event, CB_VL_FIELD_MESSAGE, &(const char *){ NULL }) == 0);
                        } else {
                                CHECK(strcmp(kind, CB_VL_EVENT_KIND_STATE) == 0);
                                CHECK(cb_json_string_or(event, CB_VL_FIELD_MESSAGE, NULL) != NULL);
                                if (matched < ELEMENTSOF(expected) && strcmp(state, expected[matched]) == 0)
                                        matched++;
                                snprintf(last_node2, sizeof last_node2, "%s", state);
                                last_state = last_node2;
                                last_attempt = cb_json_u64_or(event, CB_VL_FIELD_ATTEMPT, 0);
                        }
                }
                json_object_put(r);
        }
        CHECK_MSG(matched == ELEMENTSOF(expected), "saw %zu of the expected transitions", matched);
        CHECK(progress > 0);
        CHECK(last_state && strcmp(last_state, "up") == 0 && last_attempt == 2);
        CHECK(n_events > matched);

        tc_close(&c);
        fx_done(&f);
}

/*
 * The abuse scenario, in-process: garbage, an oversize message, a half
 * message and 200 idle clients thrown at the socket while 4 boards boot. All
 * boards come up and status is answered throughout.
 */
static void test_abuse_while_booting(void) {
        enum { N_IDLE = 200 };
        struct fixture f;
        struct tclient idle[N_IDLE], garbage, oversize, half, status;
        struct json_object *r, *nodes = NULL;
        char big[CB_VL_REQUEST_MAX + 100];
        size_t answered = 0;

        fx_init(&f, 4, NULL, NULL);
        for (size_t i = 0; i < f.w.n_ports; i++)
                emu_port_plug(&f.w.ports[i]);

        tc_open(&f, &garbage);
        tc_send(&garbage, "\x01\x02 definitely not json");
        tc_open(&f, &oversize);
        memset(big, '{', sizeof big);
        tc_send_raw(&oversize, big, sizeof big);
        tc_open(&f, &half);
        tc_send_raw(&half, "{\"method\":\"io.clus", 19);
        for (size_t i = 0; i < N_IDLE; i++) {
                tc_open(&f, &idle[i]);
                if (i % 20 == 0)
                        pump(&f, USEC_PER_MSEC);
        }

        /* status keeps being answered while the boards boot (and at least once, however fast they are) */
        usec_t deadline = now_usec() + RUN_TIMEOUT;
        size_t asked = 0;
        do {
                tc_open(&f, &status);
                r = call(&f, &status, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\"}");
                asked++;
                if (r && !reply_error(r))
                        answered++;
                json_object_put(r);
                tc_close(&status);
                (void) sd_event_run(f.w.event, 5 * USEC_PER_MSEC);
        } while (now_usec() < deadline && !world_settled(&f.w));
        CHECK(world_settled(&f.w));
        for (size_t i = 0; i < f.w.n_ports; i++)
                CHECK_MSG(cb_node_state(f.w.nodes[i]) == CB_NODE_UP, "node%zu is %s", i + 1,
                          cb_node_state_name(cb_node_state(f.w.nodes[i])));
        CHECK_MSG(answered == asked, "%zu of %zu status calls answered", answered, asked);
        CHECK(cb_control_n_clients(f.control) <= CB_CONTROL_MAX_CLIENTS);
        CHECK(tc_closed(&f, &garbage));
        CHECK(tc_closed(&f, &oversize));

        tc_open(&f, &status);
        r = call(&f, &status, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\"}");
        CHECK(r && cb_json_get_array(reply_params(r), CB_VL_FIELD_NODES, &nodes) == 1 &&
              json_object_array_length(nodes) == 4);
        json_object_put(r);

        tc_close(&status);
        tc_close(&garbage);
        tc_close(&oversize);
        tc_close(&half);
        for (size_t i = 0; i < N_IDLE; i++)
                tc_close(&idle[i]);
        pump_until_no_clients(&f);
        CHECK(cb_control_n_clients(f.control) == 0);
        fx_done(&f);
}

/* Changing methods as someone who is neither root nor in the group: refused, and nothing happens. */
static int child_call(const char *path, const char *json, char *out, size_t out_size) {
        int fd = connect_to(path);
        size_t at = 0;

        if (fd < 0)
                return fd;
        if (send(fd, json, strlen(json) + 1, MSG_NOSIGNAL) < 0)
                return -errno;
        while (at + 1 < out_size) {
                ssize_t n = recv(fd, out + at, out_size - at - 1, 0);
                if (n <= 0)
                        break;
                at += (size_t) n;
                if (memchr(out, '\0', at))
                        break;
        }
        out[at] = '\0';
        close(fd);
        return 0;
}

static void test_permission_denied(void) {
        struct emu_board_config bad = { 0 };
        struct fixture f;
        pid_t pid;
        int status = 0;

        if (geteuid() != 0) {
                printf("test-control-socket: not root; the unprivileged-peer test runs as root only\n");
                return;
        }
        /* a node that fails for good, so that a Retry would visibly change it */
        bad.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_NO_ANSWER, .point = EMU_AT_ROM_STATUS, .sticky = true };
        bad.n_faults = 1;
        fx_init(&f, 1, &bad, NULL);
        f.w.config->max_attempts = 1;
        emu_port_plug(&f.w.ports[0]);
        CHECK(world_run(&f.w, RUN_TIMEOUT) == 0);
        CHECK(cb_node_state(f.w.nodes[0]) == CB_NODE_FAILED);
        unsigned reloads = f.reloads;

        fflush(NULL);
        pid = fork();
        if (pid == 0) {
                static const char *const calls[] = {
                        "{\"method\":\"" CB_VL_METHOD_RETRY "\",\"parameters\":{\"name\":\"node1\"}}",
                        "{\"method\":\"" CB_VL_METHOD_REBOOT "\",\"parameters\":{\"name\":\"node1\"}}",
                        "{\"method\":\"" CB_VL_METHOD_POWER_ON "\",\"parameters\":{\"name\":\"node1\"}}",
                        "{\"method\":\"" CB_VL_METHOD_POWER_OFF "\",\"parameters\":{\"name\":\"node1\"}}",
                        "{\"method\":\"" CB_VL_METHOD_RELOAD "\"}",
                };
                char out[4096];

                if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(10);
                for (size_t i = 0; i < ELEMENTSOF(calls); i++) {
                        if (child_call(f.path, calls[i], out, sizeof out) < 0)
                                _exit(11);
                        if (!strstr(out, "\"error\":\"" CB_VL_ERROR_PERMISSION_DENIED "\""))
                                _exit(20 + (int) i);
                }
                /* reading is for everyone */
                if (child_call(f.path, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\"}", out, sizeof out) < 0 ||
                    strstr(out, "\"error\"") || !strstr(out, "\"nodes\""))
                        _exit(30);
                _exit(0);
        }
        CHECK(pid > 0);
        for (usec_t deadline = now_usec() + RUN_TIMEOUT; now_usec() < deadline;) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        break;
                (void) sd_event_run(f.w.event, 2 * USEC_PER_MSEC);
        }
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %d", status);
        CHECK(cb_node_state(f.w.nodes[0]) == CB_NODE_FAILED);
        CHECK(f.reloads == reloads);

        /*
         * root may: the same Retry boots it again (attempt 1 of 1 fails again, the fault is sticky); a
         * second one in the same write is read while the first boot runs and refused as busy (sent
         * separately, it would be read only once the board's events are done: the board comes first)
         */
        struct tclient c;
        struct json_object *r;
        tc_open(&f, &c);
        tc_send(&c, "{\"method\":\"" CB_VL_METHOD_RETRY "\",\"parameters\":{\"name\":\"node1\"}}");
        tc_send(&c, "{\"method\":\"" CB_VL_METHOD_RETRY "\",\"parameters\":{\"name\":\"node1\"}}");
        r = tc_receive(&f, &c, NULL);
        CHECK(r && !reply_error(r));
        json_object_put(r);
        r = tc_receive(&f, &c, NULL);
        error_is(r, CB_VL_ERROR_BUSY);
        json_object_put(r);
        CHECK(world_run(&f.w, RUN_TIMEOUT) == 0);
        tc_close(&c);
        fx_done(&f);
}

/*
 * What a client sends comes back escaped and cut on a character boundary;
 * a method name with a NUL inside is not its prefix.
 */
static void test_client_text_echoed(void) {
        struct fixture f;
        struct tclient c;
        struct json_object *r;
        char call_text[4096];
        const char *message, *name;

        fx_init(&f, 1, NULL, NULL);
        tc_open(&f, &c);

        /* "GetStatus\u0000junk" is not GetStatus */
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\\u0000junk\"}");
        if (error_is(r, CB_VL_ERROR_METHOD_NOT_FOUND))
                CHECK(strcmp(cb_json_string_or(reply_params(r), CB_VL_FIELD_METHOD, ""),
                             CB_VL_METHOD_GET_STATUS "\\x00junk") == 0);
        json_object_put(r);
        /* nor is a node name with one inside the name before it */
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\",\"parameters\":{\"name\":\"node1\\u0000x\"}}");
        error_is(r, CB_VL_ERROR_SERVICE_INVALID_PARAMETER);
        json_object_put(r);

        /* terminal escapes in an unknown method and a node name come back as text */
        r = call(&f, &c, "{\"method\":\"x\\u001b[2J\\n\"}");
        if (error_is(r, CB_VL_ERROR_METHOD_NOT_FOUND))
                CHECK(strcmp(cb_json_string_or(reply_params(r), CB_VL_FIELD_METHOD, ""), "x\\x1b[2J\\x0a") == 0);
        json_object_put(r);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\",\"parameters\":{\"name\":\"n\\u001b]0;pwned\\u0007\"}}");
        if (error_is(r, CB_VL_ERROR_NO_SUCH_NODE)) {
                name = cb_json_string_or(reply_params(r), CB_VL_FIELD_NAME, "");
                message = cb_json_string_or(reply_params(r), CB_VL_FIELD_MESSAGE, "");
                CHECK_MSG(strcmp(name, "n\\x1b]0;pwned\\x07") == 0, "%s", name);
                CHECK_MSG(strstr(message, "'n\\x1b]0;pwned\\x07'") != NULL, "%s", message);
        }
        json_object_put(r);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\",\"parameters\":{\"n\\u0085\":1}}");
        if (error_is(r, CB_VL_ERROR_SERVICE_INVALID_PARAMETER))
                CHECK(strcmp(cb_json_string_or(reply_params(r), CB_VL_FIELD_PARAMETER, ""), "n\\xc2\\x85") == 0);
        json_object_put(r);

        /* a long name of three-byte characters: the message is cut on a boundary, never mid-character */
        size_t at = (size_t) snprintf(call_text, sizeof call_text,
                                      "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\",\"parameters\":{\"name\":\"x");
        for (int i = 0; i < 600; i++)
                at += (size_t) snprintf(call_text + at, sizeof call_text - at, "\xe2\x82\xac");
        snprintf(call_text + at, sizeof call_text - at, "\"}}");
        r = call(&f, &c, call_text);
        if (error_is(r, CB_VL_ERROR_NO_SUCH_NODE)) {
                message = cb_json_string_or(reply_params(r), CB_VL_FIELD_MESSAGE, "");
                name = cb_json_string_or(reply_params(r), CB_VL_FIELD_NAME, "");
                CHECK(strlen(message) <= 512 && cb_text_valid_utf8(message, strlen(message)));
                CHECK(strlen(name) <= 128 && strstr(name, CB_TEXT_ELLIPSIS) != NULL);
        }
        json_object_put(r);

        /* the connection is still good */
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_INFO "\"}");
        CHECK(r && !reply_error(r));
        json_object_put(r);
        tc_close(&c);
        fx_done(&f);
}

/*
 * A board's bytes in a node's fields (here a requested file name that is
 * not UTF-8, that ends up in current_file and last_error) leave every
 * reply and event valid UTF-8 for every client.
 */
static void test_board_text_in_json(void) {
        static const char bad_name[] = "k\xff\xc0\xaf\xed\xa0\x80.img";
        static const char *const requests[] = { "config.txt", bad_name, "start.elf" };
        struct emu_board_config board = { .requests = requests, .n_requests = ELEMENTSOF(requests) };
        struct fixture f;
        struct tclient c, watcher;
        struct json_object *r, *nodes = NULL;
        char path[256];
        FILE *file;

        board.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_VANISH, .point = EMU_AT_FILE, .name = bad_name,
                                              .offset = 100, .sticky = true };
        board.n_faults = 1;
        fx_init(&f, 1, &board, NULL);
        f.w.config->max_attempts = 1;
        snprintf(path, sizeof path, "%s/%s", f.w.boot_dir, bad_name);
        file = fopen(path, "we");
        CHECK(file != NULL);
        if (file) {
                for (int i = 0; i < 4096; i++)
                        fputc(i & 0xff, file);
                fclose(file);
        }

        tc_open(&f, &watcher);
        r = call(&f, &watcher, "{\"method\":\"" CB_VL_METHOD_WATCH "\",\"more\":true}");
        CHECK(r && cb_json_bool_or(r, CB_VL_KEY_CONTINUES, false));
        json_object_put(r);
        emu_port_plug(&f.w.ports[0]);
        CHECK(world_run(&f.w, RUN_TIMEOUT) == 0);
        CHECK(cb_node_state(f.w.nodes[0]) == CB_NODE_FAILED);
        CHECK_MSG(cb_node_last_error(f.w.nodes[0]) && strstr(cb_node_last_error(f.w.nodes[0]), ".img"),
                  "the test needs the name in last_error: %s", cb_node_last_error(f.w.nodes[0]));
        if (cb_node_state(f.w.nodes[0]) != CB_NODE_FAILED)
                world_dump(&f.w, 0);

        /* every event the watcher got is valid (tc_receive checks the bytes) */
        size_t events = 0;
        while ((r = tc_receive_within(&f, &watcher, 50 * USEC_PER_MSEC, NULL))) {
                events++;
                json_object_put(r);
        }
        CHECK(events > 0);

        tc_open(&f, &c);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\"}");
        CHECK(r && cb_json_get_array(reply_params(r), CB_VL_FIELD_NODES, &nodes) == 1);
        const char *last_error = cb_json_string_or(json_object_array_get_idx(nodes, 0), CB_VL_FIELD_LAST_ERROR, "");
        CHECK_MSG(strstr(last_error, ".img") && cb_text_valid_utf8(last_error, strlen(last_error)), "%s", last_error);
        json_object_put(r);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\",\"parameters\":{\"name\":\"node1\"}}");
        CHECK(r && !reply_error(r));
        json_object_put(r);
        tc_close(&c);
        tc_close(&watcher);
        fx_done(&f);
}

/* A stale socket file is replaced; a live one (another daemon) is not. */
static void test_socket_path(void) {
        struct fixture f;
        struct cb_control *second = NULL;
        struct cb_control_settings s = { 0 };
        struct stat st;
        char path[100];
        int fd;

        fx_init(&f, 1, NULL, NULL);
        CHECK(stat(f.path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0666);
        s.socket_path = f.path;
        CHECK(cb_control_new(f.w.event, &s, &fx_ops, &f, &second) == -EADDRINUSE);
        CHECK(access(f.path, F_OK) == 0); /* the live one was left alone */

        /* a socket file nobody listens on */
        snprintf(path, sizeof path, "%s/stale", f.dir);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        CHECK(bind(fd, (struct sockaddr *) &sa, sizeof sa) == 0);
        close(fd);
        s.socket_path = path;
        CHECK(cb_control_new(f.w.event, &s, &fx_ops, &f, &second) == 0);
        fd = connect_to(path);
        CHECK(fd >= 0);
        if (fd >= 0)
                close(fd);
        second = cb_control_free(second);
        CHECK(access(path, F_OK) < 0);

        /* not a socket: refused, untouched */
        fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        close(fd);
        CHECK(cb_control_new(f.w.event, &s, &fx_ops, &f, &second) < 0);
        CHECK(access(path, F_OK) == 0);
        unlink(path);

        /* too long for a socket address */
        char longpath[200];
        memset(longpath, 'a', sizeof longpath);
        longpath[0] = '/';
        longpath[sizeof longpath - 1] = '\0';
        s.socket_path = longpath;
        CHECK(cb_control_new(f.w.event, &s, &fx_ops, &f, &second) == -ENAMETOOLONG);
        fx_done(&f);
}

/* A power call (METHOD is a CB_VL_METHOD_* literal) on one node, as a client sends it. */
#define POWER_CALL(METHOD, NODE) "{\"method\":\"" METHOD "\",\"parameters\":{\"name\":\"" NODE "\"}}"

/* The error reply's message contains `part` and its parameters name `node`. */
static void check_error_names(struct json_object *r, const char *node, const char *part) {
        const char *message = cb_json_string_or(reply_params(r), CB_VL_FIELD_MESSAGE, "");

        CHECK_MSG(strcmp(cb_json_string_or(reply_params(r), CB_VL_FIELD_NAME, ""), node) == 0 &&
                          strncmp(message, node, strlen(node)) == 0 && strstr(message, part),
                  "%s", r ? json_object_to_json_string(r) : "no reply");
}

/* The next reply on c is a success (`what` names the call for the failure message). */
static void receive_ok(struct fixture *f, struct tclient *c, const char *what) {
        struct json_object *r = tc_receive(f, c, NULL);

        CHECK_MSG(r && !reply_error(r), "%s: %s", what, r ? json_object_to_json_string(r) : "no reply");
        json_object_put(r);
}

/*
 * Power calls are answered when the switch is done; the client's next call
 * waits its turn (replies stay in order); one call may wait behind another
 * on the same node, a third is refused as busy; a switch that fails is an
 * error that names the node and says what happened; a client that hangs up
 * before its answer, and a server freed with calls pending, are harmless.
 */
static void test_power_answered_later(void) {
        struct fixture f;
        struct tclient c, first, second, third, quitter;
        struct json_object *r;
        struct emu_power_settings ps = { .delay = 50 * USEC_PER_MSEC };
        struct emu_power_settings failing = { .delay = 50 * USEC_PER_MSEC, .fail_off = -EIO };
        struct emu_power_log log[2] = { 0 };
        struct cb_power *power = NULL;

        fx_init(&f, 2, NULL, NULL);
        f.w.config->power_settle = 50 * USEC_PER_MSEC;
        for (size_t i = 0; i < 2; i++) {
                CHECK(emu_power_new(&f.w.ports[i], &ps, &log[i], &power) == 0);
                CHECK(cb_node_set_power(f.w.nodes[i], power) == 0);
                emu_port_plug(&f.w.ports[i]);
        }
        CHECK(world_run(&f.w, RUN_TIMEOUT) == 0);
        tc_open(&f, &c);

        tc_send(&c, POWER_CALL(CB_VL_METHOD_REBOOT, "node1"));
        tc_send(&c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\",\"parameters\":{\"name\":\"node1\"}}");
        /* off (50 ms), settle (50 ms), on (50 ms): nothing may come before that */
        r = tc_receive_within(&f, &c, 120 * USEC_PER_MSEC, NULL);
        CHECK_MSG(r == NULL, "a reboot was answered before the power was cycled");
        json_object_put(r);
        receive_ok(&f, &c, "reboot");
        CHECK(log[0].offs == 1 && log[0].ons == 1);
        /* the status call sent behind it is answered after it */
        r = tc_receive(&f, &c, NULL);
        CHECK(r && !reply_error(r) && json_object_object_get_ex(reply_params(r), CB_VL_FIELD_NODES, NULL));
        json_object_put(r);

        /* three clients at one node: a reboot, a power off that waits behind it, a power on refused as busy */
        tc_open(&f, &first);
        tc_open(&f, &second);
        tc_open(&f, &third);
        tc_send(&first, POWER_CALL(CB_VL_METHOD_REBOOT, "node1"));
        pump(&f, 10 * USEC_PER_MSEC);
        tc_send(&second, POWER_CALL(CB_VL_METHOD_POWER_OFF, "node1"));
        pump(&f, 10 * USEC_PER_MSEC);
        r = call(&f, &third, POWER_CALL(CB_VL_METHOD_POWER_ON, "node1"));
        if (error_is(r, CB_VL_ERROR_BUSY))
                check_error_names(r, "node1", "try again");
        json_object_put(r);
        receive_ok(&f, &first, "reboot");
        CHECK(log[0].offs == 2 && log[0].ons == 2);
        receive_ok(&f, &second, "power off");
        CHECK(log[0].offs == 3 && log[0].ons == 2 && cb_node_state(f.w.nodes[0]) == CB_NODE_OFF);
        tc_close(&first);
        tc_close(&second);
        tc_close(&third);

        r = call(&f, &c, POWER_CALL(CB_VL_METHOD_REBOOT, "node1"));
        if (error_is(r, CB_VL_ERROR_NODE_OFF))
                check_error_names(r, "node1", "power on");
        json_object_put(r);

        /* a client that hangs up while its power call runs */
        tc_open(&f, &quitter);
        tc_send(&quitter, POWER_CALL(CB_VL_METHOD_REBOOT, "node2"));
        pump(&f, 10 * USEC_PER_MSEC);
        tc_close(&quitter);
        pump(&f, 300 * USEC_PER_MSEC);
        CHECK(log[1].offs == 1 && log[1].ons == 1);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\"}");
        CHECK(r && !reply_error(r));
        json_object_put(r);

        /* a switch that fails: the error names the node and says what happened */
        CHECK(emu_power_new(&f.w.ports[1], &failing, NULL, &power) == 0);
        CHECK(cb_node_set_power(f.w.nodes[1], power) == 0);
        r = call(&f, &c, POWER_CALL(CB_VL_METHOD_POWER_OFF, "node2"));
        if (error_is(r, CB_VL_ERROR_POWER_FAILED))
                check_error_names(r, "node2", "failed to switch off");
        json_object_put(r);

        /* the server goes away with a call pending; the node answers it later, to nobody */
        tc_send(&c, POWER_CALL(CB_VL_METHOD_POWER_ON, "node1"));
        pump(&f, 10 * USEC_PER_MSEC);
        tc_close(&c);
        fx_done(&f);
}

int main(void) {
        cb_log_open(CB_LOG_STDERR);
        cb_log_set_max_level(LOG_ERR);
        /* a test client that vanished must fail a check, not kill the test */
        signal(SIGPIPE, SIG_IGN);

        test_methods();
        test_framing_on_the_wire();
        test_bad_clients();
        test_client_limit();
        test_slow_reader();
        test_watch_boot_with_retry();
        test_abuse_while_booting();
        test_permission_denied();
        test_socket_path();
        test_client_text_echoed();
        test_board_text_in_json();
        test_power_answered_later();
        return check_exit("test-control-socket");
}
