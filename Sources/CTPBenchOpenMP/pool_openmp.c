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

static void omp_destroy(void *self) { free(self); }

int ctpb_pool_openmp(size_t threads, ctpb_pool *out)
{
    omp_pool *p = calloc(1, sizeof *p);
    if (!p || threads == 0) {
        free(p);
        return -1;
    }
    p->threads = (int)threads;
    *out = (ctpb_pool){ .impl = p, .threads = threads, .nodes = 1, .run = omp_run, .destroy = omp_destroy };
    return 0;
}
