/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control server on a real UNIX socket, in-process: real nodes booting
 * emulated boards on the same sd-event loop, clients as plain sockets that
 * the test reads while it steps the loop. Covers the methods, Watch during
 * a boot with a retry, permission (a child process turned into nobody),
 * and every limit: garbage, oversize, half messages, too many clients, a
 * client that stops reading; and fairness (issue 12): a client pipelining
 * calls, a peer that hangs up, one user's watchers, churn and running out
 * of file descriptors, the user a child process turned into nobody.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "check.h"
#include "clusterboot/varlink.h"
#include "control.h"
#include "gadget-info.h"
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
        unsigned summaries; /* GetStatus replies built: each asks for the summary once */
        struct cb_gadget_table *gadgets; /* what "udev" told of the gadgets; NULL: nothing */
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
        ((struct fixture *) userdata)->summaries++;
        snprintf(buf, size, "%zu nodes in the test", ((struct fixture *) userdata)->w.n_ports);
}
static int fx_reload(void *userdata, struct cb_config_report *report) {
        struct fixture *f = userdata;
        f->reloads++;
        return f->reload_result;
}
static const struct cb_gadget_table *fx_gadgets(void *userdata) {
        return ((struct fixture *) userdata)->gadgets;
}
static const struct cb_control_ops fx_ops = {
        .n_nodes = fx_n_nodes,
        .node = fx_node,
        .find_node = fx_find_node,
        .config = fx_config,
        .summary = fx_summary,
        .reload = fx_reload,
        .gadgets = fx_gadgets,
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

/*
 * Connects from the loop's own thread: a blocking connect() to a full
 * backlog (the server keeps it short) would wait for an accept that only
 * this thread can run, so a full backlog is waited out with the loop running.
 */
static void tc_open_path(struct fixture *f, struct tclient *c, const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        usec_t deadline = now_usec() + REPLY_TIMEOUT;

        CHECK(strlen(path) < sizeof sa.sun_path);
        memcpy(sa.sun_path, path, MIN(strlen(path) + 1, sizeof sa.sun_path - 1));
        for (;;) {
                c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                CHECK(c->fd >= 0);
                if (c->fd < 0 || connect(c->fd, (struct sockaddr *) &sa, sizeof sa) == 0)
                        break;
                CHECK_MSG(errno == EAGAIN && now_usec() < deadline, "cannot connect: %s", strerror(errno));
                close(c->fd);
                c->fd = -1;
                if (now_usec() >= deadline)
                        break;
                (void) sd_event_run(f->w.event, 2 * USEC_PER_MSEC);
        }
        if (c->fd >= 0)
                (void) fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
        cb_msgbuf_init(&c->in, CB_VL_REPLY_MAX);
}

static void tc_open(struct fixture *f, struct tclient *c) {
        tc_open_path(f, c, f->path);
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

/*
 * Too many clients, all root's: the one idle the longest makes room. (That
 * watchers filled the table and root was then refused was finding 2 of issue
 * 12; test_watchers_per_uid() checks that nobody's watchers cannot do it.)
 */
static void test_client_limit(void) {
        struct cb_control_settings s = { .max_clients = 4 };
        struct fixture f;
        struct tclient c[5];
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

        for (int i = 0; i < 5; i++)
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
/* Reads one reply (up to its NUL, or until the peer closes or the read times out) into `out`; its length. */
static size_t recv_reply(int fd, char *out, size_t out_size) {
        size_t at = 0;

        while (at + 1 < out_size) {
                ssize_t n = recv(fd, out + at, out_size - at - 1, 0);
                if (n <= 0)
                        break;
                at += (size_t) n;
                if (memchr(out, '\0', at))
                        break;
        }
        out[at] = '\0';
        return at;
}

static int child_call(const char *path, const char *json, char *out, size_t out_size) {
        int fd = connect_to(path);

        if (fd < 0)
                return fd;
        if (send(fd, json, strlen(json) + 1, MSG_NOSIGNAL) < 0)
                return -errno;
        (void) recv_reply(fd, out, out_size);
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
 * The user database seen by the server in this test: the group clusterboot
 * is FAKE_GROUP, and every lookup is counted. The server may look it up when
 * it starts and at a reload, never for a client: NSS can block (LDAP, sssd),
 * and any local user can connect as often as he likes.
 */
#define FAKE_GROUP ((gid_t) 4242)
#define NOBODY 65534
static unsigned nss_lookups;

struct group *getgrnam(const char *name) {
        static char group_name[] = CB_VL_CONTROL_GROUP, password[] = "x";
        static char *members[] = { NULL };
        static struct group g = { .gr_name = group_name, .gr_passwd = password, .gr_mem = members };

        nss_lookups++;
        errno = 0;
        if (strcmp(name, CB_VL_CONTROL_GROUP) != 0)
                return NULL;
        g.gr_gid = FAKE_GROUP;
        return &g;
}

int getgrouplist(const char *user, gid_t group, gid_t *groups, int *ngroups) {
        nss_lookups++;
        return -1;
}

static int reload_as_member(struct fixture *f, int arg) {
        const gid_t group = FAKE_GROUP;
        gid_t *groups = NULL;
        size_t n = 0;
        char out[4096];

        /* in the group by a supplementary group only: neither its uid nor its primary gid says so */
        if (setgroups(1, &group) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
                return 10;
        /* what the fallback without SO_PEERGROUPS would read of this process */
        if (cb_control_peer_groups_from_proc(NULL, getpid(), NOBODY, &groups, &n) < 0 || n != 1 ||
            groups[0] != FAKE_GROUP)
                return 11;
        free(groups);
        if (child_call(f->path, "{\"method\":\"" CB_VL_METHOD_RELOAD "\"}", out, sizeof out) < 0)
                return 12;
        return strstr(out, "\"error\"") ? 13 : 0;
}

static int reload_as_nobody(struct fixture *f, int arg) {
        char out[4096];

        if (child_call(f->path, "{\"method\":\"" CB_VL_METHOD_RELOAD "\"}", out, sizeof out) < 0)
                return 12;
        return strstr(out, "\"error\":\"" CB_VL_ERROR_PERMISSION_DENIED "\"") ? 0 : 13;
}

static pid_t fork_as_nobody(int (*fn)(struct fixture *f, int arg), struct fixture *f, int arg, bool drop);
static int wait_child_pumping(struct fixture *f, pid_t pid, usec_t timeout);

/* The child's exit status, or -1 if it did not exit normally. */
static int child_result(struct fixture *f, pid_t pid) {
        int status = pid > 0 ? wait_child_pumping(f, pid, RUN_TIMEOUT) : -1;

        return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_group_without_lookups(void) {
        struct fixture f;
        unsigned reloads;
        int status;

        if (geteuid() != 0) {
                printf("test-control-socket: not root; the group test runs as root only\n");
                return;
        }
        nss_lookups = 0;
        fx_init(&f, 1, NULL, NULL);
        CHECK_MSG(nss_lookups == 1, "%u lookups when the server started", nss_lookups);
        nss_lookups = 0;
        reloads = f.reloads;

        status = child_result(&f, fork_as_nobody(reload_as_member, &f, 0, false));
        CHECK_MSG(status == 0, "the group's member by a supplementary group: child status %d", status);
        CHECK(f.reloads == reloads + 1);
        status = child_result(&f, fork_as_nobody(reload_as_nobody, &f, 0, true));
        CHECK_MSG(status == 0, "nobody outside the group: child status %d", status);
        CHECK(f.reloads == reloads + 1);
        CHECK_MSG(nss_lookups == 0, "%u user database lookups for two clients", nss_lookups);

        /* a reload (SIGHUP or Reload: the daemon calls this then) looks it up again, once */
        cb_control_reload_group(f.control);
        CHECK(nss_lookups == 1);
        fx_done(&f);
}

/* The gadget of status NODE: what udev's events told, so no sysfs read for a caller (issue 12). */
static void test_status_gadget_from_events(void) {
        static const char devpath[] = "/devices/platform/dummy_hcd.0/usb1/1-1/1-1:1.0/net/node1";
        struct fixture f;
        struct tclient c;
        struct json_object *r, *nodes = NULL, *gadget = NULL, *interfaces = NULL;
        const char *text;

        fx_init(&f, 1, NULL, NULL);
        CHECK(cb_gadget_table_new(&f.gadgets) == 0);
        CHECK(cb_gadget_table_event(f.gadgets, "add", "net", devpath, NULL, "02:12:34:56:78:9a") == 0);
        tc_open(&f, &c);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\",\"parameters\":{\"name\":\"node1\"}}");
        CHECK(r && !reply_error(r));
        CHECK(cb_json_get_array(reply_params(r), CB_VL_FIELD_NODES, &nodes) == 1);
        CHECK(nodes && json_object_array_length(nodes) == 1 &&
              cb_json_get_object(json_object_array_get_idx(nodes, 0), CB_VL_FIELD_GADGET, &gadget) == 1);
        text = gadget ? json_object_to_json_string_ext(gadget, JSON_C_TO_STRING_PLAIN) : "(none)";
        CHECK_MSG(strcmp(text, "{\"interfaces\":[{\"name\":\"node1\",\"mac\":\"02:12:34:56:78:9a\"}],"
                               "\"ttys\":[]}") == 0,
                  "node1's gadget: %s", text);
        json_object_put(r);

        /* the board went: its interface with it */
        CHECK(cb_gadget_table_event(f.gadgets, "remove", "net", devpath, NULL, NULL) == 0);
        r = call(&f, &c, "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\",\"parameters\":{\"name\":\"node1\"}}");
        nodes = gadget = NULL;
        CHECK(r && cb_json_get_array(reply_params(r), CB_VL_FIELD_NODES, &nodes) == 1 && nodes &&
              cb_json_get_object(json_object_array_get_idx(nodes, 0), CB_VL_FIELD_GADGET, &gadget) == 1 &&
              cb_json_get_array(gadget, "interfaces", &interfaces) == 1 && json_object_array_length(interfaces) == 0);
        json_object_put(r);

        tc_close(&c);
        pump_until_no_clients(&f);
        f.gadgets = cb_gadget_table_free(f.gadgets);
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

/* ---- fairness: one client, or one user, cannot take the socket from the others ---- */

/*
 * The most replies one client may get built per loop iteration. The server's
 * budget where it names one; else a bound any fair server stays far below (a
 * server that answers all that one read brings, ~1400 calls, does not).
 */
#ifdef CB_CONTROL_CALLS_PER_WAKEUP
#define REPLIES_PER_ITERATION CB_CONTROL_CALLS_PER_WAKEUP
#else
#define REPLIES_PER_ITERATION 64
#endif


/* Bytes the server sent that c has not read yet. */
static size_t tc_unread(struct tclient *c) {
        int n = 0;

        CHECK(ioctl(c->fd, SIOCINQ, &n) == 0);
        return n > 0 ? (size_t) n : 0;
}

/* A call written `n` times in one buffer (each with its NUL), as a pipelining client sends them. */
static char *repeated_calls(const char *json, size_t n, size_t *ret_size) {
        size_t one = strlen(json) + 1;
        char *buf = malloc(n * one);

        CHECK(buf != NULL);
        for (size_t i = 0; buf && i < n; i++)
                memcpy(buf + i * one, json, one);
        *ret_size = n * one;
        return buf;
}

#define GET_STATUS "{\"method\":\"" CB_VL_METHOD_GET_STATUS "\"}"
/* with its NUL: sizeof is what goes on the socket */
#define WATCH_CALL "{\"method\":\"" CB_VL_METHOD_WATCH "\",\"more\":true}"
#define GET_INFO "{\"method\":\"" CB_VL_METHOD_GET_INFO "\"}"

/*
 * Finding 1 of issue 12, reply amplification: a client writes 1400 GetStatus
 * calls (53 KB) at once and does not read. At most a budget of replies is
 * built for it per loop iteration; its replies queued in the daemon (built
 * minus what reached its socket) never pass the output limit, so it is paused,
 * not dropped, and gets every reply once it reads; a call of another client in
 * the same loop is answered after a few budgets of the flood, not after all of it.
 */
static void test_pipelined_flood(void) {
        enum { N_NODES = 16, N_CALLS = 1400, MAX_ITERATIONS = 200000 };
        struct fixture f;
        struct tclient flood, good;
        static unsigned built[MAX_ITERATIONS];
        static size_t consumed[MAX_ITERATIONS];
        static size_t sizes[N_CALLS];
        size_t n_sizes = 0, current = 0, read_bytes = 0, size = 0, max_queued = 0, max_reply = 0;
        unsigned max_per_iteration = 0, quiet = 0, iterations = 0;
        int good_at = -1;
        unsigned built_before_good = 0;
        bool reading = false, closed = false;
        char buf[65536];

        fx_init(&f, N_NODES, NULL, NULL);
        tc_open(&f, &flood);
        tc_open(&f, &good);
        pump(&f, 5 * USEC_PER_MSEC);

        _cleanup_free_ char *calls = repeated_calls(GET_STATUS, N_CALLS, &size);
        tc_send_raw(&flood, calls, size);
        tc_send(&good, GET_INFO);

        usec_t deadline = now_usec() + 60 * USEC_PER_SEC;
        for (unsigned k = 0; k < MAX_ITERATIONS && n_sizes < N_CALLS && !closed && now_usec() < deadline; k++) {
                unsigned before = f.summaries;

                (void) sd_event_run(f.w.event, USEC_PER_MSEC);
                iterations = k + 1;
                built[k] = f.summaries;
                max_per_iteration = MAX(max_per_iteration, f.summaries - before);
                consumed[k] = read_bytes + tc_unread(&flood);
                if (good_at < 0 && recv(good.fd, buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK) > 0) {
                        good_at = (int) k;
                        built_before_good = f.summaries;
                }
                /* first the flood does not read, until the server stops building; then it reads all */
                if (!reading) {
                        quiet = f.summaries == before ? quiet + 1 : 0;
                        reading = quiet >= 50;
                        continue;
                }
                for (;;) {
                        ssize_t n = recv(flood.fd, buf, sizeof buf, MSG_DONTWAIT);
                        if (n == 0 || (n < 0 && errno != EAGAIN)) {
                                closed = true;
                                break;
                        }
                        if (n < 0)
                                break;
                        read_bytes += (size_t) n;
                        for (ssize_t i = 0; i < n; i++) {
                                current++;
                                if (buf[i] == '\0' && n_sizes < N_CALLS) {
                                        sizes[n_sizes++] = current;
                                        max_reply = MAX(max_reply, current);
                                        current = 0;
                                }
                        }
                }
        }
        /* what was queued in the daemon after each iteration: the bytes of the replies built so far, less
         * what had reached the flood's socket (read, or waiting there) */
        for (unsigned k = 0, at = 0; k < iterations; k++) {
                static size_t prefix;
                if (k == 0)
                        prefix = 0;
                for (; at < built[k] && at < n_sizes; at++)
                        prefix += sizes[at];
                if (built[k] <= n_sizes)
                        max_queued = MAX(max_queued, prefix - MIN(prefix, consumed[k]));
        }

        CHECK_MSG(!closed && n_sizes == N_CALLS, "the pipelining client got %zu of %d replies, then %s", n_sizes,
                  N_CALLS, closed ? "was dropped" : "nothing more");
        CHECK_MSG(max_per_iteration <= REPLIES_PER_ITERATION,
                  "%u replies built for one client in one loop iteration (at most %d)", max_per_iteration,
                  REPLIES_PER_ITERATION);
        CHECK_MSG(max_queued <= CB_CONTROL_MAX_OUTPUT, "%zu bytes queued for one client (the limit is %u)", max_queued,
                  CB_CONTROL_MAX_OUTPUT);
#ifdef CB_CONTROL_OUTPUT_HIGH_WATER
        /* the budget is looked at before each reply: one reply past it at most */
        CHECK_MSG(max_queued <= CB_CONTROL_OUTPUT_HIGH_WATER + max_reply, "%zu bytes queued (high water %u + %zu)",
                  max_queued, CB_CONTROL_OUTPUT_HIGH_WATER, max_reply);
#endif
        /* a few budgets (iterations differ under valgrind), not the 1400 of one read */
        CHECK_MSG(good_at >= 0 && built_before_good <= 8 * REPLIES_PER_ITERATION,
                  "the other client's call was answered at iteration %d, after %u replies of the flood", good_at,
                  built_before_good);
        printf("test-control-socket: flood of %d calls: %u iterations, at most %u replies per iteration, at most "
               "%zu bytes queued (replies of %zu bytes); the other client answered at iteration %d\n",
               N_CALLS, iterations, max_per_iteration, max_queued, max_reply, good_at);

        tc_close(&flood);
        tc_close(&good);
        pump_until_no_clients(&f);
        fx_done(&f);
}

/*
 * A half-closed flooder: it pipelines calls, shuts its sending side
 * (shutdown(SHUT_WR): no hangup, it could still read) and never reads.
 * Its queue stops at the high water, and once it has taken nothing for the
 * stall timeout it is dropped, its slot freed; a client beside it is
 * answered throughout. Without the timeout it held its slot for ever.
 */
static void test_half_closed_flooder(void) {
        enum { N_NODES = 8, N_CALLS = 1400 };
        struct cb_control_settings s = { .stall_timeout = 200 * USEC_PER_MSEC };
        struct fixture f;
        struct tclient flood, good;
        struct json_object *r;
        size_t size = 0, got = 0, current = 0, min_reply = SIZE_MAX, max_reply = 0;
        bool eof = false;
        char buf[65536];

        fx_init(&f, N_NODES, NULL, &s);
        tc_open(&f, &flood);
        tc_open(&f, &good);
        pump(&f, 5 * USEC_PER_MSEC);
        _cleanup_free_ char *calls = repeated_calls(GET_STATUS, N_CALLS, &size);
        tc_send_raw(&flood, calls, size);
        CHECK(shutdown(flood.fd, SHUT_WR) == 0);

        /* bounded only against a hang: the drop is waited for, however slow the machine */
        usec_t deadline = now_usec() + 20 * USEC_PER_SEC;
        while (cb_control_n_clients(f.control) == 2 && now_usec() < deadline)
                (void) sd_event_run(f.w.event, 10 * USEC_PER_MSEC);
        CHECK_MSG(cb_control_n_clients(f.control) == 1, "the half-closed client that reads nothing still holds its slot");
        unsigned built = f.summaries;
        CHECK_MSG(built < N_CALLS, "all %u calls answered for a client that reads none", built);

        /* what reached its socket before the drop is there to read, then the end */
        while (!eof && now_usec() < deadline) {
                ssize_t n = recv(flood.fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n > 0) {
                        for (ssize_t i = 0; i < n; i++, current++)
                                if (buf[i] == '\0') {
                                        got++;
                                        min_reply = MIN(min_reply, current + 1);
                                        max_reply = MAX(max_reply, current + 1);
                                        current = 0;
                                }
                        continue;
                }
                eof = n == 0 || errno != EAGAIN;
                if (!eof)
                        (void) sd_event_run(f.w.event, 2 * USEC_PER_MSEC);
        }
        CHECK_MSG(eof, "the dropped client's socket was not closed");
        CHECK_MSG(got > 0 && got <= built, "%zu replies read, %u built", got, built);
        /* the replies built that never reached it were its queue: the high water and one reply past it */
        CHECK_MSG(got == 0 || (built - got) * min_reply <= CB_CONTROL_OUTPUT_HIGH_WATER + 2 * max_reply,
                  "%zu replies of %zu-%zu bytes were queued for it", built - got, min_reply, max_reply);

        r = call(&f, &good, GET_INFO);
        CHECK(r && !reply_error(r));
        json_object_put(r);
        printf("test-control-socket: half-closed flooder: %u of %d calls answered, %zu reached it, then dropped\n",
               built, N_CALLS, got);

        tc_close(&flood);
        tc_close(&good);
        pump_until_no_clients(&f);
        fx_done(&f);
}

/*
 * Finding 1, the rest: a peer that wrote calls and hung up (both ways: close())
 * gets no reply built, nor one that hangs up in the middle of its flood beyond
 * the few wakeups before the hangup is seen.
 */
static void test_hangup_drops_calls(void) {
        struct fixture f;
        struct tclient q;
        size_t size = 0;
        unsigned before;

        fx_init(&f, 4, NULL, NULL);
        _cleanup_free_ char *calls = repeated_calls(GET_STATUS, 200, &size);
        tc_open(&f, &q);
        pump(&f, 5 * USEC_PER_MSEC);
        before = f.summaries;
        tc_send_raw(&q, calls, size);
        tc_close(&q);
        pump_until_no_clients(&f);
        CHECK_MSG(f.summaries == before, "%u replies built for a peer that had hung up", f.summaries - before);

        free(calls);
        calls = repeated_calls(GET_STATUS, 1400, &size);
        tc_open(&f, &q);
        pump(&f, 5 * USEC_PER_MSEC);
        before = f.summaries;
        tc_send_raw(&q, calls, size);
        for (int i = 0; i < 3; i++)
                (void) sd_event_run(f.w.event, 0);
        tc_close(&q);
        pump_until_no_clients(&f);
        CHECK_MSG(f.summaries - before <= 4 * REPLIES_PER_ITERATION,
                  "%u replies built for a peer that hung up after 3 loop iterations", f.summaries - before);
        CHECK(cb_control_n_clients(f.control) == 0);
        fx_done(&f);
}

/* The parent's ends of the pipes to a child: closed in the child, so that it sees the parent's EOF. */
static int parent_ends[2] = { -1, -1 };

/* Runs fn(arg) in a child process, as nobody (no groups) if `drop`; its return value is the exit status. */
static pid_t fork_as_nobody(int (*fn)(struct fixture *f, int arg), struct fixture *f, int arg, bool drop) {
        pid_t pid;

        fflush(NULL);
        pid = fork();
        if (pid == 0) {
                struct rlimit rl;

                for (size_t i = 0; i < ELEMENTSOF(parent_ends); i++)
                        if (parent_ends[i] >= 0)
                                close(parent_ends[i]);
                /* the daemon's side may run with fewer descriptors; this side does not */
                if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                        rl.rlim_cur = rl.rlim_max;
                        (void) setrlimit(RLIMIT_NOFILE, &rl);
                }
                if (drop && (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0))
                        _exit(100);
                _exit(fn(f, arg));
        }
        CHECK(pid > 0);
        return pid;
}

/* The loop runs until the child exits (or `timeout`); its wait status, -1 on timeout (then it is killed). */
static int wait_child_pumping(struct fixture *f, pid_t pid, usec_t timeout) {
        int status = 0;

        for (usec_t deadline = now_usec() + timeout; now_usec() < deadline;) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        return status;
                (void) sd_event_run(f->w.event, 2 * USEC_PER_MSEC);
        }
        kill(pid, SIGKILL);
        (void) waitpid(pid, &status, 0);
        return -1;
}

/* The loop runs until fd is readable (or `timeout`). */
static bool pump_until_readable(struct fixture *f, int fd, usec_t timeout) {
        for (usec_t deadline = now_usec() + timeout; now_usec() < deadline;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, 0) > 0)
                        return true;
                (void) sd_event_run(f->w.event, 2 * USEC_PER_MSEC);
        }
        return false;
}

/* The child's end of two pipes: it reports on `report_fd`, then waits for a byte (or EOF) on `go_fd`. */
static int report_fd = -1, go_fd = -1;

struct watch_counts {
        int watching, refused, closed;
};

/* In the child: `n` connections, each calling Watch, all kept open until the parent says go. */
static int many_watchers(struct fixture *f, int n) {
        struct watch_counts counts = { 0 };
        struct timeval tv = { .tv_sec = 10 };
        char out[8192], go;

        for (int i = 0; i < n; i++) {
                int fd = connect_to(f->path);
                size_t at = 0;

                if (fd < 0)
                        return 11;
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                if (send(fd, WATCH_CALL, sizeof WATCH_CALL, MSG_NOSIGNAL) != sizeof WATCH_CALL) {
                        counts.closed++;
                        continue;
                }
                at = recv_reply(fd, out, sizeof out);
                if (at == 0 || !memchr(out, '\0', at + 1))
                        counts.closed++;
                else if (strstr(out, "\"continues\":true"))
                        counts.watching++;
                else
                        counts.refused++;
        }
        if (write(report_fd, &counts, sizeof counts) != sizeof counts)
                return 12;
        if (read(go_fd, &go, 1) < 0)
                return 13;
        return 0;
}

/* The child's report pipe and the parent's go-ahead: the child's ends in report_fd and go_fd. */
static void child_pipes(int report[2], int go[2]) {
        CHECK(pipe2(report, O_CLOEXEC) == 0 && pipe2(go, O_CLOEXEC) == 0);
        report_fd = report[1];
        go_fd = go[0];
        parent_ends[0] = report[0];
        parent_ends[1] = go[1];
}

/*
 * Finding 2, watchers lock everyone out: nobody opens 140 Watch connections
 * (more than the whole table); it gets no more watchers than a user may have,
 * and root's status and reload (systemctl reload) are still answered while
 * they are open.
 */
static void test_watchers_per_uid(void) {
        enum { N_WATCH = CB_CONTROL_MAX_CLIENTS + 12 };
        struct fixture f;
        struct tclient root;
        struct json_object *r;
        struct watch_counts counts = { -1, -1, -1 };
        int report[2], go[2];

        if (geteuid() != 0) {
                printf("test-control-socket: not root; the per-user watcher test (a child as nobody) is skipped\n");
                return;
        }
        fx_init(&f, 1, NULL, NULL);
        child_pipes(report, go);
        pid_t pid = fork_as_nobody(many_watchers, &f, N_WATCH, true);
        close(report[1]);
        close(go[0]);
        CHECK_MSG(pump_until_readable(&f, report[0], 60 * USEC_PER_SEC), "the watchers' child did not report");
        CHECK(read(report[0], &counts, sizeof counts) == sizeof counts);

        tc_open(&f, &root);
        r = call(&f, &root, GET_STATUS);
        CHECK_MSG(r && !reply_error(r), "root's status while nobody watches: %s",
                  r ? json_object_to_json_string(r) : "no reply (refused)");
        json_object_put(r);
        unsigned reloads = f.reloads;
        r = call(&f, &root, "{\"method\":\"" CB_VL_METHOD_RELOAD "\"}");
        CHECK_MSG(r && !reply_error(r) && f.reloads == reloads + 1, "root's reload while nobody watches: %s",
                  r ? json_object_to_json_string(r) : "no reply (refused)");
        json_object_put(r);
        CHECK_MSG(counts.watching >= 1 && counts.watching < CB_CONTROL_MAX_CLIENTS,
                  "nobody got %d watchers of %d (%d refused, %d closed)", counts.watching, N_WATCH, counts.refused,
                  counts.closed);
#ifdef CB_CONTROL_MAX_WATCHERS_PER_UID
        CHECK_MSG(counts.watching == CB_CONTROL_MAX_WATCHERS_PER_UID, "nobody got %d watchers, not %d",
                  counts.watching, CB_CONTROL_MAX_WATCHERS_PER_UID);
        /* nobody's connections, and root's */
        CHECK(cb_control_n_clients(f.control) <= CB_CONTROL_MAX_CLIENTS_PER_UID + 1);
#endif
        printf("test-control-socket: nobody's %d Watch calls: %d watching, %d refused, %d closed\n", N_WATCH,
               counts.watching, counts.refused, counts.closed);

        close(go[1]);
        int status = wait_child_pumping(&f, pid, 30 * USEC_PER_SEC);
        CHECK_MSG(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "watchers' child: status %d", status);
        close(report[0]);
        parent_ends[0] = parent_ends[1] = -1;
        tc_close(&root);
        pump_until_no_clients(&f);
        fx_done(&f);
}

/* In the child: `n` connections opened and closed at once (non-blocking: a full backlog ends it early). */
static int churn(struct fixture *f, int n) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(f->path);

        if (len >= sizeof sa.sun_path)
                return 10;
        memcpy(sa.sun_path, f->path, len + 1);
        for (int i = 0; i < n; i++) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (n < 1000 ? SOCK_NONBLOCK : 0), 0);

                if (fd < 0)
                        return 11;
                int r = connect(fd, (struct sockaddr *) &sa, sizeof sa);
                close(fd);
                if (r < 0 && errno == EAGAIN)
                        break;
        }
        return 0;
}

/*
 * Finding 3, connection churn: root connects and sends its call; before the
 * loop reads it, nobody opens and closes 300 connections. Root is not
 * evicted and gets its answer. Then nobody reconnects 1000 times while root
 * asks for its status 20 times, each on a new connection: every one answered.
 */
static void test_churn_keeps_root(void) {
        struct fixture f;
        struct tclient root;
        struct json_object *r;
        bool closed = false;
        int status = 0;

        if (geteuid() != 0) {
                printf("test-control-socket: not root; the churn test (a child as nobody) is skipped\n");
                return;
        }
        fx_init(&f, 2, NULL, NULL);
        /* root first in the backlog, its call sent, then the whole burst, all before the loop runs again */
        tc_open(&f, &root);
        tc_send(&root, GET_STATUS);
        pid_t pid = fork_as_nobody(churn, &f, 300, true);
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        r = tc_receive(&f, &root, &closed);
        CHECK_MSG(r && !reply_error(r), "root's waiting call after nobody's burst of connections: %s",
                  r ? json_object_to_json_string(r) : closed ? "evicted" : "no reply");
        json_object_put(r);
        tc_close(&root);

        pid = fork_as_nobody(churn, &f, 1000, true);
        unsigned answered = 0;
        for (int i = 0; i < 20; i++) {
                tc_open(&f, &root);
                r = call(&f, &root, GET_STATUS);
                answered += r && !reply_error(r);
                json_object_put(r);
                tc_close(&root);
                pump(&f, USEC_PER_MSEC);
        }
        status = wait_child_pumping(&f, pid, 30 * USEC_PER_SEC);
        CHECK_MSG(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "churn child: status %d", status);
        CHECK_MSG(answered == 20, "%u of 20 status calls answered while nobody reconnected 1000 times", answered);
        pump_until_no_clients(&f);
        fx_done(&f);
}

static void private_path(const struct fixture *f, char *buf, size_t size) {
        snprintf(buf, size, "%s" CB_VL_PRIVATE_SUFFIX, f->path);
}

/* In the child (nobody): 0 if the private socket refuses it at connect (the file's mode), else why not. */
static int private_connect_refused(struct fixture *f, int unused) {
        char path[sizeof f->path + sizeof CB_VL_PRIVATE_SUFFIX];
        int fd;

        private_path(f, path, sizeof path);
        fd = connect_to(path);
        if (fd >= 0)
                return 11;
        return fd == -EACCES ? 0 : 12;
}

/* In the child (nobody), the private socket's mode loosened by hand: 0 if its call is refused there. */
static int private_call_refused(struct fixture *f, int unused) {
        char path[sizeof f->path + sizeof CB_VL_PRIVATE_SUFFIX], out[4096] = "";

        private_path(f, path, sizeof path);
        int fd = connect_to(path);
        if (fd < 0)
                return 11;
        /* the refusal may come before the call is sent (then the send fails): it is read either way */
        (void) send(fd, GET_STATUS, sizeof GET_STATUS, MSG_NOSIGNAL);
        (void) recv_reply(fd, out, sizeof out);
        close(fd);
        return strstr(out, "\"error\":\"" CB_VL_ERROR_PERMISSION_DENIED "\"") && !strstr(out, "\"nodes\"") ? 0 : 12;
}

/*
 * The private socket: beside the public one, 0660 in the control group, so
 * nobody's connect() is refused by the kernel and nobody's connections
 * (1000 of them, churning the public socket's short queue) never come
 * before root's there; served above the boards. Removed when the server
 * goes.
 */
static void test_private_socket(void) {
        char path[sizeof ((struct fixture *) NULL)->path + sizeof CB_VL_PRIVATE_SUFFIX];
        struct fixture f;
        struct tclient root;
        struct stat st;
        unsigned answered = 0;
        int status;

        if (geteuid() != 0) {
                printf("test-control-socket: not root; the private socket test (a child as nobody) is skipped\n");
                return;
        }
        fx_init(&f, 2, NULL, NULL);
        private_path(&f, path, sizeof path);
        CHECK_MSG(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0660 &&
                          st.st_gid == FAKE_GROUP,
                  "private socket %s: mode %o, group %u", path, (unsigned) st.st_mode, (unsigned) st.st_gid);
        CHECK(child_result(&f, fork_as_nobody(private_connect_refused, &f, 0, true)) == 0);

        pid_t pid = fork_as_nobody(churn, &f, 1000, true);
        for (int i = 0; i < 20; i++) {
                struct json_object *r;

                tc_open_path(&f, &root, path);
                r = call(&f, &root, GET_STATUS);
                answered += r && !reply_error(r) && json_object_object_get_ex(r, "parameters", NULL);
                json_object_put(r);
                tc_close(&root);
                pump(&f, USEC_PER_MSEC);
        }
        status = wait_child_pumping(&f, pid, 30 * USEC_PER_SEC);
        CHECK_MSG(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "churn child: status %d", status);
        CHECK_MSG(answered == 20, "%u of 20 status calls on the private socket answered while nobody churned", answered);

        CHECK(chmod(path, 0666) == 0);
        CHECK(child_result(&f, fork_as_nobody(private_call_refused, &f, 0, true)) == 0);
        pump_until_no_clients(&f);
        fx_done(&f);
        CHECK_MSG(access(path, F_OK) < 0 && errno == ENOENT, "%s left behind", path);
}

/* In the child: `n` idle connections, kept until the parent says go. */
static int idle_connections(struct fixture *f, int n) {
        int opened = 0;
        char go;

        for (int i = 0; i < n; i++)
                opened += connect_to(f->path) >= 0;
        if (write(report_fd, &opened, sizeof opened) != sizeof opened)
                return 12;
        if (read(go_fd, &go, 1) < 0)
                return 13;
        return 0;
}

/* In the child (root): one status call, answered within 10 s. */
static int one_status(struct fixture *f, int unused) {
        char out[65536];
        int fd = connect_to(f->path);
        struct timeval tv = { .tv_sec = 10 };

        if (fd < 0)
                return 11;
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (send(fd, GET_STATUS, sizeof GET_STATUS, MSG_NOSIGNAL) != sizeof GET_STATUS)
                return 12;
        (void) recv_reply(fd, out, sizeof out);
        return strstr(out, "\"nodes\"") && !strstr(out, "\"error\"") ? 0 : 13;
}

/* The RLIMIT_NOFILE under which this process has exactly `n` descriptors free (new ones are below it). */
static rlim_t limit_leaving_free(int n) {
        static bool open_fd[65536];
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        int free_below = 0, limit = 0;

        CHECK(d != NULL);
        memset(open_fd, 0, sizeof open_fd);
        while (d && (e = readdir(d)))
                if (atoi(e->d_name) > 0 && atoi(e->d_name) < (int) ELEMENTSOF(open_fd))
                        open_fd[atoi(e->d_name)] = true;
        if (d)
                closedir(d);
        open_fd[0] = open_fd[1] = open_fd[2] = true;
        for (; limit < (int) ELEMENTSOF(open_fd) && free_below < n; limit++)
                free_below += !open_fd[limit];
        return (rlim_t) limit;
}

/*
 * Out of file descriptors (RLIMIT_NOFILE low, nobody's idle connections take
 * what is left): root still gets in, and is answered.
 */
static void test_out_of_fds(void) {
        struct fixture f;
        struct rlimit saved, low;
        int report[2], go[2], opened = -1;

        if (geteuid() != 0) {
                printf("test-control-socket: not root; the file descriptor test (a child as nobody) is skipped\n");
                return;
        }
        /* valgrind keeps descriptors of its own under the limit and virtualises RLIMIT_NOFILE */
        if (getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "vgpreload")) {
                printf("test-control-socket: under valgrind; the file descriptor test is skipped\n");
                return;
        }
        fx_init(&f, 1, NULL, NULL);
        child_pipes(report, go);
        CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
        low = saved;
        low.rlim_cur = limit_leaving_free(20);
        CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);

        pid_t pid = fork_as_nobody(idle_connections, &f, 60, true);
        close(report[1]);
        close(go[0]);
        CHECK_MSG(pump_until_readable(&f, report[0], 30 * USEC_PER_SEC), "the idle clients' child did not report");
        CHECK(read(report[0], &opened, sizeof opened) == sizeof opened && opened == 60);
        pump(&f, 300 * USEC_PER_MSEC);
        printf("test-control-socket: %zu clients connected with the descriptors at their limit (%u)\n",
               cb_control_n_clients(f.control), (unsigned) low.rlim_cur);

        pid_t asker = fork_as_nobody(one_status, &f, 0, false);
        int status = wait_child_pumping(&f, asker, 20 * USEC_PER_SEC);
        CHECK_MSG(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "root's status call with the descriptors taken by idle clients: status %d", status);

        CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
        close(go[1]);
        status = wait_child_pumping(&f, pid, 30 * USEC_PER_SEC);
        CHECK_MSG(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "idle clients' child: status %d",
                  status);
        close(report[0]);
        parent_ends[0] = parent_ends[1] = -1;
        pump_until_no_clients(&f);
        fx_done(&f);
}

int main(void) {
        cb_log_open(CB_LOG_STDERR);
        cb_log_set_max_level(getenv("CB_TEST_VERBOSE") ? LOG_DEBUG : LOG_ERR);
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
        test_group_without_lookups();
        test_socket_path();
        test_client_text_echoed();
        test_status_gadget_from_events();
        test_board_text_in_json();
        test_power_answered_later();
        test_pipelined_flood();
        test_hangup_drops_calls();
        test_half_closed_flooder();
        test_watchers_per_uid();
        test_churn_keeps_root();
        test_private_socket();
        test_out_of_fds();
        return check_exit("test-control-socket");
}
