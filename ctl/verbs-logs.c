/* SPDX-License-Identifier: GPL-2.0-or-later */
/* logs NODE: the node's entries in the journal (-n N, -f), found by its name and its port. */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "clusterboot/varlink.h"
#include "ctl.h"
#include "journal.h"
#include "json-util.h"

static void on_stop(int sig) {
        journal_stop = 1;
}

/*
 * The node's name and port as the daemon knows them (a port given, or a
 * node since renamed, still finds its entries). Without a daemon, or for a
 * node it no longer knows, the word is taken as both: the journal remembers
 * more than the daemon does.
 */
static void resolve(struct ctl *ctl, const char *word, char *name, size_t name_size, char *port, size_t port_size) {
        struct json_object *params = ctl_name_params(word), *nodes = NULL;
        struct vl_client *client = NULL;
        struct vl_reply reply = { 0 };

        snprintf(name, name_size, "%s", word);
        snprintf(port, port_size, "%s", word);
        if (!params || vl_client_connect(ctl->socket_path, &client) < 0 ||
            vl_client_call(client, CB_VL_METHOD_GET_STATUS, params, &reply) < 0 || reply.error ||
            cb_json_get_array(reply.parameters, CB_VL_FIELD_NODES, &nodes) <= 0 || json_object_array_length(nodes) == 0)
                goto out;
        snprintf(name, name_size, "%s", cb_json_string_or(json_object_array_get_idx(nodes, 0), CB_VL_FIELD_NAME, word));
        snprintf(port, port_size, "%s", cb_json_string_or(json_object_array_get_idx(nodes, 0), CB_VL_FIELD_PORT, word));
out:
        vl_reply_done(&reply);
        vl_client_free(client);
        json_object_put(params);
}

int verb_logs(struct ctl *ctl, int argc, char **argv) {
        struct sigaction sa = { .sa_handler = on_stop };
        char name[256], port[64];
        struct journal_query q = {
                .name = name,
                .port = port,
                .directory = ctl->journal_directory,
                .lines = ctl->lines,
                .follow = ctl->follow,
                .colours = ctl->view.colours,
        };
        int r;

        if (ctl->lines_given && ctl->lines == 0 && !ctl->follow)
                return EXIT_OK;
        resolve(ctl, argv[1], name, sizeof name, port, sizeof port);
        /* as journalctl -f: the last 10, then what comes */
        if (q.follow && !ctl->lines_given)
                q.lines = 10;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        r = journal_show(stdout, &q);
        if (r == -EPERM || r == -EACCES)
                return fail(EXIT_PERMISSION, "logs: the journal cannot be read: %s (root or the group systemd-journal "
                            "may read it)", strerror(-r));
        if (r < 0)
                return fail(EXIT_FAILED, "logs: the journal cannot be read: %s", strerror(-r));
        if (r == 0 && !q.follow && !ctl->quiet)
                return fail(EXIT_OK, "no journal entries for %s", name);
        return EXIT_OK;
}
