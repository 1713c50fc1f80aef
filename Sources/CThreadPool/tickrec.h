/* What a tick scope (tick.c, ctp_tick_begin) records while its tasks run:
 * one slot per worker, written only by that worker, and one shared slot for
 * threads outside the pool (under its mutex). The worker loop writes them
 * (scheduler.c, for tasks whose group carries a record); ctp_tick_end reads
 * them after the tick's group completed (the latch's count-down, seq_cst,
 * orders every slot write before the waiter's read). No allocation per task.
 *
 * Layer: data, with the worker (pool.h). */
#ifndef CTP_TICKREC_H
#define CTP_TICKREC_H

#include <pthread.h>
#include <stdint.h>

/* Submit-to-start histogram: 8 sub-buckets per power of two of nanoseconds. */
enum { CTP__HIST_SUB = 8, CTP__HIST_BUCKETS = 64 * CTP__HIST_SUB };

typedef struct ctp__tick_slot {
    unsigned depth;          /* tick tasks running nested on this thread */
    uint64_t outer_start;    /* start of the outermost of them */
    uint64_t busy_ns;        /* time in outermost tick tasks */
    uint64_t task_ns;        /* every tick task's own run time (nested ones too) */
    uint64_t first_start;    /* first tick task start here; 0 = none */
    uint64_t tasks;
    uint64_t started_late, finished_late; /* past the budget */
    uint64_t longest_ns;
    uintptr_t longest_fn, longest_label;
    uint64_t wait_max;
    uint32_t hist[CTP__HIST_BUCKETS];
} ctp__tick_slot;

typedef struct ctp__tickrec {
    uint64_t begin_ns;
    uint64_t deadline_ns;    /* begin + budget; UINT64_MAX without one */
    uint32_t nslots;         /* workers + 1: the last is the outside threads' */
    pthread_mutex_t outside_lock;
    ctp__tick_slot *slots;
} ctp__tickrec;

/* The histogram bucket of a duration. */
static inline unsigned ctp__hist_bucket(uint64_t ns)
{
    if (ns < CTP__HIST_SUB)
        return (unsigned)ns;
    unsigned lg = 63u - (unsigned)__builtin_clzll(ns); /* >= 3 */
    unsigned sub = (unsigned)(ns >> (lg - 3)) & (CTP__HIST_SUB - 1);
    return (lg - 2) * CTP__HIST_SUB + sub;
}

/* The largest duration in bucket b (what a percentile reports). */
static inline uint64_t ctp__hist_upper(unsigned b)
{
    if (b < CTP__HIST_SUB)
        return b;
    unsigned lg = b / CTP__HIST_SUB + 2, sub = b % CTP__HIST_SUB;
    return (((uint64_t)(CTP__HIST_SUB + sub + 1)) << (lg - 3)) - 1;
}

#endif
