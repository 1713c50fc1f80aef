/* The latch on its own (latch.h), without a pool: blockers are woken by the
 * count-down that sets it, subscribers' wakes are never lost in the race
 * between subscribing and the last count-down, and a reused latch works. */
#include "harness.h"

#include "../../Sources/CThreadPool/latch.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

enum { LT_BLOCKERS = 3, LT_COUNT = 8, LT_COMPLETERS = 2 };

static uint64_t lt_deadline(uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + ms * 1000000u;
}

typedef struct lt_run {
    ctp__latch latch;
    _Atomic int go;             /* round number the threads may start */
    _Atomic int returned;       /* blockers back from ctp__latch_block, latch set */
    _Atomic int early;          /* blockers back while the latch was not set */
    _Atomic long counted;       /* count-downs done this round */
    int round;
} lt_run;

static void *lt_blocker(void *arg)
{
    lt_run *r = arg;
    int round = r->round;
    while (atomic_load(&r->go) < round)
        sched_yield();
    /* A long deadline: only a lost wake-up lets it run out (the test then
     * fails on the bounded wait below, long before). */
    while (!ctp__latch_done(&r->latch))
        ctp__latch_block(&r->latch, lt_deadline(60000), NULL, NULL);
    atomic_fetch_add(&r->returned, 1);
    return NULL;
}

static void *lt_completer(void *arg)
{
    lt_run *r = arg;
    int round = r->round;
    while (atomic_load(&r->go) < round)
        sched_yield();
    for (int i = 0; i < LT_COUNT / LT_COMPLETERS; i++) {
        atomic_fetch_add(&r->counted, 1);
        ctp__latch_count_down(&r->latch);
    }
    return NULL;
}

/* Blockers and completers start together; every blocker must come back once
 * the last count-down ran, round after round on the same (reused) latch. */
void test_latch_wakes_every_blocker(void)
{
    static lt_run r;
    CHECK_EQ(ctp__latch_init(&r.latch), 0);
    atomic_store(&r.go, 0);
    long rounds = scaled(300);
    for (long k = 1; k <= rounds; k++) {
        r.round = (int)k;
        atomic_store(&r.returned, 0);
        atomic_store(&r.counted, 0);
        ctp__latch_add(&r.latch, LT_COUNT);
        pthread_t b[LT_BLOCKERS], c[LT_COMPLETERS];
        for (int i = 0; i < LT_BLOCKERS; i++)
            CHECK_EQ(pthread_create(&b[i], NULL, lt_blocker, &r), 0);
        for (int i = 0; i < LT_COMPLETERS; i++)
            CHECK_EQ(pthread_create(&c[i], NULL, lt_completer, &r), 0);
        atomic_store(&r.go, (int)k);
        for (int i = 0; i < LT_COMPLETERS; i++)
            pthread_join(c[i], NULL);
        CHECK(ctp__latch_done(&r.latch));
        bool all = TEST_WAIT_UNTIL(atomic_load(&r.returned) == LT_BLOCKERS, 10000);
        if (!all)
            fprintf(stderr, "  round %ld: %d of %d blockers woken\n", k, atomic_load(&r.returned), LT_BLOCKERS);
        CHECK(all);
        for (int i = 0; i < LT_BLOCKERS; i++)
            pthread_join(b[i], NULL);
        CHECK(!ctp__latch_has_waiters(&r.latch));
    }
    ctp__latch_destroy(&r.latch);
}

typedef struct lt_sub {
    ctp__latch latch;
    _Atomic int go;
    _Atomic int woken;          /* the subscriber's wake ran */
    _Atomic int ready;          /* the completer is spinning on go */
    _Atomic int done_round;     /* the subscriber finished the round */
    int round;                  /* rounds to run */
} lt_sub;

static void lt_wake(void *ctx)
{
    atomic_fetch_add((_Atomic int *)ctx, 1);
}

/* One completer for all rounds: announces it is ready, waits for the round
 * to start, and makes the last count-down. */
static void *lt_last_completer(void *arg)
{
    lt_sub *s = arg;
    for (int round = 1; round <= s->round; round++) {
        atomic_store(&s->ready, round);
        test_spin_until_at_least(&s->go, round);
        ctp__latch_count_down(&s->latch);
        while (atomic_load(&s->done_round) < round)
            sched_yield();
    }
    return NULL;
}

/* The Dekker pair: a subscriber that subscribes and then reads the latch
 * unset must have its wake called by the racing last count-down. Each round
 * races one subscription against one count-down, started together. */
void test_latch_subscriber_never_missed(void)
{
    static lt_sub s;
    CHECK_EQ(ctp__latch_init(&s.latch), 0);
    atomic_store(&s.go, 0);
    atomic_store(&s.ready, 0);
    atomic_store(&s.done_round, 0);
    long rounds = scaled(2000), saw_unset = 0;
    s.round = (int)rounds;
    pthread_t c;
    CHECK_EQ(pthread_create(&c, NULL, lt_last_completer, &s), 0);
    bool ok = true;
    for (long k = 1; k <= rounds && ok; k++) {
        atomic_store(&s.woken, 0);
        ctp__latch_add(&s.latch, 1);
        ctp__latch_waiter w = { .wake = lt_wake, .ctx = &s.woken, .next = NULL };
        while (atomic_load(&s.ready) < (int)k)
            sched_yield();
        atomic_store(&s.go, (int)k);
        ctp__latch_subscribe(&s.latch, &w);
        if (!ctp__latch_done(&s.latch)) {
            /* We would block now: the wake must come. */
            saw_unset++;
            if (!TEST_WAIT_UNTIL(atomic_load(&s.woken) == 1, 10000)) {
                fprintf(stderr, "  round %ld: subscriber saw the latch unset and was never woken\n", k);
                ok = false;
            }
        }
        TEST_WAIT_UNTIL(ctp__latch_done(&s.latch), 10000);
        ctp__latch_unsubscribe(&s.latch, &w);
        if (atomic_load(&s.woken) > 1)
            ok = false;
        atomic_store(&s.done_round, (int)k);
    }
    if (!ok) { /* let the completer finish its remaining rounds */
        atomic_store(&s.go, (int)rounds);
        atomic_store(&s.done_round, (int)rounds);
        for (long k = 0; k < rounds; k++)
            ctp__latch_add(&s.latch, 1);
    }
    pthread_join(c, NULL);
    CHECK(ok);
    /* How often the race went each way (both should occur on 2+ CPUs). */
    fprintf(stderr, "  %ld of %ld rounds saw the latch unset after subscribing\n", saw_unset, rounds);
    CHECK(!ctp__latch_has_waiters(&s.latch));
    ctp__latch_destroy(&s.latch);
}
