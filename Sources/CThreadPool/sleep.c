/* The sleep/wake protocol. See docs/scheduler.md, "Sleeping and waking",
 * for the states, the invariants and the proof that no wake-up is lost.
 *
 * In one paragraph: a submitter publishes its task, issues a seq_cst fence
 * and reads `counts`; a worker about to sleep moves itself from searching to
 * parked in `counts`, issues a seq_cst fence and looks at every queue once
 * more. One of the two fences comes first: if the submitter's, the worker
 * sees the task and does not sleep; if the worker's, the submitter sees it
 * parked and wakes it. The waker, not the sleeper, moves a woken worker from
 * parked back to searching, so concurrent submitters do not wake a crowd. */
#include "pool.h"

#include <stdlib.h>

int ctp__sleep_init(ctp__sleep *s, uint32_t nworkers)
{
    atomic_init(&s->counts, (uint64_t)0);
    s->idle_len = 0;
    s->idle = calloc(nworkers, sizeof *s->idle);
    if (s->idle == NULL)
        return CTP_ENOMEM;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s->idle);
        return CTP_ENOMEM;
    }
    return CTP_OK;
}

void ctp__sleep_destroy(ctp__sleep *s)
{
    pthread_mutex_destroy(&s->lock);
    free(s->idle);
    s->idle = NULL;
}

/* Under the sleep lock: the idle-stack position of the newest parked worker
 * of `node` (any node for -1), or UINT32_MAX if there is none. */
static uint32_t idle_find_locked(ctp_pool *pool, int node)
{
    ctp__sleep *s = &pool->sleep;
    for (uint32_t i = s->idle_len; i-- > 0;)
        if (node < 0 || pool->workers[s->idle[i]]->node == node)
            return i;
    return UINT32_MAX;
}

/* Under the sleep lock: takes the worker at idle-stack position pos off it. */
static uint32_t idle_pop_locked(ctp_pool *pool, uint32_t pos)
{
    ctp__sleep *s = &pool->sleep;
    uint32_t idx = s->idle[pos];
    for (uint32_t j = pos; j + 1 < s->idle_len; j++)
        s->idle[j] = s->idle[j + 1];
    s->idle_len--;
    return idx;
}

/* Pops up to n workers off the idle stack (newest first: warm caches) and
 * signals them. The waker counts each one as searching. For node >= 0 it
 * wakes only that node's parked workers, or, if it has none parked, one
 * worker of another node (idle workers may take any node's work; the node's
 * own busy workers reach it at their next task boundary). */
static void wake(ctp_pool *pool, size_t n, int node)
{
    ctp__sleep *s = &pool->sleep;
    uint32_t picked[32];
    while (n > 0) {
        size_t k = 0;
        pthread_mutex_lock(&s->lock);
        while (k < n && k < 32 && s->idle_len > 0) {
            uint32_t pos = idle_find_locked(pool, node);
            if (pos == UINT32_MAX) {
                if (k > 0)
                    break; /* woke this node's parked workers: enough */
                pos = idle_find_locked(pool, -1);
                n = 1;
            }
            uint32_t idx = idle_pop_locked(pool, pos);
            ctp__parker *p = &pool->workers[idx]->parker;
            p->on_idle = false;
            p->notified = true;
            /* Seq_cst: pairs with the fence in ctp__sleep_notify of other
             * submitters, which then see a searcher and skip their wake. */
            atomic_fetch_add_explicit(&s->counts, CTP__SEARCHING_ONE - CTP__PARKED_ONE, memory_order_seq_cst);
            picked[k++] = idx;
        }
        pthread_mutex_unlock(&s->lock);
        /* Signal outside the lock so the woken worker does not block on it.
         * Worker parkers live as long as the pool, so this is safe; a late
         * signal only causes a spurious wake, which the worker re-checks. */
        for (size_t i = 0; i < k; i++)
            pthread_cond_signal(&pool->workers[picked[i]]->parker.cv);
        if (k < 32 || k >= n)
            break; /* the stack ran empty, or we woke all we wanted */
        n -= k;
    }
}

void ctp__sleep_notify(ctp_pool *pool, size_t tasks, int node)
{
    CTP__HOOK(pool, CTP_HOOK_BEFORE_NOTIFY);
    /* Seq_cst fence: pairs with the fence in ctp__sleep_park (and in
     * ctp__sleep_end_search). Either that worker's re-check sees the task we
     * just published, or we see it parked (or no longer searching) here. */
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t c = atomic_load_explicit(&pool->sleep.counts, memory_order_relaxed);
    uint32_t parked = CTP__PARKED(c);
    if (parked == 0)
        return;
    size_t n;
    if (tasks == 1) {
        if (CTP__SEARCHING(c) != 0)
            return; /* a searcher will find it; it wakes the next if more remains */
        n = 1;
    } else {
        n = tasks < parked ? tasks : parked;
        if (pool->config.wake_fanout != 0 && n > pool->config.wake_fanout)
            n = pool->config.wake_fanout;
    }
    wake(pool, n, node);
}

void ctp__sleep_begin_search(ctp_pool *pool)
{
    /* Seq_cst: pairs with the fence in ctp__sleep_notify; a submitter that
     * sees us searching leaves its task to us. */
    atomic_fetch_add_explicit(&pool->sleep.counts, CTP__SEARCHING_ONE, memory_order_seq_cst);
}

void ctp__sleep_end_search(ctp_pool *pool)
{
    /* Seq_cst: pairs with the fence in ctp__sleep_notify. A submitter that
     * saw us searching did not wake anyone for its task. */
    uint64_t prev =
        atomic_fetch_sub_explicit(&pool->sleep.counts, CTP__SEARCHING_ONE, memory_order_seq_cst);
    CTP__HOOK(pool, CTP_HOOK_AFTER_SEARCH);
    if (CTP__SEARCHING(prev) != 1 || CTP__PARKED(prev) == 0)
        return;
    /* We were the last searcher. Tasks whose submitters relied on us may
     * still be queued: look once more and hand them to a parked worker.
     * Seq_cst fence: pairs with the submitter's fence in ctp__sleep_notify. */
    atomic_thread_fence(memory_order_seq_cst);
    if (ctp__has_visible_work(pool))
        ctp__sleep_notify(pool, 1, -1);
}

/* Under the sleep lock: removes worker idx from the middle of the idle stack. */
static void idle_remove_locked(ctp__sleep *s, uint32_t idx)
{
    for (uint32_t i = s->idle_len; i-- > 0;) {
        if (s->idle[i] == idx) {
            for (uint32_t j = i; j + 1 < s->idle_len; j++)
                s->idle[j] = s->idle[j + 1];
            s->idle_len--;
            return;
        }
    }
}

static void group_list_add_locked(struct ctp_group *g, ctp__parker *p)
{
    p->group_waiter = g;
    p->group_next = g->wait_list;
    g->wait_list = p;
    p->on_group = true;
    /* Seq_cst: pairs with the load of waiters in ctp__group_task_done; either
     * the completer sees us registered or we see pending at zero. */
    atomic_fetch_add_explicit(&g->waiters, 1, memory_order_seq_cst);
}

static void group_list_remove_locked(ctp__parker *p)
{
    struct ctp_group *g = p->group_waiter;
    for (ctp__parker **pp = &g->wait_list; *pp != NULL; pp = &(*pp)->group_next) {
        if (*pp == p) {
            *pp = p->group_next;
            break;
        }
    }
    p->on_group = false;
    p->group_waiter = NULL;
    atomic_fetch_sub_explicit(&g->waiters, 1, memory_order_relaxed);
}

static bool group_done(struct ctp_group *g)
{
    /* Seq_cst: pairs with the completer's decrement (see group_list_add_locked). */
    return g != NULL && atomic_load_explicit(&g->pending, memory_order_seq_cst) == 0;
}

void ctp__sleep_park(ctp__worker *w, struct ctp_group *group, uint64_t deadline_ns)
{
    ctp_pool *pool = w->pool;
    ctp__sleep *s = &pool->sleep;
    ctp__parker *p = &w->parker;

    /* 1. Announce: searching -> parked, on the idle stack (and the group's list). */
    pthread_mutex_lock(&s->lock);
    s->idle[s->idle_len++] = w->index;
    p->on_idle = true;
    if (group != NULL)
        group_list_add_locked(group, p);
    /* Seq_cst: pairs with the fence in ctp__sleep_notify (via the fence below). */
    atomic_fetch_add_explicit(&s->counts, CTP__PARKED_ONE - CTP__SEARCHING_ONE, memory_order_seq_cst);
    pthread_mutex_unlock(&s->lock);

    if (atomic_load_explicit(&pool->state, memory_order_relaxed) != CTP__RUNNING)
        ctp__lifecycle_poke(pool);
    CTP__HOOK(pool, CTP_HOOK_BEFORE_PARK);

    /* 2. Seq_cst fence: pairs with the fence in ctp__sleep_notify. After it,
     * every task published before a submitter's fence is visible here. */
    atomic_thread_fence(memory_order_seq_cst);
    bool skip = ctp__has_visible_work(pool) || group_done(group) || ctp__stop_wanted(pool);

    /* 3. Block unless there is a reason not to. */
    bool blocked = false, timed_out = false;
    pthread_mutex_lock(&s->lock);
    if (!skip) {
        while (!p->notified && !group_done(group) && !ctp__stop_wanted(pool)) {
            blocked = true;
            if (ctp__cond_wait_until(&p->cv, &s->lock, deadline_ns)) {
                timed_out = true;
                break;
            }
        }
    }
    /* 4. Leave: a waker already moved us to searching; otherwise do it here. */
    bool notified = p->notified;
    if (notified) {
        p->notified = false;
        timed_out = false;
    } else {
        idle_remove_locked(s, w->index);
        p->on_idle = false;
        /* Seq_cst: like begin_search, submitters that see us searching rely on us. */
        atomic_fetch_add_explicit(&s->counts, CTP__SEARCHING_ONE - CTP__PARKED_ONE, memory_order_seq_cst);
    }
    if (p->on_group)
        group_list_remove_locked(p);
    pthread_mutex_unlock(&s->lock);

    if (blocked)
        ctp__count(&w->parks, 1);
    if (timed_out)
        ctp__count(&w->backoff_timeouts, 1);
    if (notified)
        ctp__count(&w->wakeups, 1);
}

void ctp__sleep_wake_all(ctp_pool *pool)
{
    pthread_mutex_lock(&pool->sleep.lock);
    for (uint32_t i = 0; i < pool->nworkers; i++)
        pthread_cond_signal(&pool->workers[i]->parker.cv);
    pthread_mutex_unlock(&pool->sleep.lock);
}

void ctp__sleep_group_done(ctp_pool *pool, struct ctp_group *g)
{
    /* Signalled under the lock: outside waiters' parkers live on their stacks
     * and are gone once they return. */
    pthread_mutex_lock(&pool->sleep.lock);
    for (ctp__parker *p = g->wait_list; p != NULL; p = p->group_next)
        pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&pool->sleep.lock);
}

void ctp__sleep_group_block(ctp_pool *pool, struct ctp_group *g, uint64_t deadline_ns)
{
    ctp__parker p = { .notified = false, .on_idle = false, .on_group = false };
    if (ctp__cond_init_monotonic(&p.cv) != 0)
        return; /* caller loops; it degrades to re-checking, never hangs */
    pthread_mutex_lock(&pool->sleep.lock);
    group_list_add_locked(g, &p);
    CTP__HOOK(pool, CTP_HOOK_GROUP_BLOCK);
    while (!group_done(g)) {
        if (ctp__cond_wait_until(&p.cv, &pool->sleep.lock, deadline_ns))
            break;
    }
    group_list_remove_locked(&p);
    pthread_mutex_unlock(&pool->sleep.lock);
    pthread_cond_destroy(&p.cv);
}
