/*
 * sim_client: a prossntp client for chrony's clknetsim simulator.
 *
 *   sim_client SERVER POLL_MS REPORT_S [wait]
 *
 * Creates a client, points it at SERVER:123 (no_reply 1 s, had_reply
 * POLL_MS), waits on its event with poll() and prints every status change
 * and, every REPORT_S seconds of (simulated) CLOCK_MONOTONIC, what the
 * client measures. It exits on SIGTERM (clknetsim ends a simulation so).
 * With "wait" the main thread makes no call after sm_sntp_config and only
 * waits for SIGTERM in sigwait() (for mt_shim.so, which serialises threads:
 * a main thread in poll() would hold the worker out), then prints the stats.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
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

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void show_stats(tSMSNTPId sntp, double t)
{
    struct prossntp_stats st;
    int rc;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    if ((rc = prossntp_get_stats(sntp, &st)) != 0) {
        printf("t=%.0f get_stats failed: %s (%d)\n", t, prossntp_strerror(rc), rc);
        return;
    }
    printf("t=%.0f state=%d sync=%d steering=%d backend=%s role=%d not_steering=%d "
           "offset=%+.3e sample_offset=%+.3e delay=%.3e jitter=%.3e freq=%+.3e poll=%.0f "
           "req=%llu rep=%llu rej=%llu steps=%llu slews=%llu refused=%llu errno=%d err='%s' detail='%s'\n",
           t, st.state, st.has_sync, st.steering, st.backend, st.role, st.not_steering,
           st.offset, st.sample_offset, st.delay, st.jitter, st.frequency, st.poll_interval,
           (unsigned long long)st.requests, (unsigned long long)st.replies,
           (unsigned long long)st.rejected_total, (unsigned long long)st.steps,
           (unsigned long long)st.slews, (unsigned long long)st.steps_refused,
           st.last_errno, st.last_error, st.role_detail);
}

int main(int argc, char **argv)
{
    SM_SNTP_CREATE_PARMS create;
    SM_SNTP_EVENT_PARMS event;
    SM_SNTP_CONFIG_PARMS cfg;
    double start, next_report, report;
    int rc;

    int wait_mode = argc == 5 && strcmp(argv[4], "wait") == 0;
    if (argc != 4 && !wait_mode) {
        fprintf(stderr, "usage: sim_client SERVER POLL_MS REPORT_S [wait]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    report = atof(argv[3]);
    if (wait_mode) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by the worker */
    }

    memset(&create, 0, sizeof create);
    create.module = kSMNullModuleId;
    create.type = kSMSNTPTypeIPv4;
    create.address.s_addr = htonl(INADDR_ANY);
    if ((rc = sm_sntp_create(&create)) != 0) {
        printf("sm_sntp_create failed: %s (%d)\n", prossntp_strerror(rc), rc);
        return 1;
    }
    printf("created\n");
    memset(&event, 0, sizeof event);
    event.sntp = create.sntp;
    if ((rc = sm_sntp_get_event(&event)) != 0) {
        printf("sm_sntp_get_event failed: %s (%d)\n", prossntp_strerror(rc), rc);
        return 1;
    }
    printf("event fd=%d mode=%d\n", event.event.fd, event.event.mode);
    memset(&cfg, 0, sizeof cfg);
    cfg.sntp = create.sntp;
    cfg.server.sin_family = AF_INET;
    cfg.server.sin_port = htons(123);
    if (inet_pton(AF_INET, argv[1], &cfg.server.sin_addr) != 1)
        return 2;
    cfg.no_reply_delay = 1000;
    cfg.had_reply_delay = strtoul(argv[2], NULL, 10);
    if ((rc = sm_sntp_config(&cfg)) != 0) {
        printf("sm_sntp_config failed: %s (%d)\n", prossntp_strerror(rc), rc);
        return 1;
    }
    printf("configured %s had_reply_delay=%lu ms\n", argv[1], cfg.had_reply_delay);

    if (wait_mode) {
        sigset_t set;
        int sig;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigwait(&set, &sig);
        printf("signal %d\n", sig);
        show_stats(create.sntp, -1);
        fflush(stdout);
        _exit(0);
    }
    start = mono();
    next_report = start + report;
    while (!stop_requested) {
        struct pollfd pfd;
        SM_SNTP_STATUS_PARMS status;
        double t;
        pfd.fd = event.event.fd;
        pfd.events = (short)event.event.mode;
        pfd.revents = 0;
        rc = poll(&pfd, 1, 1000);
        t = mono() - start;
        if (rc > 0) {
            for (;;) {
                memset(&status, 0, sizeof status);
                status.sntp = create.sntp;
                if (sm_sntp_status(&status) != 0 || status.status == kSMSNTPStatusRunning)
                    break;
                printf("t=%.3f status=%d has_sync=%d\n", t, (int)status.status,
                       status.u.sync.has_sync);
            }
        }
        if (start + t >= next_report) {
            show_stats(create.sntp, t);
            next_report += report;
        }
    }
    show_stats(create.sntp, mono() - start);
    sm_sntp_destroy(create.sntp);
    printf("exit\n");
    return 0;
}
