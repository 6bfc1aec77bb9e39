/*
 * undecorated.c: built WITH -DTiNG_USE_UNDECORATED_NAMES, so the sm_sntp_*
 * names are not macros and the program links to the plain symbols (run.sh
 * checks that with nm). Also the program run.sh links statically.
 */
#include "prossntp.h"

#include "harness.h"

#define STR_(x) #x
#define STR(x) STR_(x)

int main(void)
{
    SM_SNTP_CONFIG_FN config = sm_sntp_config;
    SM_SNTP_CONFIG_IPV6_FN config_ipv6 = sm_sntp_config_ipv6;
    SM_SNTP_CREATE_FN create = sm_sntp_create;
    SM_SNTP_DESTROY_FN destroy = sm_sntp_destroy;
    SM_SNTP_GET_EVENT_FN get_event = sm_sntp_get_event;
    SM_SNTP_STATUS_FN status = sm_sntp_status;
    tSMSNTPId sntp = NULL;
    struct tSMEventId ev;
    SM_SNTP_STATUS_PARMS st;

    h_guard("undecorated", 1);
#ifndef TiNG_USE_UNDECORATED_NAMES
    CHECK(0, "undecorated.c must be built with -DTiNG_USE_UNDECORATED_NAMES");
#endif
    CHECK(strcmp(STR(sm_sntp_config), "sm_sntp_config") == 0, "sm_sntp_config is not a macro (%s)",
          STR(sm_sntp_config));
    CHECK(strcmp(STR(sm_sntp_status), "sm_sntp_status") == 0, "sm_sntp_status is not a macro (%s)",
          STR(sm_sntp_status));
    CHECK(strcmp(SM_SNTP_CONFIG_NAME, "sm_sntp_config_iPsSNTPtSAdiUiUi_") == 0,
          "SM_SNTP_CONFIG_NAME is still the decorated name");

    CHECK_EQ(config(NULL), ERR_SM_BAD_PARAMETER, "sm_sntp_config(NULL) == ERR_SM_BAD_PARAMETER");
    CHECK_EQ(config_ipv6(NULL), ERR_SM_BAD_PARAMETER, "sm_sntp_config_ipv6(NULL) == ERR_SM_BAD_PARAMETER");
    CHECK_EQ(create(NULL), ERR_SM_BAD_PARAMETER, "sm_sntp_create(NULL) == ERR_SM_BAD_PARAMETER");
    CHECK_EQ(destroy(NULL), 0, "sm_sntp_destroy(NULL) == 0");
    CHECK_EQ(get_event(NULL), ERR_SM_BAD_PARAMETER, "sm_sntp_get_event(NULL) == ERR_SM_BAD_PARAMETER");
    CHECK_EQ(status(NULL), ERR_SM_BAD_PARAMETER, "sm_sntp_status(NULL) == ERR_SM_BAD_PARAMETER");

    /* A create/get_event/status/destroy cycle through the plain names. */
    CHECK_EQ(h_create(AF_INET, &sntp), 0, "create an IPv4 client with the plain names");
    CHECK_EQ(h_get_event(sntp, &ev), 0, "get_event");
    CHECK(ev.fd >= 0 && ev.mode == (POLLIN | POLLPRI), "event fd %d, mode %d", ev.fd, ev.mode);
    CHECK_EQ(h_status(sntp, &st), 0, "status");
    CHECK_EQ(st.status, kSMSNTPStatusRunning, "an unconfigured client is Running");
    CHECK_EQ(sm_sntp_destroy(sntp), 0, "destroy");
    CHECK_EQ(sm_sntp_destroy(sntp), ERR_SM_BAD_PARAMETER, "destroy again == ERR_SM_BAD_PARAMETER");
    return h_exit_code("undecorated");
}
