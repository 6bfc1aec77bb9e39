/*
 * flow.c: the flow a user program writes, and scenarios against the test
 * server. Usage: flow SCENARIO SERVER, SERVER as ADDR:PORT or [ADDR]:PORT;
 * the client's family (IPv4/IPv6) is the server's.
 *
 *   basic     create, get_event, config, poll() until Sync has_sync=1; the
 *             event is level-triggered (poll, select, epoll); destroy.
 *             Works against any NTP server (test server or chronyd).
 *   loss      (test server) sync, server silent -> has_sync=0, normal -> 1
 *   kod-deny  (test server) DENY kiss -> Stopped until configured again
 *   kod-rstr  (test server) the same with RSTR
 *   kod-rate  (test server) RATE kiss -> still Running, requests slowed
 *   eperm     PROSSNTP_CLOCK=adjtimex without CAP_SYS_TIME -> Stopped, traced
 *   reconfig  (test server) config to a silent port, then to the server:
 *             the new configuration takes effect at once
 *   tos       the requests carry the configured TOS / traffic class (checked
 *             on a local socket; SERVER only selects the family)
 *   many      50 clients at once (half bound to loopback) all reach sync;
 *             destroying them returns every descriptor and thread
 *   threads   status/get_event from 4 threads while the main thread
 *             reconfigures, then destroys: only 0 or ERR_SM_BAD_PARAMETER
 */
#include "prossntp.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "harness.h"

static struct h_addr server;
static char server_text[80];

static const char *family_name(void)
{
    return server.family == AF_INET6 ? "IPv6" : "IPv4";
}

/* create on the any-address of the server's family, and get its event. */
static int open_client(tSMSNTPId *sntp, struct tSMEventId *ev)
{
    if (!CHECK_EQ(h_create(server.family, sntp), 0, "create an %s client on the any-address", family_name()))
        return -1;
    if (!CHECK_EQ(h_get_event(*sntp, ev), 0, "get_event"))
        return -1;
    return 0;
}

static int close_client(tSMSNTPId sntp)
{
    return CHECK_EQ(sm_sntp_destroy(sntp), 0, "destroy") ? 0 : -1;
}

static int ts_set(const char *settings)
{
    return CHECK_EQ(h_ts_set(&server, settings), 0, "test server: %s", settings) ? 0 : -1;
}

/* 1 if fd is readable now according to select(). */
static int select_readable(int fd)
{
    fd_set set;
    struct timeval tv;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    tv.tv_sec = 0;
    tv.tv_usec = 0;
    return select(fd + 1, &set, NULL, NULL, &tv) == 1 && FD_ISSET(fd, &set);
}

/* Number of ready events epoll reports now (0 or 1). */
static int epoll_ready(int ep)
{
    struct epoll_event out;
    return epoll_wait(ep, &out, 1, 0);
}

/* ------------------------------------------------------------------ basic */

static int scenario_basic(void)
{
    tSMSNTPId sntp;
    struct tSMEventId ev, again;
    SM_SNTP_STATUS_PARMS st;
    struct epoll_event ee;
    int ep, flags, readable;
    double t0, took;

    if (open_client(&sntp, &ev) != 0)
        return -1;
    CHECK_EQ(h_get_event(sntp, &again), 0, "get_event again");
    CHECK(again.fd == ev.fd && again.mode == ev.mode && again.eip == ev.eip,
          "the same event both times (fd %d, mode %d, eip %p)", ev.fd, ev.mode, (void *)ev.eip);
    CHECK_EQ(ev.mode, POLLIN | POLLPRI, "event mode == POLLIN|POLLPRI");
    CHECK(ev.fd >= 0, "event fd %d is a descriptor", ev.fd);
    flags = fcntl(ev.fd, F_GETFD);
    CHECK(flags >= 0 && (flags & FD_CLOEXEC), "event fd is close-on-exec");
    flags = fcntl(ev.fd, F_GETFL);
    CHECK(flags >= 0 && (flags & O_NONBLOCK), "event fd is non-blocking");
    CHECK_EQ(h_poll_event(&ev, 0), 0, "event not signalled before config (nothing pending)");
    st.sntp = sntp;
    st.status = kSMSNTPStatusStopped;
    st.u.sync.has_sync = 77;
    CHECK(sm_sntp_status(&st) == 0 && st.status == kSMSNTPStatusRunning, "status before config: Running");
    CHECK_EQ(st.u.sync.has_sync, 77, "has_sync not written when the status is not Sync");

    ep = epoll_create1(EPOLL_CLOEXEC);
    memset(&ee, 0, sizeof ee);
    ee.events = (unsigned)ev.mode; /* POLLIN|POLLPRI == EPOLLIN|EPOLLPRI, level-triggered */
    ee.data.fd = ev.fd;
    CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, ev.fd, &ee) == 0, "epoll: event fd added");

    t0 = h_now();
    CHECK_EQ(h_config(sntp, &server, 500, 2000), 0, "config %s, no_reply 500, had_reply 2000", server_text);

    /* First wake-up: look at the event before reading any status. */
    readable = h_poll_event(&ev, 15000);
    if (!CHECK_EQ(readable, 1, "poll: the event fires within 15 s")) {
        close(ep);
        close_client(sntp);
        return -1;
    }
    CHECK(h_poll_event(&ev, 0) == 1 && h_poll_event(&ev, 0) == 1,
          "level-triggered: still readable on two more polls (timeout 0) before status is read");
    CHECK(select_readable(ev.fd), "select() reports it readable while the message is pending");
    CHECK(epoll_ready(ep) == 1 && epoll_ready(ep) == 1, "epoll reports it ready, twice (level-triggered)");

    CHECK_EQ(h_status(sntp, &st), 0, "status");
    if (!(st.status == kSMSNTPStatusSync && st.u.sync.has_sync == 1)) {
        h_note("first message was %s has_sync=%d; waiting on", h_status_name(st.status), st.u.sync.has_sync);
        if (h_wait_sync(sntp, &ev, 1, h_ms_left(t0 + 15.0)) < 0)
            st.status = kSMSNTPStatusRunning;
        else
            st.status = kSMSNTPStatusSync, st.u.sync.has_sync = 1;
    }
    took = h_now() - t0;
    if (CHECK(st.status == kSMSNTPStatusSync && st.u.sync.has_sync == 1, "Sync has_sync=1 within 15 s"))
        printf("first sync after %.3f s (%.2f ms; %s, %s)\n", took, took * 1000.0, family_name(), server_text);

    h_drain(sntp);
    CHECK(h_status(sntp, &st) == 0 && st.status == kSMSNTPStatusRunning, "drained: status Running");
    CHECK_EQ(h_poll_event(&ev, 0), 0, "after Running the event is not readable (poll)");
    CHECK(!select_readable(ev.fd), "... nor for select()");
    CHECK_EQ(epoll_ready(ep), 0, "... nor for epoll");

    /* It stays in sync while the server keeps answering. */
    {
        double end = h_now() + 2.5;
        int lost = 0, r;
        while ((r = h_next_message(sntp, &ev, h_ms_left(end), &st)) == 1)
            if (st.status != kSMSNTPStatusSync || st.u.sync.has_sync != 1)
                lost = 1;
        CHECK(r == 0 && !lost, "no has_sync=0 or Stopped over the next 2.5 s");
    }

    close(ep);
    if (close_client(sntp) != 0)
        return -1;
    errno = 0;
    CHECK(fcntl(ev.fd, F_GETFD) == -1 && errno == EBADF, "destroy closed the event descriptor");
    return 0;
}

/* ------------------------------------------------------------------ loss */

static int scenario_loss(void)
{
    const unsigned long no_reply = 300, had_reply = 600;
    const int lose_bound_ms = (int)(4 * no_reply + had_reply + 1000);
    tSMSNTPId sntp;
    struct tSMEventId ev;
    double t;

    if (ts_set("mode=normal") != 0 || open_client(&sntp, &ev) != 0)
        return -1;
    CHECK_EQ(h_config(sntp, &server, no_reply, had_reply), 0, "config no_reply 300, had_reply 600");
    t = h_wait_sync(sntp, &ev, 1, 15000);
    CHECK(t >= 0, "Sync has_sync=1 (after %.3f s)", t);
    h_drain(sntp);

    ts_set("mode=silent");
    t = h_wait_sync(sntp, &ev, 0, lose_bound_ms);
    /* The request after the last reply goes out up to had_reply later;
     * sync is lost on the 4th unanswered one, no_reply apart. */
    CHECK(t >= 0, "server silent: Sync has_sync=0 within 4 x no_reply + had_reply + 1 s = %d ms (after %.3f s)",
          lose_bound_ms, t);
    CHECK(t < 0 || t >= 4 * no_reply / 1000.0 - 0.05, "  ... and not before 4 x no_reply (%.3f s)", t);
    if (t >= 0)
        printf("lost sync after %.3f s of silence\n", t);

    ts_set("mode=normal");
    t = h_wait_sync(sntp, &ev, 1, (int)(no_reply + 1500));
    CHECK(t >= 0, "server back: Sync has_sync=1 within no_reply + 1.5 s (after %.3f s)", t);
    if (t >= 0)
        printf("regained sync after %.3f s\n", t);
    return close_client(sntp);
}

/* ------------------------------------------------------------------ kiss-o'-death */

static int scenario_kod_stop(const char *mode)
{
    tSMSNTPId sntp;
    struct tSMEventId ev;
    SM_SNTP_STATUS_PARMS st;
    char settings[64];
    long before, after;
    double t;
    int r, i, stopped = 1;

    snprintf(settings, sizeof settings, "mode=%s", mode);
    if (ts_set(settings) != 0 || open_client(&sntp, &ev) != 0)
        return -1;
    CHECK_EQ(h_config(sntp, &server, 500, 2000), 0, "config no_reply 500, had_reply 2000");
    t = h_now();
    r = h_next_message(sntp, &ev, 3000, &st);
    CHECK(r == 1 && st.status == kSMSNTPStatusStopped, "%s kiss: status Stopped within 3 s (got %s after %.3f s)",
          mode, r == 1 ? h_status_name(st.status) : "nothing", h_now() - t);
    for (i = 0; i < 3; i++) {
        if (h_status(sntp, &st) != 0 || st.status != kSMSNTPStatusStopped || h_poll_event(&ev, 0) != 1)
            stopped = 0;
        h_sleep_ms(100);
    }
    CHECK(stopped, "stays Stopped over repeated status calls, the event stays readable");

    before = h_ts_requests(&server);
    h_sleep_ms(1500);
    after = h_ts_requests(&server);
    CHECK(before >= 0 && after == before, "a stopped client sends nothing (requests %ld -> %ld in 1.5 s)", before,
          after);

    ts_set("mode=normal");
    CHECK_EQ(h_config(sntp, &server, 500, 2000), 0, "config again");
    r = h_status(sntp, &st);
    CHECK(r == 0 && (st.status == kSMSNTPStatusRunning || (st.status == kSMSNTPStatusSync && st.u.sync.has_sync == 1)),
          "right after config: Running (got %s)", h_status_name(st.status));
    if (st.status == kSMSNTPStatusSync)
        t = 0;
    else
        t = h_wait_sync(sntp, &ev, 1, 5000);
    CHECK(t >= 0, "then Sync has_sync=1 within 5 s (after %.3f s)", t);
    return close_client(sntp);
}

static int scenario_kod_rate(void)
{
    const unsigned long no_reply = 200, had_reply = 400;
    tSMSNTPId sntp;
    struct tSMEventId ev;
    SM_SNTP_STATUS_PARMS st;
    long before, after, sent, allowed;
    double t0, elapsed, end;
    int r, messages = 0;

    if (ts_set("mode=kod-rate") != 0 || open_client(&sntp, &ev) != 0)
        return -1;
    before = h_ts_requests(&server);
    t0 = h_now();
    CHECK_EQ(h_config(sntp, &server, no_reply, had_reply), 0, "config no_reply 200, had_reply 400");
    end = t0 + 2.0;
    while ((r = h_next_message(sntp, &ev, h_ms_left(end), &st)) == 1) {
        h_note("unexpected message: %s has_sync=%d", h_status_name(st.status), st.u.sync.has_sync);
        if (++messages > 10 || st.status == kSMSNTPStatusStopped)
            break;
    }
    after = h_ts_requests(&server);
    elapsed = h_now() - t0;
    CHECK(r == 0 && messages == 0, "RATE kiss: no Stopped and no Sync for 2 s");
    CHECK(h_status(sntp, &st) == 0 && st.status == kSMSNTPStatusRunning, "status Running");
    sent = after - before;
    allowed = (long)(elapsed * 1000.0 / no_reply) + 1;
    printf("kod-rate: %ld requests in %.3f s; no_reply %lu ms alone would allow %ld\n", sent, elapsed, no_reply,
           allowed);
    CHECK(before >= 0 && after >= 0 && sent >= 1, "the client did query (%ld requests)", sent);
    CHECK(sent <= allowed / 2, "RATE slowed it down: %ld requests <= half of %ld", sent, allowed);
    ts_set("mode=normal");
    return close_client(sntp);
}

/* ------------------------------------------------------------------ eperm */

static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;
static int trace_lines;
static char trace_match[512];

static int trace_sink(const char *fmt, va_list ap)
{
    char line[512];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    pthread_mutex_lock(&trace_lock);
    trace_lines++;
    if (trace_match[0] == '\0' && (strstr(line, "EPERM") || strstr(line, "permission") || strstr(line, "Permission"))) {
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\n')
            line[len - 1] = '\0';
        memcpy(trace_match, line, sizeof trace_match);
    }
    pthread_mutex_unlock(&trace_lock);
    return n;
}

static int scenario_eperm(void)
{
    tSMSNTPId sntp;
    struct tSMEventId ev, again;
    SM_SNTP_STATUS_PARMS st;
    SM_SNTP_CONFIG_PARMS bad;
    double t0;
    int r, rc, i, stopped = 1;

    /* h_guard has checked that adjtimex says EPERM for this process. */
    setenv("PROSSNTP_CLOCK", "adjtimex", 1);
    TiNG_showtrace = trace_sink;
    TiNGtrace = 1;
    t0 = h_now();
    if (open_client(&sntp, &ev) != 0)
        return -1;
    rc = h_config(sntp, &server, 500, 2000);
    CHECK(rc == 0 || rc == ERR_SM_WRONG_MODULE_STATE, "config right after create: %d (0, or -132 if already stopped)",
          rc);
    r = h_next_message(sntp, &ev, h_ms_left(t0 + 2.0), &st);
    CHECK(r == 1 && st.status == kSMSNTPStatusStopped, "status Stopped within 2 s of create (got %s after %.3f s)",
          r == 1 ? h_status_name(st.status) : "nothing", h_now() - t0);
    for (i = 0; i < 3; i++)
        if (h_status(sntp, &st) != 0 || st.status != kSMSNTPStatusStopped || h_poll_event(&ev, 0) != 1)
            stopped = 0;
    CHECK(stopped, "stays Stopped, the event stays readable");
    CHECK_EQ(h_config(sntp, &server, 500, 2000), ERR_SM_WRONG_MODULE_STATE,
             "config on the stopped client == ERR_SM_WRONG_MODULE_STATE");
    if (server.family == AF_INET) {
        memset(&bad, 0, sizeof bad);
        bad.sntp = sntp;
        bad.server = server.u.in4;
        bad.no_reply_delay = 2000;
        bad.had_reply_delay = 1000;
        CHECK_EQ(sm_sntp_config(&bad), ERR_SM_BAD_PARAMETER, "... but bad delays are still ERR_SM_BAD_PARAMETER");
    }
    CHECK(h_get_event(sntp, &again) == 0 && again.fd == ev.fd, "get_event still works, same fd");
    rc = close_client(sntp);
    TiNGtrace = 0;
    pthread_mutex_lock(&trace_lock);
    CHECK(trace_match[0] != '\0', "a trace line mentions EPERM or permission (of %d lines): %s", trace_lines,
          trace_match);
    pthread_mutex_unlock(&trace_lock);
    TiNG_showtrace = NULL;
    setenv("PROSSNTP_CLOCK", "none", 1);
    return rc;
}

/* ------------------------------------------------------------------ reconfig */

static int scenario_reconfig(void)
{
    tSMSNTPId sntp;
    struct tSMEventId ev;
    SM_SNTP_STATUS_PARMS st;
    struct h_addr silent;
    unsigned char buf[128];
    char text[80];
    int fd;
    long n;
    double t;

    if (ts_set("mode=normal") != 0 || open_client(&sntp, &ev) != 0)
        return -1;
    fd = h_silent_socket(server.family, &silent);
    if (!CHECK(fd >= 0, "a silent loopback port %s", h_format_addr(&silent, text, sizeof text)))
        return -1;
    CHECK_EQ(h_config(sntp, &silent, 5000, 60000), 0, "config the silent port, no_reply 5000, had_reply 60000");
    n = h_receive(fd, buf, sizeof buf, 2000);
    CHECK(n == 48 && (buf[0] & 7) == 3, "the silent port gets an NTP client request (%ld bytes)", n);
    CHECK(h_status(sntp, &st) == 0 && st.status == kSMSNTPStatusRunning, "status Running (no sync)");

    CHECK_EQ(h_config(sntp, &server, 5000, 60000), 0, "config again: the test server %s", server_text);
    t = h_wait_sync(sntp, &ev, 1, 3000);
    CHECK(t >= 0, "Sync has_sync=1 within 3 s of the new config (after %.3f s)", t);
    if (t >= 0)
        printf("sync %.3f s after re-config\n", t);
    close(fd);
    return close_client(sntp);
}

/* ------------------------------------------------------------------ tos */

/* Receives one datagram on fd and returns its TOS / traffic class, or -1. */
static int receive_tclass(int fd, int family)
{
    unsigned char buf[128];
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int)) * 2];
    } control;
    struct iovec iov;
    struct msghdr msg;
    struct cmsghdr *c;
    struct pollfd pfd;

    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 2000) != 1)
        return -1;
    memset(&msg, 0, sizeof msg);
    iov.iov_base = buf;
    iov.iov_len = sizeof buf;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    if (recvmsg(fd, &msg, 0) != 48)
        return -1;
    for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (family == AF_INET && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS)
            return *(unsigned char *)CMSG_DATA(c);
        if (family == AF_INET6 && c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
            int v;
            memcpy(&v, CMSG_DATA(c), sizeof v);
            return v;
        }
    }
    return -1;
}

static int config_tclass(tSMSNTPId sntp, const struct h_addr *to, int tclass)
{
    if (to->family == AF_INET6) {
        SM_SNTP_CONFIG_IPV6_PARMS p;
        memset(&p, 0, sizeof p);
        p.sntp = sntp;
        p.server = to->u.in6;
        p.server.sin6_flowinfo = htonl((unsigned long)tclass << 20 | 0x12345); /* a flow label too */
        p.no_reply_delay = 5000;
        p.had_reply_delay = 60000;
        return sm_sntp_config_ipv6(&p);
    } else {
        SM_SNTP_CONFIG_PARMS p;
        memset(&p, 0, sizeof p);
        p.sntp = sntp;
        p.server = to->u.in4;
        p.TOS = tclass;
        p.no_reply_delay = 5000;
        p.had_reply_delay = 60000;
        return sm_sntp_config(&p);
    }
}

static int scenario_tos(void)
{
    static const int values[] = {0xb8, 0x28, 0};
    tSMSNTPId sntp;
    struct tSMEventId ev;
    struct h_addr local;
    int fd, on = 1, got;
    size_t i;

    if (open_client(&sntp, &ev) != 0)
        return -1;
    fd = h_silent_socket(server.family, &local);
    if (server.family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &on, sizeof on);
    else
        setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &on, sizeof on);
    CHECK(fd >= 0, "a local socket that reports the TOS / traffic class of what it receives");
    for (i = 0; i < sizeof values / sizeof values[0]; i++) {
        CHECK_EQ(config_tclass(sntp, &local, values[i]), 0, "config with %s 0x%02x",
                 server.family == AF_INET6 ? "traffic class (in sin6_flowinfo)" : "TOS", values[i]);
        got = receive_tclass(fd, server.family);
        CHECK_EQ(got, values[i], "  the request arrives with 0x%02x (got 0x%02x)", values[i], got);
    }
    close(fd);
    return close_client(sntp);
}

/* ------------------------------------------------------------------ many */


#define MANY 50

static int scenario_many(void)
{
    tSMSNTPId clients[MANY];
    struct tSMEventId events[MANY];
    struct pollfd pfds[MANY];
    int synced[MANY];
    int fds_before, threads_before, fds_after, threads_after;
    int i, n_synced = 0, created = 0, bad = 0;
    double t0, took;

    fds_before = h_count_entries("/proc/self/fd");
    threads_before = h_count_entries("/proc/self/task");
    for (i = 0; i < MANY; i++) {
        SM_SNTP_CREATE_PARMS p;
        memset(&p, 0, sizeof p);
        p.type = server.family == AF_INET6 ? kSMSNTPTypeIPv6 : kSMSNTPTypeIPv4;
        /* odd ones bound to the loopback address, even ones to any */
        p.address.s_addr = htonl(i % 2 ? INADDR_LOOPBACK : INADDR_ANY);
        p.ipv6_address = i % 2 ? in6addr_loopback : in6addr_any;
        if (sm_sntp_create(&p) != 0)
            break;
        clients[i] = p.sntp;
        created++;
        if (h_get_event(clients[i], &events[i]) != 0 || h_config(clients[i], &server, 500, 2000) != 0)
            bad++;
        synced[i] = 0;
        pfds[i].fd = events[i].fd;
        pfds[i].events = (short)events[i].mode;
    }
    CHECK_EQ(created, MANY, "created %d clients (half on the loopback address, half on any)", MANY);
    CHECK_EQ(bad, 0, "get_event and config succeeded on every one");
    t0 = h_now();
    while (n_synced < created && h_now() - t0 < 15.0) {
        if (poll(pfds, (nfds_t)created, h_ms_left(t0 + 15.0)) <= 0)
            continue;
        for (i = 0; i < created; i++) {
            SM_SNTP_STATUS_PARMS st;
            if (!(pfds[i].revents & (POLLIN | POLLPRI)))
                continue;
            while (h_status(clients[i], &st) == 0 && st.status == kSMSNTPStatusSync)
                if (st.u.sync.has_sync == 1 && !synced[i]) {
                    synced[i] = 1;
                    n_synced++;
                }
            if (st.status == kSMSNTPStatusStopped) {
                h_note("client %d Stopped", i);
                pfds[i].fd = -1;
            }
        }
    }
    took = h_now() - t0;
    CHECK_EQ(n_synced, created, "every client reached Sync has_sync=1 (in %.3f s)", took);
    if (n_synced == created)
        printf("many: %d clients synced within %.3f s\n", created, took);
    bad = 0;
    t0 = h_now();
    for (i = 0; i < created; i++)
        if (sm_sntp_destroy(clients[i]) != 0)
            bad++;
    took = h_now() - t0;
    CHECK_EQ(bad, 0, "destroyed them all (in %.3f s)", took);
    fds_after = h_count_entries("/proc/self/fd");
    threads_after = h_threads_settle(threads_before);
    CHECK_EQ(fds_after, fds_before, "open descriptors back to %d", fds_before);
    CHECK_EQ(threads_after, threads_before, "threads back to %d", threads_before);
    return 0;
}

/* ------------------------------------------------------------------ threads */

struct hammer {
    pthread_mutex_t lock;
    tSMSNTPId sntp;
    int stop;
    long calls;
    int unexpected; /* a code other than 0 / ERR_SM_BAD_PARAMETER */
    int gone_seen;  /* calls after destroy that got ERR_SM_BAD_PARAMETER */
    int destroyed;
    int ok_after_destroy; /* calls that started after destroy returned and got 0 */
};

static void *hammer_thread(void *arg)
{
    struct hammer *h = arg;
    for (;;) {
        SM_SNTP_STATUS_PARMS st;
        struct tSMEventId ev;
        int stop, destroyed, a, b;
        pthread_mutex_lock(&h->lock);
        stop = h->stop;
        destroyed = h->destroyed;
        pthread_mutex_unlock(&h->lock);
        if (stop)
            break;
        a = h_status(h->sntp, &st);
        b = h_get_event(h->sntp, &ev);
        pthread_mutex_lock(&h->lock);
        h->calls += 2;
        if ((a != 0 && a != ERR_SM_BAD_PARAMETER) || (b != 0 && b != ERR_SM_BAD_PARAMETER))
            h->unexpected++;
        if (destroyed) {
            if (a == ERR_SM_BAD_PARAMETER && b == ERR_SM_BAD_PARAMETER)
                h->gone_seen++;
            else
                h->ok_after_destroy++;
        }
        pthread_mutex_unlock(&h->lock);
    }
    return NULL;
}

static int scenario_threads(void)
{
    struct hammer h;
    pthread_t threads[4];
    struct tSMEventId ev;
    int i, started = 0, config_bad = 0;

    memset(&h, 0, sizeof h);
    pthread_mutex_init(&h.lock, NULL);
    if (open_client(&h.sntp, &ev) != 0)
        return -1;
    CHECK_EQ(h_config(h.sntp, &server, 500, 2000), 0, "config");
    for (i = 0; i < 4; i++)
        if (pthread_create(&threads[i], NULL, hammer_thread, &h) == 0)
            started++;
    CHECK_EQ(started, 4, "4 threads call status and get_event in a loop");
    for (i = 0; i < 50; i++) {
        if (h_config(h.sntp, &server, 100 + (unsigned long)i, 2000) != 0)
            config_bad++;
        h_sleep_ms(10);
    }
    CHECK_EQ(config_bad, 0, "50 re-configs from the main thread meanwhile");
    CHECK_EQ(sm_sntp_destroy(h.sntp), 0, "destroy while the threads are calling");
    pthread_mutex_lock(&h.lock);
    h.destroyed = 1;
    pthread_mutex_unlock(&h.lock);
    h_sleep_ms(100);
    pthread_mutex_lock(&h.lock);
    h.stop = 1;
    pthread_mutex_unlock(&h.lock);
    for (i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    printf("threads: %ld calls\n", h.calls);
    CHECK(h.calls > 0, "the threads made %ld calls", h.calls);
    CHECK_EQ(h.unexpected, 0, "every call returned 0 or ERR_SM_BAD_PARAMETER");
    CHECK(h.gone_seen > 0, "after destroy the threads got ERR_SM_BAD_PARAMETER (%d times)", h.gone_seen);
    CHECK_EQ(h.ok_after_destroy, 0, "no call that began after destroy succeeded");
    CHECK_EQ(sm_sntp_destroy(h.sntp), ERR_SM_BAD_PARAMETER, "destroy again == ERR_SM_BAD_PARAMETER");
    pthread_mutex_destroy(&h.lock);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(void);
    } scenarios[] = {
        {"basic", scenario_basic},       {"loss", scenario_loss},         {"kod-rate", scenario_kod_rate},
        {"eperm", scenario_eperm},       {"reconfig", scenario_reconfig}, {"tos", scenario_tos},
        {"many", scenario_many},         {"threads", scenario_threads},
    };
    size_t i;
    int found = 0;

    if (argc != 3 || h_parse_addr(argv[2], &server) != 0) {
        fprintf(stderr, "usage: %s basic|loss|kod-deny|kod-rstr|kod-rate|eperm|reconfig|tos|many|threads ADDR:PORT|[ADDR]:PORT\n",
                argv[0]);
        return 2;
    }
    h_guard("flow", 1);
    h_format_addr(&server, server_text, sizeof server_text);
    printf("flow %s against %s (%s)\n", argv[1], server_text, family_name());
    if (strcmp(argv[1], "kod-deny") == 0 || strcmp(argv[1], "kod-rstr") == 0) {
        scenario_kod_stop(argv[1]);
        found = 1;
    }
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(argv[1], scenarios[i].name) == 0) {
            scenarios[i].run();
            found = 1;
        }
    if (!found) {
        fprintf(stderr, "flow: unknown scenario %s\n", argv[1]);
        return 2;
    }
    return h_exit_code("flow");
}
