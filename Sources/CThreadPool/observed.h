/* The observed half of a task run (scheduler.c's ctp__run_task): what a
 * running trace, the stall monitor's timing and a recording tick each need
 * at a task's start and end. Reached through one predictable branch per task
 * (ctp_pool.observe); nothing here runs when nothing is observed.
 *
 * Layer: worker loop. */
#ifndef CTP_OBSERVED_H
#define CTP_OBSERVED_H

#include "pool.h"

/* What a run needs to know of its task: read before the node is recycled. */
typedef struct run_info {
    ctp_task_fn fn;
    const char *label;
    struct ctp_group *group;
    uint64_t submit_ns;
    int priority, node;
    bool cancelled; /* on_cancel runs instead of fn: not a tick task that ran */
} run_info;

/* An observed run (a trace runs, the pool times its tasks, or a tick
 * records): what its begin saw, for its end. */
typedef struct observed {
    uint64_t start;
    ctp__tickrec *tick; /* the task's tick, if it records */
    ctp__tick_slot *slot;
} observed;

/* Appends e to the running trace, if one runs: to worker `worker`'s ring,
 * or to the shared ring for threads outside the pool (worker < 0). A zero
 * e->ts_ns is stamped now (so no clock is read without a trace). */
void ctp__trace_record(ctp_pool *pool, int worker, ctp__event *e);

/* The run starts: its start time in o->start, tick slot and trace events. */
void ctp__observe_begin(ctp_pool *pool, ctp__worker *w, unsigned observe, const run_info *t, uint64_t serial,
                        observed *o);
/* The run ended. */
void ctp__observe_end(ctp_pool *pool, ctp__worker *w, unsigned observe, ctp_task_fn fn, const char *label,
                      const observed *o);

#endif
