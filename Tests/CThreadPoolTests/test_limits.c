/* Limits (issue 12): parallel_for's stack frame and nesting on small stacks,
 * size overflow in node memory, concurrent pool creation over libnuma. */
#include "harness.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Nested parallel_for                                                      */
/* ------------------------------------------------------------------------ */

/* A tree of nested ctp_parallel_for calls: every call covers [0, fan) with
 * grain 1. In a full tree every index of a call below the last level nests
 * another call, and the last level's indices are leaves (fan^depth of them,
 * leaf number = path read as a base-fan number). In a chain only index 0
 * nests, so depth can be large: leaf (level, i) is counts[level * fan + i]. */
typedef struct {
    ctp_pool *pool;
    size_t fan;
    int depth;
    bool chain;
    _Atomic int *counts; /* how often each leaf ran */
    _Atomic int errors;  /* parallel_for calls that did not return CTP_OK */
    _Atomic int deepest; /* the deepest level reached on a worker's stack */
    _Atomic int done;    /* roots finished */
} nest_tree;

typedef struct {
    nest_tree *t;
    int level;
    size_t prefix;
} nest_call;

static void nest_body(size_t b, size_t e, void *ctx);

static void nest_run(nest_tree *t, int level, size_t prefix)
{
    nest_call call = { t, level, prefix };
    if (ctp_worker_index() >= 0) {
        int seen = atomic_load(&t->deepest);
        while (seen < level && !atomic_compare_exchange_weak(&t->deepest, &seen, level)) {
        }
    }
    if (ctp_parallel_for(t->pool, 0, t->fan, 1, nest_body, &call) != CTP_OK)
        atomic_fetch_add(&t->errors, 1);
}

static void nest_body(size_t b, size_t e, void *ctx)
{
    const nest_call *c = ctx;
    nest_tree *t = c->t;
    bool last = c->level + 1 == t->depth;
    for (size_t i = b; i < e; i++) {
        if (t->chain) {
            if (i == 0 && !last)
                nest_run(t, c->level + 1, 0);
            else
                atomic_fetch_add(&t->counts[(size_t)c->level * t->fan + i], 1);
        } else {
            if (!last)
                nest_run(t, c->level + 1, c->prefix * t->fan + i);
            else
                atomic_fetch_add(&t->counts[c->prefix * t->fan + i], 1);
        }
    }
}

static void nest_task(void *arg)
{
    nest_tree *t = arg;
    nest_run(t, 0, 0);
    atomic_fetch_add(&t->done, 1);
}

/* Runs the tree from tasks of a pool with the given worker stacks and checks
 * that every leaf ran exactly once per root. */
static void nest_check(size_t stack_size, size_t workers, size_t fan, int depth, bool chain)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = workers;
    c.stack_size = stack_size;
    ctp_pool *pool = NULL;
    CHECK_OK(ctp_pool_create(&c, &pool));
    size_t leaves = 1;
    if (chain) {
        leaves = (size_t)depth * fan;
    } else {
        for (int d = 0; d < depth; d++)
            leaves *= fan;
    }
    nest_tree t = { .pool = pool, .fan = fan, .depth = depth, .chain = chain };
    t.counts = calloc(leaves, sizeof *t.counts);
    CHECK(t.counts != NULL);
    atomic_init(&t.errors, 0);
    atomic_init(&t.deepest, -1);
    atomic_init(&t.done, 0);
    /* Several roots at once, so workers help each other's waits (and run
     * other roots' chunks on top of their own nested calls). This thread
     * only polls: a helping wait would run the roots on its own stack. */
    enum { ROOTS = 3 };
    for (int r = 0; r < ROOTS; r++)
        CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, nest_task, &t));
    while (atomic_load(&t.done) != ROOTS)
        test_sleep_us(200);
    CHECK_OK(ctp_pool_destroy(pool));
    CHECK_EQ(atomic_load(&t.errors), 0);
    size_t expect_leaf = ROOTS;
    for (size_t i = 0; i < leaves; i++) {
        bool unused = chain && (i % fan == 0) && i / fan + 1 < (size_t)depth; /* nested, not a leaf */
        int want = unused ? 0 : (int)expect_leaf;
        if (atomic_load(&t.counts[i]) != want) {
            fprintf(stderr, "  leaf %zu ran %d times, expected %d\n", i, atomic_load(&t.counts[i]), want);
            free(t.counts);
            CHECK(false);
        }
    }
    /* Some worker really ran the deepest level on its own stack. */
    CHECK_EQ(atomic_load(&t.deepest), depth - 1);
    free(t.counts);
}

/* The documented minimum stack (64 KiB): parallel_for nested from a task,
 * five deep three to a level and eight deep in a chain. On one worker every
 * level runs on that worker's stack (the caller claims every chunk before
 * the helper it queued on its own deque can run); on several, helpers and
 * helping waits spread and stack them. (The old 49 KB frame crashed at
 * depth 2.) */
void test_limits_parallel_for_nested_min_stack(void)
{
    const size_t stack = (size_t)64 << 10;
    nest_check(stack, 1, 3, 5, false);
    if (test_failures == 0)
        nest_check(stack, 4, 3, 5, false);
    if (test_failures == 0)
        nest_check(stack, 1, 4, 8, true);
    if (test_failures == 0)
        nest_check(stack, 2, 4, 8, true);
}

/* 1 MiB stacks: a chain of 32 nested calls. (The old frame ran out of 1 MiB
 * at about depth 20.) */
void test_limits_parallel_for_nested_deep(void)
{
    const size_t stack = (size_t)1 << 20;
    nest_check(stack, 1, 3, 32, true);
    if (test_failures == 0)
        nest_check(stack, 4, 3, 32, true);
}

/* ------------------------------------------------------------------------ */
/* parallel_for's helper submission over more workers than one batch        */
/* ------------------------------------------------------------------------ */

typedef struct {
    _Atomic int *hits;
} hit_ctx;

static void hit_range(size_t b, size_t e, void *ctx)
{
    hit_ctx *h = ctx;
    for (size_t i = b; i < e; i++)
        atomic_fetch_add(&h->hits[i], 1);
}

static void block_task(void *arg)
{
    gate_task(arg);
}

/* Pools larger than parallel_for's submission chunk (40 workers), and a
 * bounded queue that accepts only part of the helpers: every index once. */
void test_limits_parallel_for_many_workers(void)
{
    enum { N = 5000 };
    _Atomic int *hits = calloc(N, sizeof *hits);
    CHECK(hits != NULL);
    hit_ctx h = { hits };
    ctp_pool *pool = make_pool(40);
    CHECK(pool != NULL);
    for (int round = 0; round < 3; round++) {
        CHECK_OK(ctp_parallel_for(pool, 0, N, round == 0 ? 1 : 0, hit_range, &h));
        for (int i = 0; i < N; i++)
            CHECK_EQ(atomic_load(&hits[i]), round + 1);
    }
    CHECK_OK(ctp_pool_destroy(pool));

    /* queue_capacity 20: helper batches are accepted while they fit and
     * refused with CTP_EFULL after; the caller runs what helpers do not. */
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 40;
    c.queue_capacity = 20;
    CHECK_OK(ctp_pool_create(&c, &pool));
    memset(hits, 0, sizeof *hits * N);
    CHECK_OK(ctp_parallel_for(pool, 0, N, 1, hit_range, &h));
    for (int i = 0; i < N; i++)
        CHECK_EQ(atomic_load(&hits[i]), 1);
    /* Every worker blocked and 4 tasks queued: the first helper batch fills
     * the queue to 20, the next is refused, and the waiting caller runs
     * every chunk (and, helping, the queued helpers, which find none). */
    gate gt;
    gate_init(&gt);
    for (int i = 0; i < 40; i++) {
        int rc;
        while ((rc = ctp_submit(pool, CTP_PRIORITY_NORMAL, block_task, &gt)) == CTP_EFULL)
            test_sleep_us(100);
        CHECK_OK(rc);
    }
    wait_entered(&gt, 40);
    for (int i = 0; i < 4; i++)
        CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, noop, NULL));
    memset(hits, 0, sizeof *hits * N);
    CHECK_OK(ctp_parallel_for(pool, 0, N, 1, hit_range, &h));
    for (int i = 0; i < N; i++)
        CHECK_EQ(atomic_load(&hits[i]), 1);
    gate_open(&gt);
    CHECK_OK(ctp_pool_destroy(pool));
    free(hits);
}

/* ------------------------------------------------------------------------ */
/* Node memory: sizes near SIZE_MAX                                         */
/* ------------------------------------------------------------------------ */

static void alloc_overflow_on(ctp_pool *pool)
{
    for (size_t k = 0; k < 64; k++) {
        void *p = ctp_alloc_on_node(pool, 0, SIZE_MAX - k);
        if (p != NULL) {
            fprintf(stderr, "  ctp_alloc_on_node(SIZE_MAX - %zu) returned a block\n", k);
            ctp_free_on_node(pool, p, SIZE_MAX - k);
            CHECK(p == NULL);
        }
    }
    /* Sizes no object can have are refused before any allocator sees them
     * (sanitizers' allocators would abort on them). */
    CHECK(ctp_alloc_on_node(pool, 0, (size_t)PTRDIFF_MAX + 1) == NULL);
    CHECK(ctp_alloc_on_node(pool, 0, (size_t)PTRDIFF_MAX) == NULL); /* rounds up to 2^63: ASan aborted */
    CHECK(ctp_alloc_on_node(pool, 0, SIZE_MAX / 4 * 3) == NULL);
    /* Ordinary sizes still work, 64-byte aligned. */
    static const size_t sizes[] = { 1, 63, 64, 65, 4096, 100000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = ctp_alloc_on_node(pool, 0, sizes[i]);
        CHECK(p != NULL);
        CHECK_EQ((uintptr_t)p % 64, 0);
        memset(p, 0xa5, sizes[i]);
        ctp_free_on_node(pool, p, sizes[i]);
    }
}

void test_limits_alloc_on_node_overflow(void)
{
    static const struct {
        ctp_numa_mode mode;
        const char *topology; /* NULL: the machine's */
    } setups[] = {
        { CTP_NUMA_AUTO, NULL },
        { CTP_NUMA_OFF, NULL },
        { CTP_NUMA_AUTO, "0;1" },
        { CTP_NUMA_OFF, "0-1;2-3" },
    };
    for (size_t s = 0; s < sizeof setups / sizeof setups[0]; s++) {
        ctp_config c;
        ctp_config_init(&c);
        c.workers = 2;
        c.numa_mode = setups[s].mode;
        c.topology = setups[s].topology;
        ctp_pool *pool = NULL;
        CHECK_OK(ctp_pool_create(&c, &pool));
        int before = test_failures;
        alloc_overflow_on(pool);
        CHECK_OK(ctp_pool_destroy(pool));
        CHECK_EQ(test_failures, before);
    }
}

/* ------------------------------------------------------------------------ */
/* Concurrent ctp_pool_create with the machine's topology                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    pthread_barrier_t *start;
    long rounds;
    _Atomic int *errors;
} creator_arg;

static void *creator(void *p)
{
    creator_arg *a = p;
    pthread_barrier_wait(a->start);
    for (long r = 0; r < a->rounds; r++) {
        ctp_pool *pool = NULL;
        if (ctp_pool_create(NULL, &pool) != CTP_OK) { /* the machine's topology */
            atomic_fetch_add(a->errors, 1);
            continue;
        }
        _Atomic long ran = 0;
        if (ctp_submit(pool, CTP_PRIORITY_NORMAL, count_task, &ran) != CTP_OK)
            atomic_fetch_add(a->errors, 1);
        void *mem = ctp_alloc_on_node(pool, 0, 4096);
        if (mem == NULL)
            atomic_fetch_add(a->errors, 1);
        ctp_free_on_node(pool, mem, 4096);
        if (ctp_pool_destroy(pool) != CTP_OK || atomic_load(&ran) != 1)
            atomic_fetch_add(a->errors, 1);
    }
    return NULL;
}

/* Four threads create and destroy pools at once over libnuma. Run it first in
 * a process under TSan (tests are filtered by name) to see the race: libnuma
 * fills its per-node CPU masks and distance table on first use, and a
 * process that created a pool before starting the threads already has them. */
void test_limits_concurrent_create_real_topology(void)
{
    /* The machine's topology, whatever the environment says. */
    const char *env = getenv("CTP_TOPOLOGY");
    char *saved = env != NULL ? strdup(env) : NULL;
    unsetenv("CTP_TOPOLOGY");
    enum { THREADS = 4 };
    long rounds = scaled(50);
    if (rounds < 8)
        rounds = 8;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    _Atomic int errors = 0;
    creator_arg a = { &start, rounds, &errors };
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, creator, &a);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    if (saved != NULL) {
        setenv("CTP_TOPOLOGY", saved, 1);
        free(saved);
    }
    CHECK_EQ(atomic_load(&errors), 0);
}
