/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-board log limits (issue 12): the limit on its own, with times the test
 * chooses; then real nodes, one of whose boards asks for a refused name a
 * thousand times: its lines stop at the burst and one line says how many
 * were left out, while the other board's first refusal and every state
 * change of both are still logged.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "log-ratelimit.h"
#include "log.h"
#include "text.h"
#include "world.h"

#define RUN_TIMEOUT (60 * USEC_PER_SEC)
#define N_REFUSED 1000

struct reports {
        unsigned calls, total;
        int priority;
};

static void on_report(void *userdata, unsigned suppressed, int priority) {
        struct reports *r = userdata;

        r->calls++;
        r->total += suppressed;
        r->priority = priority;
}

static void test_window(void) {
        const usec_t t0 = 5 * USEC_PER_SEC, interval = 10 * USEC_PER_SEC;
        struct cb_log_ratelimit rl;
        struct reports rep = { 0 };
        unsigned passed = 0;

        cb_log_ratelimit_init(&rl, interval, 3, NULL, on_report, &rep);
        for (unsigned i = 0; i < 10; i++)
                passed += cb_log_ratelimit_test_at(&rl, t0 + i, i == 5 ? LOG_WARNING : LOG_INFO);
        CHECK_MSG(passed == 3, "%u of 10 lines passed a burst of 3", passed);
        CHECK(rep.calls == 0); /* told at the window's end, not line by line */

        /* the next window: the count comes first, once, with the most severe priority left out */
        CHECK(cb_log_ratelimit_test_at(&rl, t0 + interval, LOG_INFO));
        CHECK_MSG(rep.calls == 1 && rep.total == 7, "%u reports of %u lines", rep.calls, rep.total);
        CHECK(rep.priority == LOG_WARNING);
        CHECK(cb_log_ratelimit_test_at(&rl, t0 + interval + 1, LOG_INFO));
        CHECK(cb_log_ratelimit_test_at(&rl, t0 + interval + 2, LOG_INFO));
        CHECK(!cb_log_ratelimit_test_at(&rl, t0 + interval + 3, LOG_INFO));

        /* a flush tells what is counted and the window goes on; done tells the rest */
        cb_log_ratelimit_flush(&rl);
        CHECK(rep.calls == 2 && rep.total == 8);
        cb_log_ratelimit_flush(&rl);
        CHECK(rep.calls == 2);
        CHECK(!cb_log_ratelimit_test_at(&rl, t0 + interval + 4, LOG_INFO));
        cb_log_ratelimit_done(&rl);
        CHECK(rep.calls == 3 && rep.total == 9);
}

/* The end of the window comes from the loop's timer: a source that fell silent still has its count told. */
static void test_timer_reports(void) {
        struct cb_log_ratelimit rl;
        struct reports rep = { 0 };
        sd_event *e = NULL;

        REQUIRE(sd_event_new(&e) >= 0);
        cb_log_ratelimit_init(&rl, 50 * USEC_PER_MSEC, 2, e, on_report, &rep);
        for (unsigned i = 0; i < 5; i++)
                (void) cb_log_ratelimit_test(&rl, LOG_WARNING);
        for (usec_t end = now_usec() + 10 * USEC_PER_SEC; rep.calls == 0 && now_usec() < end;)
                (void) sd_event_run(e, 10 * USEC_PER_MSEC);
        CHECK_MSG(rep.calls == 1 && rep.total == 3, "%u reports of %u lines", rep.calls, rep.total);
        cb_log_ratelimit_done(&rl);
        CHECK(rep.calls == 1);
        sd_event_unref(e);
}

/* Counts the lines of `text` that contain every one of the given strings. */
static unsigned count_lines(const char *text, const char *a, const char *b) {
        unsigned n = 0;

        for (const char *line = text; *line;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t) (end - line) : strlen(line);
                _cleanup_free_ char *l = strndup(line, len);

                if (l && strstr(l, a) && (!b || strstr(l, b)))
                        n++;
                line += len + (end != NULL);
        }
        return n;
}

/* What the summary lines of `who` say were left out, added up. */
static unsigned suppressed_count(const char *text, const char *who) {
        unsigned total = 0;

        for (const char *p = text; (p = strstr(p, who)); p++) {
                const char *eol = strchr(p, '\n');
                const char *m = strstr(p, ": ");
                unsigned n;

                if (m && (!eol || m < eol) && sscanf(m + 2, "%u more line", &n) == 1 &&
                    strstr(m, "caused by the board's requests") && (!eol || strstr(m, "caused by") < eol))
                        total += n;
        }
        return total;
}

static char *read_all(int fd) {
        struct stat st;
        char *buf;

        if (fstat(fd, &st) < 0 || !(buf = calloc(1, (size_t) st.st_size + 1)))
                return NULL;
        if (pread(fd, buf, (size_t) st.st_size, 0) != st.st_size) {
                free(buf);
                return NULL;
        }
        return buf;
}

/*
 * A reason longer than the old 2048-byte line buffer (a path, another
 * reason, a board's name in it): the line carries all of it, its errno
 * text at the end, as valid UTF-8. The old buffer cut it mid-character and
 * dropped the errno without a sign.
 */
static void test_long_line(void) {
        char log_path[] = "/tmp/test-log-long-XXXXXX";
        _cleanup_free_ char *reason = malloc(3 * 1200 + 1);
        struct cb_log_node who = { .name = "node-with-a-long-name", .port = "1-1.2.3.4" };

        REQUIRE(reason);
        for (size_t i = 0; i < 1200; i++)
                memcpy(reason + 3 * i, "\xe2\x82\xac", 3); /* U+20AC, so that a byte cut would split one */
        reason[3 * 1200] = '\0';

        int log_fd = mkstemp(log_path);
        REQUIRE(log_fd >= 0);
        (void) unlink(log_path);
        fflush(stderr);
        int saved = dup(STDERR_FILENO);
        REQUIRE(saved >= 0 && dup2(log_fd, STDERR_FILENO) >= 0);
        cb_log_set_max_level(LOG_INFO);
        cb_log(LOG_WARNING, -ENOENT, &who, "cannot read /boot/%s", reason);
        cb_log_set_max_level(LOG_EMERG);
        fflush(stderr);
        REQUIRE(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        _cleanup_free_ char *text = read_all(log_fd);
        close(log_fd);

        REQUIRE(text);
        _cleanup_free_ char *want = cb_format("node-with-a-long-name[1-1.2.3.4]: cannot read /boot/%s: %s\n", reason,
                                              strerror(ENOENT));
        REQUIRE(want);
        CHECK(cb_text_valid_utf8(text, strlen(text)));
        CHECK_MSG(strstr(text, want) != NULL, "the long line is not whole: %zu bytes logged, %zu wanted", strlen(text),
                  strlen(want));
}

static void test_flooding_board(void) {
        static const char *flood[N_REFUSED + 2];
        static const char *const other[] = { "../other-refused", "config.txt", "start.elf" };
        struct emu_board_config bc_flood = { 0 }, bc_other = { .requests = other, .n_requests = ELEMENTSOF(other) };
        char log_path[] = "/tmp/test-log-ratelimit-XXXXXX";
        struct world w;
        uint64_t t_start = 0, t_end = 0;

        for (size_t i = 0; i < N_REFUSED; i++)
                flood[i] = "../secret";
        flood[N_REFUSED] = "config.txt";
        flood[N_REFUSED + 1] = "start.elf";
        bc_flood.requests = flood;
        bc_flood.n_requests = ELEMENTSOF(flood);

        REQUIRE(world_init(&w, false) == 0);
        world_add(&w, &bc_flood);
        world_add(&w, &bc_other);

        /* the lines as the daemon writes them without a journal: on stderr, caught in a file */
        int log_fd = mkstemp(log_path);
        REQUIRE(log_fd >= 0);
        (void) unlink(log_path);
        fflush(stderr);
        int saved = dup(STDERR_FILENO);
        REQUIRE(saved >= 0 && dup2(log_fd, STDERR_FILENO) >= 0);
        cb_log_set_max_level(LOG_INFO);

        (void) sd_event_now(w.event, CLOCK_MONOTONIC, &t_start);
        for (size_t i = 0; i < w.n_ports; i++)
                emu_port_plug(&w.ports[i]);
        int r = world_run(&w, RUN_TIMEOUT);
        t_start = t_start ? t_start : now_usec();
        t_end = now_usec();
        /* the nodes go (and tell what they still counted) before the lines are read */
        enum cb_node_state s1 = cb_node_state(w.nodes[0]), s2 = cb_node_state(w.nodes[1]);
        world_done(&w);

        cb_log_set_max_level(LOG_EMERG);
        fflush(stderr);
        REQUIRE(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        _cleanup_free_ char *text = read_all(log_fd);
        close(log_fd);
        REQUIRE(text);

        CHECK_MSG(r == 0 && s1 == CB_NODE_UP && s2 == CB_NODE_UP, "the boards are %s and %s",
                  cb_node_state_name(s1), cb_node_state_name(s2));
        unsigned logged = count_lines(text, "node1[", "refused \"../secret\"");
        unsigned told = suppressed_count(text, "node1[");
        /* a fixed window per board: one more burst for every interval the run took */
        unsigned windows = (unsigned) ((t_end - t_start) / CB_LOG_RATELIMIT_INTERVAL) + 1;
        CHECK_MSG(logged >= 1 && logged <= windows * CB_LOG_RATELIMIT_BURST,
                  "%u lines of node1's %d refusals logged (burst %u, %u window(s))", logged, N_REFUSED,
                  CB_LOG_RATELIMIT_BURST, windows);
        CHECK_MSG(logged + told == N_REFUSED, "%u refusals logged and %u told as left out, of %d", logged, told,
                  N_REFUSED);
        CHECK_MSG(count_lines(text, "node1[", "more lines caused by the board's requests") <= windows,
                  "more than one summary line per window");
        /* the other board is a party of its own: its first refusal is logged */
        CHECK_MSG(count_lines(text, "node2[", "refused \"../other-refused\"") == 1,
                  "node2's refusal is not in the log");
        /* state changes are never held back */
        CHECK(count_lines(text, "node1[", "state up (from") == 1);
        CHECK(count_lines(text, "node2[", "state up (from") == 1);
        if (check_failures)
                fprintf(stderr, "the log was:\n%.4000s\n", text);
        printf("test-log-ratelimit: %u of node1's %d refused names logged, %u told as left out\n", logged, N_REFUSED,
               told);
}

int main(void) {
        cb_log_open(CB_LOG_STDERR);
        cb_log_set_max_level(LOG_EMERG);

        test_window();
        test_timer_reports();
        test_long_line();
        test_flooding_board();
        return check_exit("test-log-ratelimit");
}
