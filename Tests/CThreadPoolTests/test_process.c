/* What a pool does when its process forks or one of its workers exits
 * (issue 12, item 9). */
#include "harness.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void exit_task(void *arg)
{
    (void)arg;
    pthread_exit(NULL);
}

/* A task that calls pthread_exit: the worker is reported lost, its task
 * counts as finished, the group's wait returns, the other worker runs the
 * rest, and shutdown completes (it used to time out forever). */
void test_worker_exit_inside_task_is_reported(void)
{
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    ctp_group *g;
    CHECK_OK(ctp_group_create(pool, &g));
    _Atomic long ran = 0;
    CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_HIGH, exit_task, NULL));
    /* Not from this thread's helping wait (it would exit this thread): let
     * a worker take it first. */
    ctp_stats st;
    do {
        test_sleep_us(200);
        CHECK_OK(ctp_pool_stats(pool, &st));
    } while (st.workers_lost == 0);
    for (int i = 0; i < 100; i++)
        CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_NORMAL, count_task, &ran));
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(g));
    CHECK_EQ(atomic_load(&ran), 100);
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.workers_lost, 1);
    /* The pool still runs work on the worker it has left. */
    for (int i = 0; i < 100; i++)
        CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, count_task, &ran));
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, 10ull * 1000 * 1000 * 1000));
    CHECK_EQ(atomic_load(&ran), 200);
    CHECK_OK(ctp_pool_destroy(pool));
}

/* Workers lost inside a task and inside an on_cancel during a cancelling
 * shutdown: the first counts as executed at its priority, the second as
 * cancelled, and the totals add up. The cleanup handler counted both as
 * executed, and neither by priority. */
static void exit_on_cancel(void *arg)
{
    (void)arg;
    pthread_exit(NULL);
}

void test_worker_lost_counts_by_what_it_ran(void)
{
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_HIGH, exit_task, NULL));
    ctp_stats st;
    do {
        test_sleep_us(200);
        CHECK_OK(ctp_pool_stats(pool, &st));
    } while (st.workers_lost == 0);
    gate g;
    gate_init(&g);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 1); /* the other worker is busy: the next task stays queued */
    ctp_task_desc d;
    ctp_task_desc_init(&d, noop, NULL);
    d.on_cancel = exit_on_cancel;
    d.priority = CTP_PRIORITY_LOW;
    CHECK_OK(ctp_submit_desc(pool, &d));
    CHECK_EQ(ctp_pool_shutdown(pool, CTP_SHUTDOWN_CANCEL, 0), CTP_ETIMEDOUT);
    gate_open(&g);
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_CANCEL, 10ull * 1000 * 1000 * 1000));
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.workers_lost, 2);
    CHECK_EQ(st.executed, 2);
    CHECK_EQ(st.cancelled, 1);
    CHECK_EQ(st.submitted, st.executed + st.cancelled);
    uint64_t by_priority = 0;
    for (int p = 0; p < CTP_PRIORITY_COUNT; p++)
        by_priority += st.executed_by_priority[p];
    CHECK_EQ(by_priority, st.executed);
    CHECK_EQ(st.executed_by_priority[CTP_PRIORITY_HIGH], 1);
    CHECK_OK(ctp_pool_destroy(pool));
}

/* The thread that called ctp_parallel_for exits inside a chunk (a worker,
 * then a thread of the test's own): no chunk starts after, the runners on
 * the other worker end, and the call's group and state are freed, so the
 * pool is destroyed. Before, the runners read the state from the dead
 * thread's stack (a crash at -O2: a call through a NULL body) and the group
 * was never destroyed (ctp_pool_destroy refused for ever). */
typedef struct {
    _Atomic(pthread_t) caller;
    _Atomic int exited;
    _Atomic long elsewhere;
    ctp_pool *pool;
} pfor_exit;

static void pfor_exit_body(size_t b, size_t e, void *ctx)
{
    pfor_exit *p = ctx;
    if (pthread_equal(pthread_self(), atomic_load(&p->caller))) {
        atomic_store(&p->exited, 1);
        pthread_exit(NULL);
    }
    test_sleep_us(5000); /* the caller claims a chunk meanwhile */
    atomic_fetch_add(&p->elsewhere, (long)(e - b));
}

static void pfor_exit_call(pfor_exit *p)
{
    atomic_store(&p->caller, pthread_self());
    ctp_parallel_for(p->pool, 0, 8, 1, pfor_exit_body, p);
    abort(); /* not reached: the caller claims a chunk and exits */
}

static void pfor_exit_task(void *arg)
{
    pfor_exit_call(arg);
}

static void *pfor_exit_thread(void *arg)
{
    pfor_exit_call(arg);
    return NULL;
}

void test_parallel_for_caller_exits_inside(void)
{
    for (int outside = 0; outside < 2; outside++) {
        static pfor_exit p;
        p.pool = make_pool(2);
        CHECK(p.pool != NULL);
        atomic_store(&p.exited, 0);
        atomic_store(&p.elsewhere, 0);
        if (outside) {
            pthread_t th;
            CHECK_EQ(pthread_create(&th, NULL, pfor_exit_thread, &p), 0);
            CHECK_EQ(pthread_join(th, NULL), 0);
        } else {
            CHECK_OK(ctp_submit(p.pool, CTP_PRIORITY_NORMAL, pfor_exit_task, &p));
        }
        CHECK_OK(ctp_pool_shutdown(p.pool, CTP_SHUTDOWN_DRAIN, 10ull * 1000 * 1000 * 1000));
        CHECK_EQ(atomic_load(&p.exited), 1);
        CHECK(atomic_load(&p.elsewhere) < 8); /* the caller's chunk never ended */
        ctp_stats st;
        CHECK_OK(ctp_pool_stats(p.pool, &st));
        CHECK_EQ(st.workers_lost, outside ? 0 : 1);
        CHECK_OK(ctp_pool_destroy(p.pool));
    }
}

#if defined(__SANITIZE_THREAD__)
#define TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif

/* The worker that tasks of node 0 go to: the tests below need requests on
 * one worker only, and a node-less single task would go to whichever
 * worker parked last (the idle stack is newest first), which can be the
 * other worker every time: the test then looped until its time ran out. */
typedef struct {
    _Atomic long count;
    int worker; /* the node-0 worker's index */
} one_worker;

static void cancel_self_task(void *arg)
{
    one_worker *o = arg;
    /* Only on that worker: on the test's thread the request would act at
     * its next sleep, and the other worker must stay to finish the test.
     * Deferred: pending until a cancellation point. */
    if (ctp_worker_index() == o->worker) {
        pthread_cancel(pthread_self());
        atomic_fetch_add(&o->count, 1);
    }
}

#ifndef ASAN
static void testcancel_task(void *arg)
{
    one_worker *o = arg;
    if (ctp_worker_index() == o->worker)
        atomic_fetch_add(&o->count, 1);
    pthread_testcancel(); /* a cancellation point inside a task */
}
#endif

/* Submits fn(o) for node 0's worker (the other worker leaves it alone for
 * the pool's remote steal delay, 100 ms). */
static void submit_to_node0(ctp_pool *pool, ctp_task_fn fn, one_worker *o)
{
    ctp_task_desc d;
    ctp_task_desc_init(&d, fn, o);
    d.node = 0;
    CHECK_OK(ctp_submit_desc(pool, &d));
}

/* Tasks leave cancel requests pending on a worker and return. The
 * runtime's own waits are no cancellation points: the workers park and
 * wake as usual (the request used to act in the park's condition wait,
 * ending the thread with the sleep lock held: the next submission hung).
 * A request then acts inside the first task on its worker that reaches a
 * cancellation point: that worker is lost there, as documented. */
void test_pending_cancel_acts_only_inside_a_task(void)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 2;
    c.topology = "0;1"; /* a worker per simulated node */
    c.remote_steal_delay_ns = 100ull * 1000 * 1000;
    ctp_pool *pool = NULL;
    CHECK_OK(ctp_pool_create(&c, &pool));
    one_worker cancelled = { .worker = ctp_worker_node(pool, 0) == 0 ? 0 : 1 };
    CHECK_EQ(ctp_worker_node(pool, cancelled.worker), 0);
    _Atomic long ran = 0;
    /* Not from this thread's helping wait: submitted, then waited for. */
    while (atomic_load(&cancelled.count) < 3) {
        submit_to_node0(pool, cancel_self_task, &cancelled);
        test_sleep_us(1000);
    }
    wait_parked(pool, 2); /* the workers parked with requests pending */
    ctp_group *g;
    CHECK_OK(ctp_group_create(pool, &g));
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 50; i++)
            CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_NORMAL, count_task, (void *)&ran));
        CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
        wait_parked(pool, 2);
    }
    CHECK_EQ(atomic_load(&ran), 200);
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.workers_lost, 0);
    /* Now a cancellation point inside tasks (run by workers only: this
     * thread does not wait on them). Not under AddressSanitizer: its own
     * no-return handler fails a CHECK while the cancellation unwinds
     * (pthread_exit's unwinding is covered there by the test above). */
    uint64_t lost_want = 0;
#ifndef ASAN
    one_worker reached = { .worker = cancelled.worker };
    do {
        submit_to_node0(pool, testcancel_task, &reached);
        test_sleep_us(1000);
        CHECK_OK(ctp_pool_stats(pool, &st));
    } while (st.workers_lost == 0);
    CHECK(atomic_load(&reached.count) >= 1); /* lost on the worker with the requests */
    lost_want = 1; /* that worker, inside a task; the other ran the rest */
#endif
    CHECK_OK(ctp_group_destroy(g));
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, 10ull * 1000 * 1000 * 1000));
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.workers_lost, lost_want);
    CHECK_OK(ctp_pool_destroy(pool));
}

static _Atomic long fork_body_calls;

static void fork_body(size_t begin, size_t end, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&fork_body_calls, (long)(end - begin));
}

/* In a child forked after the pool was created, every call on the inherited
 * pool returns CTP_EINVAL at once (it has no workers there, and its locks
 * may be held by threads the child does not have); a new pool works; the
 * parent's pool is unaffected. */
void test_fork_child_refuses_inherited_pool(void)
{
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    _Atomic long ran = 0, pinned_ran = 0;
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, count_task, &ran));
    /* Objects of the pool that the child inherits too: a group, a tick, and
     * a pinned queue (this thread's) holding a task. */
    ctp_group *g0;
    CHECK_OK(ctp_group_create(pool, &g0));
    ctp_tick *t0;
    CHECK_OK(ctp_tick_begin(pool, NULL, &t0));
    ctp_pinned *q0;
    CHECK_OK(ctp_pinned_create(pool, &q0));
    ctp_task_desc pd;
    ctp_task_desc_init(&pd, count_task, &pinned_ran);
    pd.pinned = q0;
    CHECK_OK(ctp_submit_desc(pool, &pd));
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int code = 0;
        if (ctp_submit(pool, CTP_PRIORITY_NORMAL, count_task, &ran) != CTP_EINVAL)
            code |= 1;
        ctp_group *g = NULL;
        if (ctp_group_create(pool, &g) != CTP_EINVAL)
            code |= 2;
        if (ctp_pool_help(pool) != CTP_EINVAL)
            code |= 4;
        if (ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER) != CTP_EINVAL)
            code |= 8;
        if (ctp_pool_destroy(pool) != CTP_EINVAL)
            code |= 16;
        /* Queries, parallel for and the inherited objects likewise: these
         * used to go ahead (the child ran the parent's pinned task, which
         * the parent then ran again). */
        ctp_stats st;
        ctp_node_stats ns;
        int bad = 0;
        bad += ctp_pool_stats(pool, &st) != CTP_EINVAL;
        bad += ctp_pool_node_count(pool) != CTP_EINVAL;
        bad += ctp_worker_node(pool, 0) != CTP_EINVAL;
        bad += ctp_pool_node_stats(pool, 0, &ns) != CTP_EINVAL;
        bad += ctp_alloc_on_node(pool, 0, 64) != NULL;
        bad += ctp_parallel_for(pool, 0, 1, 1, fork_body, NULL) != CTP_EINVAL;
        bad += ctp_parallel_for(pool, 0, 1000, 1, fork_body, NULL) != CTP_EINVAL;
        bad += ctp_pinned_run(q0, 10) != CTP_EINVAL;
        bad += ctp_pinned_destroy(q0) != CTP_EINVAL;
        bad += ctp_group_destroy(g0) != CTP_EINVAL;
        bad += ctp_tick_end(t0, 0, NULL, NULL, 0) != CTP_EINVAL;
        /* Empty batches too (they returned CTP_OK before the fork check). */
        ctp_task_desc none;
        ctp_task_desc_init(&none, count_task, &ran);
        bad += ctp_submit_batch(pool, &none, 0) != CTP_EINVAL;
        bad += ctp_submit_batch_inline(pool, &none, 0, NULL, 0, 0, NULL) != CTP_EINVAL;
        if (bad != 0 || atomic_load(&pinned_ran) != 0 || atomic_load(&fork_body_calls) != 0)
            code |= 64;
#ifndef TSAN /* ThreadSanitizer does not let a forked child start threads */
        ctp_pool *fresh = make_pool(1);
        _Atomic long n = 0;
        /* This thread owned q0 in the parent: in the child it may still
         * own a queue of a new pool (refused as "already owns one" until
         * 2026-12-03, helper-41's attack: the thread-local state survived
         * the fork). */
        ctp_pinned *q1 = NULL;
        if (fresh == NULL || ctp_pinned_create(fresh, &q1) != CTP_OK || ctp_pinned_destroy(q1) != CTP_OK)
            code |= 128;
        if (fresh == NULL || ctp_submit(fresh, CTP_PRIORITY_NORMAL, count_task, &n) != CTP_OK ||
            ctp_pool_destroy(fresh) != CTP_OK || atomic_load(&n) != 1)
            code |= 32;
#endif
        _exit(code);
    }
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, count_task, &ran));
    CHECK_EQ(ctp_pinned_run(q0, 10), 1);
    CHECK_EQ(atomic_load(&pinned_ran), 1);
    CHECK_OK(ctp_pinned_destroy(q0));
    CHECK_OK(ctp_tick_end(t0, CTP_WAIT_FOREVER, NULL, NULL, 0));
    CHECK_OK(ctp_group_destroy(g0));
    CHECK_OK(ctp_pool_destroy(pool));
    CHECK_EQ(atomic_load(&ran), 2);
}

/* A task that forks: in the child its thread is no pool's worker (it said
 * it was worker 0 of node 0 until 2026-12-03, helper-41's attack: the
 * thread-local state survived the fork, so an array indexed by the worker
 * index of a new pool would be shared with that pool's worker 0). */
static void fork_in_task(void *arg)
{
    _Atomic int *status = arg;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(ctp_worker_index() == -1 && ctp_current_node() == -1 ? 0 : 1);
    int st = 0;
    atomic_store(status, pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 2);
}

void test_fork_in_task_child_is_no_worker(void)
{
    ctp_pool *pool = make_pool(1);
    CHECK(pool != NULL);
    static _Atomic int status;
    atomic_store(&status, -1);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, fork_in_task, (void *)&status)); /* on the worker */
    CHECK(TEST_WAIT_UNTIL(atomic_load(&status) != -1, 30000));
    CHECK_EQ(atomic_load(&status), 0);
    CHECK_OK(ctp_pool_destroy(pool));
}

/* After a burst the pool gives its task memory back when it goes idle, and
 * ctp_pool_trim gives back the rest of what is free (issue 12, item 9). */
void test_burst_memory_is_returned(void)
{
    enum { BURST = 100000, BATCH = 1000 };
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    static ctp_task_desc d[BATCH];
    _Atomic long ran = 0;
    for (int i = 0; i < BATCH; i++)
        ctp_task_desc_init(&d[i], count_task, &ran);
    /* Queue the whole burst before the workers drain it: hold them. */
    gate g;
    gate_init(&g);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_CRITICAL, gate_task, &g));
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_CRITICAL, gate_task, &g));
    wait_entered(&g, 2);
    for (int b = 0; b < BURST / BATCH; b++)
        CHECK_OK(ctp_submit_batch(pool, d, BATCH));
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(pool, &st));
    uint64_t peak = st.task_memory_bytes;
    CHECK(peak >= (uint64_t)BURST * 100); /* every queued task holds a node */
    gate_open(&g);
    while (atomic_load(&ran) < BURST)
        test_sleep_us(1000);
    wait_parked(pool, 2);
    /* The last worker to go idle trims once it stayed idle for the trim
     * delay (poll, for at most 10 s): what stays is what sits in the
     * workers' own caches and the trim's reserve, against the peak's ~390
     * blocks. */
    uint64_t idle = peak, until = test_now_ns() + 10000000000u;
    while (idle * 5 > peak && test_now_ns() < until) {
        test_sleep_us(1000);
        CHECK_OK(ctp_pool_stats(pool, &st));
        idle = st.task_memory_bytes;
    }
    if (idle * 5 > peak)
        fprintf(stderr, "  task memory: peak %llu, after idle %llu\n", (unsigned long long)peak,
                (unsigned long long)idle);
    CHECK(idle * 5 <= peak);
    CHECK_OK(ctp_pool_trim(pool));
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK(st.task_memory_bytes <= idle);
    /* Still works, and allocates again as needed. */
    for (int b = 0; b < 3; b++)
        CHECK_OK(ctp_submit_batch(pool, d, BATCH));
    CHECK_OK(ctp_pool_destroy(pool));
    CHECK_EQ(atomic_load(&ran), BURST + 3 * BATCH);
}

/* The same on two simulated nodes, where nodes travel between the nodes'
 * depots (a task allocated from node 0's runs on node 1): the trim must
 * count only its own slabs' nodes, free only slabs whose nodes are all home,
 * and leave the pool working (every task run once afterwards). */
void test_burst_memory_two_nodes(void)
{
    enum { BURST = 60000, BATCH = 1000 };
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 2;
    c.topology = "0;1";
    ctp_pool *pool = NULL;
    CHECK_OK(ctp_pool_create(&c, &pool));
    static ctp_task_desc d[BATCH];
    _Atomic long ran = 0;
    for (int i = 0; i < BATCH; i++) {
        ctp_task_desc_init(&d[i], count_task, &ran);
        d[i].node = i % 3 - 1; /* none, node 0, node 1 */
    }
    for (int round = 0; round < 3; round++) {
        for (int b = 0; b < BURST / BATCH; b++)
            CHECK_OK(ctp_submit_batch(pool, d, BATCH));
        while (atomic_load(&ran) < (long)(round + 1) * BURST)
            test_sleep_us(1000);
        wait_parked(pool, 2);
        ctp_stats before, after;
        CHECK_OK(ctp_pool_stats(pool, &before));
        CHECK_OK(ctp_pool_trim(pool));
        CHECK_OK(ctp_pool_stats(pool, &after));
        CHECK(after.task_memory_bytes <= before.task_memory_bytes);
    }
    CHECK_OK(ctp_pool_destroy(pool));
    CHECK_EQ(atomic_load(&ran), 3L * BURST);
}

/* A child forked while another thread is creating a pool (inside libnuma's
 * discovery, under ctp's lock for it) creates a pool of its own. The lock
 * stayed held in the child, whose ctp_pool_create hung (about 1 fork in
 * 180 here; this test forks scaled(120) times, so it catches the old code
 * about half the time). Each child has 5 s before an alarm kills it. */
static void *create_pools(void *arg)
{
    _Atomic int *stop = arg;
    while (!atomic_load(stop)) {
        ctp_pool *p = NULL;
        if (ctp_pool_create(NULL, &p) == CTP_OK)
            ctp_pool_destroy(p);
    }
    return NULL;
}

void test_fork_while_a_pool_is_created(void)
{
#if defined(TSAN) || defined(ASAN)
    /* ThreadSanitizer does not let a forked child start threads; under
     * AddressSanitizer a child forked while the other thread allocates can
     * hang in the sanitizer's own allocator (1 of 12 children once in CI).
     * Checked with gdb on 2026-12-03 (a standalone copy of this test, 1,000
     * forks, gcc ASan): both hung children waited on the mutex in
     * __sanitizer::SizeClassAllocator64::GetFromAllocator, which the forking
     * thread's peer held; no ctp lock was held. The plain build ran 2,000
     * forks without a hang. */
    return;
#endif
    static _Atomic int stop;
    atomic_store(&stop, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, create_pools, (void *)&stop), 0);
    long forks = scaled(120), hung = 0, failed = 0;
    for (long i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            failed++;
            break;
        }
        if (pid == 0) {
            alarm(5);
            ctp_pool *p = NULL;
            int code = ctp_pool_create(NULL, &p) == CTP_OK && ctp_pool_destroy(p) == CTP_OK ? 0 : 1;
            _exit(code);
        }
        int status = 0;
        if (waitpid(pid, &status, 0) != pid)
            failed++;
        else if (WIFSIGNALED(status))
            hung++;
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed++;
    }
    atomic_store(&stop, 1);
    CHECK_EQ(pthread_join(th, NULL), 0);
    if (hung != 0 || failed != 0)
        fprintf(stderr, "  %ld of %ld children hung in ctp_pool_create, %ld failed\n", hung, forks, failed);
    CHECK_EQ(hung, 0);
    CHECK_EQ(failed, 0);
}

/* A task of pool A that an outside thread runs while it helps (here: A's
 * only worker is busy) makes pool B and a pinned queue of B, and destroys
 * both. The destroy was refused whenever the thread was inside any task
 * (ctp_pinned_destroy checked the thread's task depth, over every pool), so
 * the outcome depended on which thread ran the task, and B could not be
 * destroyed there. Now only a queue in use up the stack refuses. */
typedef struct {
    _Atomic int create_rc, destroy_rc, pool_destroy_rc, on_outside;
    pthread_t outside;
} cross_pinned;

static void make_and_drop_pinned(void *arg)
{
    cross_pinned *c = arg;
    atomic_store(&c->on_outside, pthread_equal(pthread_self(), c->outside) ? 1 : 0);
    ctp_pool *b = make_pool(1);
    if (b == NULL)
        return;
    ctp_pinned *q = NULL;
    atomic_store(&c->create_rc, ctp_pinned_create(b, &q));
    atomic_store(&c->destroy_rc, q != NULL ? ctp_pinned_destroy(q) : 99);
    atomic_store(&c->pool_destroy_rc, ctp_pool_destroy(b));
}

void test_pinned_queue_of_another_pool_inside_a_helped_task(void)
{
    ctp_pool *a = make_pool(1);
    CHECK(a != NULL);
    static cross_pinned c;
    atomic_store(&c.create_rc, 99);
    atomic_store(&c.destroy_rc, 99);
    atomic_store(&c.pool_destroy_rc, 99);
    atomic_store(&c.on_outside, 0);
    c.outside = pthread_self();
    static gate g;
    gate_init(&g);
    CHECK_OK(ctp_submit(a, CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 1); /* the only worker is busy: this thread's wait runs the task */
    ctp_group *grp;
    CHECK_OK(ctp_group_create(a, &grp));
    CHECK_OK(ctp_group_submit(grp, CTP_PRIORITY_NORMAL, make_and_drop_pinned, &c));
    CHECK_OK(ctp_group_wait(grp, CTP_WAIT_FOREVER));
    gate_open(&g);
    CHECK_EQ(atomic_load(&c.on_outside), 1);
    CHECK_OK(atomic_load(&c.create_rc));
    CHECK_OK(atomic_load(&c.destroy_rc));
    CHECK_OK(atomic_load(&c.pool_destroy_rc));
    CHECK_OK(ctp_group_destroy(grp));
    CHECK_OK(ctp_pool_destroy(a));
}

