/* Micro-benchmark kernels; see include/ctp_bench.h. */
#define _GNU_SOURCE
#include "ctp_bench.h"
#include "ctp_bots.h"
#include "layout.h"

#include <ctp/ctp.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(unsigned us)
{
    struct timespec ts = { .tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000 };
    nanosleep(&ts, NULL);
}

static double cpu_seconds(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static double context_switches(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_nvcsw + ru.ru_nivcsw);
}

static ctp_pool *make_pool(size_t workers)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = workers;
    ctp_pool *p = NULL;
    return ctp_pool_create(&c, &p) == CTP_OK ? p : NULL;
}

/* A one-shot event the measuring thread blocks on. */
typedef struct {
    pthread_mutex_t m;
    pthread_cond_t cv;
    bool set;
} event;

static void event_init(event *e)
{
    pthread_mutex_init(&e->m, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->set = false;
}

static void event_set(event *e)
{
    pthread_mutex_lock(&e->m);
    e->set = true;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->m);
}

static void event_wait(event *e)
{
    pthread_mutex_lock(&e->m);
    while (!e->set)
        pthread_cond_wait(&e->cv, &e->m);
    e->set = false;
    pthread_mutex_unlock(&e->m);
}

/* ---- wake latency ---- */

typedef struct {
    _Atomic uint64_t started;
    event done;
} wake_probe;

static void wake_task(void *arg)
{
    wake_probe *w = arg;
    atomic_store(&w->started, now_ns());
    event_set(&w->done);
}

typedef struct {
    pthread_mutex_t m;
    pthread_cond_t cv;
    bool go, quit;
    int cpu; /* pinned there, or -1 */
    _Atomic uint64_t woke;
    event done;
} condvar_ref;

static bool pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

static void *condvar_waiter(void *arg)
{
    condvar_ref *r = arg;
    if (r->cpu >= 0)
        pin_to(r->cpu);
    for (;;) {
        pthread_mutex_lock(&r->m);
        while (!r->go && !r->quit)
            pthread_cond_wait(&r->cv, &r->m);
        bool quit = r->quit;
        r->go = false;
        pthread_mutex_unlock(&r->m);
        if (quit)
            return NULL;
        atomic_store(&r->woke, now_ns());
        event_set(&r->done);
    }
}

/* Starts r's waiter thread (pinned to `cpu`, or -1 for anywhere). */
static int condvar_ref_start(condvar_ref *r, int cpu, pthread_t *thread)
{
    r->go = r->quit = false;
    r->cpu = cpu;
    pthread_mutex_init(&r->m, NULL);
    pthread_cond_init(&r->cv, NULL);
    event_init(&r->done);
    atomic_init(&r->woke, 0);
    return pthread_create(thread, NULL, condvar_waiter, r);
}

/* Signals r's waiter: one wake-up (quit false), or its end (quit true). */
static void condvar_ref_post(condvar_ref *r, bool quit)
{
    pthread_mutex_lock(&r->m);
    if (quit)
        r->quit = true;
    else
        r->go = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->m);
}

int ctpb_wake_latency(size_t workers, size_t rounds, unsigned gap_us, uint64_t *ctp_ns,
                      uint64_t *condvar_ns)
{
    ctp_pool *pool = make_pool(workers);
    if (pool == NULL)
        return CTP_ENOMEM;
    wake_probe probe;
    event_init(&probe.done);
    condvar_ref ref;
    pthread_t waiter;
    condvar_ref_start(&ref, -1, &waiter);

    for (size_t i = 0; i < rounds; i++) {
        sleep_us(gap_us); /* every worker has parked by then */
        uint64_t t0 = now_ns();
        int rc = ctp_submit(pool, CTP_PRIORITY_CRITICAL, wake_task, &probe);
        if (rc != CTP_OK)
            return rc;
        event_wait(&probe.done);
        ctp_ns[i] = atomic_load(&probe.started) - t0;

        sleep_us(gap_us);
        t0 = now_ns();
        condvar_ref_post(&ref, false);
        event_wait(&ref.done);
        condvar_ns[i] = atomic_load(&ref.woke) - t0;
    }
    condvar_ref_post(&ref, true);
    pthread_join(waiter, NULL);
    return ctp_pool_destroy(pool);
}

/* ---- the machine's floor: waking a thread on another CPU ---- */

int ctpb_cold_wake(size_t rounds, unsigned gap_us, uint64_t *signal_ns, uint64_t *wake_ns)
{
    cpu_set_t mine;
    if (pthread_getaffinity_np(pthread_self(), sizeof mine, &mine) != 0 || CPU_COUNT(&mine) < 2)
        return -1;
    int cpus[2], n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &mine))
            cpus[n++] = c;
    if (!pin_to(cpus[0]))
        return -1;
    /* The waiter stamps `woke` before it sets its event, which nobody
     * waits for here: the signaller spins on `woke` instead. */
    condvar_ref r;
    pthread_t t;
    if (condvar_ref_start(&r, cpus[1], &t) != 0) {
        pthread_setaffinity_np(pthread_self(), sizeof mine, &mine);
        return -1;
    }
    for (size_t i = 0; i < rounds; i++) {
        sleep_us(gap_us);
        atomic_store(&r.woke, 0);
        uint64_t t0 = now_ns();
        condvar_ref_post(&r, false);
        uint64_t t1 = now_ns();
        uint64_t woke;
        while ((woke = atomic_load(&r.woke)) == 0) {
        } /* the signaller keeps its CPU, as a helping tick thread does */
        signal_ns[i] = t1 - t0;
        wake_ns[i] = woke - t0;
    }
    condvar_ref_post(&r, true);
    pthread_join(t, NULL);
    pthread_setaffinity_np(pthread_self(), sizeof mine, &mine);
    return 0;
}

/* ---- external burst ---- */

static void empty_task(void *arg)
{
    (void)arg;
}

int ctpb_burst(size_t workers, size_t tasks, size_t batch, ctpb_burst_result *out)
{
    ctp_pool *pool = make_pool(workers);
    if (pool == NULL)
        return CTP_ENOMEM;
    ctp_task_desc descs[256];
    if (batch > 256)
        batch = 256;
    for (size_t i = 0; i < 256; i++)
        ctp_task_desc_init(&descs[i], empty_task, NULL);
    double cs0 = context_switches();
    uint64_t t0 = now_ns();
    if (batch <= 1) {
        for (size_t i = 0; i < tasks; i++)
            while (ctp_submit(pool, CTP_PRIORITY_NORMAL, empty_task, NULL) != CTP_OK)
                ;
    } else {
        for (size_t i = 0; i < tasks; i += batch) {
            size_t n = tasks - i < batch ? tasks - i : batch;
            while (ctp_submit_batch(pool, descs, n) != CTP_OK)
                ;
        }
    }
    uint64_t t1 = now_ns();
    ctp_stats st;
    do {
        ctp_pool_stats(pool, &st);
    } while (st.executed < tasks);
    uint64_t t2 = now_ns();
    out->submit_seconds = (double)(t1 - t0) / 1e9;
    out->total_seconds = (double)(t2 - t0) / 1e9;
    out->context_switches = context_switches() - cs0;
    return ctp_pool_destroy(pool);
}

/* ---- fib: the sequential reference (each pool's fib is in its pool file) ---- */

static long __attribute__((noinline)) fib_seq(int n)
{
    return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}

double ctpb_fib_sequential(int n, long *value)
{
    uint64_t t0 = now_ns();
    *value = fib_seq(n);
    return (double)(now_ns() - t0) / 1e9;
}

/* ---- trickle ---- */

typedef struct {
    unsigned task_us;
    _Atomic uint64_t work_ns; /* thread CPU inside task bodies */
    _Atomic size_t finished;
} trickle_ctx;

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void trickle_task(void *arg)
{
    trickle_ctx *c = arg;
    uint64_t c0 = thread_cpu_ns();
    while (thread_cpu_ns() - c0 < (uint64_t)c->task_us * 1000u)
        ;
    atomic_fetch_add(&c->work_ns, thread_cpu_ns() - c0);
    atomic_fetch_add(&c->finished, 1);
}

/* The floor: one thread parked on a condvar, signalled per task. */
typedef struct {
    pthread_mutex_t m;
    pthread_cond_t cv;
    size_t posted, taken;
    bool quit;
    trickle_ctx *ctx;
} bare_worker;

static void *bare_loop(void *arg)
{
    bare_worker *b = arg;
    pthread_mutex_lock(&b->m);
    for (;;) {
        while (b->taken == b->posted && !b->quit)
            pthread_cond_wait(&b->cv, &b->m);
        if (b->taken == b->posted && b->quit)
            break;
        b->taken++;
        pthread_mutex_unlock(&b->m);
        trickle_task(b->ctx);
        pthread_mutex_lock(&b->m);
    }
    pthread_mutex_unlock(&b->m);
    return NULL;
}

int ctpb_trickle(int kind, size_t workers, size_t tasks, unsigned period_us, unsigned task_us,
                 ctpb_trickle_result *out)
{
    trickle_ctx ctx = { .task_us = task_us };
    ctp_pool *pool = NULL;
    bare_worker bare = { .posted = 0, .taken = 0, .quit = false, .ctx = &ctx };
    pthread_t bare_thread;
    if (kind == 0) {
        pool = make_pool(workers);
        if (pool == NULL)
            return CTP_ENOMEM;
    } else {
        pthread_mutex_init(&bare.m, NULL);
        pthread_cond_init(&bare.cv, NULL);
        pthread_create(&bare_thread, NULL, bare_loop, &bare);
    }
    sleep_us(20000);
    double cpu0 = cpu_seconds(RUSAGE_SELF), cs0 = context_switches();
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (size_t i = 0; i < tasks; i++) {
        next.tv_nsec += (long)period_us * 1000;
        while (next.tv_nsec >= 1000000000) {
            next.tv_nsec -= 1000000000;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        if (kind == 0) {
            ctp_submit(pool, CTP_PRIORITY_NORMAL, trickle_task, &ctx);
        } else {
            pthread_mutex_lock(&bare.m);
            bare.posted++;
            pthread_cond_signal(&bare.cv);
            pthread_mutex_unlock(&bare.m);
        }
    }
    while (atomic_load(&ctx.finished) < tasks)
        sleep_us(100);
    sleep_us(2000); /* let the last worker finish its search and park */
    out->tasks = (double)tasks;
    out->total_cpu_seconds = cpu_seconds(RUSAGE_SELF) - cpu0;
    out->context_switches = context_switches() - cs0;
    out->work_cpu_seconds = (double)atomic_load(&ctx.work_ns) / 1e9;
    if (kind == 0)
        return ctp_pool_destroy(pool);
    pthread_mutex_lock(&bare.m);
    bare.quit = true;
    pthread_cond_signal(&bare.cv);
    pthread_mutex_unlock(&bare.m);
    pthread_join(bare_thread, NULL);
    return 0;
}

/* ---- idle ---- */

double ctpb_idle_cpu(size_t workers, double seconds)
{
    ctp_pool *pool = make_pool(workers);
    if (pool == NULL)
        return -1;
    for (int i = 0; i < 1000; i++)
        ctp_submit(pool, CTP_PRIORITY_NORMAL, empty_task, NULL);
    sleep_us(100000);
    /* The pool's threads only: the whole process less this (sleeping) thread. */
    double c0 = cpu_seconds(RUSAGE_SELF) - cpu_seconds(RUSAGE_THREAD);
    sleep_us((unsigned)(seconds * 1e6));
    double used = cpu_seconds(RUSAGE_SELF) - cpu_seconds(RUSAGE_THREAD) - c0;
    if (used < 0)
        used = 0; /* the two clocks tick separately: a difference below their resolution */
    ctp_pool_destroy(pool);
    return used / seconds;
}

/* ---- parallel for ---- */

static void scale_range(size_t b, size_t e, void *ctx)
{
    double *a = ctx;
    for (size_t i = b; i < e; i++)
        a[i] = a[i] * 1.0000001 + 1.0;
}

double ctpb_parallel_for(size_t workers, size_t n, int repeats)
{
    double *a = calloc(n, sizeof *a);
    if (a == NULL)
        return -1;
    ctp_pool *pool = workers > 0 ? make_pool(workers) : NULL;
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        uint64_t t0 = now_ns();
        if (pool != NULL)
            ctp_parallel_for(pool, 0, n, 0, scale_range, a);
        else
            scale_range(0, n, a);
        double s = (double)(now_ns() - t0) / 1e9;
        if (s < best)
            best = s;
    }
    if (pool != NULL)
        ctp_pool_destroy(pool);
    free(a);
    return best;
}

/* ---- zones on nodes ---- */

typedef struct {
    float x, y, vx, vy, health;
    uint32_t rng;
    float pad[10]; /* 64 bytes: a bot's hot state is one cache line */
} zone_bot;

typedef struct {
    zone_bot *bots;
    int count;
} zone;

/* A tick's completion, waited for without helping, so every update runs on
 * a worker and the locality counters describe the workers alone. */
typedef struct {
    _Atomic int remaining;
    pthread_mutex_t m;
    pthread_cond_t cv;
} tick_state;

typedef struct {
    zone *z;
    int first, last;
    tick_state *tick;
} zone_slice;

static void update_slice(void *arg);

static void slice_task(void *arg)
{
    zone_slice *s = arg;
    update_slice(s);
    tick_state *t = s->tick;
    if (atomic_fetch_sub(&t->remaining, 1) == 1) {
        pthread_mutex_lock(&t->m);
        pthread_cond_signal(&t->cv);
        pthread_mutex_unlock(&t->m);
    }
}

static void update_slice(void *arg)
{
    zone_slice *s = arg;
    for (int i = s->first; i < s->last; i++) {
        zone_bot *b = &s->z->bots[i];
        for (int k = 0; k < 40; k++) { /* a little decision work per bot */
            b->rng = b->rng * 1664525u + 1013904223u;
            b->vx = b->vx * 0.9f + (float)((b->rng >> 8) & 0xff) / 2550.0f - 0.05f;
            b->vy = b->vy * 0.9f + (float)((b->rng >> 16) & 0xff) / 2550.0f - 0.05f;
        }
        b->x += b->vx;
        b->y += b->vy;
        b->health += (b->rng & 1) ? 0.1f : -0.1f;
    }
}

int ctpb_zones(const char *topology, int numa_off, int steady, size_t workers, int zones, int bots, int ticks,
               ctpb_zones_result *out)
{
    ctp_pool *pool;
    int topo_nodes; /* the zone -> node map is the same with NUMA on or off (off ignores it) */
    int rc = ctpb__layout_pool(topology, numa_off, workers, &pool, &topo_nodes);
    if (rc != CTP_OK)
        return rc;
    int nodes = ctp_pool_node_count(pool);
    enum { SLICE = 16 };
    int slices_per_zone = (bots + SLICE - 1) / SLICE;
    zone *zs = calloc((size_t)zones, sizeof *zs);
    zone_slice *slices = calloc((size_t)zones * (size_t)slices_per_zone, sizeof *slices);
    ctp_task_desc *descs = calloc((size_t)zones * (size_t)slices_per_zone, sizeof *descs);
    if (zs == NULL || slices == NULL || descs == NULL)
        return CTP_ENOMEM;
    for (int z = 0; z < zones; z++) {
        int node = z % topo_nodes;
        zs[z].bots = ctp_alloc_on_node(pool, numa_off ? 0 : node, sizeof(zone_bot) * (size_t)bots);
        zs[z].count = bots;
        for (int i = 0; i < bots; i++)
            zs[z].bots[i] = (zone_bot){ .x = (float)i, .y = (float)z, .health = 100, .rng = (uint32_t)(z * 7919 + i) };
        for (int k = 0; k < slices_per_zone; k++) {
            zone_slice *s = &slices[z * slices_per_zone + k];
            *s = (zone_slice){ &zs[z], k * SLICE, (k + 1) * SLICE < bots ? (k + 1) * SLICE : bots, NULL };
            ctp_task_desc *d = &descs[z * slices_per_zone + k];
            ctp_task_desc_init(d, update_slice, s);
            d->node = node;
        }
    }
    /* Barrier mode: submit a tick, wait for it. Steady mode: keep two ticks
     * in flight (submit tick t+1, then wait for tick t), so the workers never
     * run dry at a tick's tail. Slices are per tick parity. */
    int nslices = zones * slices_per_zone;
    zone_slice *par[2] = { slices, calloc((size_t)nslices, sizeof *slices) };
    ctp_task_desc *pdescs[2] = { descs, calloc((size_t)nslices, sizeof *descs) };
    tick_state ticks_state[2];
    if (par[1] == NULL || pdescs[1] == NULL)
        return CTP_ENOMEM;
    for (int k = 0; k < 2; k++) {
        atomic_init(&ticks_state[k].remaining, 0);
        pthread_mutex_init(&ticks_state[k].m, NULL);
        pthread_cond_init(&ticks_state[k].cv, NULL);
    }
    for (int i = 0; i < nslices; i++) {
        par[1][i] = par[0][i];
        pdescs[1][i] = pdescs[0][i];
        pdescs[1][i].arg = &par[1][i];
        for (int k = 0; k < 2; k++) {
            par[k][i].tick = &ticks_state[k];
            pdescs[k][i].fn = slice_task;
        }
    }
    int in_flight = steady ? 2 : 1;
    uint64_t t0 = now_ns();
    for (int t = 0; t < ticks + in_flight - 1; t++) {
        if (t < ticks) {
            atomic_store(&ticks_state[t % 2].remaining, nslices);
            for (int z = 0; z < zones; z++)
                ctp_submit_batch(pool, &pdescs[t % 2][z * slices_per_zone], (size_t)slices_per_zone);
        }
        int done = t - (in_flight - 1);
        if (done >= 0) {
            tick_state *ts = &ticks_state[done % 2];
            pthread_mutex_lock(&ts->m);
            while (atomic_load(&ts->remaining) != 0)
                pthread_cond_wait(&ts->cv, &ts->m);
            pthread_mutex_unlock(&ts->m);
        }
    }
    uint64_t t1 = now_ns();
    free(par[1]);
    free(pdescs[1]);
    ctp_stats st;
    ctp_pool_stats(pool, &st);
    out->seconds = (double)(t1 - t0) / 1e9;
    out->tasks = (double)st.executed;
    out->worker_tasks = 0;
    out->affine_home = 0;
    out->taken_remote = 0;
    out->nodes = nodes;
    for (int n = 0; n < nodes; n++) {
        ctp_node_stats ns;
        ctp_pool_node_stats(pool, n, &ns);
        out->worker_tasks += (double)ns.executed;
        out->affine_home += (double)ns.affine_home;
        out->taken_remote += (double)ns.taken_remote;
    }
    for (int z = 0; z < zones; z++)
        ctp_free_on_node(pool, zs[z].bots, sizeof(zone_bot) * (size_t)bots);
    ctp_pool_destroy(pool);
    free(zs);
    free(slices);
    free(descs);
    return 0;
}

/* ---- what a trace costs ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One burst of single submits, or fib(fib_n) (fib_n > 0), traced or not:
 * seconds, or < 0 on an error. */
static double trace_cost_run(size_t workers, size_t tasks, int fib_n, int traced)
{
    ctpb_pool pool;
    if (ctpb_pool_ctp(workers, NULL, 0, &pool) != 0)
        return -1;
    ctp_pool *p = ctpb_pool_ctp_handle(&pool);
    double seconds = -1;
    if (traced && ctp_trace_start(p, 65536) != CTP_OK)
        goto out;
    if (fib_n > 0) {
        long v;
        seconds = pool.fib(pool.impl, fib_n, &v);
    } else {
        ctp_stats st;
        ctp_pool_stats(p, &st);
        uint64_t base = st.executed;
        uint64_t t0 = now_ns();
        for (size_t i = 0; i < tasks; i++)
            while (ctp_submit(p, CTP_PRIORITY_NORMAL, empty_task, NULL) != CTP_OK)
                ;
        do {
            ctp_pool_stats(p, &st);
        } while (st.executed < base + tasks);
        seconds = (double)(now_ns() - t0) / 1e9;
    }
    if (traced && ctp_trace_stop(p, "/dev/null") != CTP_OK)
        seconds = -1;
out:
    pool.destroy(pool.impl);
    return seconds;
}

int ctpb_trace_cost(size_t workers, size_t tasks, int fib_n, int reps, ctpb_trace_cost_result *out)
{
    enum { MAX_REPS = 32 };
    if (reps < 1 || reps > MAX_REPS || tasks == 0 || fib_n < 2)
        return CTP_EINVAL;
    double b_off[MAX_REPS], b_on[MAX_REPS], f_off[MAX_REPS], f_on[MAX_REPS];
    for (int r = 0; r < reps; r++) {
        /* Alternate which goes first, so drift hits both alike. */
        for (int k = 0; k < 2; k++) {
            int traced = (k + r) % 2;
            double b = trace_cost_run(workers, tasks, 0, traced);
            double f = trace_cost_run(workers, 0, fib_n, traced);
            if (b <= 0 || f <= 0)
                return CTP_ENOMEM;
            (traced ? b_on : b_off)[r] = (double)tasks / b / 1e6;
            (traced ? f_on : f_off)[r] = f * 1e3;
        }
    }
    out->burst_off_mps = median(b_off, reps);
    out->burst_on_mps = median(b_on, reps);
    out->fib_off_ms = median(f_off, reps);
    out->fib_on_ms = median(f_on, reps);
    return 0;
}
