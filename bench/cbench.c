/*
 * bench/cbench.c: what prossntp costs a C host program, measured through the
 * public ABI (prossntp.h, prossntp_ext.h). Each subcommand prints key=value
 * lines; scripts/bench.sh runs them inside scripts/testnet.sh (loopback-only
 * namespace, CAP_SYS_TIME dropped) with PROSSNTP_CLOCK=none and writes
 * bench/results/cost.md.
 *
 *   cbench calls      [--quick]        per-call cost of sm_sntp_status,
 *                                      sm_sntp_get_event, prossntp_get_stats,
 *                                      prossntp_gettime from 1, 2 and 8
 *                                      threads (own handles), and of
 *                                      prossntp_gettime from 8 on one handle;
 *                                      the same for prossntp_now, beside a
 *                                      plain clock_gettime(CLOCK_REALTIME)
 *   cbench cycle      [--quick]        create + config + destroy
 *   cbench destroy    [--quick]        destroy latency of synced clients
 *                                      sleeping 64 s
 *   cbench first-sync [--quick]        config to first Sync against chronyd
 *                                      (PROSSNTP_CHRONYD_V4)
 *   cbench wakeups    [--quick]        worker context switches between two
 *                                      requests, server answering or silent
 *   cbench many [N]   [--quick]        N clients (default 1000): time to sync,
 *                                      RSS, threads, idle CPU
 *
 * Options: --server ADDR:PORT (IPv4) instead of starting the test server
 * (PROSSNTP_TESTSERVER, default target/release/prossntp-testserver) for all
 * subcommands but first-sync. Build (scripts/bench.sh does):
 *   cc -O2 -D_GNU_SOURCE -Iinclude bench/cbench.c target/release/libprossntp.a \
 *      -lpthread -ldl -lm -o target/release/cbench
 */
#include "prossntp.h"
#include "prossntp_ext.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ basics */

static int quick;
static const char *server_arg;
static pid_t server_pid;

static void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    stop_server();
    exit(1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double now_s(void)
{
    return now_ns() / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of v[0..n), sorting v. */
static double quantile(double *v, size_t n, double q)
{
    size_t i;
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    i = (size_t)ceil(q * (double)n);
    return v[i == 0 ? 0 : i - 1];
}

static void put(const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s=", key);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
}

static struct sockaddr_in parse_v4(const char *text)
{
    struct sockaddr_in a;
    char host[64];
    const char *colon = strrchr(text, ':');
    memset(&a, 0, sizeof a);
    if (colon == NULL || (size_t)(colon - text) >= sizeof host)
        die("bad IPv4 address:port %s", text);
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || a.sin_port == 0)
        die("bad IPv4 address:port %s", text);
    return a;
}

/* /proc/self/status field `name` (e.g. "VmRSS:"), as a number (kB for sizes). */
static long proc_status(const char *name)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, name, strlen(name)) == 0) {
            v = atol(line + strlen(name));
            break;
        }
    fclose(f);
    return v;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------- test server */

static struct sockaddr_in server;
static const char *server_name = "";

/* Starts the project's test server on 127.0.0.1 (or uses --server). */
static void start_server(void)
{
    const char *path = getenv("PROSSNTP_TESTSERVER");
    int fds[2];
    FILE *in;
    char line[256], addr[256] = "";
    double deadline = now_s() + 10.0;
    if (server_arg != NULL) {
        server = parse_v4(server_arg);
        server_name = server_arg;
        return;
    }
    if (path == NULL || *path == '\0')
        path = "target/release/prossntp-testserver";
    if (pipe(fds) != 0)
        die("pipe: %s", strerror(errno));
    fflush(NULL);
    server_pid = fork();
    if (server_pid < 0)
        die("fork: %s", strerror(errno));
    if (server_pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(path, path, "--listen", "127.0.0.1:0", "--lifetime", "1800", (char *)NULL);
        fprintf(stderr, "cbench: cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    in = fdopen(fds[0], "r");
    while (in != NULL && now_s() < deadline && fgets(line, sizeof line, in) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "listening ", 10) == 0)
            snprintf(addr, sizeof addr, "%s", line + 10);
        else if (strcmp(line, "ready") == 0)
            break;
    }
    if (in != NULL)
        fclose(in);
    if (addr[0] == '\0')
        die("test server %s did not start", path);
    server = parse_v4(addr);
    server_name = "prossntp-testserver";
    atexit(stop_server);
}

/* Sends a control datagram to the test server; returns its answer in `out`. */
static int server_ctl(const char *cmd, char *out, size_t cap)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval tv = {2, 0};
    char msg[256];
    ssize_t n;
    if (s < 0)
        return -1;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    snprintf(msg, sizeof msg, "PROSSNTP-CTL %s", cmd);
    if (sendto(s, msg, strlen(msg), 0, (struct sockaddr *)&server, sizeof server) < 0) {
        close(s);
        return -1;
    }
    n = recv(s, out, cap - 1, 0);
    close(s);
    if (n < 0)
        return -1;
    out[n] = '\0';
    return 0;
}

/* Requests the test server has received; -1 when it cannot tell (chronyd). */
static long server_requests(void)
{
    char answer[128];
    const char *p;
    if (server_pid <= 0 && server_arg != NULL)
        return -1;
    if (server_ctl("stats", answer, sizeof answer) != 0 || (p = strstr(answer, "requests=")) == NULL)
        return -1;
    return atol(p + 9);
}

static void server_mode(const char *mode)
{
    char cmd[64], answer[64];
    snprintf(cmd, sizeof cmd, "mode=%s", mode);
    if (server_ctl(cmd, answer, sizeof answer) != 0 || strcmp(answer, "ok") != 0)
        die("test server did not take %s", cmd);
}

/* ----------------------------------------------------------------- clients */

static tSMSNTPId create(void)
{
    SM_SNTP_CREATE_PARMS c;
    int rc;
    memset(&c, 0, sizeof c);
    c.type = kSMSNTPTypeIPv4;
    if ((rc = sm_sntp_create(&c)) != ERR_SM_OK)
        die("sm_sntp_create: %d (%s)", rc, prossntp_strerror(rc));
    return c.sntp;
}

static void config(tSMSNTPId h, const struct sockaddr_in *to, unsigned long no_reply, unsigned long had_reply)
{
    SM_SNTP_CONFIG_PARMS p;
    int rc;
    memset(&p, 0, sizeof p);
    p.sntp = h;
    p.server = *to;
    p.no_reply_delay = no_reply;
    p.had_reply_delay = had_reply;
    if ((rc = sm_sntp_config(&p)) != ERR_SM_OK)
        die("sm_sntp_config: %d (%s)", rc, prossntp_strerror(rc));
}

static int event_fd(tSMSNTPId h)
{
    SM_SNTP_EVENT_PARMS e;
    memset(&e, 0, sizeof e);
    e.sntp = h;
    if (sm_sntp_get_event(&e) != ERR_SM_OK)
        die("sm_sntp_get_event failed");
    return e.event.fd;
}

/* Reads every pending message; returns 1 if one was Sync with has_sync = 1. */
static int drain_sync(tSMSNTPId h)
{
    SM_SNTP_STATUS_PARMS s;
    int got = 0;
    for (;;) {
        memset(&s, 0, sizeof s);
        s.sntp = h;
        if (sm_sntp_status(&s) != ERR_SM_OK)
            die("sm_sntp_status failed");
        if (s.status == kSMSNTPStatusSync) {
            if (s.u.sync.has_sync)
                got = 1;
            continue;
        }
        if (s.status == kSMSNTPStatusStopped)
            die("client stopped");
        return got;
    }
}

/* Waits (polling the event) until the client reports Sync has_sync=1; 0 on timeout. */
static int wait_sync(tSMSNTPId h, int fd, double timeout)
{
    double deadline = now_s() + timeout;
    struct pollfd p = {fd, POLLIN | POLLPRI, 0};
    for (;;) {
        if (drain_sync(h))
            return 1;
        double left = deadline - now_s();
        if (left <= 0)
            return 0;
        poll(&p, 1, (int)(left * 1000) + 1);
    }
}

static struct prossntp_stats stats_of(tSMSNTPId h)
{
    struct prossntp_stats st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    if (prossntp_get_stats(h, &st) != ERR_SM_OK)
        die("prossntp_get_stats failed");
    return st;
}

/* A client synced against the server, its Sync message read. */
static tSMSNTPId synced_client(unsigned long no_reply, unsigned long had_reply)
{
    tSMSNTPId h = create();
    int fd = event_fd(h);
    config(h, &server, no_reply, had_reply);
    if (!wait_sync(h, fd, 10))
        die("no sync with %s within 10 s", server_name);
    return h;
}

/* ------------------------------------------------------------------- calls */

enum { F_STATUS, F_EVENT, F_STATS, F_GETTIME, F_NOW, F_REALTIME, F_COUNT, F_GETTIME_SHARED = F_COUNT, F_NOW_SHARED };
static const char *const f_names[F_COUNT + 2] = {"status", "get_event",      "get_stats",     "gettime",
                                                 "now",    "clock_realtime", "gettime_shared", "now_shared"};
#define BATCH 100

struct calls_job {
    tSMSNTPId h;
    int f;
    size_t batches;
    double *per_call; /* ns per call of each batch */
    int64_t start, end, cpu;
    pthread_barrier_t *barrier;
};

static void *calls_thread(void *arg)
{
    struct calls_job *j = arg;
    SM_SNTP_STATUS_PARMS s;
    SM_SNTP_EVENT_PARMS e;
    struct prossntp_stats st;
    struct prossntp_time tm;
    struct prossntp_interval iv;
    struct timespec ts;
    int64_t cpu0;
    memset(&tm, 0, sizeof tm);
    tm.size = sizeof tm;
    memset(&iv, 0, sizeof iv);
    iv.size = sizeof iv;
    memset(&s, 0, sizeof s);
    memset(&e, 0, sizeof e);
    memset(&st, 0, sizeof st);
    s.sntp = e.sntp = j->h;
    st.size = sizeof st;
    if (j->barrier != NULL)
        pthread_barrier_wait(j->barrier);
    cpu0 = thread_cpu_ns();
    j->start = now_ns();
    for (size_t b = 0; b < j->batches; b++) {
        int64_t t0 = now_ns();
        int rc = 0;
        switch (j->f) {
        case F_STATUS:
            for (int i = 0; i < BATCH; i++)
                rc |= sm_sntp_status(&s);
            break;
        case F_EVENT:
            for (int i = 0; i < BATCH; i++)
                rc |= sm_sntp_get_event(&e);
            break;
        case F_STATS:
            for (int i = 0; i < BATCH; i++)
                rc |= prossntp_get_stats(j->h, &st);
            break;
        case F_NOW:
        case F_NOW_SHARED:
            for (int i = 0; i < BATCH; i++)
                rc |= prossntp_now(j->h, &iv);
            break;
        case F_REALTIME:
            for (int i = 0; i < BATCH; i++)
                rc |= clock_gettime(CLOCK_REALTIME, &ts);
            break;
        default:
            for (int i = 0; i < BATCH; i++)
                rc |= prossntp_gettime(j->h, &tm);
            break;
        }
        j->per_call[b] = (double)(now_ns() - t0) / BATCH;
        if (rc != ERR_SM_OK)
            die("%s failed in a batch", f_names[j->f]);
    }
    j->end = now_ns();
    j->cpu = thread_cpu_ns() - cpu0;
    return NULL;
}

/* `threads` threads, each on its own client, calling function `f`. */
static void calls_run(tSMSNTPId *clients, int threads, int f, size_t batches)
{
    struct calls_job jobs[8];
    pthread_t tids[8];
    pthread_barrier_t barrier;
    double *all = malloc(sizeof(double) * batches * (size_t)threads);
    int64_t start = INT64_MAX, end = 0, cpu = 0;
    char key[96];
    if (all == NULL)
        die("out of memory");
    pthread_barrier_init(&barrier, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
        jobs[t] = (struct calls_job){clients[t], f, batches, all + (size_t)t * batches, 0, 0, 0, &barrier};
        if (pthread_create(&tids[t], NULL, calls_thread, &jobs[t]) != 0)
            die("pthread_create failed");
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
        if (jobs[t].start < start)
            start = jobs[t].start;
        if (jobs[t].end > end)
            end = jobs[t].end;
        cpu += jobs[t].cpu;
    }
    pthread_barrier_destroy(&barrier);
    double calls = (double)batches * BATCH * threads;
    /* Per-thread: each batch's wall time per call, pooled over the threads. */
    snprintf(key, sizeof key, "%s_t%d_median_ns", f_names[f], threads);
    put(key, "%.1f", quantile(all, batches * (size_t)threads, 0.50));
    snprintf(key, sizeof key, "%s_t%d_p99_ns", f_names[f], threads);
    put(key, "%.1f", quantile(all, batches * (size_t)threads, 0.99));
    /* CPU each call costs its thread, whatever the scheduling. */
    snprintf(key, sizeof key, "%s_t%d_cpu_ns", f_names[f], threads);
    put(key, "%.1f", (double)cpu / calls);
    if (threads > 1) {
        /* Wall time from the first thread's start to the last one's end, per call made. */
        snprintf(key, sizeof key, "%s_t%d_aggregate_ns", f_names[f], threads);
        put(key, "%.1f", (double)(end - start) / calls);
        snprintf(key, sizeof key, "%s_t%d_mcalls_per_s", f_names[f], threads);
        put(key, "%.2f", calls / ((double)(end - start) / 1e9) / 1e6);
    }
    free(all);
}

static int cmd_calls(void)
{
    tSMSNTPId clients[8];
    size_t batches = quick ? 2000 : 20000;
    start_server();
    for (int i = 0; i < 8; i++)
        clients[i] = synced_client(1000, 64000);
    put("server", "%s", server_name);
    put("batch_calls", "%d", BATCH);
    put("batches_per_thread", "%zu", batches);
    put("stats_size", "%zu", sizeof(struct prossntp_stats));
    for (int f = 0; f < F_COUNT; f++) {
        calls_run(clients, 1, f, batches);
        calls_run(clients, 2, f, batches);
        calls_run(clients, 8, f, batches);
    }
    /* prossntp_gettime from 8 threads on one client: the common case. */
    tSMSNTPId one[8];
    for (int i = 0; i < 8; i++)
        one[i] = clients[0];
    calls_run(one, 8, F_GETTIME_SHARED, batches);
    calls_run(one, 8, F_NOW_SHARED, batches);
    for (int i = 0; i < 8; i++)
        sm_sntp_destroy(clients[i]);
    return 0;
}

/* ------------------------------------------------------------------- cycle */

static int cmd_cycle(void)
{
    size_t n = quick ? 200 : 2000;
    double *cycle = malloc(n * sizeof *cycle), *cr = malloc(n * sizeof *cr), *cf = malloc(n * sizeof *cf),
           *de = malloc(n * sizeof *de);
    int fds0, fds1;
    long threads0;
    if (cycle == NULL || cr == NULL || cf == NULL || de == NULL)
        die("out of memory");
    start_server();
    sm_sntp_destroy(create()); /* first-call setup out of the figures */
    fds0 = count_fds();
    threads0 = proc_status("Threads:");
    for (size_t i = 0; i < n; i++) {
        int64_t t0 = now_ns();
        tSMSNTPId h = create();
        int64_t t1 = now_ns();
        config(h, &server, 1000, 64000);
        int64_t t2 = now_ns();
        if (sm_sntp_destroy(h) != ERR_SM_OK)
            die("sm_sntp_destroy failed");
        int64_t t3 = now_ns();
        cr[i] = (t1 - t0) / 1e3;
        cf[i] = (t2 - t1) / 1e3;
        de[i] = (t3 - t2) / 1e3;
        cycle[i] = (t3 - t0) / 1e3;
    }
    fds1 = count_fds();
    put("server", "%s", server_name);
    put("cycles", "%zu", n);
    put("cycle_median_us", "%.1f", quantile(cycle, n, 0.5));
    put("cycle_p99_us", "%.1f", quantile(cycle, n, 0.99));
    put("create_median_us", "%.1f", quantile(cr, n, 0.5));
    put("config_median_us", "%.1f", quantile(cf, n, 0.5));
    put("destroy_median_us", "%.1f", quantile(de, n, 0.5));
    put("destroy_p99_us", "%.1f", quantile(de, n, 0.99));
    put("fds_leaked", "%d", fds1 - fds0);
    put("threads_leaked", "%ld", proc_status("Threads:") - threads0);
    free(cycle), free(cr), free(cf), free(de);
    return 0;
}

/* ----------------------------------------------------------------- destroy */

/* Waits until every client's interval is the long one (its start-up burst and
 * the ramp after it are over: about 66 s at 64 s), and, when the server
 * answers, its last request answered. Returns the last time at which some
 * client was still in them. */
static double wait_burst_over(tSMSNTPId *h, int n, double timeout, int answered)
{
    double deadline = now_s() + timeout, last_busy = now_s();
    for (;;) {
        int busy = 0;
        for (int i = 0; i < n && !busy; i++) {
            struct prossntp_stats st = stats_of(h[i]);
            /* (While a request waits for its reply, the interval reads
             * no_reply_delay: only an answered one shows the schedule.) */
            busy = st.poll_interval < 60.0 || (answered && st.replies < st.requests);
        }
        if (!busy)
            return last_busy;
        last_busy = now_s();
        if (last_busy > deadline)
            die("start-up bursts not over after %.0f s", timeout);
        sleep_s(0.05);
    }
}

static int cmd_destroy(void)
{
    int n = quick ? 10 : 50;
    tSMSNTPId h[50];
    double lat[2][50];
    start_server();
    put("server", "%s", server_name);
    put("clients", "%d", n);
    /* Two rounds: right after sync (the worker sleeps up to 2 s, the start-up
     * burst) and once the burst and the ramp are over (it sleeps 64 s). */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < n; i++)
            h[i] = synced_client(64000, 64000);
        if (round == 1)
            wait_burst_over(h, n, 150, 1);
        for (int i = 0; i < n; i++) {
            int64_t t0 = now_ns();
            if (sm_sntp_destroy(h[i]) != ERR_SM_OK)
                die("sm_sntp_destroy failed");
            lat[round][i] = (now_ns() - t0) / 1e3;
        }
    }
    put("destroy_after_sync_median_us", "%.1f", quantile(lat[0], (size_t)n, 0.5));
    put("destroy_after_sync_max_us", "%.1f", quantile(lat[0], (size_t)n, 1.0));
    put("destroy_idle_64s_median_us", "%.1f", quantile(lat[1], (size_t)n, 0.5));
    put("destroy_idle_64s_max_us", "%.1f", quantile(lat[1], (size_t)n, 1.0));
    return 0;
}

/* -------------------------------------------------------------- first-sync */

/* With NTS (scripts/testnet.sh's chronyd serves it, PROSSNTP_NTS_CA its CA):
 * config to first Sync, key exchange included, beside chronyd itself as an
 * NTS client of the same server (chronyd -Q: start, key exchange, one
 * measurement, exit; each run a fresh key exchange, no cookies kept). */
static void nts_first_sync(const struct sockaddr_in *to, int runs)
{
    const char *ca = getenv("PROSSNTP_NTS_CA");
    const char *ke = getenv("PROSSNTP_NTS_KE_PORT");
    unsigned short ke_port = ke != NULL ? (unsigned short)atoi(ke) : 4460;
    double t[20], tc[20];
    char dir[] = "/tmp/cbench-nts-XXXXXX", conf[128], cmd[256];
    int chronyd_runs = runs < 10 ? runs : 10;
    FILE *f;
    if (ca == NULL || *ca == '\0')
        return;
    for (int i = 0; i < runs; i++) {
        struct prossntp_nts_parms p;
        tSMSNTPId h = create();
        int fd = event_fd(h);
        memset(&p, 0, sizeof p);
        p.size = sizeof p;
        p.server_name = "127.0.0.1";
        p.ca_file = ca;
        p.ke_port = ke_port;
        int64_t t1 = now_ns();
        if (prossntp_config_nts(h, &p) != ERR_SM_OK)
            die("prossntp_config_nts failed");
        config(h, to, 1000, 64000);
        if (!wait_sync(h, fd, 15))
            die("NTS run %d: no sync within 15 s", i);
        t[i] = (now_ns() - t1) / 1e6;
        sm_sntp_destroy(h);
    }
    put("nts_first_sync_median_ms", "%.3f", quantile(t, (size_t)runs, 0.5));
    put("nts_first_sync_max_ms", "%.3f", quantile(t, (size_t)runs, 1.0));
    if (mkdtemp(dir) == NULL)
        die("mkdtemp: %s", strerror(errno));
    snprintf(conf, sizeof conf, "%s/client.conf", dir);
    f = fopen(conf, "w");
    if (f == NULL)
        die("%s: %s", conf, strerror(errno));
    fprintf(f, "server %s port %u nts ntsport %u iburst maxsamples 1\nntstrustedcerts %s\nnosystemcert\n"
               "port 0\ncmdport 0\npidfile %s/chronyd.pid\n",
            inet_ntoa(to->sin_addr), (unsigned)ntohs(to->sin_port), (unsigned)ke_port, ca, dir);
    fclose(f);
    snprintf(cmd, sizeof cmd, "chronyd -Q -u root -f %s >/dev/null 2>&1", conf);
    for (int i = 0; i < chronyd_runs; i++) {
        int64_t t1 = now_ns();
        if (system(cmd) != 0)
            die("chronyd -Q as an NTS client failed (%s)", cmd);
        tc[i] = (now_ns() - t1) / 1e6;
    }
    put("chronyd_nts_runs", "%d", chronyd_runs);
    put("chronyd_nts_first_sample_median_ms", "%.3f", quantile(tc, (size_t)chronyd_runs, 0.5));
    unlink(conf);
    rmdir(dir);
}

static int cmd_first_sync(void)
{
    const char *chronyd = server_arg != NULL ? server_arg : getenv("PROSSNTP_CHRONYD_V4");
    int runs = quick ? 5 : 20;
    double t[20], with_create[20];
    struct sockaddr_in to;
    if (chronyd == NULL || *chronyd == '\0')
        die("first-sync needs PROSSNTP_CHRONYD_V4 (run inside scripts/testnet.sh) or --server");
    to = parse_v4(chronyd);
    put("server", "chronyd %s", chronyd);
    put("runs", "%d", runs);
    for (int i = 0; i < runs; i++) {
        int64_t t0 = now_ns();
        tSMSNTPId h = create();
        int fd = event_fd(h);
        int64_t t1 = now_ns();
        config(h, &to, 1000, 64000);
        if (!wait_sync(h, fd, 10))
            die("run %d: no sync with chronyd within 10 s", i);
        int64_t t2 = now_ns();
        t[i] = (t2 - t1) / 1e6;
        with_create[i] = (t2 - t0) / 1e6;
        sm_sntp_destroy(h);
    }
    put("first_sync_median_ms", "%.3f", quantile(t, (size_t)runs, 0.5));
    put("first_sync_max_ms", "%.3f", quantile(t, (size_t)runs, 1.0));
    put("create_to_sync_median_ms", "%.3f", quantile(with_create, (size_t)runs, 0.5));
    nts_first_sync(&to, runs);
    return 0;
}

/* ----------------------------------------------------------------- wakeups */

/* The worker thread's id: the only thread named "prossntp" (one client alive). */
static long worker_tid(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    long tid = -1;
    int found = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char path[300], comm[64] = "";
        FILE *f;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        if (fgets(comm, sizeof comm, f) != NULL && strncmp(comm, "prossntp", 8) == 0) {
            tid = atol(e->d_name);
            found++;
        }
        fclose(f);
    }
    closedir(d);
    return found == 1 ? tid : -1;
}

/* voluntary + nonvoluntary context switches of thread `tid`. */
static long ctxt_switches(long tid)
{
    char path[128], line[256];
    long v = 0;
    int seen = 0;
    FILE *f;
    snprintf(path, sizeof path, "/proc/self/task/%ld/status", tid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0 ||
            strncmp(line, "nonvoluntary_ctxt_switches:", 27) == 0) {
            v += atol(strchr(line, ':') + 1);
            seen++;
        }
    fclose(f);
    return seen == 2 ? v : -1;
}

/* Context switches summed over every worker thread ("prossntp"), and their number. */
static long workers_switches(int *workers)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    long sum = 0;
    *workers = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char path[300], comm[64] = "";
        FILE *f;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        if (fgets(comm, sizeof comm, f) != NULL && strncmp(comm, "prossntp", 8) == 0) {
            long v = ctxt_switches(atol(e->d_name));
            if (v >= 0) {
                sum += v;
                (*workers)++;
            }
        }
        fclose(f);
    }
    closedir(d);
    return sum;
}

static int cmd_wakeups(void)
{
    double window = quick ? 5.0 : 20.0;
    start_server();
    if (server_pid <= 0)
        die("wakeups needs the test server (silent mode): do not give --server");
    put("server", "%s", server_name);
    put("window_s", "%.0f", window);
    for (int silent = 0; silent < 2; silent++) {
        const char *name = silent ? "silent" : "answering";
        char key[64];
        server_mode("normal");
        tSMSNTPId h = synced_client(64000, 64000);
        long tid = worker_tid();
        if (tid < 0)
            die("cannot find the worker thread");
        if (silent)
            server_mode("silent"); /* the next request goes unanswered */
        wait_burst_over(&h, 1, 150, !silent);
        sleep_s(1.0);
        long req0 = server_requests(), sw0 = ctxt_switches(tid);
        sleep_s(window);
        long sw1 = ctxt_switches(tid), req1 = server_requests();
        struct prossntp_stats st = stats_of(h);
        snprintf(key, sizeof key, "wakeups_%s", name);
        put(key, "%ld", sw1 - sw0);
        snprintf(key, sizeof key, "requests_in_window_%s", name);
        put(key, "%ld", req1 - req0);
        snprintf(key, sizeof key, "has_sync_after_%s", name);
        put(key, "%d", st.has_sync);
        sm_sntp_destroy(h);
    }
    server_mode("normal");
    return 0;
}

/* -------------------------------------------------------------------- many */

static int cmd_many(int n)
{
    double window = quick ? 10.0 : 60.0;
    struct rlimit rl;
    tSMSNTPId *h = calloc((size_t)n, sizeof *h);
    struct pollfd *pf = calloc((size_t)n, sizeof *pf);
    char *synced = calloc((size_t)n, 1);
    int left = n;
    if (h == NULL || pf == NULL || synced == NULL)
        die("out of memory");
    /* Each client holds a socket, an event and a wake descriptor. */
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)n * 4 + 64) {
        rl.rlim_cur = (rlim_t)n * 4 + 64;
        if (rl.rlim_max < rl.rlim_cur)
            rl.rlim_max = rl.rlim_cur;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            die("cannot raise RLIMIT_NOFILE to %lu: %s", (unsigned long)rl.rlim_cur, strerror(errno));
    }
    start_server();
    put("server", "%s", server_name);
    put("clients", "%d", n);
    long rss0 = proc_status("VmRSS:");
    int64_t t0 = now_ns();
    for (int i = 0; i < n; i++) {
        h[i] = create();
        pf[i] = (struct pollfd){event_fd(h[i]), POLLIN | POLLPRI, 0};
        config(h[i], &server, 1000, 64000);
    }
    int64_t t1 = now_ns();
    double deadline = now_s() + 120;
    while (left > 0 && now_s() < deadline) {
        if (poll(pf, (nfds_t)n, 100) <= 0)
            continue;
        for (int i = 0; i < n; i++)
            if (!synced[i] && pf[i].revents) {
                if (drain_sync(h[i])) {
                    synced[i] = 1;
                    pf[i].fd = -1;
                    left--;
                }
            }
    }
    int64_t t2 = now_ns();
    if (left > 0)
        die("%d of %d clients not synced after 120 s", left, n);
    put("create_config_all_s", "%.3f", (t1 - t0) / 1e9);
    put("all_synced_s", "%.3f", (t2 - t0) / 1e9);
    put("rss_before_kib", "%ld", rss0);
    put("rss_kib", "%ld", proc_status("VmRSS:"));
    put("hwm_kib", "%ld", proc_status("VmHWM:"));
    put("rss_per_client_kib", "%.1f", (double)(proc_status("VmRSS:") - rss0) / n);
    put("threads", "%ld", proc_status("Threads:"));
    put("fds", "%d", count_fds());

    /* Idle: every burst over, no request due for the whole window. The last
     * burst request of a client went after `busy` was last seen, so none is
     * due before busy + 64 s. */
    double busy = wait_burst_over(h, n, 150, 0); /* (one lost reply among many would never be answered) */
    double start = now_s() + 1.0;
    if (start + window > busy + 63.0)
        window = busy + 63.0 - start;
    sleep_s(start - now_s());
    int workers0, workers1;
    long req0 = server_requests(), sw0 = workers_switches(&workers0);
    double c0 = cpu_s(), w0 = now_s();
    sleep_s(window);
    double c1 = cpu_s(), w1 = now_s();
    long sw1 = workers_switches(&workers1), req1 = server_requests();
    put("idle_worker_wakeups", "%ld", workers0 == n && workers1 == n ? sw1 - sw0 : -1);
    put("idle_window_s", "%.1f", w1 - w0);
    put("idle_requests", "%ld", req1 - req0);
    put("idle_cpu_ms_per_min", "%.3f", (c1 - c0) * 1e3 * 60.0 / (w1 - w0));
    put("rss_after_idle_kib", "%ld", proc_status("VmRSS:"));
    put("hwm_after_idle_kib", "%ld", proc_status("VmHWM:"));

    int64_t t3 = now_ns();
    for (int i = 0; i < n; i++)
        sm_sntp_destroy(h[i]);
    put("destroy_all_s", "%.3f", (now_ns() - t3) / 1e9);
    free(h), free(pf), free(synced);
    return 0;
}

/* -------------------------------------------------------------------- main */

static void usage(void)
{
    fputs("usage: cbench calls|cycle|destroy|first-sync|wakeups|many [N] [--quick] [--server ADDR:PORT]\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *cmd = NULL;
    int n = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            server_arg = argv[++i];
        else if (cmd == NULL)
            cmd = argv[i];
        else if (strcmp(cmd, "many") == 0 && atoi(argv[i]) > 0)
            n = atoi(argv[i]);
        else
            usage();
    }
    if (cmd == NULL)
        usage();
    if (getenv("PROSSNTP_CLOCK") == NULL || strcmp(getenv("PROSSNTP_CLOCK"), "none") != 0)
        fputs("cbench: note: PROSSNTP_CLOCK is not \"none\"\n", stderr);
    signal(SIGPIPE, SIG_IGN);
    put("command", "%s%s", cmd, quick ? " --quick" : "");
    if (strcmp(cmd, "calls") == 0)
        return cmd_calls();
    if (strcmp(cmd, "cycle") == 0)
        return cmd_cycle();
    if (strcmp(cmd, "destroy") == 0)
        return cmd_destroy();
    if (strcmp(cmd, "first-sync") == 0)
        return cmd_first_sync();
    if (strcmp(cmd, "wakeups") == 0)
        return cmd_wakeups();
    if (strcmp(cmd, "many") == 0)
        return cmd_many(n);
    usage();
    return 2;
}
