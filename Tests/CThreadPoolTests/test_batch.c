/* Large batches: published in chunks (submit.c, CTP__PUBLISH_CHUNK), still
 * all or none, and never lost to a shutdown that starts halfway; for one
 * queue and for tasks spread over several nodes' queues. */
#include "harness.h"

#include <pthread.h>
#include <stdlib.h>
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

/* ---- a shutdown that starts between two chunks ---- */

enum { SPLIT = 512 }; /* two chunks of CTP__PUBLISH_CHUNK (256) */

typedef struct {
    ctp_pool *pool;
    ctp_shutdown_mode mode;
    pthread_t shutter;
    _Atomic int shutting; /* the shutdown thread is about to call ctp_pool_shutdown */
    _Atomic int shut_rc;
    _Atomic long ran, cancelled;
} split_state;

typedef struct {
    split_state *st;
    long index;
} split_item;

static void split_run(void *arg)
{
    atomic_fetch_add(&((split_item *)arg)->st->ran, 1);
}

static void split_cancel(void *arg)
{
    atomic_fetch_add(&((split_item *)arg)->st->cancelled, 1);
}

static void *split_shutdown(void *arg)
{
    split_state *st = arg;
    atomic_store(&st->shutting, 1);
    atomic_store(&st->shut_rc, ctp_pool_shutdown(st->pool, st->mode, CTP_WAIT_FOREVER));
    return NULL;
}

/* Item 256 moves in after the first chunk was published, outside every
 * lock: here the shutdown starts on another thread, the first chunk's tasks
 * finish, and the shutdown gets 50 ms in which only the first chunk is
 * visible. A pool that counted the batch chunk by chunk would call itself
 * quiescent then, stop its workers, and lose the second chunk. */
static void split_relocate(void *dst, void *src)
{
    memcpy(dst, src, sizeof(split_item));
    split_item *it = src;
    if (it->index != SPLIT / 2)
        return;
    split_state *st = it->st;
    if (pthread_create(&st->shutter, NULL, split_shutdown, st) != 0)
        abort();
    uint64_t until = test_now_ns() + 20ull * 1000 * 1000 * 1000;
    while ((!atomic_load(&st->shutting) || atomic_load(&st->ran) + atomic_load(&st->cancelled) < SPLIT / 2) &&
           test_now_ns() < until)
        test_sleep_us(100);
    test_sleep_us(50 * 1000);
}

void test_batch_shutdown_between_chunks(void)
{
    static ctp_task_desc descs[SPLIT];
    static split_item items[SPLIT];
    static split_state st;
    for (int round = 0; round < 4; round++) {
        int cancel = round % 2, ti = round / 2;
        ctp_pool *pool = make_pool_topo(topologies[ti], 2);
        CHECK(pool != NULL);
        st.pool = pool;
        st.mode = cancel ? CTP_SHUTDOWN_CANCEL : CTP_SHUTDOWN_DRAIN;
        atomic_store(&st.shutting, 0);
        atomic_store(&st.shut_rc, -1);
        atomic_store(&st.ran, 0);
        atomic_store(&st.cancelled, 0);
        for (long i = 0; i < SPLIT; i++) {
            ctp_task_desc_init(&descs[i], split_run, NULL);
            descs[i].on_cancel = split_cancel;
            descs[i].node = node_of(ti, i);
            items[i] = (split_item){ &st, i };
        }
        CHECK_OK(ctp_submit_batch_inline(pool, descs, SPLIT, items, sizeof items[0], sizeof items[0],
                                         split_relocate));
        pthread_join(st.shutter, NULL);
        CHECK_OK(atomic_load(&st.shut_rc));
        /* The shutdown waited for the second chunk: every task ran or was
         * cancelled, once; a drain ran them all. */
        CHECK_EQ(atomic_load(&st.ran) + atomic_load(&st.cancelled), SPLIT);
        if (!cancel)
            CHECK_EQ(atomic_load(&st.ran), SPLIT);
        ctp_stats s;
        CHECK_OK(ctp_pool_stats(pool, &s));
        CHECK_EQ(s.submitted, (uint64_t)SPLIT);
        CHECK_EQ(s.executed + s.cancelled, (uint64_t)SPLIT);
        CHECK_OK(ctp_pool_destroy(pool));
    }
}
