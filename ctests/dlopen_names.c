/*
 * dlopen_names.c: the library as a dlopen user sees it. Not linked against
 * it: usage `dlopen_names PATH/TO/libprossntp.so`.
 *
 * Looks up all six functions by the decorated SM_SNTP_*_NAME strings and by
 * the plain names, checks both behave alike, runs a create/get_event/status/
 * destroy cycle through the looked-up pointers only, and drives the trace
 * through the looked-up TiNGtrace and TiNG_showtrace variables.
 */
#include "prossntp.h"

#include <dlfcn.h>

#define HARNESS_NO_LINK
#include "harness.h"

struct api {
    const char *how;
    SM_SNTP_CONFIG_FN config;
    SM_SNTP_CONFIG_IPV6_FN config_ipv6;
    SM_SNTP_CREATE_FN create;
    SM_SNTP_DESTROY_FN destroy;
    SM_SNTP_GET_EVENT_FN get_event;
    SM_SNTP_STATUS_FN status;
};

typedef int (*showtrace_fn)(const char *fmt, va_list ap);

static void *library;

/* dlsym into a function pointer without an object-to-function pointer cast
 * (which ISO C does not allow): copy the bits. */
static int lookup(const char *name, void *fn_ptr, size_t fn_size)
{
    void *p;
    dlerror();
    p = dlsym(library, name);
    CHECK(p != NULL, "dlsym(\"%s\") resolves%s%s", name, p ? "" : ": ", p ? "" : dlerror());
    if (p == NULL || fn_size != sizeof p)
        return -1;
    memcpy(fn_ptr, &p, fn_size);
    return 0;
}
#define LOOKUP(name, fn) lookup(name, &(fn), sizeof(fn))

static int load(struct api *api, int decorated)
{
    int bad = 0;
    memset(api, 0, sizeof *api);
    api->how = decorated ? "decorated" : "plain";
    bad |= LOOKUP(decorated ? SM_SNTP_CONFIG_NAME : "sm_sntp_config", api->config);
    bad |= LOOKUP(decorated ? SM_SNTP_CONFIG_IPV6_NAME : "sm_sntp_config_ipv6", api->config_ipv6);
    bad |= LOOKUP(decorated ? SM_SNTP_CREATE_NAME : "sm_sntp_create", api->create);
    bad |= LOOKUP(decorated ? SM_SNTP_DESTROY_NAME : "sm_sntp_destroy", api->destroy);
    bad |= LOOKUP(decorated ? SM_SNTP_GET_EVENT_NAME : "sm_sntp_get_event", api->get_event);
    bad |= LOOKUP(decorated ? SM_SNTP_STATUS_NAME : "sm_sntp_status", api->status);
    return bad;
}

static void null_blocks(const struct api *a)
{
    CHECK_EQ(a->destroy(NULL), 0, "%s: destroy(NULL) == 0", a->how);
    CHECK_EQ(a->status(NULL), ERR_SM_BAD_PARAMETER, "%s: status(NULL) == ERR_SM_BAD_PARAMETER", a->how);
    CHECK_EQ(a->config(NULL), ERR_SM_BAD_PARAMETER, "%s: config(NULL) == ERR_SM_BAD_PARAMETER", a->how);
    CHECK_EQ(a->config_ipv6(NULL), ERR_SM_BAD_PARAMETER, "%s: config_ipv6(NULL) == ERR_SM_BAD_PARAMETER",
             a->how);
    CHECK_EQ(a->create(NULL), ERR_SM_BAD_PARAMETER, "%s: create(NULL) == ERR_SM_BAD_PARAMETER", a->how);
    CHECK_EQ(a->get_event(NULL), ERR_SM_BAD_PARAMETER, "%s: get_event(NULL) == ERR_SM_BAD_PARAMETER", a->how);
}

/* create with one name set, use the handle with both, destroy with the other. */
static void cycle(const struct api *d, const struct api *p)
{
    SM_SNTP_CREATE_PARMS cr;
    SM_SNTP_EVENT_PARMS e1, e2;
    SM_SNTP_STATUS_PARMS st;
    SM_SNTP_CONFIG_PARMS cfg;
    struct h_addr silent;
    int sink = h_silent_socket(AF_INET, &silent);

    memset(&cr, 0, sizeof cr);
    cr.type = kSMSNTPTypeIPv4;
    cr.address.s_addr = htonl(INADDR_ANY);
    CHECK_EQ(d->create(&cr), 0, "decorated create");
    CHECK(cr.sntp != NULL, "create returned a handle");

    memset(&e1, 0, sizeof e1);
    memset(&e2, 0, sizeof e2);
    e1.sntp = e2.sntp = cr.sntp;
    CHECK_EQ(d->get_event(&e1), 0, "decorated get_event");
    CHECK_EQ(p->get_event(&e2), 0, "plain get_event on the same handle");
    CHECK(e1.event.fd == e2.event.fd && e1.event.mode == e2.event.mode && e1.event.eip == e2.event.eip,
          "both names return the same event (fd %d/%d, mode %d/%d)", e1.event.fd, e2.event.fd, e1.event.mode,
          e2.event.mode);
    CHECK_EQ(e1.event.mode, POLLIN | POLLPRI, "event mode == POLLIN|POLLPRI");

    memset(&st, 0, sizeof st);
    st.sntp = cr.sntp;
    CHECK(d->status(&st) == 0 && st.status == kSMSNTPStatusRunning, "decorated status: Running");
    st.status = kSMSNTPStatusStopped;
    CHECK(p->status(&st) == 0 && st.status == kSMSNTPStatusRunning, "plain status: Running");

    memset(&cfg, 0, sizeof cfg);
    cfg.sntp = cr.sntp;
    cfg.server = silent.u.in4;
    cfg.no_reply_delay = 1000;
    cfg.had_reply_delay = 60000;
    CHECK(sink >= 0, "silent loopback socket for config");
    CHECK_EQ(d->config(&cfg), 0, "decorated config");
    CHECK_EQ(p->config(&cfg), 0, "plain config");
    CHECK_EQ(p->config_ipv6(NULL), ERR_SM_BAD_PARAMETER, "plain config_ipv6(NULL)");

    CHECK_EQ(p->destroy(cr.sntp), 0, "plain destroy of the handle the decorated create made");
    CHECK_EQ(d->destroy(cr.sntp), ERR_SM_BAD_PARAMETER, "decorated destroy of it again == ERR_SM_BAD_PARAMETER");
    CHECK_EQ(d->status(&st), ERR_SM_BAD_PARAMETER, "decorated status on it == ERR_SM_BAD_PARAMETER");
    if (sink >= 0)
        close(sink);
}

/* ---------------------------------------------------------------- trace */

static int sink_calls;
static char sink_text[1024];

static int counting_sink(const char *fmt, va_list ap)
{
    int n;
    size_t len;
    sink_calls++;
    n = vsnprintf(sink_text, sizeof sink_text, fmt, ap);
    len = strlen(sink_text);
    if (len > 0 && sink_text[len - 1] == '\n')
        sink_text[len - 1] = '\0';
    return n;
}

static void trace(const struct api *a)
{
    unsigned *trace_level;
    showtrace_fn *showtrace;

    dlerror();
    trace_level = dlsym(library, "TiNGtrace");
    CHECK(trace_level != NULL, "dlsym(\"TiNGtrace\") resolves");
    showtrace = dlsym(library, "TiNG_showtrace");
    CHECK(showtrace != NULL, "dlsym(\"TiNG_showtrace\") resolves");
    if (trace_level == NULL || showtrace == NULL)
        return;

    *showtrace = counting_sink;
    *trace_level = 1;
    sink_calls = 0;
    sink_text[0] = '\0';
    CHECK_EQ(a->destroy(NULL), 0, "traced destroy(NULL) == 0");
    *trace_level = 0;
    CHECK_EQ(sink_calls, 1, "the sink was called once");
    CHECK(strstr(sink_text, "sm_sntp_destroy(") != NULL && strstr(sink_text, "== 0") != NULL,
          "the trace line has \"sm_sntp_destroy(\" and \"== 0\": %.200s", sink_text);

    /* A config line, in the contract's shape. */
    {
        SM_SNTP_CONFIG_PARMS cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.sntp = (tSMSNTPId)(void *)&cfg; /* not a handle: rejected, but traced */
        cfg.server.sin_family = AF_INET;
        cfg.server.sin_port = htons(123);
        cfg.server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        cfg.no_reply_delay = 1000;
        cfg.had_reply_delay = 60000;
        *trace_level = 1;
        CHECK_EQ(a->config(&cfg), ERR_SM_BAD_PARAMETER, "traced config with a foreign handle");
        *trace_level = 0;
        CHECK(strstr(sink_text, "sm_sntp_config(sntp=") != NULL && strstr(sink_text, "127.0.0.1:123") != NULL &&
                  strstr(sink_text, "TOS=0") != NULL && strstr(sink_text, "no_reply_delay=1000") != NULL &&
                  strstr(sink_text, "had_reply_delay=60000") != NULL && strstr(sink_text, "== -101") != NULL,
              "config trace line: %.300s", sink_text);
    }

    sink_calls = 0;
    CHECK_EQ(a->destroy(NULL), 0, "untraced destroy(NULL) == 0");
    CHECK_EQ(sink_calls, 0, "TiNGtrace = 0: the sink is not called");
    *showtrace = NULL;
}

int main(int argc, char **argv)
{
    struct api decorated, plain;

    h_guard("dlopen_names", 1);
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH/TO/libprossntp.so\n", argv[0]);
        return 2;
    }
    library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!CHECK(library != NULL, "dlopen(\"%s\")", argv[1])) {
        printf("        %s\n", dlerror());
        return h_exit_code("dlopen_names");
    }
    if (load(&decorated, 1) == 0 && load(&plain, 0) == 0) {
        null_blocks(&decorated);
        null_blocks(&plain);
        cycle(&decorated, &plain);
        trace(&decorated);
    }
    CHECK_EQ(dlclose(library), 0, "dlclose");
    return h_exit_code("dlopen_names");
}
