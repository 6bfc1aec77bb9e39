/*
 * dlclose.c: dlclose() while a client is live. Documented behaviour: the
 * library is linked with -z nodelete, so dlclose never unloads it; the
 * client keeps running, and after dlopen again its handle is still valid.
 *
 *   dlclose LIBRARY ADDR:PORT
 */
#include "prossntp.h"
#include "harness.h"

#include <dlfcn.h>

struct api {
    void *lib;
    SM_SNTP_CREATE_FN create;
    SM_SNTP_CONFIG_FN config;
    SM_SNTP_STATUS_FN status;
    SM_SNTP_DESTROY_FN destroy;
};

static int load(const char *path, struct api *a)
{
    a->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (a->lib == NULL)
        return -1;
    *(void **)&a->create = dlsym(a->lib, SM_SNTP_CREATE_NAME);
    *(void **)&a->config = dlsym(a->lib, SM_SNTP_CONFIG_NAME);
    *(void **)&a->status = dlsym(a->lib, SM_SNTP_STATUS_NAME);
    *(void **)&a->destroy = dlsym(a->lib, SM_SNTP_DESTROY_NAME);
    return a->create && a->config && a->status && a->destroy ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct api a;
    struct h_addr server;
    SM_SNTP_CREATE_PARMS c;
    SM_SNTP_CONFIG_PARMS cfg;
    SM_SNTP_STATUS_PARMS st;
    int synced = 0, i;

    h_guard("dlclose", 1);
    if (argc != 3 || h_parse_addr(argv[2], &server) != 0 || server.family != AF_INET) {
        fprintf(stderr, "usage: dlclose LIBRARY IPV4:PORT\n");
        return 2;
    }
    CHECK_EQ(load(argv[1], &a), 0, "dlopen and dlsym: %s", dlerror());
    memset(&c, 0, sizeof c);
    c.type = kSMSNTPTypeIPv4;
    CHECK_EQ(a.create(&c), 0, "create");
    memset(&cfg, 0, sizeof cfg);
    cfg.sntp = c.sntp;
    cfg.server = server.u.in4;
    cfg.no_reply_delay = 200;
    cfg.had_reply_delay = 400;
    CHECK_EQ(a.config(&cfg), 0, "config");

    CHECK_EQ(dlclose(a.lib), 0, "dlclose with a live client");
    h_sleep_ms(1000); /* the worker goes on polling meanwhile: no crash */

    CHECK_EQ(load(argv[1], &a), 0, "dlopen again");
    for (i = 0; i < 20 && !synced; i++) {
        memset(&st, 0, sizeof st);
        st.sntp = c.sntp;
        CHECK_EQ(a.status(&st), 0, "status on the handle from before dlclose");
        synced = st.status == kSMSNTPStatusSync && st.u.sync.has_sync == 1;
        if (!synced)
            h_sleep_ms(100);
    }
    CHECK(synced, "the client kept working across dlclose/dlopen");
    CHECK_EQ(a.destroy(c.sntp), 0, "destroy after dlopen again");
    CHECK_EQ(dlclose(a.lib), 0, "dlclose");
    return h_exit_code("dlclose");
}
