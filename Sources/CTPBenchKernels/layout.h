/* A ctp pool on a NUMA layout, for the kernels that compare NUMA auto with
 * off on the same layout (micro.c's zones, node_barrier.c). Private to the
 * kernels. */
#ifndef CTPB_LAYOUT_H
#define CTPB_LAYOUT_H

#include <ctp/ctp.h>

#include <stddef.h>

/* Creates a pool of `workers` on `topology` (CTP_TOPOLOGY syntax; NULL: the
 * machine's), NUMA auto or off (numa_off), and sets *layout_nodes to the
 * layout's node count whether the pool uses the nodes or not (the
 * topology's, or the pool's for the machine's), so that work is spread over
 * the same nodes either way. Returns a ctp error code. */
int ctpb__layout_pool(const char *topology, int numa_off, size_t workers, ctp_pool **pool, int *layout_nodes);

#endif
