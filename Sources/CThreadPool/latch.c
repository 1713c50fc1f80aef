/* The latch (latch.h): its ordering contract is stated there. */
#include "latch.h"

#include "ctp/ctp.h"
#include "platform.h"

int ctp__latch_init(ctp__latch *l)
{
    atomic_init(&l->pending, (size_t)0);
    atomic_init(&l->waiters, 0u);
    l->list = NULL;
    l->note.fn = NULL;
    l->note.ctx = NULL;
    return pthread_mutex_init(&l->lock, NULL) == 0 ? CTP_OK : CTP_ENOMEM;
}

void ctp__latch_destroy(ctp__latch *l)
{
    pthread_mutex_destroy(&l->lock);
}

void ctp__latch_subscribe(ctp__latch *l, ctp__latch_waiter *w)
{
    pthread_mutex_lock(&l->lock);
    w->next = l->list;
    l->list = w;
    /* Seq_cst: the waiter's write in the Dekker pair; pairs with the
     * completer's load of waiters in ctp__latch_count_down. */
    atomic_fetch_add_explicit(&l->waiters, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&l->lock);
}

void ctp__latch_unsubscribe(ctp__latch *l, ctp__latch_waiter *w)
{
    pthread_mutex_lock(&l->lock);
    for (ctp__latch_waiter **pp = &l->list; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    /* Release: pairs with the acquire in ctp__latch_has_waiters (a group is
     * not reused while a waiter may still be inside). */
    atomic_fetch_sub_explicit(&l->waiters, 1, memory_order_release);
    pthread_mutex_unlock(&l->lock);
}

/* Under l->lock: takes the notification off the latch if the latch is set
 * (see latch.h: a late completer of an earlier round must not fire the next
 * round's notification). */
static ctp__latch_note take_note_locked(ctp__latch *l)
{
    ctp__latch_note n = { NULL, NULL };
    if (l->note.fn == NULL || !ctp__latch_done(l))
        return n;
    n = l->note;
    l->note.fn = NULL;
    l->note.ctx = NULL;
    /* Release: pairs with the acquire in ctp__latch_has_waiters (the group
     * may be destroyed once its notification was taken). */
    atomic_fetch_sub_explicit(&l->waiters, 1, memory_order_release);
    return n;
}

void ctp__latch_count_down(ctp__latch *l)
{
    /* Seq_cst: releases the task's effects to whoever reads zero, and is the
     * completer's write in the Dekker pair with a waiter's subscription. */
    if (atomic_fetch_sub_explicit(&l->pending, 1, memory_order_seq_cst) != 1)
        return;
    /* Seq_cst: the completer's read in the Dekker pair (ctp__latch_subscribe,
     * ctp__latch_notify). */
    if (atomic_load_explicit(&l->waiters, memory_order_seq_cst) == 0)
        return;
    /* Under the lock: the waiters' nodes live on their stacks and are gone
     * once they unsubscribed. */
    pthread_mutex_lock(&l->lock);
    for (ctp__latch_waiter *w = l->list; w != NULL; w = w->next)
        w->wake(w->ctx);
    ctp__latch_note n = take_note_locked(l);
    pthread_mutex_unlock(&l->lock);
    /* Outside the lock, and the latch is not touched again: fn may end the
     * group's life (destroy it, reuse it). */
    if (n.fn != NULL)
        n.fn(n.ctx);
}

int ctp__latch_notify(ctp__latch *l, void (*fn)(void *ctx), void *ctx)
{
    if (!ctp__latch_done(l)) {
        pthread_mutex_lock(&l->lock);
        if (l->note.fn != NULL) {
            pthread_mutex_unlock(&l->lock);
            return CTP_EINVAL;
        }
        l->note.fn = fn;
        l->note.ctx = ctx;
        /* Seq_cst: the notifier's write in the Dekker pair; pairs with the
         * completer's load of waiters in ctp__latch_count_down. */
        atomic_fetch_add_explicit(&l->waiters, 1, memory_order_seq_cst);
        /* The notifier's read of the pair (inside take_note_locked): zero
         * now means the completer may have read waiters before our add, so
         * it is ours to run; else that completer takes it after our unlock. */
        ctp__latch_note n = take_note_locked(l);
        pthread_mutex_unlock(&l->lock);
        if (n.fn == NULL)
            return CTP_OK;
    }
    fn(ctx);
    return CTP_OK;
}

ctp__latch_note ctp__latch_take_note(ctp__latch *l)
{
    pthread_mutex_lock(&l->lock);
    ctp__latch_note n = take_note_locked(l);
    pthread_mutex_unlock(&l->lock);
    return n;
}

typedef struct blocker {
    ctp__latch_waiter node;
    pthread_cond_t cv;
} blocker;

static void wake_blocker(void *ctx)
{
    blocker *b = ctx;
    pthread_cond_signal(&b->cv); /* under the latch lock, which b waits on */
}

void ctp__latch_block(ctp__latch *l, uint64_t deadline_ns, void (*registered)(void *ctx), void *ctx)
{
    blocker b;
    if (ctp__cond_init_monotonic(&b.cv) != 0)
        return; /* the caller loops; it degrades to re-checking, never hangs */
    b.node.wake = wake_blocker;
    b.node.ctx = &b;
    ctp__latch_subscribe(l, &b.node);
    if (registered != NULL)
        registered(ctx);
    pthread_mutex_lock(&l->lock);
    /* The count-down that sets the latch takes the lock before it signals,
     * so a zero not seen here is followed by a signal while we wait. */
    while (!ctp__latch_done(l)) {
        if (ctp__cond_wait_until(&b.cv, &l->lock, deadline_ns))
            break;
    }
    pthread_mutex_unlock(&l->lock);
    ctp__latch_unsubscribe(l, &b.node);
    pthread_cond_destroy(&b.cv);
}
