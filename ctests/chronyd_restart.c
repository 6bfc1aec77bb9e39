/*
 * chronyd_restart.c: prossntp_now's status against a chronyd of its own that
 * is stopped and started again.
 *
 *   chronyd_restart PORT
 *
 * Starts `chronyd -x` (it never touches the clock) serving this host's clock
 * on 127.0.0.1:PORT, a client polling it every 2 s; synchronised; chronyd
 * killed: holdover within twice the poll and a second (and a little); chronyd
 * started again: synchronised. Every 50 ms throughout, the truth (the host
 * clock chronyd serves, read between two reads of the interval) lies in
 * [earliest, latest], give or take 20 us of chronyd's own handling.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "prossntp.h"
#include "prossntp_ext.h"
#include "harness.h"

#define SLACK_NS 20000

static char dir[] = "/tmp/prossntp-chronyd-XXXXXX";

static pid_t chronyd_start(int port)
{
    char conf[256], log[256];
    FILE *f;
    pid_t pid;
    snprintf(conf, sizeof conf, "%s/chrony.conf", dir);
    snprintf(log, sizeof log, "%s/chronyd.log", dir);
    f = fopen(conf, "w");
    if (f == NULL)
        return -1;
    fprintf(f,
            "port %d\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 1\ncmdport 0\nbindcmdaddress /\n"
            "pidfile %s/chronyd.pid\n",
            port, dir);
    fclose(f);
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        FILE *out = freopen(log, "a", stdout);
        if (out != NULL)
            dup2(1, 2);
        execlp("chronyd", "chronyd", "-x", "-d", "-u", "root", "-f", conf, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void chronyd_stop(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
        *pid = -1;
    }
}

static int64_t realtime_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return h_ns_of(t);
}

/* Watches for up to `secs` (until status `until`, if not -1): the statuses
 * seen into seen[] (repeats dropped; count returned), the worst excess. */
static int watch(tSMSNTPId c, double secs, int until, int *seen, int64_t *worst)
{
    struct prossntp_interval before, after;
    double start = h_now();
    int n = 0;
    while (h_now() - start < secs) {
        int64_t truth, out;
        h_interval_now(c, &before);
        truth = realtime_ns();
        h_interval_now(c, &after);
        out = truth < h_ns_of(before.earliest) - SLACK_NS ? h_ns_of(before.earliest) - SLACK_NS - truth
              : truth > h_ns_of(after.latest) + SLACK_NS ? truth - h_ns_of(after.latest) - SLACK_NS
                                                         : 0;
        if (out > *worst)
            *worst = out;
        if (n == 0 || seen[n - 1] != after.status)
            if (n < 8)
                seen[n++] = after.status;
        if (after.status == until)
            break;
        h_sleep_ms(50);
    }
    return n;
}

int main(int argc, char **argv)
{
    int port, seen[8], n;
    int64_t worst = 0;
    pid_t pid;
    struct h_addr server;
    struct prossntp_interval iv;
    tSMSNTPId c;
    double t0;
    char addr[64];

    h_guard("chronyd_restart", 1);
    if (argc != 2 || (port = atoi(argv[1])) <= 0) {
        fprintf(stderr, "usage: chronyd_restart PORT\n");
        return 2;
    }
    if (mkdtemp(dir) == NULL || (pid = chronyd_start(port)) < 0) {
        CHECK(0, "start chronyd");
        return h_exit_code("chronyd_restart");
    }
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    h_parse_addr(addr, &server);
    CHECK_EQ(h_create(AF_INET, &c), 0, "create");
    CHECK_EQ(h_config(c, &server, 2000, 2000), 0, "config");
    memset(&iv, 0, sizeof iv);
    iv.size = sizeof iv;
    CHECK_EQ(prossntp_wait_bound(c, 0.01, 20000, &iv), 0, "synchronised with chronyd, bound under 10 ms");
    n = watch(c, 6.0, -1, seen, &worst);
    CHECK(n == 1 && seen[0] == PROSSNTP_TIME_SYNCHRONISED, "  synchronised for 6 s (%d statuses seen)", n);
    chronyd_stop(&pid);
    t0 = h_now();
    n = watch(c, 12.0, PROSSNTP_TIME_HOLDOVER, seen, &worst);
    CHECK(n >= 1 && seen[n - 1] == PROSSNTP_TIME_HOLDOVER && h_now() - t0 < 8.0,
          "chronyd killed: holdover after %.1f s (twice the 2 s poll and a second after the last reply)", h_now() - t0);
    n = watch(c, 5.0, -1, seen, &worst);
    CHECK(n == 1 && seen[0] == PROSSNTP_TIME_HOLDOVER, "  holdover 5 s more");
    pid = chronyd_start(port);
    t0 = h_now();
    n = watch(c, 20.0, PROSSNTP_TIME_SYNCHRONISED, seen, &worst);
    CHECK(n >= 1 && seen[n - 1] == PROSSNTP_TIME_SYNCHRONISED, "chronyd started again: synchronised after %.1f s",
          h_now() - t0);
    CHECK_EQ(worst, 0, "the truth always inside [earliest, latest] (give or take 20 us)");
    CHECK_EQ(sm_sntp_destroy(c), 0, "destroy");
    chronyd_stop(&pid);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            h_note("could not remove %s", dir);
    }
    return h_exit_code("chronyd_restart");
}
