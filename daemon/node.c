/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "node.h"
#include "node-internal.h"

#include <stdarg.h>
#include <time.h>

#include "bootfiles.h"
#include "session.h"

/* Big enough to keep the bus busy, small enough for timely progress. */
#define BULK_CHUNK (256u * 1024u)

static void start_session(struct cb_node *n, enum cb_session_kind kind);

struct cb_log_node cb_node_log_fields(const struct cb_node *n) {
        return (struct cb_log_node){
                .name = n->name,
                .port = n->port,
                .state = cb_node_state_name(n->state),
                .attempt = n->attempt,
        };
}

static void record_event(struct cb_node *n, const char *message) {
        struct cb_node_event *e = &n->events[n->n_events % CB_NODE_EVENTS_MAX];
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        e->realtime_usec = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
        e->state = n->state;
        e->attempt = n->attempt;
        snprintf(e->message, sizeof e->message, "%s", message);
        n->n_events++;
}

static void notify_changed(struct cb_node *n) {
        if (n->env->changed)
                n->env->changed(n, n->env->userdata);
}

/* Changes state, logs it with the node's fields, records it, tells the owner. */
void node_set_state(struct cb_node *n, enum cb_node_state state, const char *message_id, const char *format, ...) {
        char message[512];
        va_list ap;

        va_start(ap, format);
        vsnprintf(message, sizeof message, format, ap);
        va_end(ap);

        n->state = state;
        struct cb_log_node f = cb_node_log_fields(n);
        int prio = state == CB_NODE_FAILED ? LOG_ERR : state == CB_NODE_RETRYING ? LOG_WARNING : LOG_INFO;
        cb_log_full(prio, 0, &f, message_id, __FILE__, __LINE__, "state %s: %s", cb_node_state_name(state),
                    message);
        record_event(n, message);
        notify_changed(n);
}

void node_set_last_error(struct cb_node *n, const char *reason) {
        (void) strdup_to(&n->last_error, reason);
}

void node_disarm_timer(struct cb_node *n) {
        if (n->timer)
                (void) sd_event_source_set_enabled(n->timer, SD_EVENT_OFF);
        n->timer_purpose = TIMER_NONE;
}

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata);

void node_arm_timer(struct cb_node *n, enum node_timer purpose, usec_t delay) {
        usec_t when = now_usec() + delay;
        int r;

        n->timer_purpose = purpose;
        if (!n->timer) {
                r = sd_event_add_time(n->env->event, &n->timer, CLOCK_MONOTONIC, when, 1000, on_timer, n);
                if (r < 0) {
                        node_log(n, LOG_ERR, "cannot arm a timer: %s", strerror(-r));
                        n->timer_purpose = TIMER_NONE;
                        return;
                }
                return;
        }
        (void) sd_event_source_set_time(n->timer, when);
        (void) sd_event_source_set_enabled(n->timer, SD_EVENT_ONESHOT);
}

static const struct cb_config *config(const struct cb_node *n) {
        return n->env->config;
}

double node_seconds(usec_t u) {
        return (double) u / (double) USEC_PER_SEC;
}

/* ---- file lookup: the node's own directory first, then the common one ---- */

static int lookup_file(void *userdata, const char *name, struct cb_file **ret, const char **reason) {
        struct cb_node *n = userdata;
        const struct cb_node_config *nc = cb_config_find_node_by_port(config(n), n->port);
        const char *dirs[2] = { nc ? nc->boot_directory : NULL, config(n)->boot_directory };

        return cb_file_cache_lookup(n->env->cache, dirs, ELEMENTSOF(dirs), name, ret, reason);
}

/* ---- session hooks ---- */

static void absorb_session(struct cb_node *n) {
        struct cb_session_progress p;

        if (!n->session)
                return;
        cb_session_get_progress(n->session, &p);
        n->bytes_served += p.bytes_served;
        n->files_served += p.files_served;
        n->step_retries += p.step_retries;
}

static void session_event(void *userdata, enum cb_session_event event, int error, const char *detail) {
        struct cb_node *n = userdata;

        switch (event) {
        case CB_SESSION_EVENT_STEP_RETRY:
                node_log(n, LOG_WARNING, "%s%s%s", detail, error ? ": " : "", error ? strerror(-error) : "");
                break;
        case CB_SESSION_EVENT_NAME_REFUSED:
                node_log(n, LOG_WARNING, "%s", detail);
                break;
        case CB_SESSION_EVENT_FILE_SERVED:
                node_log(n, LOG_DEBUG, "served %s", detail);
                notify_changed(n);
                break;
        case CB_SESSION_EVENT_FILE_MISSING:
                node_log(n, LOG_DEBUG, "asked for %s: not found", detail);
                break;
        case CB_SESSION_EVENT_METADATA:
                node_log(n, LOG_INFO, "board property %s", detail);
                break;
        case CB_SESSION_EVENT_REQUEST:
                node_log(n, LOG_DEBUG, "request %s", detail);
                break;
        }
}

static void reset_done(void *userdata, int status, size_t actual) {
        struct cb_node *n = userdata;
        _cleanup_free_ char *reason = TAKE_PTR(n->last_error);

        n->resetting = false;
        n->resets++;
        if (status == 0)
                node_log(n, LOG_INFO, "device reset; it stayed on the bus");
        else if (status == -ENODEV)
                node_log(n, LOG_INFO, "device reset; it re-enumerates");
        else
                node_log(n, LOG_WARNING, "device reset failed: %s", strerror(-status));
        if (status != 0 && status != -ENODEV && n->power.backend && n->device_present) {
                node_power_recover(n, reason ? reason : "session failed");
                return;
        }
        node_attempt_failed(n, reason ? reason : "session failed");
}

/*
 * A session failed with the board still there: reset it before the next
 * attempt, or, if the last recovery was a reset and the node has a power
 * switch, cut its power instead (resets and power cycles take turns).
 */
static void recover_by_reset(struct cb_node *n, const char *reason) {
        int r;

        node_set_last_error(n, reason);
        if (n->device_present && node_power_should_cycle(n)) {
                node_power_recover(n, reason);
                return;
        }
        if (!n->device_present || !n->device.transport.ops->reset) {
                node_attempt_failed(n, reason);
                return;
        }
        n->last_recovery = RECOVERY_RESET;
        node_log(n, LOG_WARNING, "%s; resetting the device", reason);
        r = n->device.transport.ops->reset(n->device.transport.impl, reset_done, n);
        if (r < 0) {
                node_log(n, LOG_WARNING, "cannot reset the device: %s", strerror(-r));
                node_attempt_failed(n, reason);
                return;
        }
        n->resetting = true;
}

static void session_finished(void *userdata, enum cb_session_outcome outcome, int error, const char *reason) {
        struct cb_node *n = userdata;
        char why[512];

        absorb_session(n);
        cb_session_free(n->session);
        n->session = NULL;

        switch (outcome) {
        case CB_SESSION_LOADER_SENT:
                node_log(n, LOG_INFO, "loader accepted; waiting for the second stage");
                node_arm_timer(n, TIMER_REENUMERATE, config(n)->reenumerate_timeout);
                notify_changed(n);
                break;
        case CB_SESSION_BOOTED:
                node_set_state(n, CB_NODE_BOOTED, NULL, "boot files served (%u files, %llu bytes); the kernel starts",
                          n->files_served, (unsigned long long) n->bytes_served);
                if (config(n)->up_timeout > 0)
                        node_arm_timer(n, TIMER_UP, config(n)->up_timeout);
                break;
        case CB_SESSION_GONE:
                node_attempt_failed(n, reason);
                break;
        case CB_SESSION_FAILED:
                snprintf(why, sizeof why, "%s%s%s", reason, error ? ": " : "", error ? strerror(-error) : "");
                recover_by_reset(n, why);
                break;
        }
}

static const struct cb_session_hooks session_hooks = {
        .lookup = lookup_file,
        .event = session_event,
        .finished = session_finished,
};

/* ---- attempts ---- */

static usec_t backoff_for(const struct cb_node *n, unsigned failed_attempt) {
        usec_t delay = config(n)->retry_delay;

        for (unsigned i = 1; i < failed_attempt && delay < config(n)->retry_delay_max; i++)
                delay *= 2;
        return MIN(delay, config(n)->retry_delay_max);
}

void node_give_up(struct cb_node *n, const char *reason) {
        node_disarm_timer(n);
        node_set_last_error(n, reason);
        node_set_state(n, CB_NODE_FAILED, CB_MESSAGE_NODE_FAILED, "giving up after attempt %u of %u: %s", n->attempt,
                  config(n)->max_attempts, reason);
}

void node_attempt_failed(struct cb_node *n, const char *reason) {
        usec_t delay;

        node_disarm_timer(n);
        node_set_last_error(n, reason);
        if (n->attempt >= config(n)->max_attempts) {
                node_give_up(n, reason);
                return;
        }
        delay = backoff_for(n, n->attempt);
        n->attempt++;
        n->revived = false;
        node_set_state(n, CB_NODE_RETRYING, NULL, "attempt %u failed: %s; attempt %u in %.1fs", n->attempt - 1, reason,
                  n->attempt, node_seconds(delay));
        node_arm_timer(n, TIMER_BACKOFF, delay);
}

void node_fresh_boot(struct cb_node *n) {
        n->attempt = 1;
        n->bytes_served = 0;
        n->files_served = 0;
        n->step_retries = 0;
        n->resets = 0;
        n->power_cycles = 0;
        n->last_recovery = RECOVERY_NONE;
        n->revived = false;
        n->up_since = 0;
        n->boot_started = now_usec();
        n->last_error = xfree(n->last_error);
}

static void start_session(struct cb_node *n, enum cb_session_kind kind) {
        const struct cb_config *c = config(n);
        const struct cb_session_settings settings = {
                .control_timeout = c->control_timeout,
                .request_timeout = c->request_timeout,
                .bulk_timeout = c->bulk_timeout,
                .step_retries = c->step_retries,
                .bulk_chunk = BULK_CHUNK,
        };
        _cleanup_(cb_file_unrefp) struct cb_file *loader = NULL;
        char why[512];
        int r;

        node_disarm_timer(n);
        if (kind == CB_SESSION_ROM) {
                const char *loader_name = cb_proto_second_stage_file(n->device.pid);
                const char *reason = NULL;

                r = lookup_file(n, loader_name, &loader, &reason);
                if (r < 0) {
                        /* Without the loader no attempt can succeed: say so instead of retrying. */
                        snprintf(why, sizeof why, "cannot serve %s from %s: %s", loader_name,
                                 config(n)->boot_directory, reason ? reason : strerror(-r));
                        node_give_up(n, why);
                        return;
                }
        }
        r = cb_session_new(kind, &n->device.transport, &settings, &session_hooks, n, loader, &n->session);
        if (r >= 0) {
                node_set_state(n, kind == CB_SESSION_ROM ? CB_NODE_ROM : CB_NODE_SERVING, NULL, "%s",
                          kind == CB_SESSION_ROM ? "sending the second-stage loader" : "serving boot files");
                r = cb_session_start(n->session);
        }
        if (r < 0) {
                cb_session_free(n->session);
                n->session = NULL;
                snprintf(why, sizeof why, "cannot start the %s session: %s", kind == CB_SESSION_ROM ? "ROM" : "file",
                         strerror(-r));
                recover_by_reset(n, why);
        }
}

static void node_up(struct cb_node *n) {
        node_disarm_timer(n);
        n->up_since = now_usec();
        if (n->boot_started) {
                n->last_boot_duration = n->up_since - n->boot_started;
                n->boots++;
                node_set_state(n, CB_NODE_UP, CB_MESSAGE_NODE_UP, "up after %.1fs, on attempt %u",
                          node_seconds(n->last_boot_duration), n->attempt);
        } else {
                node_set_state(n, CB_NODE_UP, CB_MESSAGE_NODE_UP, "a booted board (not a boot ROM) is on the port");
        }
        n->boot_started = 0;
}

/* The board is present and it is time for the next attempt: start whatever its stage calls for. */
void node_resume(struct cb_node *n) {
        switch (n->device.stage) {
        case CB_STAGE_ROM:
                start_session(n, CB_SESSION_ROM);
                break;
        case CB_STAGE_SERVER:
                start_session(n, CB_SESSION_SERVER);
                break;
        default:
                node_up(n);
                break;
        }
}

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        struct cb_node *n = userdata;
        enum node_timer purpose = n->timer_purpose;
        char why[160];

        n->timer_purpose = TIMER_NONE;
        switch (purpose) {
        case TIMER_BACKOFF:
                if (n->device_present && !n->resetting && !n->session) {
                        node_resume(n);
                } else {
                        node_log(n, LOG_INFO, "waiting up to %.1fs for the board to come back",
                                 node_seconds(config(n)->reenumerate_timeout));
                        node_arm_timer(n, TIMER_COMEBACK, config(n)->reenumerate_timeout);
                }
                break;
        case TIMER_REENUMERATE:
                snprintf(why, sizeof why, "the board did not come back in the second stage within %.1fs",
                         node_seconds(config(n)->reenumerate_timeout));
                node_attempt_failed(n, why);
                break;
        case TIMER_COMEBACK: {
                char reason[768];

                /* a board that stays away may be wedged: its power switch is the last thing to try */
                if (node_power_revive(n))
                        break;
                snprintf(reason, sizeof reason, "%s; then the board did not come back on its port within %.1fs",
                         n->last_error ? n->last_error : "attempt failed", node_seconds(config(n)->reenumerate_timeout));
                node_give_up(n, reason);
                break;
        }
        case TIMER_UP:
                snprintf(why, sizeof why, "no sign of the booted board (its USB gadget) within %.1fs of Done",
                         node_seconds(config(n)->up_timeout));
                node_attempt_failed(n, why);
                break;
        case TIMER_POWER_VERIFY:
        case TIMER_POWER_SETTLE:
                node_power_timer(n, purpose);
                break;
        case TIMER_NONE:
                break;
        }
        return 0;
}

/* ---- a board found mid-boot ---- */

static void resync_done(void *userdata, int status, size_t actual) {
        struct cb_node *n = userdata;

        n->resetting = false;
        n->resets++;
        if (node_power_blocks_boot(n))
                return;
        if (status == 0 && n->device_present) {
                node_resume(n);
                return;
        }
        /* it restarts (usually into its ROM): its next appearance starts the boot */
        node_log(n, LOG_INFO, "device reset; waiting for the board to come back");
        node_arm_timer(n, TIMER_COMEBACK, config(n)->reenumerate_timeout);
}

/*
 * A second stage nobody here started (the daemon restarted mid-boot, say)
 * may be in the middle of a file we know nothing about: reset it first, so
 * that the board and the session start from a known point.
 */
static void resync(struct cb_node *n) {
        int r;

        node_log(n, LOG_NOTICE, "found the board in its second stage with no boot in progress here; resetting it first");
        r = n->device.transport.ops->reset(n->device.transport.impl, resync_done, n);
        if (r < 0) {
                node_log(n, LOG_WARNING, "cannot reset the device (%s); serving it as it is", strerror(-r));
                node_resume(n);
                return;
        }
        n->resetting = true;
}

/* ---- presence ---- */

void cb_node_device_added(struct cb_node *n, const struct cb_node_device *device) {
        n->device = *device;
        n->device_present = true;

        node_log(n, LOG_DEBUG, "device %04x:%04x appeared (%s)", device->vid, device->pid,
                 cb_proto_stage_name(device->stage));

        if (node_power_blocks_boot(n)) {
                node_log(n, LOG_DEBUG, "a device appeared while the node's power is being switched; "
                         "it is looked at when that is done");
                return;
        }
        if (n->state == CB_NODE_OFF) {
                node_log(n, LOG_NOTICE, "a board appeared, but the node is powered off by request; not booting it "
                         "(use 'clusterbootctl power on %s')", n->name);
                return;
        }
        if (device->stage == CB_STAGE_NOT_PI) {
                node_up(n);
                return;
        }
        if (n->state == CB_NODE_FAILED) {
                node_log(n, LOG_NOTICE, "board is back in %s stage, but the node has failed; "
                         "use 'clusterbootctl retry %s' to boot it", cb_proto_stage_name(device->stage), n->name);
                return;
        }
        if (n->session) {
                /* a new device under a live session: the old one is gone for good */
                cb_session_abort(n->session);
                n->session = NULL;
        }

        switch (n->state) {
        case CB_NODE_RETRYING:
                if (n->timer_purpose == TIMER_BACKOFF || n->resetting)
                        return; /* the backoff timer resumes it */
                node_resume(n);
                return;
        case CB_NODE_ROM:
                if (device->stage == CB_STAGE_SERVER && n->timer_purpose == TIMER_REENUMERATE) {
                        start_session(n, CB_SESSION_SERVER);
                        return;
                }
                node_attempt_failed(n, "the board came back in the ROM stage instead of the second stage");
                return;
        case CB_NODE_SERVING:
        case CB_NODE_BOOTED:
                node_attempt_failed(n, device->stage == CB_STAGE_ROM
                                          ? "the board restarted into its boot ROM"
                                          : "the board restarted its second stage");
                return;
        default:
                /* absent or up: a board boots from the start */
                node_fresh_boot(n);
                node_boot_present(n);
                return;
        }
}

void node_boot_present(struct cb_node *n) {
        if (n->device.stage == CB_STAGE_SERVER)
                resync(n);
        else
                node_resume(n);
}

void node_stop_session(struct cb_node *n) {
        if (!n->session)
                return;
        absorb_session(n);
        cb_session_abort(n->session);
        n->session = NULL;
}

void cb_node_device_removed(struct cb_node *n) {
        char why[512];

        if (!n->device_present)
                return;
        n->device_present = false;
        n->device.transport = (struct cb_transport){ 0 };

        if (n->session) {
                struct cb_session_progress p;

                cb_session_get_progress(n->session, &p);
                absorb_session(n);
                if (p.loader_delivered) {
                        /*
                         * The ROM took the whole loader and left before its status
                         * answer was seen here (the removal overtook the completion):
                         * it is on its way to the second stage.
                         */
                        cb_session_abort(n->session);
                        n->session = NULL;
                        node_log(n, LOG_INFO, "the board took the loader and left; waiting for the second stage");
                        node_arm_timer(n, TIMER_REENUMERATE, config(n)->reenumerate_timeout);
                        return;
                }
                if (p.current_file)
                        snprintf(why, sizeof why, "the board left the bus while being sent %s (%llu of %llu bytes)",
                                 p.current_file, (unsigned long long) p.current_offset,
                                 (unsigned long long) p.current_size);
                else
                        snprintf(why, sizeof why, "the board left the bus during the %s stage",
                                 n->state == CB_NODE_ROM ? "ROM" : "file-server");
                cb_session_abort(n->session);
                n->session = NULL;
                node_attempt_failed(n, why);
                return;
        }
        if (n->state == CB_NODE_UP)
                node_set_state(n, CB_NODE_ABSENT, NULL, "the board left the bus");
        else
                node_log(n, LOG_DEBUG, "device left the bus");
        node_power_device_removed(n);
}

int cb_node_retry(struct cb_node *n) {
        if (node_power_blocks_boot(n) || n->session || n->resetting)
                return -EBUSY;
        if (n->state == CB_NODE_OFF)
                return -EHOSTDOWN;
        node_disarm_timer(n);
        node_fresh_boot(n);
        if (n->device_present && n->device.stage != CB_STAGE_NOT_PI) {
                node_log(n, LOG_INFO, "boot restarted on request");
                node_resume(n);
        } else {
                node_set_state(n, CB_NODE_ABSENT, NULL, "boot restarted on request; waiting for the board");
        }
        return 0;
}

/* ---- life cycle and accessors ---- */

int cb_node_new(const struct cb_node_env *env, const char *name, const char *port, bool configured,
                struct cb_node **ret) {
        struct cb_node *n = calloc(1, sizeof *n);

        if (!n)
                return -ENOMEM;
        n->env = env;
        n->name = strdup(name);
        n->port = strdup(port);
        if (!n->name || !n->port) {
                cb_node_free(n);
                return -ENOMEM;
        }
        n->configured = configured;
        n->state = CB_NODE_ABSENT;
        record_event(n, configured ? "configured" : "seen on the bus");
        *ret = n;
        return 0;
}

struct cb_node *cb_node_free(struct cb_node *n) {
        if (!n)
                return NULL;
        cb_session_abort(n->session);
        n->session = NULL;
        node_power_free(n);
        sd_event_source_disable_unref(n->timer);
        free(n->name);
        free(n->port);
        free(n->last_error);
        free(n);
        return NULL;
}

int cb_node_set_identity(struct cb_node *n, const char *name, bool configured) {
        char message[256];
        int r;

        if (streq_ptr(n->name, name) && n->configured == configured)
                return 0;
        snprintf(message, sizeof message, "%s: was %s", configured ? "renamed in the configuration" :
                 "its [Node] section is gone; known by its port from now on", n->name);
        r = strdup_to(&n->name, name);
        if (r < 0)
                return r;
        n->configured = configured;
        node_log(n, LOG_NOTICE, "%s", message);
        record_event(n, message);
        notify_changed(n);
        return 0;
}

const char *cb_node_name(const struct cb_node *n) {
        return n->name;
}
const char *cb_node_port(const struct cb_node *n) {
        return n->port;
}
bool cb_node_configured(const struct cb_node *n) {
        return n->configured;
}
enum cb_node_state cb_node_state(const struct cb_node *n) {
        return n->state;
}
unsigned cb_node_attempt(const struct cb_node *n) {
        return n->attempt;
}
const char *cb_node_last_error(const struct cb_node *n) {
        return n->last_error;
}
bool cb_node_device_present(const struct cb_node *n) {
        return n->device_present;
}

void cb_node_get_status(const struct cb_node *n, struct cb_node_status *ret) {
        struct cb_session_progress p = { 0 };

        if (n->session)
                cb_session_get_progress(n->session, &p);
        *ret = (struct cb_node_status){
                .state = n->state,
                .attempt = n->attempt,
                .last_error = n->last_error,
                .current_file = p.current_file,
                .current_offset = p.current_offset,
                .current_size = p.current_size,
                .bytes_served = n->bytes_served + p.bytes_served,
                .files_served = n->files_served + p.files_served,
                .step_retries = n->step_retries + p.step_retries,
                .resets = n->resets,
                .power_cycles = n->power_cycles,
                .boot_started_usec = n->boot_started,
                .up_since_usec = n->up_since,
                .last_boot_duration_usec = n->last_boot_duration,
                .boots = n->boots,
                .n_events = MIN(n->n_events, (unsigned) CB_NODE_EVENTS_MAX),
        };
}

const struct cb_node_event *cb_node_event_at(const struct cb_node *n, unsigned i) {
        unsigned kept = MIN(n->n_events, (unsigned) CB_NODE_EVENTS_MAX);
        unsigned first = n->n_events - kept;

        if (i >= kept)
                return NULL;
        return &n->events[(first + i) % CB_NODE_EVENTS_MAX];
}
