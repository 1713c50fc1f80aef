/* The ctp pool of the bot benchmark, through the C API: one ctp_submit_batch
 * per batch (priorities and node affinity per task, one group), then
 * ctp_group_wait, which runs queued tasks while it waits. */
#include "ctp_bots.h"

#include <ctp/ctp.h>

#include <stdlib.h>

typedef struct item_ref {
    const ctpb_batch *batch;
    size_t index;
} item_ref;

typedef struct ctp_bench_pool {
    ctp_pool *pool;
    ctp_group *group;
    ctp_task_desc *descs; /* grown to the largest batch, then reused */
    item_ref *refs;
    size_t cap;
    /* With tick reports on (ctpb_pool_ctp_enable_tick_reports): each batch
     * runs in a ctp_tick, and its report is summed here. */
    int ticks;
    double wall, busy, waking, idle, first_start, helped; /* ns, summed over batches (busy etc. over workers) */
    size_t threads;
} ctp_bench_pool;

static void run_item(void *arg)
{
    const item_ref *r = arg;
    r->batch->fn(r->batch->ctx, r->index);
}

/* The batch as one ctp_tick, its report summed. */
static int run_as_tick(ctp_bench_pool *p, const ctpb_batch *b)
{
    ctp_tick_options o = { .report = true };
    ctp_tick *t;
    int rc = ctp_tick_begin(p->pool, &o, &t);
    if (rc != CTP_OK)
        return rc;
    for (size_t i = 0; i < b->count; i++)
        p->descs[i].group = ctp_tick_group(t);
    rc = ctp_submit_batch(p->pool, p->descs, b->count);
    ctp_tick_report r;
    ctp_tick_thread_report w[64];
    int erc = ctp_tick_end(t, CTP_WAIT_FOREVER, &r, w, 64);
    if (rc != CTP_OK)
        return rc;
    if (erc != CTP_OK)
        return erc;
    size_t n = r.workers < 64 ? r.workers : 64;
    p->wall += (double)r.wall_ns;
    p->first_start += (double)r.first_start_ns;
    for (size_t i = 0; i < n; i++) {
        p->busy += (double)w[i].busy_ns;
        p->waking += (double)w[i].waking_ns;
        p->idle += (double)w[i].idle_ns;
    }
    p->helped += (double)r.outside.busy_ns; /* the tick thread's helping */
    p->threads = n;
    return CTP_OK;
}

static int ctp_run(void *self, const ctpb_batch *b)
{
    ctp_bench_pool *p = self;
    if (b->count > p->cap) {
        size_t cap = b->count * 2;
        ctp_task_desc *d = realloc(p->descs, cap * sizeof *d);
        if (d)
            p->descs = d;
        item_ref *r = realloc(p->refs, cap * sizeof *r);
        if (r)
            p->refs = r;
        if (!d || !r)
            return CTP_ENOMEM;
        p->cap = cap;
    }
    for (size_t i = 0; i < b->count; i++) {
        p->refs[i] = (item_ref){ b, i };
        ctp_task_desc_init(&p->descs[i], run_item, &p->refs[i]);
        p->descs[i].priority = (ctp_priority)b->priority[i];
        p->descs[i].node = b->node[i];
        p->descs[i].group = p->group;
        /* Labels name the work in traces and stall reports. */
        p->descs[i].label = b->labels != NULL ? b->labels[b->priority[i] % 5] : NULL;
    }
    uint64_t now = ctpb_now_ns();
    for (size_t i = 0; i < b->count; i++)
        b->submit_ns[i] = now;
    if (p->ticks)
        return run_as_tick(p, b);
    int rc = ctp_submit_batch(p->pool, p->descs, b->count);
    if (rc != CTP_OK)
        return rc;
    /* the group's completion orders every task's writes before this return */
    return ctp_group_wait(p->group, CTP_WAIT_FOREVER);
}

static void *ctp_alloc(void *self, int node, size_t size)
{
    return ctp_alloc_on_node(((ctp_bench_pool *)self)->pool, node, size);
}

static void ctp_free(void *self, void *ptr, size_t size)
{
    ctp_free_on_node(((ctp_bench_pool *)self)->pool, ptr, size);
}

static void ctp_locality(void *self, double *home_share, double *taken_remote)
{
    ctp_bench_pool *p = self;
    double affine = 0, home = 0, remote = 0;
    int nodes = ctp_pool_node_count(p->pool);
    for (int n = 0; n < nodes; n++) {
        ctp_node_stats st;
        if (ctp_pool_node_stats(p->pool, n, &st) != CTP_OK)
            continue;
        affine += (double)st.affine_executed;
        home += (double)st.affine_home;
        remote += (double)st.taken_remote;
    }
    /* one node: nothing was placed, so there is no locality to report */
    *home_share = affine > 0 && nodes > 1 ? home / affine : -1.0;
    *taken_remote = nodes > 1 ? remote : -1.0;
}

/* fib(n) with a group per call and no cutoff. */
typedef struct fib_arg {
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

static double ctp_fib(void *self, int n, long *value)
{
    ctp_bench_pool *p = self;
    fib_arg root = { p->pool, n, 0 };
    uint64_t t0 = ctpb_now_ns();
    if (ctp_group_submit(p->group, CTP_PRIORITY_NORMAL, fib_task, &root) != CTP_OK)
        return -1.0;
    ctp_group_wait(p->group, CTP_WAIT_FOREVER);
    *value = root.result;
    return (double)(ctpb_now_ns() - t0) / 1e9;
}

static void scale_range(size_t b, size_t e, void *ctx)
{
    double *a = ctx;
    for (size_t i = b; i < e; i++)
        a[i] = a[i] * 1.0000001 + 1.0;
}

static double ctp_loop(void *self, double *a, size_t n)
{
    uint64_t t0 = ctpb_now_ns();
    if (ctp_parallel_for(((ctp_bench_pool *)self)->pool, 0, n, 0, scale_range, a) != CTP_OK)
        return -1.0;
    return (double)(ctpb_now_ns() - t0) / 1e9;
}

static void ctp_destroy(void *self)
{
    ctp_bench_pool *p = self;
    ctp_group_destroy(p->group);
    ctp_pool_destroy(p->pool);
    free(p->descs);
    free(p->refs);
    free(p);
}

int ctpb_pool_ctp(size_t workers, const char *topology, int numa_off, ctpb_pool *out)
{
    return ctpb_pool_ctp_placed(workers, topology, numa_off, 1, out);
}

static int make_pool(size_t workers, const char *topology, int numa_off, int wake_elsewhere, ctp_affinity affinity,
                     ctpb_pool *out)
{
    ctp_bench_pool *p = calloc(1, sizeof *p);
    if (!p)
        return CTP_ENOMEM;
    ctp_config c;
    ctp_config_init(&c);
    c.workers = workers;
    c.topology = topology;
    c.numa_mode = numa_off ? CTP_NUMA_OFF : CTP_NUMA_AUTO;
    c.name = "ctp-bots";
    c.wake_elsewhere = wake_elsewhere != 0;
    c.affinity = affinity;
    int rc = ctp_pool_create(&c, &p->pool);
    if (rc == CTP_OK && (rc = ctp_group_create(p->pool, &p->group)) != CTP_OK)
        ctp_pool_destroy(p->pool);
    if (rc != CTP_OK) {
        free(p);
        return rc;
    }
    ctp_stats st;
    ctp_pool_stats(p->pool, &st);
    *out = (ctpb_pool){
        .impl = p,
        .threads = (size_t)st.workers,
        .nodes = ctp_pool_node_count(p->pool),
        .run = ctp_run,
        .alloc_on_node = ctp_alloc,
        .free_on_node = ctp_free,
        .locality = ctp_locality,
        .fib = ctp_fib,
        .parallel_for = ctp_loop,
        .destroy = ctp_destroy,
    };
    return CTP_OK;
}

int ctpb_pool_ctp_placed(size_t workers, const char *topology, int numa_off, int wake_elsewhere, ctpb_pool *out)
{
    return make_pool(workers, topology, numa_off, wake_elsewhere, CTP_AFFINITY_NONE, out);
}

int ctpb_pool_ctp_pinned(size_t workers, const char *topology, ctpb_pool *out)
{
    return make_pool(workers, topology, 0, 1, CTP_AFFINITY_CPU, out);
}

ctp_pool *ctpb_pool_ctp_handle(const ctpb_pool *pool)
{
    return pool->run == ctp_run ? ((ctp_bench_pool *)pool->impl)->pool : NULL;
}

static void ctp_prewake(void *self, uint64_t at_ns)
{
    ctp_bench_pool *p = self;
    ctp_pool_prewake(p->pool, at_ns);
}

int ctpb_pool_ctp_enable_prewake(ctpb_pool *pool)
{
    if (pool->run != ctp_run)
        return -1;
    pool->prewake = ctp_prewake;
    return 0;
}

static void ctp_tick_shares(void *self, double shares[5])
{
    ctp_bench_pool *p = self;
    double threads = p->threads > 0 ? (double)p->threads : 1.0;
    double span = p->wall * threads;
    shares[0] = span > 0 ? p->busy / span : 0;   /* workers busy with the batch's tasks */
    shares[1] = span > 0 ? p->waking / span : 0; /* batch start to each worker's first task */
    shares[2] = span > 0 ? p->idle / span : 0;   /* the rest of the workers' time */
    shares[3] = p->wall > 0 ? p->first_start / p->wall : 0; /* batch start to its first task's start */
    shares[4] = p->wall > 0 ? p->helped / p->wall : 0;      /* the tick thread running tasks */
}

int ctpb_pool_ctp_enable_tick_reports(ctpb_pool *pool)
{
    if (pool->run != ctp_run)
        return -1;
    ((ctp_bench_pool *)pool->impl)->ticks = 1;
    pool->tick_shares = ctp_tick_shares;
    return 0;
}
