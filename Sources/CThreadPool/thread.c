/* The per-thread context (pool.h, ctp__tls): which pool the calling thread
 * works for, as a worker or as an outside thread running one of its tasks;
 * and the public calls that read it. */
#include "pool.h"

static _Thread_local ctp__tls tls_slot;

ctp__tls *ctp__tls_get(void)
{
    return &tls_slot;
}

int ctp_worker_index(void)
{
    ctp__tls *tls = ctp__tls_get();
    return tls->worker != NULL ? (int)tls->worker->index : -1;
}

int ctp_current_node(void)
{
    ctp__tls *tls = ctp__tls_get();
    return tls->worker != NULL ? tls->worker->node : -1;
}

