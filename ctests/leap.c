/*
 * leap.c: a leap second the server announces, read through prossntp_now.
 *
 *   leap
 *
 * A test server of its own serves 2026-12-31 23:59:48 UTC onwards (its
 * offset moves only what it serves; no clock is touched) and announces a
 * second inserted at midnight, which it makes: its time repeats 23:59:59. A
 * leap-second list written for the test (PROSSNTP_LEAP_SECONDS_LIST) gives
 * TAI - UTC 37 s before and 38 s after. Every 50 ms for 25 s: the truth (the
 * server's answer between two reads) inside [earliest, latest]; TAI never
 * back; the announcement seen before midnight, the second applied once
 * (UTC back a second), TAI - UTC 38 after, no step nor disruption counted.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "prossntp.h"
#include "prossntp_ext.h"
#include "harness.h"

/* 2027-01-01 00:00:00 UTC, Unix and NTP seconds. */
#define NEW_YEAR 1798761600LL
#define NEW_YEAR_NTP 4007750400LL

static double realtime(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void)
{
    char v4[64], v6[64], list[] = "/tmp/prossntp-leap-XXXXXX", cmd[128];
    struct h_addr server;
    struct prossntp_interval after;
    struct prossntp_stats st;
    pid_t pid = -1;
    tSMSNTPId c;
    int fd, reads = 0, announced = 0, applied = 0, tai_back = 0, outside = 0;
    int64_t last_tai = INT64_MIN, worst = 0;
    double start;
    FILE *f;

    h_guard("leap", 1);
    fd = mkstemp(list);
    f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!CHECK(f != NULL, "write a leap-second list"))
        return h_exit_code("leap");
    fprintf(f, "#@\t%lld\n3692217600\t37\t# 1 Jan 2017\n%lld\t38\t# 1 Jan 2027 (the test's)\n",
            NEW_YEAR_NTP + 86400LL * 365, NEW_YEAR_NTP);
    fclose(f);
    setenv("PROSSNTP_LEAP_SECONDS_LIST", list, 1);
    if (h_start_server(v4, v6, sizeof v4, &pid) != 0 || h_parse_addr(v4, &server) != 0) {
        CHECK(0, "start a test server");
        h_stop_server(&pid);
        unlink(list);
        return h_exit_code("leap");
    }
    snprintf(cmd, sizeof cmd, "offset=%.6f leap=1", (double)(NEW_YEAR - 12) - realtime());
    CHECK_EQ(h_ts_set(&server, cmd), 0, "the server serves 2026-12-31 23:59:48 and announces a second inserted");
    CHECK_EQ(h_create(server.family, &c), 0, "create");
    CHECK_EQ(h_config(c, &server, 2000, 2000), 0, "config");
    memset(&after, 0, sizeof after);
    after.size = sizeof after;
    CHECK_EQ(prossntp_wait_bound(c, 0.05, 10000, &after), 0, "synchronised");
    CHECK(after.leap == 1 && after.tai_offset == 37, "  leap 1, TAI - UTC 37 (got %d, %d)", after.leap, after.tai_offset);
    start = h_now();
    while (h_now() - start < 25.0) {
        {
            int64_t out = h_outside_ns(c, &server, &after);
            if (out > 0)
                outside++;
            if (out > worst)
                worst = out;
        }
        if (after.leap == 1 && after.time.tv_sec < NEW_YEAR)
            announced++;
        if (h_ns_of(after.time) + (int64_t)after.tai_offset * 1000000000 < last_tai) {
            tai_back++;
            h_note("TAI back %.9f s at UTC %lld.%09ld (TAI - UTC %d, leap %d, status %d)",
                   (double)(last_tai - h_ns_of(after.time) - (int64_t)after.tai_offset * 1000000000) * 1e-9,
                   (long long)after.time.tv_sec, (long)after.time.tv_nsec, after.tai_offset, after.leap, after.status);
        }
        last_tai = h_ns_of(after.time) + (int64_t)after.tai_offset * 1000000000;
        if (after.time.tv_sec >= NEW_YEAR + 2 && after.tai_offset == 38)
            applied++;
        reads++;
        h_sleep_ms(50);
    }
    CHECK_EQ(outside, 0, "%d reads over midnight: the truth always inside (worst %lld ns out)", reads, (long long)worst);
    CHECK(announced > 0, "  the announcement seen before midnight (%d reads)", announced);
    CHECK(applied > 0, "  after it: 2027, TAI - UTC 38 (%d reads)", applied);
    CHECK_EQ(tai_back, 0, "  TAI never back");
    CHECK(after.status == PROSSNTP_TIME_SYNCHRONISED && after.leap == 0, "  synchronised, no leap announced (%d, %d)",
          after.status, after.leap);
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    CHECK_EQ(prossntp_get_stats(c, &st), 0, "stats");
    CHECK_EQ((long)st.own_clock_steps, 0, "  the own clock was not stepped (the second was applied at midnight)");
    CHECK_EQ(sm_sntp_destroy(c), 0, "destroy");
    h_stop_server(&pid);
    unlink(list);
    return h_exit_code("leap");
}
