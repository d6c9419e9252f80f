/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: a request as a board sends it in its second stage,
 * through the parser the session uses, then the name check the lookup
 * applies. Besides memory errors (ASan, UBSan), it checks what the session
 * relies on: a name said to be fine is NUL-terminated within its buffer, and
 * the flags agree with the name.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bootfiles.h"
#include "bootproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct cb_file_request req;
        uint32_t status;
        int r;

        /* The session reads at most this much; the fuzzer may offer more, as a buggy transport would. */
        r = cb_proto_parse_request(data, size, &req);
        if (r == 0 && req.name_ok) {
                size_t len = strnlen(req.name, sizeof req.name);
                if (len >= sizeof req.name)
                        abort(); /* not terminated inside the buffer */
                if (req.name_empty != (len == 0) || req.name_metadata != (req.name[0] == '*'))
                        abort();
                if (size < 4 + len)
                        abort(); /* a name longer than what the board sent */
                (void) cb_bootname_check(req.name, NULL);
        } else if (r != 0 && r != -EBADMSG && r != -EPROTO) {
                abort();
        }
        (void) cb_proto_parse_rom_status(data, size, &status);
        return 0;
}
