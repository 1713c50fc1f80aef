/* NUMA topology: where it comes from, how workers are placed on it, and
 * memory on a node. See numa.c for the alternatives considered. */
#ifndef CTP_NUMA_H
#define CTP_NUMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctp/ctp.h"

#define CTP__MAX_NODES 64
#define CTP__MAX_CPU_ID 4095

typedef struct ctp__topology {
    int nodes;
    /* The tables live on the heap, so the struct stays small on creators'
     * stacks (the runtime keeps every frame under 2 KB). cpu_first points
     * into distance's block: one free releases both. */
    int *cpu_first; /* nodes + 1 entries; node n's CPUs: cpus[cpu_first[n] .. cpu_first[n+1]) */
    int *cpus;
    unsigned char (*distance)[CTP__MAX_NODES]; /* [i][j] for i, j < nodes; 10 = local */
    bool from_libnuma; /* real nodes: memory can be bound to them */
} ctp__topology;

/* Parses the CTP_TOPOLOGY syntax ("0-7;8-15", optionally "|10,21;21,10").
 * On error returns CTP_EINVAL and writes a sentence naming the problem.
 * On any error nothing is left allocated in *out; on success free it with
 * ctp__topology_free. */
int ctp__topology_parse(const char *spec, ctp__topology *out, char *err, size_t errlen);

/* The machine's topology through libnuma, or one node of every online CPU
 * where libnuma is missing or says NUMA is unavailable. Any thread: ctp's
 * libnuma calls are serialised (see numa.c). CTP_ENOMEM leaves nothing
 * allocated. */
int ctp__topology_discover(ctp__topology *out);

void ctp__topology_free(ctp__topology *t);

/* The first `nodes` nodes ordered by distance from `node`: node itself
 * first, then nearest first, ties by node number. order has `nodes` slots. */
void ctp__topology_nearest(const ctp__topology *t, int nodes, int node, int *order);

/* Worker `index`'s steal order: its own node's other workers, then the other
 * nodes' workers in `order` (nearest first, from ctp__topology_nearest).
 * Node m's workers are [worker_first[m], worker_first[m+1]); each node's
 * list starts after `index`, so thieves of one node do not all hit the same
 * victim first. Writes the victims (at most the workers less one), sets
 * *nlocal to how many of them are on its own node, returns how many. */
uint32_t ctp__steal_order(int nnodes, const int *order, const uint32_t *worker_first, uint32_t index,
                          uint32_t *victims, uint32_t *nlocal);

/* The node of each CPU id: table[cpu] for cpu < *len, -1 where the topology
 * has no such CPU; nodes at or beyond `nodes` count as -1. NULL when out of
 * memory; free it with free(). */
signed char *ctp__topology_cpu_nodes(const ctp__topology *t, int nodes, int *len);

/* Splits `workers` over the nodes in proportion to their CPUs (largest
 * remainder); per_node[n] receives node n's share. */
void ctp__place_workers(const ctp__topology *t, unsigned workers, unsigned *per_node);

/* Memory on a node: libnuma's node-bound pages where the topology is real,
 * else plain cache-line-aligned memory. NULL when out of memory, and for
 * sizes above PTRDIFF_MAX (so rounding up to 64 bytes never wraps). */
void *ctp__node_alloc(bool bind, int node, size_t size);
void ctp__node_free(bool bind, void *ptr, size_t size);
/* Memory aligned to `align` (a power of two) on `node` (bound there when
 * bind); free it with free(). NULL when out of memory. */
void *ctp__node_alloc_aligned(bool bind, int node, size_t align, size_t size);

/* Pins the calling thread: to every CPU of node `node`, or to `cpu` if
 * cpu >= 0. CPU ids beyond the machine's wrap around (simulated topologies). */
void ctp__pin_thread(const ctp__topology *t, int node, int cpu);

#endif
