/* The Chase-Lev deque on its own (deque.h), as crossbeam-deque tests its
 * deque: single-threaded order, an owner against a stampede of thieves,
 * growth while thieves steal (every task taken exactly once), and the
 * owner's stale view of top reloaded before it grows. */
#include "harness.h"

#include "../../Sources/CThreadPool/deque.h"
#include "../../Sources/CThreadPool/test_hooks.h"

#include <sched.h>
#include <string.h>

enum { DQ_TASKS = 200000, DQ_THIEVES = 3 };

typedef struct dq_run {
    ctp__deque d;
    ctp__task *tasks;           /* the tasks; index = pointer - tasks */
    _Atomic unsigned char *taken; /* times each was taken */
    _Atomic long stolen;
    _Atomic int done;           /* owner finished */
    long total;
} dq_run;

static void take(dq_run *r, ctp__task *t)
{
    atomic_fetch_add(&r->taken[t - r->tasks], 1);
}

static void *thief(void *arg)
{
    dq_run *r = arg;
    for (;;) {
        ctp__task *t;
        ctp__steal_result s = ctp__deque_steal(&r->d, &t);
        if (s == CTP__STEAL_SUCCESS) {
            take(r, t);
            atomic_fetch_add(&r->stolen, 1);
        } else if (s == CTP__STEAL_EMPTY && atomic_load(&r->done)) {
            return NULL;
        } else if (s == CTP__STEAL_EMPTY) {
            sched_yield();
        }
    }
}

/* Owner pushes everything (in bursts, popping some), thieves steal; with
 * initial capacity 4 the buffer grows many times under the thieves. */
static void run(long total, int64_t capacity, int pop_every)
{
    static dq_run r;
    memset(&r, 0, sizeof r);
    r.total = total;
    r.tasks = calloc((size_t)total, sizeof *r.tasks);
    r.taken = calloc((size_t)total, sizeof *r.taken);
    CHECK(r.tasks != NULL && r.taken != NULL);
    CHECK_EQ(ctp__deque_init(&r.d, capacity), 0);
    pthread_t th[DQ_THIEVES];
    for (int i = 0; i < DQ_THIEVES; i++)
        pthread_create(&th[i], NULL, thief, &r);
    for (long i = 0; i < total; i++) {
        CHECK_EQ(ctp__deque_push(&r.d, &r.tasks[i]), 0);
        if (pop_every > 0 && i % pop_every == 0) {
            ctp__task *t = ctp__deque_pop(&r.d);
            if (t != NULL)
                take(&r, t);
        }
    }
    ctp__task *t;
    while ((t = ctp__deque_pop(&r.d)) != NULL)
        take(&r, t);
    atomic_store(&r.done, 1);
    for (int i = 0; i < DQ_THIEVES; i++)
        pthread_join(th[i], NULL);
    long wrong = 0;
    for (long i = 0; i < total; i++)
        wrong += atomic_load(&r.taken[i]) != 1;
    if (wrong != 0)
        fprintf(stderr, "  %ld of %ld tasks taken other than once\n", wrong, total);
    CHECK_EQ(wrong, 0);
    CHECK(ctp__deque_is_empty(&r.d));
    ctp__deque_destroy(&r.d);
    free(r.tasks);
    free((void *)r.taken);
}

void test_deque_order_single_thread(void)
{
    ctp__deque d;
    static ctp__task t[600];
    CHECK_EQ(ctp__deque_init(&d, 4), 0);
    ctp__task *out = NULL;
    CHECK_EQ(ctp__deque_steal(&d, &out), CTP__STEAL_EMPTY);
    CHECK(ctp__deque_pop(&d) == NULL);
    for (int i = 0; i < 600; i++) /* grows 4 -> 1024 */
        CHECK_EQ(ctp__deque_push(&d, &t[i]), 0);
    CHECK_EQ(ctp__deque_steal(&d, &out), CTP__STEAL_SUCCESS);
    CHECK(out == &t[0]); /* thieves take the oldest */
    CHECK(ctp__deque_pop(&d) == &t[599]); /* the owner the newest */
    for (int i = 598; i >= 1; i--)
        CHECK(ctp__deque_pop(&d) == &t[i]);
    CHECK(ctp__deque_pop(&d) == NULL);
    CHECK_EQ(ctp__deque_steal(&d, &out), CTP__STEAL_EMPTY);
    CHECK_EQ(ctp__deque_reserve(&d, 5000), 0); /* then 5000 pushes cannot fail */
    for (int i = 0; i < 600; i++)
        CHECK_EQ(ctp__deque_push(&d, &t[i]), 0);
    for (int i = 0; i < 600; i++) {
        CHECK_EQ(ctp__deque_steal(&d, &out), CTP__STEAL_SUCCESS);
        CHECK(out == &t[i]);
    }
    ctp__deque_destroy(&d);
}

void test_deque_owner_against_thieves(void)
{
    run(scaled(DQ_TASKS), 256, 3); /* pushes and pops against 3 thieves */
}

void test_deque_growth_under_steals(void)
{
    run(scaled(DQ_TASKS), 4, 0); /* grows from 4 while thieves steal */
}

/* After steals the owner's view of top (top_seen) is stale: a push or a
 * reserve that finds the deque full by it must load top again and reuse the
 * freed slots, not grow. Every allocation is made to fail meanwhile, so a
 * needless grow shows as a failed push or reserve; the buffer must stay the
 * one it started with. */
void test_deque_stale_top_reloads_before_growing(void)
{
    ctp__deque d;
    static ctp__task t[12];
    CHECK_EQ(ctp__deque_init(&d, 4), 0);
    ctp__deque_buf *first = atomic_load(&d.buf);
    ctp__task *out = NULL;
    for (int i = 0; i < 4; i++)
        CHECK_EQ(ctp__deque_push(&d, &t[i]), 0);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(ctp__deque_steal(&d, &out), CTP__STEAL_SUCCESS);
        CHECK(out == &t[i]);
    }
    ctp_test_fail_nth(0, -1); /* the next allocation fails */
    /* Full by the top the owner saw (0), empty in fact: no growth. */
    for (int i = 4; i < 8; i++)
        CHECK_EQ(ctp__deque_push(&d, &t[i]), 0);
    CHECK(atomic_load(&d.buf) == first);
    for (int i = 4; i < 8; i++) {
        CHECK_EQ(ctp__deque_steal(&d, &out), CTP__STEAL_SUCCESS);
        CHECK(out == &t[i]);
    }
    CHECK_EQ(ctp__deque_reserve(&d, 4), 0); /* stale again: reload, no growth */
    for (int i = 8; i < 12; i++)
        CHECK_EQ(ctp__deque_push(&d, &t[i]), 0);
    CHECK(atomic_load(&d.buf) == first);
    CHECK(first->retired_next == NULL);
    ctp_test_fail_nth(-1, -1);
    for (int i = 11; i >= 8; i--)
        CHECK(ctp__deque_pop(&d) == &t[i]);
    CHECK(ctp__deque_pop(&d) == NULL);
    ctp__deque_destroy(&d);
}
