/* ctp_group_notify: the one-shot completion callback of a group. It fires
 * exactly once, at once on the caller for a finished group, else on the
 * thread that finished the last task; never while a task is pending (also
 * on a reused group, where a late completer of the previous round may meet
 * the next round's notification); a second one is refused while one is
 * registered; a cancelling shutdown fires it; ctp_group_destroy refuses a
 * pending group and runs a notification a completer has not reached yet. */
#include "harness.h"

#include "../../Sources/CThreadPool/pool.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>

/* What a notification saw when it ran. */
typedef struct nt_probe {
    _Atomic int fired;
    _Atomic long finished;     /* the group's tasks that ran (nt_count_task) */
    long finished_at_fire;     /* `finished` when it fired */
    int worker;                /* ctp_worker_index() of the thread it ran on */
    pthread_t thread;
    ctp_group *destroy;        /* destroy this group from inside fn */
    int destroy_rc;
} nt_probe;

static void nt_fire(void *ctx)
{
    nt_probe *p = ctx;
    /* Relaxed: the notification's taker read zero (seq_cst), after every
     * counted task's count-down. */
    p->finished_at_fire = atomic_load_explicit(&p->finished, memory_order_relaxed);
    p->worker = ctp_worker_index();
    p->thread = pthread_self();
    if (p->destroy != NULL)
        p->destroy_rc = ctp_group_destroy(p->destroy);
    atomic_fetch_add(&p->fired, 1);
}

static void nt_count_task(void *arg)
{
    nt_probe *p = arg;
    atomic_fetch_add_explicit(&p->finished, 1, memory_order_relaxed);
}

/* Where and when it fires, one round after the other on one group. */
void test_notify_fires_once_where_documented(void)
{
    ctp_pool *pool = make_pool(1);
    CHECK(pool != NULL);
    ctp_group *g = NULL;
    CHECK_OK(ctp_group_create(pool, &g));
    static nt_probe p0, p1, p2, p3, p4;
    memset(&p0, 0, sizeof p0);
    memset(&p1, 0, sizeof p1);
    memset(&p2, 0, sizeof p2);
    memset(&p3, 0, sizeof p3);
    memset(&p4, 0, sizeof p4);

    CHECK_EQ(ctp_group_notify(NULL, nt_fire, &p0), CTP_EINVAL);
    CHECK_EQ(ctp_group_notify(g, NULL, &p0), CTP_EINVAL);
    CHECK_EQ(atomic_load(&p0.fired), 0);

    /* Nothing pending: at once, on the caller, before it returns. */
    CHECK_OK(ctp_group_notify(g, nt_fire, &p0));
    CHECK_EQ(atomic_load(&p0.fired), 1);
    CHECK(pthread_equal(p0.thread, pthread_self()));
    CHECK_EQ(p0.worker, -1);

    /* Pending: not before the last task, then on the worker that ran it. */
    gate gt;
    gate_init(&gt);
    CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_NORMAL, gate_task, &gt));
    wait_entered(&gt, 1);
    for (int i = 0; i < 3; i++)
        CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_NORMAL, nt_count_task, &p1));
    CHECK_OK(ctp_group_notify(g, nt_fire, &p1));
    CHECK_EQ(ctp_group_notify(g, nt_fire, &p2), CTP_EINVAL); /* one at a time */
    CHECK_EQ(ctp_group_destroy(g), CTP_EINVAL);               /* pending: refused, kept */
    test_sleep_us(2000);
    CHECK_EQ(atomic_load(&p1.fired), 0);
    gate_open(&gt);
    CHECK(TEST_WAIT_UNTIL(atomic_load(&p1.fired) == 1, 10000));
    CHECK_EQ(p1.finished_at_fire, 3);
    CHECK_EQ(p1.worker, 0);
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    test_sleep_us(2000);
    CHECK_EQ(atomic_load(&p1.fired), 1);
    CHECK_EQ(atomic_load(&p2.fired), 0); /* the refused one never runs */

    /* One-shot: the next round of the same group fires nothing... */
    for (int i = 0; i < 2; i++)
        CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_NORMAL, nt_count_task, &p3));
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    test_sleep_us(2000);
    CHECK_EQ(atomic_load(&p1.fired), 1);
    /* ...until a new call, which fires (and destroys the group from fn,
     * which the notification allows: it is off the group by then). */
    gate_init(&gt);
    CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_NORMAL, gate_task, &gt));
    wait_entered(&gt, 1);
    CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_NORMAL, nt_count_task, &p3));
    p3.destroy = g;
    p3.destroy_rc = 99;
    CHECK_OK(ctp_group_notify(g, nt_fire, &p3));
    gate_open(&gt);
    CHECK(TEST_WAIT_UNTIL(atomic_load(&p3.fired) == 1, 10000));
    CHECK_EQ(p3.finished_at_fire, 3);
    CHECK_EQ(p3.worker, 0);
    CHECK_OK(p3.destroy_rc);

    /* Destroyed from fn on the caller's at-once path too. */
    CHECK_OK(ctp_group_create(pool, &g));
    p4.destroy = g;
    p4.destroy_rc = 99;
    CHECK_OK(ctp_group_notify(g, nt_fire, &p4));
    CHECK_EQ(atomic_load(&p4.fired), 1);
    CHECK_OK(p4.destroy_rc);
    CHECK_OK(ctp_pool_destroy(pool));
}

/* One round of the stress test: its notification must see every task. */
typedef struct nt_round {
    _Atomic long finished;
    long expected;
    int spin;                  /* each task's busy loop: moves the last count-down */
    _Atomic int fired;
    _Atomic int early;         /* fired before every task finished */
    _Atomic int on_worker;     /* fired on a worker (else on the caller) */
    _Atomic int second;        /* the second notification's runs */
} nt_round;

static void nt_round_task(void *arg)
{
    nt_round *r = arg;
    for (volatile int s = 0; s < r->spin; s++) {
    }
    atomic_fetch_add_explicit(&r->finished, 1, memory_order_relaxed);
}

static void nt_round_fire(void *ctx)
{
    nt_round *r = ctx;
    /* Relaxed: ordered by the taker's seq_cst read of zero (see nt_fire). */
    if (atomic_load_explicit(&r->finished, memory_order_relaxed) != r->expected)
        atomic_fetch_add(&r->early, 1);
    if (ctp_worker_index() >= 0)
        atomic_fetch_add(&r->on_worker, 1);
    atomic_fetch_add(&r->fired, 1);
}

static void nt_round_second(void *ctx)
{
    atomic_fetch_add(&((nt_round *)ctx)->second, 1);
}

/* Many short rounds on two workers: registration races the last
 * count-down (and, on a reused group, the previous round's late completer
 * that is still between its decrement and the latch lock). Every round
 * fires exactly once, never before its tasks all ran; a second
 * registration either is refused (and never runs) or ran at once. */
void test_notify_races_last_count_down(void)
{
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    long rounds = scaled(10000);
    nt_round *r = calloc((size_t)rounds, sizeof *r);
    CHECK(r != NULL);
    ctp_group *g = NULL;
    CHECK_OK(ctp_group_create(pool, &g));
    long on_worker = 0, refused = 0, second_at_once = 0;
    bool ok = true;
    for (long k = 0; k < rounds && ok; k++) {
        if (k % 8 == 7) { /* sometimes a recycled group instead of the same one */
            if (ctp_group_destroy(g) != CTP_OK || ctp_group_create(pool, &g) != CTP_OK) {
                fprintf(stderr, "  round %ld: could not destroy/recreate the finished group\n", k);
                ok = false;
                break;
            }
        }
        r[k].expected = 1 + k % 3;
        r[k].spin = (int)((k * 37) % 12000);
        for (long i = 0; i < r[k].expected; i++)
            if (ctp_group_submit(g, CTP_PRIORITY_NORMAL, nt_round_task, &r[k]) != CTP_OK)
                ok = false;
        if (k % 4 == 1)
            sched_yield();
        else if (k % 4 == 2)
            for (volatile int s = 0; s < (int)(k % 512); s++) {
            }
        if (ctp_group_notify(g, nt_round_fire, &r[k]) != CTP_OK) {
            fprintf(stderr, "  round %ld: notification refused on a group with none registered\n", k);
            ok = false;
            break;
        }
        if (k % 5 == 0) {
            int rc = ctp_group_notify(g, nt_round_second, &r[k]);
            if (rc == CTP_OK) {
                second_at_once++;
                if (atomic_load(&r[k].second) != 1) { /* OK only when it ran at once */
                    fprintf(stderr, "  round %ld: a second notification was accepted and not run at once\n", k);
                    ok = false;
                }
            } else {
                refused++;
            }
        }
        if (!TEST_WAIT_UNTIL(atomic_load(&r[k].fired) >= 1, 10000)) {
            fprintf(stderr, "  round %ld: never fired (finished %ld of %ld)\n", k, atomic_load(&r[k].finished),
                    r[k].expected);
            ok = false;
        }
        on_worker += atomic_load(&r[k].on_worker);
    }
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    test_sleep_us(10000); /* a double fire would come from a late completer */
    CHECK_OK(ctp_group_destroy(g));
    CHECK_OK(ctp_pool_destroy(pool));
    for (long k = 0; k < rounds && ok; k++) {
        if (atomic_load(&r[k].fired) != 1 || atomic_load(&r[k].early) != 0 ||
            atomic_load(&r[k].finished) != r[k].expected || atomic_load(&r[k].second) > 1) {
            fprintf(stderr, "  round %ld: fired %d, early %d, finished %ld of %ld, second %d\n", k,
                    atomic_load(&r[k].fired), atomic_load(&r[k].early), atomic_load(&r[k].finished),
                    r[k].expected, atomic_load(&r[k].second));
            ok = false;
        }
    }
    free(r);
    CHECK(ok);
    /* How the race went (both ways should occur). */
    fprintf(stderr, "  %ld rounds: %ld fired on a worker, %ld on the caller; second notification %ld refused, "
                    "%ld at once\n",
            rounds, on_worker, rounds - on_worker, refused, second_at_once);
}

typedef struct nt_readd {
    ctp__latch *latch;
    _Atomic int wakes;
} nt_readd;

/* A waiter's wake runs under the latch lock, after the count-down that set
 * the latch and before it looks at the notification: the first one adds a
 * task back, as a new round (or a late completer's view of one) would. */
static void nt_readd_wake(void *ctx)
{
    nt_readd *a = ctx;
    if (atomic_fetch_add(&a->wakes, 1) == 0)
        ctp__latch_add(a->latch, 1);
}

typedef struct nt_latch_probe {
    ctp__latch *latch;
    _Atomic int fired;
    size_t pending_at_fire;
} nt_latch_probe;

static void nt_latch_fire(void *ctx)
{
    nt_latch_probe *p = ctx;
    /* Relaxed: this test's own single-threaded adds and count-downs. */
    p->pending_at_fire = atomic_load_explicit(&p->latch->pending, memory_order_relaxed);
    atomic_fetch_add(&p->fired, 1);
}

/* The latch alone, deterministic: a count-down that set the latch but finds
 * it unset again once it holds the lock must leave the notification for
 * the next zero (the late completer of a reused group). */
void test_notify_latch_rechecks_zero(void)
{
    static ctp__latch l;
    static nt_readd a;
    static nt_latch_probe p;
    CHECK_EQ(ctp__latch_init(&l), CTP_OK);
    a.latch = &l;
    atomic_store(&a.wakes, 0);
    p.latch = &l;
    atomic_store(&p.fired, 0);
    p.pending_at_fire = 99;
    ctp__latch_add(&l, 1);
    ctp__latch_waiter w = { .wake = nt_readd_wake, .ctx = &a, .next = NULL };
    ctp__latch_subscribe(&l, &w);
    CHECK_OK(ctp__latch_notify(&l, nt_latch_fire, &p));
    CHECK_EQ(ctp__latch_notify(&l, nt_latch_fire, &p), CTP_EINVAL);
    ctp__latch_count_down(&l); /* sets it; the wake adds one back */
    CHECK_EQ(atomic_load(&a.wakes), 1);
    CHECK_EQ(atomic_load(&p.fired), 0);
    CHECK(!ctp__latch_done(&l));
    ctp__latch_count_down(&l); /* the next zero fires it */
    CHECK_EQ(atomic_load(&p.fired), 1);
    CHECK_EQ(p.pending_at_fire, 0);
    ctp__latch_unsubscribe(&l, &w);
    CHECK(!ctp__latch_has_waiters(&l));
    ctp__latch_note none = ctp__latch_take_note(&l);
    CHECK(none.fn == NULL);
    ctp__latch_destroy(&l);
}

/* A cancelling shutdown drops the group's queued tasks: the last drop fires
 * the notification, which saw every task dropped. */
void test_notify_fires_on_cancel(void)
{
    ctp_pool *pool = make_pool(1);
    CHECK(pool != NULL);
    gate gt;
    gate_init(&gt);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, gate_task, &gt)); /* holds the only worker */
    wait_entered(&gt, 1);
    ctp_group *g = NULL;
    CHECK_OK(ctp_group_create(pool, &g));
    static nt_probe p;
    memset(&p, 0, sizeof p);
    ctp_task_desc d;
    ctp_task_desc_init(&d, noop, &p);
    d.on_cancel = nt_count_task; /* a dropped task counts as finished */
    d.group = g;
    for (int i = 0; i < 5; i++)
        CHECK_OK(ctp_submit_desc(pool, &d));
    CHECK_OK(ctp_group_notify(g, nt_fire, &p));
    CHECK_EQ(ctp_pool_shutdown(pool, CTP_SHUTDOWN_CANCEL, 0), CTP_ETIMEDOUT);
    gate_open(&gt);
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_CANCEL, CTP_WAIT_FOREVER));
    CHECK(TEST_WAIT_UNTIL(atomic_load(&p.fired) == 1, 10000));
    CHECK_EQ(p.finished_at_fire, 5); /* every on_cancel ran before it */
    test_sleep_us(2000);
    CHECK_EQ(atomic_load(&p.fired), 1);
    CHECK_OK(ctp_group_destroy(g));
    CHECK_OK(ctp_pool_destroy(pool));
}

/* ctp_group_destroy with a notification registered: refused while tasks are
 * pending (it stays and fires later); once none is pending but no completer
 * took it yet (simulated: the count is set to zero the way a completer's
 * decrement would, without its look at the waiters), destroy runs it on its
 * own thread and frees the group. */
void test_notify_destroy_rules(void)
{
    ctp_pool *pool = make_pool(1);
    CHECK(pool != NULL);
    ctp_group *g = NULL;
    CHECK_OK(ctp_group_create(pool, &g));
    static nt_probe p;
    memset(&p, 0, sizeof p);
    ctp__latch_add(&g->latch, 1); /* a task counted, not yet finished */
    CHECK_OK(ctp_group_notify(g, nt_fire, &p));
    CHECK_EQ(ctp_group_destroy(g), CTP_EINVAL);
    CHECK_EQ(atomic_load(&p.fired), 0);
    /* Seq_cst like the completer's decrement; the completer's wake-up half
     * is what destroy must make up for. */
    atomic_fetch_sub_explicit(&g->latch.pending, 1, memory_order_seq_cst);
    CHECK_OK(ctp_group_destroy(g));
    CHECK_EQ(atomic_load(&p.fired), 1);
    CHECK(pthread_equal(p.thread, pthread_self()));
    /* The group went back to the free list clean: the next one (most likely
     * the same memory) takes a notification again. */
    CHECK_OK(ctp_group_create(pool, &g));
    static nt_probe q;
    memset(&q, 0, sizeof q);
    gate gt;
    gate_init(&gt);
    CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_NORMAL, gate_task, &gt));
    CHECK_OK(ctp_group_notify(g, nt_fire, &q));
    gate_open(&gt);
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    CHECK(TEST_WAIT_UNTIL(atomic_load(&q.fired) == 1, 10000));
    CHECK_OK(ctp_group_destroy(g));
    CHECK_EQ(atomic_load(&p.fired), 1);
    CHECK_OK(ctp_pool_destroy(pool));
}

/* A notification that destroy runs itself and that gives the group a new
 * round (a documented use of fn): destroy must refuse, as it does for any
 * pending task, and the group stay valid. It used to free the group with
 * the new task pending (helper-38's attack, 2026-12-03): the next group
 * created, the same memory, then counted that task (a wait on it timed out,
 * its destroy was refused) and the task's end counted down a stranger's
 * group. The completer's half is simulated as in notify_destroy_rules. */
typedef struct {
    ctp_group *g;
    gate *gt;
    _Atomic int fired, submit_rc;
} nt_again;

static void nt_new_round(void *ctx)
{
    nt_again *r = ctx;
    atomic_store(&r->submit_rc, ctp_group_submit(r->g, CTP_PRIORITY_NORMAL, gate_task, r->gt));
    atomic_fetch_add(&r->fired, 1);
}

void test_notify_new_round_from_destroy_keeps_group(void)
{
    ctp_pool *pool = make_pool(1);
    CHECK(pool != NULL);
    static nt_again r;
    static gate gt;
    gate_init(&gt);
    memset((void *)&r, 0, sizeof r);
    r.gt = &gt;
    CHECK_OK(ctp_group_create(pool, &r.g));
    ctp__latch_add(&r.g->latch, 1); /* a task counted, not yet finished */
    CHECK_OK(ctp_group_notify(r.g, nt_new_round, &r));
    /* Seq_cst like the completer's decrement (see notify_destroy_rules). */
    atomic_fetch_sub_explicit(&r.g->latch.pending, 1, memory_order_seq_cst);
    CHECK_EQ(ctp_group_destroy(r.g), CTP_EINVAL); /* ran fn, which queued a task */
    CHECK_EQ(atomic_load(&r.fired), 1);
    CHECK_EQ(atomic_load(&r.submit_rc), CTP_OK);
    CHECK_EQ(ctp_group_wait(r.g, 0), CTP_ETIMEDOUT); /* the new round is the group's */
    gate_open(&gt);
    CHECK_OK(ctp_group_wait(r.g, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(r.g));
    CHECK_EQ(atomic_load(&r.fired), 1);
    /* A new group (most likely the same memory) starts empty. */
    ctp_group *g2 = NULL;
    CHECK_OK(ctp_group_create(pool, &g2));
    CHECK_OK(ctp_group_wait(g2, 0));
    CHECK_OK(ctp_group_destroy(g2));
    CHECK_OK(ctp_pool_destroy(pool));
}

typedef struct nt_race {
    ctp__latch latch;
    _Atomic int go;            /* the round the completer may count down in */
    _Atomic int ready;         /* the round the completer waits to start */
    _Atomic int counted;       /* the round whose count-down returned */
    _Atomic int fired;
    _Atomic int early;         /* fired while the latch was not set */
    int rounds;
} nt_race;

static void nt_race_fire(void *ctx)
{
    nt_race *r = ctx;
    if (!ctp__latch_done(&r->latch))
        atomic_fetch_add(&r->early, 1);
    atomic_fetch_add(&r->fired, 1);
}

static void *nt_race_completer(void *arg)
{
    nt_race *r = arg;
    for (int round = 1; round <= r->rounds; round++) {
        atomic_store(&r->ready, round);
        test_spin_until_at_least(&r->go, round);
        ctp__latch_count_down(&r->latch);
        atomic_store(&r->counted, round);
    }
    return NULL;
}

/* The latch alone, the Dekker pair: a registration and the last count-down
 * started together, round after round. Once both returned the notification
 * has run exactly once (on one of the two threads: neither may leave it to
 * the other when the other already looked). */
void test_notify_latch_races_count_down(void)
{
    static nt_race r;
    CHECK_EQ(ctp__latch_init(&r.latch), CTP_OK);
    atomic_store(&r.go, 0);
    atomic_store(&r.ready, 0);
    atomic_store(&r.counted, 0);
    atomic_store(&r.fired, 0);
    atomic_store(&r.early, 0);
    r.rounds = (int)scaled(50000);
    pthread_t c;
    CHECK_EQ(pthread_create(&c, NULL, nt_race_completer, &r), 0);
    int bad = 0, registered = 0;
    for (int k = 1; k <= r.rounds; k++) {
        ctp__latch_add(&r.latch, 1);
        while (atomic_load(&r.ready) < k)
            sched_yield();
        atomic_store(&r.go, k);
        if (ctp__latch_notify(&r.latch, nt_race_fire, &r) != CTP_OK)
            bad++;
        else if (atomic_load(&r.fired) < k)
            registered++; /* left for the completer */
        while (atomic_load(&r.counted) < k)
            sched_yield();
        if (atomic_load(&r.fired) != k && bad++ == 0)
            fprintf(stderr, "  round %d: fired %d times in %d rounds\n", k, atomic_load(&r.fired), k);
        if (bad > 0) { /* let the completer finish its rounds */
            atomic_store(&r.go, r.rounds);
            for (int i = k; i < r.rounds; i++)
                ctp__latch_add(&r.latch, 1);
            break;
        }
    }
    pthread_join(c, NULL);
    CHECK_EQ(bad, 0);
    CHECK_EQ(atomic_load(&r.early), 0);
    CHECK(!ctp__latch_has_waiters(&r.latch));
    fprintf(stderr, "  %d of %d notifications were left for the completer\n", registered, r.rounds);
    ctp__latch_destroy(&r.latch);
}

/* ---- A notification's submission during a draining shutdown ------------ */

typedef struct {
    ctp_pool *pool;
    pthread_t shutter;
    _Atomic int shutdown_rc, x_ran, x_cancelled, submit_rc;
} nt_drain;

static void nt_drain_x(void *arg)
{
    atomic_fetch_add(&((nt_drain *)arg)->x_ran, 1);
}

static void nt_drain_x_cancel(void *arg)
{
    atomic_fetch_add(&((nt_drain *)arg)->x_cancelled, 1);
}

static void *nt_drain_shutdown(void *arg)
{
    nt_drain *d = arg;
    atomic_store(&d->shutdown_rc, ctp_pool_shutdown(d->pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    return NULL;
}

/* Starts a draining shutdown, gives it time to finish if it thinks the pool
 * is idle, then submits X: the pool's own submission (it runs inside the
 * task that ended the group), which the drain must run. */
static void nt_drain_fire(void *ctx)
{
    nt_drain *d = ctx;
    if (pthread_create(&d->shutter, NULL, nt_drain_shutdown, d) != 0)
        return;
    test_sleep_us(20000);
    ctp_task_desc x;
    ctp_task_desc_init(&x, nt_drain_x, d);
    x.on_cancel = nt_drain_x_cancel;
    atomic_store(&d->submit_rc, ctp_submit_desc(d->pool, &x));
}

static void nt_nothing(void *arg)
{
    (void)arg;
}

/* The group's last task is pinned to this thread (so no worker takes it),
 * and its notification starts a draining shutdown and then submits X. The
 * task counted as finished before its count-down ran the notification, so
 * the shutdown found the pool idle, stopped the workers and returned while
 * X sat in the injection queue: neither run nor cancelled (stats:
 * submitted 2, executed 1). A run now counts as finished for the shutdown
 * only once its count-down (and the notification in it) has returned. */
void test_notify_submission_survives_drain(void)
{
    static nt_drain d;
    memset(&d, 0, sizeof d);
    atomic_store(&d.shutdown_rc, -100);
    atomic_store(&d.submit_rc, -100);
    d.pool = make_pool(1);
    CHECK(d.pool != NULL);
    ctp_pinned *q;
    CHECK_OK(ctp_pinned_create(d.pool, &q));
    ctp_group *g;
    CHECK_OK(ctp_group_create(d.pool, &g));
    ctp_task_desc t;
    ctp_task_desc_init(&t, nt_nothing, NULL);
    t.group = g;
    t.pinned = q;
    CHECK_OK(ctp_submit_desc(d.pool, &t));
    CHECK_OK(ctp_group_notify(g, nt_drain_fire, &d));
    CHECK_EQ(ctp_pinned_run(q, 1), 1); /* T, then the notification, here */
    CHECK_EQ(pthread_join(d.shutter, NULL), 0);
    CHECK_EQ(atomic_load(&d.shutdown_rc), CTP_OK);
    CHECK_EQ(atomic_load(&d.submit_rc), CTP_OK);
    CHECK_EQ(atomic_load(&d.x_ran), 1);
    CHECK_EQ(atomic_load(&d.x_cancelled), 0);
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(d.pool, &st));
    CHECK_EQ(st.submitted, 2);
    CHECK_EQ(st.executed, 2);
    CHECK_OK(ctp_group_destroy(g));
    CHECK_OK(ctp_pinned_destroy(q));
    CHECK_OK(ctp_pool_destroy(d.pool));
}
