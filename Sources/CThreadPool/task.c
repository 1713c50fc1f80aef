/* Task node allocator: per-thread caches over a depot of slabs (see task.h). */
#include "task.h"

#include "numa.h"
#include "platform.h"

#include <stdlib.h>

typedef struct ctp__slab {
    struct ctp__slab *next;
    ctp__task tasks[CTP__SLAB_TASKS];
} ctp__slab;

int ctp__depot_init(ctp__task_depot *depot, bool bind, int node)
{
    depot->bind = bind;
    depot->node = node;
    depot->batches = NULL;
    atomic_init(&depot->free_batches, 0);
    depot->slabs = NULL;
    atomic_init(&depot->slab_count, 0);
    return pthread_mutex_init(&depot->lock, NULL) == 0 ? CTP_OK : CTP_ENOMEM;
}

void ctp__depot_destroy(ctp__task_depot *depot)
{
    ctp__slab *slab = depot->slabs;
    while (slab != NULL) {
        ctp__slab *next = slab->next;
        ctp__node_free(depot->bind, slab, sizeof *slab);
        slab = next;
    }
    depot->slabs = NULL;
    depot->batches = NULL;
    pthread_mutex_destroy(&depot->lock);
}

/* Fills an empty cache with one batch from the depot, or a new slab.
 * Returns 0 on success, -1 when out of memory. */
static int depot_refill(ctp__task_cache *cache, ctp__task_depot *depot)
{
    pthread_mutex_lock(&depot->lock);
    ctp__task *batch = depot->batches;
    if (batch != NULL) {
        depot->batches = (ctp__task *)batch->arg;
        atomic_fetch_sub_explicit(&depot->free_batches, 1, memory_order_relaxed); /* under lock */
        pthread_mutex_unlock(&depot->lock);
        size_t n = 0;
        for (ctp__task *t = batch; t != NULL; t = t->next)
            n++;
        cache->head = batch;
        cache->count = n;
        return 0;
    }
    ctp__slab *slab = ctp__node_alloc(depot->bind, depot->node, sizeof *slab);
    if (slab == NULL) {
        pthread_mutex_unlock(&depot->lock);
        return -1;
    }
    slab->next = depot->slabs;
    depot->slabs = slab;
    atomic_fetch_add_explicit(&depot->slab_count, 1, memory_order_relaxed); /* under lock */
    pthread_mutex_unlock(&depot->lock);
    for (size_t i = 0; i < CTP__SLAB_TASKS; i++)
        slab->tasks[i].next = (i + 1 < CTP__SLAB_TASKS) ? &slab->tasks[i + 1] : NULL;
    cache->head = &slab->tasks[0];
    cache->count = CTP__SLAB_TASKS;
    return 0;
}

ctp__task *ctp__task_alloc(ctp__task_cache *cache, ctp__task_depot *depot)
{
    if (cache->head == NULL && depot_refill(cache, depot) != 0)
        return NULL;
    ctp__task *t = cache->head;
    cache->head = t->next;
    cache->count--;
    return t;
}

/* Detaches up to CTP__BATCH nodes from the cache and gives them to the depot. */
static void spill_batch(ctp__task_cache *cache, ctp__task_depot *depot)
{
    ctp__task *batch = cache->head;
    ctp__task *last = batch;
    size_t n = 1;
    while (n < CTP__BATCH && last->next != NULL) {
        last = last->next;
        n++;
    }
    cache->head = last->next;
    cache->count -= n;
    last->next = NULL;
    pthread_mutex_lock(&depot->lock);
    batch->arg = depot->batches;
    depot->batches = batch;
    atomic_fetch_add_explicit(&depot->free_batches, 1, memory_order_relaxed); /* under lock */
    pthread_mutex_unlock(&depot->lock);
}

void ctp__task_free(ctp__task_cache *cache, ctp__task_depot *depot, ctp__task *task)
{
    task->next = cache->head;
    cache->head = task;
    cache->count++;
    if (cache->count > CTP__CACHE_HIGH)
        spill_batch(cache, depot);
}

void ctp__task_cache_flush(ctp__task_cache *cache, ctp__task_depot *depot)
{
    while (cache->head != NULL)
        spill_batch(cache, depot);
    cache->count = 0;
}

size_t ctp__depot_free_nodes(ctp__task_depot *depot)
{
    /* Relaxed: a hint. */
    return atomic_load_explicit(&depot->free_batches, memory_order_relaxed) * CTP__BATCH;
}

size_t ctp__depot_bytes(ctp__task_depot *depot)
{
    /* Relaxed: a statistic. */
    return atomic_load_explicit(&depot->slab_count, memory_order_relaxed) * sizeof(ctp__slab);
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

/* Index in sorted[0..n) of the slab holding t. */
static size_t slab_of(ctp__slab *const *sorted, size_t n, const ctp__task *t)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)sorted[mid] <= (uintptr_t)t)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Pushes the batches of list (linked through ->arg) onto the depot. */
static void depot_give_back_locked(ctp__task_depot *depot, ctp__task *list, size_t batches)
{
    while (list != NULL) {
        ctp__task *next = (ctp__task *)list->arg;
        list->arg = depot->batches;
        depot->batches = list;
        list = next;
    }
    atomic_fetch_add_explicit(&depot->free_batches, batches, memory_order_relaxed); /* under lock */
}

size_t ctp__depot_trim(ctp__task_depot *depot, size_t keep_nodes)
{
    /* Take every free batch and a snapshot of the slabs under the lock, then
     * count and sort without it (after a burst of millions of tasks that is
     * the long part), and take the lock again only to free the chosen slabs
     * and give the other nodes back. Meanwhile other threads find the depot
     * empty and allocate a slab if they need one. A slab is freed only if
     * all of its nodes are in the batches taken here, so no node of it is
     * anywhere else. */
    pthread_mutex_lock(&depot->lock);
    ctp__task *taken = depot->batches;
    size_t nbatches = atomic_load_explicit(&depot->free_batches, memory_order_relaxed);
    size_t nslabs = atomic_load_explicit(&depot->slab_count, memory_order_relaxed);
    if (nslabs == 0 || nbatches * CTP__BATCH < CTP__SLAB_TASKS + keep_nodes) {
        pthread_mutex_unlock(&depot->lock);
        return 0; /* not enough free to free a slab (a cheap upper bound) */
    }
    ctp__slab **sorted = ctp__calloc(nslabs, sizeof *sorted);
    uint16_t *count = ctp__calloc(nslabs, sizeof *count);
    if (sorted == NULL || count == NULL) {
        pthread_mutex_unlock(&depot->lock);
        free(sorted);
        free(count);
        return 0; /* no memory to trim with: try another time */
    }
    size_t k = 0;
    for (ctp__slab *sl = depot->slabs; sl != NULL && k < nslabs; sl = sl->next)
        sorted[k++] = sl;
    depot->batches = NULL;
    atomic_store_explicit(&depot->free_batches, 0, memory_order_relaxed); /* under lock */
    pthread_mutex_unlock(&depot->lock);

    /* Count each slab's free nodes (slabs sorted by address; a node belongs
     * to the slab with the highest address not above it). */
    qsort(sorted, nslabs, sizeof *sorted, cmp_ptr);
    size_t free_nodes = 0;
    for (ctp__task *b = taken; b != NULL; b = (ctp__task *)b->arg)
        for (ctp__task *t = b; t != NULL; t = t->next) {
            count[slab_of(sorted, nslabs, t)]++;
            free_nodes++;
        }
    /* Choose fully free slabs while enough free nodes remain; mark them with
     * a count of UINT16_MAX. */
    size_t remaining = free_nodes, freed = 0;
    for (size_t i = 0; i < nslabs; i++) {
        if (count[i] == CTP__SLAB_TASKS && remaining >= CTP__SLAB_TASKS + keep_nodes) {
            count[i] = UINT16_MAX;
            remaining -= CTP__SLAB_TASKS;
            freed++;
        }
    }
    /* Rebuild batches from the nodes that stay. */
    ctp__task *keep = NULL, *cur = NULL;
    size_t in_cur = 0, kept_batches = 0;
    for (ctp__task *b = taken; b != NULL;) {
        ctp__task *next_batch = (ctp__task *)b->arg;
        for (ctp__task *t = b, *next; t != NULL; t = next) {
            next = t->next;
            if (count[slab_of(sorted, nslabs, t)] == UINT16_MAX)
                continue;
            if (cur != NULL && in_cur == CTP__BATCH) {
                cur->arg = keep;
                keep = cur;
                kept_batches++;
                cur = NULL;
                in_cur = 0;
            }
            t->next = cur;
            cur = t;
            in_cur++;
        }
        b = next_batch;
    }
    if (cur != NULL) {
        cur->arg = keep;
        keep = cur;
        kept_batches++;
    }

    pthread_mutex_lock(&depot->lock);
    if (freed > 0) {
        ctp__slab **link = (ctp__slab **)&depot->slabs;
        while (*link != NULL) {
            ctp__slab *sl = *link;
            size_t i = slab_of(sorted, nslabs, (const ctp__task *)(const void *)sl->tasks);
            if (sorted[i] == sl && count[i] == UINT16_MAX) {
                *link = sl->next;
                ctp__node_free(depot->bind, sl, sizeof *sl);
                atomic_fetch_sub_explicit(&depot->slab_count, 1, memory_order_relaxed); /* under lock */
            } else {
                link = &sl->next;
            }
        }
    }
    depot_give_back_locked(depot, keep, kept_batches);
    pthread_mutex_unlock(&depot->lock);
    free(sorted);
    free(count);
    return freed;
}
