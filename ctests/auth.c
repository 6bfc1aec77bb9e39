/*
 * auth.c: symmetric-key authentication through the C ABI, against chronyd.
 *
 *   auth ADDR:PORT KEYFILE [CA NAME KE_PORT]
 *
 * chronyd serving keyed NTP with KEYFILE's keys (scripts/testnet.sh: IDs
 * 1-6) and, with CA, NTS (its certificate names NAME, from CA).
 *
 * Each key from the chrony key file reaches Sync and the stats name it; the
 * AES128 key given as bytes does too; a wrong key never syncs and is counted
 * as a bad MAC; bad parameters are refused and leave the client as it was.
 * NTS reaches Sync, and a key and NTS on one client are refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prossntp.h"
#include "prossntp_ext.h"
#include "harness.h"

static int stats(tSMSNTPId c, struct prossntp_stats *s)
{
    memset(s, 0, sizeof *s);
    s->size = sizeof *s;
    return prossntp_get_stats(c, s);
}

static int key(tSMSNTPId c, unsigned int id, const char *type, const unsigned char *bytes, size_t len)
{
    struct prossntp_key_parms p;
    memset(&p, 0, sizeof p);
    p.size = sizeof p;
    p.key_id = id;
    p.type = type;
    p.key = bytes;
    p.key_len = len;
    return prossntp_config_key(c, &p);
}

/* A new client of the server's address family. */
static tSMSNTPId start(const struct h_addr *server)
{
    tSMSNTPId c = NULL;
    CHECK_EQ(h_create(server->family, &c), 0, "create");
    return c;
}

static int config_nts(tSMSNTPId c, const char *ca, const char *name, unsigned short port)
{
    struct prossntp_nts_parms p;
    memset(&p, 0, sizeof p);
    p.size = sizeof p;
    p.server_name = name;
    p.ca_file = ca;
    p.ke_port = port;
    return prossntp_config_nts(c, &p);
}

static void nts(const struct h_addr *server, const char *ca, const char *name, unsigned short port)
{
    static const unsigned char k[16] = {1};
    struct tSMEventId ev;
    struct prossntp_stats s;
    tSMSNTPId c = start(server);

    CHECK_EQ(config_nts(c, ca, name, port), ERR_SM_OK, "NTS, certificate name %s", name);
    CHECK_EQ(h_config(c, server, 1000, 64000), 0, "config");
    CHECK_EQ(h_get_event(c, &ev), 0, "get_event");
    CHECK(h_wait_sync(c, &ev, 1, 15000) >= 0, "NTS: sync");
    CHECK_EQ(stats(c, &s), 0, "stats");
    CHECK_EQ(s.auth, PROSSNTP_AUTH_NTS, "stats: NTS");
    CHECK_EQ(s.nts_state, PROSSNTP_NTS_READY, "stats: keys held (%s)", s.nts_error);
    CHECK(s.nts_cookies >= 1 && s.nts_key_exchanges >= 1, "stats: %d cookies, %llu key exchanges", s.nts_cookies,
          (unsigned long long)s.nts_key_exchanges);
    CHECK_EQ(key(c, 4, "AES128", k, sizeof k), ERR_SM_BAD_PARAMETER, "a key on an NTS client");
    CHECK_EQ(config_nts(c, ca, NULL, port), ERR_SM_BAD_PARAMETER, "NULL server name");
    CHECK_EQ(config_nts(c, "/nonexistent/ca.pem", name, port), ERR_SM_BAD_PARAMETER, "unreadable CA file");
    CHECK_EQ(sm_sntp_destroy(c), 0, "destroy");
}

int main(int argc, char **argv)
{
    static const unsigned char aes128[16] = {0x7e, 0xa6, 0x2a, 0xe6, 0x4d, 0x19, 0x01, 0x14,
                                             0xd4, 0x6d, 0x5a, 0x08, 0x2f, 0x94, 0x8e, 0xc1};
    static const struct { unsigned int id; const char *type; } types[] = {
        {1, "MD5"}, {2, "SHA1"}, {3, "SHA256"}, {4, "AES128"}, {5, "AES256"}, {6, "MD5"},
    };
    unsigned char wrong[16];
    struct h_addr server;
    struct tSMEventId ev;
    struct prossntp_stats s;
    tSMSNTPId c;
    size_t i;

    h_guard("auth", 1);
    if ((argc != 3 && argc != 6) || h_parse_addr(argv[1], &server) != 0) {
        fprintf(stderr, "usage: auth ADDR:PORT KEYFILE [CA NAME KE_PORT]\n");
        return 2;
    }
    if (argc == 6)
        nts(&server, argv[3], argv[4], (unsigned short)atoi(argv[5]));
    for (i = 0; i < sizeof types / sizeof types[0]; i++) {
        c = start(&server);
        CHECK_EQ(prossntp_config_keyfile(c, argv[2], types[i].id), ERR_SM_OK, "key %u from the key file", types[i].id);
        CHECK_EQ(h_config(c, &server, 1000, 64000), 0, "config");
        CHECK_EQ(h_get_event(c, &ev), 0, "get_event");
        CHECK(h_wait_sync(c, &ev, 1, 10000) >= 0, "%s key %u: sync", types[i].type, types[i].id);
        CHECK_EQ(stats(c, &s), 0, "stats");
        CHECK_EQ(s.auth, PROSSNTP_AUTH_KEY, "stats: authenticated by a key");
        CHECK_EQ(s.key_id, types[i].id, "stats: its ID");
        CHECK(strcmp(s.key_type, types[i].type) == 0, "stats: type %s (%s)", s.key_type, types[i].type);
        CHECK_EQ(s.rejected_total, 0, "nothing rejected");
        CHECK_EQ(sm_sntp_destroy(c), 0, "destroy");
    }

    /* The AES128 key as bytes, given after config. */
    c = start(&server);
    CHECK_EQ(h_config(c, &server, 1000, 64000), 0, "config");
    CHECK_EQ(key(c, 4, "AES128", aes128, sizeof aes128), ERR_SM_OK, "AES128 key as bytes, after config");
    CHECK_EQ(h_get_event(c, &ev), 0, "get_event");
    CHECK(h_wait_sync(c, &ev, 1, 10000) >= 0, "AES128 as bytes: sync");
    CHECK_EQ(sm_sntp_destroy(c), 0, "destroy");

    /* The right ID with the wrong key: never synced, never used. */
    memset(wrong, 0x42, sizeof wrong);
    c = start(&server);
    CHECK_EQ(key(c, 4, "AES128", wrong, sizeof wrong), ERR_SM_OK, "a wrong AES128 key");
    CHECK_EQ(h_config(c, &server, 1000, 1000), 0, "config");
    CHECK_EQ(h_get_event(c, &ev), 0, "get_event");
    CHECK(h_wait_sync(c, &ev, 1, 4000) < 0, "wrong key: no sync");
    CHECK_EQ(stats(c, &s), 0, "stats");
    CHECK_EQ(s.replies, 0, "wrong key: no reply used");
    CHECK(s.requests >= 2, "wrong key: %llu requests sent", (unsigned long long)s.requests);
    h_note("wrong key: %llu requests; rejected missing %llu, wrong key ID %llu, bad MAC %llu",
           (unsigned long long)s.requests, (unsigned long long)s.rejected[PROSSNTP_REJECT_AUTH_MISSING],
           (unsigned long long)s.rejected[PROSSNTP_REJECT_AUTH_WRONG_KEY],
           (unsigned long long)s.rejected[PROSSNTP_REJECT_AUTH_BAD_MAC]);

    /* Bad parameters: refused, the client as it was. */
    CHECK_EQ(key(c, 0, "AES128", aes128, 16), ERR_SM_BAD_PARAMETER, "key ID 0");
    CHECK_EQ(key(c, 4, "SHA384", aes128, 16), ERR_SM_BAD_PARAMETER, "unknown type");
    CHECK_EQ(key(c, 4, NULL, aes128, 16), ERR_SM_BAD_PARAMETER, "NULL type");
    CHECK_EQ(key(c, 4, "AES128", aes128, 15), ERR_SM_BAD_PARAMETER, "AES128 of 15 bytes");
    CHECK_EQ(key(c, 4, "AES128", NULL, 16), ERR_SM_BAD_PARAMETER, "NULL key");
    CHECK_EQ(key(NULL, 4, "AES128", aes128, 16), ERR_SM_BAD_PARAMETER, "NULL handle");
    CHECK_EQ(prossntp_config_keyfile(c, "/nonexistent/keys", 4), ERR_SM_BAD_PARAMETER, "unreadable key file");
    CHECK_EQ(prossntp_config_keyfile(c, argv[2], 99), ERR_SM_BAD_PARAMETER, "no such key ID in the file");
    CHECK_EQ(prossntp_config_keyfile(c, NULL, 4), ERR_SM_BAD_PARAMETER, "NULL path");
    CHECK_EQ(stats(c, &s), 0, "stats");
    CHECK_EQ(s.key_id, 4, "still the key given before");
    /* NULL: plain SNTP again, and it syncs. */
    CHECK_EQ(prossntp_config_key(c, NULL), ERR_SM_OK, "remove the key");
    CHECK(h_wait_sync(c, &ev, 1, 10000) >= 0, "plain again: sync");
    CHECK_EQ(stats(c, &s), 0, "stats");
    CHECK_EQ(s.auth, PROSSNTP_AUTH_NONE, "stats: no authentication");
    CHECK_EQ(sm_sntp_destroy(c), 0, "destroy");
    return h_exit_code("auth");
}
