/*
 * clocktest: the VM clock lab's test program. It runs as a static binary
 * inside a qemu guest (see scripts/vm-test.sh and vmtests/README.md), the only
 * place where a real kernel clock may be changed, and checks that libprossntp
 * really disciplines it, for each clock backend in turn.
 *
 *   clocktest [vmtest.KEY=VALUE ...]
 *
 * With no arguments the vmtest.* words of /proc/cmdline are used. Keys:
 *   backends   comma list of PROSSNTP_CLOCK values (adjtimex,ntp_adjtime,adjtime)
 *   scenarios  comma list of step,slew,freq,status (all four)
 *   server4    IPv4 address of the servers (198.51.100.1)
 *   server6    IPv6 address of the servers (2001:db8:51::1)
 *   port_true  chronyd serving true time (11123)
 *   port_step  chronyd serving true time + 0.5 s (11124)
 *   port_slew  chronyd serving true time + 0.02 s (11125)
 *   v6         comma list of scenarios whose client and measurements use IPv6 (slew)
 *   trace      1: the library's trace (TiNGtrace) printed as "TRACE <raw s> ..." (1)
 *   step_secs, slew_secs, freq_secs, freq_settle: scenario lengths (10, 90, 100, 40)
 *
 * Output, on stdout (the guest's serial console):
 *   VMTEST <scenario> <backend> PASS|FAIL <details>    one per scenario and backend
 *   VMDATA <scenario> <backend> t=<s> offset=<s> ...   progress (offset = server - guest)
 *   VMINFO ...                                         anything else worth reading
 *
 * The offsets are measured by this program's own SNTP client (plain UDP,
 * mode 3, median of 5 queries, timestamps from CLOCK_REALTIME: the send time
 * read just before send, the receive time the kernel's SO_TIMESTAMPNS),
 * independent of the library under test.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include "prossntp.h"

/* ------------------------------------------------------------------ params */

static struct {
    char backends[256];
    char scenarios[256];
    char server4[64];
    char server6[64];
    int port_true, port_step, port_slew;
    char v6[128];
    int trace;
    double step_secs, slew_secs, freq_secs, freq_settle;
} P = {
    "adjtimex,ntp_adjtime,adjtime",
    "step,slew,freq,status",
    "198.51.100.1",
    "2001:db8:51::1",
    11123, 11124, 11125,
    "slew",
    1,
    10, 90, 100, 40,
};

static void set_param(const char *word)
{
    const char *kv = word;
    const char *eq;
    char key[64];
    size_t n;

    if (strncmp(kv, "vmtest.", 7) == 0)
        kv += 7;
    eq = strchr(kv, '=');
    if (!eq)
        return;
    n = (size_t)(eq - kv);
    if (n >= sizeof key)
        return;
    memcpy(key, kv, n);
    key[n] = 0;
    eq++;
#define STR(name) if (strcmp(key, #name) == 0) { snprintf(P.name, sizeof P.name, "%s", eq); return; }
#define NUM(name) if (strcmp(key, #name) == 0) { P.name = atoi(eq); return; }
#define DBL(name) if (strcmp(key, #name) == 0) { P.name = atof(eq); return; }
    STR(backends) STR(scenarios) STR(server4) STR(server6) STR(v6)
    NUM(port_true) NUM(port_step) NUM(port_slew) NUM(trace)
    DBL(step_secs) DBL(slew_secs) DBL(freq_secs) DBL(freq_settle)
    printf("VMINFO unknown parameter %s\n", word);
}

static void params_from_cmdline(void)
{
    char buf[4096];
    char *save = NULL, *w;
    size_t n;
    FILE *f = fopen("/proc/cmdline", "r");
    if (!f)
        return;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    for (w = strtok_r(buf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
        if (strncmp(w, "vmtest.", 7) == 0)
            set_param(w);
}

/* Whether NAME is an element of the comma list LIST. */
static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* ------------------------------------------------------------------- clocks */

static double mono_raw(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t ns_of(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void sleep_s(double s)
{
    struct timespec ts;
    if (s <= 0)
        return;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The kernel's default tick: one USER_HZ period in microseconds (10000). */
static long default_tick(void)
{
    long hz = sysconf(_SC_CLK_TCK);
    return 1000000 / (hz > 0 ? hz : 100);
}

static int kernel_read(struct timex *tx)
{
    memset(tx, 0, sizeof *tx);
    return adjtimex(tx);
}

static void status_bits(int st, char *out, size_t len)
{
    static const struct { int bit; const char *name; } names[] = {
        {STA_PLL, "PLL"}, {STA_PPSFREQ, "PPSFREQ"}, {STA_PPSTIME, "PPSTIME"},
        {STA_FLL, "FLL"}, {STA_INS, "INS"}, {STA_DEL, "DEL"}, {STA_UNSYNC, "UNSYNC"},
        {STA_FREQHOLD, "FREQHOLD"}, {STA_NANO, "NANO"}, {STA_MODE, "MODE"},
    };
    size_t i, used = 0;
    out[0] = 0;
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (st & names[i].bit)
            used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s", used ? "|" : "", names[i].name);
    if (!used)
        snprintf(out, len, "-");
}

static void print_kernel(const char *tag, const char *scenario, const char *backend)
{
    struct timex tx;
    char bits[128];
    int rc = kernel_read(&tx);
    status_bits(tx.status, bits, sizeof bits);
    printf("VMINFO %s %s %s adjtimex=%d status=0x%x(%s) freq=%ld(%.3f ppm) offset=%ld tick=%ld "
           "maxerror=%ld esterror=%ld constant=%ld\n",
           tag, scenario, backend, rc, tx.status, bits, (long)tx.freq, tx.freq / 65536.0, (long)tx.offset,
           (long)tx.tick, (long)tx.maxerror, (long)tx.esterror, (long)tx.constant);
}

/*
 * Puts the kernel clock discipline back to its boot defaults: no one-shot
 * slew pending, no PLL offset, frequency 0, the default tick, STA_UNSYNC set
 * and the error bounds at their maximum (16 s), so each run starts clean and
 * a later status check proves the library set them.
 */
static int kernel_defaults(void)
{
    struct timex tx;
    int rc = 0;

    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_OFFSET_SINGLESHOT; /* offset 0: cancels a pending adjtime() slew */
    if (adjtimex(&tx) < 0)
        rc = -1;
    memset(&tx, 0, sizeof tx);
    /* PLL on with offset 0 clears the kernel's PLL phase offset; frequency 0. */
    tx.modes = ADJ_STATUS | ADJ_OFFSET | ADJ_FREQUENCY;
    tx.status = STA_PLL;
    tx.offset = 0;
    tx.freq = 0;
    if (adjtimex(&tx) < 0)
        rc = -1;
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_STATUS | ADJ_TICK | ADJ_MAXERROR | ADJ_ESTERROR | ADJ_FREQUENCY;
    tx.status = STA_UNSYNC;
    tx.tick = default_tick();
    tx.maxerror = 16000000;
    tx.esterror = 16000000;
    tx.freq = 0;
    if (adjtimex(&tx) < 0)
        rc = -1;
    return rc;
}

/* ------------------------------------------------- independent SNTP query */

#define NTP_UNIX_OFFSET 2208988800ULL

static uint64_t ntp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)(ts.tv_sec + NTP_UNIX_OFFSET) << 32) | (((uint64_t)ts.tv_nsec << 32) / 1000000000ULL);
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void put64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* A difference of two NTP timestamps in seconds (era-safe for |d| < 68 years). */
static double ntp_diff(uint64_t a, uint64_t b)
{
    return (double)(int64_t)(a - b) / 4294967296.0;
}

struct server {
    int v6;
    char addr[64];
    int port;
};

static struct server server_of(int v6, int port)
{
    struct server s;
    s.v6 = v6;
    snprintf(s.addr, sizeof s.addr, "%s", v6 ? P.server6 : P.server4);
    s.port = port;
    return s;
}

/*
 * Receives a datagram and its arrival time: the kernel's receive timestamp
 * (SO_TIMESTAMPNS, as the library uses), else the time recvmsg returned. A
 * guest under emulation takes a few hundred microseconds from the packet's
 * arrival to the program's wake-up, which would otherwise bias the offset.
 */
static ssize_t recv_stamped(int fd, unsigned char *buf, size_t len, uint64_t *t4)
{
    union {
        char space[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } control;
    struct iovec iov;
    struct msghdr msg;
    struct cmsghdr *cm;
    ssize_t n;

    iov.iov_base = buf;
    iov.iov_len = len;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.space;
    msg.msg_controllen = sizeof control.space;
    n = recvmsg(fd, &msg, 0);
    *t4 = ntp_now();
    for (cm = CMSG_FIRSTHDR(&msg); n >= 0 && cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(cm), sizeof ts);
            *t4 = ((uint64_t)(ts.tv_sec + NTP_UNIX_OFFSET) << 32) |
                  (((uint64_t)ts.tv_nsec << 32) / 1000000000ULL);
        }
    }
    return n;
}

/* One SNTP exchange: 0 with offset and delay, -1 on timeout or a bad reply. */
static int sntp_once(const struct server *srv, double *offset, double *delay)
{
    unsigned char req[48], rep[128];
    uint64_t t1, t2, t3, t4;
    struct pollfd pfd;
    int fd, ok = -1;
    double deadline;

    fd = socket(srv->v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    {
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    }
    if (srv->v6) {
        struct sockaddr_in6 sa;
        memset(&sa, 0, sizeof sa);
        sa.sin6_family = AF_INET6;
        sa.sin6_port = htons((unsigned short)srv->port);
        inet_pton(AF_INET6, srv->addr, &sa.sin6_addr);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
            goto out;
    } else {
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((unsigned short)srv->port);
        inet_pton(AF_INET, srv->addr, &sa.sin_addr);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
            goto out;
    }
    memset(req, 0, sizeof req);
    req[0] = (0 << 6) | (4 << 3) | 3; /* LI 0, version 4, mode 3 (client) */
    t1 = ntp_now();
    put64(req + 40, t1);
    if (send(fd, req, sizeof req, 0) != (ssize_t)sizeof req)
        goto out;
    deadline = mono_raw() + 0.5;
    for (;;) {
        double left = deadline - mono_raw();
        ssize_t n;
        if (left <= 0)
            goto out;
        pfd.fd = fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        n = recv_stamped(fd, rep, sizeof rep, &t4);
        if (n < 48)
            continue;
        if ((rep[0] & 7) != 4 || (rep[0] >> 6) == 3 || rep[1] == 0 || rep[1] > 15)
            continue;
        if (get64(rep + 24) != t1)
            continue; /* not the reply to this request */
        t2 = get64(rep + 32);
        t3 = get64(rep + 40);
        *offset = (ntp_diff(t2, t1) + ntp_diff(t3, t4)) / 2;
        *delay = ntp_diff(t4, t1) - ntp_diff(t3, t2);
        ok = 0;
        break;
    }
out:
    close(fd);
    return ok;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median offset of 5 queries (at least 3 answered), NAN when not. */
static double measure(const struct server *srv, double *delay_out)
{
    double off[5], del[5], d;
    int i, n = 0, tries;
    for (tries = 0; tries < 8 && n < 5; tries++) {
        if (sntp_once(srv, &off[n], &del[n]) == 0)
            n++;
        sleep_s(0.02);
    }
    if (n < 3)
        return NAN;
    if (delay_out) {
        memcpy(&d, &del[0], sizeof d);
        for (i = 1; i < n; i++)
            if (del[i] < d)
                d = del[i];
        *delay_out = d;
    }
    qsort(off, (size_t)n, sizeof off[0], cmp_double);
    return off[n / 2];
}

/*
 * Steps the guest clock to true time (the independent measurement of the
 * true-time server) after putting the kernel discipline back to defaults.
 */
static int reset_to_true_time(const char *scenario, const char *backend)
{
    struct server truth = server_of(0, P.port_true);
    double after = NAN;
    int attempt;
    if (kernel_defaults() != 0)
        printf("VMINFO reset %s %s: adjtimex defaults failed: %s\n", scenario, backend, strerror(errno));
    /* The kernel applies a one-shot slew in 1 s chunks: let the current one end. */
    sleep_s(1.1);
    for (attempt = 0; attempt < 3; attempt++) {
        double delay = 0, off = measure(&truth, &delay);
        struct timespec now;
        int64_t ns;
        if (isnan(off)) {
            printf("VMINFO reset %s %s: true-time server not answering\n", scenario, backend);
            sleep_s(1);
            continue;
        }
        clock_gettime(CLOCK_REALTIME, &now);
        ns = ns_of(&now) + (int64_t)llround(off * 1e9);
        now.tv_sec = (time_t)(ns / 1000000000);
        now.tv_nsec = (long)(ns % 1000000000);
        if (clock_settime(CLOCK_REALTIME, &now) != 0) {
            printf("VMINFO reset %s %s: clock_settime: %s\n", scenario, backend, strerror(errno));
            return -1;
        }
        after = measure(&truth, &delay);
        printf("VMINFO reset %s %s: stepped by %+.6f s, now offset %+.6f s (delay %.6f s)\n", scenario,
               backend, off, after, delay);
        if (!isnan(after) && fabs(after) < 0.0002)
            return 0;
    }
    /* Good enough for every scenario's criteria, if not as close as wanted. */
    return !isnan(after) && fabs(after) < 0.002 ? 0 : -1;
}

/* ------------------------------------------------------ library client */

/* The library's last "worker ends: WHY" trace line, for the verdicts. */
static char g_worker_end[512];

static int show_trace(const char *fmt, va_list ap)
{
    char line[1024];
    const char *why;
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = 0;
    if ((why = strstr(line, "worker ends: ")) != NULL)
        snprintf(g_worker_end, sizeof g_worker_end, "%s", why + 13);
    /* Every sm_sntp_status call is traced; the samples are what matter. */
    if (!P.trace || strstr(line, "sm_sntp_status("))
        return 0;
    return printf("TRACE %.3f %s\n", mono_raw(), line);
}

struct client {
    tSMSNTPId sntp;
    int fd, mode;
    int has_sync;   /* last has_sync reported */
    int ever_sync;  /* has_sync was 1 at least once */
    int stopped;    /* Stopped was reported */
    double t0;      /* mono_raw() at config */
    double t_sync;  /* seconds from t0 to the first has_sync=1 */
    const char *scenario, *backend;
};

static int client_start(struct client *c, const char *scenario, const char *backend, const struct server *srv)
{
    SM_SNTP_CREATE_PARMS create;
    SM_SNTP_EVENT_PARMS event;
    int rc;

    memset(c, 0, sizeof *c);
    c->scenario = scenario;
    c->backend = backend;
    c->t_sync = -1;
    setenv("PROSSNTP_CLOCK", backend, 1);
    memset(&create, 0, sizeof create);
    create.module = kSMNullModuleId;
    create.type = srv->v6 ? kSMSNTPTypeIPv6 : kSMSNTPTypeIPv4;
    create.address.s_addr = htonl(INADDR_ANY);
    create.ipv6_address = in6addr_any;
    if ((rc = sm_sntp_create(&create)) != 0) {
        printf("VMINFO %s %s: sm_sntp_create failed: %d\n", scenario, backend, rc);
        return rc;
    }
    c->sntp = create.sntp;
    memset(&event, 0, sizeof event);
    event.sntp = c->sntp;
    if ((rc = sm_sntp_get_event(&event)) != 0) {
        printf("VMINFO %s %s: sm_sntp_get_event failed: %d\n", scenario, backend, rc);
        sm_sntp_destroy(c->sntp);
        return rc;
    }
    c->fd = event.event.fd;
    c->mode = event.event.mode;
    c->t0 = mono_raw();
    if (srv->v6) {
        SM_SNTP_CONFIG_IPV6_PARMS cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.sntp = c->sntp;
        cfg.server.sin6_family = AF_INET6;
        cfg.server.sin6_port = htons((unsigned short)srv->port);
        inet_pton(AF_INET6, srv->addr, &cfg.server.sin6_addr);
        cfg.no_reply_delay = 1000;
        cfg.had_reply_delay = 4000;
        rc = sm_sntp_config_ipv6(&cfg);
    } else {
        SM_SNTP_CONFIG_PARMS cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.sntp = c->sntp;
        cfg.server.sin_family = AF_INET;
        cfg.server.sin_port = htons((unsigned short)srv->port);
        inet_pton(AF_INET, srv->addr, &cfg.server.sin_addr);
        cfg.no_reply_delay = 1000;
        cfg.had_reply_delay = 4000;
        rc = sm_sntp_config(&cfg);
    }
    if (rc != 0) {
        printf("VMINFO %s %s: sm_sntp_config failed: %d\n", scenario, backend, rc);
        sm_sntp_destroy(c->sntp);
        c->sntp = NULL;
        return rc;
    }
    printf("VMINFO %s %s: client on [%s]:%d, no_reply 1000 ms, had_reply 4000 ms\n", scenario, backend,
           srv->addr, srv->port);
    return 0;
}

/* Waits on the event (the sntp_poll.c pattern) for up to SECS, reading status changes. */
static void client_wait(struct client *c, double secs)
{
    double end = mono_raw() + secs;
    for (;;) {
        double left = end - mono_raw();
        struct pollfd pfd;
        if (left <= 0)
            return;
        if (c->stopped) {
            /* The event stays readable once stopped: just sleep. */
            sleep_s(left);
            return;
        }
        pfd.fd = c->fd;
        pfd.events = (short)c->mode;
        if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        for (;;) {
            SM_SNTP_STATUS_PARMS st;
            memset(&st, 0, sizeof st);
            st.sntp = c->sntp;
            if (sm_sntp_status(&st) != 0 || st.status == kSMSNTPStatusRunning)
                break;
            if (st.status == kSMSNTPStatusSync) {
                c->has_sync = st.u.sync.has_sync;
                if (c->has_sync && !c->ever_sync) {
                    c->ever_sync = 1;
                    c->t_sync = mono_raw() - c->t0;
                }
                printf("VMINFO %s %s t=%.3f sync has_sync=%d\n", c->scenario, c->backend, mono_raw() - c->t0,
                       c->has_sync);
            } else {
                c->stopped = 1;
                printf("VMINFO %s %s t=%.3f stopped\n", c->scenario, c->backend, mono_raw() - c->t0);
                break;
            }
        }
    }
}

/* Waits until has_sync=1 (or Stopped) for at most SECS; returns has_sync. */
static int client_wait_sync(struct client *c, double secs)
{
    double end = mono_raw() + secs;
    while (!c->has_sync && !c->stopped && mono_raw() < end)
        client_wait(c, 0.25);
    return c->has_sync;
}

static void client_stop(struct client *c)
{
    if (c->sntp)
        sm_sntp_destroy(c->sntp);
    c->sntp = NULL;
}

/* ----------------------------------------------------------- step watch */

/*
 * A thread sampling CLOCK_REALTIME - CLOCK_MONOTONIC_RAW every 10 ms. A slew
 * changes it by at most ~0.5 ms/s; a step makes it jump. A sample whose two
 * raw reads are more than 0.2 ms apart (preempted) is dropped.
 */
struct watch {
    pthread_t th;
    volatile int run;
    int64_t last, max_jump;
    int have, jumps;
    long samples;
};

static void *watch_main(void *arg)
{
    struct watch *w = arg;
    while (w->run) {
        struct timespec r1, rt, r2;
        clock_gettime(CLOCK_MONOTONIC_RAW, &r1);
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_MONOTONIC_RAW, &r2);
        if (ns_of(&r2) - ns_of(&r1) < 200000) {
            int64_t d = ns_of(&rt) - (ns_of(&r1) + ns_of(&r2)) / 2;
            if (w->have) {
                int64_t j = d - w->last;
                if (llabs(j) > llabs(w->max_jump))
                    w->max_jump = j;
                if (llabs(j) > 5000000)
                    w->jumps++;
            }
            w->last = d;
            w->have = 1;
            w->samples++;
        }
        sleep_s(0.01);
    }
    return NULL;
}

static void watch_start(struct watch *w)
{
    memset(w, 0, sizeof *w);
    w->run = 1;
    if (pthread_create(&w->th, NULL, watch_main, w) != 0) {
        w->run = 0;
        printf("VMINFO step watch thread failed to start\n");
    }
}

static void watch_stop(struct watch *w)
{
    if (w->run) {
        w->run = 0;
        pthread_join(w->th, NULL);
    }
}

/* Rate of CLOCK_REALTIME against CLOCK_MONOTONIC_RAW, for the kernel's view of its adjustment. */
struct rate_mark {
    int64_t real, raw;
};

static struct rate_mark rate_mark(void)
{
    struct timespec a, b, c;
    struct rate_mark m;
    clock_gettime(CLOCK_MONOTONIC_RAW, &a);
    clock_gettime(CLOCK_REALTIME, &b);
    clock_gettime(CLOCK_MONOTONIC_RAW, &c);
    m.real = ns_of(&b);
    m.raw = (ns_of(&a) + ns_of(&c)) / 2;
    return m;
}

static double rate_ppm(struct rate_mark a, struct rate_mark b)
{
    double raw = (double)(b.raw - a.raw);
    return raw > 0 ? ((double)(b.real - a.real) - raw) / raw * 1e6 : 0;
}

/* ------------------------------------------------------------ scenarios */

static int g_pass, g_fail;

static void verdict(const char *scenario, const char *backend, int pass, const char *fmt, ...)
{
    char details[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(details, sizeof details, fmt, ap);
    va_end(ap);
    printf("VMTEST %s %s %s %s\n", scenario, backend, pass ? "PASS" : "FAIL", details);
    if (pass)
        g_pass++;
    else
        g_fail++;
}

/* The kernel state right after the latest sync scenario, for `status`. */
static struct {
    int have;
    char scenario[16];
    int has_sync;
    struct timex tx;
} g_snapshot;

static void snapshot(struct client *c)
{
    kernel_read(&g_snapshot.tx);
    g_snapshot.have = 1;
    g_snapshot.has_sync = c->has_sync;
    snprintf(g_snapshot.scenario, sizeof g_snapshot.scenario, "%s", c->scenario);
    print_kernel("kernel", c->scenario, c->backend);
}

/* Set when the library refused a backend, so the rest of its scenarios fail at once. */
static char g_rejected[256];

/* Starts a client and checks that the backend was accepted (no early Stopped). */
static int start_checked(struct client *c, const char *scenario, const char *backend, const struct server *srv)
{
    int rc;
    g_worker_end[0] = 0;
    rc = client_start(c, scenario, backend, srv);
    if (rc == 0) {
        /* An unknown or refused backend ends the worker: Stopped comes at once. */
        client_wait(c, 0.3);
        if (!c->stopped)
            return 0;
        client_stop(c);
    }
    {
        char how[32];
        if (rc)
            snprintf(how, sizeof how, "a call returned %d", rc);
        else
            snprintf(how, sizeof how, "worker stopped at once");
        snprintf(g_rejected, sizeof g_rejected, "library rejected PROSSNTP_CLOCK=%s (%s)%s%s", backend, how,
                 g_worker_end[0] ? ": " : "", g_worker_end);
    }
    return -1;
}

static const char *fam(int v6)
{
    return v6 ? "IPv6" : "IPv4";
}

static void scenario_step(const char *backend)
{
    const char *S = "step";
    int v6 = in_list(P.v6, S);
    struct server srv = server_of(v6, P.port_step);
    struct client c;
    struct watch w;
    double before, after, delay = 0;

    if (reset_to_true_time(S, backend) != 0) {
        verdict(S, backend, 0, "could not reset the guest clock to true time");
        return;
    }
    before = measure(&srv, &delay);
    printf("VMDATA %s %s t=%.3f offset=%+.6f\n", S, backend, 0.0, before);
    watch_start(&w);
    if (start_checked(&c, S, backend, &srv) != 0) {
        watch_stop(&w);
        verdict(S, backend, 0, "%s", g_rejected);
        return;
    }
    if (!client_wait_sync(&c, 30)) {
        after = measure(&srv, &delay);
        snapshot(&c);
        client_stop(&c);
        watch_stop(&w);
        verdict(S, backend, 0, "%s: no has_sync=1 within 30 s%s; offset %+.6f s", fam(v6),
                c.stopped ? " (stopped)" : "", after);
        return;
    }
    printf("VMDATA %s %s t=%.3f offset=%+.6f (at sync)\n", S, backend, mono_raw() - c.t0, measure(&srv, NULL));
    client_wait(&c, P.step_secs);
    after = measure(&srv, &delay);
    printf("VMDATA %s %s t=%.3f offset=%+.6f\n", S, backend, mono_raw() - c.t0, after);
    snapshot(&c);
    client_stop(&c);
    watch_stop(&w);
    verdict(S, backend, !isnan(after) && fabs(after) < 0.001,
            "%s: +0.5 s server: offset before %+.6f s, after %+.6f s (limit 0.001), sync after %.1f s, "
            "largest clock jump %+.6f s, delay %.6f s",
            fam(v6), before, after, c.t_sync, w.max_jump / 1e9, delay);
}

static void scenario_slew(const char *backend)
{
    const char *S = "slew";
    int v6 = in_list(P.v6, S);
    struct server srv = server_of(v6, P.port_slew);
    struct client c;
    struct watch w;
    double first, last = NAN, t, prev = NAN;
    int pass, stable = 0;

    if (reset_to_true_time(S, backend) != 0) {
        verdict(S, backend, 0, "could not reset the guest clock to true time");
        return;
    }
    first = measure(&srv, NULL);
    printf("VMDATA %s %s t=%.3f offset=%+.6f\n", S, backend, 0.0, first);
    watch_start(&w);
    if (start_checked(&c, S, backend, &srv) != 0) {
        watch_stop(&w);
        verdict(S, backend, 0, "%s", g_rejected);
        return;
    }
    /* Every 5 s: the offset. Ends after P.slew_secs, or early once well settled. */
    for (t = 5; t <= P.slew_secs + 0.01; t += 5) {
        client_wait(&c, c.t0 + t - mono_raw());
        last = measure(&srv, NULL);
        printf("VMDATA %s %s t=%.3f offset=%+.6f has_sync=%d\n", S, backend, mono_raw() - c.t0, last, c.has_sync);
        stable = (!isnan(last) && fabs(last) < 0.001 && !isnan(prev) && fabs(prev) < 0.001) ? stable + 1 : 0;
        prev = last;
        if (c.stopped || (t >= 45 && stable >= 2))
            break;
    }
    snapshot(&c);
    client_stop(&c);
    watch_stop(&w);
    pass = w.jumps == 0 && !isnan(last) && fabs(last) < 0.002 && !isnan(first) && fabs(last) < fabs(first) &&
           c.ever_sync;
    verdict(S, backend, pass,
            "%s: +20 ms server: offset %+.6f s -> %+.6f s after %.0f s (limit 0.002), steps seen %d, "
            "largest clock jump %+.6f s in %ld samples%s",
            fam(v6), first, last, mono_raw() - c.t0, w.jumps, w.max_jump / 1e9, w.samples,
            c.ever_sync ? "" : ", never synced");
}

static void scenario_freq(const char *backend)
{
    const char *S = "freq";
    int v6 = in_list(P.v6, S);
    struct server srv = server_of(v6, P.port_true);
    struct client c;
    struct timex tx;
    struct rate_mark m0, m1, m_settle, m_end;
    double o0, o1, t, worst = 0, kernel_ppm, drift_ppm;
    char samples[600];
    size_t used = 0;
    int n = 0, bad = 0;
    long tick0;

    if (reset_to_true_time(S, backend) != 0) {
        verdict(S, backend, 0, "could not reset the guest clock to true time");
        return;
    }
    /*
     * Inject about +100 ppm: one more microsecond per 10000 us tick. The
     * library steers through one-shot offset slews (ADJ_OFFSET_SINGLESHOT /
     * adjtime()) and the kernel frequency (ADJ_FREQUENCY, at most +-500 ppm)
     * and never writes ADJ_TICK unless its frequency estimate exceeds the
     * ADJ_FREQUENCY range, so this error persists for the whole run and the
     * library has to cancel it, ideally with a frequency of about -100 ppm.
     */
    kernel_read(&tx);
    tick0 = tx.tick;
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_TICK;
    tx.tick = tick0 + 1;
    if (adjtimex(&tx) < 0) {
        verdict(S, backend, 0, "could not set tick to %ld: %s", tick0 + 1, strerror(errno));
        return;
    }
    /* A short baseline: how fast the guest clock now drifts from true time. */
    m0 = rate_mark();
    o0 = measure(&srv, NULL);
    sleep_s(6);
    m1 = rate_mark();
    o1 = measure(&srv, NULL);
    drift_ppm = -(o1 - o0) / ((m1.raw - m0.raw) / 1e9) * 1e6;
    printf("VMINFO freq %s: tick %ld -> %ld; guest clock drift before the client %+.1f ppm "
           "(kernel realtime vs raw %+.1f ppm)\n",
           backend, tick0, tick0 + 1, drift_ppm, rate_ppm(m0, m1));
    printf("VMDATA %s %s t=%.3f offset=%+.6f\n", S, backend, 0.0, o1);

    if (start_checked(&c, S, backend, &srv) != 0) {
        verdict(S, backend, 0, "%s", g_rejected);
        kernel_defaults();
        return;
    }
    m_settle = rate_mark();
    samples[0] = 0;
    for (t = 5; t <= P.freq_secs + 0.01; t += 5) {
        double off;
        client_wait(&c, c.t0 + t - mono_raw());
        off = measure(&srv, NULL);
        printf("VMDATA %s %s t=%.3f offset=%+.6f has_sync=%d\n", S, backend, mono_raw() - c.t0, off, c.has_sync);
        if (t < P.freq_settle) {
            m_settle = rate_mark();
            continue;
        }
        n++;
        if (isnan(off) || fabs(off) >= 0.001)
            bad++;
        if (isnan(off) || fabs(off) > worst)
            worst = isnan(off) ? INFINITY : fabs(off);
        used += (size_t)snprintf(samples + used, used < sizeof samples ? sizeof samples - used : 0, "%s%+.6f",
                                 used ? "," : "", off);
        if (c.stopped)
            break;
    }
    m_end = rate_mark();
    kernel_read(&tx);
    kernel_ppm = rate_ppm(m_settle, m_end);
    snapshot(&c);
    client_stop(&c);
    verdict(S, backend, n > 0 && bad == 0 && c.ever_sync,
            "%s: tick +1 (+100 ppm): drift before %+.1f ppm; after %.0f s, %d/%d samples |offset| < 0.001 s, "
            "worst %.6f s; kernel freq %ld (%+.3f ppm), tick %ld; kernel rate realtime-raw after settling %+.1f ppm "
            "(the tick alone %+.1f); samples %s",
            fam(v6), drift_ppm, P.freq_settle, n - bad, n, worst, (long)tx.freq, tx.freq / 65536.0, (long)tx.tick,
            kernel_ppm, (tx.tick - default_tick()) * 1e6 / default_tick(), samples);
    kernel_defaults();
}

static void scenario_status(const char *backend)
{
    const char *S = "status";
    char bits[128];
    struct timex *tx = &g_snapshot.tx;
    int pass;

    if (!g_snapshot.have) {
        /* No sync scenario ran for this backend: sync once to the true-time server. */
        struct server srv = server_of(0, P.port_true);
        struct client c;
        if (reset_to_true_time(S, backend) != 0) {
            verdict(S, backend, 0, "could not reset the guest clock to true time");
            return;
        }
        if (start_checked(&c, S, backend, &srv) != 0) {
            verdict(S, backend, 0, "%s", g_rejected);
            return;
        }
        client_wait_sync(&c, 30);
        client_wait(&c, 1);
        snapshot(&c);
        client_stop(&c);
    }
    status_bits(tx->status, bits, sizeof bits);
    if (strcmp(backend, "adjtime") == 0) {
        /* As documented: adjtime(2) has no kernel sync status, so this backend
         * leaves it as the reset left it (UNSYNC set, bounds 16 s). */
        pass = g_snapshot.has_sync && (tx->status & STA_UNSYNC) && tx->maxerror >= 16000000;
        verdict(S, backend, pass,
                "after %s: has_sync=%d status=0x%x(%s) maxerror=%ld us (want: left alone, as documented)",
                g_snapshot.scenario, g_snapshot.has_sync, tx->status, bits, (long)tx->maxerror);
        return;
    }
    pass = g_snapshot.has_sync && !(tx->status & STA_UNSYNC) && tx->maxerror > 0 && tx->maxerror < 1000000 &&
           tx->esterror >= 0 && tx->esterror < 1000000;
    verdict(S, backend, pass,
            "after %s: has_sync=%d status=0x%x(%s) maxerror=%ld us esterror=%ld us freq=%+.3f ppm "
            "(want UNSYNC clear, maxerror/esterror < 1 s)",
            g_snapshot.scenario, g_snapshot.has_sync, tx->status, bits, (long)tx->maxerror, (long)tx->esterror,
            tx->freq / 65536.0);
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    char list[256];
    char *save = NULL, *backend;
    int i;

    setvbuf(stdout, NULL, _IOLBF, 0);
    /*
     * Keep one socket with SO_TIMESTAMPNS open for the whole run: the kernel
     * turns receive timestamping on (a static key, flipped from a work queue)
     * only while some socket wants it, so a fresh socket's first replies would
     * otherwise carry late timestamps whenever no library client is open.
     */
    {
        int on = 1, keep = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (keep < 0 || setsockopt(keep, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0)
            printf("VMINFO could not keep receive timestamping on: %s\n", strerror(errno));
        sleep_s(0.1);
    }
    if (argc > 1)
        for (i = 1; i < argc; i++)
            set_param(argv[i]);
    else
        params_from_cmdline();
    /* Traced always (the reason a worker ends is wanted); printed if P.trace. */
    TiNG_showtrace = show_trace;
    TiNGtrace = 1;
    printf("VMINFO clocktest: backends=%s scenarios=%s servers %s / %s ports true=%d step=%d slew=%d v6=%s "
           "default tick %ld\n",
           P.backends, P.scenarios, P.server4, P.server6, P.port_true, P.port_step, P.port_slew, P.v6,
           default_tick());
    print_kernel("kernel", "boot", "-");

    snprintf(list, sizeof list, "%s", P.backends);
    for (backend = strtok_r(list, ",", &save); backend; backend = strtok_r(NULL, ",", &save)) {
        static const char *order[] = {"step", "slew", "freq", "status"};
        size_t k;
        printf("VMINFO ===== backend %s =====\n", backend);
        g_snapshot.have = 0;
        g_rejected[0] = 0;
        for (k = 0; k < sizeof order / sizeof order[0]; k++) {
            if (!in_list(P.scenarios, order[k]))
                continue;
            if (g_rejected[0]) {
                verdict(order[k], backend, 0, "%s", g_rejected);
                continue;
            }
            printf("VMINFO ----- %s %s -----\n", order[k], backend);
            if (strcmp(order[k], "step") == 0)
                scenario_step(backend);
            else if (strcmp(order[k], "slew") == 0)
                scenario_slew(backend);
            else if (strcmp(order[k], "freq") == 0)
                scenario_freq(backend);
            else
                scenario_status(backend);
        }
        kernel_defaults();
    }
    printf("VMINFO clocktest: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
