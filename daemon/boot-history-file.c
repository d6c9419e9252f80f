/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "boot-history-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot-history-json.h"
#include "file-replace.h"
#include "json-util.h"
#include "log.h"
#include "util.h"

#define FIELD_FORMAT "format"
#define FIELD_VERSION "version"
#define FIELD_BOOTS "boots"

int cb_boot_history_format(const struct cb_boot_log *log, char **ret, size_t *ret_size) {
        _cleanup_json_ struct json_object *doc = json_object_new_object();
        struct json_object *boots = NULL;
        const char *text;
        size_t size;
        int r;

        if (!doc)
                return -ENOMEM;
        r = cb_boot_log_json(log, NULL, CB_BOOT_JSON_BUDGET, &boots, NULL);
        if (r < 0)
                return r;
        if (cb_json_add_string(doc, FIELD_FORMAT, CB_BOOT_HISTORY_FORMAT) < 0 ||
            cb_json_add_u64(doc, FIELD_VERSION, CB_BOOT_HISTORY_VERSION) < 0) {
                json_object_put(boots);
                return -ENOMEM;
        }
        if (cb_json_add(doc, FIELD_BOOTS, boots) < 0)
                return -ENOMEM;
        text = cb_json_to_string(doc, &size);
        if (!text)
                return -ENOMEM;
        /* one line per boot would be nicer to grep, but one line is what every JSON tool reads */
        char *copy = malloc(size + 2);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, text, size);
        copy[size] = '\n';
        copy[size + 1] = '\0';
        *ret = copy;
        *ret_size = size + 1;
        return 0;
}

int cb_boot_history_parse(const char *text, size_t size, struct cb_boot_log *log, const char **ret_reason) {
        _cleanup_json_ struct json_object *doc = NULL;
        struct json_object *boots = NULL;
        const char *format = NULL, *reason = NULL;
        uint64_t version = 0;
        struct cb_boot *parsed;
        size_t n;
        int r;

        if (size > CB_BOOT_HISTORY_FILE_MAX) {
                *ret_reason = "larger than any history this daemon writes";
                return -EBADMSG;
        }
        /* a trailing newline is ours; the parser wants the object alone */
        while (size > 0 && (text[size - 1] == '\n' || text[size - 1] == ' '))
                size--;
        r = cb_json_parse_object(text, size, &doc, &reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                *ret_reason = reason ? reason : "not JSON";
                return -EBADMSG;
        }
        if (cb_json_get_string(doc, FIELD_FORMAT, &format) <= 0 || strcmp(format, CB_BOOT_HISTORY_FORMAT) != 0) {
                *ret_reason = "not a clusterboot boot history (no \"format\": \"" CB_BOOT_HISTORY_FORMAT "\")";
                return -EBADMSG;
        }
        if (cb_json_get_u64(doc, FIELD_VERSION, &version) <= 0 || version != CB_BOOT_HISTORY_VERSION) {
                *ret_reason = "a version of the format this daemon does not read";
                return -EBADMSG;
        }
        if (cb_json_get_array(doc, FIELD_BOOTS, &boots) <= 0) {
                *ret_reason = "no list of boots";
                return -EBADMSG;
        }
        n = json_object_array_length(boots);
        if (n > CB_BOOT_HISTORY_BOOTS_MAX) {
                *ret_reason = "more boots than this daemon keeps";
                return -EBADMSG;
        }
        /* all or nothing: every record is checked before the first goes into the log */
        parsed = calloc(n ? n : 1, sizeof *parsed);
        if (!parsed)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                r = cb_boot_from_json(json_object_array_get_idx(boots, i), &parsed[i], ret_reason);
                if (r < 0) {
                        free(parsed);
                        return r;
                }
        }
        for (size_t i = 0; i < n; i++) {
                r = cb_boot_log_append(log, &parsed[i]);
                if (r < 0)
                        break;
        }
        free(parsed);
        return r < 0 ? r : 0;
}

static int read_all(int fd, char **ret, size_t *ret_size) {
        size_t size = 0, allocated = 64 * 1024;
        char *buf = malloc(allocated + 1);

        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (size == allocated) {
                        if (allocated > CB_BOOT_HISTORY_FILE_MAX)
                                break; /* enough to tell it is too large */
                        char *bigger = realloc(buf, allocated * 2 + 1);
                        if (!bigger) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = bigger;
                        allocated *= 2;
                }
                ssize_t k = read(fd, buf + size, allocated - size);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int e = -errno;
                        free(buf);
                        return e;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        buf[size] = '\0';
        *ret = buf;
        *ret_size = size;
        return 0;
}

static void set_aside(const char *directory, const char *path, const char *why) {
        _cleanup_free_ char *aside = NULL;

        if (asprintf(&aside, "%s/%s", directory, CB_BOOT_HISTORY_FILE_ASIDE) < 0 || rename(path, aside) < 0) {
                log_warning_errno(-errno,
                                  "boot history: %s is not a boot history this daemon can read (%s), and cannot "
                                  "be set aside; starting with an empty history, and it is replaced at the next boot",
                                  path, why);
                return;
        }
        log_warning("boot history: %s is not a boot history this daemon can read (%s); set aside as %s, starting "
                    "with an empty history",
                    path, why, aside);
}

int cb_boot_history_load(const char *directory, struct cb_boot_log *log) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_close_ int fd = -1;
        const char *reason = NULL;
        struct stat st;
        size_t size = 0;
        int r;

        if (asprintf(&path, "%s/%s", directory, CB_BOOT_HISTORY_FILE) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                if (errno == ELOOP) {
                        set_aside(directory, path, "a symbolic link");
                        return 0;
                }
                log_warning_errno(-errno, "boot history: cannot read %s; starting with an empty history", path);
                return 0;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                set_aside(directory, path, "not a regular file");
                return 0;
        }
        r = read_all(fd, &text, &size);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_warning_errno(r, "boot history: cannot read %s; starting with an empty history", path);
                return 0;
        }
        r = cb_boot_history_parse(text, size, log, &reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                set_aside(directory, path, reason);
                return 0;
        }
        log_debug("boot history: %zu boots read from %s", cb_boot_log_count(log), path);
        return 0;
}

int cb_boot_history_save(const char *directory, const char *text, size_t size) {
        return cb_file_replace(directory, CB_BOOT_HISTORY_FILE, text, size, NULL);
}
