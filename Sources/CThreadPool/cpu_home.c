/* Where a worker may run, and keeping it off one CPU for a while
 * (platform.h, "CPU homes"). Linux only; elsewhere every call does nothing.
 *
 * Why: a worker woken by a thread that keeps running (a submitter that goes
 * on to help or to compute, a worker passing a wake on) is useful only on
 * another CPU. Kernels may put it on the waker's CPU even when another is
 * idle: this project's 2-vCPU test VM packs wake-ups onto busy vCPUs
 * (its kernel's sched_vcpu_pack), and there the woken worker waited behind
 * the helping submitter while the other CPU idled, in 46% of 16-task ticks
 * after a park (docs/scheduler.md, "Where a woken worker runs"). */
#define _GNU_SOURCE /* cpu_set_t, sched_setaffinity, gettid */
#include "platform.h"

#ifdef __linux__
#include <sched.h>
#include <sys/types.h>
#include <unistd.h>

void ctp__cpu_home_take(ctp__cpu_home *h)
{
    cpu_set_t set;
    h->cpus = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return;
    _Static_assert(sizeof h->mask >= sizeof set, "ctp__cpu_home.mask holds a cpu_set_t");
    __builtin_memcpy(h->mask, &set, sizeof set);
    h->tid = (int)gettid();
    h->cpus = CPU_COUNT(&set);
}

bool ctp__cpu_home_avoid(const ctp__cpu_home *h, int cpu)
{
    if (h->cpus < 2 || cpu < 0 || cpu >= CPU_SETSIZE)
        return false;
    cpu_set_t set;
    __builtin_memcpy(&set, h->mask, sizeof set);
    if (!CPU_ISSET((size_t)cpu, &set))
        return false; /* it cannot be put there anyway */
    CPU_CLR((size_t)cpu, &set);
    return sched_setaffinity((pid_t)h->tid, sizeof set, &set) == 0;
}

void ctp__cpu_home_return(const ctp__cpu_home *h)
{
    cpu_set_t set;
    __builtin_memcpy(&set, h->mask, sizeof set);
    sched_setaffinity(0, sizeof set, &set);
}

#else

void ctp__cpu_home_take(ctp__cpu_home *h)
{
    h->cpus = 0;
}

bool ctp__cpu_home_avoid(const ctp__cpu_home *h, int cpu)
{
    (void)h;
    (void)cpu;
    return false;
}

void ctp__cpu_home_return(const ctp__cpu_home *h)
{
    (void)h;
}

#endif
