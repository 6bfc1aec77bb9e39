/*
 * interval.c: prossntp_now, prossntp_surely_past/_future, prossntp_wait_bound
 * and prossntp_set_drift_floor against a test server of its own.
 *
 *   interval
 *
 * Bad input and the size protocol; before the first sample nothing is known;
 * waiting for a bound (reached, timed out, ended by a destroy); the truth (the
 * time the test server serves, asked for between two reads) inside
 * [earliest, latest] at every read; 8 threads reading at once; then holdover:
 * the server's time, 10 ppm fast, turns 30 ppm slow (a 40 ppm change) and the
 * server falls silent: the status turns to holdover and the truth stays
 * inside every 100 ms for 12 s; the server answers again: synchronised.
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

#define THREADS 8

static struct timespec ts_of(int64_t ns)
{
    struct timespec t;
    t.tv_sec = (time_t)(ns / 1000000000);
    t.tv_nsec = (long)(ns % 1000000000);
    return t;
}

static int64_t realtime_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return h_ns_of(t);
}

static void past(tSMSNTPId c, const struct h_addr *server, int64_t started)
{
    struct prossntp_interval iv;
    struct timespec t;
    int64_t h1, served, h2, worst = 0;
    int k, ok = 0;

    for (k = 0; k < 10; k++) {
        /* The server's time at a host time: its answer between two host reads. */
        h1 = realtime_ns();
        served = h_ts_time_ns(server);
        h2 = realtime_ns();
        h_sleep_ms(200);
        t = ts_of(h1 + (h2 - h1) / 2);
        memset(&iv, 0, sizeof iv);
        iv.size = sizeof iv;
        if (prossntp_past(c, &t, &iv) == 0 && served >= 0) {
            int64_t err = h_ns_of(iv.time) - served, allowed = (int64_t)(iv.error_bound * 1e9) + (h2 - h1) / 2;
            ok++;
            if (llabs(err) - allowed > worst)
                worst = llabs(err) - allowed;
        }
    }
    CHECK_EQ(ok, 10, "prossntp_past of host times 0.2 s back: bounded");
    CHECK(worst <= 0, "  the server's time then within the bound (worst excess %lld ns)", (long long)worst);
    CHECK(iv.status == PROSSNTP_TIME_SYNCHRONISED && iv.error_bound < 0.01, "  status %d, bound %.6f s", iv.status,
          iv.error_bound);
    t = ts_of(realtime_ns() + 1000000000);
    CHECK_EQ(prossntp_past(c, &t, &iv), ERR_SM_BAD_PARAMETER, "a host time a second ahead: refused");
    t = ts_of(started - 1000000000);
    CHECK_EQ(prossntp_past(c, &t, &iv), ERR_SM_NO_ACTION, "a host time before the client's first sample: not bounded");
    CHECK_EQ(prossntp_past(c, NULL, &iv), ERR_SM_BAD_PARAMETER, "NULL time");
    CHECK_EQ(prossntp_past(c, &t, NULL), ERR_SM_BAD_PARAMETER, "NULL interval");
}

static void bad_input(void)
{
    struct prossntp_interval iv;
    struct timespec t = {0, 0};
    tSMSNTPId gone;
    int answer = 7;

    CHECK_EQ(prossntp_now((tSMSNTPId)(uintptr_t)0x1234, &iv), ERR_SM_BAD_PARAMETER, "now: unknown handle");
    CHECK_EQ(prossntp_now(NULL, &iv), ERR_SM_BAD_PARAMETER, "now: NULL handle");
    CHECK_EQ(h_create(AF_INET, &gone), 0, "control: create a client to destroy");
    CHECK_EQ(prossntp_now(gone, NULL), ERR_SM_BAD_PARAMETER, "now: NULL struct");
    memset(&iv, 0x5a, sizeof iv);
    iv.size = PROSSNTP_INTERVAL_MIN_SIZE - 1;
    CHECK_EQ(prossntp_now(gone, &iv), ERR_SM_BAD_PARAMETER, "now: size MIN-1");
    CHECK(iv.status == 0x5a5a5a5a && iv.size == PROSSNTP_INTERVAL_MIN_SIZE - 1, "  nothing written");
    CHECK_EQ(prossntp_surely_past(gone, NULL, &answer), ERR_SM_BAD_PARAMETER, "surely_past: NULL time");
    CHECK_EQ(prossntp_surely_past(gone, &t, NULL), ERR_SM_BAD_PARAMETER, "surely_past: NULL answer");
    t.tv_nsec = 1000000000;
    CHECK_EQ(prossntp_surely_future(gone, &t, &answer), ERR_SM_BAD_PARAMETER, "surely_future: tv_nsec 1e9");
    t.tv_nsec = -1;
    CHECK_EQ(prossntp_surely_past(gone, &t, &answer), ERR_SM_BAD_PARAMETER, "surely_past: tv_nsec -1");
    CHECK(answer == 7, "  answer untouched");
    CHECK_EQ(prossntp_wait_bound(gone, 0.0, 0, NULL), ERR_SM_BAD_PARAMETER, "wait_bound: bound 0");
    CHECK_EQ(prossntp_wait_bound(gone, -1.0, 0, NULL), ERR_SM_BAD_PARAMETER, "wait_bound: bound -1");
    CHECK_EQ(prossntp_wait_bound(gone, NAN, 0, NULL), ERR_SM_BAD_PARAMETER, "wait_bound: bound NaN");
    iv.size = 8;
    CHECK_EQ(prossntp_wait_bound(gone, 1.0, 0, &iv), ERR_SM_BAD_PARAMETER, "wait_bound: size 8");
    CHECK_EQ(prossntp_set_drift_floor(gone, 10.0), ERR_SM_BAD_PARAMETER, "drift floor 10 ppm (below 50)");
    CHECK_EQ(prossntp_set_drift_floor(gone, 1001.0), ERR_SM_BAD_PARAMETER, "drift floor 1001 ppm");
    CHECK_EQ(prossntp_set_drift_floor(gone, NAN), ERR_SM_BAD_PARAMETER, "drift floor NaN");
    CHECK_EQ(prossntp_set_drift_floor(gone, 100.0), 0, "drift floor 100 ppm");
    CHECK_EQ(sm_sntp_destroy(gone), 0, "control: destroy it");
    CHECK_EQ(h_interval_now(gone, &iv), ERR_SM_BAD_PARAMETER, "now: a destroyed handle");
    CHECK_EQ(prossntp_wait_bound(gone, 1.0, 0, NULL), ERR_SM_BAD_PARAMETER, "wait_bound: a destroyed handle");
}

static void before_sync(tSMSNTPId c)
{
    struct prossntp_interval iv;
    unsigned char big[sizeof iv + 16];
    struct timespec t;
    int past = 7, future = 7;

    CHECK_EQ(h_interval_now(c, &iv), 0, "before any sample: OK");
    CHECK(iv.status == PROSSNTP_TIME_UNSYNCHRONISED && iv.size == sizeof iv, "  unsynchronised, size %zu", iv.size);
    CHECK(iv.earliest.tv_sec == 0 && iv.earliest.tv_nsec == 0, "  earliest: the epoch");
    CHECK(iv.latest.tv_sec > ((time_t)1 << 62) && iv.latest.tv_nsec == 999999999, "  latest: the end of time");
    CHECK(isinf(iv.error_bound) && isinf(iv.last_sample_age), "  bound and sample age infinite");
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec -= 3600;
    CHECK_EQ(prossntp_surely_past(c, &t, &past), 0, "surely_past an hour ago: OK");
    t.tv_sec += 7200;
    CHECK_EQ(prossntp_surely_future(c, &t, &future), 0, "surely_future in an hour: OK");
    CHECK(past == 0 && future == 0, "  neither is sure (nothing is known)");
    CHECK_EQ(prossntp_wait_bound(c, 1.0, 100, &iv), ERR_SM_PENDING, "wait_bound, 100 ms: timed out");
    CHECK(iv.status == PROSSNTP_TIME_UNSYNCHRONISED, "  still unsynchronised");
    memset(big, 0xa5, sizeof big);
    iv.size = sizeof big;
    memcpy(big, &iv.size, sizeof iv.size);
    CHECK_EQ(prossntp_now(c, (struct prossntp_interval *)(void *)big), 0, "a bigger (newer) struct");
    memcpy(&iv, big, sizeof iv);
    CHECK(iv.size == sizeof iv && big[sizeof iv] == 0xa5 && big[sizeof big - 1] == 0xa5,
          "  only this version's %zu bytes written", iv.size);
}

static void synced(tSMSNTPId c, const struct h_addr *server)
{
    struct prossntp_interval iv;
    struct timespec t;
    int64_t worst = 0, out;
    int yes = 7, k, bad_status = 0;

    memset(&iv, 0, sizeof iv);
    iv.size = sizeof iv;
    CHECK_EQ(prossntp_wait_bound(c, 0.05, 20000, &iv), 0, "wait_bound 50 ms: reached");
    CHECK(iv.status == PROSSNTP_TIME_SYNCHRONISED && iv.error_bound <= 0.05, "  synchronised, bound %.6f s",
          iv.error_bound);
    CHECK(h_ns_of(iv.latest) - h_ns_of(iv.earliest) >= (int64_t)(2e9 * iv.error_bound) - 2, "  width twice the bound");
    CHECK(h_ns_of(iv.earliest) <= h_ns_of(iv.time) && h_ns_of(iv.time) <= h_ns_of(iv.latest), "  time within");
    CHECK(iv.last_sample_age >= 0 && iv.last_sample_age < 5, "  last sample %.3f s ago", iv.last_sample_age);
    CHECK(fabs((double)(h_ns_of(iv.time) - h_ns_of(iv.last_sample)) * 1e-9 - iv.last_sample_age) < 0.001,
          "  the last sample's time is the server's, its age ago");
    CHECK(iv.tai_offset == 0 || (iv.tai_offset >= 37 && h_ns_of(iv.earliest_tai) - h_ns_of(iv.earliest) ==
                                                         (int64_t)iv.tai_offset * 1000000000),
          "  TAI offset %d (0: the leap-second list has expired or is missing)", iv.tai_offset);
    for (k = 0; k < 200; k++) {
        out = h_outside_ns(c, server, &iv);
        if (out > worst)
            worst = out;
        if (iv.status != PROSSNTP_TIME_SYNCHRONISED)
            bad_status++;
    }
    CHECK_EQ(worst, 0, "200 reads around the server's answer: the truth always inside");
    CHECK_EQ(bad_status, 0, "  synchronised at each");
    h_interval_now(c, &iv);
    t = iv.earliest;
    t.tv_nsec = t.tv_nsec >= 1000000 ? t.tv_nsec - 1000000 : t.tv_nsec; /* 1 ms before earliest (or at it) */
    if (t.tv_nsec == iv.earliest.tv_nsec)
        t.tv_sec--;
    CHECK(prossntp_surely_past(c, &t, &yes) == 0 && yes == 1, "before earliest: surely past");
    t = iv.latest;
    t.tv_sec += 1;
    CHECK(prossntp_surely_future(c, &t, &yes) == 0 && yes == 1, "a second after latest: surely future");
    clock_gettime(CLOCK_REALTIME, &t); /* the host's time, 0.25 s behind the server's */
    t.tv_nsec = (t.tv_nsec / 1000) * 1000;
    CHECK(prossntp_surely_future(c, &t, &yes) == 0 && yes == 0, "the host's time now: not in the future");
    t.tv_sec += 1;
    CHECK(prossntp_surely_past(c, &t, &yes) == 0 && yes == 0, "0.75 s after the server's time: not past");
}

struct shared {
    tSMSNTPId c;
    atomic_int stop;
    atomic_long calls, failures, inverted, not_synced;
};

static int ts_after(struct timespec a, struct timespec b) /* a > b */
{
    return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

static void *reader(void *arg)
{
    struct shared *s = arg;
    struct prossntp_interval iv;
    while (!atomic_load(&s->stop)) {
        if (h_interval_now(s->c, &iv) != 0)
            atomic_fetch_add(&s->failures, 1);
        else if (ts_after(iv.earliest, iv.latest))
            atomic_fetch_add(&s->inverted, 1);
        else if (iv.status != PROSSNTP_TIME_SYNCHRONISED)
            atomic_fetch_add(&s->not_synced, 1);
        atomic_fetch_add(&s->calls, 1);
    }
    return NULL;
}

static void threads(tSMSNTPId c)
{
    struct shared s = {.c = c};
    pthread_t th[THREADS];
    int i;
    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, reader, &s);
    h_sleep_ms(1000);
    atomic_store(&s.stop, 1);
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    h_note("%ld reads from %d threads in 1 s", (long)atomic_load(&s.calls), THREADS);
    CHECK_EQ(atomic_load(&s.failures), 0, "  every read succeeded");
    CHECK_EQ(atomic_load(&s.inverted), 0, "  earliest never after latest");
    CHECK_EQ(atomic_load(&s.not_synced), 0, "  synchronised at each (no suspend seen in a preempted read)");
}

static void holdover(tSMSNTPId c, const struct h_addr *server)
{
    struct prossntp_interval iv;
    int64_t worst = 0, out;
    double start, first_holdover = -1;
    int reads = 0;

    /* Some samples at +10 ppm: the rate the client learns. */
    h_sleep_ms(10000);
    CHECK_EQ(h_ts_set(server, "rate=-30 mode=silent"), 0, "the server turns 40 ppm slower and falls silent");
    start = h_now();
    while (h_now() - start < 12.0) {
        out = h_outside_ns(c, server, &iv);
        if (out > worst)
            worst = out;
        if (iv.status == PROSSNTP_TIME_HOLDOVER && first_holdover < 0)
            first_holdover = h_now() - start;
        reads++;
        h_sleep_ms(100);
    }
    CHECK_EQ(worst, 0, "%d reads over 12 s of silence: the truth always inside (bound at the end %.6f s)", reads,
             iv.error_bound);
    CHECK(iv.status == PROSSNTP_TIME_HOLDOVER, "  holdover at the end (status %d)", iv.status);
    CHECK(first_holdover >= 2.0 && first_holdover < 8.0, "  holdover from %.1f s (2 polls of 2 s and 1 s after the last sample)",
          first_holdover);
    CHECK_EQ(h_ts_set(server, "mode=normal"), 0, "the server answers again");
    CHECK_EQ(prossntp_wait_bound(c, 0.05, 20000, &iv), 0, "wait_bound 50 ms: reached again");
    CHECK(iv.status == PROSSNTP_TIME_SYNCHRONISED, "  synchronised");
    CHECK_EQ(h_outside_ns(c, server, &iv), 0, "  the truth inside");
}

struct waiter {
    tSMSNTPId c;
    int rc;
};

static void *wait_forever(void *arg)
{
    struct waiter *w = arg;
    w->rc = prossntp_wait_bound(w->c, 1e-12, -1, NULL);
    return NULL;
}

static void destroy_while_waiting(tSMSNTPId c)
{
    struct waiter w = {c, 1};
    pthread_t th;
    double t0;
    pthread_create(&th, NULL, wait_forever, &w);
    h_sleep_ms(300);
    t0 = h_now();
    CHECK_EQ(sm_sntp_destroy(c), 0, "destroy while a thread waits for a bound it never gets");
    pthread_join(th, NULL);
    CHECK_EQ(w.rc, ERR_SM_WRONG_MODULE_STATE, "  the wait ends: the client is gone");
    CHECK(h_now() - t0 < 2.0, "  at once (%.3f s)", h_now() - t0);
}

int main(void)
{
    char v4[64], v6[64];
    struct h_addr server;
    pid_t pid = -1;
    int64_t started;
    tSMSNTPId c;

    h_guard("interval", 1);
    bad_input();
    if (h_start_server(v4, v6, sizeof v4, &pid) != 0 || h_parse_addr(v4, &server) != 0) {
        CHECK(0, "start a test server");
        h_stop_server(&pid);
        return h_exit_code("interval");
    }
    CHECK_EQ(h_ts_set(&server, "rate=10"), 0, "the server's time runs 10 ppm fast");
    CHECK_EQ(h_create(server.family, &c), 0, "create");
    before_sync(c);
    started = realtime_ns();
    CHECK_EQ(h_config(c, &server, 2000, 2000), 0, "config");
    synced(c, &server);
    past(c, &server, started);
    threads(c);
    holdover(c, &server);
    destroy_while_waiting(c);
    h_stop_server(&pid);
    return h_exit_code("interval");
}
