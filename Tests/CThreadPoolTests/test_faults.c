/* Fault injection (issue 12, item 7): fail the n-th allocation or thread
 * creation for every n in pool creation, submission from outside, from
 * inside a task, as a batch, and group creation. Every call must either
 * succeed or fail with CTP_ENOMEM, all or nothing: no task lost or run twice,
 * nothing leaked (the AddressSanitizer run checks leaks at exit). */
#include "harness.h"

#include "../../Sources/CThreadPool/test_hooks.h"

enum { FAULT_BATCH = 500 }; /* more than a task slab (448), so submits allocate */

void test_fault_injection_create(void)
{
    static const char *topologies[] = { NULL, "0;1", "0;1;2;3" };
    for (int ti = 0; ti < 3; ti++) {
        int failed = 0;
        for (long n = 0;; n++) {
            ctp_test_fail_nth(n, -1);
            ctp_config c;
            ctp_config_init(&c);
            c.workers = 4;
            c.topology = topologies[ti];
            ctp_pool *p = NULL;
            int rc = ctp_pool_create(&c, &p);
            long made = ctp_test_alloc_count();
            ctp_test_fail_nth(-1, -1);
            CHECK(rc == CTP_OK || rc == CTP_ENOMEM);
            if (rc == CTP_ENOMEM) {
                CHECK(p == NULL);
                failed++;
                continue;
            }
            CHECK(p != NULL);
            CHECK_OK(ctp_pool_destroy(p));
            if (n >= made)
                break; /* past the last allocation: nothing failed */
        }
        CHECK(failed > 5);
        /* Each thread creation in turn. */
        for (long t = 0; t < 4; t++) {
            ctp_test_fail_nth(-1, t);
            ctp_config c;
            ctp_config_init(&c);
            c.workers = 4;
            c.topology = topologies[ti];
            ctp_pool *p = NULL;
            int rc = ctp_pool_create(&c, &p);
            ctp_test_fail_nth(-1, -1);
            CHECK_EQ(rc, CTP_ENOMEM);
            CHECK(p == NULL);
        }
    }
}

typedef struct inner_ctx {
    ctp_pool *pool;
    _Atomic long ran;
    _Atomic long inner_ok;
    _Atomic long inner_failed;
} inner_ctx;

static void inner_task(void *arg)
{
    atomic_fetch_add(&((inner_ctx *)arg)->ran, 1);
}

/* From inside a task: a batch onto the worker's own deque. */
static void spawn_batch(void *arg)
{
    inner_ctx *c = arg;
    /* Not on the stack nor in TLS (both are small on 64 KiB workers). */
    static ctp_task_desc d[FAULT_BATCH]; /* one spawn_batch runs at a time */
    for (int i = 0; i < FAULT_BATCH; i++)
        ctp_task_desc_init(&d[i], inner_task, c);
    int rc = ctp_submit_batch(c->pool, d, FAULT_BATCH);
    if (rc == CTP_OK)
        atomic_fetch_add(&c->inner_ok, 1);
    else if (rc == CTP_ENOMEM)
        atomic_fetch_add(&c->inner_failed, 1);
    /* and one by one */
    for (int i = 0; i < 20; i++) {
        rc = ctp_submit(c->pool, CTP_PRIORITY_HIGH, inner_task, c);
        if (rc == CTP_OK)
            atomic_fetch_add(&c->inner_ok, 1000);
        else if (rc == CTP_ENOMEM)
            atomic_fetch_add(&c->inner_failed, 1000);
    }
}

void test_fault_injection_submit_and_groups(void)
{
    static const char *topologies[] = { NULL, "0;1" };
    for (int ti = 0; ti < 2; ti++) {
        int failures = 0;
        for (long n = 0;; n++) {
            ctp_pool *pool = make_pool_topo(topologies[ti], 2);
            CHECK(pool != NULL);
            static inner_ctx c;
            c.pool = pool;
            atomic_store(&c.ran, 0);
            atomic_store(&c.inner_ok, 0);
            atomic_store(&c.inner_failed, 0);
            long expected = 0;
            ctp_test_fail_nth(n, -1);
            /* outside: a batch, with node affinity on the 2-node layout */
            static ctp_task_desc d[FAULT_BATCH];
            for (int i = 0; i < FAULT_BATCH; i++) {
                ctp_task_desc_init(&d[i], inner_task, &c);
                d[i].node = topologies[ti] != NULL ? i % 3 - 1 : -1;
            }
            int rc = ctp_submit_batch(pool, d, FAULT_BATCH);
            CHECK(rc == CTP_OK || rc == CTP_ENOMEM);
            failures += rc == CTP_ENOMEM;
            if (rc == CTP_OK)
                expected += FAULT_BATCH;
            /* outside: one task that submits from inside */
            int spawned = 0;
            rc = ctp_submit(pool, CTP_PRIORITY_NORMAL, spawn_batch, &c);
            CHECK(rc == CTP_OK || rc == CTP_ENOMEM);
            failures += rc == CTP_ENOMEM;
            spawned = rc == CTP_OK;
            /* a group */
            ctp_group *g = NULL;
            rc = ctp_group_create(pool, &g);
            CHECK(rc == CTP_OK || rc == CTP_ENOMEM);
            failures += rc == CTP_ENOMEM;
            if (rc == CTP_OK) {
                rc = ctp_group_submit(g, CTP_PRIORITY_LOW, inner_task, &c);
                CHECK(rc == CTP_OK || rc == CTP_ENOMEM);
                failures += rc == CTP_ENOMEM;
                expected += rc == CTP_OK;
                CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
                CHECK_OK(ctp_group_destroy(g));
            }
            CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
            long made = ctp_test_alloc_count();
            ctp_test_fail_nth(-1, -1);
            if (spawned) {
                long ok = atomic_load(&c.inner_ok), bad = atomic_load(&c.inner_failed);
                CHECK_EQ(ok % 1000 + bad % 1000, 1); /* the batch: accepted or refused */
                CHECK_EQ(ok / 1000 + bad / 1000, 20);
                expected += (ok % 1000) * FAULT_BATCH + ok / 1000;
                failures += (int)(bad % 1000 + bad / 1000);
            }
            CHECK_EQ(atomic_load(&c.ran), expected); /* all or nothing, exactly once */
            CHECK_OK(ctp_pool_destroy(pool));
            if (getenv("FAULT_DEBUG"))
                fprintf(stderr, "n %ld made %ld failures %d\n", n, made, failures);
            if (n >= made)
                break;
        }
        CHECK(failures > 2);
    }
}
