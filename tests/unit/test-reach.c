/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reaching a booted board: the per-port files udev reads to name its
 * network interface and start clusterboot-up@NODE.target (port-files.c),
 * what InterfaceName= accepts, and the interfaces, MACs and ttys of a port's
 * gadget as udev's events tell them (gadget-info.c).
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "check.h"
#include "config.h"
#include "gadget-info.h"
#include "json-util.h"
#include "log.h"
#include "port-files.h"
#include "util.h"

static char tmp[64];

static char *slurp(const char *path) {
        static char buf[4096];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;

        if (fd >= 0)
                close(fd);
        if (n < 0)
                return NULL;
        buf[n] = '\0';
        return buf;
}

static void put(const char *rel, const char *text) {
        char path[512], dir[512];

        snprintf(path, sizeof path, "%s/%s", tmp, rel);
        for (char *p = path + strlen(tmp) + 1; (p = strchr(p, '/')); p++) {
                snprintf(dir, sizeof dir, "%.*s", (int) (p - path), path);
                (void) mkdir(dir, 0755);
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t) strlen(text));
        if (fd >= 0)
                close(fd);
}

static struct cb_config *load(const char *text, int want) {
        struct cb_config_report report = { 0 };
        struct cb_config *c = NULL;
        int r = cb_config_load_string_report("t.conf", text, &report, &c);

        CHECK_MSG(r == want, "load: %d, want %d", r, want);
        if (r != want)
                cb_config_report_print(&report, stderr);
        cb_config_report_done(&report);
        return c;
}

static void test_port_files(void) {
        struct cb_config *c = load("[Node node3]\nPort=1-1.3\n"
                                   "[Node head]\nPort=1-1.1\nInterfaceName=ethpi1\n"
                                   "[Node quiet]\nPort=1-1.2\nInterfaceName=\n"
                                   "[Node a-very-long-node-name]\nPort=2-1\n",
                                   0);
        char path[256], stale[256];
        const char *text;

        if (!c)
                return;
        snprintf(stale, sizeof stale, "%s/ports/9-9", tmp);
        put("ports/9-9", "CLUSTERBOOT_NODE=gone\n");
        CHECK(cb_port_files_write(tmp, c) == 0);
        snprintf(path, sizeof path, "%s/ports/1-1.3", tmp);
        text = slurp(path);
        CHECK_MSG(text && strcmp(text, "CLUSTERBOOT_NODE=node3\nCLUSTERBOOT_INTERFACE=node3\n") == 0, "1-1.3: %s", text);
        snprintf(path, sizeof path, "%s/ports/1-1.1", tmp);
        text = slurp(path);
        CHECK_MSG(text && strcmp(text, "CLUSTERBOOT_NODE=head\nCLUSTERBOOT_INTERFACE=ethpi1\n") == 0, "1-1.1: %s", text);
        /* no interface name: the kernel's stays */
        snprintf(path, sizeof path, "%s/ports/1-1.2", tmp);
        text = slurp(path);
        CHECK_MSG(text && strcmp(text, "CLUSTERBOOT_NODE=quiet\n") == 0, "1-1.2: %s", text);
        snprintf(path, sizeof path, "%s/ports/2-1", tmp);
        text = slurp(path);
        CHECK_MSG(text && strcmp(text, "CLUSTERBOOT_NODE=a-very-long-node-name\n") == 0, "2-1: %s", text);
        CHECK_MSG(access(stale, F_OK) < 0, "the file of a port no longer configured is still there");
        cb_config_free(c);

        /* a reload without node3: its file goes, the others stay */
        c = load("[Node head]\nPort=1-1.1\n", 0);
        CHECK(c && cb_port_files_write(tmp, c) == 0);
        snprintf(path, sizeof path, "%s/ports/1-1.3", tmp);
        CHECK(access(path, F_OK) < 0);
        snprintf(path, sizeof path, "%s/ports/1-1.1", tmp);
        text = slurp(path);
        CHECK_MSG(text && strcmp(text, "CLUSTERBOOT_NODE=head\nCLUSTERBOOT_INTERFACE=head\n") == 0, "1-1.1: %s", text);
        cb_config_free(c);
}

static void test_interface_names(void) {
        cb_config_free(load("[Node a]\nPort=1-1\nInterfaceName=0123456789abcdef\n", -EINVAL)); /* 16 characters */
        cb_config_free(load("[Node a]\nPort=1-1\nInterfaceName=eth/0\n", -EINVAL));
        cb_config_free(load("[Node a]\nPort=1-1\nInterfaceName=pi\n[Node b]\nPort=1-2\nInterfaceName=pi\n", -EINVAL));
        /* b's name is a's interface name */
        cb_config_free(load("[Node a]\nPort=1-1\nInterfaceName=b\n[Node b]\nPort=1-2\n", -EINVAL));
        cb_config_free(load("[Node a]\nPort=1-1\nInterfaceName=b\n[Node b]\nPort=1-2\nInterfaceName=a\n", 0));
        cb_config_free(load("[Node a]\nPort=1-1\nInterfaceName=\n[Node b]\nPort=1-2\nInterfaceName=\n", 0));
}

/* What udev tells of a gadget's devices, kept: the status lists them with no sysfs read. */
static void test_gadget_info(void) {
        static const char usb[] = "/devices/pci0000:00/0000:00:14.0/usb1/1-1";
        struct cb_gadget_table *t = NULL;
        struct json_object *o = NULL;
        char path[6][256], port[64];
        const char *text, *name;

        snprintf(path[0], sizeof path[0], "%s/1-1.3/1-1.3:1.0/net/node3", usb);
        snprintf(path[1], sizeof path[1], "%s/1-1.3/1-1.3:1.2/tty/ttyACM0", usb);
        snprintf(path[2], sizeof path[2], "%s/1-1.3/1-1.3:1.1/net/usb1", usb);
        snprintf(path[3], sizeof path[3], "%s/1-1.3/1-1.3.1/1-1.3.1:1.0/net/other", usb); /* behind a hub on it */
        snprintf(path[4], sizeof path[4], "%s/1-1.30/1-1.30:1.0/net/wrong", usb);
        snprintf(path[5], sizeof path[5], "%s/1-1.3/1-1.3:1.1/net/eth7", usb);

        CHECK(cb_gadget_parse_devpath(path[0], "net", port, &name) == 0 && strcmp(port, "1-1.3") == 0 &&
              strcmp(name, "node3") == 0);
        CHECK(cb_gadget_parse_devpath(path[0], "tty", port, &name) == -EINVAL);
        CHECK(cb_gadget_parse_devpath("/devices/virtual/net/lo", "net", port, &name) == -EINVAL);
        CHECK(cb_gadget_parse_devpath("/devices/virtual/tty/tty0", "tty", port, &name) == -EINVAL);
        CHECK(cb_gadget_parse_devpath("/devices/usb1/1-1/1-2:1.0/net/x", "net", port, &name) == -EINVAL);
        CHECK(cb_gadget_parse_devpath("net/x", "net", port, &name) == -EINVAL);

        CHECK(cb_gadget_table_new(&t) == 0);
        CHECK(cb_gadget_table_event(t, "add", "net", path[0], NULL, "02:12:34:56:78:9a") == 0);
        CHECK(cb_gadget_table_event(t, "add", "tty", path[1], NULL, NULL) == 0);
        CHECK(cb_gadget_table_event(t, "add", "net", path[2], NULL, "02:00:00:00:00:01") == 0);
        CHECK(cb_gadget_table_event(t, "add", "net", path[3], NULL, "02:00:00:00:00:02") == 0);
        CHECK(cb_gadget_table_event(t, "add", "net", path[4], NULL, "02:00:00:00:00:03") == 0);
        CHECK(cb_gadget_table_event(t, "add", "net", "/devices/virtual/net/lo", NULL, "00:00:00:00:00:00") == 0);
        /* a second add of the same device is the device as it is now, not a second one */
        CHECK(cb_gadget_table_event(t, "change", "net", path[0], NULL, "02:12:34:56:78:9a") == 0);
        CHECK(cb_gadget_table_event(t, "add", "block", path[0], NULL, NULL) == 0);

        CHECK(cb_gadget_table_json(t, "1-1.3", &o) == 0);
        text = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "";
        CHECK_MSG(strcmp(text, "{\"interfaces\":[{\"name\":\"node3\",\"mac\":\"02:12:34:56:78:9a\"},"
                               "{\"name\":\"usb1\",\"mac\":\"02:00:00:00:00:01\"}],\"ttys\":[\"ttyACM0\"]}") == 0,
                  "got %s", text);
        json_object_put(o);

        /* udev renames it (as 61-clusterboot-nodes.rules does), then the board goes */
        CHECK(cb_gadget_table_event(t, "move", "net", path[5], path[2], "02:00:00:00:00:01") == 0);
        CHECK(cb_gadget_table_event(t, "remove", "net", path[0], NULL, NULL) == 0);
        CHECK(cb_gadget_table_event(t, "remove", "tty", path[1], NULL, NULL) == 0);
        CHECK(cb_gadget_table_json(t, "1-1.3", &o) == 0);
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        CHECK_MSG(strcmp(text, "{\"interfaces\":[{\"name\":\"eth7\",\"mac\":\"02:00:00:00:00:01\"}],\"ttys\":[]}") == 0,
                  "got %s", text);
        json_object_put(o);

        /* no device on the port, and names that are not ports: empty lists */
        CHECK(cb_gadget_table_json(t, "4-1", &o) == 0);
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        CHECK_MSG(strcmp(text, "{\"interfaces\":[],\"ttys\":[]}") == 0, "got %s", text);
        json_object_put(o);
        CHECK(cb_gadget_table_json(t, "../sys/1-1.3", &o) == 0);
        CHECK(strcmp(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "{\"interfaces\":[],\"ttys\":[]}") == 0);
        json_object_put(o);
        CHECK(cb_gadget_table_json(NULL, "1-1.3", &o) == 0);
        CHECK(strcmp(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "{\"interfaces\":[],\"ttys\":[]}") == 0);
        json_object_put(o);
        cb_gadget_table_free(t);
}

int main(void) {
        snprintf(tmp, sizeof tmp, "/tmp/test-reach-XXXXXX");
        if (!mkdtemp(tmp))
                return 2;
        cb_log_open(CB_LOG_STDERR);
        test_port_files();
        test_interface_names();
        test_gadget_info();
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", tmp);
        return check_exit("test-reach");
}
