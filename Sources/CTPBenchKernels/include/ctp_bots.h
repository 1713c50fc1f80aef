/* The bot simulation of `threadpool-bench bots` (issue 5), in C so that every
 * runtime under test runs exactly the same work: the world, the tick driver
 * and the measurements live here; each runtime is a ctpb_pool, a table of
 * three functions (run a batch and wait, optional node memory, optional
 * locality figures). The Swift executable builds the pools it cannot build in
 * C, runs the driver once per pool and prints the tables.
 *
 * The workload (docs/benchmark.md, "The bot simulation"): a 50 ms tick, four
 * update classes with intervals 1, 1, 10, 50 and per-tick budgets 5, 45, 40,
 * 91 per 1,000 bots, a 512 x 512 double-buffered spatial grid rebuilt every
 * second tick in parallel over zones, 3 to 5 radius queries per update, a
 * heavy-tailed update cost, main-thread actions drained after the wait. */
#ifndef CTP_BOTS_H
#define CTP_BOTS_H

#include <stddef.h>
#include <stdint.h>

#include "ctp/ctp.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Update classes, most urgent first; each maps to a pool priority. */
enum { CTPB_EMERGENCY = 0, CTPB_HIGH = 1, CTPB_MEDIUM = 2, CTPB_LOW = 3, CTPB_CLASSES = 4 };

typedef void (*ctpb_item_fn)(void *ctx, size_t index);

/** One batch handed to a pool: run fn(ctx, i) exactly once for every i in
 *  [0, count). Items come most urgent first. */
typedef struct ctpb_batch {
    size_t count;
    ctpb_item_fn fn;
    void *ctx;
    const uint8_t *priority; /* ctp_priority of each item (0 = CRITICAL ... 3 = LOW) */
    const int16_t *node;     /* node affinity of each item, -1 = none */
    uint64_t *submit_ns;     /* the pool writes ctpb_now_ns() into submit_ns[i] just
                                before it hands item i to its runtime (a pool that
                                hands over the whole batch at once stamps every item
                                with that moment) */
    const char *const *labels; /* optional: a static name per priority (5), for
                                  runtimes that label tasks (ctp's traces) */
} ctpb_batch;

/** A runtime under test. `run` returns only when every item has run, with
 *  everything the items wrote visible to the caller; 0 or a negative error.
 *  Called from one thread (the tick thread) at a time. */
typedef struct ctpb_pool {
    void *impl;     /* the pool's own state, passed to every function below */
    size_t threads; /* worker threads, for per-worker figures */
    int nodes;      /* nodes zones are placed on (1 = no placement) */
    int (*run)(void *impl, const ctpb_batch *batch);
    /* Optional: memory on a node (NULL = malloc/free). */
    void *(*alloc_on_node)(void *impl, int node, size_t size);
    void (*free_on_node)(void *impl, void *ptr, size_t size);
    /* Optional: share of node-affine tasks run on their home node, and tasks
     * taken from another node's queues, since creation. */
    void (*locality)(void *impl, double *home_share, double *taken_remote);
    /* Optional fork-join kernels for `threadpool-bench micro`: fib(n) with a
     * task per call and no cutoff (seconds, or < 0; result in *value), and a
     * parallel loop a[i] = a[i] * 1.0000001 + 1 over n doubles (seconds).
     * NULL where the runtime has no fork-join (a blocking wait inside a task
     * of a non-helping pool can deadlock). */
    double (*fib)(void *impl, int n, long *value);
    double (*parallel_for)(void *impl, double *a, size_t n);
    void (*destroy)(void *impl);
    /* Optional: work will be handed over at about at_ns (CLOCK_MONOTONIC);
     * the real-time driver calls it before sleeping to the next tick. */
    void (*prewake)(void *impl, uint64_t at_ns);
    /* Optional: from the runtime's own tick reports, shares of the batches'
     * wall time x workers: busy, waking, idle; then shares of the wall time:
     * the wake lag, the tick thread's helping (see docs/benchmark.md). */
    void (*tick_shares)(void *impl, double shares[5]);
} ctpb_pool;

typedef struct ctpb_bots_config {
    size_t bots;        /* world size (>= 8) */
    int zones;          /* zones = horizontal bands of the grid (>= 1, <= 64) */
    int ticks;          /* measured ticks */
    int warmup_ticks;   /* ticks run before measuring */
    int realtime;       /* 1: one tick every tick_ns; 0: back to back (flat out) */
    uint64_t tick_ns;   /* 50 ms */
    uint64_t seed;
    void (*progress)(void *ctx, int tick, int ticks); /* optional, every 10 ticks */
    void *progress_ctx;
    size_t workers;     /* threads the ideal tick divides the work by (0 = pool->threads) */
} ctpb_bots_config;

/** One item of the recorded tick (ctpb_bots_result.timeline): times from
 *  the tick's start. kind: the update class (CTPB_EMERGENCY .. CTPB_LOW), or
 *  CTPB_CLASSES for a zone rebuild. lane: the thread that ran it (a small
 *  number per thread, the same for a thread in every pool and tick). */
typedef struct ctpb_timeline_item {
    uint64_t submit_ns, start_ns, end_ns;
    uint32_t lane;
    uint8_t kind;
} ctpb_timeline_item;

/** Everything one run measured. Arrays are owned by the result: free with
 *  ctpb_bots_result_free. Times in nanoseconds unless named seconds. */
typedef struct ctpb_bots_result {
    int ticks;
    uint64_t *tick_ns;                        /* [ticks] tick start to actions drained */
    uint64_t *tick_wake_ns;                   /* [ticks] tick's first submit to first start */
    uint64_t *tick_work_ns;                   /* [ticks] serial part + every body's thread CPU time */
    uint64_t *tick_ideal_ns;                  /* [ticks] the limit on config->workers threads: the
                                                 serial part (the tick thread's time outside the
                                                 pool's run calls) plus, per batch, its bodies'
                                                 CPU time / workers or its longest body's if longer */
    uint64_t *tick_in_order_ns;               /* [ticks] the serial part plus each batch
                                                 list-scheduled in submission order (its
                                                 priority order) on config->workers threads
                                                 with no overhead (bots_run.c, batch_in_order) */
    /* Every batch of the measured ticks, summed: hand-over to the first
     * body's start (head), first start to last end (span), last end to the
     * pool's return (tail); and the batches in order (as tick_in_order_ns) */
    double parts_head_seconds, parts_span_seconds, parts_tail_seconds, parts_in_order_seconds;
    uint64_t *latency_ns[CTPB_CLASSES];       /* submit-to-start per update, by class */
    size_t latency_count[CTPB_CLASSES];
    uint64_t *cost_ns;                        /* wall time of each update body */
    size_t cost_count;
    uint64_t *crit_bound_ns;                  /* a lower bound on each CRITICAL update's
                                                 submit-to-start for this pool's threads plus a
                                                 helping caller on this machine's CPUs, from the
                                                 CPU times of its tick's CRITICAL updates
                                                 (bots_run.c, crit_bound): no non-preemptive
                                                 schedule of them does better */
    size_t crit_bound_count;
    /* One measured tick in full (the same tick of the same world for every
     * pool: the middle one, a rebuild tick), for the timeline picture. */
    ctpb_timeline_item *timeline;
    size_t timeline_count;
    int timeline_tick;                        /* its index among the measured ticks */
    uint64_t timeline_tick_ns;                /* its length */
    uint32_t timeline_main_lane;              /* the tick thread's lane */
    uint64_t ticks_over_budget;               /* tick time > tick_ns */
    uint64_t updates_submitted, updates_executed;
    uint64_t rebuilds_submitted, rebuilds_executed;
    uint64_t wrong_runs;                      /* items run 0 or more than 1 times */
    uint64_t late[CTPB_CLASSES];              /* started past the class's tolerance
                                                 (10, 50, 200, 1000 ms) */
    uint64_t stranded;                        /* finished after the tick's 50 ms deadline */
    uint64_t deferred;                        /* due updates pushed to the next tick by the budget */
    uint64_t actions;                         /* main-thread actions drained */
    uint64_t class_updates[CTPB_CLASSES];
    double class_bots[CTPB_CLASSES];          /* bots in each class, mean over measured ticks */
    double wall_seconds;                      /* measured ticks, idle gaps included (in real time
                                                 each block of ticks lasts whole 50 ms beats) */
    double cpu_seconds;                       /* process CPU over the same spans (getrusage) */
    double work_seconds;                      /* update + rebuild bodies + main-thread phases */
    double idle_seconds, idle_cpu_seconds;    /* real time: the gaps between ticks */
    double context_switches;                  /* process-wide, over the span */
    double home_share, taken_remote;          /* from pool->locality, or -1 */
    /* The world's node imbalance: per measured tick, the least share of the
     * update batch's node-affine work (bodies' CPU time) that has to run on
     * another node for every node to finish at once (the work above the
     * nodes' mean, over all of it); the mean over the ticks. 1 - this bounds
     * the home share of a pool that does not make the tick wait. -1 with
     * one node. */
    double balance_remote_share;
    uint64_t checksum;                        /* of the final world: equal for every pool */
} ctpb_bots_result;

/** Runs the simulation on `pool` (not destroyed): begin, one step of every
 *  tick, finish. Returns 0, or a negative error: -1 bad config, -2 out of
 *  memory, -3 pool->run failed, -4 an item ran other than once (see
 *  wrong_runs). On every return *out may be freed. */
int ctpb_bots_run(const ctpb_bots_config *config, const ctpb_pool *pool, ctpb_bots_result *out);

/* The same run in steps, so that several pools can take turns on one machine
 * (`threadpool-bench bots` runs them round-robin in blocks of ticks, each on
 * its own world built from the same seed). */
typedef struct ctpb_bots_state ctpb_bots_state;

/** Builds the world and the buffers for one run of `pool` (the table is
 *  copied; the pool itself must outlive the state). 0 or -1/-2 as above. */
int ctpb_bots_begin(const ctpb_bots_config *config, const ctpb_pool *pool, ctpb_bots_state **state);

/** Runs up to `ticks` more ticks: warm-up ticks first, back to back and not
 *  measured; then measured ones, in real time on a beat of tick_ns counted from
 *  the first of this call, the call returning at the beat after its last tick
 *  (so a block of n ticks lasts n beats, its gaps all measured). Returns the
 *  ticks run, or a negative error (-2, -3), which every later call repeats. */
int ctpb_bots_step(ctpb_bots_state *state, int ticks);

/** Hands the state a new pool between steps (the table is copied), for a pool
 *  that is created for each of its turns and destroyed after it. Only for a
 *  pool without alloc_on_node (the world's memory stays where it is).
 *  0, or -1 if the pool has alloc_on_node. */
int ctpb_bots_set_pool(ctpb_bots_state *state, const ctpb_pool *pool);

/** Ticks left to run, warm-up included. */
int ctpb_bots_remaining(const ctpb_bots_state *state);

/** Fills *out (free with ctpb_bots_result_free) and frees the state. Returns
 *  0, the step error, -4 as above, or -5 if ticks were left. */
int ctpb_bots_finish(ctpb_bots_state *state, ctpb_bots_result *out);

void ctpb_bots_result_free(ctpb_bots_result *result);

/** Process CPU seconds, user + system (getrusage). */
double ctpb_process_cpu_seconds(void);

/** Waits, in windows of 10 ms, until the process uses under 15% of a CPU (no
 *  pool's threads still spinning from its last batch: libomp spins 200 ms; a
 *  pool that polls while idle, like legacy-003's 1 ms timed waits, stays
 *  under it), at most max_seconds. Returns the seconds waited. Run between
 *  two pools' turns. */
double ctpb_settle(double max_seconds);

/** CLOCK_MONOTONIC in nanoseconds. */
uint64_t ctpb_now_ns(void);

/** The calling thread's CPU time in nanoseconds (CLOCK_THREAD_CPUTIME_ID). */
uint64_t ctpb_thread_cpu_ns(void);

/* ---- Micro-benchmarks through the same interface (peer_micro.c) ---------- */

/** Wake latency of a parked pool: `rounds` times, sleep gap_us, then run a
 *  batch of one empty item; out_ns[i] = its submit-to-start. 0 or -1. */
int ctpb_peer_wake(const ctpb_pool *pool, size_t rounds, unsigned gap_us, uint64_t *out_ns);

typedef struct ctpb_peer_burst_result {
    double seconds;          /* first hand-over to last item done */
    double context_switches; /* process-wide, during the run */
} ctpb_peer_burst_result;

/** External burst: one batch of `tasks` empty items from this thread. */
int ctpb_peer_burst(const ctpb_pool *pool, size_t tasks, ctpb_peer_burst_result *out);

typedef struct ctpb_peer_trickle_result {
    double tasks, work_cpu_seconds, total_cpu_seconds, context_switches;
} ctpb_peer_trickle_result;

/** Trickle: every period_us, a batch of one item of task_us CPU work, waited for. */
int ctpb_peer_trickle(const ctpb_pool *pool, size_t tasks, unsigned period_us, unsigned task_us,
                      ctpb_peer_trickle_result *out);

/** CPU seconds per second the process uses over `seconds` while this thread
 *  sleeps, after one small batch has started the pool's threads. */
double ctpb_peer_idle_cpu(const ctpb_pool *pool, double seconds);

typedef struct ctpb_peer_tick_result {
    uint64_t tick_ns;     /* submit of the batch to its last item done */
    uint64_t work_ns;     /* the items' measured busy time (thread CPU time), summed */
    uint64_t longest_ns;  /* the longest item's */
} ctpb_peer_tick_result;

/** Fills cost_ns with a tick's mixed task costs for `seed`: 90% 8-14 us, 9%
 *  40-100 us, 1% 300 us (the same for every pool). */
void ctpb_tick_costs(uint32_t *cost_ns, size_t tasks, uint64_t seed);

/** One tick after a pause: sleeps pause_us (long enough for the workers to
 *  park), then runs one batch of `tasks` busy items, item i burning cost_ns[i]
 *  of its thread's CPU time (a preempted item does not progress). */
int ctpb_peer_tick(const ctpb_pool *pool, const uint32_t *cost_ns, size_t tasks, unsigned pause_us,
                   ctpb_peer_tick_result *out);

/* ---- The pools written in C (each in its own file) ---------------------- */

/** ctp through its C API: one ctp_submit_batch per batch with priorities and
 *  node affinity, then ctp_group_wait (which helps). topology NULL = the
 *  machine's; numa_off = CTP_NUMA_OFF. 0 or a negative ctp error code. */
int ctpb_pool_ctp(size_t workers, const char *topology, int numa_off, ctpb_pool *out);
/** As ctpb_pool_ctp, with ctp_config.wake_elsewhere given (0: the kernel
 *  places every woken worker; the ctp-kernel-placed peer). */
int ctpb_pool_ctp_placed(size_t workers, const char *topology, int numa_off, int wake_elsewhere, ctpb_pool *out);
/** As ctpb_pool_ctp, each worker pinned to one CPU (CTP_AFFINITY_CPU; the
 *  ctp-pinned peer): a woken worker's CPU is then known without a system
 *  call, where wake_elsewhere otherwise narrows the worker's mask. */
int ctpb_pool_ctp_pinned(size_t workers, const char *topology, ctpb_pool *out);

/** The ctp pool behind a table from ctpb_pool_ctp (to start a trace on it),
 *  or NULL for any other pool. */
ctp_pool *ctpb_pool_ctp_handle(const ctpb_pool *pool);

/** Makes a table from ctpb_pool_ctp pre-wake its workers before each tick
 *  (ctp_pool_prewake). 0, or -1 for any other pool. */
int ctpb_pool_ctp_enable_prewake(ctpb_pool *pool);

/** Runs each batch of a table from ctpb_pool_ctp as a ctp_tick with a report
 *  and sums the reports (tick_shares). 0, or -1 for any other pool. */
int ctpb_pool_ctp_enable_tick_reports(ctpb_pool *pool);

/** A plain mutex + condition variable pool, as game servers write by hand:
 *  one FIFO, notify_one per submit, a counter and condvar to wait on. */
int ctpb_pool_mutex(size_t workers, ctpb_pool *out);

/** The pool of background document 003, reproduced: per-worker queues per
 *  priority, round-robin submission waking only the target worker, steal
 *  attempts separated by an exponential backoff that sleeps (10 us doubling
 *  to 1 ms, not interruptible), then a 1 ms timed condvar wait (polling). */
int ctpb_pool_legacy(size_t workers, ctpb_pool *out);

#ifdef __cplusplus
}
#endif

#endif
