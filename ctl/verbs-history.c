/* SPDX-License-Identifier: GPL-2.0-or-later */
/* history [NODE]: the boots the daemon remembers, across its restarts; timeline: the same as a picture. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clusterboot/varlink.h"
#include "ctl.h"
#include "history-view.h"
#include "json-util.h"
#include "timeline.h"

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

/* A saved `history --json` (--input=FILE; "-": stdin), as the daemon's reply would be. */
static int read_history_file(const char *path, struct json_object **ret) {
        FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
        char *text = NULL;
        size_t size = 0, n;
        const char *reason = NULL;
        char buf[65536];
        int r;

        if (!f)
                return fail(EXIT_FAILED, "timeline: cannot read %s: %s", path, strerror(errno));
        FILE *m = open_memstream(&text, &size);
        if (!m) {
                if (f != stdin)
                        fclose(f);
                return fail(EXIT_FAILED, "out of memory");
        }
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                fwrite(buf, 1, n, m);
        bool bad_read = ferror(f);
        if (f != stdin)
                fclose(f);
        fclose(m);
        while (size > 0 && (text[size - 1] == '\n' || text[size - 1] == ' '))
                size--;
        if (bad_read) {
                free(text);
                return fail(EXIT_FAILED, "timeline: cannot read %s", path);
        }
        r = cb_json_parse_object(text, size, ret, &reason);
        free(text);
        if (r < 0)
                return fail(EXIT_FAILED, "timeline: %s is not the output of history --json: %s", path,
                            reason ? reason : "out of memory");
        return EXIT_OK;
}

int verb_timeline(struct ctl *ctl, int argc, char **argv) {
        struct timeline_options o = { .last = ctl->timeline_last, .now_usec = ctl_realtime_now() };
        struct json_object *saved = NULL, *history;
        struct vl_reply reply = { 0 };
        char *svg = NULL;
        size_t size = 0;
        int r, drawn;

        if (ctl->timeline_since && timeline_parse_since(ctl->timeline_since, ctl_realtime_now(), &o.since_usec) < 0)
                return fail(EXIT_USAGE, "--since: expected a time such as 2h (ago), '2026-12-03 23:00' or 23:00, got '%s'",
                            ctl->timeline_since);
        if (!ctl->output && isatty(STDOUT_FILENO))
                return fail(EXIT_USAGE, "timeline: an SVG picture; write it with -o FILE (or redirect the output)");
        if (ctl->input) {
                r = read_history_file(ctl->input, &saved);
                if (r != EXIT_OK)
                        return r;
                history = saved;
                o.now_usec = 0; /* written some time ago: a boot running then is drawn as far as it was known */
        } else {
                r = ctl_call(ctl, CB_VL_METHOD_GET_HISTORY, NULL, &reply);
                if (r != EXIT_OK)
                        return r;
                history = reply.parameters;
        }

        FILE *m = open_memstream(&svg, &size);
        drawn = m ? timeline_svg(m, history, &o) : -ENOMEM;
        if (m && fclose(m) != 0)
                drawn = -ENOMEM;
        json_object_put(saved);
        vl_reply_done(&reply);
        if (drawn < 0) {
                free(svg);
                return fail(EXIT_FAILED, "out of memory");
        }

        /* the whole picture or none: written beside, then renamed over the file */
        if (ctl->output && strcmp(ctl->output, "-") != 0) {
                char *temp = NULL;
                FILE *f = NULL;

                if (asprintf(&temp, "%s.tmp", ctl->output) < 0) {
                        free(svg);
                        return fail(EXIT_FAILED, "out of memory");
                }
                f = fopen(temp, "we");
                bool ok = f && fwrite(svg, 1, size, f) == size;
                ok = f && fclose(f) == 0 && ok;
                ok = ok && rename(temp, ctl->output) == 0;
                int e = errno;
                if (!ok)
                        (void) unlink(temp);
                free(temp);
                free(svg);
                if (!ok)
                        return fail(EXIT_FAILED, "timeline: cannot write %s: %s", ctl->output, strerror(e));
                if (!ctl->quiet)
                        fprintf(stderr, "%s: %d boot%s\n", ctl->output, drawn, drawn == 1 ? "" : "s");
                return EXIT_OK;
        }
        r = fwrite(svg, 1, size, stdout) == size && fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
        free(svg);
        return r;
}
