/*
 * leakcycle.c: many create/config/destroy cycles must leave nothing behind:
 * open descriptors (/proc/self/fd), threads (/proc/self/task) and heap in use
 * are back where they started.
 *
 *   leakcycle [CYCLES [SERVER4 [SERVER6]]]
 *
 * CYCLES defaults to 10000 (or $PROSSNTP_LEAKCYCLE_CYCLES). Cycles alternate
 * IPv4 and IPv6 clients, each configured against the test server; every
 * SYNC_EVERY-th cycle also waits (poll on the event, then status) for the
 * first Sync has_sync=1 before destroying. Without servers it starts the
 * project's test server ($PROSSNTP_TESTSERVER, default
 * target/debug/prossntp-testserver) as ctests/run.sh does.
 *
 * Heap in use is mallinfo2().uordblks, or under a sanitizer (whose allocator
 * replaces malloc's) __sanitizer_get_current_allocated_bytes(). Lazily
 * initialised state (the registry, the trace switch, stdio buffers) is
 * allocated by the first calls, so the heap baseline is taken after
 * WARMUP cycles; the descriptor and thread baselines are taken before any
 * call. The heap may end up to HEAP_SLACK bytes above its baseline
 * (allocator caches, the registry's hash table capacity); a leak of even a
 * few bytes per cycle over 10,000 cycles is well beyond that.
 */
#include "prossntp.h"

#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include "harness.h"

#define WARMUP 20
#define SYNC_EVERY 50
#define HEAP_SLACK (64L * 1024)



static const char *heap_source(void)
{
    return __sanitizer_get_current_allocated_bytes ? "__sanitizer_get_current_allocated_bytes()"
                                                   : "mallinfo2().uordblks";
}

static long heap_in_use(void)
{
    if (__sanitizer_get_current_allocated_bytes)
        return (long)__sanitizer_get_current_allocated_bytes();
    return (long)mallinfo2().uordblks;
}


static void *nothing(void *arg)
{
    return arg;
}

/* ------------------------------------------------------------------ test server */

static pid_t server_pid = -1;



/* ------------------------------------------------------------------ cycles */

static struct h_addr server4, server6;
static long failed_calls, synced, sync_waits;

/* One cycle; returns 0 when every call succeeded. */
static int cycle(long i)
{
    const struct h_addr *server = i % 2 ? &server6 : &server4;
    tSMSNTPId sntp;
    struct tSMEventId ev;
    SM_SNTP_STATUS_PARMS st;
    int rc, bad = 0;

    rc = h_create(server->family, &sntp);
    if (rc != 0) {
        if (failed_calls++ < 5)
            printf("  cycle %ld: create returned %d\n", i, rc);
        return -1;
    }
    if ((rc = h_get_event(sntp, &ev)) != 0 && failed_calls++ < 5)
        printf("  cycle %ld: get_event returned %d\n", i, rc);
    bad |= rc != 0;
    /* Delays vary; every fifth cycle configures twice (a re-config). */
    if ((rc = h_config(sntp, server, 100 + (unsigned long)(i % 900), 64000)) != 0 && failed_calls++ < 5)
        printf("  cycle %ld: config returned %d\n", i, rc);
    bad |= rc != 0;
    if (i % 5 == 0 && (rc = h_config(sntp, server, 500, 2000)) != 0 && failed_calls++ < 5)
        printf("  cycle %ld: second config returned %d\n", i, rc);
    bad |= rc != 0;
    if (i % SYNC_EVERY == 0 && !bad) {
        sync_waits++;
        if (h_wait_sync(sntp, &ev, 1, 10000) >= 0)
            synced++;
        h_drain(sntp);
    } else if (i % 3 == 0) {
        if ((rc = h_status(sntp, &st)) != 0 && failed_calls++ < 5)
            printf("  cycle %ld: status returned %d\n", i, rc);
        bad |= rc != 0;
    }
    if ((rc = sm_sntp_destroy(sntp)) != 0 && failed_calls++ < 5)
        printf("  cycle %ld: destroy returned %d\n", i, rc);
    bad |= rc != 0;
    return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
    long cycles = 10000, i, bad_cycles = 0;
    long heap_start, heap_warm, heap_end;
    int fds_start, threads_start, fds_warm, threads_warm, fds_end, threads_end;
    char v4[256], v6[256];
    const char *env;
    double t0, took;

    h_guard("leakcycle", 1);
    setvbuf(stdout, NULL, _IOLBF, 0);
    env = getenv("PROSSNTP_LEAKCYCLE_CYCLES");
    if (argc > 1)
        cycles = atol(argv[1]);
    else if (env != NULL)
        cycles = atol(env);
    if (cycles < 1) {
        fprintf(stderr, "usage: leakcycle [CYCLES [SERVER4 [SERVER6]]]\n");
        return 2;
    }
    if (argc > 2) {
        if (h_parse_addr(argv[2], &server4) != 0 || server4.family != AF_INET ||
            (argc > 3 && (h_parse_addr(argv[3], &server6) != 0 || server6.family != AF_INET6))) {
            fprintf(stderr, "leakcycle: servers must be A.B.C.D:PORT and [V6]:PORT\n");
            return 2;
        }
        if (argc <= 3)
            h_loopback(AF_INET6, ntohs(server4.u.in4.sin_port), &server6);
    } else {
        if (h_start_server(v4, v6, sizeof v4, &server_pid) != 0 || h_parse_addr(v4, &server4) != 0 ||
            h_parse_addr(v6, &server6) != 0) {
            fprintf(stderr, "leakcycle: the test server did not start\n");
            h_stop_server(&server_pid);
            return 2;
        }
    }
    printf("leakcycle: %ld cycles (IPv4 and IPv6 alternately; every %dth waits for Sync), heap from %s\n", cycles,
           SYNC_EVERY, heap_source());

    /* A sanitizer runtime starts a helper thread with the first
     * pthread_create: have that happen before the baselines. */
    {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) == 0)
            pthread_join(t, NULL);
        h_sleep_ms(100);
    }
    /* Baselines before the first library call. */
    fds_start = h_count_fds();
    threads_start = h_count_entries("/proc/self/task");
    heap_start = heap_in_use();

    for (i = 0; i < WARMUP; i++)
        if (cycle(i) != 0)
            bad_cycles++;
    fds_warm = h_count_fds();
    threads_warm = h_count_entries("/proc/self/task");
    heap_warm = heap_in_use();

    t0 = h_now();
    for (i = 0; i < cycles; i++) {
        if (cycle(WARMUP + i) != 0)
            bad_cycles++;
        if (cycles >= 10 && (i + 1) % (cycles / 10) == 0)
            printf("  %ld cycles, %.1f s, heap %ld, fds %d, threads %d\n", i + 1, h_now() - t0, heap_in_use(),
                   h_count_fds(), h_count_entries("/proc/self/task"));
    }
    took = h_now() - t0;
    fds_end = h_count_fds();
    threads_end = h_threads_settle(threads_start);
    heap_end = heap_in_use();

    printf("leakcycle: %ld cycles in %.2f s (%.3f ms each); %ld of %ld waits reached Sync\n", cycles, took,
           took * 1000.0 / (double)cycles, synced, sync_waits);
    printf("leakcycle: fds (%s) start %d, after warm-up %d, end %d\n", h_fds_counted(), fds_start, fds_warm,
           fds_end);
    printf("leakcycle: threads start %d, after warm-up %d, end %d\n", threads_start, threads_warm, threads_end);
    printf("leakcycle: heap in use start %ld, after %d warm-up cycles %ld, end %ld bytes "
           "(end - warm-up %+ld, end - start %+ld; slack %ld)\n",
           heap_start, WARMUP, heap_warm, heap_end, heap_end - heap_warm, heap_end - heap_start, HEAP_SLACK);

    if (!h_sanitized() && heap_start == 0 && heap_warm == 0 && heap_end == 0)
        h_note("mallinfo2() reports nothing in use: malloc is replaced (valgrind?); no heap figure here, "
               "the tool's own leak check covers it");
    CHECK_EQ(bad_cycles, 0, "every call of every cycle succeeded (%ld cycles)", cycles + WARMUP);
    CHECK_EQ(synced, sync_waits, "every cycle that waited reached Sync has_sync=1 (%ld)", sync_waits);
    CHECK_EQ(fds_end, fds_start, "open descriptors back to %d (%s)", fds_start, h_fds_counted());
    CHECK_EQ(threads_end, threads_start, "threads back to %d", threads_start);
    CHECK(heap_end - heap_warm <= HEAP_SLACK, "heap in use back to its baseline within %ld bytes (%+ld)", HEAP_SLACK,
          heap_end - heap_warm);
    CHECK(heap_end - heap_start <= HEAP_SLACK + 64L * 1024,
          "heap in use within %ld bytes of the very start, lazy statics included (%+ld)", HEAP_SLACK + 64L * 1024,
          heap_end - heap_start);
    h_stop_server(&server_pid);
    return h_exit_code("leakcycle");
}
