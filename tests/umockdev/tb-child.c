/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Child processes: the program under test, started in the testbed's
 * environment (umockdev preload, lseek shim, TB_CHILD_WRAPPER), its stdout
 * and stderr captured line by line into the log, its exit watched.
 */
#include "tb-internal.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* children */

static void take_lines(tb_testbed *tb, GString *buf, const char *source, bool flush) {
        char *nl;
        while ((nl = memchr(buf->str, '\n', buf->len))) {
                *nl = '\0';
                log_add(tb, source, buf->str);
                g_string_erase(buf, 0, (gssize) (nl - buf->str) + 1);
        }
        if (flush && buf->len) {
                log_add(tb, source, buf->str);
                g_string_truncate(buf, 0);
        }
}

static gboolean stream_cb(gint fd, GIOCondition cond, gpointer data) {
        struct tb_stream *s = data;
        char buf[65536];

        for (;;) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n > 0) {
                        g_string_append_len(s->buf, buf, n);
                        take_lines(s->child->tb, s->buf, s->name, false);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return G_SOURCE_CONTINUE;
                /* EOF or error */
                take_lines(s->child->tb, s->buf, s->name, true);
                close(s->fd);
                s->fd = -1;
                g_source_unref(s->src);
                s->src = NULL;
                return G_SOURCE_REMOVE;
        }
}

static void stream_init(tb_child *c, struct tb_stream *s, int fd, const char *suffix) {
        s->child = c;
        s->fd = fd;
        s->buf = g_string_new(NULL);
        snprintf(s->name, sizeof s->name, "child%u:%s", c->id, suffix);
        g_unix_set_fd_nonblocking(fd, TRUE, NULL);
        s->src = g_unix_fd_source_new(fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
        g_source_set_callback(s->src, G_SOURCE_FUNC(stream_cb), s, NULL);
        g_source_attach(s->src, c->tb->main_ctx);
}

static void stream_free(struct tb_stream *s) {
        drop_source(&s->src);
        if (s->fd >= 0)
                close(s->fd);
        if (s->buf)
                g_string_free(s->buf, TRUE);
}

static void child_watch_cb(GPid pid, gint status, gpointer data) {
        tb_child *c = data;
        c->running = false;
        c->status = status;
        g_spawn_close_pid(pid);
        if (WIFEXITED(status))
                tb_event(c->tb, "child%u (pid %d) exited with %d", c->id, (int) pid, WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                tb_event(c->tb, "child%u (pid %d) killed by signal %d", c->id, (int) pid, WTERMSIG(status));
        wake(c->tb);
}

void child_free(tb_child *c) {
        drop_source(&c->watch);
        stream_free(&c->out);
        stream_free(&c->err);
        g_free(c);
}

tb_child *tb_spawn(tb_testbed *tb, const char *const *argv, const char *const *extra_env) {
        char **env = g_get_environ();
        GPtrArray *args = g_ptr_array_new_with_free_func(g_free);
        GError *error = NULL;
        int out_fd = -1, err_fd = -1;
        GPid pid;

        env = g_environ_setenv(env, "UMOCKDEV_DIR", tb->root, TRUE);
        const char *old = g_environ_getenv(env, "LD_PRELOAD");
        GString *preload = g_string_new(NULL);
        if (!old || !strstr(old, "libumockdev-preload"))
                g_string_append(preload, "libumockdev-preload.so.0");
        if (old && *old) {
                if (preload->len)
                        g_string_append_c(preload, ':');
                g_string_append(preload, old);
        }
        if (tb->shim_path && (!old || !strstr(old, tb->shim_path)))
                g_string_append_printf(preload, ":%s", tb->shim_path);
        env = g_environ_setenv(env, "LD_PRELOAD", preload->str, TRUE);
        g_string_free(preload, TRUE);
        for (size_t i = 0; extra_env && extra_env[i]; i++) {
                const char *eq = strchr(extra_env[i], '=');
                if (!eq) {
                        env = g_environ_unsetenv(env, extra_env[i]);
                        continue;
                }
                char *k = g_strndup(extra_env[i], (gsize) (eq - extra_env[i]));
                env = g_environ_setenv(env, k, eq + 1, TRUE);
                g_free(k);
        }

        const char *wrapper = getenv("TB_CHILD_WRAPPER");
        if (wrapper && *wrapper) {
                char **w = NULL;
                if (!g_shell_parse_argv(wrapper, NULL, &w, &error)) {
                        fprintf(stderr, "testbed: TB_CHILD_WRAPPER: %s\n", error->message);
                        g_clear_error(&error);
                } else {
                        for (size_t i = 0; w[i]; i++)
                                g_ptr_array_add(args, g_strdup(w[i]));
                        g_strfreev(w);
                }
        }
        for (size_t i = 0; argv[i]; i++)
                g_ptr_array_add(args, g_strdup(argv[i]));
        g_ptr_array_add(args, NULL);

        bool ok = g_spawn_async_with_pipes(NULL, (char **) args->pdata, env,
                                           G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH_FROM_ENVP, NULL, NULL,
                                           &pid, NULL, &out_fd, &err_fd, &error);
        g_strfreev(env);
        if (!ok) {
                fprintf(stderr, "testbed: cannot start %s: %s\n", argv[0], error->message);
                g_clear_error(&error);
                g_ptr_array_unref(args);
                return NULL;
        }

        tb_child *c = g_new0(tb_child, 1);
        c->tb = tb;
        c->id = ++tb->next_child_id;
        c->pid = pid;
        c->running = true;
        stream_init(c, &c->out, out_fd, "out");
        stream_init(c, &c->err, err_fd, "err");
        c->watch = g_child_watch_source_new(pid);
        g_source_set_callback(c->watch, G_SOURCE_FUNC(child_watch_cb), c, NULL);
        g_source_attach(c->watch, tb->main_ctx);
        g_ptr_array_add(tb->children, c);

        char *cmd = g_strjoinv(" ", (char **) args->pdata);
        tb_event(tb, "child%u (pid %d): %s", c->id, (int) pid, cmd);
        g_free(cmd);
        g_ptr_array_unref(args);
        return c;
}

pid_t tb_child_pid(const tb_child *c) {
        return c->pid;
}

bool tb_child_running(const tb_child *c) {
        return c->running;
}

static bool pred_child_done(tb_testbed *tb, void *data) {
        tb_child *c = data;
        /* exited, and its output read to the end */
        return !c->running && !c->out.src && !c->err.src;
}

int tb_child_wait(tb_child *c, int timeout_ms) {
        if (!tb_run_until(c->tb, pred_child_done, c, timeout_ms))
                return c->running ? -1 : c->status;
        return c->status;
}

void tb_child_kill(tb_child *c, int sig) {
        if (c->running)
                kill(c->pid, sig);
}
