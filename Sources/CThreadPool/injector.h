/* The injection queue: where tasks submitted from outside the pool's workers
 * wait, one FIFO list per priority, behind one mutex.
 *
 * A mutex (not a lock-free queue) because every outside submission also
 * allocates its node from the injector's node cache and checks the pool's
 * lifecycle state and capacity under the same lock, and workers take tasks
 * out in batches, so the lock is taken once per batch on the consumer side.
 *
 * Lock-free readers may look at `mask` and `count` as hints: after a seq_cst
 * fence they see every push that happened before the pusher's fence. */
#ifndef CTP_INJECTOR_H
#define CTP_INJECTOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "task.h"

typedef struct ctp__injector {
    _Alignas(64) pthread_mutex_t lock;
    ctp__task_depot *depot; /* where the node cache refills */
    struct {
        ctp__task *head, *tail;
    } lists[CTP_PRIORITY_COUNT]; /* under lock */
    /* Bit p set iff lists[p] is non-empty. Written under lock, read anywhere. */
    _Atomic unsigned mask;
    /* Tasks in all lists. Written under lock, read anywhere. */
    _Atomic size_t count;
    /* Free nodes for outside submitters: under lock. */
    ctp__task_cache cache;
} ctp__injector;

/* A mutex that spins briefly before it sleeps (where the platform has one). */
int ctp__mutex_init_adaptive(pthread_mutex_t *m);

int ctp__injector_init(ctp__injector *inj, ctp__task_depot *depot);
void ctp__injector_destroy(ctp__injector *inj);

/* Caller holds inj->lock. Appends task at the tail of its priority list. */
void ctp__injector_push_locked(ctp__injector *inj, ctp__task *task);

/* Locks injs[i] for every i < n with which[i] (every one if which is NULL)
 * in index order, the runtime's lock order for injectors; unlock in
 * reverse. */
void ctp__injectors_lock(ctp__injector *injs, int n, const bool *which);
void ctp__injectors_unlock(ctp__injector *injs, int n, const bool *which);

/* Takes up to max tasks of the highest non-empty priority not lower than
 * `lowest` (numerically <=) into out[] in FIFO order; returns how many. */
size_t ctp__injector_take(ctp__injector *inj, int lowest, ctp__task **out, size_t max);

/* For another node's worker: like ctp__injector_take with max 1, but a task
 * of a level below `urgent` (numerically above it) is taken only if it was
 * submitted at or before `older_than` (task->submit_ns); otherwise nothing is
 * taken and *young_until is lowered to when it will be (submit_ns + delay).
 * Returns 0 or 1. */
size_t ctp__injector_take_aged(ctp__injector *inj, int lowest, int urgent, uint64_t older_than, uint64_t delay,
                               ctp__task **out, uint64_t *young_until);

/* Removes and returns the first task of group g (highest priority first,
 * oldest first), or NULL. Walks the lists under the lock: only for a helper
 * that may run nothing but the work it waits for (group.c). */
ctp__task *ctp__injector_take_group(ctp__injector *inj, const struct ctp_group *g);

/* Caller holds inj->lock. Removes and returns the oldest task of the highest
 * non-empty priority, or NULL. */
ctp__task *ctp__injector_pop_locked(ctp__injector *inj);

static inline unsigned ctp__injector_mask(ctp__injector *inj)
{
    /* Relaxed, lock-free: a hint for finders (they take under the lock);
     * the sleep protocol's re-check orders it by its seq_cst fences. */
    return atomic_load_explicit(&inj->mask, memory_order_relaxed);
}

#endif
