/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "pager.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t pager_pid;

static const char *pager_command(void) {
        static const char *const variables[] = { "CLUSTERBOOT_PAGER", "SYSTEMD_PAGER", "PAGER" };

        for (size_t i = 0; i < sizeof variables / sizeof variables[0]; i++) {
                const char *v = getenv(variables[i]);
                if (v)
                        return v;
        }
        return "less";
}

void pager_open(void) {
        const char *command = pager_command();
        int fds[2];
        pid_t pid;

        if (pager_pid > 0 || !isatty(STDOUT_FILENO) || command[0] == '\0' || strcmp(command, "cat") == 0)
                return;
        if (pipe(fds) < 0)
                return; /* no pager, but the output still goes out */
        fflush(stdout);
        pid = fork();
        if (pid < 0) {
                close(fds[0]);
                close(fds[1]);
                return;
        }
        if (pid == 0) {
                /* the pager reads the pipe and writes to the terminal */
                dup2(fds[0], STDIN_FILENO);
                close(fds[0]);
                close(fds[1]);
                setenv("LESS", "FRSXMK", 0);
                execl("/bin/sh", "sh", "-c", command, (char *) NULL);
                /* the command cannot run: the text must still reach the reader */
                execlp("cat", "cat", (char *) NULL);
                _exit(EXIT_FAILURE);
        }
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        /* a reader who quits early closes the pipe: we are done, not killed */
        signal(SIGPIPE, SIG_IGN);
        pager_pid = pid;
}

void pager_close(void) {
        int status;

        if (pager_pid <= 0)
                return;
        fflush(stdout);
        close(STDOUT_FILENO);
        while (waitpid(pager_pid, &status, 0) < 0 && errno == EINTR)
                ;
        pager_pid = 0;
}
