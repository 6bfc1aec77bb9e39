/*
 * stress.c: 32 threads call every API function at once, in random order, on
 * shared and on private handles, for a bounded time. Shared handles live in a
 * few slots that every thread reads without a lock: a handle can be
 * destroyed (even by two threads at once) while other threads configure it,
 * read its status, or sit in poll() on its event descriptor.
 *
 *   stress [SECONDS [SERVER4 [SERVER6]]]
 *
 * SECONDS defaults to 5 (or $PROSSNTP_STRESS_SECONDS). Without servers it
 * starts the project's test server ($PROSSNTP_TESTSERVER, default
 * target/debug/prossntp-testserver) on 127.0.0.1 and ::1, as ctests/run.sh
 * does, and stops it at the end.
 *
 * Passes when:
 *   - every call returned 0 or an ERR_SM_* code the contract allows for it
 *     (create: 0, NO_RESOURCES, OS_RESOURCE_PROBLEM; config, config_ipv6: 0,
 *     BAD_PARAMETER, WRONG_MODULE_STATE; get_event, status, destroy: 0,
 *     BAD_PARAMETER), never ERR_SM_DEVERR (a panic) or anything else;
 *   - calls on a handle whose destroy had already returned got
 *     ERR_SM_BAD_PARAMETER (handles are not reused);
 *   - outputs are sane (status 0..2, has_sync 0/1 only with Sync and left
 *     alone otherwise, event fd >= 0 with mode POLLIN|POLLPRI);
 *   - every handle created was destroyed with 0 exactly once;
 *   - no call took longer than 10 s (a watchdog ends the run with exit
 *     status 3 and names the call otherwise) and no destroy longer than 2 s
 *     (both multiplied by $PROSSNTP_STRESS_TIME_SCALE, default 1);
 *   - descriptors and threads are back to their starting counts.
 * It prints the calls per function and per return code.
 */
#include "prossntp.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include "harness.h"

#define THREADS 32
#define SLOTS 8
#define STALE_RING 256
/* Promptness bounds; PROSSNTP_STRESS_TIME_SCALE multiplies both (for slow
 * runs such as under valgrind). */
static double hang_seconds = 10.0;
static double destroy_bound = 2.0;

enum fn { F_CREATE, F_CONFIG, F_CONFIG6, F_GET_EVENT, F_STATUS, F_DESTROY, F_COUNT };
static const char *const fn_names[F_COUNT] = {"create", "config", "config_ipv6", "get_event", "status", "destroy"};

enum code { C_OK, C_BAD_PARAMETER, C_NO_RESOURCES, C_OS_RESOURCE, C_WRONG_STATE, C_DEVERR, C_OTHER, C_COUNT };
static const char *const code_names[C_COUNT] = {"0",           "BAD_PARAMETER", "NO_RESOURCES", "OS_RESOURCE_PROBLEM",
                                                "WRONG_MODULE_STATE", "DEVERR", "other"};

/* allowed[fn][code]: what the contract allows each function to return here. */
static const int allowed[F_COUNT][C_COUNT] = {
    /* create      */ {1, 0, 1, 1, 0, 0, 0},
    /* config      */ {1, 1, 0, 0, 1, 0, 0},
    /* config_ipv6 */ {1, 1, 0, 0, 1, 0, 0},
    /* get_event   */ {1, 1, 0, 0, 0, 0, 0},
    /* status      */ {1, 1, 0, 0, 0, 0, 0},
    /* destroy     */ {1, 1, 0, 0, 0, 0, 0},
};

static enum code code_of(int rc)
{
    switch (rc) {
    case 0: return C_OK;
    case ERR_SM_BAD_PARAMETER: return C_BAD_PARAMETER;
    case ERR_SM_NO_RESOURCES: return C_NO_RESOURCES;
    case ERR_SM_OS_RESOURCE_PROBLEM: return C_OS_RESOURCE;
    case ERR_SM_WRONG_MODULE_STATE: return C_WRONG_STATE;
    case ERR_SM_DEVERR: return C_DEVERR;
    default: return C_OTHER;
    }
}

/* ------------------------------------------------------------------ shared state */

static struct h_addr server4, server6;
static int stop_flag; /* atomics only */

static int stopping(void)
{
    return __atomic_load_n(&stop_flag, __ATOMIC_SEQ_CST);
}

/* Shared handles (0 = empty), read and written with atomics only. */
static uintptr_t slots[SLOTS];

/* Handles whose destroy returned 0: any later call must be rejected. */
static uintptr_t stale[STALE_RING];
static unsigned stale_next;

struct worker {
    pthread_t thread;
    int index;
    uint64_t rng;
    /* Per function and return code. */
    long calls[F_COUNT][C_COUNT];
    double max_seconds[F_COUNT];
    long creates_ok, destroys_ok;
    long stale_calls, stale_wrong;
    long bad_output;
    long wrong_code; /* a code the contract does not allow (details printed) */
    long destroy_slow;
    long destroy_while_polled, destroy_while_status, destroy_duels;
    long polls, polls_readable, polls_nval;
    long private_cycles, private_synced;
    /* config refused with WRONG_MODULE_STATE / status Stopped: on a handle
     * that a racing destroy had already removed, or on a live one (a worker
     * that ended by itself) */
    long ended_racing, ended_live, stopped_racing, stopped_live;
    /* What this thread is doing now, for the other threads and the watchdog. */
    uintptr_t polling;    /* handle whose event this thread is in poll() on */
    uintptr_t in_status;  /* handle this thread is in status() on */
    uintptr_t destroying; /* handle this thread is destroying */
    int current_fn;       /* -1: not inside the library */
    int64_t call_started_us; /* h_now() in microseconds */
};

static struct worker workers[THREADS];

static uintptr_t load(uintptr_t *p)
{
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static void store(uintptr_t *p, uintptr_t v)
{
    __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

static uint64_t next_random(struct worker *w)
{
    /* xorshift64* */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 2685821657736338717ULL;
}

static unsigned pick(struct worker *w, unsigned n)
{
    return (unsigned)(next_random(w) >> 33) % n;
}

static double now_published(struct worker *w, int fn)
{
    double t = h_now();
    __atomic_store_n(&w->call_started_us, (int64_t)(t * 1e6), __ATOMIC_SEQ_CST);
    __atomic_store_n(&w->current_fn, fn, __ATOMIC_SEQ_CST);
    return t;
}

/* Records one call's outcome; complains about codes the contract does not allow. */
static void record(struct worker *w, int fn, int rc, double started)
{
    enum code c = code_of(rc);
    double took = h_now() - started;
    __atomic_store_n(&w->current_fn, -1, __ATOMIC_SEQ_CST);
    w->calls[fn][c]++;
    if (took > w->max_seconds[fn])
        w->max_seconds[fn] = took;
    if (!allowed[fn][c]) {
        w->wrong_code++;
        if (w->wrong_code <= 5)
            printf("  thread %d: %s returned %d, which the contract does not allow\n", w->index, fn_names[fn], rc);
    }
}

static void push_stale(uintptr_t h)
{
    unsigned i = __atomic_fetch_add(&stale_next, 1, __ATOMIC_SEQ_CST);
    store(&stale[i % STALE_RING], h);
}

/* ------------------------------------------------------------------ calls */

/* 1 when the library no longer knows the handle (a destroy removed it). */
static int handle_gone(tSMSNTPId h)
{
    SM_SNTP_STATUS_PARMS st;
    memset(&st, 0, sizeof st);
    st.sntp = h;
    return sm_sntp_status(&st) == ERR_SM_BAD_PARAMETER;
}

static int call_create(struct worker *w, tSMSNTPId *out)
{
    SM_SNTP_CREATE_PARMS p;
    double t;
    int rc;
    memset(&p, 0, sizeof p);
    p.type = pick(w, 2) ? kSMSNTPTypeIPv6 : kSMSNTPTypeIPv4;
    /* any-address or loopback */
    p.address.s_addr = htonl(pick(w, 2) ? INADDR_LOOPBACK : INADDR_ANY);
    p.ipv6_address = pick(w, 2) ? in6addr_loopback : in6addr_any;
    t = now_published(w, F_CREATE);
    rc = sm_sntp_create(&p);
    record(w, F_CREATE, rc, t);
    if (rc == 0) {
        w->creates_ok++;
        if (p.sntp == NULL) {
            w->bad_output++;
            printf("  thread %d: create returned 0 with a NULL handle\n", w->index);
        }
        *out = p.sntp;
    } else {
        *out = NULL;
    }
    return rc;
}

/* Random delays: mostly valid, now and then no_reply > had_reply (must be refused). */
static void random_delays(struct worker *w, unsigned long *no_reply, unsigned long *had_reply, int *invalid)
{
    unsigned r = pick(w, 100);
    *invalid = 0;
    if (r < 5) {
        *no_reply = 3000;
        *had_reply = 1000;
        *invalid = 1;
    } else if (r < 10) {
        *no_reply = ULONG_MAX;
        *had_reply = ULONG_MAX;
    } else {
        *no_reply = 50 + pick(w, 2000);
        *had_reply = *no_reply + pick(w, 64000);
    }
}

static int call_config(struct worker *w, tSMSNTPId h, int ipv6)
{
    unsigned long no_reply, had_reply;
    int invalid, rc;
    double t;
    random_delays(w, &no_reply, &had_reply, &invalid);
    if (ipv6) {
        SM_SNTP_CONFIG_IPV6_PARMS p;
        memset(&p, 0, sizeof p);
        p.sntp = h;
        p.server = server6.u.in6;
        p.no_reply_delay = no_reply;
        p.had_reply_delay = had_reply;
        t = now_published(w, F_CONFIG6);
        rc = sm_sntp_config_ipv6(&p);
        record(w, F_CONFIG6, rc, t);
    } else {
        SM_SNTP_CONFIG_PARMS p;
        memset(&p, 0, sizeof p);
        p.sntp = h;
        p.server = server4.u.in4;
        p.TOS = (int)pick(w, 256);
        p.no_reply_delay = no_reply;
        p.had_reply_delay = had_reply;
        t = now_published(w, F_CONFIG);
        rc = sm_sntp_config(&p);
        record(w, F_CONFIG, rc, t);
    }
    if (rc == ERR_SM_WRONG_MODULE_STATE) {
        /* Contract: config after the worker has ended. A destroy removes the
         * handle before it stops the worker, so a racing destroy shows here
         * as a handle that is already gone. */
        if (handle_gone(h))
            w->ended_racing++;
        else
            w->ended_live++;
    }
    if (invalid && rc != ERR_SM_BAD_PARAMETER) {
        w->wrong_code++;
        printf("  thread %d: config with no_reply > had_reply returned %d\n", w->index, rc);
    }
    return rc;
}

static int call_get_event(struct worker *w, tSMSNTPId h, struct tSMEventId *ev)
{
    SM_SNTP_EVENT_PARMS p;
    double t;
    int rc;
    memset(&p, 0, sizeof p);
    p.sntp = h;
    p.event.fd = -7;
    t = now_published(w, F_GET_EVENT);
    rc = sm_sntp_get_event(&p);
    record(w, F_GET_EVENT, rc, t);
    if (rc == 0 && (p.event.fd < 0 || p.event.mode != (POLLIN | POLLPRI))) {
        w->bad_output++;
        printf("  thread %d: get_event gave fd %d mode %d\n", w->index, p.event.fd, p.event.mode);
    }
    if (rc != 0 && p.event.fd != -7) {
        w->bad_output++;
        printf("  thread %d: get_event failed (%d) but wrote fd %d\n", w->index, rc, p.event.fd);
    }
    *ev = p.event;
    return rc;
}

static int call_status(struct worker *w, tSMSNTPId h, SM_SNTP_STATUS_PARMS *st)
{
    double t;
    int rc;
    memset(st, 0, sizeof *st);
    st->sntp = h;
    st->status = (enum kSMSNTPStatus)77;
    st->u.sync.has_sync = -1;
    store(&w->in_status, (uintptr_t)h);
    t = now_published(w, F_STATUS);
    rc = sm_sntp_status(st);
    record(w, F_STATUS, rc, t);
    store(&w->in_status, 0);
    if (rc == 0) {
        int s = (int)st->status;
        int ok = s == kSMSNTPStatusRunning || s == kSMSNTPStatusStopped || s == kSMSNTPStatusSync;
        if (s == kSMSNTPStatusSync)
            ok = ok && (st->u.sync.has_sync == 0 || st->u.sync.has_sync == 1);
        else
            ok = ok && st->u.sync.has_sync == -1;
        if (!ok) {
            w->bad_output++;
            printf("  thread %d: status gave status %d has_sync %d\n", w->index, s, st->u.sync.has_sync);
        }
        if (s == kSMSNTPStatusStopped) {
            if (handle_gone(h))
                w->stopped_racing++;
            else
                w->stopped_live++;
        }
    } else if ((int)st->status != 77 || st->u.sync.has_sync != -1) {
        w->bad_output++;
        printf("  thread %d: status failed (%d) but wrote its outputs\n", w->index, rc);
    }
    return rc;
}

static int call_destroy(struct worker *w, tSMSNTPId h)
{
    double t, took;
    int rc, i;
    store(&w->destroying, (uintptr_t)h);
    /* Who else is using this handle right now? */
    for (i = 0; i < THREADS; i++) {
        if (i == w->index)
            continue;
        if (load(&workers[i].polling) == (uintptr_t)h)
            w->destroy_while_polled++;
        if (load(&workers[i].in_status) == (uintptr_t)h)
            w->destroy_while_status++;
        if (load(&workers[i].destroying) == (uintptr_t)h)
            w->destroy_duels++;
    }
    t = now_published(w, F_DESTROY);
    rc = sm_sntp_destroy(h);
    record(w, F_DESTROY, rc, t);
    store(&w->destroying, 0);
    took = h_now() - t;
    if (took > destroy_bound) {
        w->destroy_slow++;
        printf("  thread %d: destroy took %.3f s\n", w->index, took);
    }
    if (rc == 0) {
        w->destroys_ok++;
        push_stale((uintptr_t)h);
    }
    return rc;
}

/* ------------------------------------------------------------------ operations */

/* A new shared handle in a random slot; the one it replaces is destroyed
 * (perhaps while another thread destroys it too). */
static void op_create_shared(struct worker *w)
{
    tSMSNTPId h;
    uintptr_t old;
    if (call_create(w, &h) != 0)
        return;
    if (pick(w, 2))
        call_config(w, h, pick(w, 2));
    old = __atomic_exchange_n(&slots[pick(w, SLOTS)], (uintptr_t)h, __ATOMIC_SEQ_CST);
    if (old != 0)
        call_destroy(w, (tSMSNTPId)old);
}

/* Destroys a shared handle while it is still in its slot (others may be
 * using it or destroying it at the same moment), then empties the slot. */
static void op_destroy_shared(struct worker *w)
{
    unsigned i = pick(w, SLOTS);
    uintptr_t h = load(&slots[i]);
    if (h == 0)
        return;
    call_destroy(w, (tSMSNTPId)h);
    __atomic_compare_exchange_n(&slots[i], &h, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static void op_config_shared(struct worker *w, int ipv6)
{
    uintptr_t h = load(&slots[pick(w, SLOTS)]);
    call_config(w, (tSMSNTPId)h, ipv6); /* also with an empty slot: NULL handle */
}

static void op_get_event_shared(struct worker *w)
{
    struct tSMEventId ev;
    uintptr_t h = load(&slots[pick(w, SLOTS)]);
    call_get_event(w, (tSMSNTPId)h, &ev);
}

static void op_status_shared(struct worker *w)
{
    SM_SNTP_STATUS_PARMS st;
    uintptr_t h = load(&slots[pick(w, SLOTS)]);
    int n = 1 + (int)pick(w, 8);
    while (n-- > 0 && call_status(w, (tSMSNTPId)h, &st) == 0 && st.status != kSMSNTPStatusRunning)
        ;
}

/* Sits in poll() on a shared handle's event (up to 200 ms) while others may
 * destroy it, then reads its status as a user program would. */
static void op_poll_shared(struct worker *w)
{
    struct tSMEventId ev;
    struct pollfd pfd;
    SM_SNTP_STATUS_PARMS st;
    uintptr_t h = load(&slots[pick(w, SLOTS)]);
    int n;
    if (h == 0)
        return;
    store(&w->polling, h);
    if (call_get_event(w, (tSMSNTPId)h, &ev) == 0) {
        pfd.fd = ev.fd;
        pfd.events = (short)ev.mode;
        pfd.revents = 0;
        w->polls++;
        /* The descriptor may be closed (and even reused) by a destroy at any
         * moment: poll() then times out, or reports POLLNVAL; never worse. */
        n = poll(&pfd, 1, (int)pick(w, 200));
        if (n > 0 && (pfd.revents & POLLNVAL))
            w->polls_nval++;
        else if (n > 0)
            w->polls_readable++;
        call_status(w, (tSMSNTPId)h, &st);
    }
    store(&w->polling, 0);
}

/* A private handle's whole life: create, get_event, config, status (waiting
 * briefly for the first Sync now and then), destroy. */
static void op_private_cycle(struct worker *w)
{
    tSMSNTPId h;
    struct tSMEventId ev;
    SM_SNTP_STATUS_PARMS st;
    int ipv6, wait_sync;
    if (call_create(w, &h) != 0)
        return;
    w->private_cycles++;
    /* create picked the family at random: find it out by configuring. */
    ipv6 = pick(w, 2);
    if (call_config(w, h, ipv6) == ERR_SM_BAD_PARAMETER)
        call_config(w, h, !ipv6);
    wait_sync = pick(w, 4) == 0;
    if (call_get_event(w, h, &ev) == 0) {
        double end = h_now() + (wait_sync ? 1.0 : 0.0);
        int synced = 0;
        do {
            struct pollfd pfd;
            pfd.fd = ev.fd;
            pfd.events = (short)ev.mode;
            pfd.revents = 0;
            if (wait_sync)
                poll(&pfd, 1, h_ms_left(end));
            while (call_status(w, h, &st) == 0 && st.status == kSMSNTPStatusSync)
                if (st.u.sync.has_sync == 1)
                    synced = 1;
        } while (wait_sync && !synced && h_now() < end && !stopping());
        if (synced)
            w->private_synced++;
    }
    call_destroy(w, h);
}

/* Any call with a handle whose destroy has returned must be refused. */
static void op_stale(struct worker *w)
{
    unsigned n = __atomic_load_n(&stale_next, __ATOMIC_SEQ_CST);
    uintptr_t h;
    int rc, fn;
    SM_SNTP_STATUS_PARMS st;
    struct tSMEventId ev;
    if (n == 0)
        return;
    h = load(&stale[pick(w, n < STALE_RING ? n : STALE_RING)]);
    if (h == 0)
        return;
    fn = (int)pick(w, 5);
    switch (fn) {
    case 0: rc = call_config(w, (tSMSNTPId)h, 0); break;
    case 1: rc = call_config(w, (tSMSNTPId)h, 1); break;
    case 2: rc = call_get_event(w, (tSMSNTPId)h, &ev); break;
    case 3: rc = call_status(w, (tSMSNTPId)h, &st); break;
    default: rc = call_destroy(w, (tSMSNTPId)h); break;
    }
    w->stale_calls++;
    if (rc != ERR_SM_BAD_PARAMETER) {
        w->stale_wrong++;
        if (w->stale_wrong <= 5)
            printf("  thread %d: call %d on destroyed handle %p returned %d\n", w->index, fn, (void *)h, rc);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    while (!stopping()) {
        unsigned r = pick(w, 100);
        if (r < 8)
            op_create_shared(w);
        else if (r < 15)
            op_destroy_shared(w);
        else if (r < 27)
            op_config_shared(w, 0);
        else if (r < 39)
            op_config_shared(w, 1);
        else if (r < 49)
            op_get_event_shared(w);
        else if (r < 74)
            op_status_shared(w);
        else if (r < 86)
            op_poll_shared(w);
        else if (r < 92)
            op_private_cycle(w);
        else
            op_stale(w);
    }
    return NULL;
}

/* ------------------------------------------------------------------ test server */

static pid_t server_pid = -1;



/* ------------------------------------------------------------------ main */



static long row_sum(const long *row)
{
    long n = 0;
    int c;
    for (c = 0; c < C_COUNT; c++)
        n += row[c];
    return n;
}

/* Lists the open descriptors (to explain a mismatch). */
static void list_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char path[300], target[300];
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        ssize_t n;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        n = readlink(path, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = '\0';
        printf("        fd %s -> %s\n", e->d_name, target);
    }
    closedir(d);
}

static void *nothing(void *arg)
{
    return arg;
}

/* Waits for the workers, naming any call that has been running too long. */
static int join_with_watchdog(void)
{
    double deadline = h_now() + hang_seconds + 5.0;
    int i, joined = 0;
    int done[THREADS] = {0};
    while (joined < THREADS) {
        for (i = 0; i < THREADS; i++) {
            if (!done[i] && pthread_tryjoin_np(workers[i].thread, NULL) == 0) {
                done[i] = 1;
                joined++;
            }
        }
        for (i = 0; i < THREADS; i++) {
            int fn = __atomic_load_n(&workers[i].current_fn, __ATOMIC_SEQ_CST);
            double started = (double)__atomic_load_n(&workers[i].call_started_us, __ATOMIC_SEQ_CST) / 1e6;
            if (!done[i] && fn >= 0 && h_now() - started > hang_seconds) {
                printf("  FAIL  hang: thread %d has been inside %s for %.1f s\n", i, fn_names[fn], h_now() - started);
                fflush(stdout);
                return -1;
            }
        }
        if (joined < THREADS && h_now() > deadline) {
            printf("  FAIL  hang: %d threads did not finish\n", THREADS - joined);
            fflush(stdout);
            return -1;
        }
        if (joined < THREADS)
            h_sleep_ms(20);
    }
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 5.0, t0, elapsed;
    char v4[256], v6[256];
    const char *a4, *a6, *env;
    int i, f, c, fds_before, threads_before, fds_after, threads_after, started = 0;
    long total[F_COUNT][C_COUNT], all_calls = 0;
    double max_seconds[F_COUNT];
    struct worker sum;

    h_guard("stress", 1);
    setvbuf(stdout, NULL, _IOLBF, 0);
    env = getenv("PROSSNTP_STRESS_TIME_SCALE");
    if (env != NULL && atof(env) >= 1.0) {
        hang_seconds *= atof(env);
        destroy_bound *= atof(env);
    }
    env = getenv("PROSSNTP_STRESS_SECONDS");
    if (argc > 1)
        seconds = atof(argv[1]);
    else if (env != NULL)
        seconds = atof(env);
    if (seconds <= 0.0 || seconds > 600.0) {
        fprintf(stderr, "usage: stress [SECONDS [SERVER4 [SERVER6]]] (SECONDS 0..600)\n");
        return 2;
    }
    if (argc > 2) {
        a4 = argv[2];
        a6 = argc > 3 ? argv[3] : NULL;
    } else {
        if (h_start_server(v4, v6, sizeof v4, &server_pid) != 0) {
            fprintf(stderr, "stress: the test server did not start\n");
            h_stop_server(&server_pid);
            return 2;
        }
        a4 = v4;
        a6 = v6;
    }
    if (h_parse_addr(a4, &server4) != 0 || server4.family != AF_INET ||
        (a6 != NULL && (h_parse_addr(a6, &server6) != 0 || server6.family != AF_INET6))) {
        fprintf(stderr, "stress: servers must be A.B.C.D:PORT and [V6]:PORT\n");
        h_stop_server(&server_pid);
        return 2;
    }
    if (a6 == NULL) /* no IPv6 server given: IPv6 clients get a loopback port */
        h_loopback(AF_INET6, ntohs(server4.u.in4.sin_port), &server6);
    printf("stress: %d threads for %.1f s against %s and %s\n", THREADS, seconds, a4, a6 ? a6 : "(none)");

    /* A sanitizer runtime starts a helper thread (and may open descriptors)
     * with the first pthread_create: have that happen before the baseline. */
    {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) == 0)
            pthread_join(t, NULL);
        h_sleep_ms(100);
    }
    fds_before = h_count_fds();
    threads_before = h_count_entries("/proc/self/task");
    for (i = 0; i < THREADS; i++) {
        workers[i].index = i;
        workers[i].rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1) ^ (uint64_t)getpid() << 20 ^ (uint64_t)time(NULL);
        workers[i].current_fn = -1;
    }
    t0 = h_now();
    for (i = 0; i < THREADS; i++)
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) == 0)
            started++;
    if (!CHECK_EQ(started, THREADS, "started %d threads", THREADS)) {
        __atomic_store_n(&stop_flag, 1, __ATOMIC_SEQ_CST);
        h_stop_server(&server_pid);
        return h_exit_code("stress");
    }
    h_sleep_ms((long)(seconds * 1000.0));
    __atomic_store_n(&stop_flag, 1, __ATOMIC_SEQ_CST);
    if (join_with_watchdog() != 0) {
        h_stop_server(&server_pid);
        printf("stress: hung\n");
        _exit(3);
    }
    elapsed = h_now() - t0;

    /* Destroy what is left in the slots (some may have been destroyed already). */
    memset(&sum, 0, sizeof sum);
    sum.index = THREADS;
    sum.current_fn = -1;
    for (i = 0; i < SLOTS; i++) {
        uintptr_t h = __atomic_exchange_n(&slots[i], 0, __ATOMIC_SEQ_CST);
        if (h != 0)
            call_destroy(&sum, (tSMSNTPId)h);
    }

    memset(total, 0, sizeof total);
    for (f = 0; f < F_COUNT; f++)
        max_seconds[f] = sum.max_seconds[f];
    for (i = 0; i <= THREADS; i++) {
        struct worker *w = i < THREADS ? &workers[i] : &sum;
        for (f = 0; f < F_COUNT; f++) {
            for (c = 0; c < C_COUNT; c++) {
                total[f][c] += w->calls[f][c];
                all_calls += w->calls[f][c];
            }
            if (w->max_seconds[f] > max_seconds[f])
                max_seconds[f] = w->max_seconds[f];
        }
        if (i == THREADS)
            break;
        sum.creates_ok += w->creates_ok;
        sum.destroys_ok += w->destroys_ok;
        sum.stale_calls += w->stale_calls;
        sum.stale_wrong += w->stale_wrong;
        sum.bad_output += w->bad_output;
        sum.wrong_code += w->wrong_code;
        sum.destroy_slow += w->destroy_slow;
        sum.destroy_while_polled += w->destroy_while_polled;
        sum.destroy_while_status += w->destroy_while_status;
        sum.destroy_duels += w->destroy_duels;
        sum.polls += w->polls;
        sum.polls_readable += w->polls_readable;
        sum.polls_nval += w->polls_nval;
        sum.private_cycles += w->private_cycles;
        sum.private_synced += w->private_synced;
        sum.ended_racing += w->ended_racing;
        sum.ended_live += w->ended_live;
        sum.stopped_racing += w->stopped_racing;
        sum.stopped_live += w->stopped_live;
    }

    printf("calls per function (%.2f s, %ld calls, %.0f calls/s):\n", elapsed, all_calls, all_calls / elapsed);
    printf("  %-12s %10s", "function", "calls");
    for (c = 0; c < C_COUNT; c++)
        printf(" %s", code_names[c]);
    printf("  max s\n");
    for (f = 0; f < F_COUNT; f++) {
        long n = 0;
        n = row_sum(total[f]);
        printf("  %-12s %10ld", fn_names[f], n);
        for (c = 0; c < C_COUNT; c++)
            printf(" %s=%ld", code_names[c], total[f][c]);
        printf("  %.3f\n", max_seconds[f]);
    }
    printf("stress: calls");
    for (f = 0; f < F_COUNT; f++)
        printf(" %s=%ld", fn_names[f], row_sum(total[f]));
    printf("\n");
    printf("stress: destroys while another thread polled the event: %ld, while in status: %ld, "
           "racing destroys of one handle: %ld\n",
           sum.destroy_while_polled, sum.destroy_while_status, sum.destroy_duels);
    printf("stress: polls %ld (readable %ld, POLLNVAL %ld); private cycles %ld (%ld waited and synced); "
           "calls on destroyed handles %ld\n",
           sum.polls, sum.polls_readable, sum.polls_nval, sum.private_cycles, sum.private_synced, sum.stale_calls);

    printf("stress: config WRONG_MODULE_STATE %ld (handle being destroyed) + %ld (live handle); "
           "status Stopped %ld (handle being destroyed) + %ld (live handle)\n",
           sum.ended_racing, sum.ended_live, sum.stopped_racing, sum.stopped_live);
    CHECK(all_calls > 0, "the threads made %ld calls", all_calls);
    CHECK_EQ(sum.wrong_code, 0, "every call returned 0 or a code the contract allows for it");
    {
        long deverr = 0;
        for (f = 0; f < F_COUNT; f++)
            deverr += total[f][C_DEVERR];
        CHECK_EQ(deverr, 0, "no ERR_SM_DEVERR (a panic inside the library)");
    }
    CHECK_EQ(sum.stale_wrong, 0, "every call on a destroyed handle got ERR_SM_BAD_PARAMETER (%ld calls)",
             sum.stale_calls);
    CHECK_EQ(sum.bad_output, 0, "every output was sane");
    CHECK_EQ(sum.ended_live + sum.stopped_live, 0,
             "no live client's worker ended by itself (config WRONG_MODULE_STATE or status Stopped on a live handle)");
    CHECK_EQ(sum.destroys_ok, sum.creates_ok, "every handle created (%ld) was destroyed with 0 exactly once",
             sum.creates_ok);
    CHECK_EQ(sum.destroy_slow, 0, "no destroy took over %.0f s (longest %.3f s)", destroy_bound,
             max_seconds[F_DESTROY]);
    CHECK(sum.destroy_while_polled > 0, "some destroys happened while another thread sat in poll() (%ld)",
          sum.destroy_while_polled);
    CHECK(sum.destroy_while_status > 0, "some destroys happened while another thread was in status (%ld)",
          sum.destroy_while_status);

    /* Every worker thread joined, every descriptor closed. */
    {
        double end = h_now() + 2.0;
        for (;;) {
            fds_after = h_count_fds();
            threads_after = h_count_entries("/proc/self/task");
            if ((fds_after == fds_before && threads_after == threads_before) || h_now() > end)
                break;
            h_sleep_ms(50);
        }
    }
    if (!CHECK_EQ(fds_after, fds_before, "open descriptors back to %d (%s)", fds_before, h_fds_counted()))
        list_fds();
    CHECK_EQ(threads_after, threads_before, "threads back to %d", threads_before);
    h_stop_server(&server_pid);
    return h_exit_code("stress");
}
