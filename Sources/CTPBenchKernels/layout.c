/* See layout.h. */
#include "layout.h"

int ctpb__layout_pool(const char *topology, int numa_off, size_t workers, ctp_pool **pool, int *layout_nodes)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = workers;
    c.topology = topology;
    c.numa_mode = numa_off ? CTP_NUMA_OFF : CTP_NUMA_AUTO;
    int rc = ctp_pool_create(&c, pool);
    if (rc != CTP_OK)
        return rc;
    if (topology == NULL) {
        *layout_nodes = ctp_pool_node_count(*pool);
        return CTP_OK;
    }
    int nodes = 1;
    for (const char *p = topology; *p && *p != '|'; p++)
        nodes += *p == ';';
    *layout_nodes = nodes;
    return CTP_OK;
}
