/*
 * nospin.c: no spin on the raw clock. Under ctests/frozen_raw_preload.c the
 * raw clock (CLOCK_MONOTONIC_RAW) stands still unless one of the library's
 * threads sleeps or polls. Publishing the client's own clock waits for the
 * raw clock to pass a mark; a worker that waited without sleeping would
 * wait for ever (the shim aborts it after a million reads). So: the client
 * synchronises, publishes its own clock (prossntp_gettime synced), keeps
 * taking replies, and is destroyed promptly.
 *
 *   nospin SHIM.so ADDR:PORT    a test server; the program re-runs itself
 *                               with LD_PRELOAD=SHIM.so
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prossntp.h"
#include "prossntp_ext.h"
#include "harness.h"

/* The whole run, spin or not, ends within this (run.sh allows 120 s). */
#define LIMIT_S 20
#define REPLIES 5

typedef void (*stats_fn)(int64_t out[5]);

static void on_alarm(int sig)
{
    static const char msg[] = "nospin: not done within 20 s: the worker spins or hangs\n";
    ssize_t n = write(1, msg, sizeof msg - 1);
    (void)sig;
    (void)n;
    _exit(1);
}

static stats_fn shim(void)
{
    stats_fn f = NULL;
    void *p = dlsym(RTLD_DEFAULT, "frozen_raw_stats");
    memcpy(&f, &p, sizeof f);
    return f;
}

static int64_t raw_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int stats(tSMSNTPId c, struct prossntp_stats *s)
{
    memset(s, 0, sizeof *s);
    s->size = sizeof *s;
    return prossntp_get_stats(c, s);
}

/* Waits (the main thread's sleeps do not move the raw clock) until the
 * client has used `want` replies; returns its count then, or at the deadline. */
static uint64_t wait_replies(tSMSNTPId c, uint64_t want, double seconds)
{
    struct prossntp_stats s;
    double deadline = h_now() + seconds;
    for (;;) {
        if (stats(c, &s) != 0)
            return 0;
        if (s.replies >= want || h_now() >= deadline)
            return s.replies;
        h_sleep_ms(10);
    }
}

int main(int argc, char **argv)
{
    struct h_addr server;
    struct tSMEventId ev;
    struct prossntp_stats s;
    struct prossntp_time t;
    tSMSNTPId c;
    stats_fn counts;
    int64_t raw0, raw1, before[5], after[5];
    uint64_t replies, more;
    double t0, spent;
    char shim_path[PATH_MAX];

    if (argc != 3 || h_parse_addr(argv[2], &server) != 0) {
        fprintf(stderr, "usage: nospin SHIM.so ADDR:PORT\n");
        return 2;
    }
    h_guard("nospin", 1);
    counts = shim();
    if (counts == NULL) {
        if (getenv("NOSPIN_REEXEC") != NULL) {
            fprintf(stderr, "nospin: %s is preloaded but frozen_raw_stats is not found\n", argv[1]);
            return 1;
        }
        if (realpath(argv[1], shim_path) == NULL) {
            fprintf(stderr, "nospin: %s: %s\n", argv[1], strerror(errno));
            return 1;
        }
        setenv("LD_PRELOAD", shim_path, 1);
        setenv("NOSPIN_REEXEC", "1", 1);
        fflush(NULL);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "nospin: cannot re-run itself: %s\n", strerror(errno));
        return 1;
    }
    unsetenv("LD_PRELOAD");
    signal(SIGALRM, on_alarm);
    alarm(LIMIT_S);

    /* The shim is in place: the raw clock stands still while CLOCK_MONOTONIC runs. */
    raw0 = raw_ns();
    t0 = h_now();
    while (h_now() - t0 < 0.02)
        ;
    raw1 = raw_ns();
    CHECK(raw1 == raw0, "the raw clock stands still on the main thread (20 ms of CLOCK_MONOTONIC)");
    counts(before);

    CHECK_EQ(h_create(server.family, &c), 0, "create");
    CHECK_EQ(h_get_event(c, &ev), 0, "get_event");
    CHECK_EQ(h_config(c, &server, 100, 100), 0, "config %s, no_reply 100, had_reply 100", argv[2]);
    CHECK(h_wait_sync(c, &ev, 1, 5000) >= 0, "Sync has_sync=1: the worker published its own clock");

    replies = wait_replies(c, REPLIES, 5.0);
    CHECK(replies >= REPLIES, "%d valid replies, each published (%llu)", REPLIES, (unsigned long long)replies);
    memset(&t, 0, sizeof t);
    t.size = sizeof t;
    CHECK_EQ(prossntp_gettime(c, &t), 0, "prossntp_gettime returns");
    CHECK(t.synced == 1, "  synced (a publish completed; error bound %.6f s)", t.error_bound);

    /* The worker goes on serving after those publishes. */
    more = wait_replies(c, replies + 3, 5.0);
    CHECK(more >= replies + 3, "3 more replies after that (%llu)", (unsigned long long)more);
    CHECK(stats(c, &s) == 0 && s.has_sync == 1 && s.state == PROSSNTP_STATE_RUNNING, "stats: has_sync 1, running");
    CHECK_EQ(prossntp_gettime(c, &t), 0, "prossntp_gettime returns again");

    counts(after);
    printf("nospin: %llu replies; the raw clock moved %lld times (%lld in sleeps) by %.3f s in all; %lld reads, "
           "at most %lld in a row while it stood\n",
           (unsigned long long)more, (long long)(after[1] - before[1]), (long long)(after[4] - before[4]),
           (double)(after[2] - before[2]) / 1e9, (long long)(after[0] - before[0]), (long long)after[3]);
    CHECK(after[1] > before[1] && after[2] > before[2], "the raw clock moved, in the library's sleeps and polls");
    CHECK(after[4] > before[4] && after[4] - before[4] >= (int64_t)replies,
          "  the worker slept (%lld times) for its publishes", (long long)(after[4] - before[4]));

    t0 = h_now();
    CHECK_EQ(sm_sntp_destroy(c), 0, "destroy");
    spent = h_now() - t0;
    printf("nospin: destroy took %.3f s\n", spent);
    CHECK(spent < 2.0, "  promptly");
    return h_exit_code("nospin");
}
