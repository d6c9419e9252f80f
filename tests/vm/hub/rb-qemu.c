/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * redir-boards: QEMU's side. QMP (QEMU connects to DIR/qmp.sock): plugging
 * hubs and boards in and out (device_add, device_del, chardev-add), the
 * DEVICE_DELETED events, and `info usb` to tell which hub a trace line is
 * about. The trace (DIR/trace.fifo): QEMU's usb-hub only flips its status
 * bits on SET/CLEAR_FEATURE(PORT_POWER) and tells nobody else; its trace
 * events usb_hub_set_port_feature / usb_hub_clear_port_feature ("dev ADDR,
 * port N, feature power") are how this program learns that a port was
 * switched, whoever switched it (the kernel through sysfs, or a hub request
 * through usbfs). ADDR is the hub's USB address, which `info usb` maps to
 * its QEMU port path.
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

#include "rb.h"

#define MAX_PENDING 64
#define MAX_POWER_EVENTS 64
#define LINE_MAX_LEN 65536

struct line_reader {
        char buf[LINE_MAX_LEN];
        size_t len;
};

struct pending {
        uint64_t id;
        rb_qmp_done_t done;
        void *userdata;
};

struct power_event {
        unsigned addr, port;
        bool on;
};

static struct {
        int listen_fd, fd;
        sd_event_source *listen_source, *io_source;
        struct line_reader in;
        bool ready; /* capabilities negotiated */
        uint64_t next_id;
        struct pending pending[MAX_PENDING];
        size_t n_pending;
        /* commands made before QEMU's monitor was ready */
        struct {
                struct json_object *cmd;
                rb_qmp_done_t done;
                void *userdata;
        } queued[MAX_PENDING];
        size_t n_queued;

        int trace_fd;
        sd_event_source *trace_source;
        struct line_reader trace;
        struct power_event events[MAX_POWER_EVENTS];
        size_t n_events;
        bool mapping; /* an `info usb` is in flight */
        size_t n_mapping; /* events it is for */
} q = { .listen_fd = -1, .fd = -1, .trace_fd = -1 };

bool rb_qemu_ready(void) {
        return q.ready;
}

/* Calls `line` for each complete line in r after reading from fd; returns 0, or -1 at EOF/error. */
static int read_lines(int fd, struct line_reader *r, void (*line)(char *)) {
        for (;;) {
                ssize_t n = read(fd, r->buf + r->len, sizeof r->buf - 1 - r->len);
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -1;
                if (n == 0)
                        return -1;
                r->len += (size_t) n;
                char *start = r->buf, *nl;
                while ((nl = memchr(start, '\n', r->len - (size_t) (start - r->buf)))) {
                        *nl = '\0';
                        if (nl > start && nl[-1] == '\r')
                                nl[-1] = '\0';
                        line(start);
                        start = nl + 1;
                }
                r->len -= (size_t) (start - r->buf);
                memmove(r->buf, start, r->len);
                if (r->len == sizeof r->buf - 1)
                        r->len = 0; /* an absurd line: dropped */
        }
}

/* ------------------------------------------------------------------ QMP */

static void send_json(struct json_object *o) {
        char s[8192];
        int n = snprintf(s, sizeof s, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        size_t len, off = 0;

        if (n < 0 || (size_t) n >= sizeof s) {
                rb_log(NULL, "qmp: a command of %d bytes: not sent", n);
                return;
        }
        len = (size_t) n;
        rb_vlog(NULL, "qmp <- %.*s", n - 1, s);
        while (off < len) {
                ssize_t w = write(q.fd, s + off, len - off);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                /* a few hundred bytes to a local socket: does not happen; wait for room */
                                fd_set room;
                                FD_ZERO(&room);
                                FD_SET(q.fd, &room);
                                (void) select(q.fd + 1, NULL, &room, NULL, NULL);
                                continue;
                        }
                        rb_log(NULL, "qmp: write: %s", strerror(errno));
                        return;
                }
                off += (size_t) w;
        }
}

int rb_qmp(struct json_object *cmd, rb_qmp_done_t done, void *userdata) {
        if (q.n_pending >= MAX_PENDING) {
                json_object_put(cmd);
                return -EBUSY;
        }
        if (!q.ready) {
                if (q.n_queued >= MAX_PENDING) {
                        json_object_put(cmd);
                        return -EBUSY;
                }
                q.queued[q.n_queued].cmd = cmd;
                q.queued[q.n_queued].done = done;
                q.queued[q.n_queued].userdata = userdata;
                q.n_queued++;
                return 0;
        }
        uint64_t id = ++q.next_id;
        json_object_object_add(cmd, "id", json_object_new_int64((int64_t) id));
        q.pending[q.n_pending++] = (struct pending){ id, done, userdata };
        send_json(cmd);
        json_object_put(cmd);
        return 0;
}

static struct json_object *command(const char *execute, struct json_object *arguments) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "execute", json_object_new_string(execute));
        if (arguments)
                json_object_object_add(o, "arguments", arguments);
        return o;
}

int rb_qmp_device_add(const char *driver, const char *id, const char *bus_port, const char *extra_key,
                      const char *extra_value, rb_qmp_done_t done, void *userdata) {
        struct json_object *a = json_object_new_object();

        json_object_object_add(a, "driver", json_object_new_string(driver));
        json_object_object_add(a, "id", json_object_new_string(id));
        json_object_object_add(a, "bus", json_object_new_string("xhci.0"));
        json_object_object_add(a, "port", json_object_new_string(bus_port));
        if (extra_key)
                json_object_object_add(a, extra_key, json_object_new_string(extra_value));
        return rb_qmp(command("device_add", a), done, userdata);
}

static void flush_queued(void) {
        size_t n = q.n_queued;

        q.n_queued = 0;
        for (size_t i = 0; i < n; i++)
                (void) rb_qmp(q.queued[i].cmd, q.queued[i].done, q.queued[i].userdata);
}

static void on_capabilities(void *userdata, const char *error, struct json_object *ret) {
        if (error) {
                rb_log(NULL, "qmp_capabilities failed: %s", error);
                return;
        }
        rb_log(NULL, "QMP ready");
}

static void handle_event(struct json_object *o) {
        const char *event = json_object_get_string(json_object_object_get(o, "event"));
        struct json_object *data = json_object_object_get(o, "data");

        rb_vlog(NULL, "qmp event %s", event);
        if (event && strcmp(event, "DEVICE_DELETED") == 0) {
                const char *dev = json_object_get_string(json_object_object_get(data, "device"));
                if (dev)
                        rb_world_device_deleted(dev);
        }
}

static void qmp_line(char *line) {
        struct json_object *o = json_tokener_parse(line), *id, *ret, *err;

        if (!o) {
                rb_log(NULL, "qmp: unparsable line: %.200s", line);
                return;
        }
        rb_vlog(NULL, "qmp -> %.300s", line);
        if (json_object_object_get_ex(o, "QMP", NULL)) {
                /* the greeting: capabilities first, then whatever was queued */
                uint64_t cid = ++q.next_id;
                struct json_object *c = command("qmp_capabilities", NULL);
                json_object_object_add(c, "id", json_object_new_int64((int64_t) cid));
                q.pending[q.n_pending++] = (struct pending){ cid, on_capabilities, NULL };
                q.ready = true; /* commands sent from now on queue behind it in QEMU */
                send_json(c);
                json_object_put(c);
                flush_queued();
        } else if (json_object_object_get_ex(o, "event", NULL)) {
                handle_event(o);
        } else if (json_object_object_get_ex(o, "id", &id)) {
                uint64_t n = (uint64_t) json_object_get_int64(id);
                for (size_t i = 0; i < q.n_pending; i++) {
                        if (q.pending[i].id != n)
                                continue;
                        struct pending p = q.pending[i];
                        memmove(&q.pending[i], &q.pending[i + 1], (q.n_pending - i - 1) * sizeof p);
                        q.n_pending--;
                        const char *error = NULL;
                        if (json_object_object_get_ex(o, "error", &err))
                                error = json_object_get_string(json_object_object_get(err, "desc"));
                        (void) json_object_object_get_ex(o, "return", &ret);
                        if (p.done)
                                p.done(p.userdata, error ? error : NULL, error ? NULL : ret);
                        break;
                }
        }
        json_object_put(o);
}

static int on_qmp_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        if (read_lines(fd, &q.in, qmp_line) < 0) {
                rb_log(NULL, "QEMU closed its monitor: quitting");
                q.io_source = sd_event_source_disable_unref(q.io_source);
                close(q.fd);
                q.fd = -1;
                q.ready = false;
                return sd_event_exit(rb_event, 0);
        }
        return 0;
}

static int on_qmp_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (cfd < 0)
                return 0;
        if (q.fd >= 0) {
                close(cfd); /* one monitor */
                return 0;
        }
        q.fd = cfd;
        q.in.len = 0;
        if (sd_event_add_io(rb_event, &q.io_source, cfd, EPOLLIN, on_qmp_io, NULL) < 0)
                return sd_event_exit(rb_event, 1);
        rb_log(NULL, "QEMU's monitor connected");
        return 0;
}

/* ------------------------------------------------------------------ the trace */

static void apply_power_events(size_t n, struct json_object *map) {
        for (size_t i = 0; i < n && i < q.n_events; i++) {
                struct power_event *e = &q.events[i];
                char key[16];
                struct json_object *port;
                struct rb_hub *h;

                snprintf(key, sizeof key, "%u", e->addr);
                if (!map || !json_object_object_get_ex(map, key, &port)) {
                        rb_log(NULL, "port power %s on port %u of USB device %u: no such device in QEMU now",
                               e->on ? "on" : "off", e->port, e->addr);
                        continue;
                }
                h = rb_hub_by_port(json_object_get_string(port));
                if (!h || e->port < 1 || e->port > RB_HUB_MAX_PORTS) {
                        rb_log(NULL, "port power %s on port %u of %s: not one of our hubs", e->on ? "on" : "off",
                               e->port, json_object_get_string(port));
                        continue;
                }
                if (!h->port_power_switching)
                        continue; /* port-power=off: QEMU ignores the request */
                h->power_events++;
                if (h->port_powered[e->port] != e->on)
                        rb_log(NULL, "hub %s (port %s): port %u switched %s", h->id, h->port, e->port,
                               e->on ? "on" : "off");
                h->port_powered[e->port] = e->on;
        }
        if (n > q.n_events)
                n = q.n_events;
        memmove(q.events, q.events + n, (q.n_events - n) * sizeof q.events[0]);
        q.n_events -= n;
        rb_power_update();
}

static void request_mapping(void);

/* "  Device 0.2, Port 1, Speed 12 Mb/s, Product QEMU USB Hub, ID: hub0" -> {"2": "1"} */
static void on_info_usb(void *userdata, const char *error, struct json_object *ret) {
        struct json_object *map = json_object_new_object();
        const char *text = ret ? json_object_get_string(ret) : NULL;
        size_t n = q.n_mapping;

        q.mapping = false;
        if (error)
                rb_log(NULL, "info usb failed: %s", error);
        for (const char *line = text; line && *line;) {
                const char *end = strchr(line, '\n');
                unsigned bus, addr;
                char port[RB_PORT_LEN];

                if (sscanf(line, " Device %u.%u, Port %23[0-9.],", &bus, &addr, port) == 3) {
                        char key[16];
                        snprintf(key, sizeof key, "%u", addr);
                        json_object_object_add(map, key, json_object_new_string(port));
                }
                line = end ? end + 1 : NULL;
        }
        apply_power_events(n, map);
        json_object_put(map);
        if (q.n_events > 0)
                request_mapping();
}

static void request_mapping(void) {
        struct json_object *a;

        if (q.mapping || q.n_events == 0)
                return;
        a = json_object_new_object();
        json_object_object_add(a, "command-line", json_object_new_string("info usb"));
        q.mapping = true;
        q.n_mapping = q.n_events;
        if (rb_qmp(command("human-monitor-command", a), on_info_usb, NULL) < 0) {
                q.mapping = false;
                rb_log(NULL, "cannot ask QEMU for its USB devices: port power events lost");
                q.n_events = 0;
        }
}

static void trace_line(char *line) {
        const char *set = strstr(line, "usb_hub_set_port_feature ");
        const char *clear = strstr(line, "usb_hub_clear_port_feature ");
        const char *at = set ? set : clear;
        unsigned addr, port;
        char feature[32];

        rb_vlog(NULL, "trace: %s", line);
        if (!at)
                return;
        at = strchr(at, ' ');
        if (!at || sscanf(at, " dev %u, port %u, feature %31s", &addr, &port, feature) != 3)
                return;
        if (strcmp(feature, "power") != 0)
                return;
        if (q.n_events >= MAX_POWER_EVENTS) {
                rb_log(NULL, "too many port power events queued: dropping one");
                return;
        }
        q.events[q.n_events++] = (struct power_event){ addr, port, set != NULL };
        request_mapping();
}

static int on_trace_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void) read_lines(fd, &q.trace, trace_line); /* opened read-write: never EOF */
        return 0;
}

/* ------------------------------------------------------------------ setup */

int rb_listen_unix(const char *path, int *ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        (void) unlink(path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(fd, 4) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        *ret = fd;
        return 0;
}

int rb_qemu_start(void) {
        char path[512];
        int r;

        snprintf(path, sizeof path, "%s/qmp.sock", rb_opt.dir);
        r = rb_listen_unix(path, &q.listen_fd);
        if (r < 0 || sd_event_add_io(rb_event, &q.listen_source, q.listen_fd, EPOLLIN, on_qmp_accept, NULL) < 0) {
                rb_log(NULL, "cannot listen on %s: %s", path, strerror(r < 0 ? -r : ENOMEM));
                return -1;
        }
        snprintf(path, sizeof path, "%s/trace.fifo", rb_opt.dir);
        (void) unlink(path);
        /* read-write: QEMU's open for writing never waits, and its exit is no EOF to spin on */
        if (mkfifo(path, 0600) < 0 || (q.trace_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0 ||
            sd_event_add_io(rb_event, &q.trace_source, q.trace_fd, EPOLLIN, on_trace_io, NULL) < 0) {
                rb_log(NULL, "cannot make the trace fifo %s: %s", path, strerror(errno));
                return -1;
        }
        return 0;
}
