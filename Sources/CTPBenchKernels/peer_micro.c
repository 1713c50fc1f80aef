/* Micro-benchmarks run through the ctpb_pool interface, so that every peer
 * of the bot benchmark is measured by the same code. See ctp_bots.h. */
#define _GNU_SOURCE
#include "ctp_bots.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static void sleep_us(unsigned us)
{
    struct timespec ts = { .tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000 };
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void usage(double *cpu, double *csw)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
    *csw = (double)(ru.ru_nvcsw + ru.ru_nivcsw);
}

typedef struct micro_ctx {
    _Atomic uint64_t done;   /* relaxed: read after pool->run returned */
    uint64_t start_ns;       /* written by the one item of a one-item batch */
    unsigned work_us;
    double work_seconds;
} micro_ctx;

static void empty_item(void *ctx, size_t i)
{
    (void)i;
    atomic_fetch_add_explicit(&((micro_ctx *)ctx)->done, 1, memory_order_relaxed);
}

static void timed_item(void *ctx, size_t i)
{
    (void)i;
    micro_ctx *m = ctx;
    m->start_ns = ctpb_now_ns();
    if (m->work_us) {
        uint64_t until = m->start_ns + (uint64_t)m->work_us * 1000u;
        while (ctpb_now_ns() < until) {
        }
        m->work_seconds += (double)(ctpb_now_ns() - m->start_ns) / 1e9;
    }
    atomic_fetch_add_explicit(&m->done, 1, memory_order_relaxed);
}

static int run_one(const ctpb_pool *pool, micro_ctx *m, uint64_t *submit)
{
    uint8_t prio = 1;
    int16_t node = -1;
    ctpb_batch b = { 1, timed_item, m, &prio, &node, submit, NULL };
    return pool->run(pool->impl, &b);
}

int ctpb_peer_wake(const ctpb_pool *pool, size_t rounds, unsigned gap_us, uint64_t *out_ns)
{
    micro_ctx m = { 0 };
    for (size_t r = 0; r < rounds; r++) {
        uint64_t submit = 0;
        sleep_us(gap_us);
        if (run_one(pool, &m, &submit) != 0)
            return -1;
        out_ns[r] = m.start_ns > submit ? m.start_ns - submit : 0;
    }
    return atomic_load_explicit(&m.done, memory_order_relaxed) == rounds ? 0 : -1;
}

/* The per-item arrays of a batch of `tasks` NORMAL items without node
 * affinity. False when out of memory; free with batch_arrays_free either way. */
typedef struct batch_arrays {
    uint8_t *prio;
    int16_t *node;
    uint64_t *submit;
} batch_arrays;

static bool batch_arrays_init(batch_arrays *a, size_t tasks)
{
    a->prio = malloc(tasks);
    a->node = malloc(tasks * sizeof *a->node);
    a->submit = malloc(tasks * sizeof *a->submit);
    if (!a->prio || !a->node || !a->submit)
        return false;
    for (size_t i = 0; i < tasks; i++) {
        a->prio[i] = 2;
        a->node[i] = -1;
    }
    return true;
}

static void batch_arrays_free(batch_arrays *a)
{
    free(a->prio);
    free(a->node);
    free(a->submit);
}

int ctpb_peer_burst(const ctpb_pool *pool, size_t tasks, ctpb_peer_burst_result *out)
{
    batch_arrays a;
    int rc = -1;
    if (batch_arrays_init(&a, tasks)) {
        micro_ctx m = { 0 };
        ctpb_batch b = { tasks, empty_item, &m, a.prio, a.node, a.submit, NULL };
        double cpu0, csw0, cpu1, csw1;
        usage(&cpu0, &csw0);
        uint64_t t0 = ctpb_now_ns();
        rc = pool->run(pool->impl, &b);
        out->seconds = (double)(ctpb_now_ns() - t0) / 1e9;
        usage(&cpu1, &csw1);
        out->context_switches = csw1 - csw0;
        if (rc == 0 && atomic_load_explicit(&m.done, memory_order_relaxed) != tasks)
            rc = -1;
    }
    batch_arrays_free(&a);
    return rc;
}

int ctpb_peer_trickle(const ctpb_pool *pool, size_t tasks, unsigned period_us, unsigned task_us,
                      ctpb_peer_trickle_result *out)
{
    micro_ctx m = { 0 };
    m.work_us = task_us;
    double cpu0, csw0, cpu1, csw1;
    usage(&cpu0, &csw0);
    uint64_t next = ctpb_now_ns();
    for (size_t k = 0; k < tasks; k++) {
        next += (uint64_t)period_us * 1000u;
        uint64_t submit;
        if (run_one(pool, &m, &submit) != 0)
            return -1;
        uint64_t now = ctpb_now_ns();
        if (next > now) {
            struct timespec ts = { (time_t)(next / 1000000000u), (long)(next % 1000000000u) };
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
            }
        }
    }
    usage(&cpu1, &csw1);
    out->tasks = (double)tasks;
    out->work_cpu_seconds = m.work_seconds;
    out->total_cpu_seconds = cpu1 - cpu0;
    out->context_switches = csw1 - csw0;
    return atomic_load_explicit(&m.done, memory_order_relaxed) == tasks ? 0 : -1;
}

double ctpb_peer_idle_cpu(const ctpb_pool *pool, double seconds)
{
    ctpb_peer_burst_result warm;
    if (ctpb_peer_burst(pool, 64, &warm) != 0)
        return -1.0;
    sleep_us(20000); /* let spinning threads settle first */
    double cpu0, csw0, cpu1, csw1;
    usage(&cpu0, &csw0);
    sleep_us((unsigned)(seconds * 1e6));
    usage(&cpu1, &csw1);
    return (cpu1 - cpu0) / seconds;
}

/* ---- Tick after a park ---------------------------------------------------- */

typedef struct tick_ctx {
    const uint32_t *cost_ns; /* busy time of each item */
    _Atomic uint64_t work_ns; /* relaxed: summed, read after pool->run returned */
    _Atomic uint64_t longest_ns;
    _Atomic uint64_t done;
} tick_ctx;

/* Burns cost_ns[i] of its thread's CPU time: a task preempted by another
 * thread makes no progress meanwhile, so the work summed is what ran. */
static void tick_item(void *ctx, size_t i)
{
    tick_ctx *t = ctx;
    uint64_t start = ctpb_thread_cpu_ns(), until = start + t->cost_ns[i], now;
    while ((now = ctpb_thread_cpu_ns()) < until) {
    }
    uint64_t busy = now - start, longest = atomic_load_explicit(&t->longest_ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->work_ns, busy, memory_order_relaxed);
    while (busy > longest && !atomic_compare_exchange_weak_explicit(&t->longest_ns, &longest, busy,
                                                                    memory_order_relaxed, memory_order_relaxed)) {
    }
    atomic_fetch_add_explicit(&t->done, 1, memory_order_relaxed);
}

static uint32_t tick_rand(uint64_t *s)
{
    /* splitmix64: a fixed cost mix per seed, the same for every pool */
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

void ctpb_tick_costs(uint32_t *cost_ns, size_t tasks, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < tasks; i++) {
        uint32_t r = tick_rand(&s) % 100u;
        if (r < 90)
            cost_ns[i] = 8000u + tick_rand(&s) % 6001u; /* 8-14 us */
        else if (r < 99)
            cost_ns[i] = 40000u + tick_rand(&s) % 60001u; /* 40-100 us */
        else
            cost_ns[i] = 300000u; /* 300 us */
    }
}

int ctpb_peer_tick(const ctpb_pool *pool, const uint32_t *cost_ns, size_t tasks, unsigned pause_us,
                   ctpb_peer_tick_result *out)
{
    batch_arrays a;
    int rc = -1;
    if (batch_arrays_init(&a, tasks)) {
        tick_ctx t = { .cost_ns = cost_ns };
        atomic_init(&t.work_ns, 0);
        atomic_init(&t.longest_ns, 0);
        atomic_init(&t.done, 0);
        ctpb_batch b = { tasks, tick_item, &t, a.prio, a.node, a.submit, NULL };
        sleep_us(pause_us);
        uint64_t t0 = ctpb_now_ns();
        rc = pool->run(pool->impl, &b);
        out->tick_ns = ctpb_now_ns() - t0;
        out->work_ns = atomic_load_explicit(&t.work_ns, memory_order_relaxed);
        out->longest_ns = atomic_load_explicit(&t.longest_ns, memory_order_relaxed);
        if (rc == 0 && atomic_load_explicit(&t.done, memory_order_relaxed) != tasks)
            rc = -1;
    }
    batch_arrays_free(&a);
    return rc;
}
