/* Chase-Lev work-stealing deque of task pointers.
 *
 * D. Chase, Y. Lev, "Dynamic Circular Work-Stealing Deque", SPAA 2005, with
 * the C11 memory orders of N. M. Le, A. Pop, A. Cohen, F. Zappa Nardelli,
 * "Correct and Efficient Work-Stealing for Weak Memory Models", PPoPP 2013.
 *
 * Only the owner calls push and pop (at the bottom); any thread calls steal
 * (at the top) and is_empty. The buffer grows by doubling; old buffers are
 * kept on a retired list until the deque is destroyed, because a thief may
 * still be reading one (the simple correct reclamation scheme).
 *
 * Invariant: top <= bottom + 1 at all times; the deque holds the tasks in
 * slots [top, bottom) of the current buffer. */
#ifndef CTP_DEQUE_H
#define CTP_DEQUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "task.h"

typedef struct ctp__deque_buf {
    struct ctp__deque_buf *retired_next; /* owner only: older buffers */
    int64_t mask;                        /* capacity - 1, capacity a power of two */
    _Atomic(ctp__task *) slots[];
} ctp__deque_buf;

typedef struct ctp__deque {
    _Alignas(64) _Atomic int64_t top; /* thieves and the owner's last-element pop CAS it */
    _Alignas(64) _Atomic int64_t bottom; /* written by the owner only */
    int64_t top_seen;                    /* owner only: top as last loaded (acquire,
                                            in ctp__deque_reserve); never above top,
                                            which only grows */
    _Atomic(ctp__deque_buf *) buf;       /* replaced by the owner only (grow) */
    int64_t trimmed_at;                  /* owner only: bottom when last trimmed, or -1 */
#ifdef CTP_TEST_HOOKS
    /* Test builds: called inside steal, between reading the slot and
     * claiming it, to widen that race window; NULL = none. */
    void (*test_hook)(void *ctx);
    void *test_hook_ctx;
#endif
} ctp__deque;

enum { CTP__DEQUE_INITIAL = 256 };

int ctp__deque_init(ctp__deque *d, int64_t capacity);
void ctp__deque_destroy(ctp__deque *d);

/* Owner only. Returns 0, or -1 if the buffer had to grow and could not. */
int ctp__deque_push(ctp__deque *d, ctp__task *task);

/* Owner only. Makes room for `extra` more pushes that cannot fail.
 * Returns 0, or -1 if out of memory (the deque is unchanged). */
int ctp__deque_reserve(ctp__deque *d, int64_t extra);

/* Owner only, when it goes idle: if the deque is empty, hands the pages of
 * its grown buffers (current and retired) back to the system, keeping the
 * mappings. Safe against thieves still reading a buffer they loaded earlier:
 * once the deque is empty every such thief's claim of `top` fails, whatever
 * it read from a slot (see deque.c), and reading a discarded page gives
 * zeros, not a fault. Costs nothing unless the deque grew and was used since
 * the last trim. */
void ctp__deque_trim(ctp__deque *d);
/* Owner only: has the deque grown, and been used since its last trim? */
bool ctp__deque_trimmable(ctp__deque *d);

/* Owner only. Newest task, or NULL if empty. */
ctp__task *ctp__deque_pop(ctp__deque *d);

/* What a steal found. */
typedef enum {
    CTP__STEAL_EMPTY = 0,   /* the deque was empty */
    CTP__STEAL_SUCCESS = 1, /* *out holds the oldest task, now ours */
    CTP__STEAL_RETRY = 2    /* lost a race for it (another thief, or the owner's
                               last pop): the deque may still hold tasks */
} ctp__steal_result;

/* Any thread. Takes the oldest task. */
ctp__steal_result ctp__deque_steal(ctp__deque *d, ctp__task **out);

/* Any thread. A hint: may be stale by the time the caller acts on it. After
 * a seq_cst fence it sees every push that came before the pusher's fence. */
static inline bool ctp__deque_is_empty(ctp__deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    return b <= t;
}

/* d's top right now, or -1 if d is empty (relaxed: a hint, any thread).
 * Top only grows, so the same value later means the same oldest task has
 * not left (taken by a steal or the owner's last pop). */
static inline int64_t ctp__deque_top_if_any(ctp__deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    return b > t ? t : -1;
}

/* Tasks in d right now (relaxed: a report for observers, any thread). */
static inline size_t ctp__deque_len(ctp__deque *d)
{
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    return b > t ? (size_t)(b - t) : 0;
}

#endif
