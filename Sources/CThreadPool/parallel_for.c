/* Parallel for: a few runner tasks (and the caller) claim chunks from one
 * shared counter until none are left, so chunk count does not cost tasks.
 *
 * The frame stays small (the runtime builds with -Wframe-larger-than=2048):
 * parallel_for is called from tasks, nested, on worker stacks as small as
 * 64 KiB. So the runners are queued in batches of CTP__PFOR_BATCH
 * descriptors from one small array rather than one batch of up to
 * CTP_MAX_WORKERS (a 49 KB array), and the descriptors are never allocated
 * (the one allocation is the shared state, below). Pools of up to
 * CTP__PFOR_BATCH workers submit one batch, as before; bigger pools submit a
 * few, each waking parked workers as a batch does.
 *
 * The shared state lives on the heap while runners may read it (one
 * allocation per call that has runners, none per chunk): if the caller's
 * thread exits inside a chunk (pthread_exit, cancellation), its stack is
 * gone while the runners still run, and a cleanup handler stops further
 * claims and leaves the state and the group to the group's notification,
 * which frees them when the last runner ends. */
#include "scheduler.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

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
    ctp_group *group;    /* the runners' group (heap state only) */
} ctp__pfor;

static void pfor_init(ctp__pfor *pf, ctp_range_fn body, void *ctx, size_t begin, size_t end, size_t grain)
{
    pf->body = body;
    pf->ctx = ctx;
    pf->begin = begin;
    pf->end = end;
    pf->grain = grain;
    pf->chunks = (end - begin) / grain + ((end - begin) % grain != 0);
    atomic_init(&pf->next, (size_t)0);
    pf->group = NULL;
}

/* The group's notification after a lost caller: the last runner has ended. */
static void pfor_release(void *arg)
{
    ctp__pfor *pf = arg;
    ctp_group_destroy(pf->group);
    free(pf);
}

/* The caller's thread exits inside the call (a chunk or a task its wait
 * ran called pthread_exit, or was cancelled): no chunk starts after this
 * (the caller's ctx may have been on that stack), and the runners that did
 * start free the state when the last one ends. */
static void pfor_caller_lost(void *arg)
{
    ctp__pfor *pf = arg;
    /* Relaxed: a claim after this sees at least chunks and stops; the
     * group's completion orders the runners' last reads before the free. */
    atomic_store_explicit(&pf->next, pf->chunks, memory_order_relaxed);
    ctp_group_notify(pf->group, pfor_release, pf); /* runs here if none is left */
}

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
 * at least one runner was queued (fewer runners only mean the caller runs
 * the chunks they would have), else the first batch's error. A batch
 * refused for a full queue (queue_capacity, from outside) is retried at half
 * its size, down to one runner, so a nearly full queue still gets as many
 * runners as it has room for rather than none. */
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
        if (rc == CTP_EFULL && k > 1) {
            n = k / 2;
            continue;
        }
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
    /* From outside, a pool that is shutting down refuses, whatever the range
     * (an empty one, or one chunk, which submits nothing that would be
     * refused). Relaxed: a courtesy check, as in ctp_group_create (a
     * shutdown starting just after it refuses the runners below, and the
     * caller runs every chunk). */
    if (atomic_load_explicit(&pool->state, memory_order_relaxed) != CTP__RUNNING && !ctp__is_inside(pool))
        return CTP_ESHUTDOWN;
    if (begin == end)
        return CTP_OK;
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
    ctp__pfor local;
    pfor_init(&local, body, ctx, begin, end, grain);
    size_t runners = local.chunks - 1;
    if (runners > pool->nworkers)
        runners = pool->nworkers;
    size_t cap = pool->config.queue_capacity;
    if (cap != 0 && !ctp__is_inside(pool)) {
        /* Relaxed: a hint, so a full queue is not asked for more runners
         * than it has room for (submit_runners copes with a wrong one). */
        size_t queued = atomic_load_explicit(&pool->ext_queued, memory_order_relaxed);
        size_t room = queued < cap ? cap - queued : 0;
        if (runners > room)
            runners = room;
    }
    /* With no runners, or no memory for their state, the caller runs every
     * chunk (as when the runners cannot be queued: CTP_EFULL, CTP_ENOMEM). */
    ctp__pfor *pf = runners > 0 ? ctp__calloc(1, sizeof *pf) : NULL;
    if (pf == NULL) {
        run_chunks(&local);
        return CTP_OK;
    }
    pfor_init(pf, body, ctx, begin, end, grain);
    int rc = ctp_group_create(pool, &pf->group);
    if (rc != CTP_OK) {
        free(pf);
        return rc;
    }
    rc = submit_runners(pool, pf, pf->group, runners);
    if (rc != CTP_OK) {
        ctp_group_destroy(pf->group);
        free(pf);
        if (rc == CTP_ESHUTDOWN || rc == CTP_EINVAL)
            return rc;
        run_chunks(&local); /* CTP_EFULL / CTP_ENOMEM: no runners */
        return CTP_OK;
    }
    pthread_cleanup_push(pfor_caller_lost, pf);
    run_chunks(pf);
    ctp_group_wait(pf->group, CTP_WAIT_FOREVER);
    pthread_cleanup_pop(0);
    ctp_group_destroy(pf->group);
    free(pf);
    return CTP_OK;
}
