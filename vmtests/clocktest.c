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
 *   scenarios  comma list of step,slew,freq,status (all four) and the
 *              one-clock scenarios multi,falseticker,twoproc,foreign,ownclock,suspend
 *              and the runs under host load multiload,multifreq
 *   server4    IPv4 address of the servers (198.51.100.1)
 *   server6    IPv6 address of the servers (2001:db8:51::1)
 *   port_true  chronyd serving true time (11123)
 *   port_step  chronyd serving true time + 0.5 s (11124)
 *   port_slew  chronyd serving true time + 0.02 s (11125)
 *   port_ahead1..3  chronyds serving true time + 0.1 s (11126-11128)
 *   port_false chronyd serving true time + 0.3 s (11129)
 *   port_leap  the project's test server, told by the leap scenario what to serve (11130)
 *   v6         comma list of scenarios whose client and measurements use IPv6 (slew)
 *   trace      1: the library's trace (TiNGtrace) printed as "TRACE <raw s> ..." (1)
 *   step_secs, slew_secs, freq_secs, freq_settle, multi_secs: scenario lengths (10, 90, 100, 40, 40)
 *   multiload_runs  consecutive multi runs of multiload (6)
 *   multifreq  comma list of TICK:PPM, the kernel tick and frequency each
 *              multifreq run starts from (9950:0,10050:0,9955:-500)
 *
 * Output, on stdout (the guest's serial console):
 *   VMTEST <scenario> <backend> PASS|FAIL <details>    one per scenario and backend
 *   VMRUN <scenario> <backend> run=<n> PASS|FAIL ...   one per run of multiload and multifreq
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
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
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

#include "prossntp_ext.h"

/* ------------------------------------------------------------------ params */

static struct {
    char backends[256];
    char scenarios[256];
    char server4[64];
    char server6[64];
    int port_true, port_step, port_slew;
    int port_ahead1, port_ahead2, port_ahead3, port_false, port_leap;
    char v6[128];
    int trace;
    double step_secs, slew_secs, freq_secs, freq_settle, multi_secs;
    int multiload_runs;
    char multifreq[128];
} P = {
    "adjtimex,ntp_adjtime,adjtime",
    "step,slew,freq,status",
    "198.51.100.1",
    "2001:db8:51::1",
    11123, 11124, 11125,
    11126, 11127, 11128, 11129, 11130,
    "slew",
    1,
    10, 90, 100, 40, 40,
    6,
    "9950:0,10050:0,9955:-500",
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
    STR(backends) STR(scenarios) STR(server4) STR(server6) STR(v6) STR(multifreq)
    NUM(multiload_runs)
    NUM(port_true) NUM(port_step) NUM(port_slew) NUM(trace)
    NUM(port_ahead1) NUM(port_ahead2) NUM(port_ahead3) NUM(port_false) NUM(port_leap)
    DBL(step_secs) DBL(slew_secs) DBL(freq_secs) DBL(freq_settle) DBL(multi_secs)
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

/*
 * The median offset of 5 queries (at least 3 answered), NAN when not; the
 * lowest delay to *delay_out and that query's offset to *best_out (either
 * may be NULL).
 */
static double measure2(const struct server *srv, double *delay_out, double *best_out)
{
    double off[5], del[5], d, best;
    int i, n = 0, tries;
    for (tries = 0; tries < 8 && n < 5; tries++) {
        if (sntp_once(srv, &off[n], &del[n]) == 0)
            n++;
        sleep_s(0.02);
    }
    if (n < 3)
        return NAN;
    d = del[0];
    best = off[0];
    for (i = 1; i < n; i++)
        if (del[i] < d) {
            d = del[i];
            best = off[i];
        }
    if (delay_out)
        *delay_out = d;
    if (best_out)
        *best_out = best;
    qsort(off, (size_t)n, sizeof off[0], cmp_double);
    return off[n / 2];
}

/* The median offset of 5 queries (at least 3 answered), NAN when not. */
static double measure(const struct server *srv, double *delay_out)
{
    return measure2(srv, delay_out, NULL);
}

/*
 * The offset of the lowest-delay one of 5 queries, and that delay: the
 * server's time then lay within delay / 2 of guest time + offset (t1 is read
 * in user space, so the send path counts in the delay, which a TCG guest
 * makes long). NAN when fewer than 3 answered.
 */
static double measure_best(const struct server *srv, double *delay_out)
{
    double off, del, best_off = NAN, best_del = INFINITY;
    int n = 0, tries;
    for (tries = 0; tries < 8 && n < 5; tries++) {
        if (sntp_once(srv, &off, &del) == 0) {
            n++;
            if (del < best_del) {
                best_del = del;
                best_off = off;
            }
        }
        sleep_s(0.02);
    }
    *delay_out = best_del;
    return n < 3 ? NAN : best_off;
}

/*
 * Steps the guest clock to true time (the independent measurement of the
 * true-time server) after putting the kernel discipline back to defaults.
 */
static int step_to_true_time(const char *scenario, const char *backend, const char *what, double close,
                             double good_enough);

static int reset_to_true_time(const char *scenario, const char *backend)
{
    if (kernel_defaults() != 0)
        printf("VMINFO reset %s %s: adjtimex defaults failed: %s\n", scenario, backend, strerror(errno));
    /* As after a reboot: no record of an earlier owner of the clock. */
    unlink("/run/prossntp.lock");
    /* The kernel applies a one-shot slew in 1 s chunks: let the current one end. */
    sleep_s(1.1);
    /* Good enough for every scenario's criteria, if not as close as wanted. */
    return step_to_true_time(scenario, backend, "", 0.0002, 0.002);
}

/*
 * Steps the guest clock by the offset measured to the true-time server, up
 * to 3 times until within `close` s; 0 when within `good_enough` s at the
 * end. `what` goes into the trace line after "reset <scenario> <backend>: ".
 */
static int step_to_true_time(const char *scenario, const char *backend, const char *what, double close,
                             double good_enough)
{
    struct server truth = server_of(0, P.port_true);
    double after = NAN;
    int attempt;
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
        printf("VMINFO reset %s %s: %sstepped by %+.6f s, now offset %+.6f s (delay %.6f s)\n", scenario, backend,
               what, off, after, delay);
        if (!isnan(after) && fabs(after) < close)
            return 0;
    }
    return !isnan(after) && fabs(after) < good_enough ? 0 : -1;
}

/* ------------------------------------------------------ library client */

/* The library's last "worker ends: WHY" trace line, for the verdicts. */
static char g_worker_end[512];
/* Clock actions the library traced (steps and slews it applied). */
static volatile int g_clock_actions;

static int show_trace(const char *fmt, va_list ap)
{
    char line[1024];
    const char *why;
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = 0;
    /* The owner traces every clock action it applies: "prossntp: <backend> Step|Slew ...". */
    if (strstr(line, " Step ") || strstr(line, " Slew "))
        g_clock_actions++;
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

/* Reads C's pending status messages. */
static void client_drain(struct client *c)
{
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

/* Waits on the events of N clients (the sntp_poll.c pattern) for up to SECS, reading status changes. */
static void clients_wait(struct client *cs, int n, double secs)
{
    double end = mono_raw() + secs;
    for (;;) {
        double left = end - mono_raw();
        struct pollfd pfd[8];
        int i, k = 0, idx[8];
        if (left <= 0)
            return;
        for (i = 0; i < n && k < 8; i++) {
            /* The event stays readable once stopped: leave such a client out. */
            if (cs[i].sntp && !cs[i].stopped) {
                pfd[k].fd = cs[i].fd;
                pfd[k].events = (short)cs[i].mode;
                idx[k++] = i;
            }
        }
        if (k == 0) {
            sleep_s(left);
            return;
        }
        if (poll(pfd, (nfds_t)k, (int)(left * 1000) + 1) <= 0)
            continue;
        for (i = 0; i < k; i++)
            if (pfd[i].revents)
                client_drain(&cs[idx[i]]);
    }
}

static void client_wait(struct client *c, double secs)
{
    clients_wait(c, 1, secs);
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

static double own_excess(tSMSNTPId sntp, const struct server *srv, double *err_out, double *bound_out);

static void scenario_step(const char *backend)
{
    const char *S = "step";
    int v6 = in_list(P.v6, S);
    struct server srv = server_of(v6, P.port_step);
    struct client c;
    struct watch w;
    double before, after, delay = 0, own_vs_host = NAN, own_bound = 0, own_excess_v = NAN;

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
    /* The library steers the clock to the server: its own clock (prossntp_gettime) must agree with the
     * host clock to within its bound, give or take the host clock's own measured error. */
    {
        double own_err = NAN;
        own_excess_v = own_excess(c.sntp, &srv, &own_err, &own_bound);
        own_vs_host = own_err;
    }
    snapshot(&c);
    client_stop(&c);
    watch_stop(&w);
    verdict(S, backend,
            !isnan(after) && fabs(after) < 0.001 && !isnan(own_excess_v) && own_excess_v <= 0,
            "%s: +0.5 s server: offset before %+.6f s, after %+.6f s (limit 0.001), sync after %.1f s, "
            "largest clock jump %+.6f s, delay %.6f s; own clock error %+.6f s (bound %.6f s, beyond it and clocktest's "
            "half delay %+.6f s)",
            fam(v6), before, after, c.t_sync, w.max_jump / 1e9, delay, own_vs_host, own_bound, own_excess_v);
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
        double off, best = NAN;
        client_wait(&c, c.t0 + t - mono_raw());
        off = measure2(&srv, NULL, &best);
        printf("VMDATA %s %s t=%.3f offset=%+.6f has_sync=%d\n", S, backend, mono_raw() - c.t0, off, c.has_sync);
        if (t < P.freq_settle) {
            m_settle = rate_mark();
            continue;
        }
        n++;
        /* Within 1 ms by the median or by the lowest-delay query, as
         * multiload judges: one host hiccup across the 5 queries must not
         * read as the clock's error. */
        if (isnan(off) || (fabs(off) >= 0.001 && !(fabs(best) < 0.001)))
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


/* ------------------------------------------------- one clock, many clients */

static int stats_of(struct client *c, struct prossntp_stats *st)
{
    memset(st, 0, sizeof *st);
    st->size = sizeof *st;
    return c->sntp ? prossntp_get_stats(c->sntp, st) : -1;
}

static const char *role_name(int role)
{
    static const char *names[] = {"candidate", "selected", "combined", "falseticker", "measuring", "standing-down"};
    return role >= 0 && role < 6 ? names[role] : "?";
}

static void print_stats(const char *scenario, const char *who, struct client *c)
{
    struct prossntp_stats st;
    if (stats_of(c, &st) != 0)
        return;
    printf("VMINFO %s %s: has_sync=%d steering=%d role=%s not_steering=%d owner_pid=%d sources=%d truechimers=%d "
           "steps=%llu slews=%llu offset=%+.6f detail=\"%s\"\n",
           scenario, who, st.has_sync, st.steering, role_name(st.role), st.not_steering, st.clock_owner_pid,
           st.sources, st.truechimers, (unsigned long long)st.steps, (unsigned long long)st.slews, st.offset,
           st.role_detail);
}

/* The kernel's frequency in force, in ppm: freq plus the tick's departure from nominal. */
static double kernel_ppm(const struct timex *tx)
{
    long dt = default_tick();
    return tx->freq / 65536.0 + (double)(tx->tick - dt) * 1e6 / (double)dt;
}

/* What one run of three clients against three servers measured. */
struct multi_result {
    double first, last, worst_after10, lowest;
    unsigned long long steps, corrections;
    int synced, ok;
    struct prossntp_stats st[3];
    struct timex start_tx, end_tx; /* the kernel before the clients start, and at the end */
    double max_ppm;                /* largest |kernel frequency| read every 2 s during the run */
    double max_set_ppm;            /* the same, of the reads whose freq or tick differ from the start's */
    double t_sync[3];
};

/*
 * One process, three clients to SRV[0..2], offsets measured to SRV[0] every
 * 2 s for P.multi_secs, the kernel's frequency (freq and tick) read at the same
 * moments. The caller has put the guest clock where it wants it. Returns -1
 * (g_rejected set) if the library refused the backend.
 */
static int multi_core(const char *S, const char *backend, const struct server *srv, struct multi_result *r)
{
    struct client cs[3];
    struct timex tx;
    double t, off;
    int i;

    memset(r, 0, sizeof *r);
    r->last = NAN;
    r->lowest = INFINITY;
    r->ok = 1;
    kernel_read(&r->start_tx);
    r->first = measure(&srv[0], NULL);
    printf("VMDATA %s %s t=%.3f offset=%+.6f freq=%+.3f tick=%ld ppm=%+.1f\n", S, backend, 0.0, r->first,
           r->start_tx.freq / 65536.0, (long)r->start_tx.tick, kernel_ppm(&r->start_tx));
    memset(cs, 0, sizeof cs);
    g_clock_actions = 0;
    for (i = 0; i < 3; i++) {
        if (start_checked(&cs[i], S, backend, &srv[i]) != 0) {
            while (i-- > 0)
                client_stop(&cs[i]);
            return -1;
        }
    }
    for (t = 2; t <= P.multi_secs + 0.01; t += 2) {
        double ppm, delay = NAN;
        clients_wait(cs, 3, cs[0].t0 + t - mono_raw());
        off = measure(&srv[0], &delay);
        kernel_read(&tx);
        ppm = kernel_ppm(&tx);
        if (fabs(ppm) > r->max_ppm)
            r->max_ppm = fabs(ppm);
        if ((tx.freq != r->start_tx.freq || tx.tick != r->start_tx.tick) && fabs(ppm) > r->max_set_ppm)
            r->max_set_ppm = fabs(ppm);
        printf("VMDATA %s %s t=%.3f offset=%+.6f has_sync=%d,%d,%d freq=%+.3f tick=%ld ppm=%+.1f delay=%.6f\n", S,
               backend, mono_raw() - cs[0].t0, off, cs[0].has_sync, cs[1].has_sync, cs[2].has_sync,
               tx.freq / 65536.0, (long)tx.tick, ppm, delay);
        if (isnan(off)) {
            r->ok = 0;
            continue;
        }
        r->last = off;
        if (off < r->lowest)
            r->lowest = off;
        if (t > 10 && fabs(off) > r->worst_after10)
            r->worst_after10 = fabs(off);
    }
    for (i = 0; i < 3; i++) {
        print_stats(S, i == 2 && srv[2].port == P.port_false ? "falseticker's client" : "client", &cs[i]);
        stats_of(&cs[i], &r->st[i]);
        r->steps += r->st[i].steps;
        r->corrections += r->st[i].steps + r->st[i].slews;
        r->synced += r->st[i].has_sync;
        r->t_sync[i] = cs[i].t_sync;
    }
    snapshot(&cs[0]);
    kernel_read(&r->end_tx);
    for (i = 0; i < 3; i++)
        client_stop(&cs[i]);
    return 0;
}

/*
 * multi: one process, three clients, three servers that agree (+0.1 s).
 * falseticker: the same, the third server +0.3 s (200 ms from the others).
 * The guest starts at true time; offsets are measured to the first +0.1 s
 * server (so "toward the falseticker" is a negative offset).
 */
static void scenario_multi(const char *backend, int with_false)
{
    const char *S = with_false ? "falseticker" : "multi";
    struct server srv[3];
    struct multi_result r;

    srv[0] = server_of(0, P.port_ahead1);
    srv[1] = server_of(0, P.port_ahead2);
    srv[2] = server_of(0, with_false ? P.port_false : P.port_ahead3);
    if (reset_to_true_time(S, backend) != 0) {
        verdict(S, backend, 0, "could not reset the guest clock to true time");
        return;
    }
    if (multi_core(S, backend, srv, &r) != 0) {
        verdict(S, backend, 0, "%s", g_rejected);
        return;
    }
    if (!with_false) {
        verdict(S, backend,
                r.ok && r.steps == 1 && r.worst_after10 < 0.005 && !isnan(r.last) && fabs(r.last) < 0.001 &&
                    r.synced == 3,
                "3 clients, 3 servers +0.1 s: offset %+.6f s -> %+.6f s; steps %llu (want 1), corrections %llu "
                "(traced %d); worst |offset| after 10 s %.6f s (limit 0.005), at the end %+.6f s (limit 0.001); "
                "has_sync %d of 3",
                r.first, r.last, r.steps, r.corrections, g_clock_actions, r.worst_after10, r.last, r.synced);
    } else {
        int false_ok = r.st[2].has_sync == 0 && r.st[2].role == PROSSNTP_ROLE_FALSETICKER &&
                       r.st[2].steps + r.st[2].slews == 0;
        verdict(S, backend,
                r.ok && !isnan(r.last) && fabs(r.last) < 0.001 && r.lowest > -0.005 && false_ok &&
                    r.st[0].has_sync && r.st[1].has_sync,
                "2 servers +0.1 s, 1 +0.3 s: offset %+.6f s -> %+.6f s (limit 0.001); most toward the falseticker "
                "%+.6f s (limit -0.005); steps %llu; falseticker's client has_sync=%d role=%s corrections=%llu; "
                "the others has_sync=%d,%d",
                r.first, r.last, r.lowest, r.steps, r.st[2].has_sync, role_name(r.st[2].role),
                (unsigned long long)(r.st[2].steps + r.st[2].slews), r.st[0].has_sync, r.st[1].has_sync);
    }
}

/*
 * Steps the guest clock to true time and nothing else: the kernel's
 * frequency, tick, status and any adjustment still pending stay as the
 * previous run (or the scenario) left them. With the clock running up to
 * 5000 ppm off, it moves 5 us per ms while clocktest measures, so a few
 * milliseconds are accepted (the +0.1 s servers are then 0.1 s ahead, give or
 * take that).
 */
static int reset_time_only(const char *scenario, const char *backend)
{
    unlink("/run/prossntp.lock");
    return step_to_true_time(scenario, backend, "time only, ", 0.002, 0.005);
}

/*
 * One run of multiload or multifreq: the multi setup (three clients, three
 * servers +0.1 s) from whatever kernel frequency and tick are in force. It
 * passes when the clock ends within 1 ms of the servers and at least two of
 * the three clients have has_sync = 1. Prints a VMRUN line; returns 1 if it passed.
 */
static int multi_run(const char *S, const char *backend, int run, int full_reset)
{
    struct server srv[3];
    struct multi_result r;
    char start[96];
    int pass;

    srv[0] = server_of(0, P.port_ahead1);
    srv[1] = server_of(0, P.port_ahead2);
    srv[2] = server_of(0, P.port_ahead3);
    printf("VMINFO ----- %s %s run %d -----\n", S, backend, run);
    if ((full_reset ? reset_to_true_time(S, backend) : reset_time_only(S, backend)) != 0) {
        printf("VMRUN %s %s run=%d FAIL could not put the guest clock at true time\n", S, backend, run);
        return 0;
    }
    print_kernel("kernel-start", S, backend);
    if (multi_core(S, backend, srv, &r) != 0) {
        printf("VMRUN %s %s run=%d FAIL %s\n", S, backend, run, g_rejected);
        return 0;
    }
    snprintf(start, sizeof start, "%+.1f ppm (tick %ld, freq %+.3f)", kernel_ppm(&r.start_tx),
             (long)r.start_tx.tick, r.start_tx.freq / 65536.0);
    /* The final offset again from the lowest-delay query of 5 (under host
     * load a median can carry a slow query's error; the clock stands still
     * now that the clients are gone). The clock must be within 1 ms by
     * either, and a majority of the clients synchronised. */
    double best_delay, best = measure_best(&srv[0], &best_delay);
    double final = (!isnan(best) && (isnan(r.last) || fabs(best) < fabs(r.last))) ? best : r.last;
    pass = r.ok && !isnan(final) && fabs(final) < 0.001 && r.synced >= 2;
    printf("VMRUN %s %s run=%d %s start %s; final offset %+.6f s (median %+.6f, lowest-delay query %+.6f s, "
           "delay %.6f s; limit 0.001); has_sync %d of 3 "
           "(first at %.1f/%.1f/%.1f s); end %+.1f ppm (tick %ld, freq %+.3f); max |freq| read %.1f ppm, "
           "set by the library %.1f ppm; steps %llu, "
           "corrections %llu; offset %+.6f s at the start, worst after 10 s %.6f s\n",
           S, backend, run, pass ? "PASS" : "FAIL", start, final, r.last, best, best_delay, r.synced, r.t_sync[0],
           r.t_sync[1], r.t_sync[2],
           kernel_ppm(&r.end_tx), (long)r.end_tx.tick, r.end_tx.freq / 65536.0, r.max_ppm, r.max_set_ppm, r.steps,
           r.corrections,
           r.first, r.worst_after10);
    return pass;
}

/*
 * multiload: P.multiload_runs runs of the multi setup in a row, each from the
 * kernel state the previous one left (only the time is put back; the first
 * run starts from boot defaults). Meant to run with the host's CPUs busy
 * (scripts/vm-test.sh starts the load around this VM).
 */
static void scenario_multiload(const char *backend)
{
    const char *S = "multiload";
    int run, passed = 0, n = P.multiload_runs > 0 ? P.multiload_runs : 1;
    for (run = 1; run <= n; run++) {
        if (g_rejected[0])
            break;
        passed += multi_run(S, backend, run, run == 1);
    }
    if (g_rejected[0])
        verdict(S, backend, 0, "%s", g_rejected);
    else
        verdict(S, backend, passed == n,
                "%d of %d consecutive runs (3 clients, 3 servers +0.1 s, 40 s each, kernel frequency and tick "
                "carried over) ended within 1 ms with has_sync at least 2 of 3 (VMRUN lines)",
                passed, n);
}

/*
 * multifreq: the multi setup from kernel frequencies far off, as a library
 * that ran away would leave them: for each TICK:PPM of P.multifreq, the
 * kernel discipline is reset, then tick and frequency set to those values,
 * the time put back and the three clients run.
 */
static void scenario_multifreq(const char *backend)
{
    const char *S = "multifreq";
    char list[128], *save = NULL, *w;
    int run = 0, passed = 0;
    snprintf(list, sizeof list, "%s", P.multifreq);
    for (w = strtok_r(list, ",", &save); w && !g_rejected[0]; w = strtok_r(NULL, ",", &save)) {
        struct timex tx;
        long tick = atol(w);
        const char *colon = strchr(w, ':');
        double ppm = colon ? atof(colon + 1) : 0;
        run++;
        if (kernel_defaults() != 0)
            printf("VMINFO reset %s %s: adjtimex defaults failed: %s\n", S, backend, strerror(errno));
        memset(&tx, 0, sizeof tx);
        tx.modes = ADJ_TICK | ADJ_FREQUENCY;
        tx.tick = tick;
        tx.freq = (long)llround(ppm * 65536.0);
        if (adjtimex(&tx) < 0) {
            printf("VMRUN %s %s run=%d FAIL adjtimex tick %ld freq %+.1f ppm: %s\n", S, backend, run, tick, ppm,
                   strerror(errno));
            continue;
        }
        sleep_s(1.1); /* the one-shot slew kernel_defaults cancelled ends its current chunk */
        passed += multi_run(S, backend, run, 0);
    }
    if (g_rejected[0])
        verdict(S, backend, 0, "%s", g_rejected);
    else
        verdict(S, backend, run > 0 && passed == run,
                "%d of %d runs from kernel tick:ppm %s (3 clients, 3 servers +0.1 s, 40 s each) ended within 1 ms "
                "with has_sync at least 2 of 3 (VMRUN lines)",
                passed, run, P.multifreq);
}

/* Reads the child's latest "steering corrections role" line, if one came. */
static int read_child(int fd, int *steering, int *corrections)
{
    char buf[512];
    ssize_t n;
    int got = 0;
    while ((n = read(fd, buf, sizeof buf - 1)) > 0) {
        char *line, *save = NULL;
        buf[n] = 0;
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            if (sscanf(line, "%d %d", steering, corrections) == 2)
                got = 1;
    }
    return got;
}

/*
 * twoproc: two processes on the guest, one client each, both steering
 * backends: exactly one steers (the host lock); kill -9 it and the other
 * steers within one poll (had_reply 4 s).
 */
static void scenario_twoproc(const char *backend)
{
    const char *S = "twoproc";
    struct server srv = server_of(0, P.port_true);
    struct client c;
    struct prossntp_stats st;
    int pfd[2], child_steering = -1, child_corr = 0, parent_steering, parent_corr, owner_pid;
    double t_kill, takeover = INFINITY, end;
    pid_t pid;

    if (reset_to_true_time(S, backend) != 0) {
        verdict(S, backend, 0, "could not reset the guest clock to true time");
        return;
    }
    if (pipe(pfd) != 0) {
        verdict(S, backend, 0, "pipe: %s", strerror(errno));
        return;
    }
    pid = fork();
    if (pid == 0) {
        struct client cc;
        close(pfd[0]);
        P.trace = 0;
        if (client_start(&cc, "twoproc-child", backend, &srv) != 0)
            _exit(1);
        for (;;) {
            char line[64];
            int n;
            client_wait(&cc, 0.25);
            stats_of(&cc, &st);
            n = snprintf(line, sizeof line, "%d %d %d\n", st.steering, (int)(st.steps + st.slews), st.role);
            if (write(pfd[1], line, (size_t)n) < 0)
                _exit(0);
        }
    }
    close(pfd[1]);
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    /* The child asks first, so it owns the clock. */
    end = mono_raw() + 15;
    while (mono_raw() < end && child_steering != 1) {
        sleep_s(0.2);
        read_child(pfd[0], &child_steering, &child_corr);
    }
    if (start_checked(&c, S, backend, &srv) != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(pfd[0]);
        verdict(S, backend, 0, "%s", g_rejected);
        return;
    }
    g_clock_actions = 0;
    client_wait(&c, 10);
    read_child(pfd[0], &child_steering, &child_corr);
    stats_of(&c, &st);
    print_stats(S, "second process", &c);
    parent_steering = st.steering;
    parent_corr = (int)(st.steps + st.slews) + g_clock_actions;
    owner_pid = st.clock_owner_pid;
    printf("VMINFO %s %s: first process (pid %d) steering=%d corrections=%d; second steering=%d, names pid %d\n", S,
           backend, (int)pid, child_steering, child_corr, parent_steering, owner_pid);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(pfd[0]);
    t_kill = mono_raw();
    end = t_kill + 20;
    while (mono_raw() < end) {
        client_wait(&c, 0.1);
        if (stats_of(&c, &st) == 0 && st.steering) {
            takeover = mono_raw() - t_kill;
            break;
        }
    }
    client_wait(&c, 6);
    stats_of(&c, &st);
    print_stats(S, "second process after the kill", &c);
    snapshot(&c);
    client_stop(&c);
    verdict(S, backend,
            child_steering == 1 && child_corr > 0 && parent_steering == 0 && parent_corr == 0 && owner_pid == (int)pid &&
                takeover <= 4.5 && st.steps + st.slews > 0,
            "first process steering=%d (%d corrections); second steering=%d (%d corrections), names the owner pid %d "
            "(first is %d); after kill -9 the second steers in %.2f s (limit 4.5: one poll) and made %llu corrections",
            child_steering, child_corr, parent_steering, parent_corr, owner_pid, (int)pid, takeover,
            (unsigned long long)(st.steps + st.slews));
}

/* A daemon that drives the kernel PLL as systemd-timesyncd does, every 2 s. */
static void pll_daemon(void)
{
    struct server truth = server_of(0, P.port_true);
    for (;;) {
        struct timex tx;
        double off = measure(&truth, NULL);
        memset(&tx, 0, sizeof tx);
        tx.modes = ADJ_STATUS | ADJ_NANO | ADJ_OFFSET | ADJ_TIMECONST | ADJ_MAXERROR | ADJ_ESTERROR;
        tx.status = STA_PLL;
        tx.offset = isnan(off) ? 0 : (long)(off * 1e9);
        tx.constant = 2;
        tx.maxerror = 10000;
        tx.esterror = 100;
        adjtimex(&tx);
        sleep_s(2);
    }
}

/* Starts chronyd in the guest, steering the clock from the true-time server. */
static pid_t start_guest_chronyd(void)
{
    FILE *f = fopen("/tmp/guest-chrony.conf", "w");
    pid_t pid;
    if (!f)
        return -1;
    fprintf(f, "server %s port %d iburst minpoll 1 maxpoll 1\ncmdport 0\nbindcmdaddress /\npidfile /tmp/chronyd.pid\n",
            P.server4, P.port_true);
    fclose(f);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execl("/usr/sbin/chronyd", "chronyd", "-d", "-u", "root", "-f", "/tmp/guest-chrony.conf", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/*
 * foreign: another discipline in the guest, (a) chronyd with a server,
 * (b) a program driving the kernel PLL as timesyncd does. The library's
 * client (to the +20 ms server: any steering of ours would show) must
 * stand down within two polls and change neither frequency nor phase.
 */
static void scenario_foreign(const char *backend)
{
    const char *S = "foreign";
    const char *kind[2] = {"chronyd", "kernel-PLL daemon"};
    struct server slew = server_of(0, P.port_slew), truth = server_of(0, P.port_true);
    char details[2][400];
    int pass[2] = {0, 0}, k;

    for (k = 0; k < 2; k++) {
        struct client c;
        struct prossntp_stats st;
        struct timex tx;
        double t_down = INFINITY, end, off;
        pid_t pid;

        if (reset_to_true_time(S, backend) != 0) {
            snprintf(details[k], sizeof details[k], "%s: could not reset the guest clock", kind[k]);
            continue;
        }
        pid = k == 0 ? start_guest_chronyd() : fork();
        if (pid == 0)
            pll_daemon(); /* k == 1: the child */
        if (pid < 0) {
            snprintf(details[k], sizeof details[k], "%s: could not start it", kind[k]);
            continue;
        }
        /* Let it take the clock: chronyd's first updates, the PLL's first offsets. */
        end = mono_raw() + 20;
        do {
            sleep_s(0.5);
            kernel_read(&tx);
        } while (mono_raw() < end && tx.maxerror >= 16000000);
        sleep_s(4);
        print_kernel("kernel", S, kind[k]);
        g_clock_actions = 0;
        if (start_checked(&c, S, backend, &slew) != 0) {
            snprintf(details[k], sizeof details[k], "%s: %s", kind[k], g_rejected);
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            continue;
        }
        end = c.t0 + 12;
        while (mono_raw() < end) {
            client_wait(&c, 0.2);
            if (stats_of(&c, &st) == 0 && st.role == PROSSNTP_ROLE_STANDING_DOWN && !isfinite(t_down))
                t_down = mono_raw() - c.t0;
        }
        stats_of(&c, &st);
        print_stats(S, kind[k], &c);
        off = measure(&truth, NULL);
        client_stop(&c);
        kill(pid, k == 0 ? SIGTERM : SIGKILL);
        waitpid(pid, NULL, 0);
        /* Two polls: the first request at once, the second 4 s later. */
        pass[k] = t_down <= 8.0 && st.not_steering == PROSSNTP_STEER_FOREIGN && st.steps + st.slews == 0 &&
                  g_clock_actions == 0 && st.has_sync && !isnan(off) && fabs(off) < 0.005;
        snprintf(details[k], sizeof details[k],
                 "%s: standing down after %.2f s (limit 8: two polls), not_steering=%d (%s), corrections %llu, "
                 "traced clock actions %d, has_sync=%d, guest vs true time %+.6f s (the +20 ms server not followed)",
                 kind[k], t_down, st.not_steering, st.role_detail, (unsigned long long)(st.steps + st.slews),
                 g_clock_actions, st.has_sync, off);
    }
    kernel_defaults();
    verdict(S, backend, pass[0] && pass[1], "%s; %s", details[0], details[1]);
}

/* ------------------------------------------------------------ own clock */

/*
 * A thread reading prossntp_gettime every millisecond: counts reversals, and
 * the largest difference between the own clock's advance and the raw
 * clock's between two reads (a jump; a slew of the estimate moves it by at
 * most 0.5 us per ms).
 */
struct own_watch {
    pthread_t th;
    tSMSNTPId sntp;
    volatile int run;
    long reads, reversals;
    double max_jump;
};

static void *own_watch_main(void *arg)
{
    struct own_watch *w = arg;
    int64_t last_own = 0, last_raw = 0;
    while (w->run) {
        struct prossntp_time t;
        struct timespec r1, r2;
        memset(&t, 0, sizeof t);
        t.size = sizeof t;
        clock_gettime(CLOCK_MONOTONIC_RAW, &r1);
        if (prossntp_gettime(w->sntp, &t) == 0 && t.synced) {
            int64_t own = ns_of(&t.time), raw;
            clock_gettime(CLOCK_MONOTONIC_RAW, &r2);
            raw = (ns_of(&r1) + ns_of(&r2)) / 2;
            if (last_own != 0 && own < last_own)
                w->reversals++;
            /* Only a call not preempted (its raw reads 0.1 ms apart at most) says what the own clock did. */
            if (ns_of(&r2) - ns_of(&r1) < 100000) {
                if (last_own != 0 && raw - last_raw < 5000000) {
                    double jump = fabs((double)((own - last_own) - (raw - last_raw))) / 1e9;
                    if (jump > w->max_jump)
                        w->max_jump = jump;
                }
                last_own = own;
                last_raw = raw;
            }
            w->reads++;
        }
        sleep_s(0.001);
    }
    return NULL;
}

/* |own time - the server's time| less its error bound and less clocktest's
 * own uncertainty (half its query's delay), the server's time being the
 * guest clock plus clocktest's own measured offset to it. */
static double own_excess(tSMSNTPId sntp, const struct server *srv, double *err_out, double *bound_out)
{
    struct prossntp_time t;
    struct timespec before, after;
    double delay = 0, off = measure_best(srv, &delay), err, host, width;
    memset(&t, 0, sizeof t);
    t.size = sizeof t;
    /* The call's own clock read lies between two guest clock reads (in a
     * TCG guest a clock read can be a slow system call). */
    clock_gettime(CLOCK_REALTIME, &before);
    if (isnan(off) || prossntp_gettime(sntp, &t) != 0 || !t.synced)
        return NAN;
    clock_gettime(CLOCK_REALTIME, &after);
    host = (double)(ns_of(&before) + ns_of(&after)) / 2e9;
    width = (double)(ns_of(&after) - ns_of(&before)) / 1e9;
    err = ((double)ns_of(&t.time) / 1e9 - host) - off;
    *err_out = err;
    *bound_out = t.error_bound;
    return fabs(err) - t.error_bound - delay / 2 - width / 2;
}

static void scenario_ownclock(const char *backend)
{
    const char *S = "ownclock";
    struct server srv = server_of(0, P.port_step);
    struct client c;
    struct own_watch w;
    struct prossntp_stats st;
    struct timex tx;
    double t, worst = -1, err = 0, bound = 0, worst_err = 0, worst_bound = 0;
    int pass;

    if (reset_to_true_time(S, backend) != 0) {
        verdict(S, backend, 0, "could not reset the guest clock to true time");
        return;
    }
    /* The client measures only; this program steps and slews the clock. */
    if (start_checked(&c, S, "none", &srv) != 0) {
        verdict(S, backend, 0, "%s", g_rejected);
        return;
    }
    if (!client_wait_sync(&c, 30)) {
        client_stop(&c);
        verdict(S, backend, 0, "no has_sync=1 within 30 s");
        return;
    }
    client_wait(&c, 10);
    memset(&w, 0, sizeof w);
    w.sntp = c.sntp;
    w.run = 1;
    pthread_create(&w.th, NULL, own_watch_main, &w);
    for (t = 0; t <= 40; t += 2) {
        double excess;
        if (t == 10) {
            /* A step of +1 s. */
            struct timespec now;
            int64_t ns;
            clock_gettime(CLOCK_REALTIME, &now);
            ns = ns_of(&now) + 1000000000;
            now.tv_sec = (time_t)(ns / 1000000000);
            now.tv_nsec = (long)(ns % 1000000000);
            clock_settime(CLOCK_REALTIME, &now);
            printf("VMINFO %s %s: guest clock stepped +1 s\n", S, backend);
        }
        if (t == 20) {
            /* +500 ppm of frequency and a 0.4 s one-shot slew (500 ppm more). */
            memset(&tx, 0, sizeof tx);
            tx.modes = ADJ_FREQUENCY;
            tx.freq = 500L << 16;
            adjtimex(&tx);
            memset(&tx, 0, sizeof tx);
            tx.modes = ADJ_OFFSET_SINGLESHOT;
            tx.offset = 400000;
            adjtimex(&tx);
            printf("VMINFO %s %s: guest clock at +500 ppm and slewing +0.4 s\n", S, backend);
        }
        excess = own_excess(c.sntp, &srv, &err, &bound);
        printf("VMDATA %s %s t=%.3f own_error=%+.6f bound=%.6f\n", S, backend, t, err, bound);
        if (!isnan(excess) && excess > worst) {
            worst = excess;
            worst_err = err;
            worst_bound = bound;
        }
        client_wait(&c, 2);
    }
    w.run = 0;
    pthread_join(w.th, NULL);
    stats_of(&c, &st);
    client_stop(&c);
    kernel_defaults();
    /* Within the bound, give or take clocktest's own measurement (half its delay, taken off above). */
    pass = w.reads > 1000 && w.reversals == 0 && w.max_jump < 0.001 && worst <= 0 && st.own_clock_steps == 0;
    verdict(S, backend, pass,
            "+0.5 s server, guest clock stepped +1 s at 10 s and slewed at 1000 ppm from 20 s: %ld reads, %ld "
            "reversals, largest jump %.6f s (limit 0.001), worst error %+.6f s against a bound of %.6f s "
            "(excess beyond the bound and clocktest's own half delay %+.6f, limit 0), own-clock steps %llu",
            w.reads, w.reversals, w.max_jump, worst_err, worst_bound, worst, (unsigned long long)st.own_clock_steps);
}

/* ------------------------------------------------------------------- leap */

/* Sends the test server at `srv` a control command; 0 on "ok". */
static int ts_control(const struct server *srv, const char *cmd)
{
    struct sockaddr_in a;
    char msg[256], reply[64];
    struct pollfd pfd;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -1, tries;
    ssize_t n;
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)srv->port);
    inet_pton(AF_INET, srv->addr, &a.sin_addr);
    snprintf(msg, sizeof msg, "PROSSNTP-CTL %s", cmd);
    for (tries = 0; tries < 3 && rc != 0; tries++) {
        if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a) < 0)
            break;
        pfd.fd = fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 1000) == 1 && (n = recv(fd, reply, sizeof reply - 1, 0)) > 0) {
            reply[n] = 0;
            rc = strcmp(reply, "ok") == 0 ? 0 : -1;
            break;
        }
    }
    close(fd);
    return rc;
}

/*
 * leap: a leap second inserted by the guest's kernel. The project's test
 * server (on the host) is told to serve 2026-12-31 23:59:20 UTC from now on
 * and to announce, and make, a second inserted at midnight. A steering
 * client steps the guest clock to it, then passes the announcement to the
 * kernel (STA_INS); at midnight the kernel inserts the second (its clock
 * repeats 23:59:59), as the server does. Every 0.5 s across midnight the
 * guest's offset to the server is measured, and the client's own clock
 * (prossntp_now, which applies the announced second itself) is checked
 * against the server's time.
 */
static void scenario_leap(const char *backend)
{
    const char *S = "leap";
    const long long new_year = 1798761600LL; /* 2027-01-01 00:00:00 UTC */
    struct server srv = server_of(0, P.port_leap);
    struct client c;
    struct prossntp_stats st;
    struct timex tx;
    char cmd[128];
    double worst_after = 0, worst_excess = -1, delay = 0;
    int ins_seen = 0, reads = 0, pass;
    struct timespec now;

    if (reset_to_true_time(S, backend) != 0) {
        verdict(S, backend, 0, "could not reset the guest clock to true time");
        return;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(cmd, sizeof cmd, "offset=%.6f leap=1", (double)(new_year - 40) - ((double)now.tv_sec + now.tv_nsec * 1e-9));
    if (ts_control(&srv, cmd) != 0) {
        verdict(S, backend, 0, "the test server on port %d did not take \"%s\"", srv.port, cmd);
        return;
    }
    if (start_checked(&c, S, backend, &srv) != 0) {
        verdict(S, backend, 0, "%s", g_rejected);
        return;
    }
    if (!client_wait_sync(&c, 30)) {
        client_stop(&c);
        verdict(S, backend, 0, "no has_sync=1 within 30 s");
        return;
    }
    for (;;) {
        struct prossntp_interval iv;
        double off, guest, excess;
        clock_gettime(CLOCK_REALTIME, &now);
        guest = (double)now.tv_sec + now.tv_nsec * 1e-9;
        if (guest > (double)new_year + 12 || ++reads > 400)
            break;
        memset(&tx, 0, sizeof tx);
        adjtimex(&tx);
        if (tx.status & STA_INS)
            ins_seen = 1;
        off = measure_best(&srv, &delay);
        memset(&iv, 0, sizeof iv);
        iv.size = sizeof iv;
        /* The server's time at the read: between the guest clock read just
         * before and just after it, plus clocktest's own offset. */
        {
            double g1, g2, t, lo, hi;
            clock_gettime(CLOCK_REALTIME, &now);
            g1 = (double)now.tv_sec + now.tv_nsec * 1e-9;
            prossntp_now(c.sntp, &iv);
            clock_gettime(CLOCK_REALTIME, &now);
            g2 = guest = (double)now.tv_sec + now.tv_nsec * 1e-9;
            t = (double)iv.time.tv_sec + iv.time.tv_nsec * 1e-9;
            lo = g1 + off;
            hi = g2 + off;
            /* (Across the guest's own leap the two reads may straddle it.) */
            if (hi < lo)
                hi = lo + 1.0;
            excess = (t < lo ? lo - t : t > hi ? t - hi : 0) - iv.error_bound - delay / 2;
        }
        if (!isnan(off) && excess > worst_excess)
            worst_excess = excess;
        if (guest > (double)new_year + 2 && !isnan(off) && fabs(off) > worst_after)
            worst_after = fabs(off);
        printf("VMDATA %s %s t=%.3f offset=%+.6f own_bound=%.6f status=%d leap=%d sta_ins=%d tai=%d\n", S, backend,
               guest - (double)new_year, off, iv.error_bound, iv.status, iv.leap, !!(tx.status & STA_INS),
               (int)tx.tai);
        sleep_s(0.5);
    }
    stats_of(&c, &st);
    client_stop(&c);
    kernel_defaults();
    pass = ins_seen && worst_after < 0.005 && st.steps == 1 && worst_excess <= 0;
    verdict(S, backend, pass,
            "a server at 2026-12-31 23:59:20 announcing an inserted second: STA_INS set %s; after midnight the "
            "guest within %.6f s of the server (limit 0.005: the kernel inserted it); steps %llu (want 1, the first); "
            "own clock beyond its bound by at most %+.6f s (limit 0, clocktest's half delay allowed)",
            ins_seen ? "yes" : "no", worst_after, (unsigned long long)st.steps, worst_excess);
}

/* ---------------------------------------------------------------- suspend */

/* Writes `text` to the file at `path`; 0 or an errno. */
static int put_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return errno;
    if (write(fd, text, strlen(text)) < 0)
        rc = errno;
    close(fd);
    return rc;
}

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/*
 * suspend: the guest suspends to RAM (ACPI S3, "deep"; suspend-to-idle does
 * not stop the clocks under qemu's emulation) for about 5 s, woken by an RTC
 * alarm. CLOCK_MONOTONIC_RAW and CLOCK_MONOTONIC stand still meanwhile,
 * CLOCK_BOOTTIME and CLOCK_REALTIME run on. The own clock, anchored to the
 * raw clock, would read some 5 s behind with a bound of microseconds: the
 * first prossntp_now after the resume must say DISRUPTED (unbounded); the
 * client samples at once and is synchronised again within seconds, the truth
 * inside its interval. Last in its VM: after a resume the guest cannot power
 * off (init exits, the kernel panics, qemu ends with -no-reboot).
 */
static void scenario_suspend(const char *backend)
{
    const char *S = "suspend";
    struct server srv = server_of(0, P.port_true);
    struct client c;
    struct prossntp_interval before, after, again;
    double raw0, mono0, boot0, t0, resync = -1, excess, err = 0, bound = 0;
    int rc, pass;

    if (reset_to_true_time(S, backend) != 0) {
        verdict(S, backend, 0, "could not reset the guest clock to true time");
        return;
    }
    if (start_checked(&c, S, "none", &srv) != 0) {
        verdict(S, backend, 0, "%s", g_rejected);
        return;
    }
    memset(&before, 0, sizeof before);
    before.size = sizeof before;
    if (prossntp_wait_bound(c.sntp, 0.01, 30000, &before) != ERR_SM_OK) {
        client_stop(&c);
        verdict(S, backend, 0, "not synchronised with a bound of 10 ms within 30 s");
        return;
    }
    client_wait(&c, 6);
    if ((rc = put_file("/sys/power/mem_sleep", "deep")) != 0 || (rc = put_file("/sys/class/rtc/rtc0/wakealarm", "0")) != 0 ||
        (rc = put_file("/sys/class/rtc/rtc0/wakealarm", "+5")) != 0) {
        client_stop(&c);
        verdict(S, backend, 0, "cannot arm a suspend to RAM woken by the RTC: %s", strerror(rc));
        return;
    }
    memset(&before, 0, sizeof before);
    before.size = sizeof before;
    prossntp_now(c.sntp, &before);
    raw0 = clock_s(CLOCK_MONOTONIC_RAW);
    mono0 = clock_s(CLOCK_MONOTONIC);
    boot0 = clock_s(CLOCK_BOOTTIME);
    printf("VMINFO %s %s: suspending to RAM for 5 s (status %d, bound %.6f s)\n", S, backend, before.status,
           before.error_bound);
    rc = put_file("/sys/power/state", "mem");
    /* Resumed: the first read, before anything else. */
    memset(&after, 0, sizeof after);
    after.size = sizeof after;
    prossntp_now(c.sntp, &after);
    {
        double raw = clock_s(CLOCK_MONOTONIC_RAW) - raw0, mono = clock_s(CLOCK_MONOTONIC) - mono0,
               boot = clock_s(CLOCK_BOOTTIME) - boot0;
        printf("VMINFO %s %s: resumed (write %s): raw +%.3f s, monotonic +%.3f s, boot +%.3f s; first read: status "
               "%d, bound %g s\n",
               S, backend, rc ? strerror(rc) : "ok", raw, mono, boot, after.status, after.error_bound);
        if (rc != 0 || boot - mono < 2.0) {
            client_stop(&c);
            verdict(S, backend, 0, "the guest did not suspend (write: %s; boot clock %.3f s ahead of monotonic)",
                    rc ? strerror(rc) : "ok", boot - mono);
            return;
        }
    }
    t0 = mono_raw();
    memset(&again, 0, sizeof again);
    again.size = sizeof again;
    if (prossntp_wait_bound(c.sntp, 0.01, 20000, &again) == ERR_SM_OK)
        resync = mono_raw() - t0;
    excess = own_excess(c.sntp, &srv, &err, &bound);
    printf("VMDATA %s %s t=%.3f own_error=%+.6f bound=%.6f\n", S, backend, resync, err, bound);
    client_stop(&c);
    pass = after.status == PROSSNTP_TIME_DISRUPTED && isinf(after.error_bound) && after.earliest.tv_sec == 0 &&
           resync >= 0 && resync < 10 && !isnan(excess) && excess <= 0;
    verdict(S, backend, pass,
            "suspended to RAM for about 5 s: first read after the resume status %d (want %d, disrupted), bound %g; "
            "synchronised again within 10 ms after %.3f s (limit 10); then error %+.6f s against a bound of %.6f s "
            "(excess %+.6f, limit 0)",
            after.status, PROSSNTP_TIME_DISRUPTED, after.error_bound, resync, err, bound, excess);
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
        static const char *order[] = {"step", "slew", "freq", "ownclock", "multi", "falseticker", "twoproc", "foreign",
                                      "multiload", "multifreq", "status", "leap", "suspend"};
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
            else if (strcmp(order[k], "multi") == 0)
                scenario_multi(backend, 0);
            else if (strcmp(order[k], "falseticker") == 0)
                scenario_multi(backend, 1);
            else if (strcmp(order[k], "twoproc") == 0)
                scenario_twoproc(backend);
            else if (strcmp(order[k], "foreign") == 0)
                scenario_foreign(backend);
            else if (strcmp(order[k], "ownclock") == 0)
                scenario_ownclock(backend);
            else if (strcmp(order[k], "multiload") == 0)
                scenario_multiload(backend);
            else if (strcmp(order[k], "multifreq") == 0)
                scenario_multifreq(backend);
            else if (strcmp(order[k], "leap") == 0)
                scenario_leap(backend);
            else if (strcmp(order[k], "suspend") == 0)
                scenario_suspend(backend);
            else
                scenario_status(backend);
        }
        kernel_defaults();
    }
    printf("VMINFO clocktest: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
