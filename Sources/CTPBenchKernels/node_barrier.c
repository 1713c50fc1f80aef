/* The node-affine tick barrier with a helping wait (ctpb_node_barrier; see
 * include/ctp_bench.h): issue 16's case, measured the same way each run. */
#define _GNU_SOURCE
#include "ctp_bench.h"
#include "ctp_bots.h"
#include "layout.h"

#include <ctp/ctp.h>

#include <stdlib.h>
#include <time.h>

/* Spins for its argument's microseconds: the cost of one task. */
static void spin_task(void *arg)
{
    uint64_t until = ctpb_now_ns() + (uint64_t)(uintptr_t)arg * 1000u;
    while (ctpb_now_ns() < until) {
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int ctpb_node_barrier(const char *topology, int numa_off, size_t workers, int rounds, int per_node,
                      unsigned task_us, unsigned pause_us, ctpb_node_barrier_result *out)
{
    if (topology == NULL || rounds < 1 || per_node < 1 || per_node > 1024 || out == NULL)
        return CTP_EINVAL;
    ctp_pool *pool;
    int nodes;
    int rc = ctpb__layout_pool(topology, numa_off, workers, &pool, &nodes);
    if (rc != CTP_OK)
        return rc;
    size_t count = (size_t)nodes * (size_t)per_node;
    ctp_task_desc *descs = calloc(count, sizeof *descs);
    uint64_t *times = calloc((size_t)rounds, sizeof *times);
    ctp_group *g = NULL;
    if (descs == NULL || times == NULL || (rc = ctp_group_create(pool, &g)) != CTP_OK) {
        rc = rc != CTP_OK ? rc : CTP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        ctp_task_desc_init(&descs[i], spin_task, (void *)(uintptr_t)task_us);
        descs[i].node = (int)(i / (size_t)per_node); /* node 0's tasks, then node 1's, ... */
        descs[i].group = g;
    }
    for (int r = 0; r < rounds; r++) {
        struct timespec ts = { .tv_sec = pause_us / 1000000u, .tv_nsec = (long)(pause_us % 1000000u) * 1000 };
        nanosleep(&ts, NULL); /* long enough for the workers to park */
        uint64_t t0 = ctpb_now_ns();
        if ((rc = ctp_submit_batch(pool, descs, count)) != CTP_OK ||
            (rc = ctp_group_wait(g, CTP_WAIT_FOREVER)) != CTP_OK)
            goto out;
        times[r] = ctpb_now_ns() - t0;
    }
    uint64_t executed = 0, home = 0;
    for (int n = 0; n < ctp_pool_node_count(pool); n++) {
        ctp_node_stats s;
        ctp_pool_node_stats(pool, n, &s);
        executed += s.affine_executed;
        home += s.affine_home;
    }
    qsort(times, (size_t)rounds, sizeof *times, cmp_u64);
    out->worker_tasks = (double)executed;
    out->home_share = executed > 0 ? (double)home / (double)executed : 0;
    out->round_p50_us = (double)times[rounds / 2] / 1e3;
    out->round_p99_us = (double)times[(size_t)rounds * 99 / 100] / 1e3;
    out->nodes = ctp_pool_node_count(pool);
out:
    if (g != NULL)
        ctp_group_destroy(g);
    ctp_pool_destroy(pool);
    free(descs);
    free(times);
    return rc;
}
