/* Regression tests for defects found by attacking the public API (issue 12):
 * a worker too deep in its stack absorbing wakes and spinning, the bounded
 * queue exceeded across nodes, timed waits running tasks past the deadline. */
#include "harness.h"

#include "../../Sources/CThreadPool/pool.h"

#include <sched.h>
#include <string.h>

/* ---- A worker that cannot take work does not search ------------------- */

typedef struct deep_wait {
    ctp_pool *pool;
    gate release;             /* the child C waits here until T opens it */
    _Atomic int child_started;
    _Atomic int child_worker; /* the worker that runs C */
    _Atomic int a_worker;     /* the worker that runs A */
    _Atomic int a_waiting;    /* A is about to wait on its group */
    _Atomic int a_done;
    _Atomic int t_worker;     /* the worker that runs T */
    _Atomic int a_rc;
} deep_wait;

static void child_task(void *arg)
{
    deep_wait *d = arg;
    atomic_store(&d->child_worker, ctp_worker_index());
    atomic_store(&d->child_started, 1);
    gate_task(&d->release); /* until T runs */
}

typedef struct {
    deep_wait *d;
    ctp_group *g;
} deep_args;

static int wait_there(void *arg)
{
    deep_args *a = arg;
    atomic_store(&a->d->a_waiting, 1);
    return ctp_group_wait(a->g, CTP_WAIT_FOREVER);
}

/* Less than a quarter of this 64 KiB stack free (2 KiB past the limit), so
 * the wait may not run other workers' tasks. */
static int wait_deep(deep_wait *d, ctp_group *g)
{
    deep_args a = { d, g };
    return test_below_stack_address(ctp__current_worker(d->pool)->stack_limit - 2048, wait_there, &a);
}

static void task_a(void *arg)
{
    deep_wait *d = arg;
    atomic_store(&d->a_worker, ctp_worker_index());
    ctp_group *g;
    if (ctp_group_create(d->pool, &g) != CTP_OK) {
        atomic_store(&d->a_rc, -100);
        atomic_store(&d->a_done, 1);
        return;
    }
    ctp_group_submit(g, CTP_PRIORITY_NORMAL, child_task, d);
    /* Let another worker take the child (it sits on our deque). */
    while (!atomic_load(&d->child_started))
        sched_yield();
    atomic_store(&d->a_rc, wait_deep(d, g));
    ctp_group_destroy(g);
    atomic_store(&d->a_done, 1);
}

static void task_t(void *arg)
{
    deep_wait *d = arg;
    atomic_store(&d->t_worker, ctp_worker_index());
    gate_open(&d->release);
}

/* Issue 12, item 1: a worker waiting with too little stack to steal used to
 * count as searching forever (it saw work it may not take), spin a CPU, and
 * absorb the wake of a task submitted from outside while a third worker
 * stayed parked. Now it blocks without searching, the third worker is the
 * only idle one, and the submission wakes it. */
void test_deep_waiter_does_not_absorb_wakes(void)
{
    static deep_wait d;
    memset(&d, 0, sizeof d);
    gate_init(&d.release);
    atomic_store(&d.child_worker, -2);
    atomic_store(&d.a_worker, -2);
    atomic_store(&d.t_worker, -2);
    d.pool = make_pool_stack(3, 64 * 1024);
    CHECK(d.pool != NULL);
    wait_parked(d.pool, 3);
    CHECK_OK(ctp_submit(d.pool, CTP_PRIORITY_NORMAL, task_a, &d));
    /* Stable state: A waits, C blocks on its gate, one worker idle. The
     * idle worker must be parked and nobody searching (A's worker spinning
     * in its search was the defect). Polled until it holds 20 times in a
     * row, for at most 5 s. */
    int stable = 0;
    uint64_t until = test_now_ns() + 5000000000u;
    while (stable < 20 && test_now_ns() < until) {
        uint64_t counts = atomic_load(&d.pool->sleep.counts);
        if (atomic_load(&d.a_waiting) && CTP__PARKED(counts) == 1 && CTP__SEARCHING(counts) == 0)
            stable++;
        else
            stable = 0;
        test_sleep_us(1000);
    }
    if (stable < 20) {
        uint64_t counts = atomic_load(&d.pool->sleep.counts);
        fprintf(stderr, "  parked %u searching %u: the deep waiter still searches\n", CTP__PARKED(counts),
                CTP__SEARCHING(counts));
    }
    CHECK(stable == 20);
    /* T from outside wakes the parked worker, which runs it. */
    CHECK_OK(ctp_submit(d.pool, CTP_PRIORITY_NORMAL, task_t, &d));
    while (!atomic_load(&d.a_done))
        test_sleep_us(200);
    CHECK_EQ(atomic_load(&d.a_rc), CTP_OK);
    int a = atomic_load(&d.a_worker), ch = atomic_load(&d.child_worker), t = atomic_load(&d.t_worker);
    CHECK(a >= 0 && ch >= 0 && t >= 0);
    CHECK(a != ch);
    CHECK(t != a && t != ch);
    CHECK_OK(ctp_pool_destroy(d.pool));
}

/* ---- A deep waiter runs its group's tasks from the injection queues ---- */

typedef struct {
    ctp_pool *pool;
    ctp_group *g;
    int late;               /* B comes after A blocked (C holds the group open) */
    gate c_gate;            /* C, run by an outside helper, waits here */
    _Atomic int a_started;  /* A runs (so what is queued after is not taken with it) */
    _Atomic int go;         /* A may wait: B queued (first), or C running (late) */
    _Atomic int a_waiting;  /* A is in its wait */
    _Atomic int b_worker;   /* the worker that ran B */
    _Atomic int a_rc, a_done;
} deep_group;

static int deep_group_wait_there(void *arg)
{
    deep_group *d = arg;
    atomic_store(&d->a_waiting, 1);
    return ctp_group_wait(d->g, 5000000000u); /* a hang shows as CTP_ETIMEDOUT */
}

static void deep_group_a(void *arg)
{
    deep_group *d = arg;
    atomic_store(&d->a_started, 1);
    while (!atomic_load(&d->go))
        sched_yield();
    atomic_store(&d->a_rc, test_below_stack_address(ctp__current_worker(d->pool)->stack_limit - 2048,
                                                    deep_group_wait_there, d));
    atomic_store(&d->a_done, 1);
}

static void deep_group_b(void *arg)
{
    atomic_store(&((deep_group *)arg)->b_worker, ctp_worker_index());
}

static void deep_group_c(void *arg)
{
    deep_group *d = arg;
    atomic_store(&d->go, 1);
    gate_task(&d->c_gate);
}

static void *deep_group_helper(void *arg)
{
    deep_group *d = arg;
    while (ctp_pool_help(d->pool) != 1) /* runs C (A is on the only worker) */
        sched_yield();
    return NULL;
}

/* A one-worker pool's only worker, with under a quarter of its stack free,
 * waits on a group whose task B was submitted from outside, so B sits in
 * the injection queue, not on the worker's deque: queued before the wait,
 * or after the worker blocked (the group then held open by a task C that a
 * thread outside the pool runs). The worker used to run only its own
 * deque's tasks and block: B never ran and the wait hung (here: timed out
 * after 5 s). Now it also runs its group's queued tasks, and while it
 * blocks it looks again every millisecond (a late B wakes nobody: the
 * worker is neither parked nor searching). */
void test_deep_waiter_runs_its_groups_queued_tasks(void)
{
    for (int late = 0; late < 2; late++) {
        static deep_group d;
        memset(&d, 0, sizeof d);
        d.late = late;
        gate_init(&d.c_gate);
        atomic_store(&d.b_worker, -2);
        d.pool = make_pool_stack(1, 64 * 1024);
        CHECK(d.pool != NULL);
        CHECK_OK(ctp_group_create(d.pool, &d.g));
        CHECK_OK(ctp_submit(d.pool, CTP_PRIORITY_NORMAL, deep_group_a, &d));
        /* Queued after A started: a worker that wakes for A takes the
         * queue's tasks with it onto its own deque. */
        CHECK(TEST_WAIT_UNTIL(atomic_load(&d.a_started), 5000));
        pthread_t helper;
        if (!late) {
            CHECK_OK(ctp_group_submit(d.g, CTP_PRIORITY_NORMAL, deep_group_b, &d));
            atomic_store(&d.go, 1);
        } else {
            CHECK_OK(ctp_group_submit(d.g, CTP_PRIORITY_NORMAL, deep_group_c, &d));
            CHECK_EQ(pthread_create(&helper, NULL, deep_group_helper, &d), 0);
            CHECK(TEST_WAIT_UNTIL(atomic_load(&d.a_waiting), 5000));
            test_sleep_us(5000); /* A has looked and blocked */
            CHECK_OK(ctp_group_submit(d.g, CTP_PRIORITY_NORMAL, deep_group_b, &d));
            TEST_WAIT_UNTIL(atomic_load(&d.b_worker) != -2, 6000);
            gate_open(&d.c_gate);
            pthread_join(helper, NULL);
        }
        CHECK(TEST_WAIT_UNTIL(atomic_load(&d.a_done), 10000));
        if (atomic_load(&d.a_rc) != CTP_OK)
            fprintf(stderr, "  %s: the deep wait returned %d\n", late ? "late B" : "B first", atomic_load(&d.a_rc));
        CHECK_EQ(atomic_load(&d.a_rc), CTP_OK);
        CHECK_EQ(atomic_load(&d.b_worker), 0);
        CHECK_OK(ctp_group_wait(d.g, CTP_WAIT_FOREVER));
        CHECK_OK(ctp_group_destroy(d.g));
        CHECK_OK(ctp_pool_destroy(d.pool));
    }
}

/* ---- The bounded queue holds across nodes ------------------------------ */

/* A refused batch must not refuse a submission that fits. The capacity
 * check reserved with an add and took it back after a refusal: a
 * submission to another injection queue that read the count in between saw
 * the overshoot and got CTP_EFULL (about 1 in 5 here), and ctp_stats.queued
 * read above the capacity. One thread keeps offering a batch of the whole
 * capacity (refused: a task is queued); this one submits single tasks,
 * which always fit, and runs one back each time. */
enum { SPURIOUS_CAP = 16 };

typedef struct {
    ctp_pool *pool;
    _Atomic int stop;
    _Atomic long refused;
} full_offer;

static void *offer_full_batches(void *arg)
{
    full_offer *f = arg;
    ctp_task_desc d[SPURIOUS_CAP];
    for (int i = 0; i < SPURIOUS_CAP; i++) {
        ctp_task_desc_init(&d[i], noop, NULL);
        d[i].node = 0; /* injs[0]; the single tasks go to the node-less queue */
    }
    while (!atomic_load(&f->stop))
        if (ctp_submit_batch(f->pool, d, SPURIOUS_CAP) == CTP_EFULL)
            atomic_fetch_add(&f->refused, 1);
    return NULL;
}

void test_queue_capacity_refusal_never_refuses_a_fit(void)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 2;
    c.queue_capacity = SPURIOUS_CAP;
    c.numa_mode = CTP_NUMA_OFF;
    static full_offer f;
    memset(&f, 0, sizeof f);
    CHECK_OK(ctp_pool_create(&c, &f.pool));
    static gate g; /* outlives an early return of a failed check */
    gate_init(&g);
    for (int i = 0; i < 2; i++)
        CHECK_OK(ctp_submit(f.pool, CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 2); /* nothing leaves the queue but what this thread runs */
    CHECK_OK(ctp_submit(f.pool, CTP_PRIORITY_NORMAL, noop, NULL)); /* one queued */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, offer_full_batches, &f), 0);
    CHECK(TEST_WAIT_UNTIL(atomic_load(&f.refused) > 0, 10000)); /* the batches are on offer */
    long spurious = 0, rounds = scaled(20000);
    uint64_t most = 0;
    for (long r = 0; r < rounds; r++) {
        ctp_stats st;
        CHECK_OK(ctp_pool_stats(f.pool, &st));
        if (st.queued > most)
            most = st.queued;
        int rc = ctp_submit(f.pool, CTP_PRIORITY_NORMAL, noop, NULL); /* 2 queued at most: fits */
        if (rc == CTP_EFULL)
            spurious++;
        else if (rc == CTP_OK)
            CHECK_EQ(ctp_pool_help(f.pool), 1);
    }
    atomic_store(&f.stop, 1);
    CHECK_EQ(pthread_join(th, NULL), 0);
    gate_open(&g);
    if (spurious != 0 || most > SPURIOUS_CAP)
        fprintf(stderr, "  %ld of %ld fitting submissions refused; queued read %llu (capacity %d)\n", spurious,
                rounds, (unsigned long long)most, SPURIOUS_CAP);
    CHECK_EQ(spurious, 0);
    CHECK(most <= SPURIOUS_CAP);
    CHECK_OK(ctp_pool_destroy(f.pool));
}

typedef struct cap_round {
    ctp_pool *pool;
    pthread_barrier_t start, done;
    _Atomic int accepted;
    _Atomic long ran;
    int rounds;
} cap_round;

typedef struct cap_thread {
    cap_round *r;
    int node;
} cap_thread;

static void cap_task(void *arg)
{
    atomic_fetch_add(&((cap_round *)arg)->ran, 1);
}

static void *cap_submitter(void *arg)
{
    cap_thread *ct = arg;
    cap_round *r = ct->r;
    for (int i = 0; i < r->rounds; i++) {
        pthread_barrier_wait(&r->start);
        ctp_task_desc desc;
        ctp_task_desc_init(&desc, cap_task, r);
        desc.node = ct->node;
        if (ctp_submit_desc(r->pool, &desc) == CTP_OK)
            atomic_fetch_add(&r->accepted, 1);
        pthread_barrier_wait(&r->done);
    }
    return NULL;
}

/* Issue 12, item 2 (the old code let two through in about 1 round in 400):
 * with capacity 1 and three threads submitting to two
 * nodes and the node-less queue at once (each under its own injector lock),
 * exactly one submission is accepted per round. */
void test_queue_capacity_holds_across_nodes(void)
{
    static cap_round r;
    memset(&r, 0, sizeof r);
    r.rounds = (int)scaled(20000);
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 2;
    c.topology = "0;1";
    c.queue_capacity = 1;
    CHECK_OK(ctp_pool_create(&c, &r.pool));
    /* Both workers blocked, so nothing queued starts by itself. */
    gate g;
    gate_init(&g);
    for (int n = 0; n < 2; n++) {
        ctp_task_desc desc;
        ctp_task_desc_init(&desc, gate_task, &g);
        desc.node = n;
        CHECK_OK(ctp_submit_desc(r.pool, &desc));
        wait_entered(&g, n + 1);
    }
    pthread_barrier_init(&r.start, NULL, 4);
    pthread_barrier_init(&r.done, NULL, 4);
    cap_thread ct[3] = { { &r, 0 }, { &r, 1 }, { &r, -1 } };
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, cap_submitter, &ct[i]);
    int over = 0, under = 0;
    for (int i = 0; i < r.rounds; i++) {
        atomic_store(&r.accepted, 0);
        pthread_barrier_wait(&r.start);
        pthread_barrier_wait(&r.done);
        int a = atomic_load(&r.accepted);
        over += a > 1;
        under += a < 1;
        /* Run what was accepted from here, emptying the queue again. */
        while (ctp_pool_help(r.pool) == 1) {
        }
    }
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    if (over > 0 || under > 0)
        fprintf(stderr, "  rounds with more than one accepted: %d, with none: %d\n", over, under);
    CHECK_EQ(over, 0);
    CHECK_EQ(under, 0);
    CHECK_EQ(atomic_load(&r.ran), r.rounds);
    gate_open(&g);
    CHECK_OK(ctp_pool_destroy(r.pool));
    pthread_barrier_destroy(&r.start);
    pthread_barrier_destroy(&r.done);
}

/* ---- Timed waits start no task past the deadline ----------------------- */

typedef struct slow_ctx {
    pthread_t waiter;
    _Atomic int run_by_waiter;
    _Atomic int ran;
} slow_ctx;

static void slow_task(void *arg)
{
    slow_ctx *s = arg;
    if (pthread_equal(pthread_self(), s->waiter))
        atomic_fetch_add(&s->run_by_waiter, 1);
    test_sleep_us(50000);
    atomic_fetch_add(&s->ran, 1);
}

/* Issue 12, item 4: one worker busy, six unrelated 50 ms tasks queued, a
 * 10 ms wait on a group whose task is queued behind them: the wait returns
 * CTP_ETIMEDOUT after running at most one task, not after running all of
 * them and the group's (which returned CTP_OK after 350 ms). */
void test_timed_wait_starts_no_task_past_deadline(void)
{
    ctp_pool *pool = make_pool(1);
    CHECK(pool != NULL);
    gate g;
    gate_init(&g);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 1);
    static slow_ctx s;
    memset(&s, 0, sizeof s);
    s.waiter = pthread_self();
    for (int i = 0; i < 6; i++)
        CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, slow_task, &s));
    ctp_group *grp;
    CHECK_OK(ctp_group_create(pool, &grp));
    _Atomic long done = 0;
    CHECK_OK(ctp_group_submit(grp, CTP_PRIORITY_NORMAL, count_task, &done));
    int rc = ctp_group_wait(grp, 10 * 1000 * 1000);
    int by_waiter = atomic_load(&s.run_by_waiter);
    if (rc != CTP_ETIMEDOUT || by_waiter > 1)
        fprintf(stderr, "  wait returned %d after running %d tasks\n", rc, by_waiter);
    CHECK_EQ(rc, CTP_ETIMEDOUT);
    CHECK(by_waiter <= 1);
    gate_open(&g);
    CHECK_OK(ctp_group_wait(grp, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(grp));
    CHECK_EQ(atomic_load(&done), 1);
    CHECK_OK(ctp_pool_destroy(pool));
    CHECK_EQ(atomic_load(&s.ran), 6);
}

/* ---- Deque pages come back after a burst from inside a task ----------- */

#include <sys/mman.h>
#include <unistd.h>

/* Resident pages of a deque's buffers (current and retired). */
static size_t resident_pages(ctp__deque *d)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t resident = 0;
    for (ctp__deque_buf *x = atomic_load(&d->buf); x != NULL; x = x->retired_next) {
        uintptr_t from = ((uintptr_t)x->slots + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
        uintptr_t to = ((uintptr_t)x->slots + (size_t)(x->mask + 1) * sizeof(void *)) / (uintptr_t)page *
                       (uintptr_t)page;
        if (to <= from)
            continue;
        size_t n = (to - from) / (size_t)page;
        unsigned char *vec = malloc(n);
        if (vec == NULL || mincore((void *)from, to - from, vec) != 0) {
            free(vec);
            return SIZE_MAX;
        }
        for (size_t i = 0; i < n; i++)
            resident += vec[i] & 1;
        free(vec);
    }
    return resident;
}

typedef struct spawn_ctx {
    ctp_pool *pool;
    _Atomic long ran;
    _Atomic int rc;
} spawn_ctx;

static void spawned_noop(void *arg)
{
    atomic_fetch_add(&((spawn_ctx *)arg)->ran, 1);
}

enum { SPAWN_TOTAL = 200000, SPAWN_BATCH = 1000 };

static void spawner(void *arg)
{
    spawn_ctx *c = arg;
    static ctp_task_desc d[SPAWN_BATCH]; /* one spawner runs at a time */
    for (int i = 0; i < SPAWN_BATCH; i++)
        ctp_task_desc_init(&d[i], spawned_noop, c);
    for (int b = 0; b < SPAWN_TOTAL / SPAWN_BATCH; b++) {
        int rc = ctp_submit_batch(c->pool, d, SPAWN_BATCH);
        if (rc != CTP_OK)
            atomic_store(&c->rc, rc);
    }
}

/* Issue 12, item 9: a task pushes 200,000 tasks onto its worker's own deque,
 * growing it to 256 K slots (2 MiB plus the retired halves); once the worker
 * has run them and stayed idle for the trim delay, the buffers' pages are
 * back with the system
 * (counted with mincore), and the deque still works. */
void test_grown_deque_pages_returned_when_idle(void)
{
    static spawn_ctx c;
    memset(&c, 0, sizeof c);
    c.pool = make_pool(1);
    CHECK(c.pool != NULL);
    CHECK_OK(ctp_submit(c.pool, CTP_PRIORITY_NORMAL, spawner, &c));
    while (atomic_load(&c.ran) < SPAWN_TOTAL)
        test_sleep_us(1000);
    CHECK_EQ(atomic_load(&c.rc), CTP_OK);
    wait_parked(c.pool, 1);
    ctp__deque *d = &c.pool->workers[0]->deques[CTP_PRIORITY_NORMAL];
    ctp__deque_buf *cur = atomic_load(&d->buf);
    CHECK(cur->mask + 1 >= SPAWN_TOTAL); /* it grew */
    /* The worker trims after CTP__TRIM_DELAY_NS idle: poll, at most 10 s. */
    size_t resident = resident_pages(d);
    for (uint64_t until = test_now_ns() + 10000000000u; resident > 4 && test_now_ns() < until;) {
        test_sleep_us(2000);
        resident = resident_pages(d);
    }
    if (resident > 4)
        fprintf(stderr, "  %zu pages of the grown deque still resident\n", resident);
    CHECK(resident <= 4);
    /* Reused after the trim: every slot reads back what was pushed. */
    atomic_store(&c.ran, 0);
    CHECK_OK(ctp_submit(c.pool, CTP_PRIORITY_NORMAL, spawner, &c));
    while (atomic_load(&c.ran) < SPAWN_TOTAL)
        test_sleep_us(1000);
    CHECK_OK(ctp_pool_destroy(c.pool));
    CHECK_EQ(atomic_load(&c.ran), SPAWN_TOTAL);
}
