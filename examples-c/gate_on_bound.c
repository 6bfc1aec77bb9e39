/*
 * gate_on_bound: gate a service on the error bound of the server's time,
 * not on its offset, then stamp events with intervals and commit-wait.
 *
 *   gate_on_bound [-6] [-b MILLISECONDS] [-w SECONDS] SERVER PORT
 *
 * A service that orders events across hosts (a database's commits, a
 * telephony platform's call records) must not start while its time may be
 * far off: a small offset measured once says little, a bound says how far
 * off the time can be. This program
 *
 *   1. creates a client of SERVER:PORT and blocks in prossntp_wait_bound()
 *      until the client is synchronised with an error bound of at most
 *      -b milliseconds (default 10), for -w seconds at most (default 60):
 *      exit status 1 if the bound is not reached in time;
 *   2. "starts the service": prints the interval [earliest, latest] it
 *      would stamp an event with (prossntp_now), and its status;
 *   3. commit-waits as Spanner does: takes t = latest now, then waits until
 *      t has surely passed on the server (prossntp_surely_past), so that
 *      any host reading the server's time afterwards reads a later time,
 *      and prints how long that took (about twice the bound).
 *
 * In an event loop, do not block: call prossntp_now() when the client's
 * event (sm_sntp_get_event) fires and on a timer, and start once the status
 * is PROSSNTP_TIME_SYNCHRONISED and error_bound small enough.
 * The clock backend follows PROSSNTP_CLOCK (none = measure only).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "prossntp.h"
#include "prossntp_ext.h"

static const char *status_name(int status)
{
    switch (status) {
    case PROSSNTP_TIME_UNSYNCHRONISED: return "unsynchronised";
    case PROSSNTP_TIME_SYNCHRONISED: return "synchronised";
    case PROSSNTP_TIME_HOLDOVER: return "holdover";
    case PROSSNTP_TIME_DISRUPTED: return "disrupted";
    default: return "?";
    }
}

static double seconds(struct timespec t)
{
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int configure(tSMSNTPId sntp, int ipv6, const char *server, int port)
{
    if (ipv6) {
        SM_SNTP_CONFIG_IPV6_PARMS cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.sntp = sntp;
        cfg.server.sin6_family = AF_INET6;
        cfg.server.sin6_port = htons((unsigned short)port);
        if (inet_pton(AF_INET6, server, &cfg.server.sin6_addr) != 1)
            return ERR_SM_BAD_PARAMETER;
        cfg.no_reply_delay = 1000;
        cfg.had_reply_delay = 16000;
        return sm_sntp_config_ipv6(&cfg);
    } else {
        SM_SNTP_CONFIG_PARMS cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.sntp = sntp;
        cfg.server.sin_family = AF_INET;
        cfg.server.sin_port = htons((unsigned short)port);
        if (inet_pton(AF_INET, server, &cfg.server.sin_addr) != 1)
            return ERR_SM_BAD_PARAMETER;
        cfg.no_reply_delay = 1000;
        cfg.had_reply_delay = 16000;
        return sm_sntp_config(&cfg);
    }
}

int main(int argc, char **argv)
{
    int ipv6 = 0, opt, rc, passed = 0, checks = 0;
    double max_bound = 0.010, wait_s = 60, waited;
    struct timespec t0, t1, commit;
    struct prossntp_interval iv;
    SM_SNTP_CREATE_PARMS create;

    while ((opt = getopt(argc, argv, "6b:w:")) != -1) {
        switch (opt) {
        case '6': ipv6 = 1; break;
        case 'b': max_bound = atof(optarg) / 1000.0; break;
        case 'w': wait_s = atof(optarg); break;
        default: goto usage;
        }
    }
    if (argc - optind != 2 || !(max_bound > 0) || !(wait_s >= 0))
        goto usage;
    setvbuf(stdout, NULL, _IOLBF, 0);

    memset(&create, 0, sizeof create);
    create.module = kSMNullModuleId;
    create.type = ipv6 ? kSMSNTPTypeIPv6 : kSMSNTPTypeIPv4;
    create.address.s_addr = htonl(INADDR_ANY);
    create.ipv6_address = in6addr_any;
    if ((rc = sm_sntp_create(&create)) != 0) {
        fprintf(stderr, "sm_sntp_create failed: %s (%d)\n", prossntp_strerror(rc), rc);
        return 1;
    }
    if ((rc = configure(create.sntp, ipv6, argv[optind], atoi(argv[optind + 1]))) != 0) {
        fprintf(stderr, "config failed: %s (%d)\n", prossntp_strerror(rc), rc);
        sm_sntp_destroy(create.sntp);
        return 1;
    }

    /* 1. The gate: synchronised, with the bound at most max_bound. */
    printf("waiting for the server's time within %.3f ms (at most %.0f s)\n", max_bound * 1e3, wait_s);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(&iv, 0, sizeof iv);
    iv.size = sizeof iv;
    rc = prossntp_wait_bound(create.sntp, max_bound, (int)(wait_s * 1000), &iv);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    waited = seconds(t1) - seconds(t0);
    if (rc != ERR_SM_OK) {
        printf("not ready after %.3f s: %s, bound %.6f s (%s)\n", waited, status_name(iv.status), iv.error_bound,
               prossntp_strerror(rc));
        sm_sntp_destroy(create.sntp);
        return 1;
    }
    printf("ready after %.3f s: %s, bound %.6f s\n", waited, status_name(iv.status), iv.error_bound);

    /* 2. An event stamped with an interval, not a point. */
    memset(&iv, 0, sizeof iv);
    iv.size = sizeof iv;
    if ((rc = prossntp_now(create.sntp, &iv)) != ERR_SM_OK) {
        fprintf(stderr, "prossntp_now failed: %s (%d)\n", prossntp_strerror(rc), rc);
        sm_sntp_destroy(create.sntp);
        return 1;
    }
    printf("event stamped [%lld.%09ld, %lld.%09ld] UTC (%s, last sample %.3f s ago, TAI - UTC %d s%s)\n",
           (long long)iv.earliest.tv_sec, (long)iv.earliest.tv_nsec, (long long)iv.latest.tv_sec,
           (long)iv.latest.tv_nsec, status_name(iv.status), iv.last_sample_age, iv.tai_offset,
           iv.tai_offset ? "" : ": not known");

    /* 3. Commit-wait: until the latest possible time of the event has surely passed. */
    commit = iv.latest;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int past = 0;
        checks++;
        if ((rc = prossntp_surely_past(create.sntp, &commit, &past)) != ERR_SM_OK) {
            fprintf(stderr, "prossntp_surely_past failed: %s (%d)\n", prossntp_strerror(rc), rc);
            sm_sntp_destroy(create.sntp);
            return 1;
        }
        if (past) {
            passed = 1;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (seconds(t1) - seconds(t0) > 10.0)
            break;
        {
            struct timespec pause = {0, 200000}; /* 0.2 ms */
            nanosleep(&pause, NULL);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!passed) {
        printf("commit-wait did not end within 10 s\n");
        sm_sntp_destroy(create.sntp);
        return 1;
    }
    printf("commit-wait %.3f ms (%d checks): the event's latest time has surely passed\n",
           (seconds(t1) - seconds(t0)) * 1e3, checks);
    sm_sntp_destroy(create.sntp);
    return 0;

usage:
    fprintf(stderr, "usage: %s [-6] [-b MILLISECONDS] [-w SECONDS] SERVER PORT\n", argv[0]);
    return 2;
}
