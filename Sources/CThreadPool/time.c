/* The platform layer (platform.h): monotonic time, deadlines, timed
 * condition waits and CPU hints. */
#define _GNU_SOURCE /* sched_getcpu */
#include "platform.h"

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "ctp/ctp.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

uint64_t ctp__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ctp__deadline(uint64_t timeout_ns)
{
    if (timeout_ns == CTP_WAIT_FOREVER)
        return CTP_WAIT_FOREVER;
    uint64_t now = ctp__now_ns();
    return (timeout_ns > CTP_WAIT_FOREVER - 1 - now) ? CTP_WAIT_FOREVER - 1 : now + timeout_ns;
}

void ctp__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

int ctp__current_cpu(void)
{
#ifdef __linux__
    return sched_getcpu();
#else
    return -1;
#endif
}

uintptr_t ctp__stack_low(void)
{
#ifdef __linux__
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return 0;
    void *addr = NULL;
    size_t size = 0;
    int rc = pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    return rc == 0 ? (uintptr_t)addr : 0;
#else
    return 0;
#endif
}

int ctp__cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

int ctp__cancel_off(void)
{
    int old = PTHREAD_CANCEL_ENABLE;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    return old;
}

void ctp__cancel_restore(int state)
{
    int ignored;
    pthread_setcancelstate(state, &ignored);
}

bool ctp__cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *m, uint64_t deadline_ns)
{
    int cancel = ctp__cancel_off();
    bool timed_out = false;
    if (deadline_ns == CTP_WAIT_FOREVER) {
        pthread_cond_wait(cv, m);
    } else {
        struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000u),
                               .tv_nsec = (long)(deadline_ns % 1000000000u) };
        timed_out = pthread_cond_timedwait(cv, m, &ts) == ETIMEDOUT;
    }
    ctp__cancel_restore(cancel);
    return timed_out;
}

void ctp__precise_timers(void)
{
#ifdef __linux__
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
#endif
}
