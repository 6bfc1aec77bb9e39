/*
 * fork.c: fork() after create. The child inherits the handles but no worker
 * threads: it must not hang or double-free. Documented behaviour: in the
 * child, an inherited client reports Stopped, config and get_event return
 * ERR_SM_WRONG_MODULE_STATE, destroy releases the handle (0), and new
 * clients work normally. The parent's client is untouched.
 *
 *   fork ADDR:PORT     (the test server)
 */
#include "prossntp.h"
#include "harness.h"

#include <pthread.h>
#include <sys/wait.h>

static volatile int hammering = 1;

/* Calls status on the shared handle without pause, so forks happen while
 * another thread is inside the library. */
static void *hammer(void *arg)
{
    tSMSNTPId sntp = (tSMSNTPId)arg;
    SM_SNTP_STATUS_PARMS st;
    while (hammering)
        h_status(sntp, &st);
    return NULL;
}

static int child(tSMSNTPId inherited, const struct h_addr *server)
{
    SM_SNTP_STATUS_PARMS st;
    struct tSMEventId ev;
    tSMSNTPId fresh;

    alarm(20); /* a hang fails the test instead of blocking it */
    h_failures = 0; /* the parent's count came along */
    CHECK_EQ(h_status(inherited, &st), 0, "child: status on an inherited client");
    CHECK_EQ(st.status, kSMSNTPStatusStopped, "child: an inherited client reports Stopped");
    CHECK_EQ(h_config(inherited, server, 500, 2000), ERR_SM_WRONG_MODULE_STATE, "child: config on an inherited client");
    CHECK_EQ(h_get_event(inherited, &ev), ERR_SM_WRONG_MODULE_STATE, "child: get_event on an inherited client");
    CHECK_EQ(sm_sntp_destroy(inherited), 0, "child: destroy of an inherited client");
    CHECK_EQ(sm_sntp_destroy(inherited), ERR_SM_BAD_PARAMETER, "child: second destroy");
    CHECK_EQ(h_create(server->family, &fresh), 0, "child: a new client");
    CHECK_EQ(h_get_event(fresh, &ev), 0, "child: its event");
    CHECK_EQ(h_config(fresh, server, 500, 2000), 0, "child: its config");
    CHECK(h_wait_sync(fresh, &ev, 1, 10000) >= 0, "child: the new client syncs");
    CHECK_EQ(sm_sntp_destroy(fresh), 0, "child: destroy of the new client");
    return h_failures == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct h_addr server;
    tSMSNTPId sntp;
    struct tSMEventId ev, ev2;
    pthread_t thread;
    int i;

    h_guard("fork", 1);
    if (argc != 2 || h_parse_addr(argv[1], &server) != 0) {
        fprintf(stderr, "usage: fork ADDR:PORT\n");
        return 2;
    }
    CHECK_EQ(h_create(server.family, &sntp), 0, "create");
    CHECK_EQ(h_get_event(sntp, &ev), 0, "get_event");
    CHECK_EQ(h_config(sntp, &server, 500, 2000), 0, "config");
    CHECK(h_wait_sync(sntp, &ev, 1, 10000) >= 0, "parent syncs before forking");
    pthread_create(&thread, NULL, hammer, sntp);

    for (i = 0; i < 10; i++) {
        int status = 0;
        pid_t pid;
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
            int rc = child(sntp, &server);
            fflush(NULL);
            _exit(rc);
        }
        CHECK(pid > 0, "fork %d", i);
        CHECK(waitpid(pid, &status, 0) == pid, "wait for child %d", i);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d ended well (status 0x%x)", i, status);
    }
    hammering = 0;
    pthread_join(thread, NULL);

    /* The parent's client is unaffected. */
    CHECK_EQ(h_get_event(sntp, &ev2), 0, "parent: get_event after the forks");
    CHECK(ev2.fd == ev.fd, "parent: same event descriptor");
    CHECK_EQ(h_config(sntp, &server, 500, 2000), 0, "parent: config after the forks");
    h_sleep_ms(300);
    h_ts_set(&server, "mode=silent");
    CHECK(h_wait_sync(sntp, &ev, 0, 10000) >= 0, "parent: its worker still runs (loses sync when the server goes silent)");
    CHECK_EQ(sm_sntp_destroy(sntp), 0, "parent: destroy");
    return h_exit_code("fork");
}
