/*
 * sntp_sd_event: a Prosody SNTP client driven by systemd's sd-event loop.
 *
 *   sntp_sd_event [-6] [-i INTERVAL] [-t SECONDS] SERVER PORT
 *
 * Creates a client, points it at SERVER:PORT (no_reply 1 s, had_reply 8 s)
 * and adds to one sd-event loop:
 *   - the client's event descriptor (sd_event_add_io, EPOLLIN); the event is
 *     level-triggered, so the handler reads sm_sntp_status until it reports
 *     Running (nothing new) and prints each status change;
 *   - a periodic timer on CLOCK_MONOTONIC (sd_event_add_time) printing the
 *     client's stats every INTERVAL seconds (default 1), re-armed from its
 *     previous expiry so that it does not drift;
 *   - SIGINT and SIGTERM (sd_event_add_signal), which end the loop;
 *   - with -t, a timer that ends the loop after SECONDS.
 * The clock backend follows PROSSNTP_CLOCK (none = measure only).
 *
 * Build: cc sntp_sd_event.c -Iinclude -Ltarget/release -lprossntp \
 *            $(pkg-config --cflags --libs libsystemd)
 * (Debian: apt-get install libsystemd-dev pkg-config)
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "prossntp.h"
#include "prossntp_ext.h"

struct app {
    sd_event *loop;
    tSMSNTPId sntp;
    uint64_t start;    /* CLOCK_MONOTONIC, us */
    uint64_t interval; /* periodic report, us */
};

static double elapsed(const struct app *app)
{
    uint64_t now;
    if (sd_event_now(app->loop, CLOCK_MONOTONIC, &now) < 0)
        return -1;
    return (double)(now - app->start) / 1e6;
}

static const char *state_name(int32_t state)
{
    switch (state) {
    case PROSSNTP_STATE_IDLE: return "idle";
    case PROSSNTP_STATE_RUNNING: return "running";
    case PROSSNTP_STATE_STOPPED: return "stopped";
    case PROSSNTP_STATE_ENDED: return "ended";
    default: return "unknown";
    }
}

/* Prints what the client measures, after `prefix`; returns 0 or -1. */
static int show_stats(struct app *app, const char *prefix)
{
    struct prossntp_stats st;
    int rc;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    if ((rc = prossntp_get_stats(app->sntp, &st)) != 0) {
        fprintf(stderr, "prossntp_get_stats failed: %s (%d)\n", prossntp_strerror(rc), rc);
        return -1;
    }
    printf("%s has_sync=%d state=%s requests=%llu replies=%llu", prefix, (int)st.has_sync, state_name(st.state),
           (unsigned long long)st.requests, (unsigned long long)st.replies);
    if (st.replies > 0)
        printf(" offset=%+.9f delay=%.9f jitter=%.9f stratum=%d", st.offset, st.delay, st.jitter, (int)st.stratum);
    if (st.last_error[0] != '\0')
        printf(" last_error=\"%s\"", st.last_error);
    putchar('\n');
    return 0;
}

/* The client's event: read every pending status message. */
static int on_client_event(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
    struct app *app = userdata;
    (void)source;
    (void)fd;
    if (revents & (EPOLLERR | EPOLLHUP)) {
        fprintf(stderr, "the client's event descriptor failed (revents 0x%x)\n", (unsigned)revents);
        return sd_event_exit(app->loop, 1);
    }
    for (;;) {
        SM_SNTP_STATUS_PARMS status;
        char prefix[64];
        int rc;
        memset(&status, 0, sizeof status);
        status.sntp = app->sntp;
        if ((rc = sm_sntp_status(&status)) != 0) {
            fprintf(stderr, "sm_sntp_status failed: %s (%d)\n", prossntp_strerror(rc), rc);
            return sd_event_exit(app->loop, 1);
        }
        if (status.status == kSMSNTPStatusRunning)
            return 0; /* drained: the event is no longer readable */
        if (status.status == kSMSNTPStatusSync) {
            printf("%.3f s: sync, has_sync = %d\n", elapsed(app), status.u.sync.has_sync);
            snprintf(prefix, sizeof prefix, "    measured:");
            if (show_stats(app, prefix) != 0)
                return sd_event_exit(app->loop, 1);
        } else {
            /* Stopped stays pending while the client is stopped: end here. */
            printf("%.3f s: stopped\n", elapsed(app));
            show_stats(app, "    measured:");
            return sd_event_exit(app->loop, 1);
        }
    }
}

/* The periodic report, re-armed one interval after its previous expiry. */
static int on_tick(sd_event_source *source, uint64_t usec, void *userdata)
{
    struct app *app = userdata;
    char prefix[64];
    int r;
    snprintf(prefix, sizeof prefix, "%.3f s: periodic (due %.3f s):", elapsed(app),
             (double)(usec - app->start) / 1e6);
    if (show_stats(app, prefix) != 0)
        return sd_event_exit(app->loop, 1);
    if ((r = sd_event_source_set_time(source, usec + app->interval)) < 0 ||
        (r = sd_event_source_set_enabled(source, SD_EVENT_ONESHOT)) < 0) {
        fprintf(stderr, "cannot re-arm the periodic timer: %s\n", strerror(-r));
        return sd_event_exit(app->loop, 1);
    }
    return 0;
}

static int on_time_limit(sd_event_source *source, uint64_t usec, void *userdata)
{
    struct app *app = userdata;
    (void)source;
    (void)usec;
    printf("%.3f s: time limit reached\n", elapsed(app));
    return sd_event_exit(app->loop, 0);
}

static int on_signal(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata)
{
    struct app *app = userdata;
    (void)source;
    (void)si;
    printf("%.3f s: signal, stopping\n", elapsed(app));
    return sd_event_exit(app->loop, 0);
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
    int ipv6 = 0, opt, rc, r, port, exit_code = 1;
    double limit = 0, interval = 1;
    struct app app;
    sigset_t mask;
    SM_SNTP_CREATE_PARMS create;
    SM_SNTP_EVENT_PARMS event;
    sd_event_source *io = NULL, *tick = NULL, *timeout = NULL, *sigint = NULL, *sigterm = NULL;

    while ((opt = getopt(argc, argv, "6i:t:")) != -1) {
        switch (opt) {
        case '6': ipv6 = 1; break;
        case 'i': interval = atof(optarg); break;
        case 't': limit = atof(optarg); break;
        default: goto usage;
        }
    }
    if (argc - optind != 2 || !(interval >= 0.001) || limit < 0)
        goto usage;
    port = atoi(argv[optind + 1]);
    if (port < 1 || port > 65535)
        goto usage;
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&app, 0, sizeof app);
    app.interval = (uint64_t)(interval * 1e6);

    /* sd_event_add_signal needs the signals blocked, and in every thread:
     * block them before the client's worker thread is created (it inherits
     * the mask), or a worker could take SIGINT with its default action. */
    if (sigemptyset(&mask) != 0 || sigaddset(&mask, SIGINT) != 0 || sigaddset(&mask, SIGTERM) != 0 ||
        (errno = pthread_sigmask(SIG_BLOCK, &mask, NULL)) != 0) {
        perror("blocking SIGINT and SIGTERM");
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
    app.sntp = create.sntp;
    memset(&event, 0, sizeof event);
    event.sntp = create.sntp;
    if ((rc = sm_sntp_get_event(&event)) != 0) {
        fprintf(stderr, "sm_sntp_get_event failed: %s (%d)\n", prossntp_strerror(rc), rc);
        goto out;
    }

    if ((r = sd_event_default(&app.loop)) < 0) {
        fprintf(stderr, "sd_event_default: %s\n", strerror(-r));
        goto out;
    }
    if ((r = sd_event_now(app.loop, CLOCK_MONOTONIC, &app.start)) < 0) {
        fprintf(stderr, "sd_event_now: %s\n", strerror(-r));
        goto out;
    }
    /* Accuracy 1 ms: sd-event would otherwise coalesce wake-ups by 250 ms. */
    if ((r = sd_event_add_io(app.loop, &io, event.event.fd, EPOLLIN, on_client_event, &app)) < 0 ||
        (r = sd_event_add_time(app.loop, &tick, CLOCK_MONOTONIC, app.start + app.interval, 1000, on_tick, &app)) <
            0 ||
        (r = sd_event_add_signal(app.loop, &sigint, SIGINT, on_signal, &app)) < 0 ||
        (r = sd_event_add_signal(app.loop, &sigterm, SIGTERM, on_signal, &app)) < 0 ||
        (limit > 0 && (r = sd_event_add_time(app.loop, &timeout, CLOCK_MONOTONIC,
                                             app.start + (uint64_t)(limit * 1e6), 1000, on_time_limit, &app)) < 0)) {
        fprintf(stderr, "setting up the event loop: %s\n", strerror(-r));
        goto out;
    }

    if ((rc = configure(create.sntp, ipv6, argv[optind], port)) != 0) {
        fprintf(stderr, "configuring %s port %d failed: %s (%d)\n", argv[optind], port, prossntp_strerror(rc), rc);
        goto out;
    }
    printf("querying %s port %d; stats every %g s\n", argv[optind], port, interval);

    r = sd_event_loop(app.loop);
    if (r < 0)
        fprintf(stderr, "sd_event_loop: %s\n", strerror(-r));
    else
        exit_code = r; /* the code given to sd_event_exit */

out:
    sd_event_source_unref(io);
    sd_event_source_unref(tick);
    sd_event_source_unref(timeout);
    sd_event_source_unref(sigint);
    sd_event_source_unref(sigterm);
    sd_event_unref(app.loop);
    if ((rc = sm_sntp_destroy(create.sntp)) != 0) {
        fprintf(stderr, "sm_sntp_destroy failed: %s (%d)\n", prossntp_strerror(rc), rc);
        exit_code = 1;
    }
    return exit_code;

usage:
    fprintf(stderr, "usage: %s [-6] [-i INTERVAL] [-t SECONDS] SERVER PORT\n", argv[0]);
    return 2;
}
