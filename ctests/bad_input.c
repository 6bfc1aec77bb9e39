/*
 * bad_input.c: every call with bad input. Each bad-input case is one counted
 * check; a few valid calls ("control") show that the rejections are due to
 * the one bad field and not to the rest of the parameter block.
 *
 * Needs only loopback: the "servers" are local sockets that never answer.
 */
#include "prossntp.h"
#include "prossntp_ext.h"

#include <limits.h>
#include <stdint.h>

#include "harness.h"

#include <net/if.h>

static int bad_cases;

/* One bad-input case: the call must return `want`. */
#define BAD(got, want, ...) (bad_cases++, CHECK_EQ((got), (want), __VA_ARGS__))

static struct h_addr silent4, silent6;
static int silent4_fd = -1, silent6_fd = -1;

static SM_SNTP_CONFIG_PARMS v4_parms(tSMSNTPId sntp)
{
    SM_SNTP_CONFIG_PARMS p;
    memset(&p, 0, sizeof p);
    p.sntp = sntp;
    p.server = silent4.u.in4;
    p.TOS = 0;
    p.no_reply_delay = 1000;
    p.had_reply_delay = 60000;
    return p;
}

static SM_SNTP_CONFIG_IPV6_PARMS v6_parms(tSMSNTPId sntp)
{
    SM_SNTP_CONFIG_IPV6_PARMS p;
    memset(&p, 0, sizeof p);
    p.sntp = sntp;
    p.server = silent6.u.in6;
    p.no_reply_delay = 1000;
    p.had_reply_delay = 60000;
    return p;
}

static int config4_addr(tSMSNTPId sntp, const char *addr)
{
    SM_SNTP_CONFIG_PARMS p = v4_parms(sntp);
    inet_pton(AF_INET, addr, &p.server.sin_addr);
    return sm_sntp_config(&p);
}

static int config6_addr(tSMSNTPId sntp, const char *addr)
{
    SM_SNTP_CONFIG_IPV6_PARMS p = v6_parms(sntp);
    inet_pton(AF_INET6, addr, &p.server.sin6_addr);
    return sm_sntp_config_ipv6(&p);
}

static int config6_scoped(tSMSNTPId sntp, const char *addr, unsigned scope)
{
    SM_SNTP_CONFIG_IPV6_PARMS p = v6_parms(sntp);
    inet_pton(AF_INET6, addr, &p.server.sin6_addr);
    p.server.sin6_scope_id = scope;
    return sm_sntp_config_ipv6(&p);
}

static int config4_delays(tSMSNTPId sntp, unsigned long no_reply, unsigned long had_reply)
{
    SM_SNTP_CONFIG_PARMS p = v4_parms(sntp);
    p.no_reply_delay = no_reply;
    p.had_reply_delay = had_reply;
    return sm_sntp_config(&p);
}

static int config6_delays(tSMSNTPId sntp, unsigned long no_reply, unsigned long had_reply)
{
    SM_SNTP_CONFIG_IPV6_PARMS p = v6_parms(sntp);
    p.no_reply_delay = no_reply;
    p.had_reply_delay = had_reply;
    return sm_sntp_config_ipv6(&p);
}

static int config4_tos(tSMSNTPId sntp, int tos)
{
    SM_SNTP_CONFIG_PARMS p = v4_parms(sntp);
    p.TOS = tos;
    return sm_sntp_config(&p);
}

/* create with a raw type value; the sntp output must stay as it was on error. */
static void create_bad_type(int type)
{
    SM_SNTP_CREATE_PARMS p;
    tSMSNTPId sentinel = (tSMSNTPId)(uintptr_t)0x7777;
    memset(&p, 0, sizeof p);
    p.sntp = sentinel;
    p.type = (enum kSMSNTPType)type;
    BAD(sm_sntp_create(&p), ERR_SM_BAD_PARAMETER, "create with type %d", type);
    CHECK(p.sntp == sentinel, "  create's sntp output untouched");
    if (p.sntp != sentinel && p.sntp != NULL)
        sm_sntp_destroy(p.sntp);
}

/* create on a local address this host does not have. */
static void create_foreign_local(int family, const char *addr)
{
    SM_SNTP_CREATE_PARMS p;
    tSMSNTPId sentinel = (tSMSNTPId)(uintptr_t)0x7777;
    int rc;
    memset(&p, 0, sizeof p);
    p.sntp = sentinel;
    p.type = family == AF_INET6 ? kSMSNTPTypeIPv6 : kSMSNTPTypeIPv4;
    if (family == AF_INET6)
        inet_pton(AF_INET6, addr, &p.ipv6_address);
    else
        inet_pton(AF_INET, addr, &p.address);
    rc = sm_sntp_create(&p);
    bad_cases++;
    CHECK(rc < 0, "create on local address %s (not on this host) fails: %d", addr, rc);
    CHECK_EQ(rc, ERR_SM_BAD_PARAMETER, "  ... with ERR_SM_BAD_PARAMETER");
    CHECK(p.sntp == sentinel, "  create's sntp output untouched");
    if (rc == 0)
        sm_sntp_destroy(p.sntp);
}

/* IPv6 scope ids: a link-local server needs one naming an interface; a scope
 * id must name an existing interface; a link-local local address cannot be
 * bound (create has no scope id field). */
static void scope_ids(tSMSNTPId c6)
{
    unsigned lo = if_nametoindex("lo");
    BAD(config6_scoped(c6, "fe80::1", 0), ERR_SM_BAD_PARAMETER, "config_ipv6: link-local server without a scope id");
    BAD(config6_scoped(c6, "fe80::1", 99999), ERR_SM_BAD_PARAMETER, "config_ipv6: scope id of no interface");
    BAD(config6_scoped(c6, "::1", 99999), ERR_SM_BAD_PARAMETER, "config_ipv6: global server, scope id of no interface");
    BAD(config6_scoped(c6, "fe80::1", lo), 0, "config_ipv6: link-local server with the scope id of lo (%u): accepted", lo);
    BAD(config6_scoped(c6, "::1", lo), 0, "config_ipv6: ::1 with a valid scope id: accepted");
    create_foreign_local(AF_INET6, "fe80::1");
}

/* Fields that do not match `type` are not read: garbage there is fine. */
static void create_ignores_other_family(void)
{
    SM_SNTP_CREATE_PARMS p;
    memset(&p, 0, sizeof p);
    p.type = kSMSNTPTypeIPv4;
    p.address.s_addr = htonl(INADDR_ANY);
    inet_pton(AF_INET6, "2001:db8::77", &p.ipv6_address);
    p.module = (tSMModuleId)(uintptr_t)0xdead0;
    BAD(sm_sntp_create(&p), 0, "create IPv4 with a foreign ipv6_address and a garbage module: accepted");
    CHECK_EQ(sm_sntp_destroy(p.sntp), 0, "  destroy it");

    memset(&p, 0, sizeof p);
    p.type = kSMSNTPTypeIPv6;
    p.ipv6_address = in6addr_any;
    inet_pton(AF_INET, "198.51.100.77", &p.address);
    BAD(sm_sntp_create(&p), 0, "create IPv6 with a foreign (unread) IPv4 address: accepted");
    CHECK_EQ(sm_sntp_destroy(p.sntp), 0, "  destroy it");
}

/* All six handle-taking calls with a handle the library must not know. */
static void reject_handle(tSMSNTPId h, const char *what)
{
    SM_SNTP_CONFIG_PARMS c = v4_parms(h);
    SM_SNTP_CONFIG_IPV6_PARMS c6 = v6_parms(h);
    SM_SNTP_EVENT_PARMS e, e_before;
    SM_SNTP_STATUS_PARMS s, s_before;
    struct prossntp_stats st, st_before;

    memset(&st, 0x5a, sizeof st);
    st.size = sizeof st;
    st_before = st;
    memset(&e, 0x5a, sizeof e);
    e.sntp = h;
    e_before = e;
    memset(&s, 0x5a, sizeof s);
    s.sntp = h;
    s_before = s;

    BAD(sm_sntp_config(&c), ERR_SM_BAD_PARAMETER, "config with %s", what);
    BAD(sm_sntp_config_ipv6(&c6), ERR_SM_BAD_PARAMETER, "config_ipv6 with %s", what);
    BAD(sm_sntp_get_event(&e), ERR_SM_BAD_PARAMETER, "get_event with %s", what);
    CHECK(memcmp(&e, &e_before, sizeof e) == 0, "  get_event output untouched");
    BAD(sm_sntp_status(&s), ERR_SM_BAD_PARAMETER, "status with %s", what);
    CHECK(memcmp(&s, &s_before, sizeof s) == 0, "  status outputs (status, u) untouched");
    BAD(prossntp_get_stats(h, &st), ERR_SM_BAD_PARAMETER, "prossntp_get_stats with %s", what);
    CHECK(memcmp(&st, &st_before, sizeof st) == 0, "  stats untouched");
    BAD(sm_sntp_destroy(h), ERR_SM_BAD_PARAMETER, "destroy with %s", what);
}

static void null_blocks(void)
{
    BAD(sm_sntp_create(NULL), ERR_SM_BAD_PARAMETER, "create(NULL)");
    BAD(sm_sntp_config(NULL), ERR_SM_BAD_PARAMETER, "config(NULL)");
    BAD(sm_sntp_config_ipv6(NULL), ERR_SM_BAD_PARAMETER, "config_ipv6(NULL)");
    BAD(sm_sntp_get_event(NULL), ERR_SM_BAD_PARAMETER, "get_event(NULL)");
    BAD(sm_sntp_status(NULL), ERR_SM_BAD_PARAMETER, "status(NULL)");
    BAD(sm_sntp_destroy(NULL), 0, "destroy(NULL) == 0");
}

static void handles(void)
{
    int on_stack = 0;
    tSMSNTPId gone;
    char what[64];

    reject_handle((tSMSNTPId)(uintptr_t)0x1234, "unknown handle 0x1234");
    reject_handle((tSMSNTPId)(uintptr_t)-1, "unknown handle (tSMSNTPId)-1");
    reject_handle((tSMSNTPId)(void *)&on_stack, "a pointer to a stack variable");

    CHECK_EQ(h_create(AF_INET, &gone), 0, "control: create a client to destroy");
    CHECK_EQ(sm_sntp_destroy(gone), 0, "control: destroy it");
    snprintf(what, sizeof what, "a destroyed handle %p", (void *)gone);
    reject_handle(gone, what); /* its destroy call is the double destroy */
    BAD(sm_sntp_destroy(gone), ERR_SM_BAD_PARAMETER, "a third destroy of it");
}

/* The statistics call: NULL, and sizes below the first version's. */
static void stats_sizes(tSMSNTPId c4)
{
    struct prossntp_stats st;
    unsigned char big[sizeof st + 32];

    BAD(prossntp_get_stats(c4, NULL), ERR_SM_BAD_PARAMETER, "prossntp_get_stats(c, NULL)");
    memset(&st, 0, sizeof st);
    BAD(prossntp_get_stats(c4, &st), ERR_SM_BAD_PARAMETER, "prossntp_get_stats with size 0");
    st.size = PROSSNTP_STATS_MIN_SIZE - 1;
    BAD(prossntp_get_stats(c4, &st), ERR_SM_BAD_PARAMETER, "prossntp_get_stats with size MIN-1");
    CHECK(st.state == 0 && st.size == PROSSNTP_STATS_MIN_SIZE - 1, "  nothing written");
    /* The worker publishes its first figures once it has taken the config. */
    {
        double deadline = h_now() + 2.0;
        do {
            memset(big, 0xa5, sizeof big);
            st.size = sizeof big;
            memcpy(big, &st.size, sizeof st.size);
            CHECK_EQ(prossntp_get_stats(c4, (struct prossntp_stats *)(void *)big), 0,
                     "control: a bigger (newer) struct");
            memcpy(&st, big, sizeof st);
            if (st.state != PROSSNTP_STATE_RUNNING)
                h_sleep_ms(10);
        } while (st.state != PROSSNTP_STATE_RUNNING && h_now() < deadline);
    }
    CHECK(st.size == sizeof st && big[sizeof st] == 0xa5 && big[sizeof big - 1] == 0xa5,
          "  only this version's bytes written (size %u)", st.size);
    CHECK(st.state == PROSSNTP_STATE_RUNNING, "  and they are the client's stats (Running)");
}

static void delays(tSMSNTPId c4, tSMSNTPId c6)
{
    tSMSNTPId garbage = (tSMSNTPId)(uintptr_t)0x1234;
    BAD(config4_delays(c4, 2000, 1000), ERR_SM_BAD_PARAMETER, "config: no_reply_delay 2000 > had_reply_delay 1000");
    BAD(config4_delays(garbage, 2000, 1000), ERR_SM_BAD_PARAMETER, "config: no_reply > had_reply, garbage handle");
    BAD(config6_delays(c6, 2000, 1000), ERR_SM_BAD_PARAMETER, "config_ipv6: no_reply_delay > had_reply_delay");
    BAD(config6_delays(garbage, 2000, 1000), ERR_SM_BAD_PARAMETER, "config_ipv6: no_reply > had_reply, garbage handle");
    BAD(config4_delays(c4, ULONG_MAX, 1), ERR_SM_BAD_PARAMETER, "config: no_reply ULONG_MAX > had_reply 1");
    BAD(config4_delays(c4, 0, 1000), ERR_SM_BAD_PARAMETER, "config: no_reply_delay 0");
    BAD(config4_delays(c4, 0, 0), ERR_SM_BAD_PARAMETER, "config: both delays 0");
    BAD(config6_delays(c6, 0, 1000), ERR_SM_BAD_PARAMETER, "config_ipv6: no_reply_delay 0");
    CHECK_EQ(config4_delays(c4, 1000, 1000), 0, "control: config with no_reply == had_reply");
}

static void families(tSMSNTPId c4, tSMSNTPId c6)
{
    SM_SNTP_CONFIG_PARMS c;
    SM_SNTP_CONFIG_IPV6_PARMS c6p;

    c = v4_parms(c6);
    BAD(sm_sntp_config(&c), ERR_SM_BAD_PARAMETER, "config (IPv4 server) on an IPv6 client");
    c6p = v6_parms(c4);
    BAD(sm_sntp_config_ipv6(&c6p), ERR_SM_BAD_PARAMETER, "config_ipv6 (IPv6 server) on an IPv4 client");

    c = v4_parms(c4);
    c.server.sin_family = AF_INET6;
    BAD(sm_sntp_config(&c), ERR_SM_BAD_PARAMETER, "config: sin_family AF_INET6 in a sockaddr_in");
    c.server.sin_family = AF_UNIX;
    BAD(sm_sntp_config(&c), ERR_SM_BAD_PARAMETER, "config: sin_family AF_UNIX");
    c.server.sin_family = AF_UNSPEC;
    BAD(sm_sntp_config(&c), ERR_SM_BAD_PARAMETER, "config: sin_family AF_UNSPEC");
    c6p = v6_parms(c6);
    c6p.server.sin6_family = AF_INET;
    BAD(sm_sntp_config_ipv6(&c6p), ERR_SM_BAD_PARAMETER, "config_ipv6: sin6_family AF_INET");
    c6p.server.sin6_family = AF_UNIX;
    BAD(sm_sntp_config_ipv6(&c6p), ERR_SM_BAD_PARAMETER, "config_ipv6: sin6_family AF_UNIX");
}

static void servers(tSMSNTPId c4, tSMSNTPId c6)
{
    SM_SNTP_CONFIG_PARMS c = v4_parms(c4);
    SM_SNTP_CONFIG_IPV6_PARMS c6p = v6_parms(c6);

    c.server.sin_port = 0;
    BAD(sm_sntp_config(&c), ERR_SM_BAD_PARAMETER, "config: port 0");
    c6p.server.sin6_port = 0;
    BAD(sm_sntp_config_ipv6(&c6p), ERR_SM_BAD_PARAMETER, "config_ipv6: port 0");
    BAD(config4_addr(c4, "0.0.0.0"), ERR_SM_BAD_PARAMETER, "config: server 0.0.0.0");
    BAD(config6_addr(c6, "::"), ERR_SM_BAD_PARAMETER, "config_ipv6: server ::");
    BAD(config4_addr(c4, "255.255.255.255"), ERR_SM_BAD_PARAMETER, "config: broadcast 255.255.255.255");
    BAD(config4_addr(c4, "224.0.0.1"), ERR_SM_BAD_PARAMETER, "config: multicast 224.0.0.1");
    BAD(config4_addr(c4, "239.255.255.250"), ERR_SM_BAD_PARAMETER, "config: multicast 239.255.255.250");
    BAD(config6_addr(c6, "ff02::1"), ERR_SM_BAD_PARAMETER, "config_ipv6: multicast ff02::1");
    BAD(config6_addr(c6, "ff05::101"), ERR_SM_BAD_PARAMETER, "config_ipv6: multicast ff05::101");
    BAD(config4_tos(c4, -1), ERR_SM_BAD_PARAMETER, "config: TOS -1");
    BAD(config4_tos(c4, 256), ERR_SM_BAD_PARAMETER, "config: TOS 256");
    BAD(config4_tos(c4, INT_MIN), ERR_SM_BAD_PARAMETER, "config: TOS INT_MIN");
    CHECK_EQ(config4_tos(c4, 255), 0, "control: config with TOS 255");
    CHECK_EQ(config4_tos(c4, 0xb8), 0, "control: config with TOS 0xb8 (EF)");
    c6p = v6_parms(c6);
    c6p.server.sin6_flowinfo = htonl(0xb8u << 20);
    CHECK_EQ(sm_sntp_config_ipv6(&c6p), 0, "control: config_ipv6 with traffic class 0xb8 in sin6_flowinfo");
}

/* ULONG_MAX delays are legal: accepted, the client keeps working and is
 * destroyed promptly. */
static void huge_delays(int family)
{
    tSMSNTPId sntp;
    unsigned char buf[128];
    SM_SNTP_STATUS_PARMS st;
    long n;
    int rc;
    double t0, took;
    int fd = family == AF_INET6 ? silent6_fd : silent4_fd;
    const char *name = family == AF_INET6 ? "config_ipv6" : "config";

    CHECK_EQ(h_create(family, &sntp), 0, "control: create an %s client", family == AF_INET6 ? "IPv6" : "IPv4");
    BAD(family == AF_INET6 ? config6_delays(sntp, ULONG_MAX, ULONG_MAX) : config4_delays(sntp, ULONG_MAX, ULONG_MAX),
        0, "%s: no_reply_delay = had_reply_delay = ULONG_MAX accepted", name);
    n = h_receive(fd, buf, sizeof buf, 2000);
    CHECK(n == 48 && (buf[0] & 7) == 3, "  the first request still goes out at once (%ld bytes, mode %d)", n,
          n > 0 ? buf[0] & 7 : -1);
    h_sleep_ms(200);
    rc = h_status(sntp, &st); /* before the CHECK: its arguments are evaluated in no set order */
    CHECK(rc == 0 && st.status == kSMSNTPStatusRunning, "  the client is still Running (%s)", h_status_name(st.status));
    t0 = h_now();
    CHECK_EQ(sm_sntp_destroy(sntp), 0, "  destroy");
    took = h_now() - t0;
    printf("        destroy took %.3f s (%s, ULONG_MAX delays, request outstanding)\n", took,
           family == AF_INET6 ? "IPv6" : "IPv4");
    CHECK(took < 2.0, "  destroy returned within 2 s (%.3f s)", took);
}

/* A trace sink that formats the line and drops it. */
static int drop_trace(const char *fmt, va_list ap)
{
    char line[512];
    return vsnprintf(line, sizeof line, fmt, ap);
}

/* The library reads only the input members of a parameter block and writes
 * only the output members: every other byte here is left uninitialised
 * (malloc), as C callers may leave it, and valgrind (scripts/sanitize.sh)
 * reports any read of one. Traced, so the trace's formatting runs too. */
static void inputs_only(void)
{
    SM_SNTP_CREATE_PARMS *c4 = malloc(sizeof *c4), *c6 = malloc(sizeof *c6);
    SM_SNTP_CONFIG_PARMS *k4 = malloc(sizeof *k4);
    SM_SNTP_CONFIG_IPV6_PARMS *k6 = malloc(sizeof *k6);
    SM_SNTP_EVENT_PARMS *ev = malloc(sizeof *ev);
    SM_SNTP_STATUS_PARMS *st = malloc(sizeof *st);
    unsigned trace_was = TiNGtrace;
    int (*sink_was)(const char *, va_list) = TiNG_showtrace;

    if (!CHECK(c4 && c6 && k4 && k6 && ev && st, "inputs only: parameter blocks allocated"))
        goto out;
    TiNG_showtrace = drop_trace;
    TiNGtrace = 1;

    c4->module = kSMNullModuleId; /* sntp (out) and ipv6_address (not IPv4's) left unset */
    c4->type = kSMSNTPTypeIPv4;
    c4->address.s_addr = htonl(INADDR_ANY);
    CHECK_EQ(sm_sntp_create(c4), 0, "inputs only: create IPv4, sntp and ipv6_address uninitialised");
    c6->module = kSMNullModuleId; /* sntp and address left unset */
    c6->type = kSMSNTPTypeIPv6;
    c6->ipv6_address = in6addr_any;
    CHECK_EQ(sm_sntp_create(c6), 0, "inputs only: create IPv6, sntp and address uninitialised");

    k4->sntp = c4->sntp; /* sin_zero and the padding left unset */
    k4->server.sin_family = AF_INET;
    k4->server.sin_port = silent4.u.in4.sin_port;
    k4->server.sin_addr = silent4.u.in4.sin_addr;
    k4->TOS = 0;
    k4->no_reply_delay = 1000;
    k4->had_reply_delay = 60000;
    CHECK_EQ(sm_sntp_config(k4), 0, "inputs only: config, sin_zero and the padding uninitialised");
    k6->sntp = c6->sntp;
    k6->server.sin6_family = AF_INET6;
    k6->server.sin6_port = silent6.u.in6.sin6_port;
    k6->server.sin6_flowinfo = 0;
    k6->server.sin6_addr = silent6.u.in6.sin6_addr;
    k6->server.sin6_scope_id = 0;
    k6->no_reply_delay = 1000;
    k6->had_reply_delay = 60000;
    CHECK_EQ(sm_sntp_config_ipv6(k6), 0, "inputs only: config_ipv6");

    ev->sntp = c4->sntp; /* event (out) left unset */
    CHECK(sm_sntp_get_event(ev) == 0 && ev->event.fd >= 0 && ev->event.mode == (POLLIN | POLLPRI),
          "inputs only: get_event, event uninitialised");
    st->sntp = c4->sntp; /* status and u (out) left unset */
    CHECK(sm_sntp_status(st) == 0 && st->status == kSMSNTPStatusRunning,
          "inputs only: status, status and u uninitialised: Running");

    CHECK_EQ(sm_sntp_destroy(c4->sntp), 0, "inputs only: destroy the IPv4 client");
    CHECK_EQ(sm_sntp_destroy(c6->sntp), 0, "inputs only: destroy the IPv6 client");
out:
    TiNGtrace = trace_was;
    TiNG_showtrace = sink_was;
    free(c4);
    free(c6);
    free(k4);
    free(k6);
    free(ev);
    free(st);
}

int main(void)
{
    tSMSNTPId c4 = NULL, c6 = NULL;
    SM_SNTP_STATUS_PARMS st;

    h_guard("bad_input", 1);
    silent4_fd = h_silent_socket(AF_INET, &silent4);
    silent6_fd = h_silent_socket(AF_INET6, &silent6);
    if (!CHECK(silent4_fd >= 0 && silent6_fd >= 0, "loopback sockets for the silent servers"))
        return h_exit_code("bad_input");
    CHECK_EQ(h_create(AF_INET, &c4), 0, "control: create an IPv4 client");
    CHECK_EQ(h_create(AF_INET6, &c6), 0, "control: create an IPv6 client");
    CHECK_EQ(config4_delays(c4, 1000, 60000), 0, "control: valid config on the IPv4 client");
    CHECK_EQ(config6_delays(c6, 1000, 60000), 0, "control: valid config_ipv6 on the IPv6 client");

    null_blocks();
    create_bad_type(2);
    create_bad_type(-1);
    create_bad_type(99);
    create_foreign_local(AF_INET, "198.51.100.77");
    create_foreign_local(AF_INET6, "2001:db8::77");
    create_ignores_other_family();
    inputs_only();
    handles();
    stats_sizes(c4);
    delays(c4, c6);
    families(c4, c6);
    scope_ids(c6);
    servers(c4, c6);
    huge_delays(AF_INET);
    huge_delays(AF_INET6);

    CHECK(h_status(c4, &st) == 0 && st.status == kSMSNTPStatusRunning,
          "control: after all that the IPv4 client still answers status (Running)");
    CHECK(h_status(c6, &st) == 0 && st.status == kSMSNTPStatusRunning,
          "control: after all that the IPv6 client still answers status (Running)");
    CHECK_EQ(sm_sntp_destroy(c4), 0, "control: destroy the IPv4 client");
    CHECK_EQ(sm_sntp_destroy(c6), 0, "control: destroy the IPv6 client");
    close(silent4_fd);
    close(silent6_fd);
    printf("bad-input cases: %d\n", bad_cases);
    return h_exit_code("bad_input");
}
