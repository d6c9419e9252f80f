/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "cb-build-config.h"
#include "config.h"
#include "log.h"
#include "util.h"

static unsigned failures;

#define CHECK(cond)                                                                   \
        do {                                                                          \
                if (!(cond)) {                                                        \
                        fprintf(stdout, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
                        failures++;                                                   \
                }                                                                     \
        } while (0)

#define CHECK_STR(a, b)                                                                               \
        do {                                                                                          \
                const char *_a = (a), *_b = (b);                                                      \
                if (!streq_ptr(_a, _b)) {                                                             \
                        fprintf(stdout, "%s:%d: CHECK failed: %s == %s (\"%s\" vs \"%s\")\n", __FILE__, \
                                __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)");            \
                        failures++;                                                                   \
                }                                                                                     \
        } while (0)

/* A failed allocation or temp file in the harness itself is not a test result. */
static void die(const char *what) {
        perror(what);
        exit(2);
}

static char tmpdir[PATH_MAX];

/* Runs a load with stderr redirected to a file, so the messages can be checked and do not clutter the output. */
struct captured {
        int r;
        struct cb_config *config;
        char *log;
};

static char *read_all(int fd) {
        size_t size = 0, allocated = 4096;
        char *buf = malloc(allocated);
        ssize_t k;

        if (!buf)
                die("malloc");
        if (lseek(fd, 0, SEEK_SET) < 0)
                die("lseek");
        while ((k = read(fd, buf + size, allocated - size - 1)) > 0) {
                size += (size_t) k;
                if (allocated - size < 2) {
                        allocated *= 2;
                        char *b = realloc(buf, allocated);
                        if (!b)
                                die("realloc");
                        buf = b;
                }
        }
        if (k < 0)
                die("read");
        buf[size] = '\0';
        return buf;
}

static int capture_begin(int *saved) {
        char path[PATH_MAX + 32];
        int fd;

        snprintf(path, sizeof path, "%s/stderr", tmpdir);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                die("open capture file");
        fflush(stderr);
        *saved = dup(STDERR_FILENO);
        if (*saved < 0 || dup2(fd, STDERR_FILENO) < 0)
                die("dup2");
        return fd;
}

static char *capture_end(int fd, int saved) {
        char *log;

        fflush(stderr);
        if (dup2(saved, STDERR_FILENO) < 0)
                die("dup2");
        close(saved);
        log = read_all(fd);
        close(fd);
        return log;
}

static struct captured load_string(const char *text) {
        struct captured c = { 0 };
        int saved, fd = capture_begin(&saved);

        c.r = cb_config_load_string("t.conf", text, &c.config);
        c.log = capture_end(fd, saved);
        return c;
}

static struct captured load_file(const char *path, bool missing_ok) {
        struct captured c = { 0 };
        int saved, fd = capture_begin(&saved);

        c.r = cb_config_load(path, missing_ok, &c.config);
        c.log = capture_end(fd, saved);
        return c;
}

static void captured_done(struct captured *c) {
        c->config = cb_config_free(c->config);
        free(c->log);
        c->log = NULL;
}

/* `needle`, when given, must appear in the log: it is how the user finds the mistake. */
static void check_invalid_at(int line, const char *text, const char *needle) {
        struct captured c = load_string(text);

        if (c.r != -EINVAL || c.config) {
                fprintf(stdout, "%s:%d: expected -EINVAL, got %d for:\n%s\n", __FILE__, line, c.r, text);
                failures++;
        } else if (needle && !strstr(c.log, needle)) {
                fprintf(stdout, "%s:%d: log lacks \"%s\" for:\n%s\nlog was:\n%s", __FILE__, line, needle, text, c.log);
                failures++;
        }
        captured_done(&c);
}
#define CHECK_INVALID(text, needle) check_invalid_at(__LINE__, (text), (needle))

/* Counts "t.conf:<digit>", i.e. messages that point at a line, not the closing summary. */
static unsigned count_line_messages(const char *log) {
        unsigned n = 0;
        for (const char *p = log; (p = strstr(p, "t.conf:")); p += strlen("t.conf:"))
                if (p[strlen("t.conf:")] >= '0' && p[strlen("t.conf:")] <= '9')
                        n++;
        return n;
}

static void check_defaults(const struct cb_config *c) {
        CHECK_STR(c->boot_directory, CB_DEFAULT_BOOT_DIRECTORY);
        CHECK_STR(c->state_directory, CB_DEFAULT_STATE_DIRECTORY);
        CHECK(c->max_attempts == 5);
        CHECK(c->auto_nodes);
        CHECK(c->step_retries == 2);
        CHECK(c->control_timeout == 1 * USEC_PER_SEC);
        CHECK(c->request_timeout == 20 * USEC_PER_SEC);
        CHECK(c->bulk_timeout == 10 * USEC_PER_SEC);
        CHECK(c->bulk_recovery == CB_BULK_RESUME);
        CHECK(!c->recover_by_reset);
        CHECK(c->reenumerate_timeout == 10 * USEC_PER_SEC);
        CHECK(c->up_timeout == 120 * USEC_PER_SEC);
        CHECK(c->retry_delay == 1 * USEC_PER_SEC);
        CHECK(c->retry_delay_max == 30 * USEC_PER_SEC);
        CHECK(c->power_settle == 2 * USEC_PER_SEC);
        CHECK(c->power_on_delay == 1 * USEC_PER_SEC);
        CHECK(c->power_command_timeout == 30 * USEC_PER_SEC);
        CHECK(c->hub_power_method == CB_HUB_POWER_AUTO);
        CHECK(c->n_nodes == 0);
        CHECK(c->nodes == NULL);
}

static void test_defaults(void) {
        _cleanup_config_ struct cb_config *c = NULL;

        CHECK(cb_config_new_default(&c) == 0);
        CHECK(c && !c->path);
        if (c)
                check_defaults(c);

        /* Comments and blank lines only: still the defaults. */
        struct captured k = load_string("# comment\n; other comment\n\n   \n\t# indented\n");
        CHECK(k.r == 0);
        if (k.config) {
                check_defaults(k.config);
                CHECK_STR(k.config->path, "t.conf");
        }
        captured_done(&k);

        k = load_string("");
        CHECK(k.r == 0);
        if (k.config)
                check_defaults(k.config);
        captured_done(&k);

        CHECK(cb_config_free(NULL) == NULL);
}

static const char example[] = "[Daemon]\n"
                              "BootDirectory=/var/lib/clusterboot/boot\n"
                              "MaxAttempts=5\n"
                              "[Node node3]\n"
                              "Port=1-1.3\n"
                              "BootDirectory=/var/lib/clusterboot/nodes/node3\n";

static void check_example(const struct cb_config *c) {
        CHECK_STR(c->boot_directory, "/var/lib/clusterboot/boot");
        CHECK_STR(c->state_directory, CB_DEFAULT_STATE_DIRECTORY);
        CHECK(c->max_attempts == 5);
        CHECK(c->n_nodes == 1);
        if (c->n_nodes != 1)
                return;
        CHECK_STR(c->nodes[0].name, "node3");
        CHECK_STR(c->nodes[0].port, "1-1.3");
        CHECK_STR(c->nodes[0].boot_directory, "/var/lib/clusterboot/nodes/node3");
        CHECK(c->nodes[0].power == CB_POWER_NONE);
        CHECK(!c->nodes[0].power_on_command);
        CHECK(!c->nodes[0].power_off_command);
        CHECK(c->nodes[0].line == 4);
}

static void test_example(void) {
        struct captured c = load_string(example);

        CHECK(c.r == 0);
        CHECK_STR(c.log, "");
        if (c.config)
                check_example(c.config);
        captured_done(&c);
}

static void test_all_keys(void) {
        struct captured c = load_string(
                "  # every key, with odd spacing\n"
                "[Daemon]\n"
                "  BootDirectory = /srv/boot  \n"
                "StateDirectory=/srv/state\r\n"
                "MaxAttempts=1000\n"
                "AutoNodes=off\n"
                "StepRetries=0\n"
                "ControlTimeoutSec=250ms\n"
                "RequestTimeoutSec=1min\n"
                "BulkTimeoutSec=1.5\n"
                "ReenumerateTimeoutSec=7s\n"
                "UpTimeoutSec=0\n"
                "RetryDelaySec=500ms\n"
                "RetryDelayMaxSec=2min\n"
                "PowerSettleSec=3sec\n"
                "PowerOnDelaySec=0.25\n"
                "PowerCommandTimeoutSec=10\n"
                "HubPowerMethod=request\n"
                "RecoverByReset=yes\n"
                "BulkRecovery=resend\n"
                "MaxAttempts=7\n" /* last one wins */
                "\n"
                "[Node a]\n"
                "Port=2-1\n"
                "Power=usb-hub\n"
                "[Node  b_2.x-y ]\n"
                "Port=3-2.4.1\n"
                "Power=command\n"
                "PowerOnCommand=/usr/bin/relay on 2 # not a comment\n"
                "PowerOffCommand=/usr/bin/relay off 2\n"
                "[Daemon]\n"
                "AutoNodes=YES\n");
        const struct cb_config *k = c.config;

        CHECK(c.r == 0);
        if (!k) {
                fputs(c.log, stdout);
                captured_done(&c);
                return;
        }
        CHECK_STR(k->boot_directory, "/srv/boot");
        CHECK_STR(k->state_directory, "/srv/state");
        CHECK(k->max_attempts == 7);
        CHECK(k->auto_nodes); /* a second [Daemon] section adds to the first */
        CHECK(k->step_retries == 0);
        CHECK(k->control_timeout == 250 * USEC_PER_MSEC);
        CHECK(k->request_timeout == 60 * USEC_PER_SEC);
        CHECK(k->bulk_timeout == 1500 * USEC_PER_MSEC);
        CHECK(k->reenumerate_timeout == 7 * USEC_PER_SEC);
        CHECK(k->up_timeout == 0);
        CHECK(k->retry_delay == 500 * USEC_PER_MSEC);
        CHECK(k->retry_delay_max == 120 * USEC_PER_SEC);
        CHECK(k->power_settle == 3 * USEC_PER_SEC);
        CHECK(k->power_on_delay == 250 * USEC_PER_MSEC);
        CHECK(k->power_command_timeout == 10 * USEC_PER_SEC);
        CHECK(k->hub_power_method == CB_HUB_POWER_REQUEST);
        CHECK(k->recover_by_reset);
        CHECK(k->bulk_recovery == CB_BULK_RESEND);
        CHECK(k->n_nodes == 2);
        if (k->n_nodes == 2) {
                CHECK_STR(k->nodes[0].name, "a");
                CHECK(k->nodes[0].power == CB_POWER_USB_HUB);
                CHECK(!k->nodes[0].boot_directory);
                CHECK_STR(k->nodes[1].name, "b_2.x-y");
                CHECK_STR(k->nodes[1].port, "3-2.4.1");
                CHECK(k->nodes[1].power == CB_POWER_COMMAND);
                CHECK_STR(k->nodes[1].power_on_command, "/usr/bin/relay on 2 # not a comment");
                CHECK_STR(k->nodes[1].power_off_command, "/usr/bin/relay off 2");
        }

        /* AutoNodes spellings. */
        static const struct {
                const char *text;
                bool value;
        } bools[] = {
                { "yes", true }, { "no", false }, { "true", true }, { "false", false },
                { "1", true },   { "0", false },  { "on", true },   { "off", false },
        };
        for (size_t i = 0; i < ELEMENTSOF(bools); i++) {
                char text[64];
                snprintf(text, sizeof text, "[Daemon]\nAutoNodes=%s\n", bools[i].text);
                struct captured b = load_string(text);
                CHECK(b.r == 0);
                CHECK(b.config && b.config->auto_nodes == bools[i].value);
                captured_done(&b);
        }

        /* HubPowerMethod spellings: exact, like Power= */
        static const struct {
                const char *text;
                enum cb_hub_power_method value;
        } methods[] = {
                { "auto", CB_HUB_POWER_AUTO },
                { "sysfs", CB_HUB_POWER_SYSFS },
                { "request", CB_HUB_POWER_REQUEST },
        };
        for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
                char text[64];
                snprintf(text, sizeof text, "[Daemon]\nHubPowerMethod=%s\n", methods[i].text);
                struct captured m = load_string(text);
                CHECK(m.r == 0);
                CHECK(m.config && m.config->hub_power_method == methods[i].value);
                CHECK_STR(cb_hub_power_method_name(methods[i].value), methods[i].text);
                captured_done(&m);
        }
        CHECK_INVALID("[Daemon]\nHubPowerMethod=Sysfs\n",
                      "t.conf:2: HubPowerMethod= expects auto, sysfs or request, got 'Sysfs'");
        CHECK_INVALID("[Daemon]\nHubPowerMethod=\n",
                      "t.conf:2: HubPowerMethod= expects auto, sysfs or request, got ''");
        CHECK_INVALID("[Node n]\nPort=1-1\nHubPowerMethod=sysfs\n",
                      "t.conf:3: unknown key 'HubPowerMethod' in section [Node n]");

        captured_done(&c);
}

static void test_find(void) {
        struct captured c = load_string("[Node n1]\nPort=1-1\n[Node n2]\nPort=1-1.3\n[Node n3]\nPort=1-1.3.2\n");
        const struct cb_config *k = c.config;

        CHECK(c.r == 0);
        if (k) {
                CHECK(cb_config_find_node_by_port(k, "1-1") == &k->nodes[0]);
                CHECK(cb_config_find_node_by_port(k, "1-1.3") == &k->nodes[1]);
                CHECK(cb_config_find_node_by_port(k, "1-1.3.2") == &k->nodes[2]);
                CHECK(cb_config_find_node_by_port(k, "1-1.4") == NULL);
                CHECK(cb_config_find_node_by_port(k, "1-1.") == NULL);
                CHECK(cb_config_find_node_by_port(k, NULL) == NULL);
                CHECK(cb_config_find_node_by_name(k, "n2") == &k->nodes[1]);
                CHECK(cb_config_find_node_by_name(k, "n3") == &k->nodes[2]);
                CHECK(cb_config_find_node_by_name(k, "N2") == NULL);
                CHECK(cb_config_find_node_by_name(k, "n") == NULL);
                CHECK(cb_config_find_node_by_name(k, NULL) == NULL);
        }
        CHECK(cb_config_find_node_by_name(NULL, "n2") == NULL);
        CHECK(cb_config_find_node_by_port(NULL, "1-1") == NULL);
        captured_done(&c);

        /* Serial= names a board, in any case, with or without a Port= beside it */
        c = load_string("[Node cm4a]\nSerial=9C3B1C0C\n[Node cm4b]\nSerial=00a1\nPort=1-1.2\nPower=usb-hub\n"
                        "[Node zero]\nPort=1-1.3\n[Node cm5]\nSerial=e5f6a7b8\nPower=command\n"
                        "PowerOnCommand=/bin/true\nPowerOffCommand=/bin/true\n");
        k = c.config;
        CHECK(c.r == 0);
        if (k) {
                CHECK(streq_ptr(k->nodes[0].serial, "9c3b1c0c") && k->nodes[0].port == NULL);
                CHECK(streq_ptr(k->nodes[1].serial, "00a1") && streq_ptr(k->nodes[1].port, "1-1.2"));
                CHECK(k->nodes[2].serial == NULL);
                CHECK(cb_config_find_node_by_serial(k, "9c3b1c0c") == &k->nodes[0]);
                CHECK(cb_config_find_node_by_serial(k, "9C3B1C0C") == &k->nodes[0]);
                CHECK(cb_config_find_node_by_serial(k, "00A1") == &k->nodes[1]);
                CHECK(cb_config_find_node_by_serial(k, "00a") == NULL);
                CHECK(cb_config_find_node_by_serial(k, NULL) == NULL);
                CHECK(cb_config_find_node_by_port(k, "1-1.2") == &k->nodes[1]);
        }
        captured_done(&c);
        CHECK(cb_soc_serial_valid("9c3b1c0c") && cb_soc_serial_valid("ABCDEF0123456789abcdef0123456789"));
        CHECK(!cb_soc_serial_valid("") && !cb_soc_serial_valid(NULL) && !cb_soc_serial_valid("9c3b 1c0c") &&
              !cb_soc_serial_valid("ABCDEF0123456789abcdef01234567890"));
}

static void test_errors(void) {
        /* Structure. */
        CHECK_INVALID("[Daemon]\n[Bogus]\nFoo=1\n", "t.conf:2: unknown section [Bogus]");
        CHECK_INVALID("[Daemon\n", "t.conf:1: invalid section header");
        CHECK_INVALID("[Daemon]\nMaxAttempts\n", "t.conf:2:");
        CHECK_INVALID("MaxAttempts=3\n[Daemon]\n", "t.conf:1: key 'MaxAttempts' outside of any section");
        CHECK_INVALID("[Daemon]\n=3\n", "t.conf:2:");
        CHECK_INVALID("[Daemon]\nFrobnicate=yes\n", "t.conf:2: unknown key 'Frobnicate' in section [Daemon]");
        CHECK_INVALID("[Node n]\nPort=1-1\nMaxAttempts=3\n", "t.conf:3: unknown key 'MaxAttempts' in section [Node n]");

        /* Numbers. */
        CHECK_INVALID("[Daemon]\nMaxAttempts=0\n", "t.conf:2: MaxAttempts=");
        CHECK_INVALID("[Daemon]\nMaxAttempts=1001\n", NULL);
        CHECK_INVALID("[Daemon]\nMaxAttempts=-1\n", NULL);
        CHECK_INVALID("[Daemon]\nMaxAttempts=five\n", NULL);
        CHECK_INVALID("[Daemon]\nMaxAttempts=5x\n", NULL);
        CHECK_INVALID("[Daemon]\nMaxAttempts=\n", NULL);
        CHECK_INVALID("[Daemon]\nMaxAttempts=99999999999999999999999\n", NULL);
        CHECK_INVALID("[Daemon]\nStepRetries=101\n", NULL);
        CHECK_INVALID("[Daemon]\nStepRetries=0x1\n", NULL);
        CHECK_INVALID("[Daemon]\nBulkRecovery=restart\n", "t.conf:2: BulkRecovery=");
        CHECK_INVALID("[Daemon]\nRecoverByReset=maybe\n", "t.conf:2: RecoverByReset=");

        /* Booleans. */
        CHECK_INVALID("[Daemon]\nAutoNodes=maybe\n", "t.conf:2: AutoNodes=");
        CHECK_INVALID("[Daemon]\nAutoNodes=\n", NULL);

        /* Time spans. */
        CHECK_INVALID("[Daemon]\nControlTimeoutSec=soon\n", "t.conf:2: ControlTimeoutSec=");
        CHECK_INVALID("[Daemon]\nUpTimeoutSec=-1\n", NULL);
        CHECK_INVALID("[Daemon]\nRetryDelaySec=1h\n", NULL);
        CHECK_INVALID("[Daemon]\nBulkTimeoutSec=\n", NULL);
        CHECK_INVALID("[Daemon]\nBulkTimeoutSec=0\n", "must be at least 1ms"); /* libusb: 0 = forever */
        CHECK_INVALID("[Daemon]\nControlTimeoutSec=250us\n", NULL);

        /* Paths. */
        CHECK_INVALID("[Daemon]\nBootDirectory=boot\n", "t.conf:2: BootDirectory= must be an absolute path");
        CHECK_INVALID("[Daemon]\nStateDirectory=./state\n", NULL);
        CHECK_INVALID("[Daemon]\nStateDirectory=\n", NULL);
        CHECK_INVALID("[Node n]\nPort=1-1\nBootDirectory=nodes/n\n", "t.conf:3: BootDirectory=");

        /* Nodes. */
        CHECK_INVALID("[Node a]\nPort=1-1\n[Node a]\nPort=1-2\n", "t.conf:3: duplicate section [Node a]");
        CHECK_INVALID("[Node a]\nPort=1-1.2\n\n[Node b]\nPort=1-1.2\n", "t.conf:5: port 1-1.2");
        CHECK_INVALID("[Node a]\nBootDirectory=/x\n", "t.conf:1: [Node a] has no Port= (or Serial=)");
        CHECK_INVALID("[Node a]\nSerial=9c3b1c0g\n", "t.conf:2: Serial= expects the SoC serial");
        CHECK_INVALID("[Node a]\nSerial=\n", "t.conf:2: Serial= expects");
        CHECK_INVALID("[Node a]\nSerial=0x9c3b1c0c\n", "t.conf:2: Serial= expects");
        CHECK_INVALID("[Node a]\nSerial=123456789012345678901234567890123\n", "t.conf:2: Serial= expects");
        CHECK_INVALID("[Node a]\nSerial=9C3B1C0C\n[Node b]\nSerial=9c3b1c0c\n",
                      "t.conf:4: serial 9c3b1c0c of [Node b] is already that of [Node a] (line 1)");
        CHECK_INVALID("[Node a]\nSerial=9c3b1c0c\nPower=usb-hub\n",
                      "t.conf:3: [Node a]: Power=usb-hub needs Port=");
        CHECK_INVALID("[Node]\nPort=1-1\n", "t.conf:1:");
        CHECK_INVALID("[Node a b]\nPort=1-1\n", "t.conf:1: invalid node name");
        CHECK_INVALID("[Node .hidden]\nPort=1-1\n", NULL);
        CHECK_INVALID("[Node -opt]\nPort=1-1\n", NULL);
        CHECK_INVALID("[Node a/b]\nPort=1-1\n", NULL);
        CHECK_INVALID("[Node n\xc3\xa9]\nPort=1-1\n", NULL);
        /* 65 characters is one too many; 64 is fine. */
        CHECK_INVALID("[Node aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\nPort=1-1\n", NULL);
        {
                struct captured ok = load_string("[Node aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n"
                                                 "Port=255-255.1.2.3.4.5.6\n" /* largest numbers, deepest path */
                                                 "[Node 0]\nPort=1-1\n"
                                                 "[Node A_b.c-9]\nPort=10-2.13\n");
                CHECK(ok.r == 0);
                CHECK(ok.config && ok.config->n_nodes == 3);
                captured_done(&ok);
        }

        static const char *const bad_ports[] = {
                "", "1", "1-", "-1", "1-1.", "1-1..2", "1.1", "1-a", "a-1", "1-1-2", "01-1", "1-01", "1-0",
                "0-1", "1-256", "1-1.2.3.4.5.6.7.8", " 1-1x", "1-1 .2", "+1-1",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_ports); i++) {
                char text[128];
                snprintf(text, sizeof text, "[Node n]\nPort=%s\n", bad_ports[i]);
                CHECK_INVALID(text, "t.conf:2: invalid port path");
        }

        /* Power. */
        CHECK_INVALID("[Node n]\nPort=1-1\nPower=relay\n", "t.conf:3: Power=");
        CHECK_INVALID("[Node n]\nPort=1-1\nPower=command\nPowerOnCommand=/bin/on\n",
                      "t.conf:3: Power=command needs both");
        CHECK_INVALID("[Node n]\nPort=1-1\nPower=command\nPowerOffCommand=/bin/off\n", NULL);
        CHECK_INVALID("[Node n]\nPort=1-1\nPower=command\n", NULL);
        CHECK_INVALID("[Node n]\nPort=1-1\nPowerOnCommand=/bin/on\n",
                      "t.conf:3: PowerOnCommand= is only used with Power=command");
        CHECK_INVALID("[Node n]\nPort=1-1\nPower=usb-hub\nPowerOffCommand=/bin/off\n", "t.conf:4: PowerOffCommand=");

        /* Commands are split when the file is read, so a mistake names its line. */
        CHECK_INVALID("[Node n]\nPort=1-1\nPower=command\nPowerOnCommand=/bin/on 'p3\nPowerOffCommand=/bin/off\n",
                      "t.conf:4: PowerOnCommand=: unbalanced single quote");
        CHECK_INVALID("[Node n]\nPower=command\nPowerOnCommand=/bin/on\nPowerOffCommand=/bin/off %x\nPort=1-1\n",
                      "t.conf:4: PowerOffCommand=: unknown specifier");
        CHECK_INVALID("[Node n]\nPort=1-1\nPower=command\nPowerOnCommand=relay/on\nPowerOffCommand=/bin/off\n",
                      "t.conf:4: PowerOnCommand=: the program must be an absolute path");
        {
                struct captured both = load_string("[Node n]\nPort=1-1\nPower=command\n"
                                                   "PowerOnCommand=/bin/on \"p3\nPowerOffCommand=/bin/off \\\n");
                CHECK(both.r == -EINVAL);
                CHECK(strstr(both.log, "t.conf:4: PowerOnCommand=: unbalanced double quote"));
                CHECK(strstr(both.log, "t.conf:5: PowerOffCommand=: trailing backslash"));
                CHECK(count_line_messages(both.log) == 2);
                captured_done(&both);

                struct captured ok = load_string("[Node n]\nPort=1-1\nPower=command\n"
                                                 "PowerOnCommand=/bin/sh -c \"relay on %p && echo '100%%'\" 'a b'\n"
                                                 "PowerOffCommand=clusterctrl off p3\n");
                CHECK(ok.r == 0);
                CHECK_STR(ok.log, "");
                /* kept as written: split again (and specifiers expanded) by the backend */
                CHECK(ok.config && streq_ptr(ok.config->nodes[0].power_on_command,
                                             "/bin/sh -c \"relay on %p && echo '100%%'\" 'a b'"));
                captured_done(&ok);
        }

        /* Line length: 4096 bytes is allowed, one more is not. */
        {
                size_t prefix = strlen("[Daemon]\nBootDirectory=/");
                char *text = malloc(prefix + 4097 + 32);
                if (!text)
                        die("malloc");
                strcpy(text, "[Daemon]\nBootDirectory=/");
                size_t len = strlen("BootDirectory=/");
                char *p = text + prefix;
                for (; len < 4096; len++)
                        *p++ = 'x';
                strcpy(p, "\n");
                struct captured ok = load_string(text);
                CHECK(ok.r == 0);
                CHECK(ok.config && strlen(ok.config->boot_directory) == 4096 - strlen("BootDirectory="));
                captured_done(&ok);

                strcpy(p, "y\n");
                CHECK_INVALID(text, "t.conf:2: line too long");
                free(text);
        }

        /* Every error is reported, not just the first. */
        struct captured c = load_string("[Daemon]\n"
                                        "MaxAttempts=0\n"
                                        "Nope=1\n"
                                        "AutoNodes=perhaps\n"
                                        "[Node x]\n"
                                        "Port=1-x\n"
                                        "[Node x]\n"
                                        "Port=bad\n"
                                        "Power=wishful\n");
        CHECK(c.r == -EINVAL);
        CHECK(!c.config);
        CHECK(strstr(c.log, "t.conf:2:"));
        CHECK(strstr(c.log, "t.conf:3:"));
        CHECK(strstr(c.log, "t.conf:4:"));
        CHECK(strstr(c.log, "t.conf:6:"));
        CHECK(strstr(c.log, "t.conf:7:"));
        CHECK(strstr(c.log, "t.conf:8:")); /* keys of a rejected node are still checked */
        CHECK(strstr(c.log, "t.conf:9:"));
        CHECK(strstr(c.log, "t.conf:5: [Node x] has no Port="));
        CHECK(count_line_messages(c.log) == 8); /* and each exactly once */
        captured_done(&c);

        /* Keys under an unknown section do not each produce another message. */
        c = load_string("[Bogus]\nA=1\nB=2\n");
        CHECK(c.r == -EINVAL);
        CHECK(count_line_messages(c.log) == 1);
        captured_done(&c);

        /* Duplicate keys: the last wins, for Port= too. */
        c = load_string("[Node n]\nPort=1-1\nPort=1-2\n[Node m]\nPort=1-1\n");
        CHECK(c.r == 0);
        CHECK(c.config && c.config->n_nodes == 2 && streq_ptr(c.config->nodes[0].port, "1-2"));
        captured_done(&c);

        /* An empty command resets it, so a later Power=none is consistent again. */
        c = load_string("[Node n]\nPort=1-1\nPowerOnCommand=/bin/on\nPowerOnCommand=\n");
        CHECK(c.r == 0);
        CHECK(c.config && c.config->nodes[0].power_on_command == NULL);
        captured_done(&c);
}

static void test_timespan(void) {
        static const struct {
                const char *text;
                usec_t usec;
        } good[] = {
                { "0", 0 },
                { "2", 2 * USEC_PER_SEC },
                { "1.5", 1500 * USEC_PER_MSEC },
                { ".5", 500 * USEC_PER_MSEC },
                { "0.000001", 1 },
                { "0.0000019", 1 }, /* below a microsecond: truncated */
                { "500ms", 500 * USEC_PER_MSEC },
                { "500msec", 500 * USEC_PER_MSEC },
                { "1.5ms", 1500 },
                { "2s", 2 * USEC_PER_SEC },
                { "2sec", 2 * USEC_PER_SEC },
                { "1min", 60 * USEC_PER_SEC },
                { "1.5min", 90 * USEC_PER_SEC },
                { "250us", 250 },
                { "250usec", 250 },
                { "1.9us", 1 },
                { "007", 7 * USEC_PER_SEC },
                { "18446744073709551614us", UINT64_MAX - 1 },
        };
        static const struct {
                const char *text;
                int r;
        } bad[] = {
                { "", -EINVAL },
                { "-1", -EINVAL },
                { "+1", -EINVAL },
                { " 1", -EINVAL },
                { "1 ", -EINVAL },
                { "1s ", -EINVAL },
                { "1x", -EINVAL },
                { "1m", -EINVAL },
                { "1h", -EINVAL },
                { "1.", -EINVAL },
                { ".", -EINVAL },
                { "s", -EINVAL },
                { "1.5.2", -EINVAL },
                { "1e3", -EINVAL },
                { "ms", -EINVAL },
                { "1minx", -EINVAL },
                { "99999999999999999999999999x", -EINVAL }, /* junk wins over overflow */
                { "18446744073709551615us", -ERANGE }, /* would be USEC_INFINITY */
                { "18446744073709551616us", -ERANGE },
                { "99999999999999999999", -ERANGE },
                { "18446744073709551min", -ERANGE },
                { "18446744073709.551615", -ERANGE },
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                usec_t u = 12345;
                int r = cb_parse_timespan(good[i].text, &u);
                if (r != 0 || u != good[i].usec) {
                        fprintf(stdout, "%s:%d: timespan \"%s\": r=%d usec=%llu, expected %llu\n", __FILE__, __LINE__,
                                good[i].text, r, (unsigned long long) u, (unsigned long long) good[i].usec);
                        failures++;
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                usec_t u = 12345;
                int r = cb_parse_timespan(bad[i].text, &u);
                if (r != bad[i].r || u != 12345) {
                        fprintf(stdout, "%s:%d: timespan \"%s\": r=%d, expected %d, usec %llu\n", __FILE__, __LINE__,
                                bad[i].text, r, bad[i].r, (unsigned long long) u);
                        failures++;
                }
        }
        usec_t u;
        CHECK(cb_parse_timespan(NULL, &u) == -EINVAL);
}

static void write_file_n(const char *path, const char *text, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        if (fd < 0 || write(fd, text, len) != (ssize_t) len || close(fd) < 0)
                die(path);
}

static void write_file(const char *path, const char *text) {
        write_file_n(path, text, strlen(text));
}

static void test_files(void) {
        char path[PATH_MAX + 32], missing[PATH_MAX + 32];
        struct captured c;

        snprintf(path, sizeof path, "%s/clusterboot.conf", tmpdir);
        snprintf(missing, sizeof missing, "%s/does-not-exist.conf", tmpdir);

        write_file(path, example);
        c = load_file(path, false);
        CHECK(c.r == 0);
        if (c.config) {
                check_example(c.config);
                CHECK_STR(c.config->path, path);
        }
        captured_done(&c);

        c = load_file(path, true);
        CHECK(c.r == 0);
        captured_done(&c);

        /* Messages from a file name the file. */
        write_file(path, "[Daemon]\nMaxAttempts=0\n");
        c = load_file(path, true);
        CHECK(c.r == -EINVAL);
        CHECK(!c.config);
        {
                char needle[PATH_MAX + 64];
                snprintf(needle, sizeof needle, "%s:2: ", path);
                CHECK(strstr(c.log, needle));
        }
        captured_done(&c);

        /* A NUL byte cannot hide the rest of a line (or file) from the parser. */
        static const char with_nul[] = "[Daemon]\nBootDirectory=/a\0b\nMaxAttempts=0\n";
        write_file_n(path, with_nul, sizeof with_nul - 1);
        c = load_file(path, false);
        CHECK(c.r == -EINVAL);
        {
                char needle[PATH_MAX + 64];
                snprintf(needle, sizeof needle, "%s:2: line contains a NUL byte", path);
                CHECK(strstr(c.log, needle));
                snprintf(needle, sizeof needle, "%s:3: MaxAttempts=", path);
                CHECK(strstr(c.log, needle));
        }
        captured_done(&c);

        /* An empty file is fine. */
        write_file(path, "");
        c = load_file(path, false);
        CHECK(c.r == 0);
        if (c.config)
                check_defaults(c.config);
        captured_done(&c);

        c = load_file(missing, true);
        CHECK(c.r == 0);
        if (c.config) {
                check_defaults(c.config);
                CHECK(!c.config->path);
        }
        captured_done(&c);

        c = load_file(missing, false);
        CHECK(c.r == -ENOENT);
        CHECK(!c.config);
        CHECK(strstr(c.log, missing));
        captured_done(&c);

        /* A directory is not a configuration file, missing_ok or not. */
        c = load_file(tmpdir, true);
        CHECK(c.r == -EISDIR);
        CHECK(!c.config);
        captured_done(&c);

        unlink(path);
}

/* The messages of a report, one a line as --check-config prints them. */
static char *report_text(const struct cb_config_report *r) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        if (!f)
                die("open_memstream");
        cb_config_report_print(r, f);
        fclose(f);
        return text;
}

static void check_report_at(int line, const char *conf, int want_r, const char *want) {
        struct cb_config_report report = { 0 };
        struct cb_config *config = NULL;
        int r = cb_config_load_string_report("t.conf", conf, &report, &config);
        char *text = report_text(&report);

        if (r != want_r || strcmp(text, want) != 0) {
                fprintf(stdout, "%s:%d: got %d and:\n%s--- expected %d and:\n%s", __FILE__, line, r, text, want_r, want);
                failures++;
        }
        CHECK((r == 0) == (config != NULL));
        free(text);
        cb_config_free(config);
        cb_config_report_done(&report);
}
#define CHECK_REPORT(conf, r, want) check_report_at(__LINE__, (conf), (r), (want))

/* What a user who misspelt something is told, and a '#' that looks like a comment but is not one. */
static void test_report(void) {
        static const char *const keys[] = { "Port", "Power", "PowerOnCommand", "BootDirectory" };

        CHECK_STR(cb_config_suggest("Prot", keys, ELEMENTSOF(keys)), "Port");
        CHECK_STR(cb_config_suggest("port", keys, ELEMENTSOF(keys)), "Port");
        CHECK_STR(cb_config_suggest("Powr", keys, ELEMENTSOF(keys)), "Power");
        CHECK_STR(cb_config_suggest("PowerOnComand", keys, ELEMENTSOF(keys)), "PowerOnCommand");
        CHECK_STR(cb_config_suggest("BootDir", keys, ELEMENTSOF(keys)), NULL); /* 6 letters off */
        CHECK_STR(cb_config_suggest("Xy", keys, ELEMENTSOF(keys)), NULL);
        CHECK_STR(cb_config_suggest("", keys, ELEMENTSOF(keys)), NULL);

        CHECK_REPORT("[Daemon]\nMaxAtempts=3\nbootdirectory=/b\nPort=1-1\n[Node n]\nPort=1-1\nPowerOnComand=/x\n"
                     "RetryDelaySec=1\n[daemon]\n[Nodes m]\n[Hub]\n",
                     -EINVAL,
                     "t.conf:2: unknown key 'MaxAtempts' in section [Daemon] (did you mean MaxAttempts=?)\n"
                     "t.conf:3: unknown key 'bootdirectory' in section [Daemon] (did you mean BootDirectory=?)\n"
                     "t.conf:4: unknown key 'Port' in section [Daemon]: it belongs in a [Node NAME] section\n"
                     "t.conf:7: unknown key 'PowerOnComand' in section [Node n] (did you mean PowerOnCommand=?)\n"
                     "t.conf:8: unknown key 'RetryDelaySec' in section [Node n]: it belongs in [Daemon]\n"
                     "t.conf:9: unknown section [daemon] (did you mean [Daemon]?)\n"
                     "t.conf:10: unknown section [Nodes m] (did you mean [Node m]?)\n"
                     "t.conf:11: unknown section [Hub]\n");

        /* accepted, with the value as written, and a warning that says so */
        CHECK_REPORT("[Daemon]\nBootDirectory=/srv/boot   # the files\n[Node n]\nPort=1-1\nPower=command\n"
                     "PowerOnCommand=/bin/sh -c 'relay on\t#1'\nPowerOffCommand=/bin/relay#off\n",
                     0,
                     "t.conf:2: warning: the value of BootDirectory= contains '#', which does not start a comment "
                     "here: comments are lines of their own; the value is '/srv/boot   # the files'\n"
                     "t.conf:6: warning: the value of PowerOnCommand= contains '#', which does not start a comment "
                     "here: comments are lines of their own; the value is '/bin/sh -c 'relay on\t#1''\n");
        /* a file that cannot be read is one message about the file */
        {
                struct cb_config_report report = { 0 };
                struct cb_config *config = NULL;
                char path[PATH_MAX + 32], *text;

                snprintf(path, sizeof path, "%s/absent.conf", tmpdir);
                CHECK(cb_config_load_report(path, false, &report, &config) == -ENOENT);
                text = report_text(&report);
                CHECK(strstr(text, "absent.conf: cannot read the file: No such file or directory\n") != NULL);
                CHECK(report.n_errors == 1 && !config);
                free(text);
                cb_config_report_done(&report);
        }
}

int main(void) {
        const char *base = getenv("TMPDIR");
        char stderr_path[PATH_MAX + 32];

        snprintf(tmpdir, sizeof tmpdir, "%s/test-config-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir))
                die("mkdtemp");
        cb_log_open(CB_LOG_STDERR);

        test_defaults();
        test_example();
        test_all_keys();
        test_find();
        test_errors();
        test_timespan();
        test_files();
        test_report();

        snprintf(stderr_path, sizeof stderr_path, "%s/stderr", tmpdir);
        unlink(stderr_path);
        rmdir(tmpdir);

        if (failures > 0) {
                printf("%u check(s) failed\n", failures);
                return EXIT_FAILURE;
        }
        printf("all config tests passed\n");
        return EXIT_SUCCESS;
}
