/* A latch: a count of unfinished tasks that reaches zero once, and the
 * threads waiting for it (a task group's completion). It knows nothing of
 * workers or the sleep protocol: a waiter either blocks here on a condition
 * variable of its own (ctp__latch_block), or subscribes a wake callback and
 * blocks elsewhere (a worker parks in the sleep protocol, which re-checks
 * ctp__latch_done under its own lock before it blocks).
 *
 * Ordering contract, in one place:
 *   - count up (ctp__latch_add): relaxed, before the counted task is
 *     published; the publish is the release that orders it.
 *   - count down (ctp__latch_count_down): a seq_cst RMW after the task ran.
 *     It releases the task's effects to any thread that then reads zero
 *     (ctp__latch_done is seq_cst, which includes acquire).
 *   - waiters: a waiter subscribes (waiters += 1, seq_cst) before it reads
 *     pending; the completer that takes pending to zero reads waiters
 *     (seq_cst) after. A Dekker pair: either the completer sees the waiter
 *     and calls its wake (under the latch lock, which orders it after the
 *     waiter joined the list), or the waiter sees zero and does not block.
 *   - the notification (ctp__latch_notify): one more subscriber, counted in
 *     `waiters` like the others, that runs once. Whoever holds the lock and
 *     reads zero (seq_cst, so it acquires every counted task's effects)
 *     takes it off the latch and runs it after unlocking: the completer
 *     that set the latch, the notifier's own re-check in the same Dekker
 *     pair, or ctp__latch_take_note. Taking it re-reads zero under the lock
 *     because a late completer of an earlier round may find a notification
 *     registered for the next one; so it fires at a moment the latch is set,
 *     exactly once, and nothing touches the latch after it was taken.
 *   - lifetime: a completer may read `waiters` and take the lock after the
 *     last waiter returned. The latch memory must stay valid (and its lock
 *     initialised) until no completer can still reach it; groups are
 *     type-stable for the pool's lifetime, and a late completer's wake on a
 *     reused latch is only a spurious wake (waiters re-check).
 *
 * Layer: above the platform (platform.h); used by the worker loop and the
 * groups. */
#ifndef CTP_LATCH_H
#define CTP_LATCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One waiter. `wake` runs on the completing thread, under the latch lock,
 * once the latch is set; it must not block for long and must not touch the
 * latch. The node lives on the waiter's stack while it is subscribed. */
typedef struct ctp__latch_waiter {
    void (*wake)(void *ctx);
    void *ctx;
    struct ctp__latch_waiter *next; /* under the latch lock */
} ctp__latch_waiter;

/* A one-shot notification: fn(ctx), or fn NULL for none. */
typedef struct ctp__latch_note {
    void (*fn)(void *ctx);
    void *ctx;
} ctp__latch_note;

typedef struct ctp__latch {
    _Atomic size_t pending;     /* not yet finished; the latch is set at 0 */
    _Atomic unsigned waiters;   /* subscribed waiters (entries in list), plus
                                   one while a notification is registered */
    pthread_mutex_t lock;       /* guards list and note */
    ctp__latch_waiter *list;
    ctp__latch_note note;       /* the registered notification, if fn != NULL */
} ctp__latch;

/* CTP_OK or CTP_ENOMEM. Initialised at zero (set) with no waiters and no
 * notification. */
int ctp__latch_init(ctp__latch *l);
/* No waiter subscribed and no completer still inside. */
void ctp__latch_destroy(ctp__latch *l);

/* Counts n tasks up (before they are published). */
static inline void ctp__latch_add(ctp__latch *l, size_t n)
{
    /* Relaxed: the publish of the counted task orders it (see above). */
    atomic_fetch_add_explicit(&l->pending, n, memory_order_relaxed);
}

/* The latch is set: every counted task finished, and their effects are
 * visible to the caller. */
static inline bool ctp__latch_done(ctp__latch *l)
{
    /* Seq_cst: pairs with the completer's decrement in ctp__latch_count_down
     * and is the waiter's read in the Dekker pair with `waiters`. */
    return atomic_load_explicit(&l->pending, memory_order_seq_cst) == 0;
}

/* Someone waits or is subscribed (a heuristic for callers deciding whether
 * the latch may be reused; exact when no waiter is running). */
static inline bool ctp__latch_has_waiters(ctp__latch *l)
{
    /* Acquire: pairs with the release in ctp__latch_unsubscribe. */
    return atomic_load_explicit(&l->waiters, memory_order_acquire) != 0;
}

/* Counts one task down, after it ran; the last one wakes every waiter and
 * then (after releasing the lock) runs the notification, if one is
 * registered and the latch is still set when it looks. */
void ctp__latch_count_down(ctp__latch *l);

/* Runs fn(ctx) once, as soon as the latch is set: at once on the caller if
 * it is set now, else on the thread of the count-down that sets it (or of
 * ctp__latch_take_note). CTP_OK, or CTP_EINVAL if a notification is already
 * registered (and the latch is not set). fn must not block or take l->lock
 * (it runs after the lock was released, but may share a thread with a
 * completer). */
int ctp__latch_notify(ctp__latch *l, void (*fn)(void *ctx), void *ctx);

/* If the latch is set and a notification is registered, takes it off the
 * latch and returns it for the caller to run; else returns { NULL, NULL }.
 * (Destroying a group runs a notification a completer has not reached yet.) */
ctp__latch_note ctp__latch_take_note(ctp__latch *l);

/* Subscribes w (its wake and ctx set by the caller): from now until
 * ctp__latch_unsubscribe, the count-down that sets the latch calls
 * w->wake(w->ctx). Check ctp__latch_done after subscribing, before blocking. */
void ctp__latch_subscribe(ctp__latch *l, ctp__latch_waiter *w);
void ctp__latch_unsubscribe(ctp__latch *l, ctp__latch_waiter *w);

/* Blocks the caller until the latch is set or the monotonic deadline_ns
 * (CTP_WAIT_FOREVER: no deadline) passes; may return early (spuriously):
 * callers loop on ctp__latch_done. registered(ctx), if not NULL, runs after
 * the caller subscribed and before its re-check (a test hook). */
void ctp__latch_block(ctp__latch *l, uint64_t deadline_ns, void (*registered)(void *ctx), void *ctx);

#endif
