/* Scheduling behaviour: priorities, fork-join, parallel for, waking, shutdown. */
#include "harness.h"

#include "../../Sources/CThreadPool/pool.h"

#include <string.h>

/* ---- priorities ---- */

typedef struct {
    _Atomic int next;
    int order[256];
} order_log;

typedef struct {
    order_log *log;
    int tag;
} tagged;

static void log_task(void *arg)
{
    tagged *t = arg;
    int i = atomic_fetch_add(&t->log->next, 1);
    if (i < 256)
        t->log->order[i] = t->tag;
}

void test_priority_critical_runs_next(void)
{
    /* One worker busy, 100 LOW queued, then one CRITICAL: it runs next. */
    ctp_pool *pool = make_pool(1);
    CHECK(pool != NULL);
    gate g;
    gate_init(&g);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 1);
    order_log log = { 0 };
    tagged low[100], crit = { &log, 1000 };
    for (int i = 0; i < 100; i++) {
        low[i] = (tagged){ &log, i };
        CHECK_OK(ctp_submit(pool, CTP_PRIORITY_LOW, log_task, &low[i]));
    }
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_CRITICAL, log_task, &crit));
    gate_open(&g);
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    CHECK_EQ(atomic_load(&log.next), 101);
    CHECK_EQ(log.order[0], 1000);
    for (int i = 1; i < 101; i++) /* LOW in FIFO order after it */
        CHECK_EQ(log.order[i], i - 1);
    CHECK_OK(ctp_pool_destroy(pool));
}

typedef struct {
    ctp_pool *pool;
    order_log *log;
    tagged tags[5];
} local_prio_ctx;

static void submit_all_levels_locally(void *arg)
{
    /* From the worker: its own deques, lowest priority first. */
    local_prio_ctx *c = arg;
    for (int p = CTP_PRIORITY_IDLE; p >= CTP_PRIORITY_CRITICAL; p--) {
        c->tags[p] = (tagged){ c->log, p };
        ctp_submit(c->pool, (ctp_priority)p, log_task, &c->tags[p]);
    }
}

void test_priority_order_on_one_worker(void)
{
    ctp_pool *pool = make_pool(1);
    CHECK(pool != NULL);
    order_log log = { 0 };
    local_prio_ctx c = { .pool = pool, .log = &log };
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, submit_all_levels_locally, &c));
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    CHECK_EQ(atomic_load(&log.next), 5);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(log.order[i], i);
    CHECK_OK(ctp_pool_destroy(pool));
}

/* ---- groups ---- */

void test_group_wait_timeout_and_destroy_pending(void)
{
    ctp_pool *pool = make_pool(1);
    CHECK(pool != NULL);
    gate g;
    gate_init(&g);
    ctp_group *grp;
    CHECK_OK(ctp_group_create(pool, &grp));
    CHECK_OK(ctp_group_wait(grp, 0)); /* empty group: done */
    CHECK_OK(ctp_group_submit(grp, CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 1); /* on the worker, so this thread's wait cannot pick it up and help */
    CHECK_EQ(ctp_group_wait(grp, 20 * 1000 * 1000), CTP_ETIMEDOUT);
    CHECK_EQ(ctp_group_wait(grp, 0), CTP_ETIMEDOUT);
    CHECK_EQ(ctp_group_destroy(grp), CTP_EINVAL); /* pending: refused, still valid */
    gate_open(&g);
    CHECK_OK(ctp_group_wait(grp, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(grp));
    CHECK_OK(ctp_pool_destroy(pool));
}

typedef struct {
    ctp_pool *pool;
    int depth;
    _Atomic long *leaves;
} tree_arg;

static void tree_task(void *arg)
{
    tree_arg *a = arg;
    if (a->depth == 0) {
        atomic_fetch_add(a->leaves, 1);
        return;
    }
    ctp_group *g;
    if (ctp_group_create(a->pool, &g) != CTP_OK)
        return;
    tree_arg kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = (tree_arg){ a->pool, a->depth - 1, a->leaves };
        ctp_group_submit(g, CTP_PRIORITY_NORMAL, tree_task, &kids[i]);
    }
    ctp_group_wait(g, CTP_WAIT_FOREVER);
    ctp_group_destroy(g);
}

void test_nested_fork_join_one_worker(void)
{
    ctp_pool *pool = make_pool(1);
    CHECK(pool != NULL);
    _Atomic long leaves = 0;
    tree_arg root = { pool, 7, &leaves };
    ctp_group *g;
    CHECK_OK(ctp_group_create(pool, &g));
    CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_NORMAL, tree_task, &root));
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(g));
    CHECK_EQ(atomic_load(&leaves), 2187); /* 3^7 */
    CHECK_OK(ctp_pool_destroy(pool));
}

/* fib with a group per call and no cutoff. */
typedef struct {
    ctp_pool *pool;
    int n;
    long result;
} fib_arg;

static void fib_task(void *arg)
{
    fib_arg *a = arg;
    if (a->n < 2) {
        a->result = a->n;
        return;
    }
    fib_arg x = { a->pool, a->n - 1, 0 }, y = { a->pool, a->n - 2, 0 };
    ctp_group *g;
    if (ctp_group_create(a->pool, &g) != CTP_OK) {
        a->result = -1;
        return;
    }
    ctp_group_submit(g, CTP_PRIORITY_NORMAL, fib_task, &x);
    ctp_group_submit(g, CTP_PRIORITY_NORMAL, fib_task, &y);
    ctp_group_wait(g, CTP_WAIT_FOREVER);
    ctp_group_destroy(g);
    a->result = x.result + y.result;
}

static int fib_n(void)
{
    return test_scale >= 1.0 ? 32 : 27;
}

static long fib_ref(int n)
{
    long a = 0, b = 1;
    for (int i = 0; i < n; i++) {
        long t = a + b;
        a = b;
        b = t;
    }
    return a;
}

void test_fib32_group_per_call_from_worker(void)
{
    /* Root submitted to the pool; every wait happens on workers. */
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    test_watch_pool(pool);
    fib_arg root = { pool, fib_n(), 0 };
    ctp_group *g;
    CHECK_OK(ctp_group_create(pool, &g));
    CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_NORMAL, fib_task, &root));
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(g));
    CHECK_EQ(root.result, fib_ref(fib_n()));
    test_watch_pool(NULL);
    CHECK_OK(ctp_pool_destroy(pool));
}

void test_fib32_group_per_call_from_outside(void)
{
    /* The caller runs the root itself, so its wait helps from outside. */
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    fib_arg root = { pool, fib_n(), 0 };
    fib_task(&root);
    CHECK_EQ(root.result, fib_ref(fib_n()));
    /* Tasks the helping caller ran are counted like the workers' ones. */
    ctp_stats st;
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.executed, st.submitted);
    CHECK_EQ(st.executed_by_priority[CTP_PRIORITY_NORMAL], st.executed);
    CHECK_OK(ctp_pool_destroy(pool));
}

/* An outside thread nested 64 tasks deep (CTP__OUTSIDE_HELP_DEPTH) helps
 * no more with other work, but still runs the children it waits for, which
 * sit in the injection queue: here the only worker is too deep in its stack
 * to take them (it waits, past three quarters of its stack, for a task
 * pinned to the test thread). Before, the outside thread blocked at the cap
 * and nobody ran them: a hang. The chain goes 70 deep; every level's child
 * runs on the test thread. */
typedef struct {
    ctp_pool *pool;
    ctp_group *deep_wait;
    pthread_t self;
    _Atomic int deep, wait_rc, elsewhere, levels, failed;
} cap_chain;

typedef struct {
    cap_chain *c;
    int level;
} cap_level;

static void cap_level_task(void *arg)
{
    cap_level *l = arg;
    cap_chain *c = l->c;
    atomic_fetch_add(&c->levels, 1);
    if (!pthread_equal(pthread_self(), c->self))
        atomic_fetch_add(&c->elsewhere, 1);
    if (l->level == 70)
        return;
    cap_level next = { c, l->level + 1 };
    ctp_group *g;
    if (ctp_group_create(c->pool, &g) != CTP_OK || ctp_group_submit(g, CTP_PRIORITY_NORMAL, cap_level_task, &next) != CTP_OK) {
        atomic_store(&c->failed, 1);
        return;
    }
    if (ctp_group_wait(g, CTP_WAIT_FOREVER) != CTP_OK || ctp_group_destroy(g) != CTP_OK)
        atomic_store(&c->failed, 1);
}

static int cap_deep_wait(void *arg)
{
    cap_chain *c = arg;
    atomic_store(&c->deep, 1);
    atomic_store(&c->wait_rc, ctp_group_wait(c->deep_wait, CTP_WAIT_FOREVER));
    return 0;
}

/* Waits with under a quarter of the worker's stack free (2 KiB past the
 * limit). */
static void cap_deep_task(void *arg)
{
    cap_chain *c = arg;
    (void)test_below_stack_address(ctp__current_worker(c->pool)->stack_limit - 2048, cap_deep_wait, arg);
}

void test_outside_helper_at_depth_cap_runs_own_children(void)
{
    static cap_chain c;
    memset(&c, 0, sizeof c);
    c.pool = make_pool_stack(1, 256 * 1024);
    CHECK(c.pool != NULL);
    test_watch_pool(c.pool);
    c.self = pthread_self();
    atomic_store(&c.wait_rc, 99);
    ctp_pinned *mine;
    CHECK_OK(ctp_pinned_create(c.pool, &mine));
    CHECK_OK(ctp_group_create(c.pool, &c.deep_wait));
    static cap_level first;
    first = (cap_level){ &c, 1 };
    ctp_task_desc d;
    ctp_task_desc_init(&d, cap_level_task, &first);
    d.group = c.deep_wait;
    d.pinned = mine; /* the worker cannot run the chain's first level */
    CHECK_OK(ctp_submit_desc(c.pool, &d));
    ctp_group *outer;
    CHECK_OK(ctp_group_create(c.pool, &outer));
    CHECK_OK(ctp_group_submit(outer, CTP_PRIORITY_NORMAL, cap_deep_task, &c));
    CHECK(TEST_WAIT_UNTIL(atomic_load(&c.deep) == 1, 10000));
    test_sleep_us(2000); /* the worker is in its wait */
    CHECK_OK(ctp_group_wait(c.deep_wait, CTP_WAIT_FOREVER)); /* runs the chain here */
    CHECK_OK(ctp_group_wait(outer, CTP_WAIT_FOREVER));
    CHECK_OK(atomic_load(&c.wait_rc));
    CHECK_EQ(atomic_load(&c.failed), 0);
    CHECK_EQ(atomic_load(&c.levels), 70);
    CHECK_EQ(atomic_load(&c.elsewhere), 0);
    CHECK_OK(ctp_group_destroy(outer));
    CHECK_OK(ctp_group_destroy(c.deep_wait));
    CHECK_OK(ctp_pinned_destroy(mine));
    test_watch_pool(NULL);
    CHECK_OK(ctp_pool_destroy(c.pool));
}

/* ---- parallel for ---- */

typedef struct {
    _Atomic unsigned char *hits;
} pfor_ctx;

static void mark_range(size_t b, size_t e, void *ctx)
{
    pfor_ctx *c = ctx;
    for (size_t i = b; i < e; i++)
        atomic_fetch_add(&c->hits[i], 1);
}

void test_parallel_for_covers_range_once(void)
{
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    size_t n = 100003;
    _Atomic unsigned char *hits = calloc(n + 10, 1);
    pfor_ctx c = { hits };
    size_t grains[] = { 0, 1, 7, 1000, n, n * 2 };
    for (size_t gi = 0; gi < sizeof grains / sizeof grains[0]; gi++) {
        memset((void *)hits, 0, n + 10);
        CHECK_OK(ctp_parallel_for(pool, 5, n, grains[gi], mark_range, &c));
        for (size_t i = 0; i < n + 10; i++)
            CHECK_EQ(atomic_load(&hits[i]), (i >= 5 && i < n) ? 1 : 0);
    }
    CHECK_OK(ctp_parallel_for(pool, 9, 9, 0, mark_range, &c)); /* empty */
    /* After a shutdown, from outside: refused whatever the chunk count (one
     * chunk used to run the body and return CTP_OK), body not called. */
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    memset((void *)hits, 0, n + 10);
    CHECK_EQ(ctp_parallel_for(pool, 0, 1, 1, mark_range, &c), CTP_ESHUTDOWN);
    CHECK_EQ(ctp_parallel_for(pool, 7, 7, 1, mark_range, &c), CTP_ESHUTDOWN); /* whatever the range */
    CHECK_EQ(ctp_parallel_for(pool, 0, 100, 100, mark_range, &c), CTP_ESHUTDOWN);
    CHECK_EQ(ctp_parallel_for(pool, 0, 1000, 1, mark_range, &c), CTP_ESHUTDOWN);
    for (size_t i = 0; i < 1000; i++)
        CHECK_EQ(atomic_load(&hits[i]), 0);
    free((void *)hits);
    CHECK_OK(ctp_pool_destroy(pool));
}

/* ---- waking ---- */

void test_backoff_interrupted_by_submit(void)
{
    /* A 30 s timed backoff: if a submission could not interrupt it, this test
     * would take 30 s per round and trip the hang detector. */
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 2;
    c.spin_ns = 0;
    c.backoff_ns = 30ull * 1000 * 1000 * 1000;
    ctp_pool *pool;
    CHECK_OK(ctp_pool_create(&c, &pool));
    _Atomic long n = 0;
    for (int round = 0; round < 20; round++) {
        wait_parked(pool, 2);
        CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, count_task, &n));
        while (atomic_load(&n) != round + 1)
            test_sleep_us(50);
    }
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.backoff_timeouts, 0);
    CHECK(st.wakeups >= 20);
    CHECK_OK(ctp_pool_destroy(pool));
}

void test_parked_pool_makes_no_wakeups(void)
{
    /* Idle means parked with no timeout: no wake-ups, no timed waits. */
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    _Atomic long n = 0;
    for (int i = 0; i < 1000; i++)
        CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, count_task, &n));
    while (atomic_load(&n) != 1000)
        test_sleep_us(100);
    wait_parked(pool, 2);
    ctp_stats a, b;
    CHECK_OK(ctp_pool_stats(pool, &a));
    test_sleep_us(300000);
    CHECK_OK(ctp_pool_stats(pool, &b));
    CHECK_EQ(b.parks, a.parks);
    CHECK_EQ(b.wakeups, a.wakeups);
    CHECK_EQ(b.backoff_timeouts, 0);
    CHECK_EQ(b.parked, 2);
    CHECK_OK(ctp_pool_destroy(pool));
}

void test_single_submit_wakes_one_worker(void)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 4;
    c.spin_ns = 0;
    ctp_pool *pool;
    CHECK_OK(ctp_pool_create(&c, &pool));
    _Atomic long n = 0;
    for (int round = 0; round < 50; round++) {
        wait_parked(pool, 4);
        ctp_stats a, b;
        ctp_pool_stats(pool, &a);
        CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, count_task, &n));
        while (atomic_load(&n) != round + 1)
            test_sleep_us(20);
        wait_parked(pool, 4);
        ctp_pool_stats(pool, &b);
        /* One submit, all parked: exactly one worker is woken. */
        CHECK_EQ(b.wakeups - a.wakeups, 1);
    }
    CHECK_OK(ctp_pool_destroy(pool));
}

void test_batch_wakes_up_to_fanout(void)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 6;
    c.spin_ns = 0;
    c.wake_fanout = 3;
    ctp_pool *pool;
    CHECK_OK(ctp_pool_create(&c, &pool));
    gate gates[11]; /* one per round: a finishing task may still touch its gate */
    ctp_task_desc d[6];
    for (int round = 0; round < 10; round++) {
        gate *gp = &gates[round];
        wait_parked(pool, 6);
        gate_init(gp);
        for (int i = 0; i < 6; i++)
            ctp_task_desc_init(&d[i], gate_task, gp);
        ctp_stats a, b;
        ctp_pool_stats(pool, &a);
        /* Batch of 2: wakes exactly 2 (less than fan-out). */
        CHECK_OK(ctp_submit_batch(pool, d, 2));
        wait_entered(gp, 2);
        ctp_pool_stats(pool, &b);
        CHECK(b.wakeups - a.wakeups >= 2);
        CHECK(b.wakeups - a.wakeups <= 3); /* at most one more, from the last-searcher hand-off */
        gate_open(gp);
    }
    gate *gp = &gates[10];
    for (int i = 0; i < 6; i++)
        ctp_task_desc_init(&d[i], gate_task, gp);
    /* Batch of 6 with fan-out 3: the first wave is 3; the rest follow by
     * searchers handing work on. All 6 run. */
    wait_parked(pool, 6);
    gate_init(gp);
    CHECK_OK(ctp_submit_batch(pool, d, 6));
    wait_entered(gp, 6);
    gate_open(gp);
    CHECK_OK(ctp_pool_destroy(pool));
}

/* ---- shutdown ---- */

typedef struct {
    ctp_pool *pool;
    _Atomic long ran;
    _Atomic long cancelled;
    int depth;
} spawn_tree;

static void on_cancel_count(void *arg)
{
    atomic_fetch_add(&((spawn_tree *)arg)->cancelled, 1);
}

static void spawn_tree_task(void *arg)
{
    spawn_tree *s = arg;
    long me = atomic_fetch_add(&s->ran, 1);
    if (me < 2000) {
        ctp_task_desc d;
        ctp_task_desc_init(&d, spawn_tree_task, s);
        d.on_cancel = on_cancel_count;
        ctp_submit_desc(s->pool, &d);
        ctp_submit_desc(s->pool, &d);
    }
}

void test_shutdown_drain_runs_spawned_tasks(void)
{
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    spawn_tree s = { .pool = pool };
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, spawn_tree_task, &s));
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    /* Every task ran: 1 root + 2 per task that spawned (ids 0..1999). */
    CHECK_EQ(atomic_load(&s.ran), 1 + 2 * 2000);
    CHECK_EQ(atomic_load(&s.cancelled), 0);
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.executed, st.submitted);
    CHECK_OK(ctp_pool_destroy(pool));
}

void test_shutdown_cancel_calls_on_cancel(void)
{
    ctp_pool *pool = make_pool(1);
    CHECK(pool != NULL);
    gate g;
    gate_init(&g);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 1);
    spawn_tree s = { .pool = pool };
    ctp_task_desc d;
    ctp_task_desc_init(&d, spawn_tree_task, &s);
    d.on_cancel = on_cancel_count;
    for (int i = 0; i < 500; i++)
        CHECK_OK(ctp_submit_desc(pool, &d));
    ctp_task_desc_init(&d, noop, NULL); /* no on_cancel: dropped quietly, still counted */
    for (int i = 0; i < 10; i++)
        CHECK_OK(ctp_submit_desc(pool, &d));
    CHECK_EQ(ctp_pool_shutdown(pool, CTP_SHUTDOWN_CANCEL, 0), CTP_ETIMEDOUT); /* gate still running */
    CHECK_EQ(ctp_submit(pool, CTP_PRIORITY_NORMAL, noop, NULL), CTP_ESHUTDOWN);
    gate_open(&g);
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_CANCEL, CTP_WAIT_FOREVER));
    CHECK_EQ(atomic_load(&s.ran), 0);
    CHECK_EQ(atomic_load(&s.cancelled), 500);
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.executed, 1);
    CHECK_EQ(st.cancelled, 510);
    CHECK_EQ(st.submitted, 511);
    CHECK_OK(ctp_pool_destroy(pool));
}

void test_shutdown_timeout_keeps_pool_valid(void)
{
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    gate g;
    gate_init(&g);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 1);
    CHECK_EQ(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, 10 * 1000 * 1000), CTP_ETIMEDOUT);
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(pool, &st)); /* still valid */
    CHECK_EQ(st.workers, 2);
    CHECK_EQ(ctp_submit(pool, CTP_PRIORITY_NORMAL, noop, NULL), CTP_ESHUTDOWN);
    gate_open(&g);
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_pool_destroy(pool));
}

/* A worker that runs out of work tells a waiting shutdown at once, not
 * only when it parks: with spin_ns at its 1 s maximum, the last task's end
 * left the shutdown waiting out the whole spin (helper-38's attack,
 * 2026-12-03: a DRAIN with a 200 ms timeout sat out all of it, and one
 * with none returned 1 s late). Counted, not timed: the shutdown must
 * stop the worker before it parks, i.e. inside its spin (the old code
 * returned only once the spin ended in a park, so parks rose by one). */
void test_shutdown_not_held_by_spinning_worker(void)
{
    ctp_config cfg;
    ctp_config_init(&cfg);
    cfg.workers = 1;
    cfg.spin_ns = 1000 * 1000 * 1000;
    ctp_pool *pool = NULL;
    CHECK_OK(ctp_pool_create(&cfg, &pool));
    gate g;
    gate_init(&g);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 1);
    ctp_stats before, after;
    CHECK_OK(ctp_pool_stats(pool, &before));
    CHECK_EQ(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, 0), CTP_ETIMEDOUT); /* DRAINING now */
    gate_open(&g);
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER)); /* joins the worker */
    CHECK_OK(ctp_pool_stats(pool, &after));
    CHECK_EQ(after.executed, 1);
    CHECK_EQ(after.parks, before.parks);
    CHECK_OK(ctp_pool_destroy(pool));
}

typedef struct {
    ctp_pool *pool;
    int destroy_rc, shutdown_wait_rc, shutdown_nowait_rc, submit_rc;
    _Atomic int done;
} self_ctx;

static void self_destroy_task(void *arg)
{
    self_ctx *c = arg;
    c->destroy_rc = ctp_pool_destroy(c->pool);
    c->shutdown_wait_rc = ctp_pool_shutdown(c->pool, CTP_SHUTDOWN_DRAIN, 1000);
    c->shutdown_nowait_rc = ctp_pool_shutdown(c->pool, CTP_SHUTDOWN_DRAIN, 0);
    c->submit_rc = ctp_submit(c->pool, CTP_PRIORITY_NORMAL, noop, NULL); /* inside: accepted */
    atomic_store(&c->done, 1);
}

void test_shutdown_and_destroy_from_worker(void)
{
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    self_ctx c = { .pool = pool };
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, self_destroy_task, &c));
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    CHECK_EQ(atomic_load(&c.done), 1);
    CHECK_EQ(c.destroy_rc, CTP_EDEADLK);
    CHECK_EQ(c.shutdown_wait_rc, CTP_EDEADLK);
    CHECK_EQ(c.shutdown_nowait_rc, CTP_ETIMEDOUT);
    CHECK_EQ(c.submit_rc, CTP_OK);
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.executed, 2);
    CHECK_OK(ctp_pool_destroy(pool));
}

/* The same from a task of another pool B that pool A's worker runs while
 * its A task helps in a wait on a B group: the thread is still inside A
 * (the A task is further up its stack), so A's destroy and waiting shutdown
 * refuse with CTP_EDEADLK. They used to see only B: the shutdown waited out
 * its timeout and the destroy waited forever for the task below it. */
typedef struct {
    ctp_pool *a, *b;
    self_ctx c;
    gate hold_b;
    pthread_t a_worker;
    _Atomic int on_a_worker;
    _Atomic int b_index, b_node, a_index_after; /* ctp_worker_index / ctp_current_node seen */
} cross_ctx;

static void b_task_on_a_worker(void *arg)
{
    cross_ctx *x = arg;
    atomic_store(&x->on_a_worker, pthread_equal(pthread_self(), x->a_worker) ? 1 : -1);
    atomic_store(&x->b_index, ctp_worker_index()); /* not a worker of B: -1 */
    atomic_store(&x->b_node, ctp_current_node());
    self_destroy_task(&x->c); /* c.pool is A */
}

static void a_task_helping_b(void *arg)
{
    cross_ctx *x = arg;
    x->a_worker = pthread_self();
    ctp_group *g;
    if (ctp_group_create(x->b, &g) != CTP_OK)
        return;
    ctp_group_submit(g, CTP_PRIORITY_NORMAL, b_task_on_a_worker, x);
    ctp_group_wait(g, CTP_WAIT_FOREVER); /* B's worker is held: this wait runs it */
    atomic_store(&x->a_index_after, ctp_worker_index()); /* back in A's task: A's index */
    ctp_group_destroy(g);
}

void test_shutdown_and_destroy_from_another_pools_task_inside(void)
{
    static cross_ctx x;
    memset(&x, 0, sizeof x);
    atomic_store(&x.a_index_after, -2);
    x.a = make_pool(1);
    x.b = make_pool(1);
    CHECK(x.a != NULL && x.b != NULL);
    x.c.pool = x.a;
    gate_init(&x.hold_b);
    CHECK_OK(ctp_submit(x.b, CTP_PRIORITY_NORMAL, gate_task, &x.hold_b));
    wait_entered(&x.hold_b, 1);
    CHECK_OK(ctp_submit(x.a, CTP_PRIORITY_NORMAL, a_task_helping_b, &x));
    CHECK(TEST_WAIT_UNTIL(atomic_load(&x.c.done) == 1, 20000));
    CHECK_EQ(atomic_load(&x.on_a_worker), 1);
    CHECK_EQ(atomic_load(&x.b_index), -1);
    CHECK_EQ(atomic_load(&x.b_node), -1);
    CHECK(TEST_WAIT_UNTIL(atomic_load(&x.a_index_after) == 0, 20000));
    CHECK_EQ(x.c.destroy_rc, CTP_EDEADLK);
    CHECK_EQ(x.c.shutdown_wait_rc, CTP_EDEADLK);
    CHECK_EQ(x.c.shutdown_nowait_rc, CTP_ETIMEDOUT);
    CHECK_EQ(x.c.submit_rc, CTP_OK); /* inside A: accepted while it drains */
    gate_open(&x.hold_b);
    CHECK_OK(ctp_pool_shutdown(x.a, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_pool_destroy(x.a));
    CHECK_OK(ctp_pool_destroy(x.b));
}

/* A task that waits on its own group (or ends its own tick) would wait for
 * itself: CTP_EDEADLK at once, whether a worker, an outside thread's
 * helping wait, or another pool's worker helping there runs it. It used to
 * hang (a timed wait timed out). */
typedef struct {
    ctp_pool *a, *b;
    ctp_group *g;  /* A's group of the task that waits */
    ctp_tick *tick;
    _Atomic int rc_direct, rc_timed, rc_tick, rc_cross, done;
} selfwait_ctx;

static void wait_own_group(void *arg)
{
    selfwait_ctx *x = arg;
    atomic_store(&x->rc_direct, ctp_group_wait(x->g, CTP_WAIT_FOREVER));
    atomic_store(&x->rc_timed, ctp_group_wait(x->g, 0));
    atomic_fetch_add(&x->done, 1);
}

static void end_own_tick(void *arg)
{
    selfwait_ctx *x = arg;
    atomic_store(&x->rc_tick, ctp_tick_end(x->tick, CTP_WAIT_FOREVER, NULL, NULL, 0));
    atomic_fetch_add(&x->done, 1);
}

static void b_waits_on_a_group(void *arg)
{
    selfwait_ctx *x = arg;
    atomic_store(&x->rc_cross, ctp_group_wait(x->g, CTP_WAIT_FOREVER));
}

static void a_task_helps_b(void *arg)
{
    selfwait_ctx *x = arg;
    ctp_group *bg;
    if (ctp_group_create(x->b, &bg) != CTP_OK)
        return;
    ctp_group_submit(bg, CTP_PRIORITY_NORMAL, b_waits_on_a_group, x);
    ctp_group_wait(bg, CTP_WAIT_FOREVER); /* B's worker is held: this wait runs it */
    ctp_group_destroy(bg);
    atomic_fetch_add(&x->done, 1);
}

void test_group_wait_on_own_group_is_edeadlk(void)
{
    static selfwait_ctx x;
    memset(&x, 0, sizeof x);
    x.a = make_pool(2);
    x.b = make_pool(1);
    CHECK(x.a != NULL && x.b != NULL);
    /* On a worker. */
    CHECK_OK(ctp_group_create(x.a, &x.g));
    CHECK_OK(ctp_group_submit(x.g, CTP_PRIORITY_NORMAL, wait_own_group, &x));
    CHECK(TEST_WAIT_UNTIL(atomic_load(&x.done) == 1, 20000));
    CHECK_EQ(atomic_load(&x.rc_direct), CTP_EDEADLK);
    CHECK_EQ(atomic_load(&x.rc_timed), CTP_EDEADLK);
    CHECK_OK(ctp_group_wait(x.g, CTP_WAIT_FOREVER));
    /* Run by this thread's helping wait (both workers held). */
    gate hold;
    gate_init(&hold);
    CHECK_OK(ctp_submit(x.a, CTP_PRIORITY_NORMAL, gate_task, &hold));
    CHECK_OK(ctp_submit(x.a, CTP_PRIORITY_NORMAL, gate_task, &hold));
    wait_entered(&hold, 2);
    atomic_store(&x.rc_direct, 0);
    CHECK_OK(ctp_group_submit(x.g, CTP_PRIORITY_NORMAL, wait_own_group, &x));
    CHECK_OK(ctp_group_wait(x.g, CTP_WAIT_FOREVER));
    CHECK_EQ(atomic_load(&x.done), 2);
    CHECK_EQ(atomic_load(&x.rc_direct), CTP_EDEADLK);
    gate_open(&hold);
    /* A tick ended from its own task. */
    CHECK_OK(ctp_tick_begin(x.a, NULL, &x.tick));
    CHECK_OK(ctp_group_submit(ctp_tick_group(x.tick), CTP_PRIORITY_NORMAL, end_own_tick, &x));
    CHECK(TEST_WAIT_UNTIL(atomic_load(&x.done) == 3, 20000));
    CHECK_EQ(atomic_load(&x.rc_tick), CTP_EDEADLK);
    CHECK_OK(ctp_tick_end(x.tick, CTP_WAIT_FOREVER, NULL, NULL, 0)); /* still open: ends here */
    /* A's task in g helps a wait on B and runs B's task, which waits on g. */
    gate hold_b;
    gate_init(&hold_b);
    CHECK_OK(ctp_submit(x.b, CTP_PRIORITY_NORMAL, gate_task, &hold_b));
    wait_entered(&hold_b, 1);
    CHECK_OK(ctp_group_submit(x.g, CTP_PRIORITY_NORMAL, a_task_helps_b, &x));
    CHECK(TEST_WAIT_UNTIL(atomic_load(&x.done) == 4, 20000));
    CHECK_EQ(atomic_load(&x.rc_cross), CTP_EDEADLK);
    gate_open(&hold_b);
    /* Nested fork-join on another group still waits as before. */
    CHECK_OK(ctp_group_wait(x.g, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(x.g));
    CHECK_OK(ctp_pool_destroy(x.a));
    CHECK_OK(ctp_pool_destroy(x.b));
}

/* The same deeper than 16 nested runs: an outside thread whose helping
 * waits run each level (the only worker is held), every level waiting on
 * its own group. The lists keep the innermost runs, the likeliest to wait
 * on their own group: they used to keep the outermost 16, and from the
 * 17th level on the wait timed out (or hung). */
typedef struct nest_level {
    ctp_pool *pool;
    int depth;
    ctp_group *own;
    int *rc_at;
} nest_level;

static void nest_wait_own(void *arg)
{
    nest_level *me = arg;
    me->rc_at[me->depth] = ctp_group_wait(me->own, 50ull * 1000 * 1000);
    if (me->depth == 23)
        return;
    nest_level child = { me->pool, me->depth + 1, NULL, me->rc_at };
    if (ctp_group_create(me->pool, &child.own) != CTP_OK)
        return;
    ctp_group_submit(child.own, CTP_PRIORITY_NORMAL, nest_wait_own, &child);
    ctp_group_wait(child.own, CTP_WAIT_FOREVER); /* runs the child, nested */
    ctp_group_destroy(child.own);
}

void test_group_wait_on_own_group_deeply_nested(void)
{
    ctp_pool *pool = make_pool(1);
    CHECK(pool != NULL);
    gate hold;
    gate_init(&hold);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, gate_task, &hold));
    wait_entered(&hold, 1);
    int rc_at[24];
    for (int i = 0; i < 24; i++)
        rc_at[i] = 1;
    nest_level top = { pool, 0, NULL, rc_at };
    CHECK_OK(ctp_group_create(pool, &top.own));
    CHECK_OK(ctp_group_submit(top.own, CTP_PRIORITY_NORMAL, nest_wait_own, &top));
    CHECK_OK(ctp_group_wait(top.own, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(top.own));
    for (int i = 0; i < 24; i++)
        CHECK_EQ(rc_at[i], CTP_EDEADLK);
    gate_open(&hold);
    CHECK_OK(ctp_pool_destroy(pool));
}

void test_create_destroy_cycles_leave_nothing(void)
{
    /* The base is taken once the count is steady: an earlier test's
     * joined threads can still be listed in /proc/self/task for a moment
     * (see below), and one that dropped out during the cycles made the
     * count end below the base (2 against 3, once in a run of the suite). */
    int base = test_thread_count();
    for (int stable = 0, i = 0; stable < 5 && i < 1000; i++) {
        test_sleep_us(2000);
        int n = test_thread_count();
        stable = n == base ? stable + 1 : 0;
        base = n;
    }
    long cycles = scaled(10000);
    for (long i = 0; i < cycles; i++) {
        ctp_pool *pool = make_pool_stack(1 + (size_t)(i % 3), 256 * 1024);
        CHECK(pool != NULL);
        if (i % 2 == 0)
            CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, noop, NULL));
        CHECK_OK(ctp_pool_destroy(pool));
    }
    /* pthread_join returns when the thread has finished, which the kernel
     * signals a moment before it drops the thread from /proc/self/task: give
     * the last one up to a second. A leaked worker never leaves. */
    int now = test_thread_count();
    for (int i = 0; i < 1000 && now != base; i++) {
        test_sleep_us(1000);
        now = test_thread_count();
    }
    CHECK_EQ(now, base);
}
