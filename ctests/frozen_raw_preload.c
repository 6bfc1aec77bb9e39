/*
 * ctests/frozen_raw_preload.c: an LD_PRELOAD shim under which the raw clock
 * stands still unless the library sleeps or polls (ctests/nospin.c).
 *
 *   cc -shared -fPIC frozen_raw_preload.c -o frozen_raw_preload.so -ldl
 *
 * The library reads its raw clock with libc's clock_gettime
 * (CLOCK_MONOTONIC_RAW, src/sys/time.rs), sleeps with clock_nanosleep
 * (std::thread::sleep) and waits in poll (src/sys/poll.rs), all through the
 * dynamic symbol table, so a preloaded object sees every call:
 *
 *   - clock_gettime(CLOCK_MONOTONIC_RAW) returns a fixed base (the real raw
 *     clock at the first call) plus an offset; every other clock passes
 *     through;
 *   - nanosleep, clock_nanosleep, poll and ppoll on any thread but the
 *     program's main one (the test's own waits) move the offset on by the
 *     real time the call took (CLOCK_MONOTONIC), at least 1 ns;
 *   - a raw clock read SPIN_LIMIT times in a row without moving is a spin:
 *     the shim says so on stderr and aborts, so a spinning worker fails its
 *     test at once rather than hanging it.
 *
 * frozen_raw_stats() gives the counts to the test (found with dlsym).
 * The shim never changes a clock; it only changes what this process reads.
 */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Reads of a standing raw clock that make a spin: the library's worker
 * reads it some 34 times a publish (SPIN_READS in clock_board.rs), a
 * reader once a call. */
#define SPIN_LIMIT 1000000L

typedef int (*gettime_fn)(clockid_t, struct timespec *);
typedef int (*nanosleep_fn)(const struct timespec *, struct timespec *);
typedef int (*clock_nanosleep_fn)(clockid_t, int, const struct timespec *, struct timespec *);
typedef int (*poll_fn)(struct pollfd *, nfds_t, int);
typedef int (*ppoll_fn)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);

static gettime_fn real_gettime;
static nanosleep_fn real_nanosleep;
static clock_nanosleep_fn real_clock_nanosleep;
static poll_fn real_poll;
static ppoll_fn real_ppoll;

static int64_t base_ns = -1;
static int64_t offset_ns;
static int64_t reads, still_reads, most_still_reads, moves, sleeps;

static void die(const char *msg)
{
    ssize_t n = write(2, msg, strlen(msg));
    (void)n;
    abort();
}

/* The next definition of `name` (glibc's), as a function pointer in *out. */
static void next(const char *name, void *out, size_t size)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p == NULL)
        die("frozen_raw_preload: dlsym(RTLD_NEXT) found no libc function\n");
    memcpy(out, &p, size);
}

static void resolve(void)
{
    if (__atomic_load_n(&real_ppoll, __ATOMIC_ACQUIRE) != NULL)
        return;
    /* Two threads may both get here: they store the same pointers. */
    {
        gettime_fn g;
        nanosleep_fn n;
        clock_nanosleep_fn cn;
        poll_fn p;
        ppoll_fn pp;
        next("clock_gettime", &g, sizeof g);
        next("nanosleep", &n, sizeof n);
        next("clock_nanosleep", &cn, sizeof cn);
        next("poll", &p, sizeof p);
        next("ppoll", &pp, sizeof pp);
        __atomic_store_n(&real_gettime, g, __ATOMIC_RELEASE);
        __atomic_store_n(&real_nanosleep, n, __ATOMIC_RELEASE);
        __atomic_store_n(&real_clock_nanosleep, cn, __ATOMIC_RELEASE);
        __atomic_store_n(&real_poll, p, __ATOMIC_RELEASE);
        __atomic_store_n(&real_ppoll, pp, __ATOMIC_RELEASE);
    }
}

static int64_t real_ns(clockid_t id)
{
    struct timespec ts;
    resolve();
    real_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t base(void)
{
    int64_t b = __atomic_load_n(&base_ns, __ATOMIC_ACQUIRE);
    if (b < 0) {
        int64_t want = -1;
        b = real_ns(CLOCK_MONOTONIC_RAW);
        if (!__atomic_compare_exchange_n(&base_ns, &want, b, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            b = want;
    }
    return b;
}

static int library_thread(void)
{
    return (pid_t)syscall(SYS_gettid) != getpid();
}

/* Returns the start of a wait (CLOCK_MONOTONIC ns) to pass to moved(). */
static int64_t waiting(void)
{
    return real_ns(CLOCK_MONOTONIC);
}

/* A wait that began at `start` has ended: on a library thread the raw clock
 * moves on by the time it took. */
static void moved(int64_t start, int sleep)
{
    int64_t d;
    if (!library_thread())
        return;
    if (sleep)
        __atomic_fetch_add(&sleeps, 1, __ATOMIC_RELAXED);
    d = real_ns(CLOCK_MONOTONIC) - start;
    __atomic_fetch_add(&offset_ns, d > 0 ? d : 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&still_reads, 0, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&moves, 1, __ATOMIC_RELAXED);
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    int64_t now, still, most;
    resolve();
    if (id != CLOCK_MONOTONIC_RAW)
        return real_gettime(id, ts);
    now = base() + __atomic_load_n(&offset_ns, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&reads, 1, __ATOMIC_RELAXED);
    still = __atomic_add_fetch(&still_reads, 1, __ATOMIC_SEQ_CST);
    most = __atomic_load_n(&most_still_reads, __ATOMIC_RELAXED);
    while (still > most &&
           !__atomic_compare_exchange_n(&most_still_reads, &most, still, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    if (still >= SPIN_LIMIT)
        die("frozen_raw_preload: CLOCK_MONOTONIC_RAW read 1000000 times in a row without a sleep or poll: "
            "a spin on a raw clock that moves only while the library sleeps\n");
    ts->tv_sec = (time_t)(now / 1000000000);
    ts->tv_nsec = (long)(now % 1000000000);
    return 0;
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
    int64_t start = waiting();
    int rc = real_nanosleep(req, rem), e = errno;
    moved(start, 1);
    errno = e;
    return rc;
}

int clock_nanosleep(clockid_t id, int flags, const struct timespec *req, struct timespec *rem)
{
    int64_t start = waiting();
    int rc = real_clock_nanosleep(id, flags, req, rem);
    moved(start, 1);
    return rc;
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    int64_t start = waiting();
    int rc = real_poll(fds, n, timeout), e = errno;
    moved(start, 0);
    errno = e;
    return rc;
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask)
{
    int64_t start = waiting();
    int rc = real_ppoll(fds, n, timeout, mask), e = errno;
    moved(start, 0);
    errno = e;
    return rc;
}

/* The shim's counts: raw reads, moves (sleeps and polls), how far the raw
 * clock has moved (ns), the most reads in a row of a standing raw clock,
 * and the moves that were sleeps. */
void frozen_raw_stats(int64_t out[5]);
void frozen_raw_stats(int64_t out[5])
{
    out[0] = __atomic_load_n(&reads, __ATOMIC_SEQ_CST);
    out[1] = __atomic_load_n(&moves, __ATOMIC_SEQ_CST);
    out[2] = __atomic_load_n(&offset_ns, __ATOMIC_SEQ_CST);
    out[3] = __atomic_load_n(&most_still_reads, __ATOMIC_SEQ_CST);
    out[4] = __atomic_load_n(&sleeps, __ATOMIC_SEQ_CST);
}
