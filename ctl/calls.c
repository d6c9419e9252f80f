/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Talking to the daemon: connecting, one call and its reply, and every failure as one line for people. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "clusterboot/varlink.h"
#include "ctl.h"
#include "format.h"
#include "json-util.h"

int fail(int status, const char *format, ...) {
        va_list ap;

        fputs("clusterbootctl: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        return status;
}

/* ssh [options] -- HOST clusterbootctl bridge: the far side joins the session to its own socket. */
static int connect_host(const struct ctl *ctl, struct vl_client **ret) {
        const char *ssh = getenv("CLUSTERBOOT_SSH");
        char *argv[] = { (char *) (ssh && ssh[0] ? ssh : "ssh"), (char *) "-x", (char *) "-T", (char *) "-e",
                         (char *) "none", (char *) "--", (char *) ctl->host, (char *) "clusterbootctl",
                         (char *) "bridge", NULL };
        int r = vl_client_connect_command(argv, ret);

        if (r < 0)
                return fail(EXIT_NOT_RUNNING, "%s: cannot run %s: %s", ctl->host, argv[0], strerror(-r));
        return EXIT_OK;
}

/* A new connection, or a message saying why not; returns an exit status. */
int ctl_connect_new(const struct ctl *ctl, struct vl_client **ret) {
        int r;

        if (ctl->host)
                return connect_host(ctl, ret);
        r = vl_client_connect(ctl->socket_path, ret);

        if (r == -ENOENT || r == -ECONNREFUSED)
                return fail(EXIT_NOT_RUNNING,
                            "clusterboot is not running (cannot connect to %s): start it with 'systemctl start clusterboot'",
                            ctl->socket_path);
        if (r < 0)
                return fail(EXIT_NOT_RUNNING, "cannot connect to %s: %s", ctl->socket_path, strerror(-r));
        return EXIT_OK;
}

int ctl_connect_daemon(struct ctl *ctl) {
        if (ctl->client)
                return EXIT_OK;
        return ctl_connect_new(ctl, &ctl->client);
}

int ctl_transport_failure(const struct ctl *ctl, int r) {
        if (r == -ETIMEDOUT)
                return fail(EXIT_FAILED, "clusterboot did not answer within %llus",
                            (unsigned long long) (VL_TIMEOUT_DEFAULT / 1000000ULL));
        /* over ssh, a host that cannot be reached (or has no clusterboot) looks like this; ssh said why above */
        if (r == -ECONNRESET && ctl->host)
                return fail(EXIT_NOT_RUNNING, "%s: no answer from clusterboot over ssh", ctl->host);
        if (r == -ECONNRESET)
                return fail(EXIT_FAILED, "clusterboot closed the connection (did it stop?)");
        if (r == -EBADMSG)
                return fail(EXIT_FAILED, "%s answered something clusterbootctl does not understand (is it clusterboot's socket?)",
                            ctl->socket_path);
        return fail(EXIT_FAILED, "talking to clusterboot failed: %s", strerror(-r));
}

/* A daemon error as one line, and the exit status it stands for. `what` is the command as typed. */
int ctl_reply_failure(const struct vl_reply *reply, const char *what) {
        const char *message = vl_reply_message(reply);
        char clean[512];

        if (strcmp(reply->error, CB_VL_ERROR_NO_SUCH_NODE) == 0)
                return fail(EXIT_NO_SUCH_NODE, "%s", format_sanitize(clean, sizeof clean, message ? message : "no such node"));
        /* the daemon's message names its method; people typed a command */
        if (strcmp(reply->error, CB_VL_ERROR_PERMISSION_DENIED) == 0)
                return fail(EXIT_PERMISSION,
                            "%s: permission denied: only root and members of the group '" CB_VL_CONTROL_GROUP
                            "' may do this",
                            what);
        if (strcmp(reply->error, CB_VL_ERROR_METHOD_NOT_FOUND) == 0)
                return fail(EXIT_FAILED, "%s: the running clusterboot is older than clusterbootctl and cannot do this",
                            what);
        if (strcmp(reply->error, CB_VL_ERROR_SERVICE_INVALID_PARAMETER) == 0)
                return fail(EXIT_FAILED, "%s: the running clusterboot does not accept '%s' here", what,
                            format_sanitize(clean, sizeof clean,
                                            cb_json_string_or(reply->parameters, CB_VL_FIELD_PARAMETER, "?")));
        if (strcmp(reply->error, CB_VL_ERROR_RELOAD_FAILED) == 0) {
                struct json_object *errors = NULL;

                /* the file's errors, one a line as an editor wants them, then what it means */
                if (cb_json_get_array(reply->parameters, CB_VL_FIELD_ERRORS, &errors) > 0 &&
                    json_object_array_length(errors) > 0) {
                        for (size_t i = 0; i < json_object_array_length(errors); i++)
                                fprintf(stderr, "%s\n",
                                        format_sanitize(clean, sizeof clean,
                                                        json_object_get_string(json_object_array_get_idx(errors, i))));
                        return fail(EXIT_FAILED, "the configuration was not reloaded; the running configuration is kept");
                }
        }
        if (message)
                return fail(EXIT_FAILED, "%s", format_sanitize(clean, sizeof clean, message));
        return fail(EXIT_FAILED, "%s failed: %s", what, format_sanitize(clean, sizeof clean, reply->error));
}

/* One call, one reply. Returns an exit status; on EXIT_OK *reply is filled. */
int ctl_call(struct ctl *ctl, const char *method, struct json_object *params, struct vl_reply *reply) {
        int r = ctl_connect_daemon(ctl);

        if (r != EXIT_OK)
                return r;
        r = vl_client_call(ctl->client, method, params, reply);
        if (r < 0)
                return ctl_transport_failure(ctl, r);
        if (reply->error) {
                int status = ctl_reply_failure(reply, ctl->verb);
                vl_reply_done(reply);
                return status;
        }
        return EXIT_OK;
}

struct json_object *ctl_name_params(const char *name) {
        struct json_object *p = json_object_new_object();

        if (p && cb_json_add_string(p, CB_VL_FIELD_NAME, name) < 0) {
                json_object_put(p);
                return NULL;
        }
        return p;
}

uint64_t ctl_realtime_now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

