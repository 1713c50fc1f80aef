/* What one worker is doing right now, for ctp_pool_snapshot and the stall
 * monitor: a stack of the runs in progress (a helping wait inside a task
 * runs other tasks nested on the same thread), each frame holding the
 * task's function, argument, label, a serial number that tells one run from
 * the next, and its start time when the pool times tasks.
 *
 * Written by the owning worker only. Starting a run fills frame[depth] as a
 * seqlock (seq odd while writing) and then publishes depth + 1 (release);
 * ending it publishes depth - 1. Readers (any thread) read depth (acquire),
 * the top frame under its seqlock, and depth again; they retry on a change,
 * never block the writer, and after 64 lost races report the last copy.
 * Per run that is about ten plain stores on the worker's own cache lines
 * and one load.
 *
 * Layer: data, with the worker (pool.h). */
#ifndef CTP_LIVE_H
#define CTP_LIVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define CTP__LIVE_FRAMES 16 /* deeper runs show as the 16th */

typedef struct ctp__live_view {
    uintptr_t fn, arg, label;
    uint64_t start_ns; /* 0: not timed */
    uint64_t serial;   /* runs started by this worker, this one included */
    bool running;
} ctp__live_view;

typedef struct ctp__live_frame {
    _Atomic uint32_t seq;
    _Atomic uintptr_t fn, arg, label;
    _Atomic uint64_t start_ns;
    _Atomic uint64_t serial;
} ctp__live_frame;

typedef struct ctp__live {
    _Atomic uint32_t depth;   /* runs in progress */
    _Atomic uint64_t started; /* runs started (the last serial); relaxed */
    ctp__live_frame frames[CTP__LIVE_FRAMES];
} ctp__live;

/* Owner only: a run starts at nesting depth `depth` (0 = outermost). */
static inline void ctp__live_begin(ctp__live *l, uint32_t depth, uintptr_t fn, uintptr_t arg, uintptr_t label,
                                   uint64_t start_ns, uint64_t serial)
{
    if (depth < CTP__LIVE_FRAMES) {
        ctp__live_frame *f = &l->frames[depth];
        uint32_t s = atomic_load_explicit(&f->seq, memory_order_relaxed);
        atomic_store_explicit(&f->seq, s + 1, memory_order_relaxed);
        /* Release fence: the odd seq is visible before any field below;
         * pairs with the acquire fence in ctp__live_read. */
        atomic_thread_fence(memory_order_release);
        atomic_store_explicit(&f->fn, fn, memory_order_relaxed);
        atomic_store_explicit(&f->arg, arg, memory_order_relaxed);
        atomic_store_explicit(&f->label, label, memory_order_relaxed);
        atomic_store_explicit(&f->start_ns, start_ns, memory_order_relaxed);
        atomic_store_explicit(&f->serial, serial, memory_order_relaxed);
        /* Release: the fields before the even seq; pairs with the reader's
         * acquire load of seq. */
        atomic_store_explicit(&f->seq, s + 2, memory_order_release);
    }
    atomic_store_explicit(&l->started, serial, memory_order_relaxed); /* relaxed: a progress count */
    /* Release: the frame before the depth that shows it; pairs with the
     * reader's acquire load of depth. */
    atomic_store_explicit(&l->depth, depth + 1, memory_order_release);
}

/* Owner only: the run at depth `depth` ended. */
static inline void ctp__live_end(ctp__live *l, uint32_t depth)
{
    /* Release: as in ctp__live_begin (readers see the outer frame again). */
    atomic_store_explicit(&l->depth, depth, memory_order_release);
}

/* Runs started so far (relaxed: a count the monitor compares over time). */
static inline uint64_t ctp__live_serial(ctp__live *l)
{
    return atomic_load_explicit(&l->started, memory_order_relaxed);
}

/* Any thread: whether a run is in progress (its frame published). */
static inline bool ctp__live_running(ctp__live *l)
{
    /* Acquire: pairs with the release stores of depth in begin and end. */
    return atomic_load_explicit(&l->depth, memory_order_acquire) != 0;
}

/* Any thread: the innermost run in progress, consistent (true), or after 64
 * lost races the last copy read (false). Never blocks the writer. */
static inline bool ctp__live_read(ctp__live *l, ctp__live_view *v)
{
    for (int tries = 0; tries < 64; tries++) {
        /* Acquire: pairs with the writer's release store of depth. */
        uint32_t d = atomic_load_explicit(&l->depth, memory_order_acquire);
        v->running = d > 0;
        if (d == 0) {
            v->fn = v->arg = v->label = 0;
            v->start_ns = v->serial = 0;
            return true;
        }
        ctp__live_frame *f = &l->frames[(d < CTP__LIVE_FRAMES ? d : CTP__LIVE_FRAMES) - 1];
        /* Acquire: pairs with the writer's release store of the even seq. */
        uint32_t s1 = atomic_load_explicit(&f->seq, memory_order_acquire);
        v->fn = atomic_load_explicit(&f->fn, memory_order_relaxed);
        v->arg = atomic_load_explicit(&f->arg, memory_order_relaxed);
        v->label = atomic_load_explicit(&f->label, memory_order_relaxed);
        v->start_ns = atomic_load_explicit(&f->start_ns, memory_order_relaxed);
        v->serial = atomic_load_explicit(&f->serial, memory_order_relaxed);
        /* Acquire fence: the loads above happen before the re-reads below;
         * pairs with the writer's release fence after its odd seq. */
        atomic_thread_fence(memory_order_acquire);
        uint32_t s2 = atomic_load_explicit(&f->seq, memory_order_relaxed);
        uint32_t d2 = atomic_load_explicit(&l->depth, memory_order_relaxed);
        if (s1 == s2 && (s1 & 1u) == 0 && d == d2)
            return true;
    }
    return false;
}

#endif
