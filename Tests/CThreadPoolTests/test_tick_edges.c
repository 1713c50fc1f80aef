/* Ticks and pinned queues at their edges: an on_overrun that fires before
 * ctp_tick_begin returns or while ctp_tick_end waits, timeouts while work
 * keeps coming, and argument rules. Each case was found by attacking the
 * API (2026-12-03) and failed on the code before its fix. */
#include "harness.h"

#include "../../Sources/CThreadPool/test_hooks.h"

#include <pthread.h>
#include <string.h>

#define MS ((uint64_t)1000000u)

/* ---- on_overrun before ctp_tick_begin returns ------------------------- */

static _Atomic long early_ran;

static void early_task(void *arg)
{
    (void)arg;
    atomic_fetch_add(&early_ran, 1);
}

static void early_overrun(ctp_tick *tick, uint64_t elapsed_ns, void *ctx)
{
    (void)elapsed_ns;
    (void)ctx;
    for (int i = 0; i < 4; i++)
        if (ctp_group_submit(ctp_tick_group(tick), CTP_PRIORITY_NORMAL, early_task, NULL) != CTP_OK)
            atomic_fetch_add(&early_ran, 1000); /* refused: fails the count below */
}

/* Holds ctp_tick_begin after its watch is registered, so the callback of a
 * 1 ns budget fires (and submits) before begin returns. */
static void hold_after_watch(ctp_test_hook_point point, void *ctx)
{
    (void)ctx;
    if (point == CTP_HOOK_TICK_WATCHED)
        test_sleep_us(5000);
}

/* A tiny budget's on_overrun may fire before ctp_tick_begin returns and
 * submit into the tick (ctp.h allows both). Its tasks must be in the
 * report. They were not: begin registered the watch before it switched
 * the recording on, so in between tasks ran unrecorded (and TSan saw the
 * recording's plain store race with a worker's read). */
void test_tick_overrun_at_begin_is_reported(void)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 2;
    ctp_pool *p;
    CHECK_OK(ctp_test_pool_create_hooked(&c, hold_after_watch, NULL, &p));
    for (int round = 0; round < 5; round++) {
        atomic_store(&early_ran, 0);
        ctp_tick_options o = { .report = true, .budget_ns = 1, .on_overrun = early_overrun };
        ctp_tick *t;
        CHECK_OK(ctp_tick_begin(p, &o, &t));
        for (int i = 0; i < 4; i++)
            CHECK_OK(ctp_group_submit(ctp_tick_group(t), CTP_PRIORITY_NORMAL, early_task, NULL));
        ctp_tick_report r;
        ctp_tick_thread_report w[2];
        CHECK_OK(ctp_tick_end(t, CTP_WAIT_FOREVER, &r, w, 2));
        CHECK_EQ(atomic_load(&early_ran), 8);
        CHECK_EQ(r.tasks, 8);
        CHECK_EQ(r.outside.tasks + w[0].tasks + w[1].tasks, 8);
        CHECK_EQ(r.overran, 1);
    }
    CHECK_OK(ctp_pool_destroy(p));
}

/* ---- the wall covers what ctp_tick_end's help ran ----------------------- */

typedef struct {
    _Atomic int blocking, release_worker, fired, small_done;
    _Atomic uint64_t big_ns; /* the callback's task, as it measured itself */
} wall_ctx;

static void wall_blocker(void *arg)
{
    wall_ctx *w = arg;
    atomic_store(&w->blocking, 1);
    while (!atomic_load(&w->release_worker))
        test_sleep_us(500);
}

/* The tick's own task: ends only once the callback runs, so the callback
 * is still running when the tick's group wait returns. */
static void wall_small(void *arg)
{
    wall_ctx *w = arg;
    (void)TEST_WAIT_UNTIL(atomic_load(&w->fired), 10000);
    test_burn_us(2000);
    atomic_store(&w->small_done, 1);
}

static void wall_big(void *arg)
{
    uint64_t t0 = test_now_ns();
    test_burn_us(20000);
    atomic_store(&((wall_ctx *)arg)->big_ns, test_now_ns() - t0);
}

static void wall_overrun(ctp_tick *tick, uint64_t elapsed_ns, void *ctx)
{
    (void)elapsed_ns;
    wall_ctx *w = ctx;
    atomic_store(&w->fired, 1);
    while (!atomic_load(&w->small_done))
        test_sleep_us(200);
    test_sleep_us(3000); /* the tick's group wait returns meanwhile */
    ctp_group_submit(ctp_tick_group(tick), CTP_PRIORITY_NORMAL, wall_big, w);
    test_sleep_us(2000); /* still firing: ctp_tick_end helps, and runs wall_big */
}

/* wall_ns is "ctp_tick_begin to the end of the wait in ctp_tick_end". The
 * end was read before ctp_tick_end waited out a running on_overrun, during
 * which it helps: a 20 ms task the callback submitted ran after the
 * recorded end (wall 2 ms, the outside thread busy 22 ms). */
void test_tick_wall_covers_tasks_run_while_overrun_runs(void)
{
    static wall_ctx w;
    memset(&w, 0, sizeof w);
    ctp_pool *p = make_pool(1);
    CHECK(p != NULL);
    CHECK_OK(ctp_submit(p, CTP_PRIORITY_NORMAL, wall_blocker, &w)); /* the only worker: busy */
    CHECK(TEST_WAIT_UNTIL(atomic_load(&w.blocking), 10000)); /* on it, not left for our wait to run */
    ctp_tick_options o = { .report = true, .budget_ns = 1 * MS, .on_overrun = wall_overrun, .overrun_ctx = &w };
    ctp_tick *t;
    CHECK_OK(ctp_tick_begin(p, &o, &t));
    CHECK_OK(ctp_group_submit(ctp_tick_group(t), CTP_PRIORITY_NORMAL, wall_small, &w));
    ctp_tick_report r;
    CHECK_OK(ctp_tick_end(t, CTP_WAIT_FOREVER, &r, NULL, 0));
    atomic_store(&w.release_worker, 1);
    CHECK_EQ(r.tasks, 2);
    CHECK(atomic_load(&w.big_ns) != 0);
    /* Invariants, not timings: every tick task ran inside the wall. */
    CHECK(r.wall_ns >= atomic_load(&w.big_ns));
    CHECK(r.wall_ns >= r.outside.busy_ns);
    CHECK_OK(ctp_pool_destroy(p));
}

/* ---- ctp_tick_end's timeout while on_overrun runs ---------------------- */

typedef struct {
    ctp_pool *pool;
    _Atomic int fired, release, stop, fed;
} feed_ctx;

enum { FEED_ROUNDS = 400 };

static void feed_task(void *arg)
{
    (void)arg;
    test_sleep_us(1000);
}

/* Work that keeps coming, from outside: three 1 ms tasks every millisecond
 * (more than the one worker and a helper take), for FEED_ROUNDS rounds or
 * until told to stop; then it lets the callback go. */
static void *feeder(void *arg)
{
    feed_ctx *f = arg;
    for (int i = 0; i < FEED_ROUNDS && !atomic_load(&f->stop); i++) {
        for (int k = 0; k < 3; k++)
            if (ctp_submit(f->pool, CTP_PRIORITY_NORMAL, feed_task, NULL) == CTP_OK)
                atomic_fetch_add(&f->fed, 1);
        test_sleep_us(1000);
    }
    atomic_store(&f->release, 1);
    return NULL;
}

static void feed_overrun(ctp_tick *tick, uint64_t elapsed_ns, void *ctx)
{
    (void)tick;
    (void)elapsed_ns;
    feed_ctx *f = ctx;
    atomic_store(&f->fired, 1);
    while (!atomic_load(&f->release))
        test_sleep_us(500);
}

/* ctp_tick_end waits for a running on_overrun "within timeout_ns". While
 * it did, it helped, and looked at the deadline only when it found no task:
 * with work that kept coming it returned CTP_OK once the callback ended
 * (the feeder's 400 ms) instead of CTP_ETIMEDOUT at 20 ms. */
void test_tick_end_times_out_while_overrun_runs(void)
{
    static feed_ctx f;
    memset(&f, 0, sizeof f);
    f.pool = make_pool(1);
    CHECK(f.pool != NULL);
    ctp_tick_options o = { .budget_ns = 1 * MS, .on_overrun = feed_overrun, .overrun_ctx = &f };
    ctp_tick *t;
    CHECK_OK(ctp_tick_begin(f.pool, &o, &t));
    CHECK(TEST_WAIT_UNTIL(atomic_load(&f.fired), 10000));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, feeder, &f), 0);
    CHECK(TEST_WAIT_UNTIL(atomic_load(&f.fed) >= 6, 10000)); /* a backlog to help with */
    int rc = ctp_tick_end(t, 20 * MS, NULL, NULL, 0);
    int released_before = atomic_load(&f.release);
    atomic_store(&f.stop, 1); /* the feeder stops and lets the callback go */
    pthread_join(th, NULL);
    CHECK_EQ(rc, CTP_ETIMEDOUT);
    CHECK_EQ(released_before, 0);
    CHECK_OK(ctp_tick_end(t, CTP_WAIT_FOREVER, NULL, NULL, 0)); /* the tick stayed open */
    CHECK_OK(ctp_pool_destroy(f.pool));
}

/* ---- a timed shutdown by a pinned queue's owner ------------------------ */

typedef struct {
    ctp_pool *pool;
    ctp_pinned *q;
    _Atomic int stop, links;
} pinned_chain;

enum { CHAIN_LINKS = 400 };

static void pinned_link(void *arg)
{
    pinned_chain *c = arg;
    test_sleep_us(1000);
    if (atomic_fetch_add(&c->links, 1) + 1 >= CHAIN_LINKS || atomic_load(&c->stop))
        return;
    ctp_task_desc d;
    ctp_task_desc_init(&d, pinned_link, c);
    d.pinned = c->q;
    ctp_submit_desc(c->pool, &d); /* from a task: accepted while draining */
}

/* A pinned queue's owner that shuts the pool down runs its queue meanwhile.
 * It ran it until empty before it looked at the deadline, so a pinned task
 * that posts itself again (a periodic main-thread job) kept a 10 ms
 * shutdown going for the whole chain (returning CTP_OK), and for ever for
 * an endless one. */
void test_shutdown_by_pinned_owner_keeps_its_timeout(void)
{
    static pinned_chain c;
    memset(&c, 0, sizeof c);
    c.pool = make_pool(1);
    CHECK(c.pool != NULL);
    CHECK_OK(ctp_pinned_create(c.pool, &c.q));
    ctp_task_desc d;
    ctp_task_desc_init(&d, pinned_link, &c);
    d.pinned = c.q;
    CHECK_OK(ctp_submit_desc(c.pool, &d));
    int rc = ctp_pool_shutdown(c.pool, CTP_SHUTDOWN_DRAIN, 10 * MS);
    int links = atomic_load(&c.links);
    atomic_store(&c.stop, 1);
    CHECK_EQ(rc, CTP_ETIMEDOUT);
    CHECK(links < CHAIN_LINKS);
    CHECK_OK(ctp_pool_shutdown(c.pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER)); /* runs the rest */
    CHECK_OK(ctp_pinned_destroy(c.q));
    CHECK_OK(ctp_pool_destroy(c.pool));
}

/* ---- argument rules ----------------------------------------------------- */

/* workers may be NULL only with capacity 0 (as ctp_pool_snapshot's out);
 * the tick stays open after the refusal. It was accepted, and the tick
 * freed. */
void test_tick_end_refuses_workers_null_with_capacity(void)
{
    ctp_pool *p = make_pool(1);
    CHECK(p != NULL);
    ctp_tick *t;
    CHECK_OK(ctp_tick_begin(p, NULL, &t));
    ctp_tick_report r;
    CHECK_EQ(ctp_tick_end(t, CTP_WAIT_FOREVER, &r, NULL, 2), CTP_EINVAL);
    CHECK_OK(ctp_tick_end(t, CTP_WAIT_FOREVER, &r, NULL, 0));
    CHECK_OK(ctp_pool_destroy(p));
}
