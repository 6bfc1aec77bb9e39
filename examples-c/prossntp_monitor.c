/*
 * prossntp-monitor: watches one SNTP server through a prossntp client and
 * prints what the client sees, one key=value line per event.
 *
 *   prossntp-monitor [-6] [-p PORT] [-l LOCAL_ADDR] [-n NO_REPLY_MS]
 *                    [-r HAD_REPLY_MS] [-b BACKEND] [-c COUNT] [-t SECONDS]
 *                    [-q] SERVER
 *
 * SERVER and LOCAL_ADDR are numeric addresses (IPv4, or IPv6 with an optional
 * %scope). -6 insists on IPv6. -p is the server's port (123), -n and -r the
 * client's no_reply_delay and had_reply_delay in ms (1000 and 64000). -b sets
 * PROSSNTP_CLOCK (auto, adjtimex, ntp_adjtime, adjtime or none) for the
 * client; without it the environment decides, and `none` only measures.
 * -c stops after COUNT samples, -t after SECONDS; with both, running out of
 * time first is an error. -q leaves out the sample lines. SIGINT and SIGTERM
 * stop it cleanly.
 *
 * Output (stdout, line-buffered). Every line starts with the UTC time of the
 * event, then space-separated key=value fields; a value is either free of
 * spaces and quotes or is "double-quoted" (with no quote inside). The lines:
 *
 *   TIME start version=V server=ADDR:PORT local=ADDR no_reply_ms=N had_reply_ms=N clock=NAME
 *   TIME status=Sync|Stopped has_sync=0|1 state=idle|running|stopped|ended
 *   TIME sample n=N offset=+S sample_offset=+S delay=S jitter=S freq_ppm=+F
 *        stratum=N refid=ID leap=N poll=S server=ADDR:PORT backend=NAME
 *        steering=0|1 rejected=N kod=N steps=N slews=N role=ROLE not_steering=N
 *        server_time=YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ own_offset=+S own_error_bound=S
 *   TIME summary end=count|time|signal|stopped|error samples=N requests=N
 *        replies=N rejected=N [rejected.REASON=N rejected.REASON.text="..."]...
 *        kod=N steps=N slews=N steps_refused=N [last_errno=N last_error="..."
 *        last_error_age=S]
 *
 * (a sample line is one line; it is wrapped here). A sample is a valid reply
 * the client used (its `replies` counter grew); the stats are read after each
 * event and every 100 ms, so a sample is reported up to 100 ms late, and n is
 * the counter's value (samples between two reads share one line). Offsets
 * are server time minus local time, in seconds; server_time is the server's
 * time from the client's own clock (prossntp_gettime, once it has a sample),
 * own_offset that time less this host's clock read just after, and
 * own_error_bound the bound the library gives for server_time; refid is ASCII for stratum 1
 * and a dotted quad otherwise. Errors go to stderr as
 * "prossntp-monitor: ...".
 *
 * Exit status: 0; 1 on an error, when the client stops (kiss-o'-death, or its
 * worker ended) or when -t ends the run before -c samples; 2 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "prossntp.h"
#include "prossntp_ext.h"

#define PROGRAM "prossntp-monitor"
/* How often the stats are read when no event comes, ms. */
#define STATS_INTERVAL_MS 100

static volatile sig_atomic_t signalled;

static void on_signal(int sig)
{
    (void)sig;
    signalled = 1;
}

/* ------------------------------------------------------------------ output */

/* One output line, built up and written at once. */
struct line {
    char text[4096];
    size_t len;
};

static void add(struct line *l, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (l->len >= sizeof l->text - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(l->text + l->len, sizeof l->text - l->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    l->len += (size_t)n;
    if (l->len > sizeof l->text - 1)
        l->len = sizeof l->text - 1;
}

/* Starts a line with the current UTC time, to the millisecond. */
static void begin(struct line *l)
{
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    l->len = 0;
    l->text[0] = '\0';
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL ||
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        add(l, "0000-00-00T00:00:00.000Z");
        return;
    }
    add(l, "%s.%03ldZ", stamp, ts.tv_nsec / 1000000L);
}

/* Adds ` key="text"`, the text made safe: no quotes, no control characters. */
static void add_quoted(struct line *l, const char *key, const char *text)
{
    char safe[256];
    size_t i;
    for (i = 0; text[i] != '\0' && i < sizeof safe - 1; i++) {
        unsigned char c = (unsigned char)text[i];
        safe[i] = (c < 0x20 || c == 0x7f || c == '"') ? '?' : (char)c;
    }
    safe[i] = '\0';
    add(l, " %s=\"%s\"", key, safe);
}

/* Writes a line; returns -1 when stdout fails (a closed pipe, a full disk). */
static int emit(struct line *l)
{
    add(l, "\n");
    if (fputs(l->text, stdout) == EOF || fflush(stdout) == EOF)
        return -1;
    return 0;
}

static void error_msg(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", PROGRAM);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ------------------------------------------------------------------ stats */

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

/* Short keys for the rejection reasons (PROSSNTP_REJECT_* order). */
static const char *const reject_keys[] = {
    "wrong_source", "truncated", "not_server_mode", "wrong_version", "bad_origin", "unsynchronized",
    "bad_stratum", "zero_timestamp", "implausible_time", "root_distance", "negative_delay",
};

static int get_stats(tSMSNTPId sntp, struct prossntp_stats *st)
{
    int rc;
    memset(st, 0, sizeof *st);
    st->size = (uint32_t)sizeof *st;
    rc = prossntp_get_stats(sntp, st);
    if (rc != ERR_SM_OK)
        error_msg("prossntp_get_stats failed: %s (%d)", prossntp_strerror(rc), rc);
    return rc;
}

/* What the client's server is to the clock, as a word. */
static const char *role_name(int role)
{
    switch (role) {
    case PROSSNTP_ROLE_CANDIDATE: return "candidate";
    case PROSSNTP_ROLE_SELECTED: return "selected";
    case PROSSNTP_ROLE_COMBINED: return "combined";
    case PROSSNTP_ROLE_FALSETICKER: return "falseticker";
    case PROSSNTP_ROLE_MEASURING: return "measuring";
    case PROSSNTP_ROLE_STANDING_DOWN: return "standing-down";
    default: return "unknown";
    }
}

/* The reference id: ASCII for stratum 1 (a source name), else a dotted quad. */
static void format_refid(const struct prossntp_stats *st, char *out, size_t cap)
{
    const uint8_t *id = st->reference_id;
    if (st->stratum == 1) {
        size_t i, n = 0;
        for (i = 0; i < 4 && id[i] != 0 && n < cap - 1; i++)
            out[n++] = (id[i] > 0x20 && id[i] < 0x7f && id[i] != '"') ? (char)id[i] : '?';
        out[n] = '\0';
        if (n == 0)
            snprintf(out, cap, "-");
    } else {
        snprintf(out, cap, "%u.%u.%u.%u", id[0], id[1], id[2], id[3]);
    }
}

/* The server's time from the client's own clock (prossntp_gettime), its
 * error bound, and that time less this host's clock read right after. */
static void add_own_clock(struct line *l, tSMSNTPId sntp)
{
    struct prossntp_time t;
    struct timespec host;
    struct tm tm;
    char when[32];
    memset(&t, 0, sizeof t);
    t.size = sizeof t;
    if (prossntp_gettime(sntp, &t) != ERR_SM_OK || !t.synced)
        return;
    clock_gettime(CLOCK_REALTIME, &host);
    gmtime_r(&t.time.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    add(l, " server_time=%s.%09ldZ own_offset=%+.9f own_error_bound=%.9f", when, (long)t.time.tv_nsec,
        (double)(t.time.tv_sec - host.tv_sec) + (t.time.tv_nsec - host.tv_nsec) * 1e-9, t.error_bound);
}

static int print_sample(tSMSNTPId sntp, const struct prossntp_stats *st)
{
    struct line l;
    char refid[16];
    format_refid(st, refid, sizeof refid);
    begin(&l);
    add(&l, " sample n=%llu offset=%+.9f sample_offset=%+.9f delay=%.9f jitter=%.9f freq_ppm=%+.3f",
        (unsigned long long)st->replies, st->offset, st->sample_offset, st->delay, st->jitter, st->frequency);
    add(&l, " stratum=%d refid=%s leap=%d poll=%g server=%s backend=%s steering=%d", (int)st->stratum, refid,
        (int)st->leap, st->poll_interval, st->server[0] ? st->server : "-", st->backend[0] ? st->backend : "-",
        (int)st->steering);
    add(&l, " rejected=%llu kod=%llu steps=%llu slews=%llu", (unsigned long long)st->rejected_total,
        (unsigned long long)st->kod_received, (unsigned long long)st->steps, (unsigned long long)st->slews);
    /* The role fields came with 1.1.0: an older library leaves them out. */
    if (st->size >= offsetof(struct prossntp_stats, role_detail) + sizeof st->role_detail)
        add(&l, " role=%s not_steering=%d", role_name(st->role), (int)st->not_steering);
    add_own_clock(&l, sntp);
    return emit(&l);
}

static int print_status(const SM_SNTP_STATUS_PARMS *status, const struct prossntp_stats *st)
{
    struct line l;
    begin(&l);
    add(&l, " status=%s has_sync=%d state=%s", status->status == kSMSNTPStatusSync ? "Sync" : "Stopped",
        status->status == kSMSNTPStatusSync ? status->u.sync.has_sync : (int)st->has_sync, state_name(st->state));
    if (status->status == kSMSNTPStatusStopped && st->last_error[0] != '\0')
        add_quoted(&l, "last_error", st->last_error);
    return emit(&l);
}

static int print_summary(const char *end, const struct prossntp_stats *st)
{
    struct line l;
    int i;
    begin(&l);
    add(&l, " summary end=%s samples=%llu requests=%llu replies=%llu rejected=%llu", end,
        (unsigned long long)st->replies, (unsigned long long)st->requests, (unsigned long long)st->replies,
        (unsigned long long)st->rejected_total);
    for (i = 0; i < PROSSNTP_REJECT_SLOTS; i++) {
        const char *text = prossntp_reject_text(i);
        char key[64];
        if (st->rejected[i] == 0)
            continue;
        if (i < (int)(sizeof reject_keys / sizeof reject_keys[0]))
            snprintf(key, sizeof key, "rejected.%s", reject_keys[i]);
        else
            snprintf(key, sizeof key, "rejected.reason%d", i);
        add(&l, " %s=%llu", key, (unsigned long long)st->rejected[i]);
        strncat(key, ".text", sizeof key - strlen(key) - 1);
        add_quoted(&l, key, text != NULL ? text : "unknown reason");
    }
    add(&l, " kod=%llu steps=%llu slews=%llu steps_refused=%llu", (unsigned long long)st->kod_received,
        (unsigned long long)st->steps, (unsigned long long)st->slews, (unsigned long long)st->steps_refused);
    if (st->last_error[0] != '\0') {
        add(&l, " last_errno=%d", (int)st->last_errno);
        add_quoted(&l, "last_error", st->last_error);
        add(&l, " last_error_age=%.3f", st->last_error_age);
    }
    return emit(&l);
}

/* ------------------------------------------------------------------ arguments */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: " PROGRAM " [-6] [-p PORT] [-l LOCAL_ADDR] [-n NO_REPLY_MS] [-r HAD_REPLY_MS]\n"
            "                        [-b BACKEND] [-c COUNT] [-t SECONDS] [-q] SERVER\n"
            "  SERVER          numeric IPv4 or IPv6 address of the SNTP server\n"
            "  -6              require IPv6\n"
            "  -p PORT         server port (123)\n"
            "  -l LOCAL_ADDR   numeric local address to send from (any)\n"
            "  -n NO_REPLY_MS  retry interval while no reply comes (1000)\n"
            "  -r HAD_REPLY_MS interval after a reply (64000)\n"
            "  -b BACKEND      clock backend: auto adjtimex ntp_adjtime adjtime none\n"
            "                  (sets PROSSNTP_CLOCK; none = measure only)\n"
            "  -c COUNT        exit after COUNT samples\n"
            "  -t SECONDS      exit after SECONDS (with -c: an error if COUNT not reached)\n"
            "  -q              no sample lines: status changes and the summary only\n"
            "  -h              this help\n"
            "Prints one key=value line per status change and per sample, and a summary.\n"
            "Exit status: 0 ok, 1 error or client stopped, 2 usage.\n");
}

/* Parses an unsigned decimal in [min, max]; returns 0, or -1 if not one. */
static int parse_ulong(const char *text, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;
    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Resolves a numeric address of `family` (AF_UNSPEC: either) into `out`;
 * its family goes to `*out_family` unless that is NULL. */
static int numeric_address(const char *text, int family, struct sockaddr_storage *out, int *out_family)
{
    struct addrinfo hints, *res = NULL;
    int rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST;
    rc = getaddrinfo(text, NULL, &hints, &res);
    if (rc != 0) {
        error_msg("%s: not a numeric %saddress (%s)", text,
                  family == AF_INET6 ? "IPv6 " : family == AF_INET ? "IPv4 " : "", gai_strerror(rc));
        return -1;
    }
    if ((res->ai_family != AF_INET && res->ai_family != AF_INET6) || res->ai_addrlen > sizeof *out) {
        error_msg("%s: unsupported address family", text);
        freeaddrinfo(res);
        return -1;
    }
    memset(out, 0, sizeof *out);
    memcpy(out, res->ai_addr, res->ai_addrlen);
    if (out_family != NULL)
        *out_family = res->ai_family;
    freeaddrinfo(res);
    return 0;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    int opt, rc, family = AF_UNSPEC, quiet = 0, exit_code = 0;
    unsigned long port = 123, no_reply = 1000, had_reply = 64000, count = 0;
    double limit = 0, deadline = 0;
    const char *local = NULL, *backend = NULL, *end = NULL, *clock_env;
    struct sockaddr_storage server, local_addr;
    struct sigaction sa;
    sigset_t block, old;
    SM_SNTP_CREATE_PARMS create;
    SM_SNTP_EVENT_PARMS event;
    struct prossntp_stats st;
    unsigned long long seen = 0;
    char server_text[INET6_ADDRSTRLEN + 96];

    while ((opt = getopt(argc, argv, "6p:l:n:r:b:c:t:qh")) != -1) {
        switch (opt) {
        case '6': family = AF_INET6; break;
        case 'p':
            if (parse_ulong(optarg, 1, 65535, &port) != 0) {
                error_msg("-p %s: not a port (1..65535)", optarg);
                return 2;
            }
            break;
        case 'l': local = optarg; break;
        case 'n':
        case 'r':
            if (parse_ulong(optarg, 0, ULONG_MAX, opt == 'n' ? &no_reply : &had_reply) != 0) {
                error_msg("-%c %s: not a number of milliseconds", opt, optarg);
                return 2;
            }
            break;
        case 'b': backend = optarg; break;
        case 'c':
            if (parse_ulong(optarg, 1, ULONG_MAX, &count) != 0) {
                error_msg("-c %s: not a count (1 or more)", optarg);
                return 2;
            }
            break;
        case 't': {
            char *e;
            errno = 0;
            limit = strtod(optarg, &e);
            if (errno != 0 || *e != '\0' || e == optarg || !(limit > 0) || limit > 1e9) {
                error_msg("-t %s: not a number of seconds above 0", optarg);
                return 2;
            }
            break;
        }
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return 2;
    }
    if (no_reply == 0 || no_reply > had_reply) {
        error_msg("-n %lu -r %lu: need 0 < NO_REPLY_MS <= HAD_REPLY_MS", no_reply, had_reply);
        return 2;
    }
    if (numeric_address(argv[optind], family, &server, &family) != 0)
        return 2;
    if (local != NULL) {
        if (numeric_address(local, family, &local_addr, NULL) != 0)
            return 2;
    }
    if (backend != NULL && setenv("PROSSNTP_CLOCK", backend, 1) != 0) {
        error_msg("setenv PROSSNTP_CLOCK: %s", strerror(errno));
        return 1;
    }
    clock_env = getenv("PROSSNTP_CLOCK");

    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0) {
        error_msg("setvbuf: %s", strerror(errno));
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR */
    if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        error_msg("sigaction: %s", strerror(errno));
        return 1;
    }
    sa.sa_handler = SIG_IGN; /* a closed stdout is a write error, not death */
    if (sigaction(SIGPIPE, &sa, NULL) != 0) {
        error_msg("sigaction: %s", strerror(errno));
        return 1;
    }

    /* The client's worker thread inherits the signal mask: block SIGINT and
     * SIGTERM while it is created so that they reach this thread's poll(). */
    memset(&create, 0, sizeof create);
    create.module = kSMNullModuleId;
    create.type = family == AF_INET6 ? kSMSNTPTypeIPv6 : kSMSNTPTypeIPv4;
    create.address.s_addr = htonl(INADDR_ANY);
    create.ipv6_address = in6addr_any;
    if (local != NULL) {
        if (family == AF_INET6)
            create.ipv6_address = ((struct sockaddr_in6 *)&local_addr)->sin6_addr;
        else
            create.address = ((struct sockaddr_in *)&local_addr)->sin_addr;
    }
    if (sigemptyset(&block) != 0 || sigaddset(&block, SIGINT) != 0 || sigaddset(&block, SIGTERM) != 0 ||
        (rc = pthread_sigmask(SIG_BLOCK, &block, &old)) != 0) {
        error_msg("cannot block signals");
        return 1;
    }
    rc = sm_sntp_create(&create);
    if ((errno = pthread_sigmask(SIG_SETMASK, &old, NULL)) != 0) {
        error_msg("pthread_sigmask: %s", strerror(errno));
        if (rc == ERR_SM_OK)
            sm_sntp_destroy(create.sntp);
        return 1;
    }
    if (rc != ERR_SM_OK) {
        error_msg("sm_sntp_create failed: %s (%d)", prossntp_strerror(rc), rc);
        return 1;
    }

    memset(&event, 0, sizeof event);
    event.sntp = create.sntp;
    if ((rc = sm_sntp_get_event(&event)) != ERR_SM_OK) {
        error_msg("sm_sntp_get_event failed: %s (%d)", prossntp_strerror(rc), rc);
        sm_sntp_destroy(create.sntp);
        return 1;
    }

    if (family == AF_INET6) {
        SM_SNTP_CONFIG_IPV6_PARMS cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.sntp = create.sntp;
        memcpy(&cfg.server, &server, sizeof cfg.server);
        cfg.server.sin6_port = htons((unsigned short)port);
        cfg.no_reply_delay = no_reply;
        cfg.had_reply_delay = had_reply;
        rc = sm_sntp_config_ipv6(&cfg);
    } else {
        SM_SNTP_CONFIG_PARMS cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.sntp = create.sntp;
        memcpy(&cfg.server, &server, sizeof cfg.server);
        cfg.server.sin_port = htons((unsigned short)port);
        cfg.TOS = 0;
        cfg.no_reply_delay = no_reply;
        cfg.had_reply_delay = had_reply;
        rc = sm_sntp_config(&cfg);
    }
    {
        char host[INET6_ADDRSTRLEN + 64];
        int grc = getnameinfo((struct sockaddr *)&server,
                              family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in), host,
                              sizeof host, NULL, 0, NI_NUMERICHOST);
        snprintf(server_text, sizeof server_text, family == AF_INET6 ? "[%s]:%lu" : "%s:%lu",
                 grc == 0 ? host : argv[optind], port);
    }
    if (rc != ERR_SM_OK) {
        error_msg("configuring server %s failed: %s (%d)", server_text, prossntp_strerror(rc), rc);
        sm_sntp_destroy(create.sntp);
        return 1;
    }

    {
        struct line l;
        begin(&l);
        add(&l, " start version=%s server=%s local=%s no_reply_ms=%lu had_reply_ms=%lu clock=%s", prossntp_version(),
            server_text, local != NULL ? local : "any", no_reply, had_reply,
            clock_env != NULL && clock_env[0] != '\0' ? clock_env : "auto");
        if (emit(&l) != 0) {
            sm_sntp_destroy(create.sntp);
            return 1;
        }
    }

    if (limit > 0) {
        struct timespec ts;
        if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
            error_msg("clock_gettime: %s", strerror(errno));
            sm_sntp_destroy(create.sntp);
            return 1;
        }
        deadline = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + limit;
    }

    while (end == NULL) {
        struct pollfd pfd;
        int timeout = STATS_INTERVAL_MS, n;

        if (signalled) {
            end = "signal";
            break;
        }
        if (limit > 0) {
            struct timespec ts;
            double left;
            if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
                error_msg("clock_gettime: %s", strerror(errno));
                end = "error";
                break;
            }
            left = deadline - ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
            if (left <= 0) {
                end = "time";
                if (count > 0) {
                    error_msg("%lu samples wanted, %llu received in %g s", count, seen, limit);
                    exit_code = 1;
                }
                break;
            }
            if (left * 1000.0 < timeout)
                timeout = (int)(left * 1000.0) + 1; /* never 0 early: round up */
        }

        pfd.fd = event.event.fd;
        pfd.events = (short)event.event.mode;
        pfd.revents = 0;
        n = poll(&pfd, 1, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            error_msg("poll: %s", strerror(errno));
            end = "error";
            break;
        }
        if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) {
            error_msg("poll: the event descriptor failed (revents 0x%x)", (unsigned)pfd.revents);
            end = "error";
            break;
        }

        /* A new sample first: it is what changes the sync status. */
        if (get_stats(create.sntp, &st) != ERR_SM_OK) {
            end = "error";
            break;
        }
        if (st.replies > seen) {
            seen = st.replies;
            if (!quiet && print_sample(create.sntp, &st) != 0) {
                end = "error";
                break;
            }
        }

        /* Level-triggered: read messages until Running (nothing new). The
         * queue holds at most 64; Stopped is reported for as long as the
         * client stays stopped, so it ends the run. */
        if (n > 0) {
            int i;
            for (i = 0; i < 1000 && end == NULL; i++) {
                SM_SNTP_STATUS_PARMS status;
                memset(&status, 0, sizeof status);
                status.sntp = create.sntp;
                if ((rc = sm_sntp_status(&status)) != ERR_SM_OK) {
                    error_msg("sm_sntp_status failed: %s (%d)", prossntp_strerror(rc), rc);
                    end = "error";
                    break;
                }
                if (status.status == kSMSNTPStatusRunning)
                    break;
                if (get_stats(create.sntp, &st) != ERR_SM_OK) {
                    end = "error";
                    break;
                }
                if (print_status(&status, &st) != 0) {
                    end = "error";
                    break;
                }
                if (status.status == kSMSNTPStatusStopped) {
                    error_msg("the client stopped: %s%s%s",
                              st.state == PROSSNTP_STATE_ENDED ? "its worker ended"
                                                               : "the server sent a DENY or RSTR kiss-o'-death",
                              st.last_error[0] ? "; last error: " : "", st.last_error);
                    end = "stopped";
                }
            }
        }
        if (end == NULL && count > 0 && seen >= count)
            end = "count";
    }

    if (get_stats(create.sntp, &st) == ERR_SM_OK) {
        if (print_summary(end, &st) != 0)
            exit_code = 1;
    } else {
        exit_code = 1;
    }
    if (strcmp(end, "error") == 0 || strcmp(end, "stopped") == 0)
        exit_code = 1;
    if ((rc = sm_sntp_destroy(create.sntp)) != ERR_SM_OK) {
        error_msg("sm_sntp_destroy failed: %s (%d)", prossntp_strerror(rc), rc);
        exit_code = 1;
    }
    return exit_code;
}
