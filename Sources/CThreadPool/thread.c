/* The per-thread context (pool.h, ctp__tls): which pool the calling thread
 * works for, as a worker or as an outside thread running one of its tasks;
 * and the public calls that read it. */
#include "pool.h"

#include <string.h>

static _Thread_local ctp__tls tls_slot;

/* A child of fork() starts with a copy of the forking thread's context:
 * which pool it worked for (it may have forked inside a task), the pinned
 * queue it owned. None of that is the child's: its pools are the
 * parent's, which refuse every call there. The child's only thread is
 * the forking one, and this handler runs on it before the child's code. */
static void tls_in_child(void)
{
    memset(&tls_slot, 0, sizeof tls_slot);
}

static pthread_once_t tls_fork_once = PTHREAD_ONCE_INIT; /* process-wide: see docs/scheduler.md */

static void tls_register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, tls_in_child);
}

void ctp__tls_watch_fork(void)
{
    pthread_once(&tls_fork_once, tls_register_fork_handler);
}

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

