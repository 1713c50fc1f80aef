/* The tick driver of the bot simulation: picks who is due, hands batches to
 * the pool under test, drains main-thread actions, measures. See ctp_bots.h. */
#define _GNU_SOURCE
#include "bots_world.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

uint64_t ctpb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A small number per thread (1, 2, ...), for the timeline's lanes. */
static _Atomic uint32_t next_lane = 1;
static _Thread_local uint32_t my_lane;

static uint32_t lane(void)
{
    if (my_lane == 0)
        my_lane = atomic_fetch_add_explicit(&next_lane, 1, memory_order_relaxed); /* relaxed: a unique id */
    return my_lane;
}

uint64_t ctpb_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double rusage_cpu(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 + (double)ru->ru_stime.tv_sec +
           (double)ru->ru_stime.tv_usec / 1e6;
}

static double process_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return rusage_cpu(&ru);
}

/* Per-tick budgets per 1,000 bots and update intervals, from the research
 * note; budgets scale with the world. */
static const unsigned class_budget[CTPB_CLASSES] = { 5, 45, 40, 91 };
static const unsigned class_interval[CTPB_CLASSES] = { 1, 1, 10, 50 };
/* Submit-to-start tolerance per class (CRITICAL 10 ms ... LOW 1 s). */
static const uint64_t class_tolerance_ns[CTPB_CLASSES] = { 10000000u, 50000000u, 200000000u, 1000000000u };

typedef struct samples {
    uint64_t *v;
    size_t n, cap;
} samples;

static int push(samples *s, uint64_t x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        uint64_t *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return 0;
}

typedef struct run_state {
    world w;
    uint32_t tick;
    /* the update batch: item i updates bot bot_of[i] */
    uint32_t *bot_of;
    uint8_t *prio;
    int16_t *node;
    uint64_t *submit, *start, *end;
    uint64_t *cpu;         /* each body's thread CPU time, for the ideal */
    uint32_t *lane;        /* the thread that ran it (lane()) */
    _Atomic uint32_t *ran; /* relaxed counts; read after pool->run returned */
    action *actions;       /* 2 slots per item */
    uint8_t *nact;
    uint32_t *due[CTPB_CLASSES];
    /* the rebuild batch: item i rebuilds zone i */
    uint8_t rb_prio[64];
    int16_t rb_node[64];
    uint64_t rb_submit[64], rb_start[64], rb_end[64], rb_cpu[64];
    uint32_t rb_lane[64];
    _Atomic uint32_t rb_ran[64];
} run_state;

static void update_item(void *ctx, size_t i)
{
    run_state *s = ctx;
    uint64_t t0 = ctpb_now_ns(), c0 = ctpb_thread_cpu_ns();
    atomic_fetch_add_explicit(&s->ran[i], 1, memory_order_relaxed);
    s->nact[i] = (uint8_t)world_update_bot(&s->w, s->bot_of[i], s->tick, &s->actions[2 * i]);
    s->cpu[i] = ctpb_thread_cpu_ns() - c0;
    s->start[i] = t0;
    s->lane[i] = lane();
    s->end[i] = ctpb_now_ns();
}

static void rebuild_item(void *ctx, size_t i)
{
    run_state *s = ctx;
    uint64_t t0 = ctpb_now_ns(), c0 = ctpb_thread_cpu_ns();
    atomic_fetch_add_explicit(&s->rb_ran[i], 1, memory_order_relaxed);
    world_rebuild_zone(&s->w, (int)i);
    s->rb_cpu[i] = ctpb_thread_cpu_ns() - c0;
    s->rb_start[i] = t0;
    s->rb_lane[i] = lane();
    s->rb_end[i] = ctpb_now_ns();
}

static void free_state(run_state *s)
{
    free(s->bot_of);
    free(s->prio);
    free(s->node);
    free(s->submit);
    free(s->start);
    free(s->end);
    free(s->cpu);
    free(s->lane);
    free((void *)s->ran);
    free(s->actions);
    free(s->nact);
    for (int c = 0; c < CTPB_CLASSES; c++)
        free(s->due[c]);
    world_destroy(&s->w);
}

/* Main thread: classes with hysteresis, then who is due this tick, most
 * urgent first, within each class's budget (the rest is deferred). */
static size_t select_due(run_state *s, const size_t cap[CTPB_CLASSES], ctpb_bots_result *out, int measuring)
{
    size_t n[CTPB_CLASSES] = { 0 }, population[CTPB_CLASSES] = { 0 };
    world *w = &s->w;
    for (int zi = 0; zi < w->nzones; zi++) {
        zone *z = &w->zones[zi];
        for (uint32_t i = 0; i < z->count; i++) {
            bot *b = &z->bots[i];
            uint32_t id = z->first + i;
            world_classify(b, s->tick);
            unsigned c = b->cls;
            population[c]++;
            if (!b->deferred && id % class_interval[c] != s->tick % class_interval[c])
                continue;
            if (n[c] >= cap[c]) {
                b->deferred = 1;
                out->deferred += (uint64_t)measuring;
                continue;
            }
            b->deferred = 0;
            s->due[c][n[c]++] = id;
        }
    }
    size_t count = 0;
    for (int c = 0; c < CTPB_CLASSES && measuring; c++)
        out->class_bots[c] += (double)population[c];
    for (int c = 0; c < CTPB_CLASSES; c++)
        for (size_t k = 0; k < n[c]; k++) {
            uint32_t id = s->due[c][k];
            s->bot_of[count] = id;
            s->prio[count] = (uint8_t)c; /* EMERGENCY..LOW = CRITICAL..LOW */
            s->node[count] = (int16_t)w->zones[world_zone_of(w, id)].node;
            atomic_store_explicit(&s->ran[count], 0, memory_order_relaxed);
            count++;
        }
    return count;
}

static int run_rebuild(run_state *s, const ctpb_pool *pool, ctpb_bots_result *out, int measuring, uint64_t *work_sum,
                       uint64_t *work_max)
{
    int zones = s->w.nzones;
    for (int i = 0; i < zones; i++) {
        s->rb_prio[i] = 1; /* HIGH: the tick waits for it */
        s->rb_node[i] = (int16_t)s->w.zones[i].node;
        atomic_store_explicit(&s->rb_ran[i], 0, memory_order_relaxed);
    }
    static const char *const labels[] = { "zone rebuild", "zone rebuild", "zone rebuild", "zone rebuild",
                                          "zone rebuild" };
    ctpb_batch b = { (size_t)zones, rebuild_item, s, s->rb_prio, s->rb_node, s->rb_submit, labels };
    if (pool->run(pool->impl, &b) != 0)
        return -3;
    for (int i = 0; i < zones; i++) {
        uint32_t r = atomic_load_explicit(&s->rb_ran[i], memory_order_relaxed);
        if (measuring) {
            out->rebuilds_submitted++;
            out->rebuilds_executed += r;
            out->work_seconds += (double)(s->rb_end[i] - s->rb_start[i]) / 1e9;
        }
        *work_sum += s->rb_cpu[i];
        if (s->rb_cpu[i] > *work_max)
            *work_max = s->rb_cpu[i];
        if (r != 1)
            out->wrong_runs++;
    }
    s->w.front = 1 - s->w.front; /* the freshly built buffer becomes the one queries read */
    return 0;
}

/* One batch's lower bound on `workers` threads: its work (the bodies' thread
 * CPU time, which a preempted body does not inflate) spread evenly, or its
 * longest body if that is longer. */
static uint64_t batch_ideal(uint64_t sum, uint64_t longest, size_t workers)
{
    uint64_t even = (sum + workers - 1) / workers;
    return even > longest ? even : longest;
}

/* One batch list-scheduled in submission order on `workers` threads with no
 * overhead: each body, in index order, starts on the thread that is free
 * first. What a work-conserving pool that runs a batch in its priority order
 * (the batches are built in that order) and pays nothing to start, steal or
 * finish would take, given these bodies' CPU times. */
static uint64_t batch_in_order(const uint64_t *cpu, size_t count, size_t workers)
{
    uint64_t free_at[64] = { 0 };
    size_t w = workers == 0 ? 1 : workers < 64 ? workers : 64;
    uint64_t end = 0;
    for (size_t i = 0; i < count; i++) {
        size_t first = 0;
        for (size_t k = 1; k < w; k++)
            if (free_at[k] < free_at[first])
                first = k;
        free_at[first] += cpu[i];
        if (free_at[first] > end)
            end = free_at[first];
    }
    return end;
}

/* Where one batch's time in the pool went (ctpb_bots_result.parts_*): from
 * its hand-over to the first body's start, from there to the last body's
 * end, and from that to the pool's return; and the same bodies in order. */
static void add_parts(ctpb_bots_result *out, const uint64_t *submit, const uint64_t *start, const uint64_t *end,
                      const uint64_t *cpu, size_t n, size_t workers, uint64_t returned)
{
    if (n == 0)
        return;
    uint64_t out_at = UINT64_MAX, first = UINT64_MAX, last = 0;
    for (size_t i = 0; i < n; i++) {
        out_at = submit[i] < out_at ? submit[i] : out_at;
        first = start[i] < first ? start[i] : first;
        last = end[i] > last ? end[i] : last;
    }
    out->parts_head_seconds += (double)(first - out_at) / 1e9;
    out->parts_span_seconds += (double)(last - first) / 1e9;
    out->parts_tail_seconds += (double)(returned - last) / 1e9;
    out->parts_in_order_seconds += (double)batch_in_order(cpu, n, workers) / 1e9;
}

struct ctpb_bots_state {
    ctpb_bots_config cfg;
    ctpb_pool pool; /* a copy: the world keeps a pointer to it for node memory */
    size_t workers; /* for the ideal */
    uint64_t crit_cpus; /* for the CRITICAL bound: min(threads + 1, CPUs online), read once */
    run_state *s;
    ctpb_bots_result out;
    size_t cap[CTPB_CLASSES];
    samples lat[CTPB_CLASSES], cost;
    samples crit_tick, crit_bound; /* this tick's CRITICAL CPU times; the bounds */
    int timeline_at;                /* the measured tick recorded in full */
    double balance_sum;             /* node_balance over the measured ticks */
    int balance_ticks;
    /* Pre-wake's target: from a tick's due time to its first hand-over,
     * smoothed over the ticks. It includes how late the tick thread's sleep
     * ends (measured 100-250 us here with the default timer slack), which a
     * target taken from the tick's own start missed: the workers' search
     * window had closed before most ticks' first batch went out. */
    uint64_t lead_in_ns;
    uint64_t handover_ns; /* last tick: its first hand-over */
    /* A rebuild tick hands over two batches: the rebuild, and the update
     * once the rebuild is done. Workers that finish their rebuilds early
     * park while the last ones run, and the pre-wake window around the
     * first hand-over has closed by the second, so the update batch found
     * them parked (its first start 40-46 us after it went out, against 2-3 us
     * for a first batch). Pre-wake aims a second window at it: from the
     * rebuild's hand-over to the update's, smoothed like the lead-in. */
    uint64_t rebuild_ns;
    int k, total; /* ticks run (warm-up included), and in all */
    int rc;       /* sticky: once a tick failed, every later call returns it */
};

/* A pre-wake target smoothed over the ticks: each tick moves it a quarter of
 * the way to its own value. */
static uint64_t smoothed(uint64_t was, int64_t now)
{
    return (uint64_t)((int64_t)was + (now - (int64_t)was) / 4);
}

static void sleep_until(uint64_t due)
{
    struct timespec ts = { (time_t)(due / 1000000000u), (long)(due % 1000000000u) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* Real time: sleeps until `due`, counting the gap and the process CPU in it. */
static void idle_until(ctpb_bots_state *st, uint64_t due)
{
    uint64_t now = ctpb_now_ns();
    if (due <= now)
        return;
    double c0 = process_cpu();
    sleep_until(due);
    st->out.idle_cpu_seconds += process_cpu() - c0;
    st->out.idle_seconds += (double)(ctpb_now_ns() - now) / 1e9;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The CRITICAL lower bound of one tick (ctpb_bots_result.crit_bound_ns).
 * The tick's CRITICAL updates are handed over together; a pool that can have
 * at most P of them started and unfinished at once (P = its threads plus a
 * helping caller) starts its k-th one (k > P) only after k - P of them
 * finished. The j-th completion is no earlier than the j-th shortest CPU
 * time among them, and no earlier than the j shortest CPU times together
 * spread over the C CPUs that can run them (C = min(P, CPUs online)): j
 * finished updates used at least that much CPU. So, sorted, the k-th wait
 * >= max(the (k - P)-th shortest CPU time, the k - P shortest summed / C):
 * every quantile of the waits is at least that quantile of these bounds.
 * (Optimistic for the pool: other classes' work and wake-ups are ignored.) */
static int crit_bound(ctpb_bots_state *st, size_t count)
{
    run_state *s = st->s;
    st->crit_tick.n = 0;
    for (size_t i = 0; i < count; i++)
        if (s->prio[i] == CTPB_EMERGENCY && push(&st->crit_tick, s->cpu[i]))
            return -1;
    size_t n = st->crit_tick.n, p = st->pool.threads + 1;
    uint64_t cpus = st->crit_cpus;
    qsort(st->crit_tick.v, n, sizeof(uint64_t), cmp_u64);
    uint64_t finished = 0; /* the k - p shortest CPU times, summed */
    for (size_t k = 1; k <= n; k++) {
        uint64_t bound = 0;
        if (k > p) {
            uint64_t jth = st->crit_tick.v[k - p - 1];
            finished += jth;
            bound = finished / cpus > jth ? finished / cpus : jth;
        }
        if (push(&st->crit_bound, bound))
            return -1;
    }
    return 0;
}

/* Adds this tick's node imbalance (ctpb_bots_result.balance_remote_share):
 * the node-affine work above the nodes' mean, over all of it. */
static void node_balance(ctpb_bots_state *st, size_t count)
{
    run_state *s = st->s;
    double per_node[64] = { 0 }, all = 0;
    int nodes = 0;
    for (int z = 0; z < s->w.nzones; z++)
        if (s->w.zones[z].node >= nodes)
            nodes = s->w.zones[z].node + 1;
    if (nodes < 2 || nodes > 64)
        return;
    for (size_t i = 0; i < count; i++)
        if (s->node[i] >= 0 && s->node[i] < nodes) {
            per_node[s->node[i]] += (double)s->cpu[i];
            all += (double)s->cpu[i];
        }
    if (all <= 0)
        return;
    double excess = 0;
    for (int n = 0; n < nodes; n++)
        if (per_node[n] > all / nodes)
            excess += per_node[n] - all / nodes;
    st->balance_sum += excess / all;
    st->balance_ticks++;
}

/* The timeline of this tick (updates, and the rebuild if it had one). */
static int record_timeline(ctpb_bots_state *st, size_t count, uint64_t tick_start)
{
    run_state *s = st->s;
    int zones = s->tick % 2 == 0 ? s->w.nzones : 0;
    ctpb_timeline_item *items = malloc((count + (size_t)zones + 1) * sizeof *items);
    if (!items)
        return -1;
    size_t n = 0;
    for (int i = 0; i < zones; i++)
        items[n++] = (ctpb_timeline_item){ s->rb_submit[i] - tick_start, s->rb_start[i] - tick_start,
                                           s->rb_end[i] - tick_start, s->rb_lane[i], CTPB_CLASSES };
    for (size_t i = 0; i < count; i++)
        items[n++] = (ctpb_timeline_item){ s->submit[i] - tick_start, s->start[i] - tick_start,
                                           s->end[i] - tick_start, s->lane[i], s->prio[i] };
    free(st->out.timeline);
    st->out.timeline = items;
    st->out.timeline_count = n;
    st->out.timeline_tick = st->timeline_at;
    st->out.timeline_main_lane = lane();
    return 0;
}

/* Tick number st->k + 1. */
static int run_tick(ctpb_bots_state *st)
{
    run_state *s = st->s;
    const ctpb_pool *pool = &st->pool;
    ctpb_bots_result *out = &st->out;
    const ctpb_bots_config *cfg = &st->cfg;
    int k = st->k, measuring = k >= cfg->warmup_ticks;
    uint64_t tick_start = ctpb_now_ns();
    s->tick = (uint32_t)k + 1;

    size_t count = select_due(s, st->cap, out, measuring);
    uint64_t main_ns = ctpb_now_ns() - tick_start;

    /* time inside the pool's run calls, and each batch's bodies */
    uint64_t in_pool = 0, rb_sum = 0, rb_max = 0, up_sum = 0, up_max = 0;
    st->handover_ns = ctpb_now_ns(); /* when the first batch goes out (pre-wake's target) */
    uint64_t rebuild_out = 0;
    if (s->tick % 2 == 0) {
        uint64_t t0 = ctpb_now_ns();
        if (pool->prewake && cfg->realtime && st->rebuild_ns != 0)
            pool->prewake(pool->impl, t0 + st->rebuild_ns);
        rebuild_out = t0;
        int rc = run_rebuild(s, pool, out, measuring, &rb_sum, &rb_max);
        if (rc != 0)
            return rc;
        if (measuring)
            add_parts(out, s->rb_submit, s->rb_start, s->rb_end, s->rb_cpu, (size_t)s->w.nzones, st->workers,
                      ctpb_now_ns());
        in_pool += ctpb_now_ns() - t0; /* includes the short check loop: not counted as serial */
    }

    static const char *const labels[] = { "emergency update", "high update", "medium update", "low update",
                                          "idle update" };
    ctpb_batch b = { count, update_item, s, s->prio, s->node, s->submit, labels };
    uint64_t t0 = ctpb_now_ns();
    if (rebuild_out != 0) {
        int64_t gap = (int64_t)(t0 - rebuild_out);
        st->rebuild_ns = st->rebuild_ns == 0 ? (uint64_t)gap : smoothed(st->rebuild_ns, gap);
    }
    if (pool->run(pool->impl, &b) != 0)
        return -3;
    uint64_t returned = ctpb_now_ns();
    in_pool += returned - t0;
    if (measuring)
        add_parts(out, s->submit, s->start, s->end, s->cpu, count, st->workers, returned);

    /* after the wait: check, then drain the actions in submission order */
    int rc = 0;
    uint64_t first_submit = UINT64_MAX, first_start = UINT64_MAX, deadline = tick_start + cfg->tick_ns;
    for (size_t i = 0; i < count; i++) {
        uint32_t r = atomic_load_explicit(&s->ran[i], memory_order_relaxed);
        if (r != 1)
            out->wrong_runs++;
        if (!measuring)
            continue;
        uint64_t body = s->end[i] - s->start[i];
        up_sum += s->cpu[i];
        if (s->cpu[i] > up_max)
            up_max = s->cpu[i];
        out->updates_submitted++;
        out->updates_executed += r;
        unsigned c = s->prio[i];
        uint64_t wait = s->start[i] > s->submit[i] ? s->start[i] - s->submit[i] : 0;
        if (push(&st->lat[c], wait) || push(&st->cost, body))
            rc = -2;
        out->class_updates[c]++;
        out->work_seconds += (double)body / 1e9;
        if (wait > class_tolerance_ns[c])
            out->late[c]++;
        if (s->end[i] > deadline)
            out->stranded++;
        if (s->submit[i] < first_submit)
            first_submit = s->submit[i];
        if (s->start[i] < first_start)
            first_start = s->start[i];
    }
    if (measuring)
        node_balance(st, count);
    if (measuring && crit_bound(st, count) != 0)
        rc = -2;
    if (measuring && k - cfg->warmup_ticks == st->timeline_at && record_timeline(st, count, tick_start) != 0)
        rc = -2;
    uint64_t drain_from = ctpb_now_ns();
    for (size_t i = 0; i < count; i++)
        for (int a = 0; a < s->nact[i]; a++) {
            world_apply(&s->w, &s->actions[2 * i + a], s->tick);
            out->actions += (uint64_t)measuring;
        }
    uint64_t tick_end = ctpb_now_ns();
    main_ns += tick_end - drain_from;
    if (measuring) {
        int t = k - cfg->warmup_ticks;
        uint64_t tick = tick_end - tick_start;
        /* the serial part: everything the tick thread did outside the pool's
         * run calls (classify, pick who is due, the exactly-once check,
         * drain the actions) */
        uint64_t serial = tick > in_pool ? tick - in_pool : 0;
        out->tick_ns[t] = tick;
        if (t == st->timeline_at)
            out->timeline_tick_ns = tick;
        out->tick_wake_ns[t] = count && first_start > first_submit ? first_start - first_submit : 0;
        out->tick_work_ns[t] = serial + rb_sum + up_sum;
        out->tick_ideal_ns[t] =
            serial + (rb_sum ? batch_ideal(rb_sum, rb_max, st->workers) : 0) + batch_ideal(up_sum, up_max, st->workers);
        out->tick_in_order_ns[t] = serial + (rb_sum ? batch_in_order(s->rb_cpu, (size_t)s->w.nzones, st->workers) : 0) +
                                   batch_in_order(s->cpu, count, st->workers);
        out->ticks_over_budget += tick > cfg->tick_ns;
        out->work_seconds += (double)main_ns / 1e9;
    }
    st->k++;
    if (cfg->progress && st->k % 10 == 0)
        cfg->progress(cfg->progress_ctx, st->k, st->total);
    return rc;
}

int ctpb_bots_begin(const ctpb_bots_config *cfg, const ctpb_pool *pool, ctpb_bots_state **state)
{
    if (!state)
        return -1;
    *state = NULL;
    if (!cfg || !pool || !pool->run || cfg->ticks < 1 || cfg->warmup_ticks < 0 || cfg->zones < 1 ||
        cfg->zones > 64 || cfg->bots < (size_t)cfg->zones * 2 || (cfg->realtime && cfg->tick_ns == 0))
        return -1;
    ctpb_bots_state *st = calloc(1, sizeof *st);
    run_state *s = calloc(1, sizeof *s);
    if (!st || !s) {
        free(st);
        free(s);
        return -2;
    }
    st->cfg = *cfg;
    st->pool = *pool;
    st->workers = cfg->workers ? cfg->workers : (pool->threads ? pool->threads : 1);
    /* Once here, not per tick: sysconf reads /sys, inside the measured tick. */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    size_t bound_threads = pool->threads + 1;
    st->crit_cpus = online > 0 && (size_t)online < bound_threads ? (uint64_t)online : (uint64_t)bound_threads;
    st->s = s;
    st->out.home_share = st->out.taken_remote = -1.0;
    st->total = cfg->warmup_ticks + cfg->ticks;
    size_t n = cfg->bots;
    int rc = world_create(&s->w, n, cfg->zones, cfg->seed, &st->pool);
    if (rc != 0) {
        free(s);
        free(st);
        return rc;
    }
    s->bot_of = malloc(n * sizeof *s->bot_of);
    s->prio = malloc(n);
    s->node = malloc(n * sizeof *s->node);
    s->submit = malloc(n * sizeof(uint64_t));
    s->start = malloc(n * sizeof(uint64_t));
    s->end = malloc(n * sizeof(uint64_t));
    s->cpu = malloc(n * sizeof(uint64_t));
    s->lane = malloc(n * sizeof(uint32_t));
    s->ran = calloc(n, sizeof *s->ran);
    s->actions = malloc(2 * n * sizeof *s->actions);
    s->nact = malloc(n);
    int bad = !s->bot_of || !s->prio || !s->node || !s->submit || !s->start || !s->end || !s->cpu || !s->lane || !s->ran || !s->actions ||
              !s->nact;
    for (int c = 0; c < CTPB_CLASSES; c++)
        bad |= !(s->due[c] = malloc(n * sizeof(uint32_t)));
    ctpb_bots_result *out = &st->out;
    out->ticks = cfg->ticks;
    out->tick_ns = calloc((size_t)cfg->ticks, sizeof(uint64_t));
    out->tick_wake_ns = calloc((size_t)cfg->ticks, sizeof(uint64_t));
    out->tick_work_ns = calloc((size_t)cfg->ticks, sizeof(uint64_t));
    out->tick_ideal_ns = calloc((size_t)cfg->ticks, sizeof(uint64_t));
    out->tick_in_order_ns = calloc((size_t)cfg->ticks, sizeof(uint64_t));
    if (bad || !out->tick_ns || !out->tick_wake_ns || !out->tick_work_ns || !out->tick_ideal_ns ||
        !out->tick_in_order_ns) {
        ctpb_bots_result r;
        ctpb_bots_finish(st, &r);
        ctpb_bots_result_free(&r);
        return -2;
    }
    for (int c = 0; c < CTPB_CLASSES; c++)
        st->cap[c] = (class_budget[c] * n + 999) / 1000;
    /* The middle measured tick, moved to a rebuild tick (even tick number). */
    st->timeline_at = cfg->ticks / 2;
    if ((cfg->warmup_ticks + st->timeline_at + 1) % 2 != 0)
        st->timeline_at += st->timeline_at + 1 < cfg->ticks ? 1 : -1;
    if (st->timeline_at < 0)
        st->timeline_at = 0;
    *state = st;
    return 0;
}

int ctpb_bots_remaining(const ctpb_bots_state *st) { return st ? st->total - st->k : 0; }

int ctpb_bots_set_pool(ctpb_bots_state *st, const ctpb_pool *pool)
{
    if (pool->alloc_on_node != NULL || st->pool.alloc_on_node != NULL)
        return -1;
    st->pool = *pool;
    return 0;
}

int ctpb_bots_step(ctpb_bots_state *st, int ticks)
{
    if (!st || ticks < 0)
        return -1;
    int done = 0;
    /* warm-up ticks first, back to back, outside every measurement */
    while (st->rc == 0 && done < ticks && st->k < st->cfg.warmup_ticks) {
        st->rc = run_tick(st);
        done += st->rc == 0;
    }
    if (st->rc != 0)
        return st->rc;
    if (done == ticks || st->k == st->total)
        return done;

    /* measured ticks: in real time on a beat of tick_ns from the first one,
     * and the block lasts whole beats (the last tick's gap is counted too) */
    const ctpb_bots_config *cfg = &st->cfg;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    uint64_t anchor = ctpb_now_ns();
    int beats = 0;
    while (st->rc == 0 && done < ticks && st->k < st->total) {
        bool beat = cfg->realtime && beats > 0;
        uint64_t due = ctpb_now_ns(); /* no beat: the tick starts now */
        if (beat) {
            due = anchor + (uint64_t)beats * cfg->tick_ns;
            if (st->pool.prewake)
                st->pool.prewake(st->pool.impl, due + st->lead_in_ns);
            idle_until(st, due);
        }
        st->rc = run_tick(st);
        /* The lead-in: each beat moves it a quarter of the way to its own;
         * before the first beat, the first tick's from its start. */
        int64_t lead = (int64_t)(st->handover_ns - due);
        if (beat)
            st->lead_in_ns = smoothed(st->lead_in_ns, lead);
        else if (st->lead_in_ns == 0)
            st->lead_in_ns = (uint64_t)lead;
        beats++;
        done += st->rc == 0;
    }
    if (st->rc == 0 && cfg->realtime)
        idle_until(st, anchor + (uint64_t)beats * cfg->tick_ns);
    getrusage(RUSAGE_SELF, &ru1);
    st->out.wall_seconds += (double)(ctpb_now_ns() - anchor) / 1e9;
    st->out.cpu_seconds += rusage_cpu(&ru1) - rusage_cpu(&ru0);
    st->out.context_switches += (double)((ru1.ru_nvcsw + ru1.ru_nivcsw) - (ru0.ru_nvcsw + ru0.ru_nivcsw));
    return st->rc != 0 ? st->rc : done;
}

int ctpb_bots_finish(ctpb_bots_state *st, ctpb_bots_result *out)
{
    if (!out)
        return -1;
    if (!st) {
        memset(out, 0, sizeof *out);
        out->home_share = out->taken_remote = -1.0;
        return -1;
    }
    *out = st->out;
    int measured = st->k > st->cfg.warmup_ticks ? st->k - st->cfg.warmup_ticks : 0;
    for (int c = 0; c < CTPB_CLASSES; c++) {
        out->latency_ns[c] = st->lat[c].v;
        out->latency_count[c] = st->lat[c].n;
        out->class_bots[c] /= measured > 0 ? (double)measured : 1.0;
    }
    out->cost_ns = st->cost.v;
    out->cost_count = st->cost.n;
    out->crit_bound_ns = st->crit_bound.v;
    out->crit_bound_count = st->crit_bound.n;
    free(st->crit_tick.v);
    if (st->pool.locality)
        st->pool.locality(st->pool.impl, &out->home_share, &out->taken_remote);
    out->balance_remote_share = st->balance_ticks > 0 ? st->balance_sum / st->balance_ticks : -1.0;
    out->checksum = world_checksum(&st->s->w);
    int rc = st->rc;
    if (rc == 0 && st->k < st->total)
        rc = -5;
    if (rc == 0 && out->wrong_runs)
        rc = -4;
    free_state(st->s);
    free(st->s);
    free(st);
    return rc;
}

int ctpb_bots_run(const ctpb_bots_config *cfg, const ctpb_pool *pool, ctpb_bots_result *out)
{
    ctpb_bots_state *st;
    int rc = ctpb_bots_begin(cfg, pool, &st);
    if (rc != 0) {
        memset(out, 0, sizeof *out);
        out->home_share = out->taken_remote = -1.0;
        return rc;
    }
    rc = ctpb_bots_step(st, cfg->warmup_ticks + cfg->ticks);
    int frc = ctpb_bots_finish(st, out);
    return rc < 0 ? rc : frc;
}

void ctpb_bots_result_free(ctpb_bots_result *r)
{
    if (!r)
        return;
    free(r->tick_ns);
    free(r->tick_wake_ns);
    free(r->tick_work_ns);
    free(r->tick_ideal_ns);
    free(r->tick_in_order_ns);
    for (int c = 0; c < CTPB_CLASSES; c++)
        free(r->latency_ns[c]);
    free(r->cost_ns);
    free(r->crit_bound_ns);
    free(r->timeline);
    memset(r, 0, sizeof *r);
}

/* ---- Interleaving helpers ------------------------------------------------- */

double ctpb_process_cpu_seconds(void) { return process_cpu(); }

double ctpb_settle(double max_seconds)
{
    uint64_t t0 = ctpb_now_ns(), limit = t0 + (uint64_t)(max_seconds * 1e9);
    for (;;) {
        double c0 = process_cpu();
        uint64_t w0 = ctpb_now_ns();
        sleep_until(w0 + 10000000u); /* 10 ms */
        double used = process_cpu() - c0, span = (double)(ctpb_now_ns() - w0) / 1e9;
        if (used < 0.15 * span || ctpb_now_ns() >= limit)
            break;
    }
    return (double)(ctpb_now_ns() - t0) / 1e9;
}
