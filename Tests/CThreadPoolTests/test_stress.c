/* Stress: exactly-once execution counted per task id, lost wake-up torture,
 * forced race windows through the test hooks, shutdown under load. */
#include "harness.h"

#include "../../Sources/CThreadPool/test_hooks.h"

#include <string.h>

/* ---- exactly once ---- */

typedef struct {
    ctp_pool *pool;
    _Atomic unsigned char *runs; /* runs[id]: times task id ran */
    long ids;                    /* ids [0, ids) are external, [ids, 2*ids) nested */
} once_ctx;

/* Task ids are packed into the arg pointer: no allocation per task. */
static once_ctx *g_once;

static void run_id(void *arg)
{
    long id = (long)(intptr_t)arg;
    atomic_fetch_add(&g_once->runs[id], 1);
    if (id < g_once->ids && id % 2 == 0) {
        /* Every even external task spawns the nested task id + ids. */
        int rc = ctp_submit(g_once->pool, (ctp_priority)(id % CTP_PRIORITY_COUNT), run_id,
                            (void *)(intptr_t)(id + g_once->ids));
        if (rc != CTP_OK)
            atomic_fetch_add(&g_once->runs[id], 100); /* poison: refused inside */
    }
}

typedef struct {
    long from, to;
} range_arg;

static void *external_submitter(void *arg)
{
    range_arg *r = arg;
    ctp_task_desc batch[16];
    long id = r->from;
    while (id < r->to) {
        if (id % 3 == 0) { /* mix single submits and batches */
            int n = 0;
            while (n < 16 && id < r->to) {
                ctp_task_desc_init(&batch[n], run_id, (void *)(intptr_t)id);
                batch[n].priority = (ctp_priority)(id % CTP_PRIORITY_COUNT);
                n++;
                id++;
            }
            while (ctp_submit_batch(g_once->pool, batch, (size_t)n) != CTP_OK)
                ;
        } else {
            while (ctp_submit(g_once->pool, (ctp_priority)(id % CTP_PRIORITY_COUNT), run_id,
                              (void *)(intptr_t)id) != CTP_OK)
                ;
            id++;
        }
    }
    return NULL;
}

static void exactly_once_run(ctp_pool *pool, long ids, int threads)
{
    once_ctx ctx = { .pool = pool, .ids = ids };
    ctx.runs = calloc((size_t)(2 * ids), 1);
    g_once = &ctx;
    pthread_t th[8];
    range_arg ranges[8];
    for (int i = 0; i < threads; i++) {
        ranges[i] = (range_arg){ ids * i / threads, ids * (i + 1) / threads };
        pthread_create(&th[i], NULL, external_submitter, &ranges[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    long wrong = 0, first_wrong = -1;
    for (long id = 0; id < 2 * ids; id++) {
        int expect = (id < ids || (id - ids) % 2 == 0) ? 1 : 0;
        if (atomic_load(&ctx.runs[id]) != expect) {
            if (first_wrong < 0)
                first_wrong = id;
            wrong++;
        }
    }
    if (wrong)
        fprintf(stderr, "  %ld ids ran the wrong number of times (first %ld: %d)\n", wrong, first_wrong,
                atomic_load(&ctx.runs[first_wrong]));
    CHECK_EQ(wrong, 0);
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(pool, &st));
    long expected = ids + (ids + 1) / 2;
    CHECK_EQ(st.submitted, expected);
    CHECK_EQ(st.executed, expected);
    CHECK_EQ(st.cancelled, 0);
    free((void *)ctx.runs);
    g_once = NULL;
}

void test_exactly_once_external_and_nested(void)
{
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    exactly_once_run(pool, scaled(2000000), 3);
    CHECK_OK(ctp_pool_destroy(pool));
    pool = make_pool(4); /* more workers than cores: more stealing and parking */
    CHECK(pool != NULL);
    exactly_once_run(pool, scaled(500000), 2);
    CHECK_OK(ctp_pool_destroy(pool));
}

/* ---- lost wake-up torture ---- */

typedef struct {
    pthread_mutex_t m;
    pthread_cond_t cv;
    long done;
} done_signal;

static void signal_done(void *arg)
{
    done_signal *d = arg;
    pthread_mutex_lock(&d->m);
    d->done++;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->m);
}

static void torture(ctp_pool *pool, long rounds)
{
    done_signal d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
    for (long r = 0; r < rounds; r++) {
        CHECK_OK(ctp_submit(pool, (ctp_priority)(r % CTP_PRIORITY_COUNT), signal_done, &d));
        pthread_mutex_lock(&d.m);
        while (d.done != r + 1)
            pthread_cond_wait(&d.cv, &d.m); /* no timeout: a lost wake-up hangs here */
        pthread_mutex_unlock(&d.m);
    }
}

void test_lost_wakeup_torture(void)
{
    /* All workers idle, submit one, wait; spin 0 makes every round go
     * through park and wake. The hang detector catches a lost wake-up. */
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 2;
    c.spin_ns = 0;
    ctp_pool *pool;
    CHECK_OK(ctp_pool_create(&c, &pool));
    torture(pool, scaled(200000));
    ctp_stats st;
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK(st.parks > 0);
    CHECK_OK(ctp_pool_destroy(pool));
    /* With spinning on, rounds race the searchers instead. */
    ctp_config_init(&c);
    c.workers = 3;
    c.spin_ns = 2000;
    CHECK_OK(ctp_pool_create(&c, &pool));
    torture(pool, scaled(100000));
    CHECK_OK(ctp_pool_destroy(pool));
}

/* ---- forced race windows ---- */

typedef struct {
    _Atomic uint32_t seed;
    _Atomic long hits[CTP_HOOK_COUNT];
} hook_ctx;

static void random_delay_hook(ctp_test_hook_point point, void *arg)
{
    hook_ctx *h = arg;
    atomic_fetch_add(&h->hits[point], 1);
    uint32_t x = atomic_fetch_add(&h->seed, 0x9e3779b9u);
    x ^= x >> 15;
    x *= 0x2c1b3c6du;
    x ^= x >> 12;
    switch (x % 8) {
    case 0:
    case 1:
        sched_yield();
        break;
    case 2:
        test_sleep_us(1 + x % 50);
        break;
    case 3:
        for (volatile int i = 0; i < (int)(x % 2000); i++)
            ;
        break;
    default:
        break;
    }
}

static void fork_join_leaf(void *arg)
{
    atomic_fetch_add((_Atomic long *)arg, 1);
}

typedef struct {
    ctp_pool *pool;
    _Atomic long *count;
} fj_ctx;

static void fork_join_node(void *arg)
{
    fj_ctx *c = arg;
    ctp_group *g;
    if (ctp_group_create(c->pool, &g) != CTP_OK)
        return;
    for (int i = 0; i < 4; i++)
        ctp_group_submit(g, (ctp_priority)i, fork_join_leaf, c->count);
    ctp_group_wait(g, CTP_WAIT_FOREVER);
    ctp_group_destroy(g);
    atomic_fetch_add(c->count, 1);
}

void test_race_windows_random_delays(void)
{
    hook_ctx h;
    memset(&h, 0, sizeof h);
    atomic_store(&h.seed, 12345);
    long rounds = scaled(3000);
    for (int variant = 0; variant < 3; variant++) {
        ctp_config c;
        ctp_config_init(&c);
        c.workers = (size_t)(2 + variant);
        c.spin_ns = variant == 1 ? 5000 : 0;
        c.backoff_ns = variant == 2 ? 200000 : 0;
        ctp_pool *pool;
        CHECK_OK(ctp_test_pool_create_hooked(&c, random_delay_hook, &h, &pool));
        done_signal d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
        _Atomic long count = 0;
        fj_ctx fj = { pool, &count };
        long expect_count = 0;
        /* The hook yields the CPU often: on a machine whose CPUs other
         * processes keep busy each yield costs a whole time slice (3000
         * rounds took 42-60+ s with two busy loops on 2 CPUs, against 1.2 s
         * idle). So each variant stops after 15 s, past 100 rounds: a
         * lost wake-up still hangs a round, which the hang detector
         * catches. */
        uint64_t variant_end = test_now_ns() + 15ull * 1000 * 1000 * 1000;
        for (long r = 0; r < rounds && (r < 100 || test_now_ns() < variant_end); r++) {
            /* One lone task (pure wake path), then a small burst with a
             * fork-join node, waited for without timeouts. */
            CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, signal_done, &d));
            pthread_mutex_lock(&d.m);
            while (d.done != 2 * r + 1)
                pthread_cond_wait(&d.cv, &d.m);
            pthread_mutex_unlock(&d.m);
            ctp_group *g;
            CHECK_OK(ctp_group_create(pool, &g));
            CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_HIGH, fork_join_node, &fj));
            CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_LOW, fork_join_leaf, &count));
            CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
            CHECK_OK(ctp_group_destroy(g));
            expect_count += 6;
            CHECK_EQ(atomic_load(&count), expect_count);
            CHECK_OK(ctp_submit(pool, CTP_PRIORITY_IDLE, signal_done, &d));
            pthread_mutex_lock(&d.m);
            while (d.done != 2 * r + 2)
                pthread_cond_wait(&d.cv, &d.m);
            pthread_mutex_unlock(&d.m);
        }
        CHECK_OK(ctp_pool_destroy(pool));
    }
    /* The windows were really exercised. */
    CHECK(atomic_load(&h.hits[CTP_HOOK_BEFORE_PARK]) > 0);
    CHECK(atomic_load(&h.hits[CTP_HOOK_BEFORE_NOTIFY]) > 0);
    CHECK(atomic_load(&h.hits[CTP_HOOK_SHUTDOWN]) > 0);
    CHECK(atomic_load(&h.hits[CTP_HOOK_AFTER_SEARCH]) > 0);
    CHECK(atomic_load(&h.hits[CTP_HOOK_IN_STEAL]) > 0);
    CHECK(atomic_load(&h.hits[CTP_HOOK_GROUP_BLOCK]) > 0);
}

/* ---- shutdown under load ---- */

typedef struct {
    ctp_pool *pool;
    _Atomic long ran, cancelled, spawned;
} load_ctx;

static void load_cancel(void *arg)
{
    atomic_fetch_add(&((load_ctx *)arg)->cancelled, 1);
}

static void load_task(void *arg)
{
    load_ctx *l = arg;
    atomic_fetch_add(&l->ran, 1);
    for (volatile int i = 0; i < 200; i++)
        ;
    if (atomic_load(&l->spawned) < 20000) {
        ctp_task_desc d;
        ctp_task_desc_init(&d, load_task, l);
        d.on_cancel = load_cancel;
        if (ctp_submit_desc(l->pool, &d) == CTP_OK)
            atomic_fetch_add(&l->spawned, 1);
    }
}

static void *load_submitter(void *arg)
{
    load_ctx *l = arg;
    ctp_task_desc d;
    ctp_task_desc_init(&d, load_task, l);
    d.on_cancel = load_cancel;
    for (;;) {
        int rc = ctp_submit_desc(l->pool, &d);
        if (rc == CTP_ESHUTDOWN)
            return NULL;
        if (rc == CTP_OK)
            atomic_fetch_add(&l->spawned, 1);
    }
}

void test_drain_and_cancel_under_load(void)
{
    for (int mode = 0; mode < 2; mode++) {
        for (int rep = 0; rep < 5; rep++) {
            ctp_pool *pool = make_pool(3);
            CHECK(pool != NULL);
            load_ctx l = { .pool = pool };
            pthread_t th[2];
            for (int i = 0; i < 2; i++)
                pthread_create(&th[i], NULL, load_submitter, &l);
            test_sleep_us(20000);
            CHECK_OK(ctp_pool_shutdown(pool, mode ? CTP_SHUTDOWN_CANCEL : CTP_SHUTDOWN_DRAIN,
                                       CTP_WAIT_FOREVER));
            for (int i = 0; i < 2; i++)
                pthread_join(th[i], NULL);
            /* Nothing lost: every accepted task ran or was cancelled, once. */
            ctp_stats st;
            CHECK_OK(ctp_pool_stats(pool, &st));
            CHECK_EQ(atomic_load(&l.spawned), st.submitted);
            CHECK_EQ(atomic_load(&l.ran) + atomic_load(&l.cancelled), st.submitted);
            CHECK_EQ(st.executed, atomic_load(&l.ran));
            CHECK_EQ(st.cancelled, atomic_load(&l.cancelled));
            if (mode == 0)
                CHECK_EQ(atomic_load(&l.cancelled), 0);
            CHECK_OK(ctp_pool_destroy(pool));
        }
    }
}
