/* Task node allocator: per-thread caches over a depot of slabs (see task.h). */
#include "task.h"

#include "numa.h"


typedef struct ctp__slab {
    struct ctp__slab *next;
    ctp__task tasks[CTP__SLAB_TASKS];
} ctp__slab;

int ctp__depot_init(ctp__task_depot *depot, bool bind, int node)
{
    depot->bind = bind;
    depot->node = node;
    depot->batches = NULL;
    depot->free_batches = 0;
    depot->slabs = NULL;
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
        depot->free_batches--;
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
    depot->free_batches++;
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
