/*
 * mt_shim: an LD_PRELOAD placed before clknetsim.so that lets a
 * multi-threaded client run under clknetsim, which serves one thread per
 * node. Used only by the "shim" mode of scripts/clknetsim-check.sh, to
 * measure the discipline despite the incompatibilities below; the plain mode
 * runs the library with clknetsim.so alone.
 *
 *  - socket(): clknetsim rejects a type carrying SOCK_CLOEXEC/SOCK_NONBLOCK
 *    (EINVAL); the flags are dropped (its sockets are all fake).
 *  - every faked call is serialised by one recursive mutex, since clknetsim
 *    keeps one request/reply channel to its server per process; poll()
 *    timeouts are capped at 1 s (simulated) so that a thread blocked in the
 *    server cannot hold the others out indefinitely.
 *  - eventfd(): clknetsim hands out an unarmed fake timerfd; a write() arms
 *    it to expire at once (so poll() sees it readable) and a read() disarms
 *    it; clknetsim's own read() would assert on a timer that has not fired.
 *  - recvmsg(MSG_ERRQUEUE): clknetsim answers it from the ordinary receive
 *    path when no transmit timestamp is queued, so it consumes (and
 *    truncates) the next datagram; here it fails with EAGAIN, as the kernel
 *    does, unless a send on a socket with SO_TIMESTAMPING has queued one.
 *  - adjtimex(ADJ_OFFSET_SS_READ): clknetsim takes its 0x2000 bit for
 *    ADJ_NANO and sets STA_NANO (which the library then sees as a change made
 *    by someone else); here it is a plain read (modes 0) whose offset is the
 *    remaining adjtime() offset, read with adjtime(NULL, &old).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <linux/net_tstamp.h>
#include <sys/timex.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t big = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
#define LOCK() pthread_mutex_lock(&big)
#define UNLOCK() pthread_mutex_unlock(&big)
#define NEXT(name) static __typeof__(name) *next_##name; if (!next_##name) next_##name = dlsym(RTLD_NEXT, #name)

#define MAX_FD 1024
static int ts_on[MAX_FD], ts_pending[MAX_FD];

#define MAX_EV 64
static int ev_fd[MAX_EV], ev_raised[MAX_EV], n_ev;

static int ev_index(int fd)
{
    for (int i = 0; i < n_ev; i++)
        if (ev_fd[i] == fd)
            return i;
    return -1;
}

int eventfd(unsigned int initval, int flags)
{
    NEXT(eventfd);
    (void)initval; (void)flags;
    LOCK();
    int fd = next_eventfd(0, 0);
    if (fd >= 0 && n_ev < MAX_EV) {
        ev_fd[n_ev] = fd;
        ev_raised[n_ev++] = 0;
    }
    UNLOCK();
    return fd;
}

ssize_t write(int fd, const void *buf, size_t count)
{
    NEXT(write);
    LOCK();
    int i = ev_index(fd);
    if (i >= 0) {
        struct itimerspec its;
        memset(&its, 0, sizeof its);
        its.it_value.tv_nsec = 1;
        timerfd_settime(fd, 0, &its, NULL);
        ev_raised[i] = 1;
        UNLOCK();
        return (ssize_t)count;
    }
    UNLOCK();
    return next_write(fd, buf, count);
}

ssize_t read(int fd, void *buf, size_t count)
{
    NEXT(read);
    LOCK();
    int i = ev_index(fd);
    if (i >= 0) {
        struct itimerspec its;
        memset(&its, 0, sizeof its);
        timerfd_settime(fd, 0, &its, NULL);
        if (!ev_raised[i]) {
            UNLOCK();
            errno = EAGAIN;
            return -1;
        }
        ev_raised[i] = 0;
        uint64_t one = 1;
        if (count >= 8)
            memcpy(buf, &one, 8);
        UNLOCK();
        return count >= 8 ? 8 : (ssize_t)count;
    }
    ssize_t r = next_read(fd, buf, count);
    UNLOCK();
    return r;
}

int close(int fd)
{
    NEXT(close);
    LOCK();
    int i = ev_index(fd);
    if (i >= 0) {
        ev_fd[i] = ev_fd[--n_ev];
        ev_raised[i] = ev_raised[n_ev];
    }
    if (fd >= 0 && fd < MAX_FD)
        ts_on[fd] = ts_pending[fd] = 0;
    int r = next_close(fd);
    UNLOCK();
    return r;
}

int socket(int domain, int type, int protocol)
{
    NEXT(socket);
    LOCK();
    int r = next_socket(domain, type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK), protocol);
    UNLOCK();
    return r;
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    NEXT(poll);
    /* A raised fake eventfd: report it here, as its timer is only seen by
       clknetsim's select when the simulated clock moves past it. */
    LOCK();
    int ready = 0;
    for (nfds_t k = 0; k < nfds; k++) {
        fds[k].revents = 0;
        int i = ev_index(fds[k].fd);
        if (i >= 0 && ev_raised[i] && (fds[k].events & POLLIN)) {
            fds[k].revents = POLLIN;
            ready++;
        }
    }
    if (ready) {
        UNLOCK();
        return ready;
    }
    if (timeout < 0 || timeout > 1000)
        timeout = 1000;
    int r = next_poll(fds, nfds, timeout);
    UNLOCK();
    return r;
}

#define WRAP(ret, name, params, args) \
    ret name params { NEXT(name); LOCK(); ret r = next_##name args; UNLOCK(); return r; }

WRAP(int, bind, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l))
WRAP(int, connect, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l))
int setsockopt(int fd, int lv, int o, const void *v, socklen_t l)
{
    NEXT(setsockopt);
    LOCK();
    int r = next_setsockopt(fd, lv, o, v, l);
    if (r == 0 && fd >= 0 && fd < MAX_FD && lv == SOL_SOCKET && o == SO_TIMESTAMPING && l >= (socklen_t)sizeof(int))
        ts_on[fd] = (*(const int *)v & SOF_TIMESTAMPING_TX_SOFTWARE) != 0;
    UNLOCK();
    return r;
}

ssize_t sendmsg(int fd, const struct msghdr *m, int f)
{
    NEXT(sendmsg);
    LOCK();
    ssize_t r = next_sendmsg(fd, m, f);
    if (r >= 0 && fd >= 0 && fd < MAX_FD && ts_on[fd])
        ts_pending[fd] = 1;
    UNLOCK();
    return r;
}

ssize_t sendto(int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l)
{
    NEXT(sendto);
    LOCK();
    ssize_t r = next_sendto(fd, b, n, f, a, l);
    if (r >= 0 && fd >= 0 && fd < MAX_FD && ts_on[fd])
        ts_pending[fd] = 1;
    UNLOCK();
    return r;
}

ssize_t recvmsg(int fd, struct msghdr *m, int f)
{
    NEXT(recvmsg);
    LOCK();
    if ((f & MSG_ERRQUEUE) && fd >= 0 && fd < MAX_FD) {
        if (!ts_pending[fd]) {
            UNLOCK();
            errno = EAGAIN;
            return -1;
        }
        ts_pending[fd] = 0;
    }
    ssize_t r = next_recvmsg(fd, m, f);
    UNLOCK();
    return r;
}
WRAP(int, getsockopt, (int fd, int lv, int o, void *v, socklen_t *l), (fd, lv, o, v, l))
WRAP(int, getsockname, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))
WRAP(ssize_t, recvfrom, (int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l), (fd, b, n, f, a, l))
WRAP(int, clock_gettime, (clockid_t c, struct timespec *t), (c, t))
WRAP(int, clock_settime, (clockid_t c, const struct timespec *t), (c, t))
static void ss_read_fix(struct timex *t, int *ss)
{
    *ss = t->modes == ADJ_OFFSET_SS_READ;
    if (*ss)
        t->modes = 0;
}

static void ss_read_done(struct timex *t, int ss)
{
    struct timeval old;
    if (!ss)
        return;
    t->modes = ADJ_OFFSET_SS_READ;
    if (adjtime(NULL, &old) == 0)
        t->offset = old.tv_sec * 1000000 + old.tv_usec;
}

int adjtimex(struct timex *t)
{
    NEXT(adjtimex);
    int ss;
    LOCK();
    ss_read_fix(t, &ss);
    int r = next_adjtimex(t);
    ss_read_done(t, ss);
    UNLOCK();
    return r;
}

int ntp_adjtime(struct timex *t)
{
    NEXT(ntp_adjtime);
    int ss;
    LOCK();
    ss_read_fix(t, &ss);
    int r = next_ntp_adjtime(t);
    ss_read_done(t, ss);
    UNLOCK();
    return r;
}

int clock_adjtime(clockid_t c, struct timex *t)
{
    NEXT(clock_adjtime);
    int ss;
    LOCK();
    ss_read_fix(t, &ss);
    int r = next_clock_adjtime(c, t);
    ss_read_done(t, ss);
    UNLOCK();
    return r;
}
WRAP(int, adjtime, (const struct timeval *d, struct timeval *o), (d, o))
WRAP(int, nanosleep, (const struct timespec *q, struct timespec *m), (q, m))
WRAP(int, clock_nanosleep, (clockid_t c, int f, const struct timespec *q, struct timespec *m), (c, f, q, m))
WRAP(ssize_t, getrandom, (void *b, size_t n, unsigned int f), (b, n, f))
