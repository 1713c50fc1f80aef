/* What one worker is doing right now, for ctp_pool_snapshot and the stall
 * monitor: the task it runs (function, argument, label, a serial number that
 * tells one run from the next, its start time when the pool times tasks).
 *
 * Written by the owning worker only, as a seqlock: seq is odd while a write
 * is under way. Readers (any thread) retry until they read the same even seq
 * before and after; they never block the worker, and a reader that keeps
 * losing the race gives up after a few tries and reports the last copy.
 * Nested runs (a helping wait inside a task runs another task) save the
 * outer record and restore it afterwards.
 *
 * Layer: data, with the worker (pool.h). */
#ifndef CTP_LIVE_H
#define CTP_LIVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct ctp__live_view {
    uintptr_t fn, arg, label;
    uint64_t start_ns; /* 0: not timed */
    uint64_t serial;   /* runs started by this worker, this one included */
    bool running;
} ctp__live_view;

typedef struct ctp__live {
    _Atomic uint32_t seq;
    _Atomic uintptr_t fn, arg, label;
    _Atomic uint64_t start_ns;
    _Atomic uint64_t serial;
    _Atomic bool running;
} ctp__live;

/* Owner only. */
static inline void ctp__live_write(ctp__live *l, const ctp__live_view *v)
{
    uint32_t s = atomic_load_explicit(&l->seq, memory_order_relaxed);
    atomic_store_explicit(&l->seq, s + 1, memory_order_relaxed);
    /* Release fence: the odd seq is visible before any field below; pairs
     * with the acquire fence in ctp__live_read. */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&l->fn, v->fn, memory_order_relaxed);
    atomic_store_explicit(&l->arg, v->arg, memory_order_relaxed);
    atomic_store_explicit(&l->label, v->label, memory_order_relaxed);
    atomic_store_explicit(&l->start_ns, v->start_ns, memory_order_relaxed);
    atomic_store_explicit(&l->serial, v->serial, memory_order_relaxed);
    atomic_store_explicit(&l->running, v->running, memory_order_relaxed);
    /* Release: the fields before the even seq; pairs with the reader's
     * acquire load of seq. */
    atomic_store_explicit(&l->seq, s + 2, memory_order_release);
}

/* Owner only: the run ended (nothing else changes). */
static inline void ctp__live_end(ctp__live *l)
{
    uint32_t s = atomic_load_explicit(&l->seq, memory_order_relaxed);
    atomic_store_explicit(&l->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release); /* as in ctp__live_write */
    atomic_store_explicit(&l->running, false, memory_order_relaxed);
    atomic_store_explicit(&l->seq, s + 2, memory_order_release); /* as in ctp__live_write */
}

/* Owner only: its own last write (no race with itself). */
static inline void ctp__live_own(ctp__live *l, ctp__live_view *v)
{
    v->fn = atomic_load_explicit(&l->fn, memory_order_relaxed);
    v->arg = atomic_load_explicit(&l->arg, memory_order_relaxed);
    v->label = atomic_load_explicit(&l->label, memory_order_relaxed);
    v->start_ns = atomic_load_explicit(&l->start_ns, memory_order_relaxed);
    v->serial = atomic_load_explicit(&l->serial, memory_order_relaxed);
    v->running = atomic_load_explicit(&l->running, memory_order_relaxed);
}

/* Any thread: a consistent copy (true), or after 64 lost races the last
 * copy read (false). Never blocks the writer. */
static inline bool ctp__live_read(ctp__live *l, ctp__live_view *v)
{
    for (int tries = 0; tries < 64; tries++) {
        /* Acquire: pairs with the writer's release store of the even seq. */
        uint32_t s1 = atomic_load_explicit(&l->seq, memory_order_acquire);
        ctp__live_own(l, v);
        /* Acquire fence: the field loads happen before the second seq load;
         * pairs with the writer's release fence after its odd seq. */
        atomic_thread_fence(memory_order_acquire);
        uint32_t s2 = atomic_load_explicit(&l->seq, memory_order_relaxed);
        if (s1 == s2 && (s1 & 1u) == 0)
            return true;
    }
    return false;
}

#endif
