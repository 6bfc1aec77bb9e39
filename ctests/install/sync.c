/*
 * sync.c: a program built against an installed prossntp, as a user builds
 * one (scripts/install-test.sh compiles it outside the source tree).
 *
 *   sync SERVER PORT
 *
 * Creates an IPv4 client, points it at SERVER:PORT, polls its event for at
 * most 10 s until Sync with has_sync = 1, prints the library version (and,
 * with the extension header, the measured offset), destroys the client.
 * Exit status 0 on sync, 1 otherwise.
 *
 * Built with -DWITH_EXT it uses prossntp_ext.h (pkg-config builds). Without
 * it, it includes only Aculab's header, as a program linked with -lTiNG does;
 * prossntp_version is then declared here, to show the symbol resolves.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prossntp.h"
#ifdef WITH_EXT
#include "prossntp_ext.h"
#else
extern const char *prossntp_version(void);
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    SM_SNTP_CREATE_PARMS create;
    SM_SNTP_EVENT_PARMS event;
    SM_SNTP_CONFIG_PARMS config;
    double start;
    int rc, synced = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: %s SERVER PORT\n", argv[0]);
        return 2;
    }
    memset(&create, 0, sizeof create);
    create.module = kSMNullModuleId;
    create.type = kSMSNTPTypeIPv4;
    create.address.s_addr = htonl(INADDR_ANY);
    if ((rc = sm_sntp_create(&create)) != ERR_SM_OK) {
        fprintf(stderr, "sm_sntp_create: %d\n", rc);
        return 1;
    }
    memset(&event, 0, sizeof event);
    event.sntp = create.sntp;
    memset(&config, 0, sizeof config);
    config.sntp = create.sntp;
    config.server.sin_family = AF_INET;
    config.server.sin_port = htons((unsigned short)atoi(argv[2]));
    config.no_reply_delay = 1000;
    config.had_reply_delay = 8000;
    if (inet_pton(AF_INET, argv[1], &config.server.sin_addr) != 1 ||
        (rc = sm_sntp_get_event(&event)) != ERR_SM_OK || (rc = sm_sntp_config(&config)) != ERR_SM_OK) {
        fprintf(stderr, "set-up failed: %d\n", rc);
        sm_sntp_destroy(create.sntp);
        return 1;
    }

    start = now();
    while (!synced && now() - start < 10) {
        struct pollfd pfd;
        SM_SNTP_STATUS_PARMS status;
        pfd.fd = event.event.fd;
        pfd.events = (short)event.event.mode;
        pfd.revents = 0;
        if (poll(&pfd, 1, 250) <= 0)
            continue;
        for (;;) {
            memset(&status, 0, sizeof status);
            status.sntp = create.sntp;
            if (sm_sntp_status(&status) != ERR_SM_OK || status.status == kSMSNTPStatusRunning)
                break;
            if (status.status == kSMSNTPStatusSync && status.u.sync.has_sync)
                synced = 1;
        }
    }
    printf("prossntp %s: %s after %.1f ms\n", prossntp_version(), synced ? "sync" : "NO SYNC", (now() - start) * 1e3);
#ifdef WITH_EXT
    {
        struct prossntp_stats stats;
        memset(&stats, 0, sizeof stats);
        stats.size = sizeof stats;
        if ((rc = prossntp_get_stats(create.sntp, &stats)) != ERR_SM_OK) {
            fprintf(stderr, "prossntp_get_stats: %d (%s)\n", rc, prossntp_strerror(rc));
            synced = 0;
        } else {
            printf("offset %.6f s, delay %.6f s, %llu replies, server %s\n", stats.offset, stats.delay,
                   (unsigned long long)stats.replies, stats.server);
        }
    }
#endif
    rc = sm_sntp_destroy(create.sntp);
    if (rc != ERR_SM_OK)
        fprintf(stderr, "sm_sntp_destroy: %d\n", rc);
    return synced && rc == ERR_SM_OK ? 0 : 1;
}
