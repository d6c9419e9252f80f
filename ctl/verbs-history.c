/* SPDX-License-Identifier: GPL-2.0-or-later */
/* history [NODE]: the boots the daemon remembers, across its restarts. */
#include <stdlib.h>

#include "clusterboot/varlink.h"
#include "ctl.h"
#include "history-view.h"
#include "json-util.h"

int verb_history(struct ctl *ctl, int argc, char **argv) {
        struct json_object *params = NULL;
        struct vl_reply reply = { 0 };
        int r;

        if (argc > 1) {
                params = ctl_name_params(argv[1]);
                if (!params)
                        return fail(EXIT_FAILED, "out of memory");
        }
        r = ctl_call(ctl, CB_VL_METHOD_GET_HISTORY, params, &reply);
        json_object_put(params);
        if (r != EXIT_OK)
                return r;
        if (view_history(stdout, reply.parameters, &ctl->view) < 0)
                r = fail(EXIT_FAILED, "out of memory");
        vl_reply_done(&reply);
        return r;
}
