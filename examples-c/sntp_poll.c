/*
 * sntp_poll: a complete Prosody SNTP client in a poll() loop.
 *
 *   sntp_poll [-6] [-v] [-t SECONDS] SERVER PORT
 *
 * Creates a client, points it at SERVER:PORT (no_reply 1 s, had_reply 8 s),
 * waits on its event with poll() and prints every status change, followed by
 * what the client measures (prossntp_get_stats: offset, delay, jitter,
 * stratum). -v turns on the library trace (one line per call and per sample,
 * with the measured offset). -t stops after SECONDS (default: run until
 * interrupted).
 * The clock backend follows PROSSNTP_CLOCK (none = measure only).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "prossntp.h"
#include "prossntp_ext.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int show_trace(const char *fmt, va_list ap)
{
    fputs("  trace: ", stdout);
    return vprintf(fmt, ap);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prints what the client measures; returns its result code. */
static int show_stats(tSMSNTPId sntp)
{
    struct prossntp_stats st;
    int rc;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    if ((rc = prossntp_get_stats(sntp, &st)) != 0) {
        fprintf(stderr, "prossntp_get_stats failed: %s (%d)\n", prossntp_strerror(rc), rc);
        return rc;
    }
    if (st.replies == 0) {
        printf("    measured: no valid reply yet (%llu requests sent)\n", (unsigned long long)st.requests);
        return 0;
    }
    printf("    measured: offset %+.9f s, delay %.9f s, jitter %.9f s, stratum %d (%llu replies to %llu requests)\n",
           st.offset, st.delay, st.jitter, (int)st.stratum, (unsigned long long)st.replies,
           (unsigned long long)st.requests);
    return 0;
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
        cfg.had_reply_delay = 8000;
        return sm_sntp_config_ipv6(&cfg);
    } else {
        SM_SNTP_CONFIG_PARMS cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.sntp = sntp;
        cfg.server.sin_family = AF_INET;
        cfg.server.sin_port = htons((unsigned short)port);
        if (inet_pton(AF_INET, server, &cfg.server.sin_addr) != 1)
            return ERR_SM_BAD_PARAMETER;
        cfg.TOS = 0;
        cfg.no_reply_delay = 1000;
        cfg.had_reply_delay = 8000;
        return sm_sntp_config(&cfg);
    }
}

int main(int argc, char **argv)
{
    int ipv6 = 0, opt, rc;
    double limit = 0, start;
    SM_SNTP_CREATE_PARMS create;
    SM_SNTP_EVENT_PARMS event;

    while ((opt = getopt(argc, argv, "6vt:")) != -1) {
        switch (opt) {
        case '6': ipv6 = 1; break;
        case 'v': TiNG_showtrace = show_trace; TiNGtrace = 1; break;
        case 't': limit = atof(optarg); break;
        default: goto usage;
        }
    }
    if (argc - optind != 2)
        goto usage;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (signal(SIGINT, on_signal) == SIG_ERR || signal(SIGTERM, on_signal) == SIG_ERR) {
        perror("signal");
        return 1;
    }

    memset(&create, 0, sizeof create);
    create.module = kSMNullModuleId;
    create.type = ipv6 ? kSMSNTPTypeIPv6 : kSMSNTPTypeIPv4;
    create.address.s_addr = htonl(INADDR_ANY);
    create.ipv6_address = in6addr_any;
    if ((rc = sm_sntp_create(&create)) != 0) {
        fprintf(stderr, "sm_sntp_create failed: %s (%d)\n", prossntp_strerror(rc), rc);
        return 1;
    }
    memset(&event, 0, sizeof event);
    event.sntp = create.sntp;
    if ((rc = sm_sntp_get_event(&event)) != 0 ||
        (rc = configure(create.sntp, ipv6, argv[optind], atoi(argv[optind + 1]))) != 0) {
        fprintf(stderr, "set-up failed: %s (%d)\n", prossntp_strerror(rc), rc);
        sm_sntp_destroy(create.sntp);
        return 1;
    }
    printf("querying %s port %s\n", argv[optind], argv[optind + 1]);

    start = now_seconds();
    while (!stop_requested && (limit <= 0 || now_seconds() - start < limit)) {
        struct pollfd pfd;
        SM_SNTP_STATUS_PARMS status;
        pfd.fd = event.event.fd;
        pfd.events = (short)event.event.mode;
        if (poll(&pfd, 1, 250) <= 0)
            continue;
        /* Level-triggered: read until nothing new (Running). */
        for (;;) {
            memset(&status, 0, sizeof status);
            status.sntp = create.sntp;
            if ((rc = sm_sntp_status(&status)) != 0) {
                fprintf(stderr, "sm_sntp_status failed: %s (%d)\n", prossntp_strerror(rc), rc);
                stop_requested = 1;
                break;
            }
            if (status.status == kSMSNTPStatusRunning)
                break;
            if (status.status == kSMSNTPStatusSync) {
                printf("%.3f s: sync, has_sync = %d\n", now_seconds() - start, status.u.sync.has_sync);
                show_stats(create.sntp);
            } else {
                printf("%.3f s: stopped\n", now_seconds() - start);
                show_stats(create.sntp);
                stop_requested = 1;
                break;
            }
        }
    }
    if ((rc = sm_sntp_destroy(create.sntp)) != 0) {
        fprintf(stderr, "sm_sntp_destroy failed: %s (%d)\n", prossntp_strerror(rc), rc);
        return 1;
    }
    return 0;

usage:
    fprintf(stderr, "usage: %s [-6] [-v] [-t SECONDS] SERVER PORT\n", argv[0]);
    return 2;
}
