/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The varlink descriptions (daemon/control-interface.c) that
 * GetInterfaceDescription serves: each names its interface, and every
 * method the daemon answers (clusterboot/varlink.h) is described in the
 * interface it belongs to, exactly once. (tests/varlink-idl.sh parses them
 * with a real varlink parser through the daemon.)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "clusterboot/varlink.h"
#include "control-interface.h"
#include "util.h"

/* How often "method NAME(" is in `text`, NAME being the part after the interface's last '.'. */
static unsigned methods_named(const char *text, const char *method) {
        char want[128];
        unsigned n = 0;

        snprintf(want, sizeof want, "\nmethod %s(", strrchr(method, '.') + 1);
        for (const char *p = text; (p = strstr(p, want)); p++)
                n++;
        return n;
}

/* The first line that is not a comment says which interface it is. */
static bool names_interface(const char *text, const char *interface) {
        char want[128];
        const char *p = text;

        while (*p == '#')
                p = strchr(p, '\n') + 1;
        snprintf(want, sizeof want, "interface %s\n", interface);
        return strncmp(p, want, strlen(want)) == 0;
}

int main(void) {
        const char *ours[] = { CB_VL_METHOD_GET_STATUS, CB_VL_METHOD_WATCH, CB_VL_METHOD_REBOOT,
                               CB_VL_METHOD_POWER_ON, CB_VL_METHOD_POWER_OFF, CB_VL_METHOD_RETRY,
                               CB_VL_METHOD_RELOAD, CB_VL_METHOD_GET_METRICS, CB_VL_METHOD_GET_HISTORY };
        const char *service[] = { CB_VL_METHOD_GET_INFO, CB_VL_METHOD_GET_INTERFACE_DESCRIPTION };
        char *whole = NULL;

        CHECK(names_interface(cb_control_interface_description, CB_VL_INTERFACE));
        CHECK(names_interface(cb_control_service_interface_description, CB_VL_SERVICE_INTERFACE));
        /* served one after the other: the history part is no interface of its own */
        CHECK(strstr(cb_control_interface_history_description, "interface ") == NULL);
        REQUIRE(asprintf(&whole, "%s%s", cb_control_interface_description,
                         cb_control_interface_history_description) >= 0);
        for (size_t i = 0; i < ELEMENTSOF(ours); i++) {
                CHECK_MSG(methods_named(whole, ours[i]) == 1, "%s described %u times", ours[i],
                          methods_named(whole, ours[i]));
                CHECK_MSG(methods_named(cb_control_service_interface_description, ours[i]) == 0, "%s in the service",
                          ours[i]);
        }
        CHECK(methods_named(cb_control_interface_history_description, CB_VL_METHOD_GET_HISTORY) == 1);
        for (size_t i = 0; i < ELEMENTSOF(service); i++) {
                CHECK_MSG(methods_named(cb_control_service_interface_description, service[i]) == 1, "%s", service[i]);
                CHECK_MSG(methods_named(whole, service[i]) == 0, "%s in io.clusterboot", service[i]);
        }
        /* plain text a parser reads: printable ASCII and newlines, no tab, ending in a newline */
        for (const char *p = whole; *p; p++)
                CHECK_MSG(*p == '\n' || (*p >= ' ' && *p < 0x7f), "byte 0x%02x at %zu", (unsigned char) *p,
                          (size_t) (p - whole));
        CHECK(whole[strlen(whole) - 1] == '\n');
        free(whole);
        return check_exit("test-control-interface");
}
