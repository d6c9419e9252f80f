/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The boot history: records made from the real node code booting emulated
 * boards (the seed's failure recovered by a power cycle, a hang that needs
 * power), the limits (per node, in all, per record, and the largest file
 * the limits allow), the file format read back exactly, and bad files
 * (cut short, foreign, newer, oversize, over a limit) refused whole and set
 * aside; the ctl's table made from the same records.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "scratch.h"

#include "boot-history-file.h"
#include "boot-history-json.h"
#include "boot-history-log.h"
#include "clusterboot/varlink.h"
#include "control.h"
#include "history-view.h"
#include "inproc-power.h"
#include "json-util.h"
#include "world.h"

#define RUN_TIMEOUT (30 * USEC_PER_SEC)
#define T0_REAL (1700000000ULL * USEC_PER_SEC)

/* ---- records from the real node code ---- */

struct recorder {
        struct cb_boot_log log;
        unsigned changes, kept;
};

static void on_changed(struct cb_node *node, void *userdata) {
        struct recorder *rec = userdata;
        struct cb_node_status st;
        usec_t now = now_usec();

        cb_node_get_status(node, &st);
        int r = cb_boot_log_observe(&rec->log, &(struct cb_boot_observation){
                                                       .key = node,
                                                       .name = cb_node_name(node),
                                                       .port = cb_node_port(node),
                                                       .state = st.state,
                                                       .attempt = st.attempt,
                                                       .last_error = st.last_error,
                                                       .bytes_served = st.bytes_served,
                                                       .files_served = st.files_served,
                                                       .step_retries = st.step_retries,
                                                       .resets = st.resets,
                                                       .power_cycles = st.power_cycles,
                                                       .boot_started = st.boot_started_usec,
                                                       .now_monotonic = now,
                                                       .now_realtime = T0_REAL + now,
                                               });
        CHECK(r >= 0);
        rec->changes++;
        rec->kept += r > 0;
}

static bool has_step(const struct cb_boot_fault *f, const char *action) {
        for (unsigned i = 0; i < f->n_steps; i++)
                if (strcmp(f->steps[i].action, action) == 0)
                        return true;
        return false;
}

static uint64_t duration_of(const struct cb_boot *b, const char *state) {
        for (unsigned i = 0; i < b->n_durations; i++)
                if (strcmp(b->durations[i].state, state) == 0)
                        return b->durations[i].usec;
        return 0;
}

/* The seed's failure: the board drops off the bus mid kernel.img; with a switch it is power-cycled, then up on attempt 2. */
static void test_seed_failure_recorded(void) {
        struct emu_board_config seed = { 0 }, good = { 0 };
        struct recorder rec = { 0 };
        struct world w;

        seed.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_VANISH, .point = EMU_AT_FILE, .name = "kernel.img",
                                             .offset = 4096, .attempt = 1 };
        seed.n_faults = 1;
        cb_boot_log_init(&rec.log);
        REQUIRE(world_init(&w, false) == 0);
        w.env.callbacks.changed = on_changed;
        w.env.callbacks.userdata = &rec;
        world_add(&w, &good);
        world_add(&w, &seed);
        REQUIRE(world_add_switch(&w, 1, NULL, NULL) == 0);
        for (size_t i = 0; i < w.n_ports; i++)
                emu_port_plug(&w.ports[i]);
        CHECK(world_run(&w, RUN_TIMEOUT) == 0);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_UP && cb_node_state(w.nodes[1]) == CB_NODE_UP);

        CHECK_MSG(cb_boot_log_count(&rec.log) == 2, "%zu boots", cb_boot_log_count(&rec.log));
        for (size_t i = 0; i < cb_boot_log_count(&rec.log); i++) {
                const struct cb_boot *b = cb_boot_log_at(&rec.log, i);
                bool seeded = strcmp(b->port, cb_node_port(w.nodes[1])) == 0;

                CHECK(strcmp(b->outcome, "up") == 0);
                CHECK(b->end_usec > b->start_usec);
                CHECK(b->bytes_served > 0 && b->files_served > 0);
                CHECK(strcmp(b->stages[0].state, "rom") == 0);
                CHECK(strcmp(b->stages[b->n_stages - 1].state, "up") == 0);
                CHECK(duration_of(b, "rom") > 0 && duration_of(b, "serving") > 0);
                if (!seeded) {
                        CHECK(b->attempts == 1 && b->n_faults == 0 && b->power_cycles == 0);
                        continue;
                }
                CHECK_MSG(b->attempts == 2, "attempts %u", b->attempts);
                CHECK(b->power_cycles == 1);
                CHECK_MSG(b->n_faults == 1, "%u faults", b->n_faults);
                if (b->n_faults < 1)
                        continue;
                const struct cb_boot_fault *f = &b->faults[0];
                CHECK_MSG(strcmp(f->state, "serving") == 0, "fault in %s", f->state);
                CHECK(f->attempt == 1);
                CHECK(f->reason[0] != '\0');
                CHECK(has_step(f, CB_BOOT_STEP_POWER_CYCLE));
                CHECK(has_step(f, CB_BOOT_STEP_ATTEMPT));
                CHECK(f->recovered);
                CHECK(duration_of(b, "power-cycling") > 0);
        }
        /* progress alone is not worth a write */
        CHECK_MSG(rec.kept < rec.changes, "%u of %u changes kept", rec.kept, rec.changes);
        world_done(&w);
        cb_boot_log_done(&rec.log);
}

/* A board that hangs for good, with no switch: the boot ends needs-power, its fault not recovered. */
static void test_hang_not_recovered(void) {
        struct emu_board_config hang = { 0 };
        struct recorder rec = { 0 };
        struct world w;

        hang.faults[0] = (struct emu_fault){ .kind = EMU_FAULT_HANG, .point = EMU_AT_FILE, .name = "start.elf",
                                             .offset = 1024, .sticky = true };
        hang.n_faults = 1;
        cb_boot_log_init(&rec.log);
        REQUIRE(world_init(&w, false) == 0);
        w.env.callbacks.changed = on_changed;
        w.env.callbacks.userdata = &rec;
        world_add(&w, &hang);
        emu_port_plug(&w.ports[0]);
        CHECK(world_run(&w, RUN_TIMEOUT) == 0);
        CHECK(cb_node_state(w.nodes[0]) == CB_NODE_NEEDS_POWER);
        REQUIRE(cb_boot_log_count(&rec.log) == 1);
        const struct cb_boot *b = cb_boot_log_at(&rec.log, 0);
        CHECK_MSG(strcmp(b->outcome, "needs-power") == 0, "outcome %s", b->outcome);
        CHECK(b->end_usec >= b->start_usec);
        CHECK(b->n_faults == 1 && !b->faults[0].recovered);
        world_done(&w);
        cb_boot_log_done(&rec.log);
}

/* ---- limits, with observations played by hand ---- */

struct player {
        struct cb_boot_log *log;
        int key;
        const char *name, *port;
        usec_t now;
        usec_t started;
};

static int play(struct player *p, enum cb_node_state state, unsigned attempt, const char *error, uint64_t power_cycles) {
        p->now += 100 * USEC_PER_MSEC;
        if ((state == CB_NODE_ROM || state == CB_NODE_SERVING) && !p->started)
                p->started = p->now;
        if (state == CB_NODE_UP || state == CB_NODE_FAILED || state == CB_NODE_NEEDS_POWER)
                p->started = 0;
        return cb_boot_log_observe(p->log, &(struct cb_boot_observation){
                                                   .key = &p->key,
                                                   .name = p->name,
                                                   .port = p->port,
                                                   .state = state,
                                                   .attempt = attempt,
                                                   .last_error = error,
                                                   .power_cycles = power_cycles,
                                                   .boot_started = p->started,
                                                   .now_monotonic = p->now,
                                                   .now_realtime = T0_REAL + p->now,
                                           });
}

static void one_boot(struct player *p) {
        CHECK(play(p, CB_NODE_ROM, 1, NULL, 0) == 1);
        CHECK(play(p, CB_NODE_SERVING, 1, NULL, 0) == 1);
        CHECK(play(p, CB_NODE_UP, 1, NULL, 0) == 1);
}

static void test_limits(void) {
        struct cb_boot_log log;
        struct player nodes[20];
        char names[20][16];

        cb_boot_log_init(&log);
        /* one node: its oldest boots go past CB_BOOT_HISTORY_NODE_BOOTS_MAX */
        nodes[0] = (struct player){ .log = &log, .name = "node0", .port = "1-0" };
        for (int i = 0; i < CB_BOOT_HISTORY_NODE_BOOTS_MAX + 5; i++)
                one_boot(&nodes[0]);
        CHECK(cb_boot_log_count(&log) == CB_BOOT_HISTORY_NODE_BOOTS_MAX);
        /* the newest are kept: the last one ends at the player's clock */
        CHECK(cb_boot_log_at(&log, cb_boot_log_count(&log) - 1)->end_usec == T0_REAL + nodes[0].now);

        /* many nodes: never more than CB_BOOT_HISTORY_BOOTS_MAX in all */
        for (int n = 1; n < 20; n++) {
                snprintf(names[n], sizeof names[n], "node%d", n);
                nodes[n] = (struct player){ .log = &log, .name = names[n], .port = names[n] };
        }
        for (int round = 0; round < 20; round++)
                for (int n = 1; n < 20; n++)
                        one_boot(&nodes[n]);
        CHECK_MSG(cb_boot_log_count(&log) == CB_BOOT_HISTORY_BOOTS_MAX, "%zu", cb_boot_log_count(&log));
        cb_boot_log_done(&log);

        /* one boot: stages and faults past their limits are counted, not kept */
        cb_boot_log_init(&log);
        struct player p = { .log = &log, .name = "n", .port = "1-1" };
        char why[32];
        CHECK(play(&p, CB_NODE_ROM, 1, NULL, 0) == 1);
        for (unsigned a = 1; a <= 40; a++) {
                snprintf(why, sizeof why, "fault %u", a);
                CHECK(play(&p, CB_NODE_RETRYING, a, why, a) == 1);
                CHECK(play(&p, CB_NODE_ROM, a + 1, why, a) == 1);
        }
        CHECK(play(&p, CB_NODE_UP, 41, NULL, 40) == 1);
        const struct cb_boot *b = cb_boot_log_at(&log, 0);
        CHECK(b->n_stages == CB_BOOT_STAGES_MAX && b->stages_dropped == 82 - CB_BOOT_STAGES_MAX);
        CHECK(b->n_faults == CB_BOOT_FAULTS_MAX && b->faults_dropped == 40 - CB_BOOT_FAULTS_MAX);
        CHECK(b->attempts == 41 && strcmp(b->outcome, "up") == 0);
        /* durations still count every stretch, the dropped ones too */
        CHECK(duration_of(b, "retrying") == 40 * 100 * USEC_PER_MSEC);
        cb_boot_log_done(&log);
}

/* A record with every list full and every string as long as it may be, escaped as much as JSON can. */
static void fill_worst(struct cb_boot *b, unsigned i) {
        memset(b, 0, sizeof *b);
        memset(b->node, '\x01', sizeof b->node - 1);
        memset(b->port, '\x01', sizeof b->port - 1);
        snprintf(b->port, 8, "p%u", i % 1000); /* ports apart, so the per-node limit keeps them */
        b->port[strlen(b->port)] = '\x01';
        b->start_usec = UINT64_MAX / 4;
        b->end_usec = UINT64_MAX / 2;
        b->up_until_usec = UINT64_MAX / 2;
        memset(b->outcome, '\x01', sizeof b->outcome - 1);
        b->attempts = UINT32_MAX;
        b->bytes_served = b->files_served = b->step_retries = b->resets = b->power_cycles = UINT64_MAX / 2;
        b->n_stages = CB_BOOT_STAGES_MAX;
        b->stages_dropped = UINT32_MAX;
        for (unsigned s = 0; s < CB_BOOT_STAGES_MAX; s++) {
                memset(b->stages[s].state, '\x01', sizeof b->stages[s].state - 1);
                b->stages[s].offset_usec = UINT64_MAX / 4;
                b->stages[s].attempt = UINT32_MAX;
        }
        b->n_faults = CB_BOOT_FAULTS_MAX;
        b->faults_dropped = UINT32_MAX;
        for (unsigned f = 0; f < CB_BOOT_FAULTS_MAX; f++) {
                struct cb_boot_fault *fa = &b->faults[f];
                fa->offset_usec = UINT64_MAX / 4;
                fa->attempt = UINT32_MAX;
                memset(fa->state, '\x01', sizeof fa->state - 1);
                memset(fa->reason, '\x01', sizeof fa->reason - 1);
                fa->n_steps = CB_BOOT_RECOVERY_MAX;
                fa->steps_dropped = UINT32_MAX;
                for (unsigned s = 0; s < CB_BOOT_RECOVERY_MAX; s++) {
                        memset(fa->steps[s].action, '\x01', sizeof fa->steps[s].action - 1);
                        fa->steps[s].offset_usec = UINT64_MAX / 4;
                        fa->steps[s].attempt = UINT32_MAX;
                }
        }
        b->n_durations = CB_BOOT_DURATIONS_MAX;
        for (unsigned d = 0; d < CB_BOOT_DURATIONS_MAX; d++) {
                memset(b->durations[d].state, 'a', sizeof b->durations[d].state - 1);
                snprintf(b->durations[d].state, 4, "%02u", d); /* keys apart */
                b->durations[d].state[2] = '\x01';
                b->durations[d].usec = INT64_MAX;
        }
}

/*
 * The largest records the limits allow (every list full, every string long
 * and escaped sixfold by JSON): the file and a GetHistory reply stay within
 * the budget (the oldest boots left out), below the control socket's limit.
 */
static void test_largest_file_fits(void) {
        struct cb_boot_log log;
        struct cb_boot b;
        char *text = NULL;
        size_t size = 0, left_out = 0;
        struct json_object *reply = NULL;

        cb_boot_log_init(&log);
        for (unsigned i = 0; i < CB_BOOT_HISTORY_BOOTS_MAX; i++) {
                fill_worst(&b, i);
                REQUIRE(cb_boot_log_append(&log, &b) == 0);
        }
        CHECK(cb_boot_log_count(&log) == CB_BOOT_HISTORY_BOOTS_MAX);
        REQUIRE(cb_boot_history_format(&log, &text, &size) == 0);
        CHECK(size <= CB_BOOT_JSON_BUDGET + 128 && size <= CB_BOOT_HISTORY_FILE_MAX);
        REQUIRE(cb_boot_log_json(&log, NULL, CB_BOOT_JSON_BUDGET, &reply, &left_out) == 0);
        size_t reply_size = strlen(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
        printf("largest history: %zu bytes in the file, %zu in a reply, %zu of %d boots left out "
               "(budget %u, control output limit %u)\n",
               size, reply_size, left_out, CB_BOOT_HISTORY_BOOTS_MAX, CB_BOOT_JSON_BUDGET, CB_CONTROL_MAX_OUTPUT);
        CHECK(reply_size <= CB_BOOT_JSON_BUDGET && CB_BOOT_JSON_BUDGET + 4096 <= CB_CONTROL_MAX_OUTPUT);
        CHECK(left_out > 0 && json_object_array_length(reply) + left_out == CB_BOOT_HISTORY_BOOTS_MAX);
        json_object_put(reply);

        /* it reads back as written: the newest boots, in order */
        struct cb_boot_log back;
        const char *why = NULL;
        char *again = NULL;
        size_t again_size = 0;
        cb_boot_log_init(&back);
        CHECK_MSG(cb_boot_history_parse(text, size, &back, &why) == 0, "%s", why ? why : "");
        CHECK(cb_boot_log_count(&back) == CB_BOOT_HISTORY_BOOTS_MAX - left_out);
        REQUIRE(cb_boot_history_format(&back, &again, &again_size) == 0);
        CHECK(again_size == size && memcmp(again, text, size) == 0);
        free(again);
        cb_boot_log_done(&back);
        free(text);
        cb_boot_log_done(&log);
}

/* Ordinary boots, a full log of them (a fault and a recovery each), all fit: the budget only cuts the absurd. */
static void test_ordinary_history_fits_whole(void) {
        struct cb_boot_log log;
        struct player p[16];
        char names[16][16];
        char *text = NULL;
        size_t size = 0, left_out = 1;
        struct json_object *reply = NULL;

        cb_boot_log_init(&log);
        for (int n = 0; n < 16; n++) {
                snprintf(names[n], sizeof names[n], "node%d", n);
                p[n] = (struct player){ .log = &log, .name = names[n], .port = names[n] };
        }
        for (int round = 0; round < 16; round++)
                for (int n = 0; n < 16; n++) {
                        const char *why = "the board left the bus while sending kernel.img (2097152 of 5242880 bytes)";
                        CHECK(play(&p[n], CB_NODE_ROM, 1, NULL, 0) == 1);
                        CHECK(play(&p[n], CB_NODE_LOADING, 1, NULL, 0) == 1);
                        CHECK(play(&p[n], CB_NODE_SERVING, 1, NULL, 0) == 1);
                        CHECK(play(&p[n], CB_NODE_POWER_CYCLING, 1, why, 1) == 1);
                        CHECK(play(&p[n], CB_NODE_RETRYING, 2, why, 1) == 1);
                        CHECK(play(&p[n], CB_NODE_ROM, 2, why, 1) == 1);
                        CHECK(play(&p[n], CB_NODE_LOADING, 2, why, 1) == 1);
                        CHECK(play(&p[n], CB_NODE_SERVING, 2, why, 1) == 1);
                        CHECK(play(&p[n], CB_NODE_BOOTED, 2, why, 1) == 1);
                        CHECK(play(&p[n], CB_NODE_UP, 2, NULL, 1) == 1);
                }
        CHECK(cb_boot_log_count(&log) == CB_BOOT_HISTORY_BOOTS_MAX);
        REQUIRE(cb_boot_log_json(&log, NULL, CB_BOOT_JSON_BUDGET, &reply, &left_out) == 0);
        CHECK(left_out == 0);
        json_object_put(reply);
        REQUIRE(cb_boot_history_format(&log, &text, &size) == 0);
        printf("a full history of ordinary boots: %zu bytes\n", size);
        free(text);
        cb_boot_log_done(&log);
}

/* ---- the file ---- */

static char *history_text(void) {
        struct cb_boot_log log;
        struct player p = { .log = &log, .name = "node4", .port = "4-1" };
        char *text = NULL;
        size_t size;

        cb_boot_log_init(&log);
        CHECK(play(&p, CB_NODE_ROM, 1, NULL, 0) == 1);
        CHECK(play(&p, CB_NODE_SERVING, 1, NULL, 0) == 1);
        CHECK(play(&p, CB_NODE_POWER_CYCLING, 1, "the board left the bus mid kernel.img", 1) == 1);
        CHECK(play(&p, CB_NODE_RETRYING, 2, "the board left the bus mid kernel.img", 1) == 1);
        CHECK(play(&p, CB_NODE_ROM, 2, "the board left the bus mid kernel.img", 1) == 1);
        CHECK(play(&p, CB_NODE_UP, 2, NULL, 1) == 1);
        one_boot(&p);
        CHECK(play(&p, CB_NODE_ROM, 1, NULL, 0) == 1); /* still running when written */
        REQUIRE(cb_boot_history_format(&log, &text, &size) == 0);
        cb_boot_log_done(&log);
        return text;
}

static bool exists(const char *rel) {
        _cleanup_free_ char *p = at(rel);
        struct stat st;
        return stat(p, &st) == 0;
}

static size_t load_count(void) {
        struct cb_boot_log log;
        size_t n;

        cb_boot_log_init(&log);
        CHECK(cb_boot_history_load(root, &log) == 0);
        n = cb_boot_log_count(&log);
        cb_boot_log_done(&log);
        return n;
}

/* Written atomically, read back whole; a boot running when it was written comes back interrupted. */
static void test_save_and_load(void) {
        _cleanup_free_ char *text = history_text();
        struct cb_boot_log log;

        CHECK(load_count() == 0); /* no file: an empty history */
        REQUIRE(cb_boot_history_save(root, text, strlen(text)) == 0);
        CHECK(exists(CB_BOOT_HISTORY_FILE));
        CHECK(!exists("." CB_BOOT_HISTORY_FILE ".tmp"));
        cb_boot_log_init(&log);
        CHECK(cb_boot_history_load(root, &log) == 0);
        REQUIRE(cb_boot_log_count(&log) == 3);
        const struct cb_boot *first = cb_boot_log_at(&log, 0), *last = cb_boot_log_at(&log, 2);
        CHECK(strcmp(first->node, "node4") == 0 && strcmp(first->outcome, "up") == 0);
        CHECK(first->attempts == 2 && first->n_faults == 1 && first->faults[0].recovered);
        CHECK(has_step(&first->faults[0], CB_BOOT_STEP_POWER_CYCLE) && has_step(&first->faults[0], CB_BOOT_STEP_ATTEMPT));
        CHECK(strcmp(last->outcome, CB_BOOT_OUTCOME_INTERRUPTED) == 0 && last->end_usec >= last->start_usec);
        /* newer boots after a restart have larger ids: they sort after the ones read */
        CHECK(last->id > first->id);
        cb_boot_log_done(&log);
        CHECK(!exists(CB_BOOT_HISTORY_FILE_ASIDE));
}

/* Each bad file: refused whole, set aside as .bad (not deleted), an empty history; never an error. */
static void check_set_aside(const char *what, const char *content, size_t size) {
        _cleanup_free_ char *aside = at(CB_BOOT_HISTORY_FILE_ASIDE);
        struct cb_boot_log log;
        const char *why = NULL;

        (void) unlink(aside);
        cb_boot_log_init(&log);
        CHECK_MSG(cb_boot_history_parse(content, size, &log, &why) == -EBADMSG && why, "%s", what);
        CHECK_MSG(cb_boot_log_count(&log) == 0, "%s: nothing added", what);
        cb_boot_log_done(&log);

        write_file(CB_BOOT_HISTORY_FILE, content, size);
        CHECK_MSG(load_count() == 0, "%s", what);
        CHECK_MSG(!exists(CB_BOOT_HISTORY_FILE), "%s: not left in place", what);
        CHECK_MSG(exists(CB_BOOT_HISTORY_FILE_ASIDE), "%s: set aside", what);
        /* the bytes are kept as they were, for whoever wants to look */
        _cleanup_free_ char *copy = NULL;
        _cleanup_fclose_ FILE *f = fopen(aside, "re");
        size_t n = 0;
        if (f) {
                copy = malloc(size + 1);
                n = fread(copy, 1, size + 1, f);
        }
        CHECK_MSG(n == size && (size == 0 || memcmp(copy, content, size) == 0), "%s: bytes kept", what);
}

static void test_bad_files(void) {
        _cleanup_free_ char *good = history_text();
        size_t n = strlen(good);
        char *edited;

        check_set_aside("cut short", good, n / 2);
        check_set_aside("empty", "", 0);
        check_set_aside("not JSON", "hello\n", 6);
        check_set_aside("foreign JSON", "{\"boots\": []}\n", 14);
        check_set_aside("another format", "{\"format\": \"something-else\", \"version\": 1, \"boots\": []}", 55);

        edited = strdup(good);
        char *v = strstr(edited, "\"version\":1");
        REQUIRE(v);
        v[10] = '2';
        check_set_aside("a newer version", edited, n);
        free(edited);

        /* a wrong type deep inside one record refuses the whole file */
        edited = strdup(good);
        char *attempt = strstr(edited, "\"recovered\":true");
        REQUIRE(attempt);
        memcpy(attempt, "\"recovered\":1   ", 16);
        check_set_aside("a fault's flag of another type", edited, n);
        free(edited);

        /* a record over a limit (more stages than kept) */
        struct cb_boot_log log;
        struct player p = { .log = &log, .name = "n", .port = "1-1" };
        char *text = NULL;
        size_t size = 0;
        cb_boot_log_init(&log);
        one_boot(&p);
        REQUIRE(cb_boot_history_format(&log, &text, &size) == 0);
        cb_boot_log_done(&log);
        _cleanup_free_ char *big = NULL;
        char *stages = strstr(text, "\"stages\":[");
        REQUIRE(stages);
        stages += strlen("\"stages\":[");
        size_t head = (size_t) (stages - text);
        const char *one = "{\"state\":\"rom\",\"offset_usec\":0,\"attempt\":1},";
        REQUIRE(big = malloc(size + (CB_BOOT_STAGES_MAX + 1) * strlen(one) + 1));
        memcpy(big, text, head);
        size_t at_ = head;
        for (int i = 0; i < CB_BOOT_STAGES_MAX + 1; i++) {
                memcpy(big + at_, one, strlen(one));
                at_ += strlen(one);
        }
        memcpy(big + at_, stages, size - head + 1);
        check_set_aside("too many stages", big, strlen(big));
        free(text);

        /* larger than any file this daemon writes */
        size_t huge = CB_BOOT_HISTORY_FILE_MAX + 10;
        char *pad = malloc(huge);
        REQUIRE(pad);
        memset(pad, ' ', huge);
        memcpy(pad, good, n - 1); /* the document, then spaces */
        check_set_aside("oversize", pad, huge);
        free(pad);

        /* a directory where the file should be */
        _cleanup_free_ char *path = at(CB_BOOT_HISTORY_FILE), *aside = at(CB_BOOT_HISTORY_FILE_ASIDE);
        (void) unlink(aside);
        REQUIRE(mkdir(path, 0755) == 0);
        CHECK(load_count() == 0);
        CHECK(exists(CB_BOOT_HISTORY_FILE_ASIDE) && !exists(CB_BOOT_HISTORY_FILE));
        (void) rmdir(aside);

        /* a good file after all that reads again */
        REQUIRE(cb_boot_history_save(root, good, n) == 0);
        CHECK(load_count() == 3);
}

/* ---- the ctl's table, from the daemon's own JSON ---- */

static void test_table(void) {
        _cleanup_free_ char *text = history_text(), *out = NULL;
        struct cb_boot_log log;
        const char *why = NULL;
        size_t size = 0;
        struct json_object *boots = json_object_new_array(), *reply = json_object_new_object();

        cb_boot_log_init(&log);
        REQUIRE(cb_boot_history_parse(text, strlen(text), &log, &why) == 0);
        for (size_t i = 0; i < cb_boot_log_count(&log); i++) {
                struct json_object *o = NULL;
                REQUIRE(cb_boot_to_json(cb_boot_log_at(&log, i), &o) == 0);
                json_object_array_add(boots, o);
        }
        cb_json_add(reply, CB_VL_FIELD_BOOTS, boots);

        /* every column's fields are in the daemon's boot objects */
        for (size_t c = 0; c < n_history_columns; c++)
                for (size_t k = 0; k < COLUMN_FIELDS_MAX && history_columns[c].fields[k]; k++)
                        CHECK_MSG(json_object_object_get_ex(json_object_array_get_idx(boots, 0),
                                                            history_columns[c].fields[k], NULL),
                                  "%s", history_columns[c].fields[k]);

        FILE *f = open_memstream(&out, &size);
        REQUIRE(f);
        CHECK(view_history(f, reply, &(struct view_options){ .legend = true }) == 0);
        fclose(f);
        printf("%s", out);
        CHECK(strstr(out, "NODE") && strstr(out, "OUTCOME") && strstr(out, "STAGES"));
        CHECK(strstr(out, "node4") && strstr(out, " up ") && strstr(out, "interrupted"));
        CHECK(strstr(out, "1, 1 recovered"));
        CHECK(strstr(out, "power-cycling 100ms"));
        CHECK(strstr(out, "attempt 1, serving: the board left the bus mid kernel.img; power-cycle, attempt 2; recovered"));
        CHECK(strstr(out, "3 boots."));
        json_object_put(reply);
        cb_boot_log_done(&log);
}

int main(void) {
        scratch_make("boot-history");
        test_seed_failure_recorded();
        test_hang_not_recovered();
        test_limits();
        test_largest_file_fits();
        test_ordinary_history_fits_whole();
        test_save_and_load();
        test_bad_files();
        test_table();
        CHECK(scratch_remove() == 0);
        return check_exit("test-boot-history");
}
