/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * session.c on its own: one stage of the protocol against the in-process
 * board, with no node around it. What a session must do with the least
 * forgiving board: resume a stalled or quiet write at the byte the board is
 * at, end stuck when the board takes nothing for BulkTimeoutSec, answer an
 * empty name with a zero-length write, and stop only between two requests
 * when asked to drain.
 */
#include <string.h>

#include "bootfiles.h"
#include "check.h"
#include "log.h"
#include "session.h"
#include "text.h"
#include "world.h"

struct run {
        struct world w;
        struct cb_session *session;
        bool finished;
        enum cb_session_outcome outcome;
        char reason[512];
        unsigned retries; /* STEP_RETRY events */
        bool unsafe_detail; /* an event's text was not printable UTF-8 */
        char missing[512];  /* the last FILE_MISSING or NAME_REFUSED text */
        usec_t bulk_timeout; /* BulkTimeoutSec for this run; 0 for settings()' */
        bool eio;            /* the link reports a board gone as an I/O error (eio_ops below) */
        struct eio_link {
                struct cb_transport inner;
                sd_event *event;
                cb_transfer_done_t done;
                void *userdata;
        } link;
};

/*
 * A link as some host controllers make it: a board that leaves mid-transfer
 * ends it with EPROTO or ESHUTDOWN, which libusb reports as an I/O error,
 * and so does anything sent to it until the kernel has noticed: no ENODEV
 * from the transfers, only udev's remove event, later.
 */
static void eio_done(void *userdata, int status, size_t actual) {
        struct eio_link *l = userdata;

        l->done(l->userdata, status == -ENODEV ? -EIO : status, actual);
}

static int eio_deferred(sd_event_source *source, void *userdata) {
        struct eio_link *l = userdata;

        sd_event_source_unref(source);
        l->done(l->userdata, -EIO, 0);
        return 0;
}

/* A submission the board's absence refused at once: on such a link it is taken, and fails later. */
static int eio_submitted(struct eio_link *l, int r) {
        if (r != -ENODEV)
                return r;
        return sd_event_add_defer(l->event, NULL, eio_deferred, l);
}

static struct eio_link *eio_take(void *impl, cb_transfer_done_t done, void *userdata) {
        struct eio_link *l = impl;

        l->done = done;
        l->userdata = userdata;
        return l;
}

static int eio_control_out(void *impl, uint16_t value, uint16_t index, usec_t timeout, cb_transfer_done_t done,
                           void *userdata) {
        struct eio_link *l = eio_take(impl, done, userdata);
        return eio_submitted(l, l->inner.ops->control_out(l->inner.impl, value, index, timeout, eio_done, l));
}

static int eio_control_in(void *impl, uint16_t value, uint16_t index, uint8_t *buf, uint16_t length, usec_t timeout,
                          cb_transfer_done_t done, void *userdata) {
        struct eio_link *l = eio_take(impl, done, userdata);
        return eio_submitted(l, l->inner.ops->control_in(l->inner.impl, value, index, buf, length, timeout, eio_done, l));
}

static int eio_bulk_out(void *impl, const uint8_t *buf, size_t length, usec_t timeout, cb_transfer_done_t done,
                        void *userdata) {
        struct eio_link *l = eio_take(impl, done, userdata);
        return eio_submitted(l, l->inner.ops->bulk_out(l->inner.impl, buf, length, timeout, eio_done, l));
}

static void eio_cancel(void *impl) {
        struct eio_link *l = impl;
        l->inner.ops->cancel(l->inner.impl);
}

static int eio_clear_halt(void *impl, cb_transfer_done_t done, void *userdata) {
        struct eio_link *l = eio_take(impl, done, userdata);
        return eio_submitted(l, l->inner.ops->clear_halt(l->inner.impl, eio_done, l));
}

static const struct cb_transport_ops eio_ops = {
        .control_out = eio_control_out,
        .control_in = eio_control_in,
        .bulk_out = eio_bulk_out,
        .cancel = eio_cancel,
        .clear_halt = eio_clear_halt,
};

static int lookup(void *userdata, const char *name, struct cb_file **ret, const char **reason) {
        struct run *r = userdata;
        const char *dirs[1] = { r->w.config->boot_directory };

        return cb_file_cache_lookup(r->w.cache, dirs, 1, name, ret, reason);
}

/* Valid UTF-8 with no control character: what a terminal or the journal shows as it is. */
static bool printable(const char *text) {
        for (const unsigned char *p = (const unsigned char *) text; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return false;
        return cb_text_valid_utf8(text, strlen(text));
}

static void on_event(void *userdata, enum cb_session_event event, int error, const char *detail) {
        struct run *r = userdata;

        r->retries += event == CB_SESSION_EVENT_STEP_RETRY;
        if (detail && !printable(detail)) {
                r->unsafe_detail = true;
                fprintf(stderr, "  unsafe event %d: %s\n", event, detail);
        }
        if (event == CB_SESSION_EVENT_FILE_MISSING || event == CB_SESSION_EVENT_NAME_REFUSED)
                snprintf(r->missing, sizeof r->missing, "%s", detail);
}

static void on_finished(void *userdata, enum cb_session_outcome outcome, int error, const char *reason) {
        struct run *r = userdata;

        r->finished = true;
        r->outcome = outcome;
        snprintf(r->reason, sizeof r->reason, "%s", reason);
        cb_session_free(r->session);
        r->session = NULL;
}

static const struct cb_session_callbacks callbacks = { .lookup = lookup, .event = on_event, .finished = on_finished };

static struct cb_session_settings settings(enum cb_bulk_recovery recovery) {
        return (struct cb_session_settings){
                .control_timeout = 50 * USEC_PER_MSEC,
                .request_timeout = 200 * USEC_PER_MSEC,
                .bulk_timeout = 200 * USEC_PER_MSEC,
                .bulk_poll = 20 * USEC_PER_MSEC,
                .step_retries = 2,
                .bulk_chunk = 16384,
                .bulk_recovery = recovery,
        };
}

static void setup(struct run *r, const struct emu_board_config *bc) {
        memset(r, 0, sizeof *r);
        CHECK(world_init(&r->w, false) == 0);
        emu_port_init(&r->w.ports[0], r->w.event, bc, NULL);
        r->w.n_ports = 1;
        emu_port_plug(&r->w.ports[0]);
}

static struct emu_board *board(struct run *r) {
        return &r->w.ports[0].board;
}

/* Runs one session of `kind` on the board as it is now, to its end. */
static void run_session(struct run *r, enum cb_session_kind kind, enum cb_bulk_recovery recovery) {
        struct cb_session_settings s = settings(recovery);
        struct cb_transport t = emu_port_transport(&r->w.ports[0]);
        struct cb_file *loader = NULL;
        const char *why = NULL;

        if (r->bulk_timeout)
                s.bulk_timeout = r->bulk_timeout;
        if (r->eio) {
                r->link.inner = t;
                r->link.event = r->w.event;
                t = (struct cb_transport){ &eio_ops, &r->link };
        }
        r->finished = false;
        if (kind == CB_SESSION_ROM)
                CHECK(lookup(r, "bootcode.bin", &loader, &why) == 0);
        CHECK(cb_session_new(kind, &t, &s, &callbacks, r, loader, &r->session) == 0);
        cb_file_unref(loader);
        CHECK(cb_session_start(r->session) == 0);
        for (usec_t deadline = now_usec() + 10 * USEC_PER_SEC; !r->finished && now_usec() < deadline;)
                sd_event_run(r->w.event, 10 * USEC_PER_MSEC);
        CHECK_MSG(r->finished, "the session never ended");
}

/* Waits for the board to come back in `stage` after the ROM session. */
static void wait_stage(struct run *r, enum emu_stage stage) {
        for (usec_t deadline = now_usec() + 5 * USEC_PER_SEC; board(r)->stage != stage && now_usec() < deadline;)
                sd_event_run(r->w.event, 10 * USEC_PER_MSEC);
        CHECK_MSG(board(r)->stage == stage, "board in %s, not %s", emu_stage_name(board(r)->stage),
                  emu_stage_name(stage));
}

/* A whole boot, ROM then files; returns the file session's outcome in r. */
static void boot(struct run *r, enum cb_bulk_recovery recovery) {
        run_session(r, CB_SESSION_ROM, recovery);
        CHECK_MSG(r->outcome == CB_SESSION_LOADER_SENT, "ROM session: %s", r->reason);
        wait_stage(r, EMU_STAGE_SERVER);
        run_session(r, CB_SESSION_SERVER, recovery);
}

static void check_booted(struct run *r, const char *what) {
        char why[256];

        CHECK_MSG(r->outcome == CB_SESSION_BOOTED, "%s: outcome %d: %s", what, r->outcome, r->reason);
        wait_stage(r, EMU_STAGE_GADGET);
        CHECK_MSG(world_verify_board(&r->w, 0, why, sizeof why) == 0, "%s: %s", what, why);
}

static void test_clean(void) {
        struct emu_board_config bc = { 0 };
        struct run r;

        setup(&r, &bc);
        boot(&r, CB_BULK_RESUME);
        check_booted(&r, "clean");
        CHECK(r.retries == 0 && board(&r)->halts_cleared == 0);
        world_done(&r.w);
}

/* A stall mid kernel.img: the halt is cleared and the rest sent, nothing again. */
static void test_stall_resumes(void) {
        struct emu_board_config bc = { .n_faults = 1 };
        struct run r;

        bc.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_STALL, .point = EMU_AT_FILE, .name = "kernel.img",
                                           .offset = 30001 };
        setup(&r, &bc);
        boot(&r, CB_BULK_RESUME);
        check_booted(&r, "stall");
        CHECK_MSG(board(&r)->halts_cleared == 1, "%u halts cleared", board(&r)->halts_cleared);
        CHECK(r.retries == 1);
        world_done(&r.w);
}

/*
 * A board busy for less than BulkTimeoutSec: waited for, then the write goes
 * on. The timeout is 20 times the pause: under valgrind on a loaded machine
 * the emulated board's own timer can fire late, and a pause that comes close
 * to the timeout would test the machine's load, not the session.
 */
static void test_pause_waited(void) {
        struct emu_board_config bc = { .n_faults = 1 };
        struct run r;

        bc.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_PAUSE, .point = EMU_AT_FILE, .name = "kernel.img",
                                           .offset = 30000, .pause_ms = 150 };
        setup(&r, &bc);
        r.bulk_timeout = 3 * USEC_PER_SEC;
        boot(&r, CB_BULK_RESUME);
        check_booted(&r, "pause");
        world_done(&r.w);
}

/* A board that takes nothing more: stuck after BulkTimeoutSec, saying so. */
static void test_hang_stuck(void) {
        struct emu_board_config bc = { .n_faults = 1 };
        struct run r;

        bc.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_HANG, .point = EMU_AT_FILE, .name = "kernel.img",
                                           .offset = 30000 };
        setup(&r, &bc);
        boot(&r, CB_BULK_RESUME);
        CHECK_MSG(r.outcome == CB_SESSION_STUCK && strstr(r.reason, "took no data") && strstr(r.reason, "kernel.img"),
                  "outcome %d: %s", r.outcome, r.reason);
        CHECK(board(&r)->error[0] == '\0');
        world_done(&r.w);
}

/*
 * A board that leaves mid kernel.img on such a link: its transfer fails, and
 * the halt clear that would resume it fails the same way. The session says
 * the board left (its node then counts the attempt and waits for it to come
 * back, a brown-out's board does), not that it is stuck and needs power.
 */
static void test_left_as_io_error(void) {
        struct emu_board_config bc = { .n_faults = 1 };
        struct run r;

        bc.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_VANISH, .point = EMU_AT_FILE, .name = "kernel.img",
                                           .offset = 30000 };
        setup(&r, &bc);
        run_session(&r, CB_SESSION_ROM, CB_BULK_RESUME);
        CHECK_MSG(r.outcome == CB_SESSION_LOADER_SENT, "ROM session: %s", r.reason);
        wait_stage(&r, EMU_STAGE_SERVER);
        r.eio = true;
        run_session(&r, CB_SESSION_SERVER, CB_BULK_RESUME);
        CHECK_MSG(r.outcome == CB_SESSION_GONE && strstr(r.reason, "left the bus") && strstr(r.reason, "kernel.img"),
                  "outcome %d: %s", r.outcome, r.reason);
        world_done(&r.w);
}

/* BulkRecovery=resend with a board that forgets a failed file: announced again, taken whole. */
static void test_resend(void) {
        struct emu_board_config bc = { .n_faults = 1, .after_bulk_fault = EMU_AFTER_BULK_FAULT_WAIT_RESEND };
        struct run r;

        bc.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_STALL, .point = EMU_AT_FILE, .name = "kernel.img",
                                           .offset = 30001 };
        setup(&r, &bc);
        boot(&r, CB_BULK_RESEND);
        check_booted(&r, "resend");
        world_done(&r.w);
}

/* Draining: between two requests at once; mid-write only once the write is through. */
static void test_drain(void) {
        struct emu_board_config bc = { 0 };
        const struct cb_session_settings s = settings(CB_BULK_RESUME);
        struct run r;

        setup(&r, &bc);
        run_session(&r, CB_SESSION_ROM, CB_BULK_RESUME);
        wait_stage(&r, EMU_STAGE_SERVER);
        const struct cb_transport t = emu_port_transport(&r.w.ports[0]);
        r.finished = false;
        CHECK(cb_session_new(CB_SESSION_SERVER, &t, &s, &callbacks, &r, NULL, &r.session) == 0);
        CHECK(cb_session_start(r.session) == 0);
        /* until the board is in the middle of start.elf */
        for (usec_t deadline = now_usec() + 5 * USEC_PER_SEC; now_usec() < deadline;) {
                const struct emu_received_file *f = emu_board_file(board(&r), "start.elf");
                if (f && f->received > 0 && board(&r)->write_pending)
                        break;
                sd_event_run(r.w.event, 0);
        }
        CHECK(board(&r)->write_pending);
        CHECK(!cb_session_drain(r.session)); /* a write in flight: finished later */
        for (usec_t deadline = now_usec() + 5 * USEC_PER_SEC; !r.finished && now_usec() < deadline;)
                sd_event_run(r.w.event, 10 * USEC_PER_MSEC);
        CHECK_MSG(r.finished && r.outcome == CB_SESSION_DRAINED, "outcome %d: %s", r.outcome, r.reason);
        CHECK(!board(&r)->write_pending && board(&r)->error[0] == '\0');

        /* the next session takes the board from that boundary */
        run_session(&r, CB_SESSION_SERVER, CB_BULK_RESUME);
        check_booted(&r, "after the drain");
        world_done(&r.w);
}

/* A board asking for a name with a terminal escape and a byte that is not UTF-8: reported escaped. */
static void test_hostile_name(void) {
        static const char *const requests[] = { "config.txt", "evil\x1b]0;pwned\x07\xff.txt", "start.elf" };
        struct emu_board_config bc = { .requests = requests, .n_requests = 3 };
        struct run r;

        setup(&r, &bc);
        boot(&r, CB_BULK_RESUME);
        check_booted(&r, "hostile name");
        CHECK_MSG(!r.unsafe_detail, "an event carried the board's raw bytes");
        CHECK_MSG(strstr(r.missing, "evil") && !strchr(r.missing, '\x1b'), "reported as '%s'", r.missing);
        world_done(&r.w);
}

int main(void) {
        cb_log_open(CB_LOG_STDERR);
        cb_log_set_max_level(getenv("CB_TEST_VERBOSE") ? LOG_DEBUG : LOG_EMERG);

        test_clean();
        test_stall_resumes();
        test_pause_waited();
        test_hang_stuck();
        test_left_as_io_error();
        test_resend();
        test_drain();
        test_hostile_name();
        return check_exit("test-session");
}
