/*
 * sntp_dlopen: loads libprossntp at run time, without linking against it.
 *
 *   sntp_dlopen [-6] [-t SECONDS] SERVER PORT [LIBRARY]
 *
 * dlopen()s LIBRARY (default "libprossntp.so.1", falling back to
 * "libprossntp.so"), looks up the six API functions by their decorated names
 * (SM_SNTP_*_NAME, typed with SM_SNTP_*_FN) and the extension calls by their
 * plain names, then runs a client against SERVER:PORT until it reports Sync
 * (or SECONDS pass, default 10), prints its stats, destroys it and
 * dlclose()s the library. The clock backend follows PROSSNTP_CLOCK
 * (none = measure only). Exit status 0 once synchronised, 1 otherwise,
 * 2 on bad usage.
 *
 * Build: cc sntp_dlopen.c -Iinclude -ldl   (no -lprossntp)
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <dlfcn.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "prossntp.h"
#include "prossntp_ext.h"

/* The extension calls have no typedefs in the header; these match it. */
typedef tSM_INT (*GET_STATS_FN)(tSMSNTPId sntp, struct prossntp_stats *stats);
typedef const char *(*VERSION_FN)(void);
typedef const char *(*STRERROR_FN)(int err);
typedef const char *(*REJECT_TEXT_FN)(int reason);

struct api {
    SM_SNTP_CREATE_FN create;
    SM_SNTP_CONFIG_FN config;
    SM_SNTP_CONFIG_IPV6_FN config_ipv6;
    SM_SNTP_GET_EVENT_FN get_event;
    SM_SNTP_STATUS_FN status;
    SM_SNTP_DESTROY_FN destroy;
    GET_STATS_FN get_stats;
    VERSION_FN version;
    STRERROR_FN error_text;
    REJECT_TEXT_FN reject_text;
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Looks `name` up and stores it in the function pointer at `fn` (of size
 * `size`). ISO C has no conversion from void * to a function pointer; POSIX
 * guarantees that the representations agree, so the bytes are copied.
 */
static int resolve(void *lib, const char *label, const char *name, void *fn, size_t size)
{
    void *sym;
    dlerror();
    sym = dlsym(lib, name);
    if (sym == NULL || size != sizeof sym) {
        const char *err = dlerror();
        printf("MISSING %-20s %s: %s\n", label, name, err != NULL ? err : "null symbol");
        return -1;
    }
    memcpy(fn, &sym, size);
    printf("resolved %-20s %s\n", label, name);
    return 0;
}

#define RESOLVE(lib, label, name, member) resolve(lib, label, name, &(member), sizeof(member))

static int resolve_all(void *lib, struct api *api)
{
    int missing = 0;
    /* The Prosody API: decorated names, as the header's macros spell them. */
    missing += RESOLVE(lib, "SM_SNTP_CREATE_NAME", SM_SNTP_CREATE_NAME, api->create) != 0;
    missing += RESOLVE(lib, "SM_SNTP_CONFIG_NAME", SM_SNTP_CONFIG_NAME, api->config) != 0;
    missing += RESOLVE(lib, "SM_SNTP_CONFIG_IPV6_NAME", SM_SNTP_CONFIG_IPV6_NAME, api->config_ipv6) != 0;
    missing += RESOLVE(lib, "SM_SNTP_GET_EVENT_NAME", SM_SNTP_GET_EVENT_NAME, api->get_event) != 0;
    missing += RESOLVE(lib, "SM_SNTP_STATUS_NAME", SM_SNTP_STATUS_NAME, api->status) != 0;
    missing += RESOLVE(lib, "SM_SNTP_DESTROY_NAME", SM_SNTP_DESTROY_NAME, api->destroy) != 0;
    /* The extension: plain names. */
    missing += RESOLVE(lib, "extension", "prossntp_get_stats", api->get_stats) != 0;
    missing += RESOLVE(lib, "extension", "prossntp_version", api->version) != 0;
    missing += RESOLVE(lib, "extension", "prossntp_strerror", api->error_text) != 0;
    missing += RESOLVE(lib, "extension", "prossntp_reject_text", api->reject_text) != 0;
    if (missing == 0)
        printf("resolved all 10 names\n");
    else
        printf("%d of 10 names missing\n", missing);
    return missing;
}

static int configure(const struct api *api, tSMSNTPId sntp, int ipv6, const char *server, int port)
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
        return api->config_ipv6(&cfg);
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
        return api->config(&cfg);
    }
}

static void show_stats(const struct api *api, tSMSNTPId sntp)
{
    struct prossntp_stats st;
    int rc, i;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    if ((rc = api->get_stats(sntp, &st)) != 0) {
        fprintf(stderr, "prossntp_get_stats failed: %s (%d)\n", api->error_text(rc), rc);
        return;
    }
    printf("stats: backend %s, server %s, stratum %d, %llu replies to %llu requests\n", st.backend, st.server,
           (int)st.stratum, (unsigned long long)st.replies, (unsigned long long)st.requests);
    printf("stats: offset %+.9f s, delay %.9f s, jitter %.9f s\n", st.offset, st.delay, st.jitter);
    for (i = 0; i < PROSSNTP_REJECT_SLOTS; i++)
        if (st.rejected[i] != 0)
            printf("stats: rejected %llu: %s\n", (unsigned long long)st.rejected[i],
                   api->reject_text(i) != NULL ? api->reject_text(i) : "unknown reason");
    if (st.last_error[0] != '\0')
        printf("stats: last error: %s\n", st.last_error);
}

int main(int argc, char **argv)
{
    int ipv6 = 0, opt, rc, port, synced = 0, failed = 0;
    double limit = 10, start;
    const char *path;
    void *lib;
    struct api api;
    SM_SNTP_CREATE_PARMS create;
    SM_SNTP_EVENT_PARMS event;

    while ((opt = getopt(argc, argv, "6t:")) != -1) {
        switch (opt) {
        case '6': ipv6 = 1; break;
        case 't': limit = atof(optarg); break;
        default: goto usage;
        }
    }
    if (argc - optind != 2 && argc - optind != 3)
        goto usage;
    port = atoi(argv[optind + 1]);
    if (port < 1 || port > 65535 || !(limit > 0))
        goto usage;
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Load: the given path, else the versioned name, else the development name. */
    if (argc - optind == 3) {
        path = argv[optind + 2];
        lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    } else {
        path = "libprossntp.so.1";
        lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (lib == NULL) {
            printf("dlopen %s: %s; trying libprossntp.so\n", path, dlerror());
            path = "libprossntp.so";
            lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        }
    }
    if (lib == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return 1;
    }
    printf("loaded %s\n", path);

    memset(&api, 0, sizeof api);
    if (resolve_all(lib, &api) != 0) {
        dlclose(lib);
        return 1;
    }
    printf("library version %s\n", api.version());

    memset(&create, 0, sizeof create);
    create.module = kSMNullModuleId;
    create.type = ipv6 ? kSMSNTPTypeIPv6 : kSMSNTPTypeIPv4;
    create.address.s_addr = htonl(INADDR_ANY);
    create.ipv6_address = in6addr_any;
    if ((rc = api.create(&create)) != 0) {
        fprintf(stderr, "sm_sntp_create failed: %s (%d)\n", api.error_text(rc), rc);
        dlclose(lib);
        return 1;
    }
    memset(&event, 0, sizeof event);
    event.sntp = create.sntp;
    if ((rc = api.get_event(&event)) != 0 ||
        (rc = configure(&api, create.sntp, ipv6, argv[optind], port)) != 0) {
        fprintf(stderr, "set-up failed: %s (%d)\n", api.error_text(rc), rc);
        api.destroy(create.sntp);
        dlclose(lib);
        return 1;
    }
    printf("querying %s port %d\n", argv[optind], port);

    start = now_seconds();
    while (!synced && !failed && now_seconds() - start < limit) {
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
            if ((rc = api.status(&status)) != 0) {
                fprintf(stderr, "sm_sntp_status failed: %s (%d)\n", api.error_text(rc), rc);
                failed = 1;
                break;
            }
            if (status.status == kSMSNTPStatusRunning)
                break;
            if (status.status == kSMSNTPStatusStopped) {
                printf("%.3f s: stopped\n", now_seconds() - start);
                failed = 1;
                break;
            }
            printf("%.3f s: sync, has_sync = %d\n", now_seconds() - start, status.u.sync.has_sync);
            if (status.u.sync.has_sync)
                synced = 1;
        }
    }
    if (!synced && !failed)
        printf("no sync within %g s\n", limit);
    show_stats(&api, create.sntp);

    if ((rc = api.destroy(create.sntp)) != 0) {
        fprintf(stderr, "sm_sntp_destroy failed: %s (%d)\n", api.error_text(rc), rc);
        failed = 1;
    }
    if (dlclose(lib) != 0) {
        fprintf(stderr, "dlclose: %s\n", dlerror());
        failed = 1;
    } else {
        printf("dlclose done\n");
    }
    return synced && !failed ? 0 : 1;

usage:
    fprintf(stderr, "usage: %s [-6] [-t SECONDS] SERVER PORT [LIBRARY]\n", argv[0]);
    return 2;
}
