/* Parallel for: a few runner tasks (and the caller) claim chunks from one
 * shared counter until none are left, so chunk count does not cost tasks. */
#include "pool.h"

typedef struct ctp__pfor {
    ctp_range_fn body;
    void *ctx;
    size_t begin, end, grain, chunks;
    _Atomic size_t next; /* next unclaimed chunk */
} ctp__pfor;

static void run_chunks(void *arg)
{
    ctp__pfor *pf = arg;
    for (;;) {
        /* Relaxed: each chunk index is claimed once; results are published
         * by the group's completion (acq_rel) to the caller. */
        size_t c = atomic_fetch_add_explicit(&pf->next, 1, memory_order_relaxed);
        if (c >= pf->chunks)
            return;
        size_t b = pf->begin + c * pf->grain;
        size_t e = (pf->end - b > pf->grain) ? b + pf->grain : pf->end;
        pf->body(b, e, pf->ctx);
    }
}

int ctp_parallel_for(ctp_pool *pool, size_t begin, size_t end, size_t grain, ctp_range_fn body,
                     void *ctx)
{
    if (pool == NULL || body == NULL || begin > end)
        return CTP_EINVAL;
    if (begin == end)
        return CTP_OK;
    size_t n = end - begin;
    if (grain == 0) {
        grain = n / ((size_t)pool->nworkers * 4);
        if (grain == 0)
            grain = 1;
    }
    ctp__pfor pf = { .body = body, .ctx = ctx, .begin = begin, .end = end, .grain = grain };
    pf.chunks = n / grain + (n % grain != 0);
    atomic_init(&pf.next, (size_t)0);

    size_t runners = pf.chunks - 1;
    if (runners > pool->nworkers)
        runners = pool->nworkers;
    ctp_group *g = NULL;
    if (runners > 0) {
        int rc = ctp_group_create(pool, &g);
        if (rc != CTP_OK)
            return rc;
        ctp_task_desc d;
        ctp_task_desc_init(&d, run_chunks, &pf);
        d.group = g;
        ctp_task_desc descs[CTP_MAX_WORKERS];
        for (size_t i = 0; i < runners; i++)
            descs[i] = d;
        rc = ctp_submit_batch(pool, descs, runners);
        if (rc == CTP_ESHUTDOWN || rc == CTP_EINVAL) {
            ctp_group_destroy(g);
            return rc;
        }
        /* CTP_EFULL / CTP_ENOMEM: no runners; the caller does every chunk. */
    }
    run_chunks(&pf);
    if (g != NULL) {
        ctp_group_wait(g, CTP_WAIT_FOREVER);
        ctp_group_destroy(g);
    }
    return CTP_OK;
}
