/* The worker loop (scheduler.c): finding, running and stealing tasks, the
 * idle phase over the sleep protocol, worker threads. Used by submission,
 * groups, parallel_for and the lifecycle above it. Not installed. */
#ifndef CTP_SCHEDULER_H
#define CTP_SCHEDULER_H

#include "pool.h"

void *ctp__worker_main(void *arg);
ctp__task *ctp__find_task(ctp__worker *w, bool may_steal);
ctp__task *ctp__find_task_outside(ctp_pool *pool);
/* A task of group g in the injection queues, or NULL: for a waiter too deep
 * to help with anything else, which may still run the tasks it waits for:
 * an outside thread nested CTP__OUTSIDE_HELP_DEPTH deep (the tasks it
 * submits go there), or a worker with too little stack left (after its own
 * deque: the group's tasks submitted from elsewhere). O(queued). */
ctp__task *ctp__find_group_task_injected(ctp_pool *pool, const struct ctp_group *g);
void ctp__run_task(ctp_pool *pool, ctp__worker *w, ctp__task *t);
/* Runs t on an outside thread as one of pool's tasks (its submissions are
 * internal), restoring the thread's own context afterwards. */
void ctp__run_outside(ctp_pool *pool, ctp__task *t);
/* Drops t without running it, on an outside thread (a pinned queue
 * destroyed): its on_cancel runs in a task frame as in a cancelling
 * shutdown, counted cancelled, its group counted down. */
void ctp__drop_task(ctp_pool *pool, ctp__task *t);
/* How deep an outside thread may nest tasks it runs while helping. */
enum { CTP__OUTSIDE_HELP_DEPTH = 64 };
/* Idle phase of a worker: search, spin, park. Returns a task, or NULL when
 * group (if any) is done, the pool is exiting, or deadline passed. */
ctp__task *ctp__worker_idle(ctp__worker *w, struct ctp_group *group, uint64_t deadline_ns);
/* The sleep protocol's re-check: is a task visible in any queue? */
bool ctp__has_visible_work(ctp_pool *pool);
/* For worker w about to block, its own thread (the sleep protocol's
 * work_for): is there work it may take now? Another node's work in its grace
 * period does not count; it lowers *defer_until to when w may take it, and
 * sets bit n of *defer_nodes for each node n that has such work (every one:
 * each node's parked workers are woken for their own). With no grace period
 * (or one node), ctp__has_visible_work. */
bool ctp__has_work_for(ctp__worker *w, uint64_t *defer_until, uint64_t *defer_nodes);
/* After publishing `tasks` tasks: the sleep protocol's wake rule.
 * caller_busy: see ctp__sleep_new_work. */
static inline void ctp__notify(ctp_pool *pool, size_t tasks, int node, bool caller_busy)
{
    ctp__sleep_new_work(&pool->sleep, tasks, node, caller_busy);
}
bool ctp__stack_allows_steal(ctp__worker *w);

/* Returns task memory beyond keep_nodes free nodes per depot to the system
 * (ctp_pool_trim, and the idle trim in scheduler.c): the outside
 * submitters' node caches go back to their depots first, so whole slabs can
 * come home. Any thread. */
static inline void ctp__trim_task_memory(ctp_pool *pool, size_t keep_nodes)
{
    for (int n = 0; n <= pool->nnodes; n++) {
        ctp__injector *inj = &pool->injs[n];
        pthread_mutex_lock(&inj->lock);
        ctp__task_cache_flush(&inj->cache, inj->depot);
        pthread_mutex_unlock(&inj->lock);
    }
    size_t freed = 0;
    for (int n = 0; n < pool->nnodes; n++)
        freed += ctp__depot_trim(&pool->depots[n], keep_nodes, pool->nnodes == 1);
    if (freed > 0)
        ctp__release_free_memory();
}

#endif
