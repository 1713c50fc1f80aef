/* Parallel for: a few runner tasks (and the caller) claim chunks from one
 * shared counter until none are left, so chunk count does not cost tasks.
 *
 * The frame stays small (the runtime builds with -Wframe-larger-than=2048):
 * parallel_for is called from tasks, nested, on worker stacks as small as
 * 64 KiB. So the runners are queued in batches of CTP__PFOR_BATCH
 * descriptors from one small array rather than one batch of up to
 * CTP_MAX_WORKERS (a 49 KB array); no allocation either way. Pools of up to
 * CTP__PFOR_BATCH workers submit one batch, as before; bigger pools submit a
 * few, each waking parked workers as a batch does. */
#include "scheduler.h"

#include <stdint.h>

/* Runner descriptors per ctp_submit_batch call: 16 x 48 bytes on the stack. */
enum { CTP__PFOR_BATCH = 16 };

/* Keeps the descriptor array in submit_runners' own frame, popped before the
 * caller runs chunks, instead of in every nested ctp_parallel_for frame. */
#if defined(__GNUC__) || defined(__clang__)
#define CTP__NOINLINE __attribute__((noinline))
#else
#define CTP__NOINLINE
#endif

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
         * by the group's completion (seq_cst decrement) to the caller. Each claimant
         * moves `next` past `chunks` once before it returns, so it ends at
         * most chunks + CTP_MAX_WORKERS + 1: no wrap (see ctp_parallel_for). */
        size_t c = atomic_fetch_add_explicit(&pf->next, 1, memory_order_relaxed);
        if (c >= pf->chunks)
            return;
        size_t b = pf->begin + c * pf->grain;
        size_t e = (pf->end - b > pf->grain) ? b + pf->grain : pf->end;
        pf->body(b, e, pf->ctx);
    }
}

/* Queues `runners` run_chunks tasks of group g, in batches. Returns CTP_OK if
 * at least the first batch was queued (later batches that fail only mean
 * fewer runners: the caller runs the chunks they would have), else the first
 * batch's error. */
static CTP__NOINLINE int submit_runners(ctp_pool *pool, ctp__pfor *pf, ctp_group *g, size_t runners)
{
    ctp_task_desc descs[CTP__PFOR_BATCH];
    size_t n = runners < CTP__PFOR_BATCH ? runners : CTP__PFOR_BATCH;
    ctp_task_desc_init(&descs[0], run_chunks, pf);
    descs[0].group = g;
    for (size_t i = 1; i < n; i++)
        descs[i] = descs[0];
    for (size_t done = 0; done < runners;) {
        size_t k = runners - done < n ? runners - done : n;
        int rc = ctp_submit_batch(pool, descs, k);
        if (rc != CTP_OK)
            return done == 0 ? rc : CTP_OK;
        done += k;
    }
    return CTP_OK;
}

int ctp_parallel_for(ctp_pool *pool, size_t begin, size_t end, size_t grain, ctp_range_fn body,
                     void *ctx)
{
    if (pool == NULL || body == NULL || begin > end || ctp__forked(pool))
        return CTP_EINVAL;
    if (begin == end)
        return CTP_OK;
    /* From outside, a pool that is shutting down refuses, also a range of
     * one chunk, which submits nothing that would be refused. Relaxed: a
     * courtesy check, as in ctp_group_create (a shutdown starting just after
     * it refuses the runners below, and the caller runs every chunk). */
    if (atomic_load_explicit(&pool->state, memory_order_relaxed) != CTP__RUNNING && !ctp__is_inside(pool))
        return CTP_ESHUTDOWN;
    size_t n = end - begin;
    if (grain == 0) {
        grain = n / ((size_t)pool->nworkers * 4);
        if (grain == 0)
            grain = 1;
    }
    /* Chunks at most SIZE_MAX / 2 + 1, so the claim counter, which overshoots
     * `chunks` by one per claimant (at most CTP_MAX_WORKERS + 1), cannot wrap
     * around and hand out chunk 0 again. Only ranges of more than SIZE_MAX / 2
     * indices with grain 1 are affected: their chunks hold 2 indices. */
    if (grain == 1 && n > SIZE_MAX / 2)
        grain = 2;
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
        rc = submit_runners(pool, &pf, g, runners);
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
