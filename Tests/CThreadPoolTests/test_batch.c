/* Large batches: published in chunks (submit.c, CTP__PUBLISH_CHUNK), still
 * all or none, and never lost to a shutdown that starts halfway; for one
 * queue and for tasks spread over several nodes' queues. */
#include "harness.h"

#include <pthread.h>
#include <string.h>

/* ---- the first chunk runs while the rest is being queued ---- */

typedef struct {
    _Atomic int first_ran;  /* item 0 ran */
    _Atomic int seen;       /* the last item's relocate saw item 0 run */
    _Atomic long ran;
    long last;              /* index of the last item */
} chunk_state;

typedef struct {
    chunk_state *st;
    long index;
} chunk_item;

static void chunk_item_run(void *arg)
{
    chunk_item *it = arg;
    if (it->index == 0)
        atomic_store(&it->st->first_ran, 1);
    atomic_fetch_add(&it->st->ran, 1);
}

/* Moves an item in; for the last item, waits (up to 20 s) for item 0 to
 * have run. A batch published in one step has queued nothing yet when it
 * moves its last item, so item 0 cannot run first: the wait times out. */
static void chunk_item_relocate(void *dst, void *src)
{
    memcpy(dst, src, sizeof(chunk_item));
    chunk_item *it = src;
    if (it->index != it->st->last)
        return;
    uint64_t until = test_now_ns() + 20ull * 1000 * 1000 * 1000;
    while (!atomic_load(&it->st->first_ran) && test_now_ns() < until)
        test_sleep_us(100);
    atomic_store(&it->st->seen, atomic_load(&it->st->first_ran));
}

/* Without nodes (one queue), and on two simulated nodes with every third
 * task on each node (three queues). */
static const char *const topologies[] = { NULL, "0;1" };

static int node_of(int topology, long i)
{
    return topology == 0 ? -1 : (int)(i % 3) - 1;
}

void test_batch_large_runs_while_queued(void)
{
    enum { N = 4096 };
    static ctp_task_desc descs[N];
    static chunk_item items[N];
    static chunk_state st;
    for (int ti = 0; ti < 2; ti++) {
        atomic_store(&st.first_ran, 0);
        atomic_store(&st.seen, 0);
        atomic_store(&st.ran, 0);
        st.last = N - 1;
        ctp_pool *pool = make_pool_topo(topologies[ti], ti == 0 ? 1 : 2);
        CHECK(pool != NULL);
        ctp_group *g;
        CHECK_OK(ctp_group_create(pool, &g));
        for (long i = 0; i < N; i++) {
            ctp_task_desc_init(&descs[i], chunk_item_run, NULL);
            descs[i].group = g;
            descs[i].node = node_of(ti, i); /* item 0: no node */
            items[i] = (chunk_item){ &st, i };
        }
        CHECK_OK(
            ctp_submit_batch_inline(pool, descs, N, items, sizeof items[0], sizeof items[0], chunk_item_relocate));
        CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
        CHECK_EQ(atomic_load(&st.seen), 1); /* a worker ran item 0 before the last item was queued */
        CHECK_EQ(atomic_load(&st.ran), N);
        CHECK_OK(ctp_group_destroy(g));
        CHECK_OK(ctp_pool_destroy(pool));
    }
}

/* ---- large batches racing a shutdown ---- */

typedef struct {
    _Atomic long ran, cancelled, accepted;
} big_counts;

typedef struct {
    ctp_pool *pool;
    ctp_task_desc *descs; /* BIG of them, for this submitter */
    big_counts *counts;
} big_submitter;

enum { BIG = 1000 };

static void big_task(void *arg)
{
    atomic_fetch_add(&((big_counts *)arg)->ran, 1);
}

static void big_cancel(void *arg)
{
    atomic_fetch_add(&((big_counts *)arg)->cancelled, 1);
}

static void *big_submit_loop(void *arg)
{
    big_submitter *s = arg;
    for (;;) {
        int rc = ctp_submit_batch(s->pool, s->descs, BIG);
        if (rc == CTP_ESHUTDOWN)
            return NULL;
        if (rc == CTP_OK)
            atomic_fetch_add(&s->counts->accepted, BIG);
    }
}

void test_batch_large_races_shutdown(void)
{
    static ctp_task_desc descs[2][BIG];
    int rounds = (int)scaled(6);
    for (int round = 0; round < 2 * rounds; round++) {
        int cancel = round % 2, ti = round / 2 % 2;
        ctp_pool *pool = make_pool_topo(topologies[ti], 2);
        CHECK(pool != NULL);
        static big_counts c;
        atomic_store(&c.ran, 0);
        atomic_store(&c.cancelled, 0);
        atomic_store(&c.accepted, 0);
        big_submitter s[2];
        pthread_t th[2];
        for (int k = 0; k < 2; k++) {
            for (int i = 0; i < BIG; i++) {
                ctp_task_desc_init(&descs[k][i], big_task, &c);
                descs[k][i].on_cancel = big_cancel;
                descs[k][i].priority = (ctp_priority)(i % CTP_PRIORITY_COUNT);
                descs[k][i].node = node_of(ti, i);
            }
            s[k] = (big_submitter){ pool, descs[k], &c };
        }
        for (int k = 0; k < 2; k++)
            CHECK_EQ(pthread_create(&th[k], NULL, big_submit_loop, &s[k]), 0);
        /* The shutdown must meet batches in flight: wait for the first one
         * to be accepted (a fixed sleep was too short under TSan), then
         * let them run a while longer each round. */
        CHECK(TEST_WAIT_UNTIL(atomic_load(&c.accepted) > 0, 30000));
        test_sleep_us(1000 + 1500 * (unsigned)round);
        CHECK_OK(ctp_pool_shutdown(pool, cancel ? CTP_SHUTDOWN_CANCEL : CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
        for (int k = 0; k < 2; k++)
            pthread_join(th[k], NULL);
        /* Every accepted task ran or was dropped by the cancel, once; the
         * pool's counts agree; a drain ran them all. */
        ctp_stats st;
        CHECK_OK(ctp_pool_stats(pool, &st));
        long accepted = atomic_load(&c.accepted);
        CHECK(accepted > 0);
        CHECK_EQ(st.submitted, (uint64_t)accepted);
        CHECK_EQ(atomic_load(&c.ran) + atomic_load(&c.cancelled), accepted);
        CHECK_EQ(st.executed, (uint64_t)atomic_load(&c.ran));
        CHECK_EQ(st.cancelled, (uint64_t)atomic_load(&c.cancelled));
        if (!cancel)
            CHECK_EQ(atomic_load(&c.cancelled), 0);
        CHECK_OK(ctp_pool_destroy(pool));
    }
}
