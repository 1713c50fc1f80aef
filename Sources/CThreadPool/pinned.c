/* Tasks pinned to a thread (pinned.h). */
#include "pinned.h"

#include <stdlib.h>

int ctp_pinned_create(ctp_pool *pool, ctp_pinned **out_queue)
{
    if (pool == NULL || out_queue == NULL || ctp__forked(pool))
        return CTP_EINVAL;
    *out_queue = NULL;
    if (ctp__is_inside(pool) || ctp__my_pinned(pool) != NULL || ctp__tls_get()->pinned != NULL)
        return CTP_EINVAL; /* one queue per outside thread */
    if (ctp__tls_get()->runs_no_tasks)
        return CTP_EINVAL; /* a monitor thread (pool.h) */
    /* Relaxed: a courtesy check, as in ctp_group_create. */
    if (atomic_load_explicit(&pool->state, memory_order_relaxed) == CTP__STOPPED)
        return CTP_ESHUTDOWN;
    ctp_pinned *q = ctp__calloc(1, sizeof *q);
    if (q == NULL)
        return CTP_ENOMEM;
    if (pthread_mutex_init(&q->lock, NULL) != 0) {
        free(q);
        return CTP_ENOMEM;
    }
    if (ctp__cond_init_monotonic(&q->cv) != 0) {
        pthread_mutex_destroy(&q->lock);
        free(q);
        return CTP_ENOMEM;
    }
    q->pool = pool;
    q->owner = pthread_self();
    atomic_fetch_add_explicit(&pool->pinned_live, 1, memory_order_relaxed); /* relaxed: a count checked by destroy */
    ctp__tls_get()->pinned = q;
    *out_queue = q;
    return CTP_OK;
}

static bool is_owner(const ctp_pinned *q)
{
    return pthread_equal(q->owner, pthread_self()) && ctp__tls_get()->pinned == q;
}

ctp__task *ctp__pinned_take(ctp_pinned *q)
{
    ctp__task *t = NULL;
    pthread_mutex_lock(&q->lock);
    for (int p = 0; p < CTP_PRIORITY_COUNT && q->count > 0; p++) {
        if ((t = q->lists[p].head) != NULL) {
            q->lists[p].head = t->next;
            if (q->lists[p].head == NULL)
                q->lists[p].tail = NULL;
            q->count--;
            break;
        }
    }
    pthread_mutex_unlock(&q->lock);
    return t;
}

int ctp_pinned_run(ctp_pinned *q, size_t max)
{
    if (q == NULL || ctp__forked(q->pool) || !is_owner(q))
        return CTP_EINVAL;
    int ran = 0;
    q->busy++;
    for (size_t i = 0; i < max && ran < 0x7fffffff; i++) {
        ctp__task *t = ctp__pinned_take(q);
        if (t == NULL)
            break;
        ctp__run_outside(q->pool, t);
        ran++;
    }
    q->busy--;
    return ran;
}

static void wake_owner(void *ctx)
{
    ctp_pinned *q = ctx;
    pthread_mutex_lock(&q->lock);
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->lock);
}

void ctp__pinned_block(ctp_pinned *q, ctp__latch *latch, uint64_t deadline_ns)
{
    /* Subscribed before the latch is read under q->lock: the count-down that
     * sets it either is seen here or signals q->cv (under q->lock, so not
     * before we wait). A pinned push signals under q->lock too. */
    ctp__latch_waiter sub = { .wake = wake_owner, .ctx = q, .next = NULL };
    ctp__latch_subscribe(latch, &sub);
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !ctp__latch_done(latch)) {
        if (ctp__cond_wait_until(&q->cv, &q->lock, deadline_ns))
            break;
    }
    pthread_mutex_unlock(&q->lock);
    ctp__latch_unsubscribe(latch, &sub);
}

ctp__task *ctp__pinned_alloc_locked(ctp_pinned *q)
{
    return ctp__task_alloc(&q->cache, &q->pool->depots[0]);
}

void ctp__pinned_free_locked(ctp_pinned *q, ctp__task *t)
{
    ctp__task_free(&q->cache, &q->pool->depots[0], t);
}

void ctp__pinned_push_locked(ctp_pinned *q, ctp__task *t)
{
    int p = t->priority;
    t->next = NULL;
    if (q->lists[p].tail != NULL)
        q->lists[p].tail->next = t;
    else
        q->lists[p].head = t;
    q->lists[p].tail = t;
    q->count++;
    pthread_cond_signal(&q->cv);
}

int ctp_pinned_destroy(ctp_pinned *q)
{
    if (q == NULL || ctp__forked(q->pool) || !is_owner(q))
        return CTP_EINVAL;
    /* From a task the owner runs where the queue is in use further up this
     * very stack (a pinned task, one its helping wait took, an on_cancel of
     * this very drop, or a notification fired at their end): the run loop,
     * wait or drop takes from it again after the task returns. A task of
     * another pool, or one ctp_pool_help ran that was not pinned, may. */
    if (q->busy > 0)
        return CTP_EINVAL;
    ctp__task *t;
    q->busy++;
    while ((t = ctp__pinned_take(q)) != NULL)
        ctp__drop_task(q->pool, t);
    q->busy--;
    pthread_mutex_lock(&q->lock);
    ctp__task_cache_flush(&q->cache, &q->pool->depots[0]);
    pthread_mutex_unlock(&q->lock);
    ctp__tls_get()->pinned = NULL;
    /* Release: pairs with ctp_pool_destroy's acquire load of pinned_live:
     * the queue is done with the pool before destroy may see 0. */
    atomic_fetch_sub_explicit(&q->pool->pinned_live, 1, memory_order_release);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->lock);
    free(q);
    return CTP_OK;
}
