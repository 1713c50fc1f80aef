/* A small test harness: tests register in one table (see main.c), each runs
 * under a hang detector, and the run ends with "N passed, N failed". */
#ifndef CTP_TEST_HARNESS_H
#define CTP_TEST_HARNESS_H

#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctp/ctp.h"

uint64_t test_now_ns(void);
void test_sleep_us(unsigned us);
/* Calls fn(arg) from a frame below `address` on the calling thread's stack
 * (by recursion), and returns what it returns. */
int test_below_stack_address(uintptr_t address, int (*fn)(void *), void *arg);
/* Registers the pool the running test uses, for the hang report (NULL:
 * none; clear it before the pool is destroyed unless its destroy is what
 * might hang). */
void test_watch_pool(ctp_pool *pool);

/* Waits for cond by yielding, at most ms milliseconds; evaluates to cond
 * (false: it did not hold in time, e.g. a lost wake-up). */
#define TEST_WAIT_UNTIL(cond, ms)                                                                  \
    ({                                                                                             \
        uint64_t until_ = test_now_ns() + (uint64_t)(ms) * 1000000u;                               \
        while (!(cond) && test_now_ns() < until_)                                                  \
            sched_yield();                                                                         \
        (cond);                                                                                    \
    })

extern int test_failures;
/* Multiplies iteration counts: CTP_TEST_SCALE (default 1; sanitizer runs lower it
 * via a divisor, CTP_TEST_LONG=1 raises it). */
extern double test_scale;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  CHECK failed %s:%d: %s\n", __FILE__, __LINE__, #cond);              \
            test_failures++;                                                                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        if (va_ != vb_) {                                                                          \
            fprintf(stderr, "  CHECK_EQ failed %s:%d: %s == %s (%lld vs %lld)\n", __FILE__,        \
                    __LINE__, #a, #b, va_, vb_);                                                   \
            test_failures++;                                                                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr) CHECK_EQ((expr), CTP_OK)

/* Waits until *v >= target: spins briefly (a tight race on two CPUs), then
 * yields (one CPU). For threads lined up to race at the start of a round. */
static inline void test_spin_until_at_least(_Atomic int *v, int target)
{
    for (unsigned spins = 0; atomic_load(v) < target; spins++)
        if (spins > 1000)
            sched_yield();
}

static inline long scaled(long n)
{
    long v = (long)((double)n * test_scale);
    return v < 1 ? 1 : v;
}

#include <pthread.h>

static inline void noop(void *arg) { (void)arg; }

/* Keeps the CPU busy for `us` microseconds of wall time (a task that
 * computes, as opposed to one that sleeps). */
static inline void test_burn_us(unsigned us)
{
    uint64_t end = test_now_ns() + (uint64_t)us * 1000u;
    while (test_now_ns() < end)
        ;
}

static inline void count_task(void *arg)
{
    atomic_fetch_add((_Atomic long *)arg, 1);
}

/* A pool of `workers` workers on `topology` (CTP_TOPOLOGY syntax; NULL:
 * this machine's), or NULL. */
static inline ctp_pool *make_pool_topo(const char *topology, size_t workers)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = workers;
    c.topology = topology;
    ctp_pool *p = NULL;
    return ctp_pool_create(&c, &p) == CTP_OK ? p : NULL;
}

static inline ctp_pool *make_pool(size_t workers)
{
    return make_pool_topo(NULL, workers);
}

/* A pool of `workers` workers with `stack` bytes of stack each (the depth
 * rules' tests), or NULL. */
static inline ctp_pool *make_pool_stack(size_t workers, size_t stack)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = workers;
    c.stack_size = stack;
    ctp_pool *p = NULL;
    return ctp_pool_create(&c, &p) == CTP_OK ? p : NULL;
}

/* A gate a task blocks on until the test opens it. */
typedef struct {
    pthread_mutex_t m;
    pthread_cond_t cv;
    int open;
    _Atomic int entered;
    _Atomic int node; /* ctp_current_node() of the thread that entered last */
} gate;

static inline void gate_init(gate *g)
{
    pthread_mutex_init(&g->m, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->open = 0;
    atomic_store(&g->entered, 0);
    atomic_store(&g->node, -2);
}

static inline void gate_task(void *arg)
{
    gate *g = arg;
    atomic_store(&g->node, ctp_current_node());
    atomic_fetch_add(&g->entered, 1);
    pthread_mutex_lock(&g->m);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->m);
    pthread_mutex_unlock(&g->m);
}

static inline void gate_open(gate *g)
{
    pthread_mutex_lock(&g->m);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->m);
}

static inline void wait_entered(gate *g, int n)
{
    while (atomic_load(&g->entered) < n)
        test_sleep_us(100);
}


/* Number of threads of this process (from /proc/self/task). */
int test_thread_count(void);

/* Runs the Python program `script` with python3 and the given arguments
 * (one string, appended to the command line; its output goes to stderr).
 * Returns system()'s status: 0 when the program exited 0. */
int test_run_python(const char *script, const char *args);

/* Waits until `workers` workers of pool are parked (idle). */
static inline void wait_parked(ctp_pool *pool, uint64_t workers)
{
    ctp_stats st;
    for (;;) {
        ctp_pool_stats(pool, &st);
        if (st.parked == workers)
            return;
        test_sleep_us(200);
    }
}

#endif
