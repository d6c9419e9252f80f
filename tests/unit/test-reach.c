/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reaching a booted board: the per-port files udev reads to name its
 * network interface and start clusterboot-up@NODE.target (port-files.c),
 * what InterfaceName= accepts, and the interfaces, MACs and ttys read from
 * a port's sysfs tree (gadget-info.c, on a tree of real files).
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

static void test_gadget_info(void) {
        struct json_object *o = NULL;
        char root[128];
        const char *text;

        snprintf(root, sizeof root, "%s/sys", tmp);
        put("sys/1-1.3/1-1.3:1.0/net/node3/address", "02:12:34:56:78:9a\n");
        put("sys/1-1.3/1-1.3:1.2/tty/ttyACM0/dev", "166:0\n");
        put("sys/1-1.3/1-1.3:1.1/net/usb1/address", "02:00:00:00:00:01\n");
        put("sys/1-1.3/1-1.3.1/1-1.3.1:1.0/net/other/address", "02:00:00:00:00:02\n"); /* behind a hub on it: not it */
        put("sys/1-1.30/1-1.30:1.0/net/wrong/address", "02:00:00:00:00:03\n");

        CHECK(cb_gadget_info_json(root, "1-1.3", &o) == 0);
        text = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "";
        CHECK_MSG(strcmp(text, "{\"interfaces\":[{\"name\":\"node3\",\"mac\":\"02:12:34:56:78:9a\"},"
                               "{\"name\":\"usb1\",\"mac\":\"02:00:00:00:00:01\"}],\"ttys\":[\"ttyACM0\"]}") == 0,
                  "got %s", text);
        json_object_put(o);

        /* no device on the port, and names that are not ports: empty lists */
        CHECK(cb_gadget_info_json(root, "4-1", &o) == 0);
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        CHECK_MSG(strcmp(text, "{\"interfaces\":[],\"ttys\":[]}") == 0, "got %s", text);
        json_object_put(o);
        CHECK(cb_gadget_info_json(root, "../sys/1-1.3", &o) == 0);
        CHECK(strcmp(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "{\"interfaces\":[],\"ttys\":[]}") == 0);
        json_object_put(o);
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
