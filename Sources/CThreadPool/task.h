/* Task nodes and their allocator.
 *
 * A task node carries one submitted task from its submission to its run.
 * Nodes are never freed one by one: they come from slabs owned by the pool's
 * depot and travel between caches (magazine allocator):
 *   - every worker has a cache that only it touches (no atomics);
 *   - outside submitters share one cache guarded by the injector's lock;
 *   - caches that grow past CTP__CACHE_HIGH hand a batch back to the depot,
 *     caches that run dry take a batch from it (depot mutex, once per batch);
 *   - the depot allocates a new slab only when it has no free batch, so in
 *     steady state no submission calls malloc.
 * Slabs whose nodes are all free in the depot are returned to the system by
 * ctp__depot_trim (ctp_pool_trim, and automatically when the pool goes idle
 * holding much more than it needs); the rest are freed with the pool. */
#ifndef CTP_TASK_H
#define CTP_TASK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctp/ctp.h"

typedef struct ctp__task {
    ctp_task_fn fn;
    void *arg;
    ctp_task_fn on_cancel;
    struct ctp_group *group;
    struct ctp__task *next; /* intrusive link: free lists, injector lists */
    uint8_t priority;
    uint8_t holds_capacity; /* counted in pool->ext_queued until it starts */
    uint8_t has_payload;    /* arg points at payload; free the node after the run */
    int16_t node;
    const char *label;      /* ctp_task_desc.label */
    uint64_t submit_ns;     /* when submitted, while a tick records (else 0) */
    /* ctp_submit_inline's copy of the caller's payload. */
    _Alignas(16) unsigned char payload[CTP_INLINE_CAPACITY];
} ctp__task;

enum { CTP__BATCH = 64, CTP__CACHE_HIGH = 2 * CTP__BATCH, CTP__SLAB_TASKS = 448 };

/* A cache of free nodes. Owned by one thread, or guarded by one lock. */
typedef struct ctp__task_cache {
    ctp__task *head;
    size_t count;
} ctp__task_cache;

/* A free batch in the depot: the first node's `next` chain holds the batch,
 * batches are linked through this header stored in the first node's arg,
 * and the first node's submit_ns holds the batch's node count (a free node
 * carries no submission; every allocation's fill sets submit_ns again). */
typedef struct ctp__task_depot {
    pthread_mutex_t lock;
    bool bind; /* slabs bound to `node` with libnuma */
    int node;
    ctp__task *batches;  /* under lock: list of batch heads, linked via ->arg */
    /* Under lock: nodes handed back one at a time by threads of other
     * nodes (ctp__task_free_home), linked via ->next; CTP__BATCH of them
     * become a batch. Counted in free_nodes. */
    ctp__task *loose;
    size_t loose_count;
    _Atomic size_t free_batches; /* changed under lock; read relaxed as a hint */
    size_t free_nodes;           /* under lock: nodes in the free batches, exactly */
    void *slabs;         /* under lock: allocated slabs, for freeing */
    _Atomic size_t slab_count;   /* changed under lock; read relaxed for statistics */
    bool trimming;       /* under lock: a ctp__depot_trim is running */
} ctp__task_depot;

int ctp__depot_init(ctp__task_depot *depot, bool bind, int node);
void ctp__depot_destroy(ctp__task_depot *depot);

/* Takes one node from cache, refilling it from depot; NULL if out of memory. */
ctp__task *ctp__task_alloc(ctp__task_cache *cache, ctp__task_depot *depot);

/* Returns a node to cache, spilling a batch to depot when the cache is large.
 * A node of another depot's slab goes straight back to that depot
 * (ctp__task_free_home) instead, so caches and depots only ever hold their
 * own nodes: otherwise, in a pool with several nodes, nodes drift towards
 * the depots of the threads that run other nodes' tasks, the depots they
 * leave allocate new slabs, and the pool's task memory grows without bound
 * (it did: 1.6 MB per 50,000 tasks on simulated "0;1"). */
void ctp__task_free(ctp__task_cache *cache, ctp__task_depot *depot, ctp__task *task);

/* Returns one node to the depot that owns its slab (its lock, once). For
 * threads without a cache of their own (outside helpers) and for nodes of
 * another depot. */
void ctp__task_free_home(ctp__task *task);

/* Returns every node of cache to depot (cache becomes empty). */
void ctp__task_cache_flush(ctp__task_cache *cache, ctp__task_depot *depot);

/* Free nodes taken out of a depot in one go for one submission, so that a
 * batch published in several steps cannot run out of memory halfway. Chains
 * of at most CTP__BATCH nodes (NULL-terminated through ->next); the first
 * node of each unstarted chain holds its count (as a depot batch does) and
 * the next chain in ->arg. Owned by the thread that took it; none of its
 * nodes is in the depot, so no trim frees their slabs. */
typedef struct ctp__task_run {
    ctp__task *node;   /* the next node of the chain being handed out */
    ctp__task *chains; /* chains not started yet */
    size_t count;      /* nodes left in all */
} ctp__task_run;

/* Takes at least n nodes from depot into run (its batches, its loose nodes,
 * then new slabs), all or none: CTP_OK, or CTP_ENOMEM with the depot as it
 * was (any new slab stays in it, free). Any thread. */
int ctp__depot_take(ctp__task_depot *depot, size_t n, ctp__task_run *run);

/* The next node of run; the caller takes no more than it asked for. */
static inline ctp__task *ctp__task_run_next(ctp__task_run *run)
{
    if (run->node == NULL) {
        run->node = run->chains;
        run->chains = (ctp__task *)run->node->arg;
    }
    ctp__task *t = run->node;
    run->node = t->next;
    run->count--;
    return t;
}

/* Gives run's unused nodes back to depot, the one they came from. */
void ctp__task_run_return(ctp__task_run *run, ctp__task_depot *depot);

/* Frees the depot's slabs whose every node is free in the depot, keeping at
 * least keep_nodes free nodes. sole_depot: the pool has this one depot, so
 * every node it lent out comes back to it (then, when all its nodes are
 * home, it frees whole slabs without looking at a node). Any thread; safe
 * while the pool runs. Returns the number of slabs freed. */
size_t ctp__depot_trim(ctp__task_depot *depot, size_t keep_nodes, bool sole_depot);
/* Free nodes held by the depot (relaxed, a hint) and bytes of its slabs. */
size_t ctp__depot_free_nodes(ctp__task_depot *depot);
size_t ctp__depot_bytes(ctp__task_depot *depot);

#endif
