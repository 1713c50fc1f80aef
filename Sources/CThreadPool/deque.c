/* Chase-Lev deque; see deque.h for the papers and the ownership rules.
 * push, pop and steal carry the same step comments so they read side by side. */
#include "deque.h"

#include "platform.h"

#include <stdlib.h>

static ctp__deque_buf *buf_new(int64_t capacity)
{
    ctp__deque_buf *b = ctp__malloc(sizeof *b + (size_t)capacity * sizeof(_Atomic(ctp__task *)));
    if (b == NULL)
        return NULL;
    b->retired_next = NULL;
    b->mask = capacity - 1;
    for (int64_t i = 0; i < capacity; i++)
        atomic_init(&b->slots[i], NULL);
    return b;
}

int ctp__deque_init(ctp__deque *d, int64_t capacity)
{
    ctp__deque_buf *b = buf_new(capacity);
    if (b == NULL)
        return -1;
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    d->top_seen = 0;
    atomic_init(&d->buf, b);
    d->trimmed_at = -1;
#ifdef CTP_TEST_HOOKS
    d->test_hook = NULL;
    d->test_hook_ctx = NULL;
#endif
    return 0;
}

void ctp__deque_destroy(ctp__deque *d)
{
    ctp__deque_buf *b = atomic_load_explicit(&d->buf, memory_order_relaxed);
    while (b != NULL) {
        ctp__deque_buf *older = b->retired_next;
        free(b);
        b = older;
    }
    atomic_store_explicit(&d->buf, NULL, memory_order_relaxed);
}

/* Owner only: doubles the buffer, copying the live slots [t, b). */
static ctp__deque_buf *grow(ctp__deque *d, ctp__deque_buf *old, int64_t t, int64_t b)
{
    ctp__deque_buf *nb = buf_new((old->mask + 1) * 2);
    if (nb == NULL)
        return NULL;
    for (int64_t i = t; i < b; i++) {
        ctp__task *x = atomic_load_explicit(&old->slots[i & old->mask], memory_order_relaxed);
        atomic_store_explicit(&nb->slots[i & nb->mask], x, memory_order_relaxed);
    }
    nb->retired_next = old; /* old stays readable for thieves until destroy */
    /* Release: pairs with the acquire load of buf in steal, so a thief that
     * sees the new buffer sees the copied slots. */
    atomic_store_explicit(&d->buf, nb, memory_order_release);
    return nb;
}

bool ctp__deque_trimmable(ctp__deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    ctp__deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    return b != d->trimmed_at && a->retired_next != NULL;
}

void ctp__deque_trim(ctp__deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    if (b == d->trimmed_at)
        return; /* nothing pushed since the last trim */
    ctp__deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    if (a->retired_next == NULL)
        return; /* never grew: its one small buffer stays */
    /* Acquire: pairs with the thieves' (and our last-element pop's) CAS on
     * top, as in ctp__deque_reserve; top only grows, so empty now means empty until
     * we push. Why a stale thief cannot take anything once the deque is
     * empty: it claims index t by CAS on top from t; index t can leave the
     * deque only through such a CAS (a steal, or the owner's pop of the
     * last element), so if top were still t the deque would hold t. Hence
     * top > t now, and its CAS fails whatever the slot held. */
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    if (t < b)
        return;
    for (ctp__deque_buf *x = a; x != NULL; x = x->retired_next)
        ctp__discard_pages(x->slots, (size_t)(x->mask + 1) * sizeof x->slots[0]);
    d->trimmed_at = b;
}

int ctp__deque_reserve(ctp__deque *d, int64_t extra)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    ctp__deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    if (b - d->top_seen + extra <= a->mask + 1)
        return 0; /* room by the top we saw last: room now (see push) */
    /* Acquire: pairs with the thieves' (and our last-element pop's) CAS on
     * top, so slots they emptied are really free before we overwrite them. */
    d->top_seen = atomic_load_explicit(&d->top, memory_order_acquire);
    while (b - d->top_seen + extra > a->mask + 1) {
        a = grow(d, a, d->top_seen, b);
        if (a == NULL)
            return -1;
    }
    return 0;
}

int ctp__deque_push(ctp__deque *d, ctp__task *task)
{
    /* Load the bottom index (ours). */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    ctp__deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    /* Is the queue full? First by the top we saw last: top only grows, so
     * room by it is room now. The slot we overwrite held an index below
     * top_seen, claimed by a CAS on top (a thief's, or our last-element
     * pop's) that the acquire load which read top_seen synchronises with
     * through top's release sequence: the claimant's read of the slot
     * happened before our store. Only when it says full do we load top
     * again: top's line is written by every steal, so reading it on every
     * push would cost the owner a cache miss per stolen task. (top_seen is
     * only ever set from an acquire load; never from pop's relaxed one.) */
    if (b - d->top_seen > a->mask) {
        if (ctp__deque_reserve(d, 1) != 0) /* loads top again; grows if still full */
            return -1;
        a = atomic_load_explicit(&d->buf, memory_order_relaxed); /* ours: grow may have replaced it */
    }
    /* Write the task into its slot. */
    atomic_store_explicit(&a->slots[b & a->mask], task, memory_order_relaxed);
    /* Release: publishes the slot (and the task's fields) to thieves that
     * acquire-load bottom in steal. */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    return 0;
}

ctp__task *ctp__deque_pop(ctp__deque *d)
{
    /* Load the bottom index (ours) and reserve the last slot. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    ctp__deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
    /* Seq_cst fence: pairs with the fence in steal; either the thief sees
     * our reservation of slot b or we see its increment of top. */
    atomic_thread_fence(memory_order_seq_cst);
    /* Load the top index. */
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    /* Is the queue empty? */
    if (t > b) {
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        return NULL;
    }
    ctp__task *x = atomic_load_explicit(&a->slots[b & a->mask], memory_order_relaxed);
    if (t == b) {
        /* Last element: race the thieves for it through top. Seq_cst CAS
         * pairs with the thieves' CAS on the same index. */
        if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                     memory_order_relaxed))
            x = NULL; /* a thief won */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    }
    return x;
}

ctp__steal_result ctp__deque_steal(ctp__deque *d, ctp__task **out)
{
    /* Load the top index. Acquire: pairs with other thieves' and the owner's
     * CAS on top. */
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    /* Seq_cst fence: pairs with the fence in pop (see there). */
    atomic_thread_fence(memory_order_seq_cst);
    /* Load the bottom index. Acquire: pairs with the release store in push,
     * making the slot and the task's fields visible. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    /* Is the queue empty? */
    if (t >= b)
        return CTP__STEAL_EMPTY;
    /* Acquire: pairs with the release store of buf in grow. */
    ctp__deque_buf *a = atomic_load_explicit(&d->buf, memory_order_acquire);
    ctp__task *x = atomic_load_explicit(&a->slots[t & a->mask], memory_order_relaxed);
#ifdef CTP_TEST_HOOKS
    if (d->test_hook != NULL)
        d->test_hook(d->test_hook_ctx);
#endif
    /* Claim slot t. Seq_cst CAS: pairs with the owner's last-element CAS and
     * other thieves' CAS. */
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return CTP__STEAL_RETRY;
    *out = x;
    return CTP__STEAL_SUCCESS;
}
