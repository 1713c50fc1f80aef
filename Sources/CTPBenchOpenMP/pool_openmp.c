/* OpenMP peer: see include/ctp_bench_openmp.h. */
#include "ctp_bench_openmp.h"

#include <stdlib.h>

typedef struct omp_pool {
    int threads;
} omp_pool;

static int omp_run(void *self, const ctpb_batch *b)
{
    omp_pool *p = self;
    const ctpb_batch *batch = b;
#pragma omp parallel num_threads(p->threads) shared(batch)
#pragma omp single
    for (size_t i = 0; i < batch->count; i++) {
        batch->submit_ns[i] = ctpb_now_ns();
#pragma omp task firstprivate(i) priority(4 - batch->priority[i])
        batch->fn(batch->ctx, i);
    }
    return 0;
}

/* fib(n) with a task per call and no cutoff (taskwait helps). */
static long fib(int n)
{
    if (n < 2)
        return n;
    long x = 0, y = 0;
#pragma omp task shared(x)
    x = fib(n - 1);
#pragma omp task shared(y)
    y = fib(n - 2);
#pragma omp taskwait
    return x + y;
}

static double omp_fib(void *self, int n, long *value)
{
    omp_pool *p = self;
    long v = 0;
    uint64_t t0 = ctpb_now_ns();
#pragma omp parallel num_threads(p->threads) shared(v)
#pragma omp single
    v = fib(n);
    *value = v;
    return (double)(ctpb_now_ns() - t0) / 1e9;
}

static double omp_loop(void *self, double *a, size_t n)
{
    omp_pool *p = self;
    uint64_t t0 = ctpb_now_ns();
#pragma omp parallel for num_threads(p->threads) schedule(static)
    for (size_t i = 0; i < n; i++)
        a[i] = a[i] * 1.0000001 + 1.0;
    return (double)(ctpb_now_ns() - t0) / 1e9;
}

static void omp_destroy(void *self) { free(self); }

int ctpb_pool_openmp(size_t threads, ctpb_pool *out)
{
    omp_pool *p = calloc(1, sizeof *p);
    if (!p || threads == 0) {
        free(p);
        return -1;
    }
    p->threads = (int)threads;
    *out = (ctpb_pool){ .impl = p, .threads = threads, .nodes = 1, .run = omp_run, .fib = omp_fib,
                        .parallel_for = omp_loop, .destroy = omp_destroy };
    return 0;
}
