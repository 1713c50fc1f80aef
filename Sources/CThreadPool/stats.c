/* Statistics and node queries: snapshots of the owner-written counters
 * (relaxed reads: each counter is exact, the set is not one instant). */
#include "pool.h"

#include <string.h>

int ctp_pool_stats(ctp_pool *pool, ctp_stats *out)
{
    if (pool == NULL || out == NULL || ctp__forked(pool))
        return CTP_EINVAL;
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < pool->nworkers; i++) {
        ctp__worker *w = pool->workers[i];
        out->submitted += atomic_load_explicit(&w->submitted, memory_order_relaxed);
        out->executed += atomic_load_explicit(&w->executed, memory_order_relaxed);
        out->cancelled += atomic_load_explicit(&w->cancelled, memory_order_relaxed);
        out->steals += atomic_load_explicit(&w->steals, memory_order_relaxed);
        out->injected += atomic_load_explicit(&w->injected, memory_order_relaxed);
        out->parks += atomic_load_explicit(&w->sleep_counters.parks, memory_order_relaxed);
        out->wakeups += atomic_load_explicit(&w->sleep_counters.wakeups, memory_order_relaxed);
        out->backoff_timeouts += atomic_load_explicit(&w->sleep_counters.backoff_timeouts, memory_order_relaxed);
        for (int p = 0; p < CTP_PRIORITY_COUNT; p++)
            out->executed_by_priority[p] +=
                atomic_load_explicit(&w->executed_by_priority[p], memory_order_relaxed);
    }
    out->submitted += atomic_load_explicit(&pool->ext_submitted, memory_order_relaxed);
    out->executed += atomic_load_explicit(&pool->helper_executed, memory_order_relaxed);
    for (int p = 0; p < CTP_PRIORITY_COUNT; p++)
        out->executed_by_priority[p] += atomic_load_explicit(&pool->helper_by_priority[p], memory_order_relaxed);
    out->cancelled += atomic_load_explicit(&pool->helper_cancelled, memory_order_relaxed);
    out->rejected = atomic_load_explicit(&pool->rejected, memory_order_relaxed);
    out->queued = atomic_load_explicit(&pool->ext_queued, memory_order_relaxed);
    out->workers = pool->nworkers;
    out->parked = ctp__sleep_parked(&pool->sleep);
    out->workers_lost = atomic_load_explicit(&pool->workers_lost, memory_order_relaxed);
    for (int n = 0; n < pool->nnodes; n++)
        out->task_memory_bytes += ctp__depot_bytes(&pool->depots[n]);
    return CTP_OK;
}

int ctp_pool_node_count(ctp_pool *pool)
{
    return pool == NULL || ctp__forked(pool) ? CTP_EINVAL : pool->nnodes;
}

int ctp_pool_topology_node_count(ctp_pool *pool)
{
    return pool == NULL || ctp__forked(pool) ? CTP_EINVAL : pool->topo.nodes;
}

int ctp_worker_node(ctp_pool *pool, int worker)
{
    if (pool == NULL || ctp__forked(pool) || worker < 0 || (uint32_t)worker >= pool->nworkers)
        return CTP_EINVAL;
    return pool->workers[worker]->node;
}

void *ctp_alloc_on_node(ctp_pool *pool, int node, size_t size)
{
    /* Any node of the topology (nnodes is 1 under CTP_NUMA_OFF, which takes
     * the topology's nodes and ignores them, as submissions do). */
    if (pool == NULL || ctp__forked(pool) || node < 0 || node >= pool->topo.nodes || size == 0)
        return NULL;
    return ctp__node_alloc(pool->bind_memory, node, size);
}

void ctp_free_on_node(ctp_pool *pool, void *ptr, size_t size)
{
    if (pool == NULL || ptr == NULL)
        return;
    ctp__node_free(pool->bind_memory, ptr, size);
}

int ctp_pool_node_stats(ctp_pool *pool, int node, ctp_node_stats *out)
{
    if (pool == NULL || out == NULL || ctp__forked(pool) || node < 0 || node >= pool->nnodes)
        return CTP_EINVAL;
    memset(out, 0, sizeof *out);
    for (uint32_t i = pool->worker_first[node]; i < pool->worker_first[node + 1]; i++) {
        ctp__worker *w = pool->workers[i];
        out->workers++;
        out->executed += atomic_load_explicit(&w->executed, memory_order_relaxed);
        out->taken_remote += atomic_load_explicit(&w->taken_remote, memory_order_relaxed);
        uint64_t remote = atomic_load_explicit(&w->steals_remote, memory_order_relaxed);
        uint64_t all = atomic_load_explicit(&w->steals, memory_order_relaxed);
        out->steals_remote += remote;
        /* Two relaxed reads: a CPU that reorders them may show the remote
         * count ahead of the total; never a wrapped-around local count. */
        out->steals_local += all > remote ? all - remote : 0;
        out->affine_executed += atomic_load_explicit(&w->affine_executed, memory_order_relaxed);
        out->affine_home += atomic_load_explicit(&w->affine_home, memory_order_relaxed);
    }
    return CTP_OK;
}
