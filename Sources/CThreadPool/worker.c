/* A worker thread: its setup (name, pinning, deques touched on its node),
 * the start barrier, its main loop over the scheduler (scheduler.h), the
 * idle trim after a burst, and its cleanup if it exits inside a task. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "scheduler.h"

#include <stdio.h>

/* Going idle after a burst (see CTP__TRIM_DELAY_NS): true if there is
 * memory to hand back, in which case our own node cache goes back to the
 * depot now. One relaxed load and a few owner-only reads otherwise. */
static bool trim_wanted(ctp__worker *w)
{
    ctp__task_depot *depot = &w->pool->depots[w->node];
    size_t free_nodes = ctp__depot_free_nodes(depot) + w->cache.count;
    bool high = free_nodes > CTP__TRIM_HIGH && free_nodes > w->trim_floor;
    if (high)
        ctp__task_cache_flush(&w->cache, depot);
    for (int p = 0; p < CTP_PRIORITY_COUNT && !high; p++)
        high = ctp__deque_trimmable(&w->deques[p]);
    return high;
}

/* Idle for CTP__TRIM_DELAY_NS after a burst: discard our grown deques'
 * pages, and if every other worker is parked, trim the depots. */
static void trim_now(ctp__worker *w)
{
    ctp_pool *pool = w->pool;
    for (int p = 0; p < CTP_PRIORITY_COUNT; p++)
        ctp__deque_trim(&w->deques[p]);
    if (ctp__sleep_parked(&pool->sleep) + 1 < pool->nworkers)
        return; /* others are busy: the last to go idle trims */
    ctp__trim_task_memory(pool, CTP__TRIM_KEEP);
    w->trim_floor = ctp__depot_free_nodes(&pool->depots[w->node]);
}

/* The user's stop hook (ctp_config.on_thread_stop), on the worker. */
static void thread_stop_hook(ctp__worker *w)
{
    if (w->pool->config.on_thread_stop != NULL)
        w->pool->config.on_thread_stop((int)w->index, w->pool->config.thread_ctx);
}

/* The worker's thread exits inside a task (the task called pthread_exit,
 * or the thread was cancelled): runs as its cleanup handler. The tasks it
 * was running count as finished and their groups are told, so that waiters
 * and the shutdown's quiescence check do not wait for them forever; the
 * worker is reported and not replaced (its queued tasks are stolen by the
 * others). */
static void worker_lost(void *arg)
{
    ctp__worker *w = arg;
    ctp_pool *pool = w->pool;
    unsigned n = w->running;
    for (unsigned i = n; i-- > 0;) {
        /* The ring holds the innermost CTP__RUNNING_MAX runs' groups and
         * kinds; deeper ones count as executed, of no known priority. */
        bool known = i + CTP__RUNNING_MAX >= n;
        unsigned kind = known ? w->running_kind[i % CTP__RUNNING_MAX] : 0;
        if (known && (kind & CTP__RUN_DROPPED)) {
            ctp__count(&w->cancelled, 1);
        } else {
            ctp__count(&w->executed, 1);
            if (known)
                ctp__count(&w->executed_by_priority[kind & ~(unsigned)CTP__RUN_DROPPED], 1);
        }
        if (known && w->running_group[i % CTP__RUNNING_MAX] != NULL)
            ctp__latch_count_down(&w->running_group[i % CTP__RUNNING_MAX]->latch);
        ctp__count_release(&w->retired, 1);
    }
    w->running = 0;
    /* Relaxed: a statistic. */
    unsigned lost = atomic_fetch_add_explicit(&pool->workers_lost, 1, memory_order_relaxed) + 1;
    fprintf(stderr,
            "ctp: worker %u of pool \"%s\" exited inside a task (pthread_exit or cancellation); "
            "%u of %u workers lost, not replaced\n",
            (unsigned)w->index, pool->name, lost, (unsigned)pool->nworkers);
    ctp__tls *tls = ctp__tls_get();
    tls->pool = NULL;
    tls->worker = NULL;
    tls->outer = NULL; /* its frames were on the stack being unwound */
    thread_stop_hook(w);
    ctp__lifecycle_poke(pool);
}

#ifdef CTP_TEST_HOOKS
/* The deque's race-window hook, forwarded to the pool's test hook. */
static void steal_hook(void *ctx)
{
    CTP__HOOK((ctp_pool *)ctx, CTP_HOOK_IN_STEAL);
}
#endif

/* Pins the calling worker as the configuration asks. */
static void pin_worker(ctp__worker *w)
{
    ctp_pool *pool = w->pool;
    if (pool->config.affinity == CTP_AFFINITY_NODE && pool->config.numa_mode == CTP_NUMA_AUTO) {
        ctp__pin_thread(&pool->topo, w->node, -1);
    } else if (pool->config.affinity == CTP_AFFINITY_CPU) {
        /* One CPU each: the node's CPUs in turn (all CPUs with NUMA off). */
        int first = pool->nnodes == 1 ? 0 : pool->topo.cpu_first[w->node];
        int count = pool->nnodes == 1 ? pool->topo.cpu_first[pool->topo.nodes]
                                      : pool->topo.cpu_first[w->node + 1] - first;
        uint32_t nth = w->index - pool->worker_first[w->node];
        ctp__pin_thread(&pool->topo, w->node, pool->topo.cpus[first + (int)(nth % (uint32_t)count)]);
    }
}

/* The start barrier: reports whether this worker initialised (ok), then
 * waits until the creator releases the pool (true) or gives up on it
 * because some worker could not initialise (false). */
static bool start_barrier(ctp__worker *w, bool ok)
{
    ctp_pool *pool = w->pool;
    pthread_mutex_lock(&pool->life_lock);
    w->deques_ready = ok;
    if (!ok)
        pool->init_failed = true;
    pool->ready++;
    pthread_cond_broadcast(&pool->life_cv);
    while (!pool->released && !ctp__stop_wanted(pool))
        ctp__cond_wait_until(&pool->life_cv, &pool->life_lock, CTP_WAIT_FOREVER);
    bool run = pool->released;
    pthread_mutex_unlock(&pool->life_lock);
    return run;
}

void *ctp__worker_main(void *arg)
{
    ctp__worker *w = arg;
    ctp_pool *pool = w->pool;
    ctp__tls *tls = ctp__tls_get();
    tls->pool = pool;
    tls->worker = w;
    tls->task_depth = 0;

    /* Waits may steal only while at least a quarter of the stack below this
     * frame is free. Measured from the stack's real low end where the
     * platform says: glibc carves static TLS (a sanitizer's thread state,
     * say) out of the size asked for. The frame's address, not a local's:
     * AddressSanitizer's fake stacks (clang's default) put locals on the
     * heap, anywhere. */
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    uintptr_t low = ctp__stack_low();
    size_t stack = pool->config.stack_size;
    w->stack_limit = low != 0 && low < here ? low + (here - low) / 4 : here - (stack - stack / 4);

    char name[16];
    snprintf(name, sizeof name, "%s-%u", pool->name, (unsigned)w->index);
    pthread_setname_np(pthread_self(), name);

    /* Set up on our node: pin first, then touch our deques first, so their
     * pages come from the node we run on. */
    pin_worker(w);
    ctp__precise_timers();
    int p = 0;
    for (; p < CTP_PRIORITY_COUNT; p++) {
        if (ctp__deque_init(&w->deques[p], CTP__DEQUE_INITIAL) != 0)
            break;
#ifdef CTP_TEST_HOOKS
        w->deques[p].test_hook = steal_hook;
        w->deques[p].test_hook_ctx = pool;
#endif
    }
    bool ok = p == CTP_PRIORITY_COUNT;
    if (!ok)
        while (p-- > 0)
            ctp__deque_destroy(&w->deques[p]);
    /* The user's start hook runs before the worker reports ready, so every
     * one has run when ctp_pool_create returns; its stop hook runs whenever
     * the start hook did (ctp_pool_destroy joins the thread after it). */
    if (ok && pool->config.on_thread_start != NULL)
        pool->config.on_thread_start((int)w->index, pool->config.thread_ctx);
    /* After pinning and the start hook: the CPUs this worker may use, which
     * a waker narrows for a while (sleep.c, send_owed). Read by wakers only
     * after the start barrier releases the pool. */
    ctp__cpu_home_take(&w->parker.home);
    if (!start_barrier(w, ok)) {
        if (ok)
            thread_stop_hook(w);
        tls->pool = NULL;
        tls->worker = NULL;
        return NULL;
    }

    pthread_cleanup_push(worker_lost, w);
    for (;;) {
        ctp__task *t = ctp__find_task(w, true);
        if (t == NULL) {
            /* Out of work: a shutdown waiting for quiescence re-checks now,
             * not only once we park (after spin_ns, or a pre-wake window). */
            ctp__lifecycle_poke_if_stopping(pool);
            bool trim = trim_wanted(w);
            t = ctp__worker_idle(w, NULL, trim ? ctp__deadline(CTP__TRIM_DELAY_NS) : CTP_WAIT_FOREVER);
            if (t == NULL) {
                if (!trim || ctp__stop_wanted(pool))
                    break; /* exiting: the pool is quiescent */
                trim_now(w); /* idle since the burst: hand memory back */
                continue;
            }
        }
        ctp__run_task(pool, w, t);
    }
    pthread_cleanup_pop(0);
    thread_stop_hook(w);
    tls->pool = NULL;
    tls->worker = NULL;
    return NULL;
}
