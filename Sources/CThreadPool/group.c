/* Task groups: fork-join with a helping wait.
 *
 * Group memory is type-stable for the pool's lifetime: a destroyed group goes
 * to a free list (its worker's, or the pool's) and is freed only with the
 * pool. That lets the last task of a group read `waiters` after its decrement
 * made the group look finished: the memory it reads is still a group, at
 * worst a reused one, whose waiters then see a spurious signal and re-check. */
#include "pinned.h"

#include <stdlib.h>

enum { CTP__GROUP_CACHE_MAX = 64 };

static ctp_group *group_alloc(ctp_pool *pool)
{
    ctp__worker *w = ctp__current_worker(pool);
    ctp_group *g = NULL;
    if (w != NULL && w->free_groups != NULL) {
        g = w->free_groups;
        w->free_groups = g->next_free;
        w->free_group_count--;
        return g;
    }
    pthread_mutex_lock(&pool->life_lock);
    g = pool->free_groups;
    if (g != NULL)
        pool->free_groups = g->next_free;
    pthread_mutex_unlock(&pool->life_lock);
    if (g == NULL) {
        g = ctp__malloc(sizeof *g);
        if (g != NULL) {
            /* Set once: a group never changes pool, and a free group has no
             * pending tasks, no waiters and no notification (destroy checks
             * the first two and runs the third). The fields
             * are not rewritten on reuse because a late completer of the
             * previous use may still read them (see the top of this file). */
            g->pool = pool;
            if (ctp__latch_init(&g->latch) != CTP_OK) {
                free(g);
                g = NULL;
            }
        }
    }
    return g;
}

int ctp_group_create(ctp_pool *pool, ctp_group **out_group)
{
    if (pool == NULL || out_group == NULL || ctp__forked(pool))
        return CTP_EINVAL;
    /* Relaxed: a courtesy check (a group of a stopped pool could never run
     * anything); submissions re-check the state under the injector lock. */
    if (atomic_load_explicit(&pool->state, memory_order_relaxed) == CTP__STOPPED)
        return CTP_ESHUTDOWN;
    ctp_group *g = group_alloc(pool);
    if (g == NULL)
        return CTP_ENOMEM;
    g->next_free = NULL;
    g->tick = NULL;
    ctp__worker *w = ctp__current_worker(pool);
    if (w != NULL)
        ctp__count(&w->groups_made, 1);
    else /* relaxed: a count read by ctp_pool_destroy after the drain */
        atomic_fetch_add_explicit(&pool->groups_outside, 1, memory_order_relaxed);
    *out_group = g;
    return CTP_OK;
}

int ctp_group_destroy(ctp_group *g)
{
    if (g == NULL || ctp__forked(g->pool))
        return CTP_EINVAL;
    if (!ctp__latch_done(&g->latch))
        return CTP_EINVAL;
    /* No task pending: a notification still registered is one the completer
     * (or notifier) that saw zero has not taken yet. Run it here rather
     * than refuse or strand it; the late taker finds none (or, once the
     * group is reused, checks the new round's count). */
    ctp__latch_note n = ctp__latch_take_note(&g->latch);
    if (n.fn != NULL) {
        n.fn(n.ctx);
        /* fn may have given the group a new round: refuse, as for any
         * pending task (the caller waits and destroys again). */
        if (!ctp__latch_done(&g->latch))
            return CTP_EINVAL;
    }
    if (ctp__latch_has_waiters(&g->latch))
        return CTP_EINVAL;
    ctp_pool *pool = g->pool;
    ctp__worker *w = ctp__current_worker(pool);
    if (w != NULL && w->free_group_count < CTP__GROUP_CACHE_MAX) {
        g->next_free = w->free_groups;
        w->free_groups = g;
        w->free_group_count++;
    } else {
        pthread_mutex_lock(&pool->life_lock);
        g->next_free = pool->free_groups;
        pool->free_groups = g;
        pthread_mutex_unlock(&pool->life_lock);
    }
    if (w != NULL) {
        ctp__count(&w->groups_freed, 1);
    } else {
        /* Release: pairs with the acquire in ctp_pool_destroy, so this
         * group's last use happens before the pool is freed. (A worker's
         * count is read after the worker is joined.) */
        atomic_fetch_sub_explicit(&pool->groups_outside, 1, memory_order_release);
    }
    return CTP_OK;
}

int ctp_group_submit(ctp_group *group, ctp_priority priority, ctp_task_fn fn, void *arg)
{
    if (group == NULL)
        return CTP_EINVAL;
    ctp_task_desc d;
    ctp_task_desc_init(&d, fn, arg);
    d.priority = priority;
    d.group = group;
    return ctp_submit_desc(group->pool, &d);
}

int ctp_group_notify(ctp_group *g, ctp_task_fn fn, void *ctx)
{
    if (g == NULL || fn == NULL || ctp__forked(g->pool))
        return CTP_EINVAL;
    return ctp__latch_notify(&g->latch, fn, ctx);
}

/* A waiter subscribed to the latch, before its re-check: the test hook. */
static void block_registered(void *ctx)
{
    CTP__HOOK((ctp_pool *)ctx, CTP_HOOK_GROUP_BLOCK);
    (void)ctx;
}

static bool past(uint64_t deadline)
{
    return deadline != CTP_WAIT_FOREVER && ctp__now_ns() >= deadline;
}

static int wait_on_worker(ctp__worker *w, ctp_group *g, uint64_t deadline)
{
    ctp_pool *pool = w->pool;
    for (;;) {
        if (ctp__latch_done(&g->latch))
            return CTP_OK;
        /* No task starts past the deadline: a timed wait overruns it by at
         * most the task it was running when the deadline passed. */
        if (past(deadline))
            return CTP_ETIMEDOUT;
        if (!ctp__stack_allows_steal(w)) {
            /* Too deep in its stack to run other work: it runs its own
             * deque's tasks (the group's children it pushed), then the
             * group's tasks queued in the injection queues (submitted from
             * elsewhere: on a one-worker pool nobody else would run them),
             * and otherwise blocks on the group alone. It does not look for
             * work it may not take, so it neither spins nor counts as a
             * searcher that submitters would rely on (their wake goes to a
             * worker that can take the task). Only this worker pushes to its
             * own deque; a task of the group submitted to the injection
             * queues while it blocks wakes nobody if every other worker is
             * busy (or there is none), so it blocks at most a millisecond at
             * a time and looks again. */
            ctp__task *own = ctp__find_task(w, false);
            if (own == NULL)
                own = ctp__find_group_task_injected(pool, g);
            if (own != NULL) {
                ctp__run_task(pool, w, own);
            } else {
                uint64_t again = ctp__now_ns() + CTP__RECHECK_NS;
                ctp__latch_block(&g->latch, again < deadline ? again : deadline, block_registered, pool);
            }
            continue;
        }
        ctp__task *t = ctp__find_task(w, true);
        if (t == NULL) {
            t = ctp__worker_idle(w, g, deadline);
            if (t == NULL)
                continue; /* done, or deadline: re-checked at the top */
        }
        ctp__run_task(pool, w, t);
    }
}

static int wait_outside_loop(ctp_pool *pool, ctp_group *g, uint64_t deadline, ctp_pinned *pinned)
{
    ctp__tls *tls = ctp__tls_get();
    for (;;) {
        if (ctp__latch_done(&g->latch))
            return CTP_OK;
        if (past(deadline))
            return CTP_ETIMEDOUT; /* no task starts past the deadline */
        ctp__task *t = NULL;
        if (pinned != NULL && (t = ctp__pinned_take(pinned)) != NULL) {
            ctp__run_outside(pool, t);
            continue;
        }
        if (tls->runs_no_tasks)
            t = NULL; /* a monitor thread (pool.h) */
        else if (tls->task_depth < CTP__OUTSIDE_HELP_DEPTH)
            t = ctp__find_task_outside(pool);
        else /* too deep for other work: only its own children (scheduler.h) */
            t = ctp__find_group_task_injected(pool, g);
        if (t != NULL) {
            ctp__run_outside(pool, t);
            continue;
        }
        if (pinned != NULL)
            ctp__pinned_block(pinned, &g->latch, deadline); /* a pinned submission wakes it too */
        else
            ctp__latch_block(&g->latch, deadline, block_registered, pool);
    }
}

static int wait_outside(ctp_pool *pool, ctp_group *g, uint64_t deadline)
{
    ctp_pinned *pinned = ctp__my_pinned(pool); /* its pinned tasks come first */
    if (pinned == NULL)
        return wait_outside_loop(pool, g, deadline, NULL);
    pinned->busy++; /* the queue is in use here: no task this runs may destroy it */
    int rc = wait_outside_loop(pool, g, deadline, pinned);
    pinned->busy--;
    return rc;
}

/* Does a ring of run groups (ctp__worker.running_group, ctp__tls.run_group)
 * `depth` runs deep hold g? */
static bool ring_holds(struct ctp_group *const *ring, unsigned depth, const ctp_group *g)
{
    unsigned n = depth < CTP__RUNNING_MAX ? depth : CTP__RUNNING_MAX;
    for (unsigned i = 0; i < n; i++)
        if (ring[i] == g)
            return true;
    return false;
}

/* Is worker w (the calling thread, in its pool) running a task of g? */
static bool worker_runs(const ctp__worker *w, const ctp_group *g)
{
    return w != NULL && ring_holds(w->running_group, w->running, g);
}

/* Is the calling thread running a task of g, up its stack (as a worker, as
 * an outside helper, or as a worker of another pool that helps here)? Then
 * g's count cannot reach zero while it waits: the wait would wait for
 * itself. Each list holds its innermost CTP__RUNNING_MAX runs: a run further
 * out than that is not seen. */
static bool waits_for_itself(const ctp_group *g)
{
    const ctp__tls *tls = ctp__tls_get();
    if (ring_holds(tls->run_group, tls->task_depth, g))
        return true;
    if (worker_runs(tls->worker, g))
        return true;
    for (const ctp__tls_outer *o = tls->outer; o != NULL; o = o->up)
        if (worker_runs(o->worker, g))
            return true;
    return false;
}

int ctp_group_wait(ctp_group *g, uint64_t timeout_ns)
{
    if (g == NULL || ctp__forked(g->pool))
        return CTP_EINVAL;
    /* A finished group has no task running (each counts until it returns):
     * only an unfinished one can be the caller's own. */
    if (!ctp__latch_done(&g->latch) && waits_for_itself(g))
        return CTP_EDEADLK;
    uint64_t deadline = ctp__deadline(timeout_ns);
    ctp__worker *w = ctp__current_worker(g->pool);
    if (w != NULL)
        return wait_on_worker(w, g, deadline);
    return wait_outside(g->pool, g, deadline);
}
