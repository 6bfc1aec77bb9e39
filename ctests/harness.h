/*
 * ctests/harness.h: helpers shared by the prossntp C tests.
 *
 * Header-only (every function is static inline), C99 plus POSIX/Linux calls;
 * compile with -D_GNU_SOURCE; include "prossntp.h" before this file. Programs that must not link against the library
 * (dlopen_names.c) define HARNESS_NO_LINK before including this file, which
 * leaves out the helpers that call sm_sntp_* directly.
 *
 * Provides:
 *   - CHECK / CHECK_EQ and a pass/fail tally (h_exit_code at the end);
 *   - a monotonic clock in seconds and a millisecond sleep;
 *   - address parsing ("A.B.C.D:PORT" or "[V6]:PORT") and loopback sockets;
 *   - the test server's control messages (PROSSNTP-CTL ..., stats);
 *   - the clock-permission probe and the "measure only" guard;
 *   - create/config/get_event wrappers and waiting for status messages.
 */
#ifndef PROSSNTP_CTESTS_HARNESS_H
#define PROSSNTP_CTESTS_HARNESS_H

#include <arpa/inet.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

/* Include "prossntp.h" first: its include guard does not cover its last
 * part (see header_twice.c), so it cannot be included a second time here. */
#ifndef PROSSNTP_H
#error "include prossntp.h before harness.h"
#endif

/* ------------------------------------------------------------------ checks */

static int h_checks;
static int h_failures;

static inline int h_report(int ok, const char *file, int line, const char *fmt, va_list ap)
{
    h_checks++;
    if (!ok)
        h_failures++;
    fputs(ok ? "  ok    " : "  FAIL  ", stdout);
    vprintf(fmt, ap);
    if (!ok)
        printf("  [%s:%d]", file, line);
    putchar('\n');
    fflush(stdout);
    return ok;
}

/* Counts and prints one check; returns its truth. */
static inline int h_check(int ok, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ok = h_report(ok, file, line, fmt, ap);
    va_end(ap);
    return ok;
}

/* Like h_check, for "got == want", printing both when they differ. */
static inline int h_check_eq(long got, long want, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int ok = got == want;
    va_start(ap, fmt);
    ok = h_report(ok, file, line, fmt, ap);
    va_end(ap);
    if (!ok)
        printf("        got %ld, want %ld\n", got, want);
    return ok;
}

/* CHECK(condition, "printf format", args...) */
#define CHECK(cond, ...) h_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* CHECK_EQ(got, want, "printf format", args...) for integers */
#define CHECK_EQ(got, want, ...) h_check_eq((long)(got), (long)(want), __FILE__, __LINE__, __VA_ARGS__)

static inline void h_note(const char *fmt, ...)
{
    va_list ap;
    fputs("  note  ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* Prints the tally and returns the process exit code. */
static inline int h_exit_code(const char *program)
{
    printf("%s: %d checks, %d failed\n", program, h_checks, h_failures);
    fflush(stdout);
    return h_failures == 0 && h_checks > 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ time */

/* Monotonic time in seconds. */
static inline double h_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void h_sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Milliseconds left until `deadline` (h_now() seconds), never negative. */
static inline int h_ms_left(double deadline)
{
    double left = (deadline - h_now()) * 1000.0;
    return left <= 0.0 ? 0 : (int)(left + 0.999);
}

/* ------------------------------------------------------------------ addresses */

struct h_addr {
    int family; /* AF_INET or AF_INET6 */
    socklen_t len;
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } u;
};

/* Parses "A.B.C.D:PORT" or "[V6ADDR]:PORT". Returns 0, or -1 when malformed. */
static inline int h_parse_addr(const char *text, struct h_addr *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon;
    const char *port_text;
    char *end;
    size_t n;
    long port;

    memset(out, 0, sizeof *out);
    if (text == NULL)
        return -1;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        n = (size_t)(close - text - 1);
        port_text = close + 2;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return -1;
        n = (size_t)(colon - text);
        port_text = colon + 1;
    }
    if (n == 0 || n >= sizeof host)
        return -1;
    memcpy(host, text[0] == '[' ? text + 1 : text, n);
    host[n] = '\0';
    errno = 0;
    port = strtol(port_text, &end, 10);
    if (errno != 0 || end == port_text || *end != '\0' || port < 0 || port > 65535)
        return -1;
    if (inet_pton(AF_INET, host, &out->u.in4.sin_addr) == 1) {
        out->family = AF_INET;
        out->len = sizeof out->u.in4;
        out->u.in4.sin_family = AF_INET;
        out->u.in4.sin_port = htons((unsigned short)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &out->u.in6.sin6_addr) == 1) {
        out->family = AF_INET6;
        out->len = sizeof out->u.in6;
        out->u.in6.sin6_family = AF_INET6;
        out->u.in6.sin6_port = htons((unsigned short)port);
        return 0;
    }
    return -1;
}

/* Formats an address as "A.B.C.D:PORT" or "[V6]:PORT" into buf. */
static inline const char *h_format_addr(const struct h_addr *a, char *buf, size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    if (a->family == AF_INET6) {
        inet_ntop(AF_INET6, &a->u.in6.sin6_addr, host, sizeof host);
        snprintf(buf, cap, "[%s]:%u", host, (unsigned)ntohs(a->u.in6.sin6_port));
    } else {
        inet_ntop(AF_INET, &a->u.in4.sin_addr, host, sizeof host);
        snprintf(buf, cap, "%s:%u", host, (unsigned)ntohs(a->u.in4.sin_port));
    }
    return buf;
}

/* The loopback address of `family` with `port`. */
static inline void h_loopback(int family, unsigned short port, struct h_addr *out)
{
    memset(out, 0, sizeof *out);
    out->family = family;
    if (family == AF_INET6) {
        out->len = sizeof out->u.in6;
        out->u.in6.sin6_family = AF_INET6;
        out->u.in6.sin6_addr = in6addr_loopback;
        out->u.in6.sin6_port = htons(port);
    } else {
        out->len = sizeof out->u.in4;
        out->u.in4.sin_family = AF_INET;
        out->u.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        out->u.in4.sin_port = htons(port);
    }
}

/* A UDP socket bound to loopback on a free port that never answers (a
 * silent server). Returns the descriptor (its address in *bound) or -1. */
static inline int h_silent_socket(int family, struct h_addr *bound)
{
    int fd = socket(family, SOCK_DGRAM, 0);
    h_loopback(family, 0, bound);
    if (fd < 0)
        return -1;
    if (bind(fd, &bound->u.sa, bound->len) != 0 || getsockname(fd, &bound->u.sa, &bound->len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Waits up to timeout_ms for a datagram on fd; returns its length or -1. */
static inline long h_receive(int fd, unsigned char *buf, size_t cap, int timeout_ms)
{
    struct pollfd pfd;
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, timeout_ms) != 1)
        return -1;
    return (long)recv(fd, buf, cap, 0);
}

/* ------------------------------------------------------------------ test server */

/* Sends "PROSSNTP-CTL <cmd>" to the test server and waits for the answer.
 * Returns 0 with the answer in reply, or -1. */
static inline int h_ts_control(const struct h_addr *server, const char *cmd, char *reply, size_t cap)
{
    char msg[256];
    int attempt;
    int fd = socket(server->family, SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    snprintf(msg, sizeof msg, "PROSSNTP-CTL %s", cmd);
    for (attempt = 0; attempt < 3; attempt++) {
        long n;
        if (sendto(fd, msg, strlen(msg), 0, &server->u.sa, server->len) < 0)
            break;
        n = h_receive(fd, (unsigned char *)reply, cap - 1, 1000);
        if (n >= 0) {
            reply[n] = '\0';
            close(fd);
            return 0;
        }
    }
    close(fd);
    return -1;
}

/* Switches the test server (mode=..., offset=...); returns 0 on "ok". */
static inline int h_ts_set(const struct h_addr *server, const char *settings)
{
    char reply[128];
    return h_ts_control(server, settings, reply, sizeof reply) == 0 && strcmp(reply, "ok") == 0 ? 0 : -1;
}

/* The test server's request count (from "stats"), or -1. */
static inline long h_ts_requests(const struct h_addr *server)
{
    char reply[128];
    long n;
    if (h_ts_control(server, "stats", reply, sizeof reply) != 0 || sscanf(reply, "requests=%ld", &n) != 1)
        return -1;
    return n;
}

/* The time the test server serves now (its "time" command), Unix ns, or -1. */
static inline int64_t h_ts_time_ns(const struct h_addr *server)
{
    char reply[128];
    long long secs;
    long nanos;
    if (h_ts_control(server, "time", reply, sizeof reply) != 0 || sscanf(reply, "time=%lld.%ld", &secs, &nanos) != 2)
        return -1;
    return (int64_t)secs * 1000000000 + nanos;
}

static inline int64_t h_ns_of(struct timespec t)
{
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

#ifdef PROSSNTP_EXT_H
/* prossntp_now into *iv, its size set. */
static inline int h_interval_now(tSMSNTPId c, struct prossntp_interval *iv)
{
    memset(iv, 0, sizeof *iv);
    iv->size = sizeof *iv;
    return prossntp_now(c, iv);
}

/* Reads the interval, asks the test server its time, reads again: the truth
 * at the server's answer lies between the first read's earliest and the
 * second's (*after) latest. Returns how far outside it lay, ns (0 inside;
 * INT64_MAX without an answer). */
static inline int64_t h_outside_ns(tSMSNTPId c, const struct h_addr *server, struct prossntp_interval *after)
{
    struct prossntp_interval before;
    int64_t truth;
    h_interval_now(c, &before);
    truth = h_ts_time_ns(server);
    h_interval_now(c, after);
    if (truth < 0)
        return INT64_MAX;
    if (truth < h_ns_of(before.earliest))
        return h_ns_of(before.earliest) - truth;
    if (truth > h_ns_of(after->latest))
        return truth - h_ns_of(after->latest);
    return 0;
}
#endif

/* ------------------------------------------------------------------ safety */

/* 1 when this process may NOT set the clock. The probe is harmless: a tick
 * of 0 is refused with EINVAL when permitted, EPERM when not. */
static inline int h_clock_locked(void)
{
    struct timex tx;
    int rc;
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_TICK;
    tx.tick = 0;
    errno = 0;
    rc = adjtimex(&tx);
    return rc == -1 && errno == EPERM;
}

/* Refuses to go on unless the clock cannot be set; then makes every client
 * measure only (PROSSNTP_CLOCK=none) unless the test needs another backend. */
static inline void h_guard(const char *program, int measure_only)
{
    if (!h_clock_locked()) {
        fprintf(stderr, "%s: refusing to run: this process may set the clock (drop CAP_SYS_TIME)\n", program);
        exit(2);
    }
    if (measure_only) {
        const char *v = getenv("PROSSNTP_CLOCK");
        if (v == NULL || strcmp(v, "none") != 0)
            h_note("PROSSNTP_CLOCK was %s; setting it to none", v ? v : "unset");
        setenv("PROSSNTP_CLOCK", "none", 1);
    }
}

/* ------------------------------------------------------------------ process */

/* Entries of a /proc directory (fd, task), dot entries excluded. */
static inline int h_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Provided by the ASan/TSan/LSan runtimes; NULL otherwise. */
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

/* The number of this process's threads once it is back to `want`, or
 * whatever it is after a second: a joined thread can stay listed in
 * /proc/self/task a moment longer (the kernel wakes the joiner before it
 * reaps the task). */
static inline int h_threads_settle(int want)
{
    int i, n = h_count_entries("/proc/self/task");
    for (i = 0; i < 100 && n != want; i++) {
        h_sleep_ms(10);
        n = h_count_entries("/proc/self/task");
    }
    return n;
}

static inline int h_sanitized(void)
{
    return __sanitizer_get_current_allocated_bytes != NULL;
}

/* Open descriptors. A sanitizer runtime opens pipes and files of its own
 * (its symbolizer) at moments of its choosing: under one, only the kinds the
 * library opens are counted, sockets and eventfds. */
static inline int h_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char path[300], target[300];
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        ssize_t len;
        if (e->d_name[0] == '.')
            continue;
        if (!h_sanitized()) {
            n++;
            continue;
        }
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        len = readlink(path, target, sizeof target - 1);
        target[len < 0 ? 0 : len] = '\0';
        if (strncmp(target, "socket:", 7) == 0 || strcmp(target, "anon_inode:[eventfd]") == 0)
            n++;
    }
    closedir(d);
    return n;
}

static inline const char *h_fds_counted(void)
{
    return h_sanitized() ? "sockets and eventfds" : "all descriptors";
}

/* Starts the test server ($PROSSNTP_TESTSERVER) on 127.0.0.1 and ::1 (random
 * ports, +0.25 s) as ctests/run.sh does; reads its "listening ..." lines up
 * to "ready" into v4 and v6; its pid goes to *pid. */
static inline int h_start_server(char *v4, char *v6, size_t cap, pid_t *pid)
{
    const char *path = getenv("PROSSNTP_TESTSERVER");
    int fds[2];
    FILE *in;
    char line[256];
    double deadline = h_now() + 10.0;
    if (path == NULL || *path == '\0')
        path = "target/debug/prossntp-testserver";
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    *pid = fork();
    if (*pid < 0)
        return -1;
    if (*pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(path, path, "--listen", "127.0.0.1:0", "--listen", "[::1]:0", "--offset", "0.25", "--lifetime", "600",
              (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    in = fdopen(fds[0], "r");
    if (in == NULL)
        return -1;
    v4[0] = v6[0] = '\0';
    while (h_now() < deadline && fgets(line, sizeof line, in) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "listening 127.0.0.1:", 20) == 0)
            snprintf(v4, cap, "%s", line + 10);
        else if (strncmp(line, "listening [::1]:", 16) == 0)
            snprintf(v6, cap, "%s", line + 10);
        else if (strcmp(line, "ready") == 0)
            break;
    }
    fclose(in);
    return v4[0] && v6[0] ? 0 : -1;
}

static inline void h_stop_server(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGTERM);
        waitpid(*pid, NULL, 0);
        *pid = -1;
    }
}

/* ------------------------------------------------------------------ library */

static inline const char *h_status_name(int status)
{
    switch (status) {
    case kSMSNTPStatusRunning: return "Running";
    case kSMSNTPStatusStopped: return "Stopped";
    case kSMSNTPStatusSync: return "Sync";
    default: return "(invalid)";
    }
}

/* poll() on the event exactly as a user program does (events = ev->mode).
 * 1 readable, 0 not within timeout_ms, -1 error (POLLNVAL too). */
static inline int h_poll_event(const struct tSMEventId *ev, int timeout_ms)
{
    struct pollfd pfd;
    int n;
    pfd.fd = ev->fd;
    pfd.events = (short)ev->mode;
    pfd.revents = 0;
    do
        n = poll(&pfd, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n < 0 || (pfd.revents & (POLLNVAL | POLLERR)) != 0)
        return -1;
    return n > 0 && (pfd.revents & (POLLIN | POLLPRI)) != 0;
}

#ifndef HARNESS_NO_LINK

/* Creates a client of `family` on the local any-address. */
static inline int h_create(int family, tSMSNTPId *out)
{
    SM_SNTP_CREATE_PARMS p;
    int rc;
    memset(&p, 0, sizeof p);
    p.module = kSMNullModuleId;
    p.type = family == AF_INET6 ? kSMSNTPTypeIPv6 : kSMSNTPTypeIPv4;
    p.address.s_addr = htonl(INADDR_ANY);
    p.ipv6_address = in6addr_any;
    rc = sm_sntp_create(&p);
    *out = rc == 0 ? p.sntp : NULL;
    return rc;
}

/* Configures `server` with config or config_ipv6 per its family; TOS 0. */
static inline int h_config(tSMSNTPId sntp, const struct h_addr *server, unsigned long no_reply, unsigned long had_reply)
{
    if (server->family == AF_INET6) {
        SM_SNTP_CONFIG_IPV6_PARMS p;
        memset(&p, 0, sizeof p);
        p.sntp = sntp;
        p.server = server->u.in6;
        p.no_reply_delay = no_reply;
        p.had_reply_delay = had_reply;
        return sm_sntp_config_ipv6(&p);
    } else {
        SM_SNTP_CONFIG_PARMS p;
        memset(&p, 0, sizeof p);
        p.sntp = sntp;
        p.server = server->u.in4;
        p.TOS = 0;
        p.no_reply_delay = no_reply;
        p.had_reply_delay = had_reply;
        return sm_sntp_config(&p);
    }
}

static inline int h_get_event(tSMSNTPId sntp, struct tSMEventId *ev)
{
    SM_SNTP_EVENT_PARMS p;
    int rc;
    memset(&p, 0, sizeof p);
    p.sntp = sntp;
    rc = sm_sntp_get_event(&p);
    *ev = p.event;
    return rc;
}

/* One status read; returns the library's code, the message in *out. */
static inline int h_status(tSMSNTPId sntp, SM_SNTP_STATUS_PARMS *out)
{
    memset(out, 0, sizeof *out);
    out->sntp = sntp;
    out->u.sync.has_sync = -1;
    return sm_sntp_status(out);
}

/* Waits (poll on the event, then one status read per wake-up) for the next
 * message, i.e. a status other than Running. Returns 1 with it in *out,
 * 0 on timeout, or a negative code (from status, or -1000 if poll failed). */
static inline int h_next_message(tSMSNTPId sntp, const struct tSMEventId *ev, int timeout_ms, SM_SNTP_STATUS_PARMS *out)
{
    double deadline = h_now() + timeout_ms / 1000.0;
    for (;;) {
        int left = h_ms_left(deadline);
        int rc;
        if (h_poll_event(ev, left) < 0)
            return -1000;
        rc = h_status(sntp, out);
        if (rc != 0)
            return rc;
        if (out->status != kSMSNTPStatusRunning)
            return 1;
        if (left == 0)
            return 0;
    }
}

/* Waits for Sync with has_sync == want, skipping (and noting) other Sync
 * messages. Returns the seconds waited, or -1 on timeout, Stopped or error. */
static inline double h_wait_sync(tSMSNTPId sntp, const struct tSMEventId *ev, int want, int timeout_ms)
{
    double start = h_now();
    double deadline = start + timeout_ms / 1000.0;
    SM_SNTP_STATUS_PARMS st;
    for (;;) {
        int r = h_next_message(sntp, ev, h_ms_left(deadline), &st);
        if (r == 0) {
            h_note("no Sync has_sync=%d within %d ms", want, timeout_ms);
            return -1;
        }
        if (r < 0) {
            h_note("waiting for Sync has_sync=%d: error %d", want, r);
            return -1;
        }
        if (st.status == kSMSNTPStatusStopped) {
            h_note("waiting for Sync has_sync=%d: the client is Stopped", want);
            return -1;
        }
        if (st.status == kSMSNTPStatusSync && st.u.sync.has_sync == want)
            return h_now() - start;
        h_note("while waiting for Sync has_sync=%d: %s has_sync=%d", want, h_status_name(st.status),
               st.u.sync.has_sync);
    }
}

/* Reads status until Running; returns the number of messages taken (a
 * Stopped ends the drain, since it repeats for ever). */
static inline int h_drain(tSMSNTPId sntp)
{
    SM_SNTP_STATUS_PARMS st;
    int n = 0;
    while (n < 1000 && h_status(sntp, &st) == 0 && st.status != kSMSNTPStatusRunning) {
        n++;
        if (st.status == kSMSNTPStatusStopped)
            break;
    }
    return n;
}

#endif /* HARNESS_NO_LINK */

#endif /* PROSSNTP_CTESTS_HARNESS_H */
