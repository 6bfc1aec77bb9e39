/*
 * clock_probe.c: may this process set the clock? run.sh refuses to run the
 * tests unless the answer is no. Harmless: adjtimex with modes = ADJ_TICK
 * and tick = 0 is refused with EINVAL when setting is permitted (an invalid
 * tick) and with EPERM when it is not; nothing is ever changed.
 * Exit status: 0 when EPERM (safe), 1 otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/timex.h>

int main(void)
{
    struct timex tx;
    int rc, err;

    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_TICK;
    tx.tick = 0;
    errno = 0;
    rc = adjtimex(&tx);
    err = errno;
    if (rc == -1 && err == EPERM) {
        printf("clock probe: adjtimex(ADJ_TICK, tick=0) -> EPERM: this process cannot set the clock\n");
        return 0;
    }
    printf("clock probe: adjtimex(ADJ_TICK, tick=0) -> %d (%s): this process MAY set the clock\n", rc,
           rc == -1 ? strerror(err) : "accepted");
    return 1;
}
