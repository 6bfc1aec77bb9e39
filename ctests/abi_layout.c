/*
 * abi_layout.c: the header against the ABI contract
 * (shared/prosody-sntp-abi.md): type sizes, struct sizes and offsets, enum
 * values, error codes, the decorated names and the function-pointer
 * typedefs. Built WITHOUT TiNG_USE_UNDECORATED_NAMES, so every call below
 * links to the decorated symbols (run.sh checks that with nm).
 *
 * prossntp.h is included first, alone, to check it is self-contained.
 */
#include "prossntp.h"

#include <stddef.h>

#include "harness.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* The contract's struct definitions, written out independently of the
 * header (enums as int, which the contract says they are). */
struct ref_config {
    void *sntp;
    struct sockaddr_in server;
    int TOS;
    unsigned long no_reply_delay;
    unsigned long had_reply_delay;
};
struct ref_config_ipv6 {
    void *sntp;
    struct sockaddr_in6 server;
    unsigned long no_reply_delay;
    unsigned long had_reply_delay;
};
struct ref_create {
    void *sntp;
    void *module;
    int type;
    struct in_addr address;
    struct in6_addr ipv6_address;
};
struct ref_event_id {
    int fd;
    int mode;
    void *eip;
};
struct ref_event {
    void *sntp;
    struct ref_event_id event;
};
struct ref_status {
    void *sntp;
    int status;
    union {
        struct {
            int has_sync;
        } sync;
    } u;
};

/* Offset of a header struct's field equals the contract's on this ABI. */
#define SAME_OFFSET(T, R, f)                                                                                   \
    CHECK_EQ(offsetof(T, f), offsetof(R, f), "offsetof(%s, %s) == %lu (contract layout on this ABI)", #T, #f, \
             (unsigned long)offsetof(R, f))
#define SAME_SIZE(T, R) CHECK_EQ(sizeof(T), sizeof(R), "sizeof(%s) == %lu (contract layout on this ABI)", #T, (unsigned long)sizeof(R))
/* The contract's x86_64 numbers. */
#define EXACT_OFFSET(T, f, n) CHECK_EQ(offsetof(T, f), n, "offsetof(%s, %s) == %d", #T, #f, n)
#define EXACT_SIZE(T, n) CHECK_EQ(sizeof(T), n, "sizeof(%s) == %d", #T, n)

static void check_types(void)
{
    /* Compile-time: each of these assignments fails to compile (-Werror)
     * if a type differs from the contract. */
    SM_SNTP_CONFIG_PARMS c;
    SM_SNTP_CONFIG_IPV6_PARMS c6;
    SM_SNTP_CREATE_PARMS cr;
    SM_SNTP_EVENT_PARMS e;
    SM_SNTP_STATUS_PARMS s;
    struct sm_sntp_config_parms *c_tag = &c;
    struct sm_sntp_config_ipv6_parms *c6_tag = &c6;
    struct sm_sntp_create_parms *cr_tag = &cr;
    struct sm_sntp_event_parms *e_tag = &e;
    struct sm_sntp_status_parms *s_tag = &s;
    int *int_p = (tSM_INT *)0;
    unsigned long *ulong_p = (tSM_UT32 *)0;
    struct tSMSNTPId_struct *sntp_p = (tSMSNTPId)0;
    struct tSMModuleId_struct *module_p = kSMNullModuleId;
    struct sockaddr_in *sin_p = (SOCKADDR_IN *)0;
    struct sockaddr_in6 *sin6_p = (SOCKADDR_IN6 *)0;
    tSMSNTPId *f_sntp = &c.sntp;
    struct sockaddr_in *f_server = &c.server;
    int *f_tos = &c.TOS;
    tSM_UT32 *f_nr = &c.no_reply_delay, *f_hr = &c.had_reply_delay;
    struct sockaddr_in6 *f_server6 = &c6.server;
    tSM_UT32 *f_nr6 = &c6.no_reply_delay, *f_hr6 = &c6.had_reply_delay;
    tSMModuleId *f_module = &cr.module;
    enum kSMSNTPType *f_type = &cr.type;
    struct in_addr *f_addr = &cr.address;
    struct in6_addr *f_addr6 = &cr.ipv6_address;
    struct tSMEventId *f_event = &e.event;
    tSM_INT *f_fd = &e.event.fd, *f_mode = &e.event.mode;
    struct tSMEventId_internals **f_eip = &e.event.eip;
    enum kSMSNTPStatus *f_status = &s.status;
    int *f_has_sync = &s.u.sync.has_sync;
    unsigned *f_trace = &TiNGtrace;
    int (**f_showtrace)(const char *, va_list) = &TiNG_showtrace;

    (void)c_tag, (void)c6_tag, (void)cr_tag, (void)e_tag, (void)s_tag, (void)int_p, (void)ulong_p;
    (void)sntp_p, (void)module_p, (void)sin_p, (void)sin6_p, (void)f_sntp, (void)f_server, (void)f_tos;
    (void)f_nr, (void)f_hr, (void)f_server6, (void)f_nr6, (void)f_hr6, (void)f_module, (void)f_type;
    (void)f_addr, (void)f_addr6, (void)f_event, (void)f_fd, (void)f_mode, (void)f_eip, (void)f_status;
    (void)f_has_sync, (void)f_trace, (void)f_showtrace;
    CHECK(1, "typedefs, tags and field types match the contract (checked at compile time)");

    CHECK_EQ(sizeof(tSM_INT), sizeof(int), "sizeof(tSM_INT) == sizeof(int)");
    CHECK_EQ(sizeof(tSM_UT32), sizeof(unsigned long), "sizeof(tSM_UT32) == sizeof(unsigned long) (%lu)",
             (unsigned long)sizeof(unsigned long));
    CHECK((tSM_UT32)-1 > 0, "tSM_UT32 is unsigned");
    CHECK_EQ(sizeof(tSMSNTPId), sizeof(void *), "sizeof(tSMSNTPId) == sizeof(void *)");
    CHECK_EQ(sizeof(tSMModuleId), sizeof(void *), "sizeof(tSMModuleId) == sizeof(void *)");
    CHECK(kSMNullModuleId == (tSMModuleId)0, "kSMNullModuleId is (tSMModuleId)0");
    CHECK_EQ(sizeof(enum kSMSNTPType), sizeof(int), "sizeof(enum kSMSNTPType) == sizeof(int)");
    CHECK_EQ(sizeof(enum kSMSNTPStatus), sizeof(int), "sizeof(enum kSMSNTPStatus) == sizeof(int)");
    CHECK(strcmp(STR(ACUAPI), "") == 0 && strcmp(STR(ACUTiNG_WINAPI), "") == 0,
          "ACUAPI and ACUTiNG_WINAPI are defined and empty");
#if defined(__LP64__) || defined(_LP64)
    CHECK_EQ(sizeof(tSM_UT32), 8, "LP64: sizeof(tSM_UT32) == 8");
    CHECK_EQ(sizeof(struct tSMEventId), 16, "LP64: sizeof(tSMEventId) == 16");
#endif
}

static void check_layout(void)
{
    /* Every ABI: the header's structs are laid out as the contract's. */
    SAME_SIZE(SM_SNTP_CONFIG_PARMS, struct ref_config);
    SAME_OFFSET(SM_SNTP_CONFIG_PARMS, struct ref_config, sntp);
    SAME_OFFSET(SM_SNTP_CONFIG_PARMS, struct ref_config, server);
    SAME_OFFSET(SM_SNTP_CONFIG_PARMS, struct ref_config, TOS);
    SAME_OFFSET(SM_SNTP_CONFIG_PARMS, struct ref_config, no_reply_delay);
    SAME_OFFSET(SM_SNTP_CONFIG_PARMS, struct ref_config, had_reply_delay);
    SAME_SIZE(SM_SNTP_CONFIG_IPV6_PARMS, struct ref_config_ipv6);
    SAME_OFFSET(SM_SNTP_CONFIG_IPV6_PARMS, struct ref_config_ipv6, sntp);
    SAME_OFFSET(SM_SNTP_CONFIG_IPV6_PARMS, struct ref_config_ipv6, server);
    SAME_OFFSET(SM_SNTP_CONFIG_IPV6_PARMS, struct ref_config_ipv6, no_reply_delay);
    SAME_OFFSET(SM_SNTP_CONFIG_IPV6_PARMS, struct ref_config_ipv6, had_reply_delay);
    SAME_SIZE(SM_SNTP_CREATE_PARMS, struct ref_create);
    SAME_OFFSET(SM_SNTP_CREATE_PARMS, struct ref_create, sntp);
    SAME_OFFSET(SM_SNTP_CREATE_PARMS, struct ref_create, module);
    SAME_OFFSET(SM_SNTP_CREATE_PARMS, struct ref_create, type);
    SAME_OFFSET(SM_SNTP_CREATE_PARMS, struct ref_create, address);
    SAME_OFFSET(SM_SNTP_CREATE_PARMS, struct ref_create, ipv6_address);
    SAME_SIZE(struct tSMEventId, struct ref_event_id);
    SAME_OFFSET(struct tSMEventId, struct ref_event_id, fd);
    SAME_OFFSET(struct tSMEventId, struct ref_event_id, mode);
    SAME_OFFSET(struct tSMEventId, struct ref_event_id, eip);
    SAME_SIZE(SM_SNTP_EVENT_PARMS, struct ref_event);
    SAME_OFFSET(SM_SNTP_EVENT_PARMS, struct ref_event, sntp);
    SAME_OFFSET(SM_SNTP_EVENT_PARMS, struct ref_event, event);
    SAME_SIZE(SM_SNTP_STATUS_PARMS, struct ref_status);
    SAME_OFFSET(SM_SNTP_STATUS_PARMS, struct ref_status, sntp);
    SAME_OFFSET(SM_SNTP_STATUS_PARMS, struct ref_status, status);
    SAME_OFFSET(SM_SNTP_STATUS_PARMS, struct ref_status, u);
    CHECK_EQ(offsetof(SM_SNTP_STATUS_PARMS, u.sync.has_sync), offsetof(SM_SNTP_STATUS_PARMS, u),
             "u.sync.has_sync is at the start of u");

#if defined(__x86_64__) || defined(__aarch64__)
    /* The contract's table (x86_64; aarch64 Linux is the same LP64 layout). */
    EXACT_SIZE(SM_SNTP_CONFIG_PARMS, 48);
    EXACT_OFFSET(SM_SNTP_CONFIG_PARMS, sntp, 0);
    EXACT_OFFSET(SM_SNTP_CONFIG_PARMS, server, 8);
    EXACT_OFFSET(SM_SNTP_CONFIG_PARMS, TOS, 24);
    EXACT_OFFSET(SM_SNTP_CONFIG_PARMS, no_reply_delay, 32);
    EXACT_OFFSET(SM_SNTP_CONFIG_PARMS, had_reply_delay, 40);
    EXACT_SIZE(SM_SNTP_CONFIG_IPV6_PARMS, 56);
    EXACT_OFFSET(SM_SNTP_CONFIG_IPV6_PARMS, sntp, 0);
    EXACT_OFFSET(SM_SNTP_CONFIG_IPV6_PARMS, server, 8);
    EXACT_OFFSET(SM_SNTP_CONFIG_IPV6_PARMS, no_reply_delay, 40);
    EXACT_OFFSET(SM_SNTP_CONFIG_IPV6_PARMS, had_reply_delay, 48);
    EXACT_SIZE(SM_SNTP_CREATE_PARMS, 40);
    EXACT_OFFSET(SM_SNTP_CREATE_PARMS, sntp, 0);
    EXACT_OFFSET(SM_SNTP_CREATE_PARMS, module, 8);
    EXACT_OFFSET(SM_SNTP_CREATE_PARMS, type, 16);
    EXACT_OFFSET(SM_SNTP_CREATE_PARMS, address, 20);
    EXACT_OFFSET(SM_SNTP_CREATE_PARMS, ipv6_address, 24);
    EXACT_SIZE(SM_SNTP_EVENT_PARMS, 24);
    EXACT_OFFSET(SM_SNTP_EVENT_PARMS, sntp, 0);
    EXACT_OFFSET(SM_SNTP_EVENT_PARMS, event, 8);
    EXACT_SIZE(struct tSMEventId, 16);
    EXACT_OFFSET(struct tSMEventId, fd, 0);
    EXACT_OFFSET(struct tSMEventId, mode, 4);
    EXACT_OFFSET(struct tSMEventId, eip, 8);
    EXACT_SIZE(SM_SNTP_STATUS_PARMS, 16);
    EXACT_OFFSET(SM_SNTP_STATUS_PARMS, sntp, 0);
    EXACT_OFFSET(SM_SNTP_STATUS_PARMS, status, 8);
    EXACT_OFFSET(SM_SNTP_STATUS_PARMS, u, 12);
#else
    h_note("not x86_64/aarch64: the contract's exact numbers are not checked, only the layout relations");
#endif
}

static void check_constants(void)
{
    CHECK_EQ(kSMSNTPTypeIPv4, 0, "kSMSNTPTypeIPv4 == 0");
    CHECK_EQ(kSMSNTPTypeIPv6, 1, "kSMSNTPTypeIPv6 == 1");
    CHECK_EQ(kSMSNTPStatusRunning, 0, "kSMSNTPStatusRunning == 0");
    CHECK_EQ(kSMSNTPStatusStopped, 1, "kSMSNTPStatusStopped == 1");
    CHECK_EQ(kSMSNTPStatusSync, 2, "kSMSNTPStatusSync == 2");

    CHECK_EQ(ERR_SM_DEVERR, -1, "ERR_SM_DEVERR == -1");
    CHECK_EQ(ERR_SM_PENDING, -2, "ERR_SM_PENDING == -2");
    CHECK_EQ(ERR_SM_MORE, -3, "ERR_SM_MORE == -3");
    CHECK_EQ(ERR_SM_NO_ACTION, -4, "ERR_SM_NO_ACTION == -4");
    CHECK_EQ(ERR_SM_NOT_IMPLEMENTED, -100, "ERR_SM_NOT_IMPLEMENTED == -100");
    CHECK_EQ(ERR_SM_BAD_PARAMETER, -101, "ERR_SM_BAD_PARAMETER == -101");
    CHECK_EQ(ERR_SM_NO_SUCH_MODULE, -102, "ERR_SM_NO_SUCH_MODULE == -102");
    CHECK_EQ(ERR_SM_MODULE_ACCESS, -103, "ERR_SM_MODULE_ACCESS == -103");
    CHECK_EQ(ERR_SM_NO_RESOURCES, -107, "ERR_SM_NO_RESOURCES == -107");
    CHECK_EQ(ERR_SM_NO_SUCH_CHANNEL, -110, "ERR_SM_NO_SUCH_CHANNEL == -110");
    CHECK_EQ(ERR_SM_NO_SUCH_FIRMWARE, -119, "ERR_SM_NO_SUCH_FIRMWARE == -119");
    CHECK_EQ(ERR_SM_WRONG_FIRMWARE_TYPE, -129, "ERR_SM_WRONG_FIRMWARE_TYPE == -129");
    CHECK_EQ(ERR_SM_OS_RESOURCE_PROBLEM, -131, "ERR_SM_OS_RESOURCE_PROBLEM == -131");
    CHECK_EQ(ERR_SM_WRONG_MODULE_STATE, -132, "ERR_SM_WRONG_MODULE_STATE == -132");
    CHECK_EQ(ERR_SM_OS_OTHER_PROBLEM, -134, "ERR_SM_OS_OTHER_PROBLEM == -134");
    CHECK_EQ(ERR_SM_OS_INTERRUPTED_WAIT, -135, "ERR_SM_OS_INTERRUPTED_WAIT == -135");
}

static void check_names(void)
{
    static const struct {
        const char *what, *name_macro, *expansion, *contract;
    } names[] = {
        {"config", SM_SNTP_CONFIG_NAME, STR(sm_sntp_config), "sm_sntp_config_iPsSNTPtSAdiUiUi_"},
        {"config_ipv6", SM_SNTP_CONFIG_IPV6_NAME, STR(sm_sntp_config_ipv6), "sm_sntp_config_ipv6_iPsSNTPtSA6dUiUi_"},
        {"create", SM_SNTP_CREATE_NAME, STR(sm_sntp_create), "sm_sntp_create_iPsSNTPtMte1_2_SIdSI6d_"},
        {"destroy", SM_SNTP_DESTROY_NAME, STR(sm_sntp_destroy), "sm_sntp_destroy_iSNTPt"},
        {"get_event", SM_SNTP_GET_EVENT_NAME, STR(sm_sntp_get_event), "sm_sntp_get_event_iPsSNTPtEt_"},
        {"status", SM_SNTP_STATUS_NAME, STR(sm_sntp_status), "sm_sntp_status_iPsSNTPte1_3_usi___"},
    };
    size_t i;
#ifdef TiNG_USE_UNDECORATED_NAMES
    CHECK(0, "abi_layout.c must be built without TiNG_USE_UNDECORATED_NAMES");
#endif
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        CHECK(strcmp(names[i].name_macro, names[i].contract) == 0, "SM_SNTP_%s_NAME is \"%s\" (got \"%s\")",
              names[i].what, names[i].contract, names[i].name_macro);
        CHECK(strcmp(names[i].expansion, names[i].contract) == 0, "sm_sntp_%s expands to %s (got %s)",
              names[i].what, names[i].contract, names[i].expansion);
    }
}

static void check_function_typedefs(void)
{
    /* Compile-time: each *_FN typedef accepts its function (-Werror). The
     * names are macros here, so these are the decorated symbols. */
    SM_SNTP_CONFIG_FN config = sm_sntp_config;
    SM_SNTP_CONFIG_IPV6_FN config_ipv6 = sm_sntp_config_ipv6;
    SM_SNTP_CREATE_FN create = sm_sntp_create;
    SM_SNTP_DESTROY_FN destroy = sm_sntp_destroy;
    SM_SNTP_GET_EVENT_FN get_event = sm_sntp_get_event;
    SM_SNTP_STATUS_FN status = sm_sntp_status;

    CHECK_EQ(config(NULL), ERR_SM_BAD_PARAMETER, "SM_SNTP_CONFIG_FN: config(NULL) == ERR_SM_BAD_PARAMETER");
    CHECK_EQ(config_ipv6(NULL), ERR_SM_BAD_PARAMETER,
             "SM_SNTP_CONFIG_IPV6_FN: config_ipv6(NULL) == ERR_SM_BAD_PARAMETER");
    CHECK_EQ(create(NULL), ERR_SM_BAD_PARAMETER, "SM_SNTP_CREATE_FN: create(NULL) == ERR_SM_BAD_PARAMETER");
    CHECK_EQ(destroy(NULL), 0, "SM_SNTP_DESTROY_FN: destroy(NULL) == 0");
    CHECK_EQ(get_event(NULL), ERR_SM_BAD_PARAMETER,
             "SM_SNTP_GET_EVENT_FN: get_event(NULL) == ERR_SM_BAD_PARAMETER");
    CHECK_EQ(status(NULL), ERR_SM_BAD_PARAMETER, "SM_SNTP_STATUS_FN: status(NULL) == ERR_SM_BAD_PARAMETER");
    /* And direct calls, as most programs write them. */
    CHECK_EQ(sm_sntp_destroy(NULL), 0, "sm_sntp_destroy(NULL) == 0 called directly (decorated symbol)");
    CHECK_EQ(sm_sntp_status(NULL), ERR_SM_BAD_PARAMETER, "sm_sntp_status(NULL) called directly");
}

int main(void)
{
    h_guard("abi_layout", 1);
    check_types();
    check_layout();
    check_constants();
    check_names();
    check_function_typedefs();
    return h_exit_code("abi_layout");
}
