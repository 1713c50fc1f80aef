/* Pool lifecycle: create (workers placed, deques first-touched on their
 * node, a start barrier), shutdown (RUNNING -> DRAINING -> STOPPED),
 * destroy, trim. Configuration is config.c, statistics stats.c. See
 * docs/scheduler.md, "Shutdown".
 *
 * Lock order: life_lock, then the injector locks in index order, then the
 * sleep lock; never the other way. */
#include "config.h"
#include "monitor.h"
#include "observed.h"
#include "pinned.h"
#include "scheduler.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void free_worker(ctp_pool *pool, ctp__worker *w)
{
    if (w->deques_ready)
        for (int p = 0; p < CTP_PRIORITY_COUNT; p++)
            ctp__deque_destroy(&w->deques[p]);
    pthread_cond_destroy(&w->parker.cv);
    while (w->free_groups != NULL) {
        ctp_group *g = w->free_groups;
        w->free_groups = g->next_free;
        ctp__latch_destroy(&g->latch);
        free(g);
    }
    free(w->victims);
    ctp__node_free(pool->bind_memory, w, sizeof *w);
}

static ctp__worker *new_worker(ctp_pool *pool, uint32_t index, int node)
{
    /* On its node: bound there on a real NUMA machine. */
    ctp__worker *w = ctp__node_alloc(pool->bind_memory, node, sizeof *w);
    if (w == NULL)
        return NULL;
    memset(w, 0, sizeof *w);
    w->pool = pool;
    w->index = index;
    w->node = node;
    w->rng = index * 2654435761u + 1u;
    /* Unlike runs (0): the first search for another node's work starts
     * the grace clock (scheduler.c, find_remote). Equal, a worker that had
     * run nothing counted as idle since time 0 and took another node's
     * work at once. */
    w->gate_runs = UINT64_MAX;
    w->victims = ctp__malloc(sizeof(uint32_t) * pool->nworkers);
    if (w->victims == NULL || ctp__cond_init_monotonic(&w->parker.cv) != 0) {
        free(w->victims);
        ctp__node_free(pool->bind_memory, w, sizeof *w);
        return NULL;
    }
    w->nvictims = ctp__steal_order(pool->nnodes, &pool->node_order[node * pool->nnodes], pool->worker_first,
                                   index, w->victims, &w->nlocal);
    return w;
}

/* Frees everything that was set up, however far creation got; workers
 * must not be running. */
static void free_pool(ctp_pool *pool)
{
    if (pool->workers != NULL) {
        for (uint32_t i = 0; i < pool->nworkers; i++)
            if (pool->workers[i] != NULL)
                free_worker(pool, pool->workers[i]);
        free(pool->workers);
    }
    while (pool->free_groups != NULL) {
        ctp_group *g = pool->free_groups;
        pool->free_groups = g->next_free;
        ctp__latch_destroy(&g->latch);
        free(g);
    }
    for (int n = 0; n < pool->ninjs_ready; n++)
        ctp__injector_destroy(&pool->injs[n]);
    free(pool->injs);
    for (int n = 0; n < pool->ndepots_ready; n++)
        ctp__depot_destroy(&pool->depots[n]);
    free(pool->depots);
    ctp__sleep_destroy(&pool->sleep);
    ctp__topology_free(&pool->topo);
    free(pool->node_order);
    free(pool->cpu_node);
    if (pool->life_cv_ready)
        pthread_cond_destroy(&pool->life_cv);
    if (pool->life_lock_ready)
        pthread_mutex_destroy(&pool->life_lock);
    ctp__monitor_destroy(pool);
    /* A trace nobody stopped: dropped (no thread of the pool runs now). */
    ctp__trace_gate_destroy(&pool->trace);
    if (pool->trace_lock_ready)
        pthread_mutex_destroy(&pool->trace_lock);
    free(pool);
}

/* Tells every worker to exit and joins the started ones. */
static void stop_workers(ctp_pool *pool)
{
    /* Release: pairs with the acquire load in ctp__stop_wanted. */
    atomic_store_explicit(&pool->exiting, true, memory_order_release);
    pthread_mutex_lock(&pool->life_lock);
    pthread_cond_broadcast(&pool->life_cv); /* workers still at the start barrier */
    pthread_mutex_unlock(&pool->life_lock);
    ctp__sleep_wake_all(&pool->sleep);
    for (uint32_t i = 0; i < pool->nworkers; i++) {
        ctp__worker *w = pool->workers[i];
        if (w != NULL && w->started) {
            ctp__thread_join(w->thread);
            w->started = false;
        }
    }
}

/* The sleep protocol's view of the pool (sleep.h). */
static bool sleep_has_work(void *ctx)
{
    return ctp__has_visible_work(ctx);
}

static bool sleep_stopping(void *ctx)
{
    return ctp__stop_wanted(ctx);
}

static void sleep_parked(void *ctx)
{
    ctp__lifecycle_poke_if_stopping(ctx);
}

/* The park's re-check with a grace period: only work this worker may take
 * now counts (ctp__has_work_for). */
static bool sleep_work_for(void *ctx, uint32_t worker, uint64_t *defer_until, uint64_t *defer_nodes)
{
    return ctp__has_work_for(((ctp_pool *)ctx)->workers[worker], defer_until, defer_nodes);
}

/* A worker parks and wakes: the trace's park and wake events, and the stall
 * monitor's poke. */
static void sleep_parking(void *ctx, uint32_t worker, int what)
{
    ctp_pool *pool = ctx;
    if (what != CTP__PARK_LEFT) {
        ctp__event e = { .type = what == CTP__PARK_BLOCK ? CTP__EV_PARK : CTP__EV_WAKE };
        ctp__trace_record(pool, (int)worker, &e);
    }
    if (what != CTP__PARK_BLOCK)
        ctp__monitor_poke(pool);
}

#ifdef CTP_TEST_HOOKS
static void sleep_hook(void *ctx, ctp_test_hook_point point)
{
    CTP__HOOK((ctp_pool *)ctx, point);
}
#endif

static int init_sleep(ctp_pool *pool)
{
    ctp__parker **parkers = ctp__malloc(sizeof *parkers * pool->nworkers);
    if (parkers == NULL)
        return CTP_ENOMEM;
    for (uint32_t i = 0; i < pool->nworkers; i++) {
        parkers[i] = &pool->workers[i]->parker;
        parkers[i]->node = pool->workers[i]->node;
    }
    /* As many workers as CPUs (the default): a waker on one of them plus
     * every worker it wakes can be one thread too many (sleep.c, wake). */
    bool worker_per_cpu = pool->nworkers >= (uint32_t)pool->topo.cpu_first[pool->topo.nodes];
    ctp__sleep_policy policy = { pool->config.spin_ns, pool->config.backoff_ns, pool->config.wake_fanout,
                                 pool->config.prewake_lead_ns, worker_per_cpu, pool->config.wake_elsewhere };
    ctp__sleep_ops ops = { .ctx = pool, .has_work = sleep_has_work, .stopping = sleep_stopping,
                           .parked = sleep_parked, .hook = NULL, .parking = sleep_parking, .work_for = NULL };
    if (pool->config.remote_steal_delay_ns != 0 && pool->nnodes > 1)
        ops.work_for = sleep_work_for;
#ifdef CTP_TEST_HOOKS
    ops.hook = sleep_hook;
#endif
    int rc = ctp__sleep_init(&pool->sleep, pool->nworkers, parkers, &policy, &ops);
    free(parkers);
    if (rc == CTP_OK && pool->config.stall_ns != 0)
        ctp__sleep_report_parks(&pool->sleep); /* the monitor needs every wake (before any worker starts) */
    return rc;
}

static int create_pool(const ctp_config *config, ctp_pool **out_pool)
{
    *out_pool = NULL;
    ctp_config cfg;
    if (config == NULL)
        ctp_config_init(&cfg);
    else
        cfg = *config;
    int rc = ctp__config_validate(&cfg);
    if (rc != CTP_OK)
        return rc;
    if (cfg.stack_size == 0)
        cfg.stack_size = CTP__DEFAULT_STACK_SIZE;

    ctp__topology topo;
    bool simulated;
    rc = ctp__config_topology(&cfg, &topo, &simulated);
    if (rc != CTP_OK)
        return rc;

    ctp_pool *pool = ctp__aligned_alloc(CTP__CACHELINE, (sizeof(ctp_pool) + CTP__CACHELINE - 1) /
                                                            CTP__CACHELINE * CTP__CACHELINE);
    if (pool == NULL) {
        ctp__topology_free(&topo);
        return ctp__create_error(CTP_ENOMEM, "out of memory");
    }
    memset(pool, 0, sizeof *pool);
    pool->fork_generation = ctp__fork_generation_watch();
    ctp__tls_watch_fork();
    pool->topo = topo;
    uint32_t topo_cpus = (uint32_t)topo.cpu_first[topo.nodes];
    pool->nworkers = cfg.workers != 0 ? (uint32_t)cfg.workers
                                      : (topo_cpus > CTP_MAX_WORKERS ? CTP_MAX_WORKERS : topo_cpus);
    pool->nnodes = cfg.numa_mode == CTP_NUMA_OFF ? 1 : topo.nodes;
    pool->bind_memory = cfg.numa_mode == CTP_NUMA_AUTO && !simulated && topo.from_libnuma;
    /* Workers per node, in proportion to each node's CPUs. */
    unsigned per_node[CTP__MAX_NODES];
    if (pool->nnodes == 1)
        per_node[0] = pool->nworkers;
    else
        ctp__place_workers(&topo, pool->nworkers, per_node);
    pool->worker_first[0] = 0;
    for (int n = 0; n < pool->nnodes; n++)
        pool->worker_first[n + 1] = pool->worker_first[n] + per_node[n];

    const char *name = cfg.name != NULL ? cfg.name : "ctp";
    size_t len = ctp__utf8_fit(name, sizeof pool->name - 2); /* whole characters */
    memcpy(pool->name, name, len);
    pool->name[len] = '\0';
    cfg.name = NULL; /* never keep the caller's pointers */
    cfg.topology = NULL;
    pool->config = cfg;
    atomic_init(&pool->state, CTP__RUNNING);

    /* From here every failure takes the one unwind below: free_pool frees
     * exactly what was set up (the *_ready fields say how far it got). */
    pool->life_lock_ready = pthread_mutex_init(&pool->life_lock, NULL) == 0;
    if (!pool->life_lock_ready)
        goto fail;
    pool->life_cv_ready = ctp__cond_init_monotonic(&pool->life_cv) == 0;
    if (!pool->life_cv_ready)
        goto fail;
    pool->trace_lock_ready = pthread_mutex_init(&pool->trace_lock, NULL) == 0;
    if (!pool->trace_lock_ready)
        goto fail;
    if (ctp__monitor_init(pool) != CTP_OK)
        goto fail;
    /* Stall detection times every task (running_ns, the monitor's check). */
    atomic_init(&pool->observe, cfg.stall_ns != 0 ? CTP__OBSERVE_TIME : 0u);
    if (ctp__trace_gate_init(&pool->trace, (uint32_t)pool->nworkers) != 0)
        goto fail;
    pool->depots = ctp__calloc((size_t)pool->nnodes, sizeof *pool->depots);
    if (pool->depots == NULL)
        goto fail;
    for (; pool->ndepots_ready < pool->nnodes; pool->ndepots_ready++)
        if (ctp__depot_init(&pool->depots[pool->ndepots_ready], pool->bind_memory, pool->ndepots_ready) != CTP_OK)
            goto fail;
    pool->injs = ctp__aligned_alloc(64, sizeof *pool->injs * (size_t)(pool->nnodes + 1));
    if (pool->injs == NULL)
        goto fail;
    for (; pool->ninjs_ready <= pool->nnodes; pool->ninjs_ready++) {
        int n = pool->ninjs_ready;
        if (ctp__injector_init(&pool->injs[n], &pool->depots[n < pool->nnodes ? n : 0]) != CTP_OK)
            goto fail;
    }
    pool->node_order = ctp__malloc(sizeof(int) * (size_t)pool->nnodes * (size_t)pool->nnodes);
    pool->cpu_node = ctp__topology_cpu_nodes(&pool->topo, pool->nnodes, &pool->ncpu_ids);
    if (pool->node_order == NULL || pool->cpu_node == NULL)
        goto fail;
    for (int n = 0; n < pool->nnodes; n++)
        ctp__topology_nearest(&pool->topo, pool->nnodes, n, &pool->node_order[n * pool->nnodes]);
    pool->workers = ctp__calloc(pool->nworkers, sizeof *pool->workers);
    if (pool->workers == NULL)
        goto fail;
    for (int n = 0; n < pool->nnodes; n++)
        for (uint32_t i = pool->worker_first[n]; i < pool->worker_first[n + 1]; i++)
            if ((pool->workers[i] = new_worker(pool, i, n)) == NULL)
                goto fail;
    if (init_sleep(pool) != CTP_OK)
        goto fail;
    *out_pool = pool;
    return CTP_OK;
fail:
    free_pool(pool);
    return ctp__create_error(CTP_ENOMEM, "out of memory");
}

/* Starts the workers and waits until each has set itself up on its node
 * (pinned, deques first-touched); then lets them run. */
static int start_workers(ctp_pool *pool)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return ctp__create_error(CTP_ENOMEM, "out of threads");
    pthread_attr_setstacksize(&attr, pool->config.stack_size);
    int rc = CTP_OK;
    uint32_t started = 0;
    for (uint32_t i = 0; i < pool->nworkers; i++) {
        ctp__worker *w = pool->workers[i];
        if (ctp__thread_create(&w->thread, &attr, ctp__worker_main, w) != 0) {
            rc = ctp__create_error(CTP_ENOMEM, "out of threads");
            break;
        }
        w->started = true;
        started++;
    }
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&pool->life_lock);
    while (pool->ready < started)
        ctp__cond_wait_until(&pool->life_cv, &pool->life_lock, CTP_WAIT_FOREVER);
    if (pool->init_failed && rc == CTP_OK)
        rc = ctp__create_error(CTP_ENOMEM, "out of memory in a worker");
    if (rc == CTP_OK)
        pool->released = true;
    pthread_cond_broadcast(&pool->life_cv);
    pthread_mutex_unlock(&pool->life_lock);
    return rc;
}

/* hook: the test builds' race-window hook (ignored in release builds). */
static int create_and_start(const ctp_config *config, ctp_pool **out_pool, ctp_test_hook_fn hook, void *ctx)
{
    ctp__create_error(CTP_OK, ""); /* no error yet */
    if (out_pool == NULL)
        return ctp__create_error(CTP_EINVAL, "out_pool is NULL");
    *out_pool = NULL;
    ctp_pool *pool;
    int rc = create_pool(config, &pool);
    if (rc != CTP_OK)
        return rc;
#ifdef CTP_TEST_HOOKS
    pool->hook = hook;
    pool->hook_ctx = ctx;
#else
    (void)hook;
    (void)ctx;
#endif
    rc = start_workers(pool);
    if (rc == CTP_OK && ctp__monitor_start(pool) != CTP_OK)
        rc = ctp__create_error(CTP_ENOMEM, "out of memory or threads for the stall monitor");
    if (rc != CTP_OK) {
        stop_workers(pool);
        free_pool(pool);
        return rc;
    }
    *out_pool = pool;
    return CTP_OK;
}

int ctp_pool_create(const ctp_config *config, ctp_pool **out_pool)
{
    return create_and_start(config, out_pool, NULL, NULL);
}

#ifdef CTP_TEST_HOOKS
int ctp_test_pool_create_hooked(const ctp_config *config, ctp_test_hook_fn hook, void *ctx,
                                ctp_pool **out_pool)
{
    return create_and_start(config, out_pool, hook, ctx);
}
#endif

/* True when every task ever accepted has finished (run or cancelled).
 * Finished counts are read before submitted counts, and every task is
 * counted submitted before it is published and finished after it ran, so
 * equality means that at the moment the last finished count was read no task
 * was queued or running; with outside submissions refused, none can appear.
 * See docs/scheduler.md, "Shutdown". */
static bool quiescent(ctp_pool *pool)
{
    uint64_t finished = 0, submitted = 0;
    /* Acquire loads: pair with the release stores in ctp__count_release and
     * on helper_retired (run_task), after the run's count-down: a run counts
     * once the notification it fired, and what that submitted, is done. */
    for (uint32_t i = 0; i < pool->nworkers; i++)
        finished += atomic_load_explicit(&pool->workers[i]->retired, memory_order_acquire);
    finished += atomic_load_explicit(&pool->helper_retired, memory_order_acquire);
    /* The acquire loads above keep the loads below after them: finished
     * counts are read before submitted counts. */
    for (uint32_t i = 0; i < pool->nworkers; i++)
        submitted += atomic_load_explicit(&pool->workers[i]->submitted, memory_order_acquire);
    submitted += atomic_load_explicit(&pool->ext_submitted, memory_order_acquire);
    return finished == submitted;
}

/* In index order, the order every multi-injector submission uses too. */
static void lock_injectors(ctp_pool *pool)
{
    ctp__injectors_lock(pool->injs, pool->nnodes + 1, NULL);
}

static void unlock_injectors(ctp_pool *pool)
{
    ctp__injectors_unlock(pool->injs, pool->nnodes + 1, NULL);
}

/* The pool's own task, or a callback on its monitor thread (which the
 * shutdown joins): a waiting shutdown or a destroy there would wait for the
 * caller itself. */
static bool called_from_inside(ctp_pool *pool)
{
    return ctp__is_inside(pool) || ctp__monitor_is_self(pool);
}

int ctp_pool_shutdown(ctp_pool *pool, ctp_shutdown_mode mode, uint64_t timeout_ns)
{
    if (pool == NULL || (mode != CTP_SHUTDOWN_DRAIN && mode != CTP_SHUTDOWN_CANCEL) || ctp__forked(pool))
        return CTP_EINVAL;
    bool inside = called_from_inside(pool);
    if (inside && timeout_ns != 0)
        return CTP_EDEADLK;

    /* RUNNING -> DRAINING, under the injector lock so that every outside
     * submission either completed before or sees the new state. */
    lock_injectors(pool);
    /* Relaxed, under every injector lock (state's invariant, pool.h). */
    if (atomic_load_explicit(&pool->state, memory_order_relaxed) == CTP__RUNNING)
        atomic_store_explicit(&pool->state, CTP__DRAINING, memory_order_relaxed);
    unlock_injectors(pool);
    if (mode == CTP_SHUTDOWN_CANCEL)
        /* Release: pairs with the acquire load in ctp__run_task. */
        atomic_store_explicit(&pool->cancel, true, memory_order_release);
    CTP__HOOK(pool, CTP_HOOK_SHUTDOWN);
    if (inside)
        return CTP_ETIMEDOUT; /* started; our own task is still running */

    uint64_t deadline = ctp__deadline(timeout_ns);
    bool timed_out = false;
    /* The caller's own pinned queue of this pool, if it has one: only the
     * caller can run its tasks, so it runs them here (they see the cancel
     * flag, so a CANCEL drops them) instead of waiting for itself. */
    ctp_pinned *mine = ctp__my_pinned(pool);
    pthread_mutex_lock(&pool->life_lock);
    for (;;) {
        if (pool->joined)
            break;
        if (!pool->joining && quiescent(pool)) {
            pool->joining = true;
            pthread_mutex_unlock(&pool->life_lock);
            CTP__HOOK(pool, CTP_HOOK_SHUTDOWN);
            stop_workers(pool);
            ctp__monitor_stop(pool);
            lock_injectors(pool);
            atomic_store_explicit(&pool->state, CTP__STOPPED, memory_order_relaxed);
            unlock_injectors(pool);
            pthread_mutex_lock(&pool->life_lock);
            pool->joined = true;
            pthread_cond_broadcast(&pool->life_cv);
            break;
        }
        if (timed_out) {
            pthread_mutex_unlock(&pool->life_lock);
            return CTP_ETIMEDOUT;
        }
        if (mine != NULL && !pool->joining) {
            unsigned pokes = pool->life_pokes;
            pthread_mutex_unlock(&pool->life_lock);
            /* One task a lap, so the deadline is looked at between them: a
             * pinned task that posts itself again kept an emptying run, and
             * a timed shutdown, going past its timeout (test
             * shutdown_by_pinned_owner_keeps_its_timeout). */
            int ran = ctp_pinned_run(mine, 1);
            pthread_mutex_lock(&pool->life_lock);
            if (ran > 0 || pool->life_pokes != pokes) {
                /* Something changed meanwhile (a pinned submission pokes
                 * too): look again, unless the time is up. */
                timed_out = deadline != CTP_WAIT_FOREVER && ctp__now_ns() >= deadline;
                continue;
            }
        }
        timed_out = ctp__cond_wait_until(&pool->life_cv, &pool->life_lock, deadline);
    }
    pthread_mutex_unlock(&pool->life_lock);
    return CTP_OK;
}

int ctp_pool_destroy(ctp_pool *pool)
{
    if (pool == NULL || ctp__forked(pool))
        return CTP_EINVAL; /* in a forked child: see ctp.h, "fork" */
    if (called_from_inside(pool))
        return CTP_EDEADLK;
    /* Acquire: pairs with the release in ctp_pinned_destroy. */
    if (atomic_load_explicit(&pool->pinned_live, memory_order_acquire) != 0)
        return CTP_EINVAL; /* a pinned queue's owner still refers to the pool */
    int rc = ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER);
    if (rc != CTP_OK)
        return rc;
    /* After the drain: the groups its tasks used (parallel for's, their
     * own fork-join groups) are gone by now; one still alive is the
     * caller's. Acquire: pairs with the release in ctp_group_destroy; the
     * workers' counts were written before they were joined. */
    uint64_t live = atomic_load_explicit(&pool->groups_outside, memory_order_acquire);
    for (uint32_t i = 0; i < pool->nworkers; i++)
        live += atomic_load_explicit(&pool->workers[i]->groups_made, memory_order_relaxed) -
                atomic_load_explicit(&pool->workers[i]->groups_freed, memory_order_relaxed);
    if (live != 0)
        return CTP_EINVAL; /* stopped, not freed: a group (or tick) of the pool lives */
    free_pool(pool);
    return CTP_OK;
}

int ctp_pool_trim(ctp_pool *pool)
{
    if (pool == NULL || ctp__forked(pool))
        return CTP_EINVAL;
    ctp__trim_task_memory(pool, 0);
    return CTP_OK;
}

