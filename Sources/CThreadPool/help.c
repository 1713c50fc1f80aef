/* ctp_pool_help: any thread runs one queued task of the pool. */
#include "pinned.h"

int ctp_pool_help(ctp_pool *pool)
{
    if (pool == NULL || ctp__forked(pool))
        return CTP_EINVAL;
    ctp__worker *w = ctp__current_worker(pool);
    if (w != NULL) {
        ctp__task *t = ctp__find_task(w, ctp__stack_allows_steal(w));
        if (t == NULL)
            return 0;
        ctp__run_task(pool, w, t);
        return 1;
    }
    if (ctp__tls_get()->runs_no_tasks)
        return 0; /* a monitor thread (pool.h) */
    ctp_pinned *pinned = ctp__my_pinned(pool);
    ctp__task *t;
    if (pinned != NULL && (t = ctp__pinned_take(pinned)) != NULL) { /* the owner's pinned tasks first */
        pinned->busy++; /* a notification at its end must not destroy the queue under the take above */
        ctp__run_outside(pool, t);
        pinned->busy--;
        return 1;
    }
    if (ctp__tls_get()->task_depth >= CTP__OUTSIDE_HELP_DEPTH)
        return 0;
    t = ctp__find_task_outside(pool);
    if (t == NULL)
        return 0;
    ctp__run_outside(pool, t);
    return 1;
}
