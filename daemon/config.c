/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <strings.h>
#include <sys/stat.h>

#include "cb-build-config.h"
#include "log.h"
#include "portpath.h"
#include "command-line.h"
#include "power-command.h" /* CB_POWER_COMMAND_TIMEOUT_DEFAULT */

/*
 * Semantics worth knowing when writing a configuration file:
 *
 *  - A key given twice in one section is not an error: the last value wins,
 *    in [Daemon] and in [Node NAME] alike (Port= included), as in systemd
 *    unit files. A [Node NAME] section that appears twice *is* an error,
 *    because merging two sections that each look complete hides copy-paste
 *    mistakes. [Daemon] may appear more than once; its keys simply accumulate.
 *  - There are no inline comments: "Key=a # b" sets "a # b". Commands in
 *    particular may legitimately contain '#' or ';'. Since most INI readers
 *    do take " #" as a comment, such a value is warned about.
 *  - An empty PowerOnCommand=/PowerOffCommand=/node BootDirectory= resets the
 *    setting to unset. Empty numbers, booleans, time spans and daemon
 *    directories are errors.
 *  - Keys inside an unknown or malformed section are skipped without further
 *    messages; the section header has already been reported and one mistake
 *    should produce one message.
 */

#define LINE_MAX_BYTES 4096
/*
 * Files this size or larger are refused: far bigger than any sane
 * configuration, and it stops us slurping a wrong path like a disk image.
 */
#define FILE_MAX_BYTES (1024 * 1024)

#define NODE_NAME_MAX 64
/* libusb reports bus and port numbers as uint8_t and at most 7 port levels. */

enum section {
        SECTION_NONE,    /* before the first header */
        SECTION_IGNORE,  /* inside an unknown or malformed header */
        SECTION_DAEMON,
        SECTION_NODE,
};

/* Lines of settings that are checked once the whole file is read, so that key order does not matter. */
struct node_lines {
        unsigned port;
        unsigned power;
        unsigned power_on;
        unsigned power_off;
};

struct parser {
        const char *name;
        struct cb_config *config;
        struct cb_config_report *report;

        enum section section;
        char *section_title; /* e.g. "Node node3", for messages */
        struct cb_node_config *node;
        struct node_lines *lines;

        /* Parallel to config->nodes. */
        struct node_lines *node_lines;

        /*
         * A node whose header was rejected (bad or duplicate name). Its keys
         * are still parsed so that their own errors are reported too, but
         * the node never reaches the configuration.
         */
        struct cb_node_config scratch;
        struct node_lines scratch_lines;
};

enum value_kind {
        VALUE_PATH,
        VALUE_OPTIONAL_PATH, /* empty: unset */
        VALUE_UNSIGNED,
        VALUE_BOOL,
        VALUE_TIMESPAN,
        VALUE_HUB_POWER_METHOD,
        VALUE_BULK_RECOVERY,
};

struct daemon_key {
        const char *key;
        enum value_kind kind;
        size_t offset;
        uint64_t min, max; /* VALUE_UNSIGNED: allowed range; VALUE_TIMESPAN: min in usec */
};

/*
 * libusb treats a timeout of 0 ms as "wait forever", and it counts in
 * milliseconds, so anything below 1ms would silently turn into an infinite
 * wait. Those timeouts therefore have a 1ms floor.
 */
#define TIMEOUT_MIN USEC_PER_MSEC

static const struct daemon_key daemon_keys[] = {
        { "BootDirectory", VALUE_PATH, offsetof(struct cb_config, boot_directory), 0, 0 },
        { "StateDirectory", VALUE_PATH, offsetof(struct cb_config, state_directory), 0, 0 },
        { "MetricsDirectory", VALUE_OPTIONAL_PATH, offsetof(struct cb_config, metrics_directory), 0, 0 },
        { "MaxAttempts", VALUE_UNSIGNED, offsetof(struct cb_config, max_attempts), 1, 1000 },
        { "AutoNodes", VALUE_BOOL, offsetof(struct cb_config, auto_nodes), 0, 0 },
        { "StepRetries", VALUE_UNSIGNED, offsetof(struct cb_config, step_retries), 0, 100 },
        { "RecoverByReset", VALUE_BOOL, offsetof(struct cb_config, recover_by_reset), 0, 0 },
        { "BulkRecovery", VALUE_BULK_RECOVERY, offsetof(struct cb_config, bulk_recovery), 0, 0 },
        { "ControlTimeoutSec", VALUE_TIMESPAN, offsetof(struct cb_config, control_timeout), TIMEOUT_MIN, 0 },
        { "RequestTimeoutSec", VALUE_TIMESPAN, offsetof(struct cb_config, request_timeout), TIMEOUT_MIN, 0 },
        { "BulkTimeoutSec", VALUE_TIMESPAN, offsetof(struct cb_config, bulk_timeout), TIMEOUT_MIN, 0 },
        { "ReenumerateTimeoutSec", VALUE_TIMESPAN, offsetof(struct cb_config, reenumerate_timeout), TIMEOUT_MIN, 0 },
        { "UpTimeoutSec", VALUE_TIMESPAN, offsetof(struct cb_config, up_timeout), 0, 0 },
        { "RetryDelaySec", VALUE_TIMESPAN, offsetof(struct cb_config, retry_delay), 0, 0 },
        { "RetryDelayMaxSec", VALUE_TIMESPAN, offsetof(struct cb_config, retry_delay_max), 0, 0 },
        { "PowerSettleSec", VALUE_TIMESPAN, offsetof(struct cb_config, power_settle), 0, 0 },
        { "PowerOnDelaySec", VALUE_TIMESPAN, offsetof(struct cb_config, power_on_delay), 0, 0 },
        /* the spelling without "Sec", as people write it */
        { "PowerOnDelay", VALUE_TIMESPAN, offsetof(struct cb_config, power_on_delay), 0, 0 },
        { "PowerOffTimeoutSec", VALUE_TIMESPAN, offsetof(struct cb_config, power_off_timeout), TIMEOUT_MIN, 0 },
        { "PowerCommandTimeoutSec", VALUE_TIMESPAN, offsetof(struct cb_config, power_command_timeout), TIMEOUT_MIN, 0 },
        { "HubPowerMethod", VALUE_HUB_POWER_METHOD, offsetof(struct cb_config, hub_power_method), 0, 0 },
};

static const char *const hub_power_method_names[] = {
        [CB_HUB_POWER_AUTO] = "auto",
        [CB_HUB_POWER_SYSFS] = "sysfs",
        [CB_HUB_POWER_REQUEST] = "request",
};

static const char *const bulk_recovery_names[] = {
        [CB_BULK_RESUME] = "resume",
        [CB_BULK_RESEND] = "resend",
};

static const char *const power_kind_names[] = {
        [CB_POWER_NONE] = "none",
        [CB_POWER_USB_HUB] = "usb-hub",
        [CB_POWER_COMMAND] = "command",
};

static const char *const node_keys[] = { "Port", "Serial", "BootDirectory", "Power", "PowerOnCommand",
                                         "PowerOffCommand", "InterfaceName" };

static void add_message(struct parser *p, bool warning, unsigned line, const char *format, va_list ap)
        __attribute__((format(printf, 4, 0)));
static void add_message(struct parser *p, bool warning, unsigned line, const char *format, va_list ap) {
        /* allocated: it quotes config values and paths, which a fixed buffer cut without a sign */
        _cleanup_free_ char *message = cb_vformat(format, ap);

        /* out of memory: the message is lost, but it is still counted, so the file is still refused */
        (void) cb_config_report_add(p->report, warning, line, "%s", message ? message : CB_NO_MEMORY_TEXT);
}

static void parse_error(struct parser *p, unsigned line, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void parse_error(struct parser *p, unsigned line, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        add_message(p, false, line, format, ap);
        va_end(ap);
}

static void parse_warning(struct parser *p, unsigned line, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void parse_warning(struct parser *p, unsigned line, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        add_message(p, true, line, format, ap);
        va_end(ap);
}

/* " (did you mean X=?)", or "" when nothing is near. `suffix` follows the suggestion ("=" for keys). */
static const char *did_you_mean(char *buf, size_t size, const char *word, const char *const *known, size_t n_known,
                                const char *prefix, const char *suffix) {
        const char *s = cb_config_suggest(word, known, n_known);

        if (!s)
                return "";
        snprintf(buf, size, " (did you mean %s%s%s?)", prefix, s, suffix);
        return buf;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* Trims in place; returns the start of the trimmed string. */
static char *strip(char *s) {
        size_t n;

        while (is_blank(*s))
                s++;
        n = strlen(s);
        while (n > 0 && is_blank(s[n - 1]))
                s[--n] = '\0';
        return s;
}

/* Plain decimal only: a sign, "0x" or whitespace in a configuration value is more likely a typo than intent. */
static int parse_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!is_digit(*s))
                return -EINVAL;
        for (; is_digit(*s); s++) {
                unsigned d = (unsigned) (*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        if (*s != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_boolean(const char *s) {
        static const char *const yes[] = { "yes", "true", "on", "1" };
        static const char *const no[] = { "no", "false", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        }
        return -EINVAL;
}

int cb_parse_timespan(const char *text, usec_t *ret) {
        static const struct {
                const char *suffix;
                usec_t factor;
        } units[] = {
                { "", USEC_PER_SEC }, /* a bare number means seconds, like the "...Sec=" key names say */
                { "us", 1 },
                { "usec", 1 },
                { "ms", USEC_PER_MSEC },
                { "msec", USEC_PER_MSEC },
                { "s", USEC_PER_SEC },
                { "sec", USEC_PER_SEC },
                { "min", 60 * USEC_PER_SEC },
        };
        const char *s = text, *frac = NULL;
        size_t n_frac = 0;
        uint64_t whole = 0;
        bool any_digit = false, overflow = false;
        usec_t factor = 0, result;

        if (!text || !ret)
                return -EINVAL;

        /* Check the syntax completely before reporting overflow, so that junk is always -EINVAL. */
        for (; is_digit(*s); s++) {
                unsigned d = (unsigned) (*s - '0');
                any_digit = true;
                if (whole > (UINT64_MAX - d) / 10)
                        overflow = true;
                else
                        whole = whole * 10 + d;
        }
        if (*s == '.') {
                frac = ++s;
                while (is_digit(*s))
                        s++;
                n_frac = (size_t) (s - frac);
                if (n_frac == 0)
                        return -EINVAL;
                any_digit = true;
        }
        if (!any_digit)
                return -EINVAL;

        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (strcmp(s, units[i].suffix) == 0) {
                        factor = units[i].factor;
                        break;
                }
        if (factor == 0)
                return -EINVAL;
        if (overflow || whole > UINT64_MAX / factor)
                return -ERANGE;

        result = whole * factor;
        /* Digits finer than a microsecond are dropped, not rounded: nothing here has sub-usec precision. */
        usec_t scale = factor;
        for (size_t i = 0; i < n_frac && scale >= 10; i++) {
                scale /= 10;
                usec_t add = (usec_t) (frac[i] - '0') * scale;
                if (result > UINT64_MAX - add)
                        return -ERANGE;
                result += add;
        }
        /* USEC_INFINITY has a meaning of its own; a finite value must not collide with it. */
        if (result == USEC_INFINITY)
                return -ERANGE;

        *ret = result;
        return 0;
}

/* A name the kernel takes for a network interface: 1 to IFNAMSIZ-1 bytes, no '/', ':' or blank. */
static bool interface_name_valid(const char *name) {
        size_t n = strlen(name);

        if (n == 0 || n > 15 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return false;
        return strpbrk(name, "/: \t\n") == NULL;
}

const char *cb_node_config_interface_name(const struct cb_node_config *node) {
        if (node->interface_name_set)
                return node->interface_name; /* NULL: InterfaceName= empty, no renaming */
        return interface_name_valid(node->name) ? node->name : NULL;
}

static bool node_name_is_valid(const char *name) {
        size_t n = strlen(name);

        if (n == 0 || n > NODE_NAME_MAX)
                return false;
        /* A leading '-' reads as an option on a command line, a leading '.' as a hidden file in a state directory. */
        if (name[0] == '.' || name[0] == '-')
                return false;
        for (const char *c = name; *c; c++)
                if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || is_digit(*c) || *c == '_' || *c == '.' ||
                      *c == '-'))
                        return false;
        return true;
}

static void node_config_done(struct cb_node_config *node) {
        free(node->name);
        free(node->port);
        free(node->serial);
        free(node->boot_directory);
        free(node->power_on_command);
        free(node->power_off_command);
        free(node->interface_name);
        *node = (struct cb_node_config){ 0 };
}

struct cb_config *cb_config_free(struct cb_config *config) {
        if (!config)
                return NULL;
        for (size_t i = 0; i < config->n_nodes; i++)
                node_config_done(&config->nodes[i]);
        free(config->nodes);
        free(config->path);
        free(config->boot_directory);
        free(config->state_directory);
        free(config->metrics_directory);
        free(config);
        return NULL;
}

int cb_config_new_default(struct cb_config **ret) {
        _cleanup_config_ struct cb_config *config = NULL;

        config = calloc(1, sizeof *config);
        if (!config)
                return -ENOMEM;

        *config = (struct cb_config){
                .max_attempts = 5,
                .auto_nodes = true,
                .step_retries = 2,
                .control_timeout = 1 * USEC_PER_SEC,
                .request_timeout = 20 * USEC_PER_SEC,
                /* boards may be busy for seconds mid-file; the reference host's 5 s per piece drops them */
                .bulk_timeout = 10 * USEC_PER_SEC,
                .bulk_recovery = CB_BULK_RESUME,
                .reenumerate_timeout = 10 * USEC_PER_SEC,
                .up_timeout = 120 * USEC_PER_SEC,
                .retry_delay = 1 * USEC_PER_SEC,
                .retry_delay_max = 30 * USEC_PER_SEC,
                .power_settle = 2 * USEC_PER_SEC,
                .power_on_delay = 1 * USEC_PER_SEC,
                .power_off_timeout = 5 * USEC_PER_SEC,
                .power_command_timeout = CB_POWER_COMMAND_TIMEOUT_DEFAULT,
                .hub_power_method = CB_HUB_POWER_AUTO,
        };
        config->boot_directory = strdup(CB_DEFAULT_BOOT_DIRECTORY);
        config->state_directory = strdup(CB_DEFAULT_STATE_DIRECTORY);
        if (!config->boot_directory || !config->state_directory)
                return -ENOMEM;

        *ret = config;
        config = NULL;
        return 0;
}

const char *cb_power_kind_name(enum cb_power_kind kind) {
        return (size_t) kind < ELEMENTSOF(power_kind_names) ? power_kind_names[kind] : "none";
}

const char *cb_bulk_recovery_name(enum cb_bulk_recovery recovery) {
        return (size_t) recovery < ELEMENTSOF(bulk_recovery_names) ? bulk_recovery_names[recovery] : "resume";
}

const char *cb_hub_power_method_name(enum cb_hub_power_method method) {
        return (size_t) method < ELEMENTSOF(hub_power_method_names) ? hub_power_method_names[method] : "auto";
}

const struct cb_node_config *cb_config_find_node_by_port(const struct cb_config *config, const char *port) {
        if (!config || !port)
                return NULL;
        for (size_t i = 0; i < config->n_nodes; i++)
                if (streq_ptr(config->nodes[i].port, port))
                        return &config->nodes[i];
        return NULL;
}

bool cb_soc_serial_valid(const char *serial) {
        size_t n = serial ? strlen(serial) : 0;

        if (n == 0 || n > 32)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char) serial[i]))
                        return false;
        return true;
}

const struct cb_node_config *cb_config_find_node_by_serial(const struct cb_config *config, const char *serial) {
        if (!config || !serial)
                return NULL;
        for (size_t i = 0; i < config->n_nodes; i++)
                if (config->nodes[i].serial && strcasecmp(config->nodes[i].serial, serial) == 0)
                        return &config->nodes[i];
        return NULL;
}

const struct cb_node_config *cb_config_find_node_by_name(const struct cb_config *config, const char *name) {
        if (!config || !name)
                return NULL;
        for (size_t i = 0; i < config->n_nodes; i++)
                if (streq_ptr(config->nodes[i].name, name))
                        return &config->nodes[i];
        return NULL;
}

static int set_section_title(struct parser *p, const char *title) {
        return strdup_to(&p->section_title, title);
}

static int start_node(struct parser *p, unsigned line, const char *name) {
        struct cb_config *c = p->config;
        const struct cb_node_config *existing;
        struct cb_node_config *nodes;
        struct node_lines *lines;
        int r;

        p->section = SECTION_NODE;

        node_config_done(&p->scratch);
        p->scratch_lines = (struct node_lines){ 0 };
        p->node = &p->scratch;
        p->lines = &p->scratch_lines;

        if (!node_name_is_valid(name)) {
                parse_error(p, line,
                            "invalid node name '%s': use 1-%d of [A-Za-z0-9_.-], not starting with '.' or '-'",
                            name, NODE_NAME_MAX);
                return 0;
        }
        existing = cb_config_find_node_by_name(c, name);
        if (existing) {
                parse_error(p, line, "duplicate section [Node %s], first defined on line %u", name, existing->line);
                return 0;
        }

        /* Grow both arrays before committing, so that a failed allocation leaves them consistent. */
        nodes = realloc(c->nodes, (c->n_nodes + 1) * sizeof *nodes);
        if (!nodes)
                return -ENOMEM;
        c->nodes = nodes;
        lines = realloc(p->node_lines, (c->n_nodes + 1) * sizeof *lines);
        if (!lines)
                return -ENOMEM;
        p->node_lines = lines;

        nodes[c->n_nodes] = (struct cb_node_config){ .line = line, .power = CB_POWER_NONE };
        r = strdup_to(&nodes[c->n_nodes].name, name);
        if (r < 0)
                return r;
        lines[c->n_nodes] = (struct node_lines){ 0 };

        p->node = &nodes[c->n_nodes];
        p->lines = &lines[c->n_nodes];
        c->n_nodes++;
        return 0;
}

/* The first word decides the suggestion: "[node x]" is a misspelt [Node x], whatever the name. */
static void unknown_section(struct parser *p, unsigned line, const char *title) {
        static const char *const sections[] = { "Daemon", "Node" };
        size_t n_word = strcspn(title, " \t");
        const char *rest = title + n_word + strspn(title + n_word, " \t");
        char word[64];
        const char *s;

        snprintf(word, sizeof word, "%.*s", (int) MIN(n_word, sizeof word - 1), title);
        s = cb_config_suggest(word, sections, ELEMENTSOF(sections));
        if (!s)
                parse_error(p, line, "unknown section [%s]", title);
        else if (strcmp(s, "Node") == 0)
                parse_error(p, line, "unknown section [%s] (did you mean [Node %s]?)", title, rest[0] ? rest : "NAME");
        else
                parse_error(p, line, "unknown section [%s] (did you mean [%s]?)", title, s);
}

static int parse_section_header(struct parser *p, unsigned line, char *text) {
        size_t n = strlen(text);
        char *title;

        /* Whatever goes wrong, keys up to the next header belong to no known section. */
        p->section = SECTION_IGNORE;
        p->node = NULL;
        p->lines = NULL;

        if (n < 2 || text[n - 1] != ']') {
                parse_error(p, line, "invalid section header '%s': expected '[Section]'", text);
                return 0;
        }
        text[n - 1] = '\0';
        title = text + 1;

        if (strcmp(title, "Daemon") == 0) {
                p->section = SECTION_DAEMON;
                return set_section_title(p, title);
        }
        if (strncmp(title, "Node", 4) == 0 && (title[4] == '\0' || is_blank(title[4]))) {
                char *name = strip(title + 4);

                if (*name == '\0') {
                        parse_error(p, line, "section [Node] needs a name: [Node NAME]");
                        return 0;
                }
                /* Normalised, so that "[Node   x]" is still called [Node x] in messages. */
                free(p->section_title);
                if (asprintf(&p->section_title, "Node %s", name) < 0) {
                        p->section_title = NULL;
                        return -ENOMEM;
                }
                return start_node(p, line, name);
        }

        unknown_section(p, line, title);
        return 0;
}

static int parse_daemon_key(struct parser *p, unsigned line, const char *key, const char *value) {
        const struct daemon_key *k = NULL;
        void *field;

        for (size_t i = 0; i < ELEMENTSOF(daemon_keys); i++)
                if (strcmp(daemon_keys[i].key, key) == 0) {
                        k = &daemon_keys[i];
                        break;
                }
        if (!k) {
                const char *names[ELEMENTSOF(daemon_keys)];
                char hint[128];

                for (size_t i = 0; i < ELEMENTSOF(daemon_keys); i++)
                        names[i] = daemon_keys[i].key;
                for (size_t i = 0; i < ELEMENTSOF(node_keys); i++)
                        if (strcmp(key, node_keys[i]) == 0) {
                                parse_error(p, line, "unknown key '%s' in section [Daemon]: it belongs in a [Node NAME] section",
                                            key);
                                return 0;
                        }
                parse_error(p, line, "unknown key '%s' in section [Daemon]%s", key,
                            did_you_mean(hint, sizeof hint, key, names, ELEMENTSOF(names), "", "="));
                return 0;
        }
        field = (char *) p->config + k->offset;
        if (k->offset == offsetof(struct cb_config, boot_directory))
                p->config->boot_directory_line = line;
        else if (k->offset == offsetof(struct cb_config, state_directory))
                p->config->state_directory_line = line;
        else if (k->offset == offsetof(struct cb_config, metrics_directory))
                p->config->metrics_directory_line = value[0] ? line : 0;

        switch (k->kind) {
        case VALUE_OPTIONAL_PATH:
                if (value[0] == '\0')
                        return strdup_to((char **) field, NULL);
                __attribute__((fallthrough));
        case VALUE_PATH:
                if (value[0] != '/') {
                        parse_error(p, line, "%s= must be an absolute path, got '%s'", key, value);
                        return 0;
                }
                return strdup_to((char **) field, value);

        case VALUE_UNSIGNED: {
                uint64_t v;
                int r = parse_u64(value, &v);
                if (r == -EINVAL) {
                        parse_error(p, line, "%s= expects a number, got '%s'", key, value);
                        return 0;
                }
                if (r < 0 || v < k->min || v > k->max) {
                        parse_error(p, line, "%s= must be between %" PRIu64 " and %" PRIu64 ", got '%s'", key,
                                    k->min, k->max, value);
                        return 0;
                }
                *(unsigned *) field = (unsigned) v;
                return 0;
        }

        case VALUE_BOOL: {
                int b = parse_boolean(value);
                if (b < 0) {
                        parse_error(p, line, "%s= expects yes/no, true/false, on/off or 1/0, got '%s'", key, value);
                        return 0;
                }
                *(bool *) field = b;
                return 0;
        }

        case VALUE_TIMESPAN: {
                usec_t t;
                int r = cb_parse_timespan(value, &t);
                if (r == -ERANGE) {
                        parse_error(p, line, "%s= is too large: '%s'", key, value);
                        return 0;
                }
                if (r < 0) {
                        parse_error(p, line, "%s= expects a time span such as 2, 1.5, 500ms, 2s or 1min, got '%s'",
                                    key, value);
                        return 0;
                }
                if (t < k->min) {
                        parse_error(p, line, "%s= must be at least 1ms, got '%s'", key, value);
                        return 0;
                }
                *(usec_t *) field = t;
                return 0;
        }

        case VALUE_HUB_POWER_METHOD:
                for (size_t i = 0; i < ELEMENTSOF(hub_power_method_names); i++)
                        if (strcmp(value, hub_power_method_names[i]) == 0) {
                                *(enum cb_hub_power_method *) field = (enum cb_hub_power_method) i;
                                return 0;
                        }
                parse_error(p, line, "%s= expects auto, sysfs or request, got '%s'", key, value);
                return 0;

        case VALUE_BULK_RECOVERY:
                for (size_t i = 0; i < ELEMENTSOF(bulk_recovery_names); i++)
                        if (strcmp(value, bulk_recovery_names[i]) == 0) {
                                *(enum cb_bulk_recovery *) field = (enum cb_bulk_recovery) i;
                                return 0;
                        }
                parse_error(p, line, "%s= expects resume or resend, got '%s'", key, value);
                return 0;
        }
        return 0;
}

static int parse_node_key(struct parser *p, unsigned line, const char *key, const char *value) {
        struct cb_node_config *node = p->node;
        struct node_lines *lines = p->lines;

        if (strcmp(key, "Port") == 0) {
                if (!cb_port_path_valid(value)) {
                        parse_error(p, line, "invalid port path '%s': expected BUS-PORT[.PORT]..., e.g. 1-1.3",
                                    value);
                        return 0;
                }
                lines->port = line;
                return strdup_to(&node->port, value);
        }
        if (strcmp(key, "Serial") == 0) {
                if (!cb_soc_serial_valid(value)) {
                        parse_error(p, line, "Serial= expects the SoC serial a CM4 or CM5 shows (hex digits, e.g. "
                                    "9c3b1c0c), got '%s'", value);
                        return 0;
                }
                node->serial_line = line;
                free(node->serial);
                node->serial = strdup(value);
                if (!node->serial)
                        return -ENOMEM;
                for (char *c = node->serial; *c; c++)
                        *c = (char) tolower((unsigned char) *c);
                return 0;
        }
        if (strcmp(key, "BootDirectory") == 0) {
                if (value[0] != '\0' && value[0] != '/') {
                        parse_error(p, line, "BootDirectory= must be an absolute path, got '%s'", value);
                        return 0;
                }
                node->boot_directory_line = value[0] ? line : 0;
                return strdup_to(&node->boot_directory, value[0] ? value : NULL);
        }
        if (strcmp(key, "Power") == 0) {
                for (size_t i = 0; i < ELEMENTSOF(power_kind_names); i++)
                        if (strcmp(value, power_kind_names[i]) == 0) {
                                node->power = (enum cb_power_kind) i;
                                lines->power = line;
                                return 0;
                        }
                parse_error(p, line, "Power= expects none, usb-hub or command, got '%s'", value);
                return 0;
        }
        if (strcmp(key, "InterfaceName") == 0) {
                /* the kernel's limit (IFNAMSIZ - 1), and what it refuses in a name */
                if (value[0] && !interface_name_valid(value)) {
                        parse_error(p, line, "InterfaceName= must be at most 15 characters, without '/', ':' or "
                                    "blanks, got '%s'", value);
                        return 0;
                }
                node->interface_name_set = true;
                node->interface_name_line = line;
                return strdup_to(&node->interface_name, value[0] ? value : NULL);
        }
        if (strcmp(key, "PowerOnCommand") == 0) {
                lines->power_on = node->power_on_line = value[0] ? line : 0;
                return strdup_to(&node->power_on_command, value[0] ? value : NULL);
        }
        if (strcmp(key, "PowerOffCommand") == 0) {
                lines->power_off = node->power_off_line = value[0] ? line : 0;
                return strdup_to(&node->power_off_command, value[0] ? value : NULL);
        }

        for (size_t i = 0; i < ELEMENTSOF(daemon_keys); i++)
                if (strcmp(key, daemon_keys[i].key) == 0 && strcmp(key, "BootDirectory") != 0) {
                        parse_error(p, line, "unknown key '%s' in section [%s]: it belongs in [Daemon]", key,
                                    p->section_title);
                        return 0;
                }
        char hint[128];
        parse_error(p, line, "unknown key '%s' in section [%s]%s", key, p->section_title,
                    did_you_mean(hint, sizeof hint, key, node_keys, ELEMENTSOF(node_keys), "", "="));
        return 0;
}

static int parse_line(struct parser *p, unsigned line, char *text) {
        char *eq, *key, *value;

        text = strip(text);
        if (text[0] == '\0' || text[0] == '#' || text[0] == ';')
                return 0;
        if (text[0] == '[')
                return parse_section_header(p, line, text);

        eq = strchr(text, '=');
        if (!eq) {
                parse_error(p, line, "expected 'Key=Value' or '[Section]', got '%s'", text);
                return 0;
        }
        *eq = '\0';
        key = strip(text);
        value = strip(eq + 1);

        if (key[0] == '\0') {
                parse_error(p, line, "missing key name before '='");
                return 0;
        }
        if (strstr(value, " #") || strstr(value, "\t#"))
                parse_warning(p, line,
                              "the value of %s= contains '#', which does not start a comment here: comments are "
                              "lines of their own; the value is '%s'",
                              key, value);

        switch (p->section) {
        case SECTION_NONE:
                parse_error(p, line, "key '%s' outside of any section", key);
                return 0;
        case SECTION_IGNORE:
                return 0;
        case SECTION_DAEMON:
                return parse_daemon_key(p, line, key, value);
        case SECTION_NODE:
                return parse_node_key(p, line, key, value);
        }
        return 0;
}

/* Checks that need the whole file: they depend on keys that may come in any order or in other sections. */
static void check_nodes(struct parser *p) {
        const struct cb_config *c = p->config;

        for (size_t i = 0; i < c->n_nodes; i++) {
                const struct cb_node_config *n = &c->nodes[i];
                const struct node_lines *l = &p->node_lines[i];

                if (!n->port && !n->serial)
                        parse_error(p, n->line, "[Node %s] has no Port= (or Serial=)", n->name);
                if (!n->port && n->serial && n->power == CB_POWER_USB_HUB)
                        parse_error(p, l->power,
                                    "[Node %s]: Power=usb-hub needs Port=, the hub port to switch until its board "
                                    "(Serial=%s) has been seen",
                                    n->name, n->serial);
                if (!n->port && n->interface_name_set && n->interface_name && n->interface_name[0])
                        parse_warning(p, n->interface_name_line,
                                      "[Node %s]: InterfaceName= needs Port= (interfaces are named by port): its "
                                      "gadget's interface keeps the kernel's name",
                                      n->name);
                for (size_t j = 0; n->serial && j < i; j++)
                        if (streq_ptr(c->nodes[j].serial, n->serial)) {
                                parse_error(p, n->serial_line, "serial %s of [Node %s] is already that of [Node %s] (line %u)",
                                            n->serial, n->name, c->nodes[j].name, c->nodes[j].line);
                                break;
                        }

                if (n->power == CB_POWER_COMMAND) {
                        /* Split here, not when the node first switches, so a typo is refused with its line. */
                        const struct {
                                const char *key;
                                const char *text;
                                unsigned line;
                        } commands[] = {
                                { "PowerOnCommand", n->power_on_command, l->power_on },
                                { "PowerOffCommand", n->power_off_command, l->power_off },
                        };

                        if (!n->power_on_command || !n->power_off_command)
                                parse_error(p, l->power,
                                            "Power=command needs both PowerOnCommand= and PowerOffCommand=");
                        for (size_t k = 0; k < ELEMENTSOF(commands); k++) {
                                const char *error = NULL;
                                int r;

                                if (!commands[k].text)
                                        continue;
                                r = cb_command_split(commands[k].text, NULL, &error);
                                if (r < 0)
                                        parse_error(p, commands[k].line, "%s=: %s", commands[k].key,
                                                    r == -EINVAL && error ? error : strerror(-r));
                        }
                } else {
                        if (n->power_on_command)
                                parse_error(p, l->power_on, "PowerOnCommand= is only used with Power=command");
                        if (n->power_off_command)
                                parse_error(p, l->power_off, "PowerOffCommand= is only used with Power=command");
                }

                if (!n->interface_name_set && strlen(n->name) > 15)
                        parse_warning(p, n->line,
                                      "[Node %s]: the name is too long for a network interface (15 characters at "
                                      "most): its gadget's interface keeps the kernel's name; set InterfaceName=",
                                      n->name);
                const char *ifname = cb_node_config_interface_name(n);
                for (size_t j = 0; ifname && j < i; j++)
                        if (streq_ptr(cb_node_config_interface_name(&c->nodes[j]), ifname)) {
                                parse_error(p, n->interface_name_line ? n->interface_name_line : n->line,
                                            "[Node %s]: its interface would be called %s, as that of [Node %s]; set "
                                            "InterfaceName= to tell them apart",
                                            n->name, ifname, c->nodes[j].name);
                                break;
                        }

                if (!n->port)
                        continue;
                for (size_t j = 0; j < i; j++)
                        if (streq_ptr(c->nodes[j].port, n->port)) {
                                parse_error(p, l->port, "port %s of [Node %s] is already used by [Node %s] (line %u)",
                                            n->port, n->name, c->nodes[j].name, c->nodes[j].line);
                                break;
                        }
        }
}

/* `text` need not be NUL-terminated; a NUL inside it is reported like any other bad line. */
static int parse_buffer(const char *name, const char *text, size_t size, struct cb_config_report *report,
                        struct cb_config **ret) {
        _cleanup_config_ struct cb_config *config = NULL;
        _cleanup_free_ char *buf = NULL;
        struct parser p = { .name = name, .report = report };
        unsigned line = 0;
        int r;

        r = cb_config_new_default(&config);
        if (r < 0)
                return r;
        r = strdup_to(&config->path, name);
        if (r < 0)
                return r;
        p.config = config;

        buf = malloc(LINE_MAX_BYTES + 1);
        if (!buf)
                return -ENOMEM;

        for (size_t pos = 0; pos < size;) {
                const char *start = text + pos, *nl = memchr(start, '\n', size - pos);
                size_t len = nl ? (size_t) (nl - start) : size - pos;

                pos += len + (nl ? 1 : 0);
                line++;

                if (len > LINE_MAX_BYTES) {
                        parse_error(&p, line, "line too long (%zu bytes, at most %d)", len, LINE_MAX_BYTES);
                        continue;
                }
                if (memchr(start, '\0', len)) {
                        parse_error(&p, line, "line contains a NUL byte");
                        continue;
                }
                memcpy(buf, start, len);
                buf[len] = '\0';

                r = parse_line(&p, line, buf);
                if (r < 0)
                        break;
        }

        if (r >= 0)
                check_nodes(&p);

        node_config_done(&p.scratch);
        free(p.node_lines);
        free(p.section_title);

        if (r < 0)
                return r;
        if (report->n_errors > 0)
                return -EINVAL;

        *ret = config;
        config = NULL;
        return 0;
}

int cb_config_load_string_report(const char *name, const char *text, struct cb_config_report *report,
                                 struct cb_config **ret) {
        int r;

        if (!name || !text || !report || !ret)
                return -EINVAL;
        r = cb_config_report_init(report, name);
        if (r < 0)
                return r;
        return parse_buffer(name, text, strlen(text), report, ret);
}

static int read_file(const char *path, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *data = NULL;
        size_t size = 0, allocated = 0;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;

        /* Read until EOF rather than trusting st_size, which is 0 for pipes and some pseudo files. */
        for (;;) {
                if (size == allocated) {
                        size_t n = allocated ? allocated * 2 : 4096;
                        if (allocated >= FILE_MAX_BYTES)
                                return -EFBIG;
                        char *d = realloc(data, n);
                        if (!d)
                                return -ENOMEM;
                        data = d;
                        allocated = n;
                }
                ssize_t k = read(fd, data + size, allocated - size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        *ret = data;
        data = NULL;
        *ret_size = size;
        return 0;
}

int cb_config_load_report(const char *path, bool missing_ok, struct cb_config_report *report,
                          struct cb_config **ret) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r;

        if (!path || !report || !ret)
                return -EINVAL;
        r = cb_config_report_init(report, path);
        if (r < 0)
                return r;

        r = read_file(path, &data, &size);
        if (r == -ENOENT && missing_ok) {
                log_debug("%s: not found, using defaults", path);
                return cb_config_new_default(ret);
        }
        if (r < 0) {
                (void) cb_config_report_add(report, false, 0, "cannot read the file: %s", strerror(-r));
                return r;
        }

        /* An empty file has no buffer; parse_buffer never dereferences it when size is 0. */
        return parse_buffer(path, data ? data : "", size, report, ret);
}

/* The daemon's way: every message into the log, and one closing line when the file is refused. */
static int log_report(const struct cb_config_report *report, int r) {
        cb_config_report_log(report);
        if (r == -EINVAL && report->n_errors > 0)
                log_error("%s: %u error%s, configuration refused", report->path, report->n_errors,
                          report->n_errors == 1 ? "" : "s");
        else if (r < 0 && report->n_errors == 0)
                log_error_errno(r, "%s: cannot load the configuration", report->path ? report->path : "?");
        return r;
}

int cb_config_load(const char *path, bool missing_ok, struct cb_config **ret) {
        struct cb_config_report report = { 0 };
        int r = cb_config_load_report(path, missing_ok, &report, ret);

        r = log_report(&report, r);
        cb_config_report_done(&report);
        return r;
}

int cb_config_load_string(const char *name, const char *text, struct cb_config **ret) {
        struct cb_config_report report = { 0 };
        int r = cb_config_load_string_report(name, text, &report, ret);

        r = log_report(&report, r);
        cb_config_report_done(&report);
        return r;
}
