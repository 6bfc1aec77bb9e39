/*
 * own_clock.c: prossntp_gettime, the server's time from a client's own clock.
 *
 *   own_clock ADDR:PORT     a test server serving the host's time + 0.25 s
 *
 * The size protocol, NULL and bad handles; before the first sample the host's
 * time with an unbounded error; after it the server's time, within the bound
 * of the truth (the server is exactly 0.25 s ahead of this host's clock),
 * the NTP timestamp the same instant; 200,000 calls never going back; then 32
 * threads calling it while the client is reconfigured and destroyed.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prossntp.h"
#include "prossntp_ext.h"
#include "harness.h"

#define SERVER_AHEAD 0.25
#define THREADS 32

static double ts_seconds(struct timespec t)
{
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static double realtime(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return ts_seconds(t);
}

static int get(tSMSNTPId c, struct prossntp_time *t)
{
    memset(t, 0, sizeof *t);
    t->size = sizeof *t;
    return prossntp_gettime(c, t);
}

static void bad_input(void)
{
    struct prossntp_time t;
    tSMSNTPId gone;
    int on_stack = 0;

    CHECK_EQ(prossntp_gettime((tSMSNTPId)(uintptr_t)0x1234, &t), ERR_SM_BAD_PARAMETER, "unknown handle");
    CHECK_EQ(prossntp_gettime((tSMSNTPId)(void *)&on_stack, &t), ERR_SM_BAD_PARAMETER, "a stack pointer as handle");
    CHECK_EQ(prossntp_gettime(NULL, &t), ERR_SM_BAD_PARAMETER, "NULL handle");
    CHECK_EQ(h_create(AF_INET, &gone), 0, "control: create a client to destroy");
    CHECK_EQ(prossntp_gettime(gone, NULL), ERR_SM_BAD_PARAMETER, "NULL struct");
    memset(&t, 0x5a, sizeof t);
    t.size = 0;
    CHECK_EQ(prossntp_gettime(gone, &t), ERR_SM_BAD_PARAMETER, "size 0");
    t.size = PROSSNTP_TIME_MIN_SIZE - 1;
    CHECK_EQ(prossntp_gettime(gone, &t), ERR_SM_BAD_PARAMETER, "size MIN-1");
    CHECK(t.synced == 0x5a5a5a5a && t.size == PROSSNTP_TIME_MIN_SIZE - 1, "  nothing written");
    CHECK_EQ(sm_sntp_destroy(gone), 0, "control: destroy it");
    CHECK_EQ(get(gone, &t), ERR_SM_BAD_PARAMETER, "a destroyed handle");
}

static void before_sync(tSMSNTPId c)
{
    struct prossntp_time t;
    unsigned char big[sizeof t + 16];
    double host = realtime();

    CHECK_EQ(get(c, &t), 0, "before any sample: OK");
    CHECK(t.synced == 0 && t.size == sizeof t, "  synced 0, size %zu", t.size);
    CHECK(isinf(t.error_bound) && t.error_bound > 0, "  error bound unbounded (%g)", t.error_bound);
    CHECK(fabs(ts_seconds(t.time) - host) < 1.0, "  the host's time");
    memset(big, 0xa5, sizeof big);
    t.size = sizeof big;
    memcpy(big, &t.size, sizeof t.size);
    CHECK_EQ(prossntp_gettime(c, (struct prossntp_time *)(void *)big), 0, "a bigger (newer) struct");
    memcpy(&t, big, sizeof t);
    CHECK(t.size == sizeof t && big[sizeof t] == 0xa5 && big[sizeof big - 1] == 0xa5,
          "  only this version's %zu bytes written", t.size);
}

static void after_sync(tSMSNTPId c)
{
    struct prossntp_time t, last;
    double worst = 0, host, err;
    uint64_t ntp_secs;
    long i, back = 0;

    CHECK_EQ(get(c, &t), 0, "synced: OK");
    host = realtime();
    err = fabs(ts_seconds(t.time) - (host + SERVER_AHEAD));
    CHECK(t.synced == 1 && t.leap == 0, "  synced 1, leap 0");
    CHECK(t.error_bound > 0 && t.error_bound < 0.01, "  error bound %.6f s", t.error_bound);
    CHECK(err <= t.error_bound + 1e-4, "  the server's time: %.1f us from the truth (bound %.1f us)", err * 1e6,
          t.error_bound * 1e6);
    ntp_secs = ((uint64_t)t.time.tv_sec + 2208988800u) & 0xffffffffu;
    CHECK(t.ntp >> 32 == ntp_secs, "  ntp seconds are time's");
    CHECK(fabs((double)(t.ntp & 0xffffffffu) / 4294967296.0 - t.time.tv_nsec * 1e-9) < 1e-8, "  ntp fraction is time's");
    last = t;
    for (i = 0; i < 200000; i++) {
        double before = realtime(), after, own;
        get(c, &t);
        after = realtime();
        if (ts_seconds(t.time) < ts_seconds(last.time) ||
            (t.time.tv_sec == last.time.tv_sec && t.time.tv_nsec < last.time.tv_nsec))
            back++;
        /* The server's time at the call lies between the two host reads, + 0.25 s. */
        own = ts_seconds(t.time) - SERVER_AHEAD;
        err = (own < before ? before - own : own > after ? own - after : 0) - t.error_bound;
        if (err > worst)
            worst = err;
        last = t;
    }
    CHECK_EQ(back, 0, "200,000 calls: never back");
    CHECK(worst <= 1e-6, "  never beyond the bound (worst excess %.1f us; 1 us of double rounding allowed)", worst * 1e6);
}

struct shared {
    tSMSNTPId c;
    atomic_int stop;
    atomic_long calls, backwards, failures_live, after_destroy_ok;
    atomic_int failure_rc;
    atomic_int destroying, destroyed;
};

static int later(struct timespec a, struct timespec b) /* a < b */
{
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

static void *reader(void *arg)
{
    struct shared *s = arg;
    struct prossntp_time t;
    struct timespec last = {0, 0};
    while (!atomic_load(&s->stop)) {
        int destroying = atomic_load(&s->destroying), destroyed = atomic_load(&s->destroyed);
        int rc = get(s->c, &t);
        atomic_fetch_add(&s->calls, 1);
        if (rc == 0 && destroyed)
            atomic_fetch_add(&s->after_destroy_ok, 1);
        /* (A call that began before the destroy may end after it began.) */
        if (rc != 0 && !destroying && !atomic_load(&s->destroying)) {
            atomic_fetch_add(&s->failures_live, 1);
            atomic_store(&s->failure_rc, rc);
        }
        if (rc == 0 && t.synced) {
            if (later(t.time, last))
                atomic_fetch_add(&s->backwards, 1);
            last = t.time;
        }
    }
    return NULL;
}

static void threads(const struct h_addr *server)
{
    struct shared s;
    pthread_t th[THREADS];
    struct tSMEventId ev;
    int i, k;

    memset(&s, 0, sizeof s);
    CHECK_EQ(h_create(server->family, &s.c), 0, "threads: create");
    CHECK_EQ(h_config(s.c, server, 2000, 2000), 0, "threads: config");
    h_get_event(s.c, &ev);
    h_wait_sync(s.c, &ev, 1, 20000);
    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, reader, &s);
    for (k = 0; k < 20; k++) {
        h_sleep_ms(100);
        CHECK_EQ(h_config(s.c, server, 2000 + k, 2000 + k), 0, "threads: reconfigure (%d)", k);
    }
    h_sleep_ms(200);
    atomic_store(&s.destroying, 1);
    CHECK_EQ(sm_sntp_destroy(s.c), 0, "threads: destroy while %d threads call", THREADS);
    atomic_store(&s.destroyed, 1);
    h_sleep_ms(200);
    atomic_store(&s.stop, 1);
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    h_note("threads: %ld calls from %d threads", (long)atomic_load(&s.calls), THREADS);
    CHECK_EQ(atomic_load(&s.backwards), 0, "  no thread saw time go back");
    CHECK_EQ(atomic_load(&s.failures_live), 0, "  every call on the live client succeeded (last failure %d)",
             atomic_load(&s.failure_rc));
    CHECK_EQ(atomic_load(&s.after_destroy_ok), 0, "  every call after the destroy returned was refused");
}

int main(int argc, char **argv)
{
    struct h_addr server;
    struct tSMEventId ev;
    tSMSNTPId c;

    h_guard("own_clock", 1);
    if (argc != 2 || h_parse_addr(argv[1], &server) != 0) {
        fprintf(stderr, "usage: own_clock ADDR:PORT\n");
        return 2;
    }
    bad_input();
    CHECK_EQ(h_create(server.family, &c), 0, "create");
    before_sync(c);
    CHECK_EQ(h_config(c, &server, 2000, 2000), 0, "config");
    CHECK_EQ(h_get_event(c, &ev), 0, "get_event");
    CHECK(h_wait_sync(c, &ev, 1, 20000) >= 0, "sync");
    h_sleep_ms(3000); /* a second sample: the rate is known */
    after_sync(c);
    CHECK_EQ(sm_sntp_destroy(c), 0, "destroy");
    threads(&server);
    return h_exit_code("own_clock");
}
