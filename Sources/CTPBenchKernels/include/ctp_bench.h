/* Micro-benchmark kernels, in C so that they measure the runtime and not the
 * calling language. The Swift executable (Sources/ThreadPoolBench) runs them,
 * turns samples into percentiles and prints the tables. */
#ifndef CTP_BENCH_H
#define CTP_BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Wake latency of a parked pool: `rounds` times, wait gap_us so every worker
 * parks, then submit one task and record submit-to-start in ctp_ns[i]; the
 * same round also records a bare pthread condvar signal-to-wake in
 * condvar_ns[i] (the physical reference), interleaved to share the noise.
 * Returns 0 or a negative ctp error code. */
int ctpb_wake_latency(size_t workers, size_t rounds, unsigned gap_us, uint64_t *ctp_ns,
                      uint64_t *condvar_ns);

/* The machine's floor for waking a second CPU, with no pool involved: a
 * bare pthread condvar thread pinned to one CPU, woken `rounds` times by a
 * thread pinned to another that keeps running (spins) until it starts, as a
 * tick thread that submits and then helps does. Before each round both wait
 * gap_us (the waiter blocked), so a long gap lets an idle vCPU halt as it
 * does between ticks. signal_ns[i]: the signalling thread's own cost (lock,
 * pthread_cond_signal, unlock); wake_ns[i]: signal to the waiter running.
 * Returns 0, or -1 with fewer than 2 CPUs to pin to. */
int ctpb_cold_wake(size_t rounds, unsigned gap_us, uint64_t *signal_ns, uint64_t *wake_ns);

typedef struct ctpb_burst_result {
    double submit_seconds;   /* time spent in the submit calls */
    double total_seconds;    /* first submit to last task finished */
    double context_switches; /* process-wide, during the run */
} ctpb_burst_result;

/* External burst: one thread submits `tasks` empty tasks (single submits if
 * batch <= 1, else ctp_submit_batch of `batch`). */
int ctpb_burst(size_t workers, size_t tasks, size_t batch, ctpb_burst_result *out);

typedef struct ctpb_trace_cost_result {
    double burst_off_mps, burst_on_mps; /* single-submit burst, tasks per second / 1e6 (median) */
    double fib_off_ms, fib_on_ms;       /* fib(n) with a group per call (median) */
} ctpb_trace_cost_result;

/* What a trace costs: `reps` interleaved repetitions of a burst of `tasks`
 * single submits and of fib(fib_n), each on a fresh pool of `workers`, with
 * no trace and with ctp_trace_start running (rings of 65536 events; the
 * JSON is written to /dev/null after the timed part). 0 or a ctp error. */
int ctpb_trace_cost(size_t workers, size_t tasks, int fib_n, int reps, ctpb_trace_cost_result *out);

/* fib(n) by plain recursion: the reference for each pool's fork-join fib. */
double ctpb_fib_sequential(int n, long *value);

typedef struct ctpb_trickle_result {
    double tasks;
    double work_cpu_seconds;   /* CPU spent inside the tasks' bodies */
    double total_cpu_seconds;  /* whole process, including the submitting thread */
    double context_switches;
} ctpb_trickle_result;

/* Trickle: one task of task_us of CPU work every period_us, for `tasks`
 * periods. kind 0 = ctp, kind 1 = a bare condvar thread (the floor). */
int ctpb_trickle(int kind, size_t workers, size_t tasks, unsigned period_us, unsigned task_us,
                 ctpb_trickle_result *out);

/* Idle: CPU seconds used per second by the threads of a parked pool of `workers`,
 * measured over `seconds` while the caller sleeps. */
double ctpb_idle_cpu(size_t workers, double seconds);

/* Parallel for over n doubles (a[i] = a[i] * 1.0000001 + 1). Returns seconds;
 * with pool workers 0 the loop runs sequentially. */
double ctpb_parallel_for(size_t workers, size_t n, int repeats);

typedef struct ctpb_zones_result {
    double seconds;          /* wall time of all ticks */
    double tasks;            /* zone updates run */
    double worker_tasks;     /* of those, run by workers (all: the caller waits without helping) */
    double affine_home;      /* run by a worker of the zone's node */
    double taken_remote;     /* taken from another node's queues */
    int nodes;               /* nodes the pool placed work on */
} ctpb_zones_result;

typedef struct ctpb_node_barrier_result {
    double worker_tasks;     /* affine tasks the workers ran (the helping caller's not counted) */
    double home_share;       /* of those, the share run by a worker of the task's node */
    double round_p50_us;     /* submit-to-wait-return of one round */
    double round_p99_us;
    int nodes;               /* nodes the pool placed work on */
} ctpb_node_barrier_result;

/* A node-affine tick barrier with a helping wait: `rounds` rounds of one
 * batch of `per_node` tasks per node of `topology` (each spinning `task_us`
 * microseconds, with that node's affinity), submitted after a `pause_us`
 * pause in which the workers park, then a helping ctp_group_wait. Issue
 * 16's case is "0;1", 2 workers, 200 rounds of 10 + 10 tasks of 20 us.
 * numa_off = CTP_NUMA_OFF. Returns 0 or a ctp error code. */
int ctpb_node_barrier(const char *topology, int numa_off, size_t workers, int rounds, int per_node,
                      unsigned task_us, unsigned pause_us, ctpb_node_barrier_result *out);

/* Zones on nodes: `zones` zones of `bots` bots each, the zone's bots in memory
 * from ctp_alloc_on_node(zone % nodes); every tick submits each zone's bot
 * updates as one batch with that node's affinity and waits for the tick
 * (steady = 0), or keeps two ticks in flight so workers never run dry
 * (steady = 1). topology NULL = the machine's; numa_off = CTP_NUMA_OFF. */
int ctpb_zones(const char *topology, int numa_off, int steady, size_t workers, int zones, int bots, int ticks,
               ctpb_zones_result *out);

#ifdef __cplusplus
}
#endif

#endif
