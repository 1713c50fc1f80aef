/* The injection queue; see injector.h. */
#define _GNU_SOURCE /* PTHREAD_MUTEX_ADAPTIVE_NP */
#include "injector.h"

/* The critical sections are a few dozen instructions, so a waiter spins a
 * little before sleeping: a sleeping waiter costs two context switches. */
int ctp__mutex_init_adaptive(pthread_mutex_t *m)
{
    pthread_mutexattr_t attr;
    if (pthread_mutexattr_init(&attr) != 0)
        return -1;
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    int rc = pthread_mutex_init(m, &attr);
    pthread_mutexattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

int ctp__injector_init(ctp__injector *inj, ctp__task_depot *depot)
{
    inj->depot = depot;
    for (int p = 0; p < CTP_PRIORITY_COUNT; p++)
        inj->lists[p].head = inj->lists[p].tail = NULL;
    atomic_init(&inj->mask, 0u);
    atomic_init(&inj->count, (size_t)0);
    inj->cache.head = NULL;
    inj->cache.count = 0;
    return ctp__mutex_init_adaptive(&inj->lock) == 0 ? CTP_OK : CTP_ENOMEM;
}

void ctp__injector_destroy(ctp__injector *inj)
{
    pthread_mutex_destroy(&inj->lock);
}

void ctp__injector_push_locked(ctp__injector *inj, ctp__task *task)
{
    int p = task->priority;
    task->next = NULL;
    if (inj->lists[p].tail != NULL)
        inj->lists[p].tail->next = task;
    else
        inj->lists[p].head = task;
    inj->lists[p].tail = task;
    /* Relaxed: these hints are published by the unlock (release) and by the
     * submitter's seq_cst fence in ctp__sleep_new_work. */
    atomic_store_explicit(&inj->mask, atomic_load_explicit(&inj->mask, memory_order_relaxed) | (1u << p),
                          memory_order_relaxed);
    atomic_store_explicit(&inj->count, atomic_load_explicit(&inj->count, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Unlinks the task after prev (the head when prev is NULL) from level p's
 * list and keeps the hints in step: the mask bit clears with the last task,
 * the count drops by one. The caller holds inj->lock. */
static ctp__task *unlink_locked(ctp__injector *inj, int p, ctp__task *prev)
{
    ctp__task *t = prev != NULL ? prev->next : inj->lists[p].head;
    if (prev != NULL)
        prev->next = t->next;
    else
        inj->lists[p].head = t->next;
    if (inj->lists[p].tail == t)
        inj->lists[p].tail = prev;
    /* Relaxed: hints, published by the unlock as in ctp__injector_push_locked. */
    if (inj->lists[p].head == NULL)
        atomic_store_explicit(&inj->mask, atomic_load_explicit(&inj->mask, memory_order_relaxed) & ~(1u << p),
                              memory_order_relaxed);
    atomic_store_explicit(&inj->count, atomic_load_explicit(&inj->count, memory_order_relaxed) - 1,
                          memory_order_relaxed);
    t->next = NULL;
    return t;
}

static ctp__task *pop_level_locked(ctp__injector *inj, int p)
{
    return unlink_locked(inj, p, NULL);
}

ctp__task *ctp__injector_pop_locked(ctp__injector *inj)
{
    unsigned m = atomic_load_explicit(&inj->mask, memory_order_relaxed);
    if (m == 0)
        return NULL;
    return pop_level_locked(inj, __builtin_ctz(m));
}

size_t ctp__injector_take(ctp__injector *inj, int lowest, ctp__task **out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&inj->lock);
    unsigned m = atomic_load_explicit(&inj->mask, memory_order_relaxed) & ((2u << lowest) - 1);
    if (m != 0) {
        int p = __builtin_ctz(m);
        while (n < max && inj->lists[p].head != NULL)
            out[n++] = pop_level_locked(inj, p);
    }
    pthread_mutex_unlock(&inj->lock);
    return n;
}

ctp__task *ctp__injector_take_group(ctp__injector *inj, const struct ctp_group *g)
{
    ctp__task *found = NULL;
    pthread_mutex_lock(&inj->lock);
    for (int p = 0; p < CTP_PRIORITY_COUNT && found == NULL; p++) {
        ctp__task *prev = NULL;
        for (ctp__task *t = inj->lists[p].head; t != NULL; prev = t, t = t->next) {
            if (t->group != g)
                continue;
            found = unlink_locked(inj, p, prev);
            break;
        }
    }
    pthread_mutex_unlock(&inj->lock);
    return found;
}

size_t ctp__injector_take_aged(ctp__injector *inj, int lowest, int urgent, uint64_t older_than, uint64_t delay,
                               ctp__task **out, uint64_t *young_until)
{
    size_t n = 0;
    pthread_mutex_lock(&inj->lock);
    unsigned m = atomic_load_explicit(&inj->mask, memory_order_relaxed) & ((2u << lowest) - 1);
    if (m != 0) {
        int p = __builtin_ctz(m);
        ctp__task *head = inj->lists[p].head;
        if (p <= urgent || head->submit_ns <= older_than)
            out[n++] = pop_level_locked(inj, p);
        else if (head->submit_ns + delay < *young_until)
            *young_until = head->submit_ns + delay;
    }
    pthread_mutex_unlock(&inj->lock);
    return n;
}

void ctp__injectors_lock(ctp__injector *injs, int n, const bool *which)
{
    for (int i = 0; i < n; i++)
        if (which == NULL || which[i])
            pthread_mutex_lock(&injs[i].lock);
}

void ctp__injectors_unlock(ctp__injector *injs, int n, const bool *which)
{
    for (int i = n; i-- > 0;)
        if (which == NULL || which[i])
            pthread_mutex_unlock(&injs[i].lock);
}
