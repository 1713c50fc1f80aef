/* Pool lifecycle: create, shutdown (RUNNING -> DRAINING -> STOPPED), destroy,
 * and statistics. See docs/scheduler.md, "Shutdown".
 *
 * Lock order: life_lock, then inj.lock, then sleep.lock; never the other way. */
#include "pool.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    CTP__DEFAULT_SPIN_NS = 0,
    CTP__DEQUE_INITIAL = 256,
};
#define CTP__DEFAULT_STACK ((size_t)8 << 20)
#define CTP__MIN_STACK ((size_t)64 << 10)
#define CTP__MAX_SPIN_NS ((uint64_t)1000000000u)
#define CTP__MAX_BACKOFF_NS ((uint64_t)60000000000u)

void ctp_config_init(ctp_config *config)
{
    if (config == NULL)
        return;
    memset(config, 0, sizeof *config);
    config->workers = 0;
    config->queue_capacity = 0;
    config->spin_ns = CTP__DEFAULT_SPIN_NS;
    config->backoff_ns = 0;
    config->wake_fanout = 0;
    config->stack_size = 0;
    config->name = NULL;
}

static int validate_config(const ctp_config *c)
{
    if (c->workers > CTP_MAX_WORKERS)
        return CTP_EINVAL;
    if (c->spin_ns > CTP__MAX_SPIN_NS || c->backoff_ns > CTP__MAX_BACKOFF_NS)
        return CTP_EINVAL;
    if (c->stack_size != 0 && c->stack_size < CTP__MIN_STACK)
        return CTP_EINVAL;
    return CTP_OK;
}

static uint32_t online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > CTP_MAX_WORKERS ? CTP_MAX_WORKERS : (uint32_t)n;
}

static void free_worker(ctp__worker *w)
{
    for (int p = 0; p < CTP_PRIORITY_COUNT; p++)
        ctp__deque_destroy(&w->deques[p]);
    pthread_cond_destroy(&w->parker.cv);
    while (w->free_groups != NULL) {
        ctp_group *g = w->free_groups;
        w->free_groups = g->next_free;
        free(g);
    }
    free(w);
}

static ctp__worker *new_worker(ctp_pool *pool, uint32_t index)
{
    ctp__worker *w = aligned_alloc(CTP__CACHELINE, (sizeof(ctp__worker) + CTP__CACHELINE - 1) /
                                                       CTP__CACHELINE * CTP__CACHELINE);
    if (w == NULL)
        return NULL;
    memset(w, 0, sizeof *w);
    w->pool = pool;
    w->index = index;
    w->rng = index * 2654435761u + 1u;
    int p = 0;
    for (; p < CTP_PRIORITY_COUNT; p++)
        if (ctp__deque_init(&w->deques[p], CTP__DEQUE_INITIAL) != 0)
            break;
    if (p < CTP_PRIORITY_COUNT || ctp__cond_init_monotonic(&w->parker.cv) != 0) {
        while (p-- > 0)
            ctp__deque_destroy(&w->deques[p]);
        free(w);
        return NULL;
    }
    return w;
}

/* Frees everything; workers must not be running. */
static void free_pool(ctp_pool *pool)
{
    if (pool->workers != NULL) {
        for (uint32_t i = 0; i < pool->nworkers; i++)
            if (pool->workers[i] != NULL)
                free_worker(pool->workers[i]);
        free(pool->workers);
    }
    while (pool->free_groups != NULL) {
        ctp_group *g = pool->free_groups;
        pool->free_groups = g->next_free;
        free(g);
    }
    ctp__sleep_destroy(&pool->sleep);
    ctp__injector_destroy(&pool->inj);
    ctp__depot_destroy(&pool->depot);
    pthread_cond_destroy(&pool->life_cv);
    pthread_mutex_destroy(&pool->life_lock);
    free(pool);
}

/* Tells every worker to exit and joins the started ones. */
static void stop_workers(ctp_pool *pool)
{
    /* Release: pairs with the acquire load in ctp__stop_wanted. */
    atomic_store_explicit(&pool->exiting, true, memory_order_release);
    ctp__sleep_wake_all(pool);
    for (uint32_t i = 0; i < pool->nworkers; i++) {
        ctp__worker *w = pool->workers[i];
        if (w != NULL && w->started) {
            pthread_join(w->thread, NULL);
            w->started = false;
        }
    }
}

static int create_pool(const ctp_config *config, ctp_pool **out_pool)
{
    *out_pool = NULL;
    ctp_config cfg;
    if (config == NULL)
        ctp_config_init(&cfg);
    else
        cfg = *config;
    int rc = validate_config(&cfg);
    if (rc != CTP_OK)
        return rc;
    if (cfg.stack_size == 0)
        cfg.stack_size = CTP__DEFAULT_STACK;

    ctp_pool *pool = aligned_alloc(CTP__CACHELINE, (sizeof(ctp_pool) + CTP__CACHELINE - 1) /
                                                       CTP__CACHELINE * CTP__CACHELINE);
    if (pool == NULL)
        return CTP_ENOMEM;
    memset(pool, 0, sizeof *pool);
    pool->nworkers = cfg.workers != 0 ? (uint32_t)cfg.workers : online_cpus();
    const char *name = cfg.name != NULL ? cfg.name : "ctp";
    size_t len = strlen(name);
    if (len > sizeof pool->name - 2)
        len = sizeof pool->name - 2;
    memcpy(pool->name, name, len);
    pool->name[len] = '\0';
    cfg.name = NULL; /* never keep the caller's pointer */
    pool->config = cfg;
    atomic_init(&pool->state, CTP__RUNNING);

    if (ctp__depot_init(&pool->depot) != CTP_OK) {
        free(pool);
        return CTP_ENOMEM;
    }
    if (ctp__injector_init(&pool->inj) != CTP_OK) {
        ctp__depot_destroy(&pool->depot);
        free(pool);
        return CTP_ENOMEM;
    }
    if (ctp__sleep_init(&pool->sleep, pool->nworkers) != CTP_OK) {
        ctp__injector_destroy(&pool->inj);
        ctp__depot_destroy(&pool->depot);
        free(pool);
        return CTP_ENOMEM;
    }
    if (pthread_mutex_init(&pool->life_lock, NULL) != 0 || ctp__cond_init_monotonic(&pool->life_cv) != 0) {
        ctp__sleep_destroy(&pool->sleep);
        ctp__injector_destroy(&pool->inj);
        ctp__depot_destroy(&pool->depot);
        free(pool);
        return CTP_ENOMEM;
    }
    pool->workers = calloc(pool->nworkers, sizeof *pool->workers);
    if (pool->workers == NULL) {
        free_pool(pool);
        return CTP_ENOMEM;
    }
    for (uint32_t i = 0; i < pool->nworkers; i++) {
        pool->workers[i] = new_worker(pool, i);
        if (pool->workers[i] == NULL) {
            free_pool(pool);
            return CTP_ENOMEM;
        }
    }
    *out_pool = pool;
    return CTP_OK;
}

static int start_workers(ctp_pool *pool)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return CTP_ENOMEM;
    pthread_attr_setstacksize(&attr, pool->config.stack_size);
    int rc = CTP_OK;
    for (uint32_t i = 0; i < pool->nworkers; i++) {
        ctp__worker *w = pool->workers[i];
        if (pthread_create(&w->thread, &attr, ctp__worker_main, w) != 0) {
            rc = CTP_ENOMEM;
            break;
        }
        w->started = true;
    }
    pthread_attr_destroy(&attr);
    return rc;
}

static int create_and_start(const ctp_config *config, ctp_pool **out_pool)
{
    if (out_pool == NULL)
        return CTP_EINVAL;
    *out_pool = NULL;
    ctp_pool *pool;
    int rc = create_pool(config, &pool);
    if (rc != CTP_OK)
        return rc;
    rc = start_workers(pool);
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
    return create_and_start(config, out_pool);
}

#ifdef CTP_TEST_HOOKS
int ctp_test_pool_create_hooked(const ctp_config *config, ctp_test_hook_fn hook, void *ctx,
                                ctp_pool **out_pool)
{
    if (out_pool == NULL)
        return CTP_EINVAL;
    *out_pool = NULL;
    ctp_pool *pool;
    int rc = create_pool(config, &pool);
    if (rc != CTP_OK)
        return rc;
    pool->hook = hook;
    pool->hook_ctx = ctx;
    rc = start_workers(pool);
    if (rc != CTP_OK) {
        stop_workers(pool);
        free_pool(pool);
        return rc;
    }
    *out_pool = pool;
    return CTP_OK;
}
#endif

void ctp__lifecycle_poke(ctp_pool *pool)
{
    pthread_mutex_lock(&pool->life_lock);
    pthread_cond_broadcast(&pool->life_cv);
    pthread_mutex_unlock(&pool->life_lock);
}

/* True when every task ever accepted has finished (run or cancelled).
 * Finished counts are read before submitted counts, and every task is
 * counted submitted before it is published and finished after it ran, so
 * equality means that at the moment the last finished count was read no task
 * was queued or running; with outside submissions refused, none can appear.
 * See docs/scheduler.md, "Shutdown". */
static bool quiescent(ctp_pool *pool)
{
    uint64_t finished = 0, submitted = 0;
    /* Acquire loads: pair with the release stores in ctp__count. */
    for (uint32_t i = 0; i < pool->nworkers; i++) {
        finished += atomic_load_explicit(&pool->workers[i]->executed, memory_order_acquire);
        finished += atomic_load_explicit(&pool->workers[i]->cancelled, memory_order_acquire);
    }
    finished += atomic_load_explicit(&pool->helper_executed, memory_order_acquire);
    finished += atomic_load_explicit(&pool->helper_cancelled, memory_order_acquire);
    atomic_thread_fence(memory_order_seq_cst); /* finished counts before submitted counts */
    for (uint32_t i = 0; i < pool->nworkers; i++)
        submitted += atomic_load_explicit(&pool->workers[i]->submitted, memory_order_acquire);
    submitted += atomic_load_explicit(&pool->ext_submitted, memory_order_acquire);
    return finished == submitted;
}

int ctp_pool_shutdown(ctp_pool *pool, ctp_shutdown_mode mode, uint64_t timeout_ns)
{
    if (pool == NULL || (mode != CTP_SHUTDOWN_DRAIN && mode != CTP_SHUTDOWN_CANCEL))
        return CTP_EINVAL;
    bool inside = ctp__is_inside(pool);
    if (inside && timeout_ns != 0)
        return CTP_EDEADLK;

    /* RUNNING -> DRAINING, under the injector lock so that every outside
     * submission either completed before or sees the new state. */
    pthread_mutex_lock(&pool->inj.lock);
    if (atomic_load_explicit(&pool->state, memory_order_relaxed) == CTP__RUNNING)
        atomic_store_explicit(&pool->state, CTP__DRAINING, memory_order_relaxed);
    pthread_mutex_unlock(&pool->inj.lock);
    if (mode == CTP_SHUTDOWN_CANCEL)
        /* Release: pairs with the acquire load in ctp__run_task. */
        atomic_store_explicit(&pool->cancel, true, memory_order_release);
    CTP__HOOK(pool, CTP_HOOK_SHUTDOWN);
    if (inside)
        return CTP_ETIMEDOUT; /* started; our own task is still running */

    uint64_t deadline = ctp__deadline(timeout_ns);
    bool timed_out = false;
    pthread_mutex_lock(&pool->life_lock);
    for (;;) {
        if (pool->joined)
            break;
        if (!pool->joining && quiescent(pool)) {
            pool->joining = true;
            pthread_mutex_unlock(&pool->life_lock);
            CTP__HOOK(pool, CTP_HOOK_SHUTDOWN);
            stop_workers(pool);
            pthread_mutex_lock(&pool->inj.lock);
            atomic_store_explicit(&pool->state, CTP__STOPPED, memory_order_relaxed);
            pthread_mutex_unlock(&pool->inj.lock);
            pthread_mutex_lock(&pool->life_lock);
            pool->joined = true;
            pthread_cond_broadcast(&pool->life_cv);
            break;
        }
        if (timed_out) {
            pthread_mutex_unlock(&pool->life_lock);
            return CTP_ETIMEDOUT;
        }
        timed_out = ctp__cond_wait_until(&pool->life_cv, &pool->life_lock, deadline);
    }
    pthread_mutex_unlock(&pool->life_lock);
    return CTP_OK;
}

int ctp_pool_destroy(ctp_pool *pool)
{
    if (pool == NULL)
        return CTP_EINVAL;
    if (ctp__is_inside(pool))
        return CTP_EDEADLK;
    int rc = ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER);
    if (rc != CTP_OK)
        return rc;
    free_pool(pool);
    return CTP_OK;
}

int ctp_pool_stats(ctp_pool *pool, ctp_stats *out)
{
    if (pool == NULL || out == NULL)
        return CTP_EINVAL;
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < pool->nworkers; i++) {
        ctp__worker *w = pool->workers[i];
        out->submitted += atomic_load_explicit(&w->submitted, memory_order_relaxed);
        out->executed += atomic_load_explicit(&w->executed, memory_order_relaxed);
        out->cancelled += atomic_load_explicit(&w->cancelled, memory_order_relaxed);
        out->steals += atomic_load_explicit(&w->steals, memory_order_relaxed);
        out->injected += atomic_load_explicit(&w->injected, memory_order_relaxed);
        out->parks += atomic_load_explicit(&w->parks, memory_order_relaxed);
        out->wakeups += atomic_load_explicit(&w->wakeups, memory_order_relaxed);
        out->backoff_timeouts += atomic_load_explicit(&w->backoff_timeouts, memory_order_relaxed);
        for (int p = 0; p < CTP_PRIORITY_COUNT; p++)
            out->executed_by_priority[p] +=
                atomic_load_explicit(&w->executed_by_priority[p], memory_order_relaxed);
    }
    out->submitted += atomic_load_explicit(&pool->ext_submitted, memory_order_relaxed);
    uint64_t helped = atomic_load_explicit(&pool->helper_executed, memory_order_relaxed);
    out->executed += helped;
    out->cancelled += atomic_load_explicit(&pool->helper_cancelled, memory_order_relaxed);
    out->rejected = atomic_load_explicit(&pool->rejected, memory_order_relaxed);
    out->queued = atomic_load_explicit(&pool->ext_queued, memory_order_relaxed);
    out->workers = pool->nworkers;
    out->parked = CTP__PARKED(atomic_load_explicit(&pool->sleep.counts, memory_order_relaxed));
    return CTP_OK;
}
