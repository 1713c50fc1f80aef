/* Seeing inside a live pool: ctp_pool_snapshot, and starting and stopping a
 * trace (trace.h). The stall monitor is monitor.c. */
#include "monitor.h"

#include <errno.h>
#include <stdio.h>

int ctp_pool_snapshot(ctp_pool *pool, ctp_worker_info *out, size_t capacity, size_t *count)
{
    if (pool == NULL || count == NULL || (out == NULL && capacity > 0) || ctp__forked(pool))
        return CTP_EINVAL;
    *count = pool->nworkers;
    uint64_t now = 0;
    for (uint32_t i = 0; i < pool->nworkers && i < capacity; i++) {
        ctp__worker *w = pool->workers[i];
        ctp__live_view v;
        ctp__live_read(&w->live, &v);
        ctp_worker_info *o = &out[i];
        o->index = (int)i;
        o->node = w->node;
        o->executed = atomic_load_explicit(&w->executed, memory_order_relaxed) + /* relaxed: a report */
                      atomic_load_explicit(&w->cancelled, memory_order_relaxed);
        o->local_queued = ctp__worker_queued(w);
        if (v.running) {
            o->state = CTP_WORKER_RUNNING;
            o->fn = (ctp_task_fn)v.fn;
            o->label = (const char *)v.label;
            if (v.start_ns != 0 && now == 0)
                now = ctp__now_ns();
            o->running_ns = v.start_ns != 0 && now > v.start_ns ? now - v.start_ns : 0;
        } else {
            o->state = ctp__sleep_is_parked(&pool->sleep, i) ? CTP_WORKER_PARKED : CTP_WORKER_SEARCHING;
            o->fn = NULL;
            o->label = NULL;
            o->running_ns = 0;
        }
    }
    return CTP_OK;
}

int ctp_pool_prewake(ctp_pool *pool, uint64_t at_ns)
{
    if (pool == NULL || ctp__forked(pool))
        return CTP_EINVAL;
    ctp__sleep_prewake(&pool->sleep, at_ns);
    return CTP_OK;
}

enum { CTP__TRACE_MAX_EVENTS = 1 << 24 };

int ctp_trace_start(ctp_pool *pool, size_t events_per_worker)
{
    if (pool == NULL || events_per_worker == 0 || events_per_worker > CTP__TRACE_MAX_EVENTS || ctp__forked(pool))
        return CTP_EINVAL;
    pthread_mutex_lock(&pool->trace_lock);
    int rc = CTP_OK;
    if (atomic_load_explicit(&pool->trace.active, memory_order_relaxed) != NULL) { /* relaxed: under trace_lock */
        rc = CTP_EINVAL;
    } else {
        ctp__trace *t = ctp__trace_new(&pool->trace, events_per_worker);
        if (t == NULL) {
            rc = CTP_ENOMEM;
        } else {
            ctp__trace_publish(&pool->trace, t);
            ctp__sleep_report_parks(&pool->sleep); /* park and wake events */
            atomic_fetch_or_explicit(&pool->observe, CTP__OBSERVE_TRACE, memory_order_relaxed); /* relaxed: a hint */
        }
    }
    pthread_mutex_unlock(&pool->trace_lock);
    return rc;
}

int ctp_trace_stop(ctp_pool *pool, const char *path)
{
    if (pool == NULL || path == NULL || ctp__forked(pool))
        return CTP_EINVAL;
    if (ctp__is_inside(pool))
        return CTP_EINVAL; /* would wait for its own ring */
    /* fopen, the writes and fclose are cancellation points: not with the
     * lock held (platform.h). */
    int cancel = ctp__cancel_off();
    pthread_mutex_lock(&pool->trace_lock);
    ctp__trace *t = atomic_load_explicit(&pool->trace.active, memory_order_relaxed); /* relaxed: under trace_lock */
    if (t == NULL) {
        pthread_mutex_unlock(&pool->trace_lock);
        ctp__cancel_restore(cancel);
        return CTP_EINVAL;
    }
    /* The file first: a bad path leaves the trace running, nothing lost. */
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        pthread_mutex_unlock(&pool->trace_lock);
        ctp__cancel_restore(cancel);
        return CTP_EINVAL;
    }
    uint64_t end = ctp__now_ns();
    atomic_fetch_and_explicit(&pool->observe, ~(unsigned)CTP__OBSERVE_TRACE, memory_order_relaxed); /* relaxed: a hint */
    ctp__trace_quiesce(&pool->trace, t);
    int wrc = ctp__trace_write(t, pool->name, end, f);
    if (fclose(f) != 0)
        wrc = -1;
    ctp__trace_free(t);
    pthread_mutex_unlock(&pool->trace_lock);
    ctp__cancel_restore(cancel);
    return wrc == 0 ? CTP_OK : CTP_ENOMEM;
}
