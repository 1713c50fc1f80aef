/* API contract: bad input, configuration, error codes, submission basics. */
#include "harness.h"

#include <dirent.h>
#include <pthread.h>
#include <string.h>

static void noop_range(size_t b, size_t e, void *ctx)
{
    (void)b;
    (void)e;
    (void)ctx;
}

void test_api_bad_input(void)
{
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    CHECK_EQ(ctp_pool_create(NULL, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_submit(NULL, CTP_PRIORITY_NORMAL, noop, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_submit(pool, CTP_PRIORITY_NORMAL, NULL, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_submit(pool, (ctp_priority)-1, noop, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_submit(pool, CTP_PRIORITY_COUNT, noop, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_submit(pool, (ctp_priority)1000, noop, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_submit_desc(pool, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_submit_batch(pool, NULL, 3), CTP_EINVAL);
    CHECK_EQ(ctp_submit_batch(pool, NULL, 0), CTP_OK);
    ctp_task_desc d;
    ctp_task_desc_init(&d, noop, NULL);
    d.node = 7;
    CHECK_EQ(ctp_submit_desc(pool, &d), CTP_EINVAL);
    d.node = -2;
    CHECK_EQ(ctp_submit_desc(pool, &d), CTP_EINVAL);
    CHECK_EQ(ctp_group_create(NULL, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_group_create(pool, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_group_submit(NULL, CTP_PRIORITY_NORMAL, noop, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_group_wait(NULL, 0), CTP_EINVAL);
    CHECK_EQ(ctp_group_destroy(NULL), CTP_EINVAL);
    CHECK_EQ(ctp_parallel_for(NULL, 0, 10, 1, NULL, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_parallel_for(pool, 10, 0, 1, noop_range, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_parallel_for(pool, 0, 10, 1, NULL, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_pool_shutdown(NULL, CTP_SHUTDOWN_DRAIN, 0), CTP_EINVAL);
    CHECK_EQ(ctp_pool_shutdown(pool, (ctp_shutdown_mode)9, 0), CTP_EINVAL);
    CHECK_EQ(ctp_pool_stats(NULL, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_pool_stats(pool, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_pool_destroy(NULL), CTP_EINVAL);

    /* A group of another pool is refused. */
    ctp_pool *other = make_pool(1);
    CHECK(other != NULL);
    ctp_group *g;
    CHECK_OK(ctp_group_create(other, &g));
    ctp_task_desc_init(&d, noop, NULL);
    d.group = g;
    CHECK_EQ(ctp_submit_desc(pool, &d), CTP_EINVAL);
    CHECK_OK(ctp_group_destroy(g));
    CHECK_OK(ctp_pool_destroy(other));

    /* Nothing was accepted by any of the above. */
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.submitted, 0);
    CHECK_OK(ctp_pool_destroy(pool));

    /* After shutdown: ESHUTDOWN, counted as rejected. */
    pool = make_pool(1);
    CHECK(pool != NULL);
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    CHECK_EQ(ctp_submit(pool, CTP_PRIORITY_NORMAL, noop, NULL), CTP_ESHUTDOWN);
    CHECK_EQ(ctp_group_create(pool, &g), CTP_ESHUTDOWN);
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.rejected, 1);
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, 0)); /* idempotent */
    CHECK_OK(ctp_pool_destroy(pool));
}

void test_api_config_validation(void)
{
    ctp_config c;
    ctp_pool *p = NULL;
    ctp_config_init(&c);
    c.workers = CTP_MAX_WORKERS + 1;
    CHECK_EQ(ctp_pool_create(&c, &p), CTP_EINVAL);
    c.workers = (size_t)-1;
    CHECK_EQ(ctp_pool_create(&c, &p), CTP_EINVAL);
    ctp_config_init(&c);
    c.spin_ns = UINT64_MAX;
    CHECK_EQ(ctp_pool_create(&c, &p), CTP_EINVAL);
    ctp_config_init(&c);
    c.backoff_ns = UINT64_MAX;
    CHECK_EQ(ctp_pool_create(&c, &p), CTP_EINVAL);
    ctp_config_init(&c);
    c.stack_size = 100;
    CHECK_EQ(ctp_pool_create(&c, &p), CTP_EINVAL);
    CHECK(p == NULL);

    /* Defaults: one worker per CPU; a long name is cut, not overflowed. */
    ctp_config_init(&c);
    c.name = "a-very-long-thread-name-prefix";
    CHECK_OK(ctp_pool_create(&c, &p));
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(p, &st));
    CHECK(st.workers >= 1);
    CHECK_OK(ctp_pool_destroy(p));
    CHECK_OK(ctp_pool_create(NULL, &p));
    CHECK_OK(ctp_pool_destroy(p));
}

void test_api_strerror_and_index(void)
{
    int codes[] = { CTP_OK, CTP_EINVAL, CTP_ENOMEM, CTP_ESHUTDOWN, CTP_EFULL, CTP_ETIMEDOUT, CTP_EDEADLK };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CHECK(ctp_strerror(codes[i]) != NULL);
        CHECK(strcmp(ctp_strerror(codes[i]), ctp_strerror(12345)) != 0);
    }
    CHECK(ctp_strerror(12345) != NULL);
    CHECK_EQ(ctp_worker_index(), -1);
}

static _Atomic int seen_index[8];
static void record_index(void *arg)
{
    (void)arg;
    int i = ctp_worker_index();
    if (i >= 0 && i < 8)
        atomic_store(&seen_index[i], 1);
    else
        atomic_store(&seen_index[7], -1);
}

void test_submit_runs_every_task_once(void)
{
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    _Atomic long n = 0;
    long total = scaled(100000);
    for (long i = 0; i < total; i++)
        CHECK_OK(ctp_submit(pool, (ctp_priority)(i % CTP_PRIORITY_COUNT), count_task, &n));
    for (int i = 0; i < 100; i++)
        CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, record_index, NULL));
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    CHECK_EQ(atomic_load(&n), total);
    CHECK(atomic_load(&seen_index[7]) != -1);
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.submitted, total + 100);
    CHECK_EQ(st.executed, total + 100);
    CHECK_EQ(st.cancelled, 0);
    CHECK_EQ(st.queued, 0);
    uint64_t byp = 0;
    for (int p = 0; p < CTP_PRIORITY_COUNT; p++)
        byp += st.executed_by_priority[p];
    CHECK_EQ(byp, st.executed);
    CHECK_OK(ctp_pool_destroy(pool));
}

void test_batch_all_or_none(void)
{
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    _Atomic long n = 0;
    ctp_task_desc d[100];
    for (int i = 0; i < 100; i++) {
        ctp_task_desc_init(&d[i], count_task, &n);
        d[i].priority = (ctp_priority)(i % CTP_PRIORITY_COUNT);
    }
    d[57].fn = NULL; /* one bad descriptor: nothing is queued */
    CHECK_EQ(ctp_submit_batch(pool, d, 100), CTP_EINVAL);
    d[57].fn = count_task;
    d[99].priority = (ctp_priority)77;
    CHECK_EQ(ctp_submit_batch(pool, d, 100), CTP_EINVAL);
    d[99].priority = CTP_PRIORITY_IDLE;
    CHECK_OK(ctp_submit_batch(pool, d, 100));
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    CHECK_EQ(atomic_load(&n), 100);
    CHECK_OK(ctp_pool_destroy(pool));
}

typedef struct {
    ctp_pool *pool;
    _Atomic long ran;
    _Atomic int refused;
} spawner_ctx;

static void spawn_child(void *arg)
{
    spawner_ctx *s = arg;
    atomic_fetch_add(&s->ran, 1);
}

static void spawn_many(void *arg)
{
    spawner_ctx *s = arg;
    for (int i = 0; i < 50; i++)
        if (ctp_submit(s->pool, CTP_PRIORITY_NORMAL, spawn_child, s) != CTP_OK)
            atomic_fetch_add(&s->refused, 1);
}

void test_bounded_queue_full_and_inside_never_refused(void)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 1;
    c.queue_capacity = 4;
    ctp_pool *pool;
    CHECK_OK(ctp_pool_create(&c, &pool));
    gate g;
    gate_init(&g);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 1); /* the worker is busy; the gate task no longer counts */
    spawner_ctx s = { .pool = pool };
    for (int i = 0; i < 4; i++)
        CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, spawn_many, &s));
    CHECK_EQ(ctp_submit(pool, CTP_PRIORITY_NORMAL, spawn_child, &s), CTP_EFULL);
    ctp_task_desc two[2];
    ctp_task_desc_init(&two[0], spawn_child, &s);
    ctp_task_desc_init(&two[1], spawn_child, &s);
    CHECK_EQ(ctp_submit_batch(pool, two, 2), CTP_EFULL);
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.queued, 4);
    CHECK_EQ(st.rejected, 2);
    gate_open(&g);
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    /* Each of the 4 spawners submitted 50 from inside: never refused. */
    CHECK_EQ(atomic_load(&s.refused), 0);
    CHECK_EQ(atomic_load(&s.ran), 200);
    CHECK_OK(ctp_pool_destroy(pool));
}

static void pfor_count(size_t b, size_t e, void *ctx)
{
    atomic_fetch_add((_Atomic size_t *)ctx, e - b);
}

/* parallel_for from outside a bounded pool queues as many runners as the
 * queue has room for: with queue_capacity below the runners it wanted it
 * used to ask for all at once (all or none), be refused every time, run
 * every chunk on the caller and count a refusal the caller never saw
 * (helper-38's attack, 2026-12-03). With the queue full it runs them all
 * on the caller and counts nothing refused. */
void test_bounded_queue_parallel_for_takes_the_room_left(void)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 3;
    c.queue_capacity = 1;
    ctp_pool *pool;
    CHECK_OK(ctp_pool_create(&c, &pool));
    _Atomic size_t covered = 0;
    CHECK_OK(ctp_parallel_for(pool, 0, 1000, 1, pfor_count, (void *)&covered));
    CHECK_EQ(atomic_load(&covered), 1000);
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.submitted, 1); /* one runner: the room there was */
    CHECK_EQ(st.rejected, 0);
    CHECK_OK(ctp_pool_destroy(pool));

    c.workers = 1;
    CHECK_OK(ctp_pool_create(&c, &pool));
    gate g;
    gate_init(&g);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 1);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, noop, NULL)); /* the queue is full */
    atomic_store(&covered, 0);
    CHECK_OK(ctp_parallel_for(pool, 0, 1000, 1, pfor_count, (void *)&covered));
    CHECK_EQ(atomic_load(&covered), 1000);
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.submitted, 2);
    CHECK_EQ(st.rejected, 0);
    gate_open(&g);
    CHECK_OK(ctp_pool_destroy(pool));
}

typedef struct {
    _Atomic long *sum;
    long value;
    char pad[40];
} payload;

static _Atomic int relocations;

static void payload_run(void *arg)
{
    payload *p = arg; /* points into the task: the caller's copy is gone */
    atomic_fetch_add(p->sum, p->value);
}

static void payload_cancel(void *arg)
{
    payload *p = arg;
    atomic_fetch_add(p->sum, -1000000);
}

static void payload_relocate(void *dst, void *src)
{
    memcpy(dst, src, sizeof(payload));
    memset(src, 0xEE, sizeof(payload)); /* the source is dead afterwards */
    atomic_fetch_add(&relocations, 1);
}

void test_submit_inline_payload(void)
{
    CHECK_EQ(ctp_version(), CTP_VERSION_MAJOR * 10000 + CTP_VERSION_MINOR * 100 + CTP_VERSION_PATCH);
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    _Atomic long sum = 0;
    ctp_task_desc d;
    ctp_task_desc_init(&d, payload_run, NULL);
    d.on_cancel = payload_cancel;
    payload p = { &sum, 0, { 0 } };
    CHECK_EQ(ctp_submit_inline(pool, &d, &p, CTP_INLINE_CAPACITY + 1, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_submit_inline(pool, &d, NULL, 8, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_submit_inline(NULL, &d, &p, sizeof p, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_submit_inline(pool, NULL, &p, sizeof p, NULL), CTP_EINVAL);
    atomic_store(&relocations, 0);
    long expect = 0;
    for (long i = 1; i <= 20000; i++) {
        p.sum = &sum;
        p.value = i;
        expect += i;
        /* Half with memcpy, half with a relocate callback. */
        CHECK_OK(ctp_submit_inline(pool, &d, &p, sizeof p, (i % 2) ? payload_relocate : NULL));
    }
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    CHECK_EQ(atomic_load(&sum), expect);
    CHECK_EQ(atomic_load(&relocations), 10000);
    /* After shutdown: refused, and the payload was not relocated. */
    CHECK_EQ(ctp_submit_inline(pool, &d, &p, sizeof p, payload_relocate), CTP_ESHUTDOWN);
    CHECK_EQ(atomic_load(&relocations), 10000);
    CHECK_OK(ctp_pool_destroy(pool));

    /* Cancelled inline tasks get on_cancel with the payload. */
    pool = make_pool(1);
    CHECK(pool != NULL);
    gate g;
    gate_init(&g);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 1);
    atomic_store(&sum, 0);
    for (int i = 0; i < 10; i++)
        CHECK_OK(ctp_submit_inline(pool, &d, &p, sizeof p, NULL));
    CHECK_EQ(ctp_pool_shutdown(pool, CTP_SHUTDOWN_CANCEL, 0), CTP_ETIMEDOUT);
    gate_open(&g);
    CHECK_OK(ctp_pool_destroy(pool));
    CHECK_EQ(atomic_load(&sum), -10000000);
}

/* Payload of the batch test: which item ran, and where. */
typedef struct {
    _Atomic int *ran; /* per item */
    int index;
    int node; /* the node the item asked for, checked against where it ran */
    _Atomic int *wrong_node;
    ctp_pool *pool;
} batch_item;

static void batch_item_run(void *arg)
{
    batch_item *b = arg; /* the task's own copy */
    atomic_fetch_add(&b->ran[b->index], 1);
    int w = ctp_worker_index();
    if (b->node >= 0 && w >= 0 && ctp_worker_node(b->pool, w) != b->node)
        atomic_fetch_add(b->wrong_node, 1); /* only checked with the remote grace period on, see below */
}

static void batch_item_cancel(void *arg)
{
    batch_item *b = arg;
    atomic_fetch_add(&b->ran[b->index], 100);
}

static void batch_item_relocate(void *dst, void *src)
{
    memcpy(dst, src, sizeof(batch_item));
    memset(src, 0xEE, sizeof(batch_item));
    atomic_fetch_add(&relocations, 1);
}

/* From inside a worker: the batch goes to its own deque (the local path). */
typedef struct {
    ctp_task_desc *descs;
    batch_item *items;
    size_t count, stride;
    int rc;
} batch_from_worker;

static void submit_batch_from_worker(void *arg)
{
    batch_from_worker *f = arg;
    f->rc = ctp_submit_batch_inline(f->items[0].pool, f->descs, f->count, f->items, sizeof(batch_item), f->stride,
                                    batch_item_relocate);
}

void test_submit_batch_inline(void)
{
    enum { N = 300 };
    static _Atomic int ran[N];
    static ctp_task_desc descs[N];
    /* A stride larger than the item: items sit in a caller's array of bigger records. */
    static struct {
        batch_item item;
        char other[24];
    } records[N];
    size_t stride = sizeof records[0];
    _Atomic int wrong_node = 0;
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 2;
    c.topology = "0;1";
    c.remote_steal_delay_ns = 100ull * 1000 * 1000; /* the most: workers keep to their node in this test */
    ctp_pool *pool;
    CHECK_OK(ctp_pool_create(&c, &pool));
    ctp_group *g;
    CHECK_OK(ctp_group_create(pool, &g));
    for (int i = 0; i < N; i++) {
        atomic_store(&ran[i], 0);
        ctp_task_desc_init(&descs[i], batch_item_run, NULL);
        descs[i].on_cancel = batch_item_cancel;
        descs[i].group = g;
        descs[i].priority = (ctp_priority)(i % 3 == 0 ? CTP_PRIORITY_NORMAL : i % 3 == 1 ? CTP_PRIORITY_HIGH
                                                                                         : CTP_PRIORITY_LOW);
        descs[i].node = (i % 4) == 0 ? -1 : (i % 2); /* node-less, node 0, node 1 */
        if (descs[i].priority == CTP_PRIORITY_HIGH)
            descs[i].node = -1; /* HIGH may run anywhere at once: only NORMAL/LOW carry nodes here */
        records[i].item = (batch_item){ ran, i, descs[i].node, &wrong_node, pool };
    }
    /* Bad input: nothing moved, nothing queued. */
    atomic_store(&relocations, 0);
    CHECK_EQ(ctp_submit_batch_inline(NULL, descs, N, records, sizeof(batch_item), stride, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_submit_batch_inline(pool, NULL, N, records, sizeof(batch_item), stride, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_submit_batch_inline(pool, descs, N, NULL, sizeof(batch_item), stride, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_submit_batch_inline(pool, descs, N, records, sizeof(batch_item), sizeof(batch_item) - 1, NULL),
             CTP_EINVAL);
    CHECK_EQ(ctp_submit_batch_inline(pool, descs, N, records, CTP_INLINE_CAPACITY + 1, 256, NULL), CTP_EINVAL);
    /* Items that would end past the address space: (N - 1) * stride wraps. */
    CHECK_EQ(ctp_submit_batch_inline(pool, descs, N, records, sizeof(batch_item), SIZE_MAX, NULL), CTP_EINVAL);
    CHECK_EQ(ctp_submit_batch_inline(pool, descs, 2, records, sizeof(batch_item), SIZE_MAX - sizeof(batch_item) + 1,
                                     NULL),
             CTP_EINVAL);
    CHECK_OK(ctp_submit_batch_inline(pool, descs, 0, NULL, sizeof(batch_item), stride, NULL));
    descs[N - 1].node = 7; /* no such node: the whole batch is refused */
    CHECK_EQ(ctp_submit_batch_inline(pool, descs, N, records, sizeof(batch_item), stride, batch_item_relocate),
             CTP_EINVAL);
    descs[N - 1].node = records[N - 1].item.node;
    CHECK_EQ(atomic_load(&relocations), 0);
    CHECK_EQ(ctp_group_wait(g, 0), CTP_OK); /* nothing pending */

    /* From outside: every item once, with its own payload. */
    CHECK_OK(ctp_submit_batch_inline(pool, descs, N, records, sizeof(batch_item), stride, batch_item_relocate));
    CHECK_EQ(atomic_load(&relocations), N);
    for (int i = 0; i < N; i++)
        CHECK_EQ(records[i].item.index, (int)0xEEEEEEEE); /* each source was moved from */
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    for (int i = 0; i < N; i++)
        CHECK_EQ(atomic_load(&ran[i]), 1);

    /* From a worker (its own deque), memcpy this time. */
    for (int i = 0; i < N; i++) {
        atomic_store(&ran[i], 0);
        records[i].item = (batch_item){ ran, i, descs[i].node, &wrong_node, pool };
        descs[i].node = -1; /* local: all on the worker's own deque */
        records[i].item.node = -1;
    }
    batch_from_worker f = { descs, &records[0].item, N, stride, -1 };
    ctp_task_desc outer;
    ctp_task_desc_init(&outer, submit_batch_from_worker, &f);
    outer.group = g; /* so the wait covers what it submits */
    CHECK_OK(ctp_submit_desc(pool, &outer));
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    CHECK_OK(f.rc);
    for (int i = 0; i < N; i++)
        CHECK_EQ(atomic_load(&ran[i]), 1);
    CHECK_EQ(atomic_load(&wrong_node), 0);

    /* After shutdown: refused, nothing moved. */
    CHECK_OK(ctp_group_destroy(g));
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    atomic_store(&relocations, 0);
    for (int i = 0; i < N; i++)
        descs[i].group = NULL;
    CHECK_EQ(ctp_submit_batch_inline(pool, descs, N, records, sizeof(batch_item), stride, batch_item_relocate),
             CTP_ESHUTDOWN);
    CHECK_EQ(atomic_load(&relocations), 0);
    CHECK_OK(ctp_pool_destroy(pool));

    /* A bounded queue that cannot take the whole batch refuses all of it. */
    ctp_config_init(&c);
    c.workers = 1;
    c.queue_capacity = N - 1;
    CHECK_OK(ctp_pool_create(&c, &pool));
    for (int i = 0; i < N; i++)
        records[i].item = (batch_item){ ran, i, -1, &wrong_node, pool };
    CHECK_EQ(ctp_submit_batch_inline(pool, descs, N, records, sizeof(batch_item), stride, batch_item_relocate),
             CTP_EFULL);
    CHECK_EQ(atomic_load(&relocations), 0);
    /* Cancelled: on_cancel gets each item's payload. */
    gate gt;
    gate_init(&gt);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, gate_task, &gt));
    wait_entered(&gt, 1);
    for (int i = 0; i < N; i++)
        atomic_store(&ran[i], 0);
    CHECK_OK(ctp_submit_batch_inline(pool, descs, 100, records, sizeof(batch_item), stride, NULL));
    CHECK_EQ(ctp_pool_shutdown(pool, CTP_SHUTDOWN_CANCEL, 0), CTP_ETIMEDOUT);
    gate_open(&gt);
    CHECK_OK(ctp_pool_destroy(pool));
    for (int i = 0; i < 100; i++)
        CHECK_EQ(atomic_load(&ran[i]), 100);
}

void test_pool_help_runs_one_task(void)
{
    ctp_pool *pool = make_pool(1);
    CHECK(pool != NULL);
    gate g;
    gate_init(&g);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 1); /* the only worker is busy */
    _Atomic long n = 0;
    for (int i = 0; i < 5; i++)
        CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, count_task, &n));
    for (int i = 0; i < 5; i++)
        CHECK_EQ(ctp_pool_help(pool), 1);
    CHECK_EQ(atomic_load(&n), 5);
    CHECK_EQ(ctp_pool_help(pool), 0);
    CHECK_EQ(ctp_pool_help(NULL), CTP_EINVAL);
    gate_open(&g);
    CHECK_OK(ctp_pool_destroy(pool));
}

static void churn_body(size_t begin, size_t end, void *ctx)
{
    (void)ctx;
    (void)begin;
    (void)end;
}

static void group_churn_task(void *arg)
{
    ctp_pool *p = arg;
    ctp_group *g;
    if (ctp_group_create(p, &g) == CTP_OK) {
        ctp_group_submit(g, CTP_PRIORITY_NORMAL, noop, NULL);
        ctp_group_wait(g, CTP_WAIT_FOREVER);
        ctp_group_destroy(g);
    }
    ctp_parallel_for(p, 0, 64, 8, churn_body, NULL);
}

/* A task of the pool inside ctp_parallel_for (a group the runtime makes
 * and destroys) while the pool is destroyed from outside: the destroy waits
 * for it, as a drain does. */
static _Atomic int pfor_in_body;

static void slow_body(size_t begin, size_t end, void *ctx)
{
    (void)begin;
    (void)end;
    (void)ctx;
    atomic_store(&pfor_in_body, 1);
    test_sleep_us(50000);
}

static void pfor_task(void *arg)
{
    ctp_parallel_for(arg, 0, 2, 1, slow_body, NULL); /* two chunks: a runner task, so a group */
}

/* ctp_pool_destroy with a group or tick of the pool still alive after its
 * drain refuses to free the pool (CTP_EINVAL; it used to free it under
 * them, and the group's next use read freed memory): the pool is stopped,
 * the group can still be waited for and destroyed, and then the destroy
 * succeeds. Groups its own tasks make and destroy (parallel for, their
 * fork-join groups) do not count, also while they are alive when the
 * destroy begins. */
void test_pool_destroy_refused_while_group_or_tick_lives(void)
{
    ctp_pool *p = make_pool(2);
    CHECK(p != NULL);
    ctp_group *g;
    CHECK_OK(ctp_group_create(p, &g));
    _Atomic long ran = 0;
    CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_NORMAL, count_task, &ran));
    CHECK_EQ(ctp_pool_destroy(p), CTP_EINVAL); /* drained, then refused */
    CHECK_EQ(atomic_load(&ran), 1);
    CHECK_EQ(ctp_submit(p, CTP_PRIORITY_NORMAL, count_task, &ran), CTP_ESHUTDOWN);
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(g));
    CHECK_OK(ctp_pool_destroy(p));

    /* A tick likewise, until it ends. */
    p = make_pool(2);
    CHECK(p != NULL);
    ctp_tick *t;
    CHECK_OK(ctp_tick_begin(p, NULL, &t));
    CHECK_OK(ctp_group_submit(ctp_tick_group(t), CTP_PRIORITY_NORMAL, count_task, &ran));
    CHECK_EQ(ctp_pool_destroy(p), CTP_EINVAL);
    CHECK_OK(ctp_tick_end(t, CTP_WAIT_FOREVER, NULL, NULL, 0));
    CHECK_EQ(atomic_load(&ran), 2);
    CHECK_OK(ctp_pool_destroy(p));

    /* The pool's own tasks' groups: churned, and one alive (a parallel for
     * in a running task) when the destroy begins. */
    p = make_pool(2);
    CHECK(p != NULL);
    ctp_group *outer;
    CHECK_OK(ctp_group_create(p, &outer));
    for (int i = 0; i < 100; i++)
        CHECK_OK(ctp_group_submit(outer, CTP_PRIORITY_NORMAL, group_churn_task, p));
    CHECK_OK(ctp_group_wait(outer, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(outer));
    atomic_store(&pfor_in_body, 0);
    CHECK_OK(ctp_submit(p, CTP_PRIORITY_NORMAL, pfor_task, p));
    CHECK(TEST_WAIT_UNTIL(atomic_load(&pfor_in_body) == 1, 10000));
    CHECK_OK(ctp_pool_destroy(p));
}

/* Thread names are cut before a UTF-8 character that would not fit whole:
 * "ゲームサーバー" (3 bytes a character) gave workers "ゲーム" plus the
 * first byte of "サ", and the monitor's 9-byte cut split "é" in
 * "abcdefghé". */
typedef struct thread_name {
    char name[16];
    _Atomic int done;
} thread_name;

static void record_thread_name(void *arg)
{
    thread_name *t = arg;
    pthread_getname_np(pthread_self(), t->name, sizeof t->name);
    atomic_store(&t->done, 1);
}

static ctp_pool *named_pool(const char *name)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 1;
    c.name = name;
    c.stall_ns = 1000 * 1000 * 1000; /* starts the monitor thread */
    ctp_pool *p = NULL;
    return ctp_pool_create(&c, &p) == CTP_OK ? p : NULL;
}

/* The name of this process's thread whose name ends in suffix, or "". */
static void find_thread_name(const char *suffix, char out[16])
{
    out[0] = '\0';
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return;
    size_t sl = strlen(suffix);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], line[64];
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue; /* that thread has exited */
        if (fgets(line, sizeof line, f) != NULL) {
            line[strcspn(line, "\n")] = '\0';
            size_t l = strlen(line);
            if (l >= sl && l < 16 && strcmp(line + l - sl, suffix) == 0)
                memcpy(out, line, l + 1);
        }
        fclose(f);
    }
    closedir(d);
}

void test_api_thread_names_cut_at_characters(void)
{
    static const struct {
        const char *name, *worker, *monitor;
    } cases[] = {
        { "\xe3\x82\xb2\xe3\x83\xbc\xe3\x83\xa0\xe3\x82\xb5\xe3\x83\xbc", "\xe3\x82\xb2\xe3\x83\xbc\xe3\x83\xa0-0",
          "\xe3\x82\xb2\xe3\x83\xbc\xe3\x83\xa0-mon" },       /* ゲームサー: ゲーム */
        { "abcdefgh\xc3\xa9", "abcdefgh\xc3\xa9-0", "abcdefgh-mon" }, /* é fits 10, not 9 */
        { "server-main", "server-mai-0", "server-ma-mon" },             /* ASCII: as before */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ctp_pool *p = named_pool(cases[i].name);
        CHECK(p != NULL);
        if (p == NULL)
            continue;
        char monitor[16];
        thread_name t = { .done = 0 };
        CHECK_OK(ctp_submit(p, CTP_PRIORITY_NORMAL, record_thread_name, &t)); /* on the worker */
        while (!atomic_load(&t.done))
            test_sleep_us(1000);
        const char *worker = t.name;
        if (strcmp(worker, cases[i].worker) != 0)
            fprintf(stderr, "  case %zu: worker \"%s\"\n", i, worker);
        CHECK(strcmp(worker, cases[i].worker) == 0);
        for (int tries = 0; tries < 200; tries++) { /* the monitor names itself as it starts */
            find_thread_name("-mon", monitor);
            if (monitor[0] != '\0')
                break;
            test_sleep_us(5000);
        }
        CHECK(strcmp(monitor, cases[i].monitor) == 0);
        if (strcmp(worker, cases[i].worker) != 0 || strcmp(monitor, cases[i].monitor) != 0)
            fprintf(stderr, "  case %zu: worker \"%s\", monitor \"%s\"\n", i, worker, monitor);
        CHECK_OK(ctp_pool_destroy(p));
    }
}
