/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Boards and root against a hostile user on the control socket (issue 12):
 * 32 emulated Pi Zeros booted by the real daemon (the umockdev tier's
 * emulated buses and real-size files, as bench-boot), twice in one run:
 *   clean   nothing else on the socket (the baseline);
 *   flood   while an unprivileged user (child processes that setuid() to
 *           nobody) floods the socket: two connections pipelining 1400
 *           GetStatus calls per write and reading the replies as they come,
 *           a connection churner (connect, close, again), and 16 watchers.
 * Both times root asks for the status every ~100 ms (a thread of its own,
 * a new connection per call, as clusterbootctl does) from the plug until
 * every board is up, and for 3 s at least.
 *
 * Prints the boot time (first plug to the last `state up`) both ways and
 * their ratio (target: at most 1.2x), and the latency of root's status
 * calls (median, p99, max; target: at most 100 ms). A benchmark: it asserts
 * nothing about time, but exits 1 if a board does not come up or holds
 * wrong files, or if a status call of root fails.
 *
 * Run as root (CI does); otherwise the flood runs as the invoking user,
 * who is then root's prober too, and the figures say so.
 *
 * usage: bench-flood [N]   (default 32)   Environment: CLUSTERBOOT (daemon path).
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clusterboot/varlink.h"
#include "cluster.h"

#define NOBODY 65534
#define GET_STATUS "{\"method\":\"io.clusterboot.GetStatus\"}"
#define WATCH "{\"method\":\"io.clusterboot.Watch\",\"more\":true}"
#define PIPELINED 1400
#define N_PIPELINERS 2
#define N_WATCHERS 16
#define PROBE_INTERVAL_MS 100
#define MIN_PROBE_MS 3000
#define MAX_PROBES 4096

/* What the flood's children did, in memory they share with the bench. */
struct flood_counts {
        atomic_ulong replies;     /* pipelined replies read */
        atomic_ulong connections; /* churn connections made */
        atomic_ulong events;      /* messages the watchers read */
        atomic_ulong closed;      /* connections the daemon closed or refused */
};

static volatile sig_atomic_t stop;

static void on_term(int sig) {
        stop = 1;
}

static double now_s(void) {
        return (double) g_get_monotonic_time() / 1e6;
}

static int connect_to(const char *path, bool nonblock) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(path);
        int fd;

        if (len >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (nonblock)
                (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        return fd;
}

/* ---- the flood: child processes as nobody ---- */

/* The NULs in what was read: each ends one message. */
static unsigned long count_messages(const char *buf, ssize_t n) {
        unsigned long m = 0;

        for (ssize_t i = 0; i < n; i++)
                m += buf[i] == '\0';
        return m;
}

/* Connections that each write 1400 calls at once, read the replies as they come, and start again. */
static void pipeliner(const char *path, struct flood_counts *counts) {
        size_t one = sizeof GET_STATUS, size = PIPELINED * one;
        char *calls = malloc(size), buf[65536];
        struct {
                int fd;
                size_t sent;
                unsigned long answered;
        } conn[N_PIPELINERS];

        if (!calls)
                _exit(2);
        for (size_t i = 0; i < PIPELINED; i++)
                memcpy(calls + i * one, GET_STATUS, one);
        for (int i = 0; i < N_PIPELINERS; i++)
                conn[i].fd = -1;
        while (!stop) {
                struct pollfd p[N_PIPELINERS];

                for (int i = 0; i < N_PIPELINERS; i++) {
                        if (conn[i].fd < 0) {
                                conn[i].fd = connect_to(path, true);
                                conn[i].sent = 0;
                                conn[i].answered = 0;
                        }
                        p[i] = (struct pollfd){ .fd = conn[i].fd,
                                                .events = POLLIN | (conn[i].sent < size ? POLLOUT : 0) };
                }
                if (poll(p, N_PIPELINERS, 100) < 0)
                        continue;
                for (int i = 0; i < N_PIPELINERS; i++) {
                        if (conn[i].fd < 0)
                                continue;
                        if (p[i].revents & POLLOUT) {
                                ssize_t n = send(conn[i].fd, calls + conn[i].sent, size - conn[i].sent,
                                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                                if (n > 0)
                                        conn[i].sent += (size_t) n;
                        }
                        if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                                ssize_t n = recv(conn[i].fd, buf, sizeof buf, MSG_DONTWAIT);
                                if (n > 0) {
                                        unsigned long m = count_messages(buf, n);
                                        conn[i].answered += m;
                                        atomic_fetch_add(&counts->replies, m);
                                }
                                if (n == 0 || (n < 0 && errno != EAGAIN)) {
                                        atomic_fetch_add(&counts->closed, 1);
                                        close(conn[i].fd);
                                        conn[i].fd = -1;
                                        continue;
                                }
                        }
                        if (conn[i].answered >= PIPELINED) {
                                close(conn[i].fd);
                                conn[i].fd = -1;
                        }
                }
        }
}

/* Connect, close, again: the churn that used to evict other users' clients before their calls were read. */
static void churner(const char *path, struct flood_counts *counts) {
        while (!stop) {
                int fd = connect_to(path, false);
                if (fd >= 0) {
                        atomic_fetch_add(&counts->connections, 1);
                        close(fd);
                }
        }
}

/* Watch connections that read their events; one the daemon closes or refuses is opened again. */
static void watchers(const char *path, struct flood_counts *counts) {
        int fds[N_WATCHERS];
        char buf[65536];

        for (int i = 0; i < N_WATCHERS; i++)
                fds[i] = -1;
        while (!stop) {
                struct pollfd p[N_WATCHERS];

                for (int i = 0; i < N_WATCHERS; i++) {
                        if (fds[i] < 0) {
                                fds[i] = connect_to(path, true);
                                if (fds[i] >= 0 && send(fds[i], WATCH, sizeof WATCH, MSG_NOSIGNAL) < 0) {
                                        close(fds[i]);
                                        fds[i] = -1;
                                }
                        }
                        p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
                }
                if (poll(p, N_WATCHERS, 100) < 0)
                        continue;
                for (int i = 0; i < N_WATCHERS; i++) {
                        if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        ssize_t n = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
                        if (n > 0)
                                atomic_fetch_add(&counts->events, count_messages(buf, n));
                        /* refused (an error, then kept open by the daemon): try again later, not in a spin */
                        if (n > 0 && memmem(buf, (size_t) n, "\"error\"", 7)) {
                                atomic_fetch_add(&counts->closed, 1);
                                close(fds[i]);
                                fds[i] = -1;
                                struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };
                                nanosleep(&pause, NULL);
                        } else if (n == 0 || (n < 0 && errno != EAGAIN)) {
                                atomic_fetch_add(&counts->closed, 1);
                                close(fds[i]);
                                fds[i] = -1;
                        }
                }
        }
}

static pid_t spawn_flooder(void (*fn)(const char *, struct flood_counts *), const char *path,
                           struct flood_counts *counts) {
        pid_t pid;

        fflush(NULL);
        pid = fork();
        if (pid == 0) {
                signal(SIGTERM, on_term);
                signal(SIGPIPE, SIG_IGN);
                if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0))
                        _exit(3);
                fn(path, counts);
                _exit(0);
        }
        return pid;
}

/* ---- root's status calls ---- */

struct prober {
        const char *path;
        atomic_bool stop;
        double latency_ms[MAX_PROBES];
        unsigned n, failed;
        pthread_t thread;
};

/* One status call on a new connection; its latency in ms, or -1 if it failed. */
static double status_call(const char *path) {
        struct timeval tv = { .tv_sec = 10 };
        double t0 = now_s();
        char buf[65536];
        int fd = connect_to(path, false);
        bool done = false;

        if (fd < 0)
                return -1;
        if (getenv("BENCH_FLOOD_TRACE"))
                fprintf(stderr, "connect took %.1f ms\n", (now_s() - t0) * 1000);
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (send(fd, GET_STATUS, sizeof GET_STATUS, MSG_NOSIGNAL) == (ssize_t) sizeof GET_STATUS) {
                bool ok = false;
                for (;;) {
                        ssize_t n = recv(fd, buf, sizeof buf, 0);
                        if (n <= 0)
                                break;
                        if (!ok && memmem(buf, (size_t) n, "\"nodes\"", 7))
                                ok = true;
                        if (memchr(buf, '\0', (size_t) n)) {
                                done = ok;
                                break;
                        }
                }
        }
        close(fd);
        return done ? (now_s() - t0) * 1000 : -1;
}

static void *probe_main(void *userdata) {
        struct prober *p = userdata;

        while (!atomic_load(&p->stop) && p->n < MAX_PROBES) {
                double ms = status_call(p->path);
                struct timespec pause = { .tv_nsec = PROBE_INTERVAL_MS * 1000L * 1000L };

                if (getenv("BENCH_FLOOD_TRACE"))
                        fprintf(stderr, "probe at %.3f: %.1f ms\n", now_s(), ms);
                if (ms < 0)
                        p->failed++;
                else
                        p->latency_ms[p->n++] = ms;
                nanosleep(&pause, NULL);
        }
        return NULL;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

/* The q-th quantile (0..1) of the sorted values, by the nearest rank. */
static double quantile(const double *v, unsigned n, double q) {
        unsigned rank = (unsigned) (q * n + 0.999999);

        if (n == 0)
                return 0;
        return v[rank == 0 ? 0 : MIN(rank, n) - 1];
}

/* ---- one boot of the cluster ---- */

/* For tb_run_until(): the testbed runs (uevents, re-enumerations) for the whole timeout. */
static bool never(tb_testbed *tb, void *userdata) {
        return false;
}

/* Root asks both ways: through the private socket, as clusterbootctl does, and through the public one. */
enum { VIA_PRIVATE, VIA_PUBLIC, N_VIA };
static const char *const via_name[N_VIA] = { "private socket (clusterbootctl)", "public socket" };

struct latency {
        double median_ms, p99_ms, max_ms;
        unsigned probes, failed;
};

struct figures {
        double boot_s;
        struct latency via[N_VIA];
        unsigned long replies, connections, events, closed;
};

static void latency_of(struct prober *p, struct latency *l) {
        qsort(p->latency_ms, p->n, sizeof p->latency_ms[0], cmp_double);
        l->probes = p->n;
        l->failed = p->failed;
        l->median_ms = quantile(p->latency_ms, p->n, 0.5);
        l->p99_ms = quantile(p->latency_ms, p->n, 0.99);
        l->max_ms = p->n ? p->latency_ms[p->n - 1] : 0;
}

static int run(unsigned n, bool flood, struct figures *fig) {
        struct flood_counts *counts = mmap(NULL, sizeof *counts, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                                           -1, 0);
        struct prober *p = calloc(N_VIA, sizeof *p);
        char private_path[sizeof ((struct cluster *) NULL)->sock + sizeof CB_VL_PRIVATE_SUFFIX];
        pid_t kids[3] = { 0 };
        struct cluster c;
        double plugged, last_up = 0;
        int r = 0;

        if (counts == MAP_FAILED || !p)
                return -ENOMEM;
        memset(counts, 0, sizeof *counts);
        cluster_init(&c, n, 1, NULL, NULL);
        cluster_start(&c);
        if (flood) {
                /* BENCH_FLOOD_PARTS: which of p(ipeliner), c(hurner), w(atchers) run; all by default */
                const char *parts = getenv("BENCH_FLOOD_PARTS") ? getenv("BENCH_FLOOD_PARTS") : "pcw";
                if (strchr(parts, 'p'))
                        kids[0] = spawn_flooder(pipeliner, c.sock, counts);
                if (strchr(parts, 'c'))
                        kids[1] = spawn_flooder(churner, c.sock, counts);
                if (strchr(parts, 'w'))
                        kids[2] = spawn_flooder(watchers, c.sock, counts);
                /* the flood is on before the first board arrives */
                tb_run_until(c.tb, never, NULL, 500);
        }
        snprintf(private_path, sizeof private_path, "%s" CB_VL_PRIVATE_SUFFIX, c.sock);
        p[VIA_PRIVATE].path = private_path;
        p[VIA_PUBLIC].path = c.sock;
        for (unsigned v = 0; v < N_VIA; v++)
                CHECK(pthread_create(&p[v].thread, NULL, probe_main, &p[v]) == 0, "cannot start the prober");

        plugged = now_s();
        plug_all(&c);
        for (unsigned i = 1; i <= n; i++) {
                const struct tb_log_line *up = wait_state(&c, i, "up", 300000);
                double t;

                CHECK(up != NULL, "node%u not up (%s)", i, flood ? "flood" : "clean");
                if (!up) {
                        r = -ETIMEDOUT;
                        continue;
                }
                t = daemon_time(up) >= 0 ? daemon_time(up) : (double) up->t_usec / 1e6;
                last_up = MAX(last_up, t);
        }
        fig->boot_s = last_up - plugged;
        /* probe for a while even when the boards were quick: enough calls for the figures */
        while (now_s() - plugged < MIN_PROBE_MS / 1000.0)
                tb_run_until(c.tb, never, NULL, 50);
        for (unsigned v = 0; v < N_VIA; v++) {
                atomic_store(&p[v].stop, true);
                pthread_join(p[v].thread, NULL);
        }

        for (size_t i = 0; i < G_N_ELEMENTS(kids); i++)
                if (kids[i] > 0) {
                        int status = 0;
                        kill(kids[i], SIGTERM);
                        (void) waitpid(kids[i], &status, 0);
                        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a flooder ended with status %d",
                              status);
                }
        for (unsigned v = 0; v < N_VIA; v++) {
                latency_of(&p[v], &fig->via[v]);
                CHECK(p[v].failed == 0, "%u of root's status calls through the %s failed (%s)", p[v].failed,
                      via_name[v], flood ? "flood" : "clean");
        }
        fig->replies = atomic_load(&counts->replies);
        fig->connections = atomic_load(&counts->connections);
        fig->events = atomic_load(&counts->events);
        fig->closed = atomic_load(&counts->closed);
        if (r == 0) {
                check_boards(&c, 0);
                if (failed_now)
                        r = -EPROTO;
        }
        cluster_free(&c);
        munmap(counts, sizeof *counts);
        free(p);
        return r;
}

int main(int argc, char **argv) {
        unsigned n = argc > 1 ? (unsigned) atoi(argv[1]) : 32;
        struct figures clean = { 0 }, flood = { 0 };

        clusterboot = getenv("CLUSTERBOOT");
        if (!clusterboot || n == 0 || n > 64) {
                fprintf(stderr, "usage: CLUSTERBOOT=path bench-flood [N (1..64)]\n");
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        int rc = run(n, false, &clean);
        bool clean_failed = failed_now;
        failed_now = false;
        int rf = run(n, true, &flood);
        printf("bench-flood: %u boards, 9 MB of boot files each, emulated buses; the flood as %s\n", n,
               geteuid() == 0 ? "nobody (uid 65534)" : "the invoking user (not root: no setuid)");
        printf("  flood: %d connections pipelining %d GetStatus calls per write, a churner, %d watchers\n",
               N_PIPELINERS, PIPELINED, N_WATCHERS);
        printf("         %lu pipelined replies read, %lu churn connections, %lu watch messages, %lu closed/refused\n",
               flood.replies, flood.connections, flood.events, flood.closed);
        printf("  boot, first plug to last up:  clean %6.2f s   flood %6.2f s   ratio %.2fx (target <= 1.2x)\n",
               clean.boot_s, flood.boot_s, flood.boot_s / clean.boot_s);
        for (unsigned v = 0; v < N_VIA; v++) {
                const struct latency *lc = &clean.via[v], *lf = &flood.via[v];
                printf("  root's status every %d ms, %s:\n", PROBE_INTERVAL_MS, via_name[v]);
                printf("      clean %3u calls: median %6.1f ms, p99 %6.1f ms, max %6.1f ms\n", lc->probes,
                       lc->median_ms, lc->p99_ms, lc->max_ms);
                printf("      flood %3u calls: median %6.1f ms, p99 %6.1f ms, max %6.1f ms%s\n", lf->probes,
                       lf->median_ms, lf->p99_ms, lf->max_ms, v == VIA_PRIVATE ? " (target <= 100 ms)" : "");
                if (lc->failed + lf->failed > 0)
                        printf("      calls that failed: clean %u, flood %u\n", lc->failed, lf->failed);
        }
        /* the figures above are printed either way; a run whose boards or calls failed fails the benchmark */
        if (rc < 0 || rf < 0 || clean_failed || failed_now) {
                fprintf(stderr, "bench-flood: clean run %s, flood run %s\n", rc < 0 ? g_strerror(-rc) : "ok",
                        rf < 0 ? g_strerror(-rf) : "ok");
                return 1;
        }
        return 0;
}
