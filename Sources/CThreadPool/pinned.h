/* Tasks pinned to one thread outside the pool (ctp_pinned_create): a queue
 * per priority under a mutex, filled by submissions from any thread and
 * drained only by the owner, in its group waits and in ctp_pinned_run. The
 * workers never see these tasks (they are in no deque or injector), so no
 * worker can take one. A pinned submission signals the owner's condition
 * variable; an owner waiting on a group blocks on that condition variable
 * with a latch subscription that signals it too, so either event wakes it.
 *
 * Layer: submission (with submit.c and group.c). */
#ifndef CTP_PINNED_H
#define CTP_PINNED_H

#include "scheduler.h"

struct ctp_pinned {
    ctp_pool *pool;
    pthread_t owner;
    pthread_mutex_t lock;
    pthread_cond_t cv;      /* a pinned submission, or a subscribed latch set */
    struct {
        ctp__task *head, *tail;
    } lists[CTP_PRIORITY_COUNT]; /* under lock: FIFO per priority */
    size_t count;           /* under lock: queued tasks */
    ctp__task_cache cache;  /* under lock: nodes from depot 0 */
    /* Owner only: calls up the owner's stack that take from the queue
     * again once the task they run returns (ctp_pinned_run, a group wait,
     * ctp_pool_help's run of a pinned task, ctp_pinned_destroy's drop).
     * ctp_pinned_destroy is refused while it is not 0. */
    unsigned busy;
};

/* The calling thread's queue for pool, or NULL. */
static inline struct ctp_pinned *ctp__my_pinned(ctp_pool *pool)
{
    struct ctp_pinned *q = ctp__tls_get()->pinned;
    return q != NULL && q->pool == pool ? q : NULL;
}

/* Owner: takes the highest-priority queued task, or NULL. */
ctp__task *ctp__pinned_take(struct ctp_pinned *q);
/* Owner: blocks until a pinned task is queued, the latch is set, or the
 * deadline passes (or spuriously). */
void ctp__pinned_block(struct ctp_pinned *q, ctp__latch *latch, uint64_t deadline_ns);
/* Under q->lock: a node for a pinned task, or NULL. */
ctp__task *ctp__pinned_alloc_locked(struct ctp_pinned *q);
/* Under q->lock: frees a node that was not queued. */
void ctp__pinned_free_locked(struct ctp_pinned *q, ctp__task *t);
/* Under q->lock: queues t and wakes the owner. */
void ctp__pinned_push_locked(struct ctp_pinned *q, ctp__task *t);

#endif
