/* Task node allocator: per-thread caches over a depot of slabs (see task.h). */
#include "task.h"

#include "numa.h"
#include "platform.h"

#include <stdlib.h>

/* Slabs are aligned to their (power-of-two) size, so a node finds its slab
 * by masking its address; the trim counts free nodes in the slab header. */
#define CTP__SLAB_ALIGN ((size_t)65536)

typedef struct ctp__slab {
    struct ctp__slab *next;
    ctp__task_depot *depot; /* set once: nodes of other depots' slabs are not counted */
    uint32_t trim_count;    /* only the depot's running trim touches it */
    ctp__task tasks[CTP__SLAB_TASKS];
} ctp__slab;

_Static_assert(sizeof(ctp__slab) <= CTP__SLAB_ALIGN, "a slab fits its alignment");
_Static_assert(CTP__SLAB_TASKS % CTP__BATCH == 0, "a slab is whole batches");

static ctp__slab *slab_of(const ctp__task *t)
{
    return (ctp__slab *)((uintptr_t)t & ~(uintptr_t)(CTP__SLAB_ALIGN - 1));
}

/* A free batch's head carries its node count (task.h): a refill takes it
 * without walking the chain, whose nodes are cold after a pause (the walk
 * was 5-6 us per refill, a third of a 100-task batch's publish, after a
 * park on the 2-vCPU VM). */
static void batch_head(ctp__task *head, size_t n)
{
    head->submit_ns = n;
}

static size_t batch_count(const ctp__task *head)
{
    return (size_t)head->submit_ns;
}

int ctp__depot_init(ctp__task_depot *depot, bool bind, int node)
{
    depot->bind = bind;
    depot->node = node;
    depot->batches = NULL;
    depot->loose = NULL;
    depot->loose_count = 0;
    atomic_init(&depot->free_batches, 0);
    depot->free_nodes = 0;
    depot->slabs = NULL;
    atomic_init(&depot->slab_count, 0);
    depot->trimming = false;
    return pthread_mutex_init(&depot->lock, NULL) == 0 ? CTP_OK : CTP_ENOMEM;
}

/* Frees a list of slabs linked through ->next. */
static void free_slabs(ctp__slab *list)
{
    while (list != NULL) {
        ctp__slab *next = list->next;
        free(list);
        list = next;
    }
}

void ctp__depot_destroy(ctp__task_depot *depot)
{
    free_slabs(depot->slabs);
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
        size_t n = batch_count(batch);
        depot->free_nodes -= n;
        pthread_mutex_unlock(&depot->lock);
        cache->head = batch;
        cache->count = n;
        return 0;
    }
    if (depot->loose != NULL) {
        /* No full batch: the nodes handed back one by one, before a new slab. */
        cache->head = depot->loose;
        cache->count = depot->loose_count;
        depot->free_nodes -= depot->loose_count;
        depot->loose = NULL;
        depot->loose_count = 0;
        pthread_mutex_unlock(&depot->lock);
        return 0;
    }
    ctp__slab *slab = ctp__node_alloc_aligned(depot->bind, depot->node, CTP__SLAB_ALIGN, sizeof *slab);
    if (slab == NULL) {
        pthread_mutex_unlock(&depot->lock);
        return -1;
    }
    slab->depot = depot;
    slab->trim_count = 0;
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
    batch_head(batch, n);
    pthread_mutex_lock(&depot->lock);
    batch->arg = depot->batches;
    depot->batches = batch;
    atomic_fetch_add_explicit(&depot->free_batches, 1, memory_order_relaxed); /* under lock */
    depot->free_nodes += n;
    pthread_mutex_unlock(&depot->lock);
}

/* Under the lock: the loose nodes (free_nodes already counts them) become
 * one batch. */
static void loose_to_batch_locked(ctp__task_depot *depot)
{
    batch_head(depot->loose, depot->loose_count);
    depot->loose->arg = depot->batches;
    depot->batches = depot->loose;
    atomic_fetch_add_explicit(&depot->free_batches, 1, memory_order_relaxed); /* under lock */
    depot->loose = NULL;
    depot->loose_count = 0;
}

void ctp__task_free_home(ctp__task *task)
{
    ctp__task_depot *depot = slab_of(task)->depot;
    pthread_mutex_lock(&depot->lock);
    task->next = depot->loose;
    depot->loose = task;
    depot->free_nodes++;
    if (++depot->loose_count == CTP__BATCH)
        loose_to_batch_locked(depot);
    pthread_mutex_unlock(&depot->lock);
}

void ctp__task_free(ctp__task_cache *cache, ctp__task_depot *depot, ctp__task *task)
{
    if (slab_of(task)->depot != depot) { /* set once when the slab was made */
        ctp__task_free_home(task);
        return;
    }
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

/* Pushes the batches of list (linked through ->arg), `nodes` nodes in all,
 * onto the depot. */
static void depot_give_back_locked(ctp__task_depot *depot, ctp__task *list, size_t batches, size_t nodes)
{
    depot->free_nodes += nodes;
    while (list != NULL) {
        ctp__task *next = (ctp__task *)list->arg;
        list->arg = depot->batches;
        depot->batches = list;
        list = next;
    }
    atomic_fetch_add_explicit(&depot->free_batches, batches, memory_order_relaxed); /* under lock */
}

/* Cuts every node of sl into batches of CTP__BATCH (their count in their
 * heads) and prepends them to *list (linked through ->arg); returns how
 * many. */
static size_t slab_to_batches(ctp__slab *sl, ctp__task **list)
{
    for (size_t i = 0; i < CTP__SLAB_TASKS; i += CTP__BATCH) {
        for (size_t j = i; j < i + CTP__BATCH; j++)
            sl->tasks[j].next = j + 1 < i + CTP__BATCH ? &sl->tasks[j + 1] : NULL;
        batch_head(&sl->tasks[i], CTP__BATCH);
        sl->tasks[i].arg = *list;
        *list = &sl->tasks[i];
    }
    return CTP__SLAB_TASKS / CTP__BATCH;
}

int ctp__depot_take(ctp__task_depot *depot, size_t n, ctp__task_run *run)
{
    ctp__task *chains = NULL;
    size_t got = 0, nchains = 0;
    pthread_mutex_lock(&depot->lock);
    size_t batches = 0;
    while (got < n && depot->batches != NULL) {
        ctp__task *b = depot->batches;
        depot->batches = (ctp__task *)b->arg;
        got += batch_count(b);
        b->arg = chains;
        chains = b;
        batches++;
    }
    atomic_fetch_sub_explicit(&depot->free_batches, batches, memory_order_relaxed); /* under lock */
    nchains = batches;
    if (got < n && depot->loose != NULL) {
        batch_head(depot->loose, depot->loose_count);
        depot->loose->arg = chains;
        chains = depot->loose;
        got += depot->loose_count;
        nchains++;
        depot->loose = NULL;
        depot->loose_count = 0;
    }
    depot->free_nodes -= got;
    pthread_mutex_unlock(&depot->lock);

    /* New slabs, made and cut into chains outside the lock: nobody else
     * knows them until they are linked in below. */
    ctp__slab *fresh = NULL, *fresh_last = NULL;
    size_t nfresh = 0;
    while (got < n) {
        ctp__slab *slab = ctp__node_alloc_aligned(depot->bind, depot->node, CTP__SLAB_ALIGN, sizeof *slab);
        if (slab == NULL)
            break;
        slab->depot = depot;
        slab->trim_count = 0;
        slab->next = fresh;
        fresh = slab;
        if (fresh_last == NULL)
            fresh_last = slab;
        nfresh++;
        nchains += slab_to_batches(slab, &chains);
        got += CTP__SLAB_TASKS;
    }
    if (fresh != NULL || got < n) {
        pthread_mutex_lock(&depot->lock);
        if (fresh != NULL) {
            fresh_last->next = depot->slabs;
            depot->slabs = fresh;
            atomic_fetch_add_explicit(&depot->slab_count, nfresh, memory_order_relaxed); /* under lock */
        }
        if (got < n) /* out of memory: everything goes back, free */
            depot_give_back_locked(depot, chains, nchains, got);
        pthread_mutex_unlock(&depot->lock);
        if (got < n)
            return CTP_ENOMEM;
    }
    run->node = NULL;
    run->chains = chains;
    run->count = got;
    return CTP_OK;
}

void ctp__task_run_return(ctp__task_run *run, ctp__task_depot *depot)
{
    if (run->count == 0)
        return;
    ctp__task *chains = run->chains;
    size_t nchains = 0;
    for (ctp__task *c = chains; c != NULL; c = (ctp__task *)c->arg)
        nchains++;
    if (run->node != NULL) { /* the rest of the chain being handed out */
        size_t k = 0;
        for (ctp__task *t = run->node; t != NULL; t = t->next)
            k++;
        batch_head(run->node, k);
        run->node->arg = chains;
        chains = run->node;
        nchains++;
    }
    pthread_mutex_lock(&depot->lock);
    depot_give_back_locked(depot, chains, nchains, run->count);
    pthread_mutex_unlock(&depot->lock);
    run->node = run->chains = NULL;
    run->count = 0;
}

/* Under the lock, every node of the depot's slabs home: keeps the first
 * slabs that hold keep_nodes, frees the rest without looking at a node. */
static size_t trim_all_home_locked(ctp__task_depot *depot, size_t keep_nodes, ctp__slab **doomed)
{
    size_t keep_slabs = (keep_nodes + CTP__SLAB_TASKS - 1) / CTP__SLAB_TASKS, freed = 0, kept = 0;
    ctp__slab **link = (ctp__slab **)&depot->slabs;
    while (*link != NULL && kept < keep_slabs) {
        kept++;
        link = &(*link)->next;
    }
    *doomed = *link;
    *link = NULL;
    for (ctp__slab *sl = *doomed; sl != NULL; sl = sl->next)
        freed++;
    /* The batches now: every node of the kept slabs, 64 to a batch. */
    depot->batches = NULL;
    size_t batches = 0;
    for (ctp__slab *sl = depot->slabs; sl != NULL; sl = sl->next)
        batches += slab_to_batches(sl, &depot->batches);
    atomic_store_explicit(&depot->free_batches, batches, memory_order_relaxed); /* under lock */
    depot->free_nodes = kept * CTP__SLAB_TASKS;
    atomic_store_explicit(&depot->slab_count, kept, memory_order_relaxed); /* under lock */
    return freed;
}

size_t ctp__depot_trim(ctp__task_depot *depot, size_t keep_nodes, bool sole_depot)
{
    /* Take every free batch under the lock, count without it (after a burst
     * of millions of tasks that is the long part: one pass, each node's slab
     * found by masking its address), and take the lock again only to free
     * the chosen slabs and give the other nodes back. Meanwhile other
     * threads find the depot empty and allocate a slab if they need one. A
     * slab is freed only if all of its nodes are in the batches taken here,
     * so no node of it is anywhere else. One trim per depot at a time. */
    pthread_mutex_lock(&depot->lock);
    if (depot->loose != NULL)
        loose_to_batch_locked(depot); /* a short one: the counts and the rebuild below see every free node */
    ctp__task *taken = depot->batches;
    size_t nbatches = atomic_load_explicit(&depot->free_batches, memory_order_relaxed);
    if (depot->trimming || depot->slabs == NULL || nbatches * CTP__BATCH < CTP__SLAB_TASKS + keep_nodes) {
        pthread_mutex_unlock(&depot->lock);
        return 0; /* not enough free to free a slab (a cheap upper bound) */
    }
    size_t nslabs = atomic_load_explicit(&depot->slab_count, memory_order_relaxed);
    if (sole_depot && depot->free_nodes == nslabs * CTP__SLAB_TASKS) {
        /* Every node is home (a pool with one depot gets each node back
         * here): free whole slabs, touching none of their nodes. */
        ctp__slab *doomed = NULL;
        size_t freed = trim_all_home_locked(depot, keep_nodes, &doomed);
        pthread_mutex_unlock(&depot->lock);
        free_slabs(doomed);
        return freed;
    }
    depot->trimming = true;
    depot->batches = NULL;
    atomic_store_explicit(&depot->free_batches, 0, memory_order_relaxed); /* under lock */
    depot->free_nodes = 0;
    /* Slabs are added at the head under the lock and removed only by the
     * trim: the chain from this head stays as it is while we walk it. */
    ctp__slab *head = depot->slabs;
    pthread_mutex_unlock(&depot->lock);

    for (ctp__slab *sl = head; sl != NULL; sl = sl->next)
        sl->trim_count = 0;
    size_t free_nodes = 0;
    for (ctp__task *b = taken; b != NULL; b = (ctp__task *)b->arg)
        for (ctp__task *t = b; t != NULL; t = t->next) {
            ctp__slab *sl = slab_of(t);
            if (sl->depot == depot) /* a node of another node's slab stays */
                sl->trim_count++;
            free_nodes++;
        }
    /* Choose fully free slabs while enough free nodes remain. */
    size_t remaining = free_nodes, freed = 0;
    for (ctp__slab *sl = head; sl != NULL; sl = sl->next) {
        if (sl->trim_count == CTP__SLAB_TASKS && remaining >= CTP__SLAB_TASKS + keep_nodes) {
            sl->trim_count = UINT32_MAX;
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
            ctp__slab *sl = slab_of(t);
            if (sl->depot == depot && sl->trim_count == UINT32_MAX)
                continue;
            if (cur != NULL && in_cur == CTP__BATCH) {
                batch_head(cur, in_cur);
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
        batch_head(cur, in_cur);
        cur->arg = keep;
        keep = cur;
        kept_batches++;
    }

    ctp__slab *doomed = NULL;
    pthread_mutex_lock(&depot->lock);
    for (ctp__slab **link = (ctp__slab **)&depot->slabs; *link != NULL;) {
        ctp__slab *sl = *link;
        if (sl->trim_count == UINT32_MAX) {
            *link = sl->next;
            sl->next = doomed;
            doomed = sl;
            atomic_fetch_sub_explicit(&depot->slab_count, 1, memory_order_relaxed); /* under lock */
        } else {
            link = &sl->next;
        }
    }
    depot_give_back_locked(depot, keep, kept_batches, free_nodes - freed * CTP__SLAB_TASKS);
    depot->trimming = false;
    pthread_mutex_unlock(&depot->lock);
    free_slabs(doomed);
    return freed;
}
