/*
 * ctp — a C-interoperable work-stealing thread pool.
 *
 * This header is the whole public C API and its documentation. Every function
 * says what it does, who owns what, which threads may call it and what each
 * error code means. The design (sleep/wake protocol, deque memory orders,
 * shutdown states) is described in docs/scheduler.md.
 *
 * General rules
 *  - Every function that can fail returns an int: CTP_OK (0) or a negative
 *    CTP_E* code. ctp_strerror() turns a code into a sentence.
 *  - Bad input (NULL pointers, NULL task functions, out-of-range priorities,
 *    absurd sizes) is reported with CTP_EINVAL; it never crashes or hangs.
 *  - All functions are thread-safe unless their comment says otherwise.
 *  - "Ownership of arg": a task's arg is owned by the caller until a submit
 *    returns CTP_OK. From then on ctp guarantees that exactly one of
 *    fn(arg) or on_cancel(arg) is called, exactly once. If a submit fails,
 *    nothing was queued and arg stays with the caller.
 */
#ifndef CTP_CTP_H
#define CTP_CTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define CTP_API __attribute__((visibility("default")))
#else
#define CTP_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Types                                                                    */
/* ------------------------------------------------------------------------ */

/** An opaque pool of worker threads. Created by ctp_pool_create, freed by
 *  ctp_pool_destroy. */
typedef struct ctp_pool ctp_pool;

/** An opaque set of tasks that can be waited for together (fork-join). */
typedef struct ctp_group ctp_group;

/** A task body. Called exactly once on a worker (or on a thread helping in
 *  ctp_group_wait) with the arg given at submission. */
typedef void (*ctp_task_fn)(void *arg);

/** A parallel-for body: handles the half-open index range [begin, end). */
typedef void (*ctp_range_fn)(size_t begin, size_t end, void *ctx);

/** Moves a payload of ctp_submit_inline from src into the task's storage at
 *  dst (both `size` bytes, dst aligned to 16). Must not fail. Afterwards src
 *  is dead: the callee destroyed it or it needed no destruction. It runs on
 *  the submitting thread while the pool holds the lock of the queue the
 *  task goes to (an injection queue, or a pinned queue): keep it a move,
 *  and call no ctp function from it (one that takes the same lock would
 *  deadlock). */
typedef void (*ctp_relocate_fn)(void *dst, void *src);

/** Error codes. Every function returns CTP_OK or one of these. */
enum {
    CTP_OK = 0,         /* success */
    CTP_EINVAL = -1,    /* an argument is invalid (NULL, out of range, wrong state) */
    CTP_ENOMEM = -2,    /* memory or a thread could not be obtained */
    CTP_ESHUTDOWN = -3, /* the pool is shutting down or stopped; nothing was queued */
    CTP_EFULL = -4,     /* the bounded queue is full; nothing was queued */
    CTP_ETIMEDOUT = -5, /* the wait ended before its condition held; state unchanged */
    CTP_EDEADLK = -6    /* the call would wait for the calling thread itself */
};

/** Library version; ctp_version() reports the one actually linked. */
#define CTP_VERSION_MAJOR 0
#define CTP_VERSION_MINOR 1
#define CTP_VERSION_PATCH 0

/** Most bytes ctp_submit_inline stores inside a task. */
#define CTP_INLINE_CAPACITY 64

/** Timeout value meaning "wait until done". */
#define CTP_WAIT_FOREVER UINT64_MAX

/** Most workers a pool may have. */
#define CTP_MAX_WORKERS 1024

/** Task priorities. At each task boundary a worker takes the highest-priority
 *  task it can find: of its own node's tasks, and of other nodes' CRITICAL
 *  tasks (another node's lower-priority tasks it takes only when it has no
 *  work of its own: see remote_steal_delay_ns). Note that zero is CRITICAL:
 *  set the field. */
typedef enum {
    CTP_PRIORITY_CRITICAL = 0,
    CTP_PRIORITY_HIGH,
    CTP_PRIORITY_NORMAL,
    CTP_PRIORITY_LOW,
    CTP_PRIORITY_IDLE,
    CTP_PRIORITY_COUNT
} ctp_priority;

/** How ctp_pool_shutdown treats tasks that have not started. */
typedef enum {
    CTP_SHUTDOWN_DRAIN = 0,  /* run everything queued and everything it spawns */
    CTP_SHUTDOWN_CANCEL = 1  /* call on_cancel for every unstarted task instead */
} ctp_shutdown_mode;

/** NUMA mode. AUTO: follow the topology (libnuma's, or a simulated one);
 *  OFF: behave as one node (affinities to the topology's nodes are accepted
 *  and ignored, so code written for AUTO runs unchanged; a node the topology
 *  does not have is refused with CTP_EINVAL, as under AUTO). */
typedef enum { CTP_NUMA_AUTO = 0, CTP_NUMA_OFF = 1 } ctp_numa_mode;

/** Worker CPU affinity: none, pinned to their node's CPUs, or one CPU each. */
typedef enum { CTP_AFFINITY_NONE = 0, CTP_AFFINITY_NODE = 1, CTP_AFFINITY_CPU = 2 } ctp_affinity;

/** What a stall report is about (see ctp_config.stall_ns). */
typedef enum {
    CTP_STALL_TASK = 1,  /* one task has run longer than stall_ns */
    CTP_STALL_QUEUE = 2  /* tasks are queued and none has started for stall_ns */
} ctp_stall_kind;

/** One stall, as handed to ctp_config.on_stall. Valid only during the call. */
typedef struct ctp_stall_report {
    ctp_stall_kind kind;
    int worker;            /* the stalled worker (CTP_STALL_TASK), else -1 */
    uint64_t elapsed_ns;   /* how long the task has run / the queue has not moved */
    ctp_task_fn fn;        /* the stalled task (CTP_STALL_TASK), else NULL */
    void *arg;             /* its argument (CTP_STALL_TASK), else NULL: to identify
                              the task only, never to dereference (the task may have
                              ended and freed it, or an inline argument's node been
                              reused, by the time the callback runs) */
    const char *label;     /* its label (ctp_task_desc.label), or NULL */
    uint64_t queued;       /* tasks queued (not started) when the report was made:
                              the injection queues and the workers' deques
                              (pinned tasks not included) */
} ctp_stall_report;

/** A stall callback. Runs on the pool's monitor thread, once per stall
 *  episode; it may call ctp_pool_snapshot and ctp_pool_stats, and must not
 *  destroy the pool or wait for its tasks. The monitor thread has a small
 *  stack (80 KiB) and runs no pool's tasks: a wait there never helps,
 *  ctp_pool_help returns 0, ctp_pinned_create is refused. */
typedef void (*ctp_stall_fn)(const ctp_stall_report *report, void *ctx);

/** A worker thread start/stop callback: run on the worker itself, with its
 *  index (0 .. workers-1). */
typedef void (*ctp_thread_fn)(int worker, void *ctx);

/** Pool configuration. Always call ctp_config_init first, then change the
 *  fields you need; new fields may be added and init gives them defaults. */
typedef struct ctp_config {
    /** Worker threads; 0 = one per online CPU. At most CTP_MAX_WORKERS. */
    size_t workers;
    /** Most tasks submitted from outside the pool that may wait unstarted at
     *  once; 0 = unbounded. A submission that would exceed it fails with
     *  CTP_EFULL. Submissions from running tasks are never refused. Pinned
     *  tasks (ctp_task_desc.pinned) are not bounded by it: they wait in their
     *  owner's queue, not the pool's, and are not in ctp_stats.queued. */
    size_t queue_capacity;
    /** How long an idle worker keeps searching (spinning on the queues with
     *  pause instructions, no sleep) before it parks, in nanoseconds; at most
     *  half the workers (rounded up) spin at once. Default 0: after one more sweep the
     *  worker parks, which costs nothing while idle and measured fastest on a
     *  2-core machine (spinners take CPU from the threads producing work).
     *  Raise it (say 20000) where cores outnumber busy threads and sub-10 us
     *  reaction to back-to-back submissions matters. At most 1 second. */
    uint64_t spin_ns;
    /** After spinning, how long a worker waits in a timed park before it
     *  searches once more and parks with no timeout, in nanoseconds. A
     *  submission interrupts this wait at once. Default 0 (no timed park).
     *  At most 60 seconds. */
    uint64_t backoff_ns;
    /** Most parked workers woken by one batch submission; 0 = no limit
     *  beyond min(tasks, parked workers). A single submission wakes at most
     *  one worker, and only when no worker is already searching. */
    unsigned wake_fanout;
    /** Stack size of each worker thread in bytes; 0 = 8 MiB. Minimum 64 KiB. */
    size_t stack_size;
    /** Thread name prefix: at most its first 10 bytes are used (the Linux
     *  limit is 15 with the worker's "-N"), cut before a UTF-8 character
     *  that would not fit whole, and 9 for the monitor's "-mon"; NULL =
     *  "ctp". The string is copied. */
    const char *name;
    /** NUMA mode; default CTP_NUMA_AUTO. */
    ctp_numa_mode numa_mode;
    /** Worker affinity; default CTP_AFFINITY_NONE. CTP_AFFINITY_CPU suits
     *  a machine the server owns: a woken worker's CPU is then known and no
     *  affinity system call is made per wake (wake_elsewhere), which on the
     *  2-vCPU test VM made a 16-task tick after a park 3-14% shorter; but a
     *  pinned worker cannot leave a CPU another process is using while
     *  another CPU idles. */
    ctp_affinity affinity;
    /** Simulated topology, NULL = the environment variable CTP_TOPOLOGY, or if
     *  that is unset the machine's (libnuma; one node without it). Syntax: CPU
     *  lists per node separated by ';', optionally '|' and a distance matrix
     *  with rows separated by ';': "0-7;8-15" or "0-3,8-11;4-7,12-15|10,21;21,10".
     *  With a topology given, workers = 0 means one per CPU it lists; CPU ids
     *  beyond the machine's wrap around when pinning, and memory is not bound.
     *  An unparsable topology fails ctp_pool_create with CTP_EINVAL, and
     *  ctp_last_error_message() names the problem. The string is copied. */
    const char *topology;
    /** Stall detection, in nanoseconds; 0 = off (the default). When set, a
     *  monitor thread reports (once per episode, within 2 x stall_ns of its
     *  start) a task that has run longer than stall_ns (CTP_STALL_TASK; a
     *  task blocked in a group or handle wait is still running), and
     *  tasks queued while none has started for stall_ns (CTP_STALL_QUEUE:
     *  every worker busy, blocked or lost). The monitor parks with the
     *  workers: an idle pool costs nothing. At least 1 ms, at most 1 hour.
     *  Turning it on also makes the pool time its tasks (a clock read per
     *  task; see ctp_worker_info.running_ns). */
    uint64_t stall_ns;
    /** Called for each stall; NULL = print one line per stall to stderr,
     *  the pool name and the task's label in double quotes with quotes,
     *  backslashes and control bytes escaped (\xNN), so no label can break
     *  the line; a label over 40 bytes is cut (between UTF-8 characters)
     *  and ends with "...". */
    ctp_stall_fn on_stall;
    void *stall_ctx;
    /** Run on each worker thread as it starts (every one before
     *  ctp_pool_create returns) and as it stops (every one before
     *  ctp_pool_destroy returns): name threads for a profiler, set up
     *  thread-locals. NULL = nothing. They must not call into the pool. */
    ctp_thread_fn on_thread_start, on_thread_stop;
    void *thread_ctx;
    /** Pre-wake (ctp_pool_prewake): how long before the expected work the
     *  workers leave their park, and how long after it they keep searching
     *  if none came, in nanoseconds. Default 100 us (this VM's timer slack
     *  plus wake-up p99, measured: docs/scheduler.md, "Pre-wake"); 1 ns to
     *  50 ms. Costs up to 2 x lead of CPU per worker per pre-wake, plus
     *  how late timed waits end on the machine (learned, at most 2 ms), by
     *  which the workers leave their park earlier still. */
    uint64_t prewake_lead_ns;
    /** NUMA: how long another node's affine work is left to that node's
     *  workers before an idle worker takes it, in nanoseconds; default
     *  300000 (300 us: longer than a wake-up on a busy VM, measured in
     *  docs/scheduler.md, "The grace period"), 0 = at once. CRITICAL and
     *  HIGH tasks are always taken at once.
     *  A task in another node's injection queue is taken once it has waited
     *  this long; another node's workers' deques are stolen from once the
     *  idle worker has found nothing for this long, or once the oldest such
     *  task it saw has waited twice this long since (its own trickle of
     *  work cannot hold it off for longer). The idle worker parks no
     *  longer than that, so nothing is stranded, and as it parks it wakes a
     *  parked worker of that work's node, so the work runs at home if one
     *  is free. At most 100 ms. */
    uint64_t remote_steal_delay_ns;
    /** Keep a woken worker off its waker's CPU until it runs (Linux; no
     *  effect elsewhere). Default true. A thread that wakes a parked worker
     *  and keeps running (a worker, a task's code, or the submitter of a
     *  batch of two or more tasks, which goes on to help in its group wait
     *  or to compute) needs the woken worker on another CPU; but a kernel
     *  may queue it behind its waker while another CPU idles. On the 2-vCPU
     *  machine this project is measured on (a KVM guest whose kernel packs
     *  wake-ups onto busy vCPUs) that happened in 46% of 16-task ticks after
     *  a park, which then ran on the submitting thread alone
     *  (docs/scheduler.md, "Where a woken worker runs"). So such a wake
     *  first sets the worker's affinity to the CPUs it had when its start
     *  hook returned, minus the waker's CPU, and the worker sets its
     *  affinity back to those CPUs when it leaves its park: two system
     *  calls per wake (about 1.2 + 0.9 us there). A single task submitted
     *  by a thread outside the pool (ctp_submit, or a batch of one), and a
     *  batch whose tasks are all for one node, are left to the kernel when
     *  they wake one worker: such a thread often blocks or sleeps next (or
     *  submits one batch per node, then blocks), and a wake-up on its own
     *  CPU is the fast one (6-9 us there, against 40-60 us to the other,
     *  halted, vCPU). At most CPUs - 1 workers are kept off at a time. Nothing is done for a worker with
     *  only one CPU (CTP_AFFINITY_CPU). The cost of it: a woken worker
     *  cannot use the waker's CPU even if the waker blocks right after,
     *  until it has run once. Set false where other processes load the CPUs
     *  and submitters block after submitting, or to leave every placement
     *  to the kernel. A worker's affinity changed later by anyone else is
     *  overwritten at its next such wake while this is on. */
    bool wake_elsewhere;
} ctp_config;

/** A queue of tasks pinned to one thread outside the pool (a server's main
 *  thread, which owns its world): see ctp_pinned_create. */
typedef struct ctp_pinned ctp_pinned;

/** A task description for ctp_submit_desc and ctp_submit_batch.
 *  Zero-initialise (or use ctp_task_desc_init), then set what you need. */
typedef struct ctp_task_desc {
    ctp_task_fn fn;        /* required */
    void *arg;             /* passed to fn or on_cancel; owned as described above */
    ctp_task_fn on_cancel; /* optional: called with arg instead of fn if the task is dropped */
    ctp_priority priority; /* zero = CRITICAL, so set it; ctp_task_desc_init sets NORMAL */
    ctp_group *group;      /* optional: the task counts towards this group */
    int node;              /* NUMA node affinity, -1 = any: the task is queued on
                              that node's injection queue (or the submitting worker's
                              deque if it is on that node); that node's workers take it
                              first, others only when idle (counted as taken_remote).
                              A node with no workers (fewer workers than nodes) has
                              its tasks queued on the nearest node that has some,
                              which they then count as their affinity in
                              ctp_node_stats */
    const char *label;     /* optional: a static string naming the task (it is not
                              copied and must outlive the pool), shown in stall
                              reports, snapshots and traces; NULL = none */
    ctp_pinned *pinned;    /* optional: run the task only on this queue's owner
                              thread (ctp_pinned_create); never stolen. A batch is
                              all pinned to one queue or not pinned at all. node is
                              not used (it must still be -1 or a node of the
                              pool); priority and group apply. */
} ctp_task_desc;

/** Pool statistics: a snapshot taken without stopping the pool, so counters
 *  read while tasks run may be a few events apart from each other. */
typedef struct ctp_stats {
    uint64_t submitted;  /* tasks accepted (CTP_OK returned) */
    uint64_t executed;   /* tasks whose fn returned */
    uint64_t cancelled;  /* tasks dropped with on_cancel (or nothing, if NULL) */
    uint64_t rejected;   /* submissions refused with CTP_EFULL or CTP_ESHUTDOWN */
    uint64_t steals;     /* tasks taken from another worker's deque */
    uint64_t injected;   /* tasks taken from the injection queue */
    uint64_t parks;      /* times a worker blocked on its condition variable */
    uint64_t wakeups;    /* times a waker took a parked worker off the idle stack */
    uint64_t backoff_timeouts; /* timed parks that ended by their timeout */
    uint64_t queued;     /* tasks submitted from outside and not yet started (pinned
                            tasks not included: they wait in their owner's queue) */
    uint64_t workers;    /* worker threads */
    uint64_t parked;     /* workers parked right now */
    uint64_t executed_by_priority[CTP_PRIORITY_COUNT];
    uint64_t workers_lost; /* workers whose thread exited inside a task
                              (pthread_exit or cancellation): not replaced */
    uint64_t task_memory_bytes; /* memory held for task nodes (in use or free
                                   for reuse); see ctp_pool_trim */
} ctp_stats;

/** Returns the memory of task nodes that are free for reuse to the system,
 *  as far as it can: nodes are kept in blocks of 448, and a block goes back
 *  only when all of its nodes are free and not in a worker's own cache. The
 *  pool does this by itself once it has been idle for 20 ms while holding
 *  more than about 28,700 free nodes (after a burst), keeping about 7,200;
 *  a pool whose ticks keep fewer than that in flight never frees and
 *  reallocates. Worker
 *  deques grown by a burst give their pages back by themselves when their
 *  worker goes idle with them empty (the address range stays reserved for
 *  reuse). Safe at any time, from any thread, while the pool runs.
 *  Errors: CTP_EINVAL (NULL, or a pool inherited across fork). */
CTP_API int ctp_pool_trim(ctp_pool *pool);

/** Per-node statistics (ctp_pool_node_stats), a snapshot like ctp_stats. */
typedef struct ctp_node_stats {
    uint64_t workers;         /* workers placed on this node */
    uint64_t executed;        /* tasks run by this node's workers */
    uint64_t taken_remote;    /* tasks they took from another node's queues
                                 (counted when taken: one a cancelling
                                 shutdown then drops counts here, not in
                                 executed) */
    uint64_t steals_local;    /* steals from a worker of this node */
    uint64_t steals_remote;   /* steals from a worker of another node */
    uint64_t affine_executed; /* tasks with a node affinity run here (not
                                 those a cancelling shutdown dropped) */
    uint64_t affine_home;     /* of those, tasks whose affinity was this node
                                 (after a worker-less node's were moved on:
                                 see ctp_task_desc.node) */
} ctp_node_stats;

/* ------------------------------------------------------------------------ */
/* Configuration and descriptors                                            */
/* ------------------------------------------------------------------------ */

/** Fills *config with defaults. No-op if config is NULL. Any thread. */
CTP_API void ctp_config_init(ctp_config *config);

/** Zeroes *desc and sets fn, arg, priority NORMAL, node -1. No-op if desc is
 *  NULL. Any thread. */
CTP_API void ctp_task_desc_init(ctp_task_desc *desc, ctp_task_fn fn, void *arg);

/* ------------------------------------------------------------------------ */
/* Pool lifecycle                                                           */
/* ------------------------------------------------------------------------ */

/* Processes and threads: a pool belongs to the process that created it. In
 * a child forked after creation every call on it returns CTP_EINVAL (and
 * ctp_pool_destroy frees nothing there); the child may create new pools,
 * and its thread is no pool's worker there and owns no pinned queue. A
 * child forked inside a task must not return from that task (it has no
 * pool to return to): exec or _exit.
 * A task that ends its worker's thread (pthread_exit, cancellation) loses
 * that worker: it is reported on stderr and counted in
 * ctp_stats.workers_lost, the task counts as finished, and the pool goes on
 * with the others (the worker is not replaced). Only deferred cancellation
 * is supported, and it acts only inside tasks: no ctp function is a
 * cancellation point (each blocking call turns cancellation off while it
 * waits and restores the caller's state), so a request that a task leaves
 * pending acts at the next cancellation point inside a task on that
 * thread, or never. A task run by a helping wait on a thread outside the
 * pool must not end that thread. */

/** Creates a pool and starts its workers. config NULL = defaults.
 *  On CTP_OK, *out_pool owns the pool until ctp_pool_destroy.
 *  Errors: CTP_EINVAL (out_pool NULL, or a field outside its documented
 *  range: workers > CTP_MAX_WORKERS, spin_ns or backoff_ns too large,
 *  stack_size too small, numa_mode or affinity not one of its values,
 *  stall_ns outside 1 ms - 1 h, on_stall or stall_ctx set with stall_ns 0,
 *  prewake_lead_ns 0 or above 50 ms, remote_steal_delay_ns above 100 ms, a
 *  topology (or CTP_TOPOLOGY) that does not parse; ctp_last_error_message() says
 *  which), CTP_ENOMEM (memory or threads unavailable; nothing is left
 *  behind). Any thread. */
CTP_API int ctp_pool_create(const ctp_config *config, ctp_pool **out_pool);

/** Moves the pool from RUNNING to DRAINING (if not already) and waits up to
 *  timeout_ns for it to become STOPPED.
 *  DRAIN runs every queued task and everything those tasks spawn. CANCEL
 *  calls on_cancel for every task that has not started (running tasks
 *  finish; tasks they spawn are cancelled too). From the first call on,
 *  submissions from outside the pool fail with CTP_ESHUTDOWN. A later call
 *  may switch DRAIN to CANCEL, never back. Called by the owner of a pinned
 *  queue of this pool (ctp_pinned_create), the wait runs that queue's tasks
 *  on the caller, also those pinned to it meanwhile (with CANCEL, their
 *  on_cancel): nobody else could.
 *  Returns CTP_OK once STOPPED (all workers exited), CTP_ETIMEDOUT if the
 *  timeout passed first (the pool stays valid and keeps draining; call again),
 *  CTP_EDEADLK if called from this pool's own worker or task, or from a
 *  callback on its monitor thread (on_stall, on_overrun; the shutdown joins
 *  that thread), with a non-zero timeout (use timeout 0 there: it starts
 *  the shutdown and returns CTP_ETIMEDOUT), CTP_EINVAL for a NULL pool or
 *  unknown mode. */
CTP_API int ctp_pool_shutdown(ctp_pool *pool, ctp_shutdown_mode mode, uint64_t timeout_ns);

/** Shuts the pool down with DRAIN (waiting as long as it takes), joins its
 *  workers and frees everything. The pool pointer is invalid afterwards.
 *  Errors: CTP_EINVAL (NULL; a pinned queue of this pool not yet destroyed:
 *  nothing happens; or, after the drain, a group or tick of this pool not
 *  yet destroyed or ended: the pool is then stopped but not freed, so
 *  destroy or end those and call again; groups the pool's own tasks made
 *  and destroyed, parallel for's included, do not count), CTP_EDEADLK
 *  (called from the pool's own worker or task, or from a callback on its
 *  monitor thread: on_stall, on_overrun; nothing happens). Must not be called concurrently with any other
 *  use of the same pool. */
CTP_API int ctp_pool_destroy(ctp_pool *pool);

/* ------------------------------------------------------------------------ */
/* Submission                                                               */
/* ------------------------------------------------------------------------ */

/** Queues fn(arg) at the given priority. Any thread.
 *  From a worker of this pool the task goes to that worker's own deque;
 *  from any other thread to the pool's injection queue.
 *  Errors: CTP_EINVAL (NULL pool or fn, bad priority), CTP_ESHUTDOWN (the
 *  pool is shutting down and the caller is not one of its running tasks),
 *  CTP_EFULL (queue_capacity reached; only for submissions from outside the
 *  pool), CTP_ENOMEM. On error nothing was queued. */
CTP_API int ctp_submit(ctp_pool *pool, ctp_priority priority, ctp_task_fn fn, void *arg);

/** Queues one task described by *desc (copied; desc may be reused at once).
 *  Errors as ctp_submit, plus CTP_EINVAL for a NULL desc, a node that is
 *  neither -1 nor a node of the pool, a group of another pool, or a pinned
 *  queue of another pool. */
CTP_API int ctp_submit_desc(ctp_pool *pool, const ctp_task_desc *desc);

/** Queues count tasks, all or none: on any error nothing was queued.
 *  Wakes min(count, parked workers, wake_fanout) workers. count 0 = CTP_OK.
 *  A batch of more than 256 tasks that is not queued on the calling
 *  worker's own deque is accepted or refused as a whole first, then
 *  published 256 at a time, each part followed by its wake decision: its
 *  first tasks may run before the call returns, and a higher priority late
 *  in such a batch does not overtake tasks already running.
 *  Errors as ctp_submit_desc (CTP_EINVAL if descs is NULL and count > 0,
 *  or if the batch mixes pinned queues, or pinned and unpinned tasks). */
CTP_API int ctp_submit_batch(ctp_pool *pool, const ctp_task_desc *descs, size_t count);

/** Queues one task whose argument is stored inside the task itself, so no
 *  memory outlives the call on the caller's side (language bindings use it
 *  to carry closures without a heap allocation). `size` bytes (at most
 *  CTP_INLINE_CAPACITY) are moved from `data` into the task with relocate
 *  (NULL = memcpy) once every check has passed; desc->fn or desc->on_cancel
 *  is then called with a pointer to that copy, valid only during the call
 *  (the callee destroys what it needs to). desc->arg is ignored. On error
 *  relocate is not called and data is untouched.
 *  Errors as ctp_submit_desc, plus CTP_EINVAL for size > CTP_INLINE_CAPACITY
 *  or data NULL with size > 0. Any thread. */
CTP_API int ctp_submit_inline(ctp_pool *pool, const ctp_task_desc *desc, void *data, size_t size,
                              ctp_relocate_fn relocate);

/** ctp_submit_batch with each task's argument stored inside the task, as
 *  ctp_submit_inline does for one: task i gets the `size` bytes at
 *  (char *)data + i * stride, moved in with relocate (NULL = memcpy) only
 *  once every check of the whole batch has passed, so on any error nothing
 *  was moved and nothing queued (the caller still owns every item). On
 *  CTP_OK every item was moved: the caller must not destroy the sources.
 *  descs[i].fn or descs[i].on_cancel gets a pointer to task i's copy;
 *  descs[i].arg is ignored. All or none, published as ctp_submit_batch
 *  publishes (so for a batch of more than 256, relocate may still be moving
 *  later items in while earlier tasks run). count 0 = CTP_OK.
 *  Errors as ctp_submit_batch, plus CTP_EINVAL for size >
 *  CTP_INLINE_CAPACITY, stride < size, items that would end past the
 *  address space ((count - 1) * stride + size overflows size_t), or data
 *  NULL with size > 0 and count > 0. Any thread. */
CTP_API int ctp_submit_batch_inline(ctp_pool *pool, const ctp_task_desc *descs, size_t count, void *data,
                                    size_t size, size_t stride, ctp_relocate_fn relocate);

/* ------------------------------------------------------------------------ */
/* Groups (fork-join)                                                       */
/* ------------------------------------------------------------------------ */

/** Creates an empty group bound to pool. On CTP_OK the caller owns
 *  *out_group until ctp_group_destroy. Errors: CTP_EINVAL, CTP_ENOMEM,
 *  CTP_ESHUTDOWN (pool stopped). Any thread. */
CTP_API int ctp_group_create(ctp_pool *pool, ctp_group **out_group);

/** ctp_submit for a task that counts towards group. Any thread. */
CTP_API int ctp_group_submit(ctp_group *group, ctp_priority priority, ctp_task_fn fn, void *arg);

/** Waits until every task of the group has run or been cancelled.
 *  While it waits it runs other queued tasks (its own worker's first), so
 *  nested fork-join completes even on a one-worker pool; this also holds
 *  from a thread outside the pool. Tasks may be added to the group while it
 *  waits. A timed wait starts no task once its deadline has passed, so it
 *  returns at most one task's run time late (the task it was running when
 *  the deadline passed). A waiter too deep in its stack to run other tasks
 *  (a worker with under a quarter of its stack free, or a thread outside the
 *  pool 64 helped tasks deep) runs only the tasks it submitted itself (a
 *  worker: its own deque's) and the queued tasks of the group it waits
 *  for, and otherwise blocks, without taking a wake-up meant for an idle
 *  worker (a worker that deep looks for the group's queued tasks again
 *  every millisecond: a task submitted from elsewhere while it blocks wakes
 *  nobody when no other worker is free). Returns CTP_OK, CTP_ETIMEDOUT (tasks keep running;
 *  wait again), CTP_EINVAL (NULL), CTP_EDEADLK (called from a task of this
 *  group up the calling thread's stack, among its 16 innermost nested
 *  task runs: the group cannot finish while that task waits; nothing
 *  happens). Any
 *  thread; several threads may wait on one group. */
CTP_API int ctp_group_wait(ctp_group *group, uint64_t timeout_ns);

/** Calls fn(ctx) once, as soon as the group has no pending task (every task
 *  submitted to it before this call has run or been cancelled, and those
 *  added meanwhile too): at once on the calling thread if none is pending
 *  now; else on the thread whose task's end (or cancellation: a cancelling
 *  shutdown, ctp_pinned_destroy, a submission that failed and took its
 *  count back) brings the pending count to zero, right after that task. If
 *  tasks are added just as the count reaches zero it may fire at a later
 *  zero instead, as a waiter may. The notification is one-shot: a group
 *  reused for another round of tasks needs another call.
 *  Waits nothing and holds no worker: an event loop or a language binding
 *  resumes on it (Swift's async WorkGroup.wait does).
 *  fn must be short and must not block or wait on the group: it runs inside
 *  a worker's task loop, or on a thread that helped, in the frame of the task
 *  that ended (there it counts as inside that task: ctp_pinned_destroy is
 *  refused, submissions are the pool's own). It may resume a continuation, post to a queue,
 *  signal, submit tasks. The notification is taken off the group before fn
 *  starts, so from fn (or from code fn signalled) the group may be destroyed
 *  or given a new round and a new notification at once.
 *  ctx stays the caller's; it must stay valid until fn ran.
 *  ctp_group_destroy while a notification is registered: with tasks still
 *  pending it is refused (CTP_EINVAL) as always and the notification stays;
 *  with none pending (the notification is about to fire on the thread that
 *  finished the last task) destroy runs fn itself, on its own thread, before
 *  it frees the group, so fn still runs exactly once; if fn gave the group
 *  new tasks, destroy then refuses (CTP_EINVAL) and the group stays valid.
 *  A group is destroyed once: a fn that destroys its group is the group's
 *  destroyer, and nothing else may call ctp_group_destroy on it (neither
 *  another thread nor a destroy whose call runs that fn).
 *  Errors: CTP_EINVAL (NULL group or fn, a pool inherited across fork, or
 *  tasks pending and a notification already registered on this group that
 *  has not fired: at most one per group; fn is then not called). Any
 *  thread. */
CTP_API int ctp_group_notify(ctp_group *group, ctp_task_fn fn, void *ctx);

/** Frees an idle group. Errors: CTP_EINVAL (NULL, a pool inherited across
 *  fork, tasks still pending: wait first; the group stays valid, or a
 *  waiter still leaving its wait). A registered notification whose tasks
 *  are done runs here if it has not yet (see ctp_group_notify; if it
 *  submits into the group, the new tasks are pending). Must not race a
 *  wait on the group. Any thread. */
CTP_API int ctp_group_destroy(ctp_group *group);

/** Runs at most one queued task of pool on the calling thread, as a
 *  helping wait does: on a worker its own deque first, then the injection
 *  queues and other workers; outside the pool the injection queues and the
 *  workers' deques. Returns 1 if it ran a task, 0 if none was found, or
 *  CTP_EINVAL. For language bindings that block on their own condition and
 *  must keep a one-worker pool moving meanwhile. Any thread; on a pool's
 *  monitor thread (on_stall, on_overrun) it runs nothing and returns 0. */
CTP_API int ctp_pool_help(ctp_pool *pool);

/* ------------------------------------------------------------------------ */
/* Parallel for                                                             */
/* ------------------------------------------------------------------------ */

/** Calls body over [begin, end) split into chunks of about grain indices
 *  (grain 0 = automatic: about 4 chunks per worker) and returns when every
 *  chunk has run. The calling thread runs chunks too. Chunks run at NORMAL
 *  priority. Errors: CTP_EINVAL (NULL pool or body, begin > end),
 *  CTP_ESHUTDOWN (called from outside the pool once its shutdown began,
 *  whatever the range; from the pool's own tasks it runs while the pool
 *  drains), CTP_ENOMEM. An empty range returns CTP_OK without calling
 *  body (CTP_ESHUTDOWN in the case above). If the calling thread exits inside the call (body, or a task its
 *  wait runs, calls pthread_exit or is cancelled), no chunk starts after
 *  that, and what the call holds is freed when the chunks running elsewhere
 *  end. From outside a pool with a queue_capacity it queues no more helper
 *  tasks than the queue has room for (none when it is full: the caller then
 *  runs every chunk; a helper batch refused in a race is retried at half
 *  its size, and each refusal counts in ctp_stats.rejected). Any thread,
 *  including the pool's own tasks. */
CTP_API int ctp_parallel_for(ctp_pool *pool, size_t begin, size_t end, size_t grain,
                             ctp_range_fn body, void *ctx);

/* ------------------------------------------------------------------------ */
/* Introspection                                                            */
/* ------------------------------------------------------------------------ */

/** Fills *out with a snapshot of the pool's counters. Errors: CTP_EINVAL.
 *  Any thread, while the pool exists. */
CTP_API int ctp_pool_stats(ctp_pool *pool, ctp_stats *out);

/** Tells the pool that work will be submitted at about `at_ns`
 *  (CLOCK_MONOTONIC, as from clock_gettime; a game server knows when its next
 *  tick starts). Parked workers leave their park config.prewake_lead_ns
 *  before it and search (spinning, yielding the CPU now and then) until as
 *  long after it; if no work came by then they park again. Work submitted in
 *  the window starts without a wake-up. Replaces an earlier call's time;
 *  at_ns = 0 cancels it. A time already past still opens what is left of
 *  its window (workers search until at_ns + prewake_lead_ns: a tick that
 *  runs late is still met); one more than prewake_lead_ns past does nothing
 *  beyond replacing (so cancelling) an earlier call's time. A tick of
 *  several batches may call it again as it hands over each one, for the
 *  next one's expected time, so that workers that run out of work in
 *  between are searching again when it comes. Errors: CTP_EINVAL (NULL
 *  pool). Any thread. */
CTP_API int ctp_pool_prewake(ctp_pool *pool, uint64_t at_ns);

/* ------------------------------------------------------------------------ */
/* Ticks                                                                    */
/* ------------------------------------------------------------------------ */

/** A tick scope: a group that knows it is one tick of a server, and
 *  reports on it. Created by ctp_tick_begin, freed by ctp_tick_end. */
typedef struct ctp_tick ctp_tick;

/** Called once, on the pool's monitor thread (not on a thread the tick's
 *  work can block), when a tick is still running at its budget. It may
 *  submit (into the tick too: ctp_tick_end waits for those tasks as well).
 *  That thread runs no pool's tasks (its stack is 80 KiB): a wait there
 *  blocks without helping, ctp_pool_help returns 0. */
typedef void (*ctp_overrun_fn)(ctp_tick *tick, uint64_t elapsed_ns, void *ctx);

/** Options of ctp_tick_begin; zero-initialise, then set what you need. */
typedef struct ctp_tick_options {
    bool report;            /* record the report (clock reads per task of the tick) */
    uint64_t budget_ns;     /* 0 = none; counts tasks started / finished past it
                               (recorded whenever a budget is set); one beyond
                               the monotonic clock's range never runs out */
    ctp_overrun_fn on_overrun; /* optional, with a budget: fires once at the overrun
                                  (with a tiny budget possibly before ctp_tick_begin
                                  has set *out_tick: use the callback's tick argument) */
    void *overrun_ctx;
} ctp_tick_options;

/** One thread's share of a tick (workers by index; outside threads, such as
 *  the one waiting in ctp_tick_end and helping, in `outside`). Every outside
 *  thread shares the one `outside` slot: tasks add up, but while two of them
 *  run the tick's tasks at once (the ending thread and a pinned queue's
 *  owner, say) busy_ns counts that time once, so it can be less than the
 *  sum of their busy times. */
typedef struct ctp_tick_thread_report {
    uint64_t tasks;         /* the tick's tasks it ran */
    uint64_t busy_ns;       /* running them (a task nested in another counted once) */
    uint64_t waking_ns;     /* from the tick's begin to its first task (0 if it ran none) */
    uint64_t idle_ns;       /* the rest of the tick's wall time (0 for `outside`) */
} ctp_tick_thread_report;

/** What ctp_tick_end reports. Durations in nanoseconds. */
typedef struct ctp_tick_report {
    uint64_t wall_ns;       /* ctp_tick_begin to the end of the wait in ctp_tick_end */
    uint64_t tasks;         /* tasks of the tick that ran (each exactly once; tasks
                               a cancelling shutdown or ctp_pinned_destroy dropped
                               are not counted, nor anywhere in the report) */
    uint64_t task_ns;       /* the sum of their run times */
    uint64_t first_start_ns; /* begin to the first task's start: the wake lag */
    uint64_t wait_p50_ns, wait_p99_ns, wait_max_ns; /* submit-to-start; p50 and p99
                               from a histogram of 8 buckets per power of two
                               (within 12.5%), the maximum exact */
    uint64_t longest_ns;    /* the longest task's run time */
    ctp_task_fn longest_fn; /* that task, and its label (or NULL) */
    const char *longest_label;
    uint64_t budget_ns;     /* as given; 0 = none */
    uint64_t started_past_budget, finished_past_budget;
    bool overran;           /* the wait ended past the budget */
    size_t workers;         /* the pool's workers (entries ctp_tick_end may fill) */
    ctp_tick_thread_report outside;
} ctp_tick_report;

/** Begins a tick: a group (ctp_tick_group) to submit the tick's tasks into,
 *  whose wait helps run them. opts may be NULL (no report, no budget). With
 *  a budget and on_overrun, the pool's monitor thread is started if it is not
 *  running. Errors: CTP_EINVAL (NULL pool or out, on_overrun without a
 *  budget), CTP_ESHUTDOWN, CTP_ENOMEM. Any thread; the tick belongs to it
 *  (end it from the same thread or hand it over). */
CTP_API int ctp_tick_begin(ctp_pool *pool, const ctp_tick_options *opts, ctp_tick **out_tick);

/** The tick's group: submit with ctp_group_submit or ctp_task_desc.group.
 *  Owned by the tick (do not destroy it). NULL for a NULL tick. */
CTP_API ctp_group *ctp_tick_group(ctp_tick *tick);

/** Waits for every task of the tick (helping, as ctp_group_wait does), then
 *  fills *report (if not NULL; report->workers is set to the pool's
 *  workers) and workers[0 .. min(capacity, workers)) (may be NULL with
 *  capacity 0), and frees the tick. Errors: CTP_EINVAL (NULL tick, or
 *  workers NULL with capacity > 0: the tick stays open),
 *  CTP_ETIMEDOUT (the tick's tasks did not finish within timeout_ns: the tick
 *  stays open; call again), CTP_EDEADLK (called from a task of the tick,
 *  which it would wait for, or from the tick's own on_overrun, which the
 *  monitor waits for before it lets go of the tick: the tick stays open).
 *  Tasks submitted into the tick while it ends (by on_overrun, or by a
 *  thread that races this call) are waited for too, within timeout_ns while
 *  the wait can still time out; one that slips in after the last check is
 *  waited for past it. If on_overrun is running when the tasks are done,
 *  it waits for the callback to return, still helping (the callback may
 *  wait for a task that only this thread can run), within timeout_ns. The
 *  thread that began the tick, or one it handed it to. */
CTP_API int ctp_tick_end(ctp_tick *tick, uint64_t timeout_ns, ctp_tick_report *report,
                         ctp_tick_thread_report *workers, size_t capacity);

/* ------------------------------------------------------------------------ */
/* Tasks pinned to a thread                                                 */
/* ------------------------------------------------------------------------ */

/** Creates a queue of pinned tasks owned by the calling thread, which must
 *  not be a worker of the pool or run one of its tasks. Tasks submitted with
 *  ctp_task_desc.pinned = the queue (from any thread: workers, tasks, others)
 *  run only on the owner, highest priority first, FIFO within one: while it
 *  waits in ctp_group_wait or ctp_tick_end on this pool (before it looks for
 *  other work, and a pinned submission wakes it), and when it calls
 *  ctp_pinned_run. They keep their priority, group and tick. The pool's
 *  shutdown waits for them like for any task: a shutdown the owner calls
 *  runs them itself (CANCEL drops them); from another thread, the owner
 *  must run them or destroy the queue; ctp_pool_destroy refuses (CTP_EINVAL) while a queue of the pool
 *  exists. ctp_pool_help on the owner runs a pinned task first. One queue per
 *  thread. Errors: CTP_EINVAL (NULL, called
 *  from inside the pool or from a pool's monitor thread, the thread already
 *  owns one),
 *  CTP_ESHUTDOWN, CTP_ENOMEM. */
CTP_API int ctp_pinned_create(ctp_pool *pool, ctp_pinned **out_queue);

/** Runs up to `max` queued pinned tasks on the calling thread (the owner),
 *  highest priority first; returns how many ran (0 if none was queued), or
 *  CTP_EINVAL (NULL, or not the owner). Does not wait for tasks. */
CTP_API int ctp_pinned_run(ctp_pinned *queue, size_t max);

/** Destroys the queue: tasks still queued are dropped as a cancelling
 *  shutdown drops them (on_cancel, their groups counted down). Each
 *  on_cancel runs as a task of the pool does: from it, a wait for its own
 *  group or a waiting ctp_pool_shutdown gets CTP_EDEADLK, and
 *  ctp_pinned_destroy CTP_EINVAL. Owner only,
 *  before the pool is destroyed, and not while the queue is in use further
 *  up the owner's stack: from a pinned task (ctp_pinned_run, a shutdown or
 *  ctp_pool_help ran it), from a task a wait of the owner on this pool's
 *  group runs, or from a group notification (ctp_group_notify) that fires
 *  when such a task ends. From a task of another pool, or one of this pool
 *  that ctp_pool_help ran from its queues, it may. Errors: CTP_EINVAL
 *  (NULL, not the owner, the queue in use as above). */
CTP_API int ctp_pinned_destroy(ctp_pinned *queue);

/** What a worker is doing (ctp_worker_info.state). */
typedef enum {
    CTP_WORKER_PARKED = 0,    /* blocked until work arrives */
    CTP_WORKER_SEARCHING = 1, /* looking for work (spinning, or just woken) */
    CTP_WORKER_RUNNING = 2    /* running a task */
} ctp_worker_state;

/** One worker, as ctp_pool_snapshot saw it. Only workers are described (and
 *  watched by the stall monitor): a task that a thread outside the pool runs
 *  while it helps (ctp_group_wait, ctp_pool_help) appears in traces, and
 *  behind a stuck queue in a CTP_STALL_QUEUE report, but not here. Each worker's fields are read
 *  together (they describe one moment of that worker); different workers
 *  are read one after the other. */
typedef struct ctp_worker_info {
    int index, node;
    ctp_worker_state state;
    uint64_t running_ns;   /* time in the current task (RUNNING) when the pool
                              times its tasks (stall_ns set, or a trace running);
                              else 0 */
    ctp_task_fn fn;        /* the current task (RUNNING), else NULL */
    const char *label;     /* its label, else NULL */
    uint64_t executed;     /* tasks this worker has finished: run, or dropped as
                              cancelled (a cancelling shutdown); ctp_stats
                              counts the two apart */
    size_t local_queued;   /* tasks in its own deques */
} ctp_worker_info;

/** Describes up to `capacity` workers in out[0 ..] and sets *count to the
 *  pool's number of workers (call with capacity 0 and out NULL to ask for
 *  it). Never blocks a worker; any thread, including a task and the stall
 *  callback. Errors: CTP_EINVAL (pool or count NULL, out NULL with capacity
 *  > 0). A worker lost inside a task shows as RUNNING that task forever. */
CTP_API int ctp_pool_snapshot(ctp_pool *pool, ctp_worker_info *out, size_t capacity, size_t *count);

/** Starts recording a trace: each worker (and, in one shared ring, the
 *  threads outside the pool that submit or help) keeps its last
 *  `events_per_worker` events (task begin and end, park, wake, steal,
 *  outside submission) with nanosecond timestamps, without locks on the
 *  workers. While no trace runs this costs one predictable branch per task.
 *  Errors: CTP_EINVAL (NULL pool, events_per_worker 0 or above 2^24, a trace
 *  already running), CTP_ENOMEM. Any thread. */
CTP_API int ctp_trace_start(ctp_pool *pool, size_t events_per_worker);

/** Stops the trace and writes it to `path` in the Chrome trace event format
 *  (JSON; open it in ui.perfetto.dev or chrome://tracing): one track per
 *  worker, one per outside thread, task spans named by label or function
 *  (a label's bytes that are not well-formed UTF-8 are written as the code
 *  points of their values, \u0080-\u00ff, so the file always parses).
 *  Tasks still running are closed at the stop time; spans whose begin fell
 *  out of a full ring are dropped, and so are spans nested more than 256
 *  deep on one thread (the 256 around them keep their own times). Errors: CTP_EINVAL (NULL arguments, no
 *  trace running, called from a task of this pool, or `path` cannot be
 *  created: then the trace keeps running and nothing is lost), CTP_ENOMEM (writing the file failed part-way, e.g.
 *  the disk is full: the trace is stopped and what was not written is
 *  lost). Any thread except a task of this pool. */
CTP_API int ctp_trace_stop(ctp_pool *pool, const char *path);

/** This thread's worker index (0 .. workers-1) in its pool, or -1 if the
 *  calling thread is not a pool worker. The index belongs to the pool whose
 *  task is running: a worker of pool A that runs a task of pool B (helping
 *  in a wait on B, e.g. ctp_group_wait on a B group) gets -1 inside that
 *  task, since it is not one of B's workers, and its A index again once the
 *  wait returns; so an array indexed by it per pool is never shared between
 *  two threads. Any thread. */
CTP_API int ctp_worker_index(void);

/** A sentence describing why the last ctp_pool_create on this thread failed
 *  (for example which part of a topology could not be parsed); "" if it did
 *  not. Valid until the thread's next ctp_pool_create. Any thread. */
CTP_API const char *ctp_last_error_message(void);

/* ------------------------------------------------------------------------ */
/* NUMA                                                                     */
/* ------------------------------------------------------------------------ */

/** Nodes the pool places work on (1 with CTP_NUMA_OFF), or CTP_EINVAL. */
CTP_API int ctp_pool_node_count(ctp_pool *pool);

/** Nodes of the pool's topology, the values a task's `node` may take
 *  (0 .. count-1; others are refused with CTP_EINVAL): the same as
 *  ctp_pool_node_count, except with CTP_NUMA_OFF, which accepts and ignores
 *  the topology's nodes while it places work on one. CTP_EINVAL for a NULL
 *  pool or one inherited across fork. Any thread. */
CTP_API int ctp_pool_topology_node_count(ctp_pool *pool);

/** The node of worker `worker` (0 .. workers-1), or CTP_EINVAL. */
CTP_API int ctp_worker_node(ctp_pool *pool, int worker);

/** The node of the calling worker, -1 on a thread that is not a worker
 *  (and, like ctp_worker_index, inside another pool's task it helps run). */
CTP_API int ctp_current_node(void);

/** size bytes on node `node` of the pool's topology (0 ..
 *  ctp_pool_topology_node_count - 1; bound there when the topology is the
 *  machine's and NUMA is on; ordinary 64-byte aligned memory otherwise), or
 *  NULL (bad node, size 0, out of memory, a size over PTRDIFF_MAX - 63). Free with ctp_free_on_node on the same pool, with the same size.
 *  Any thread. (Under AddressSanitizer a request over its own limit, 1 TiB
 *  by default, aborts unless ASAN_OPTIONS has allocator_may_return_null=1.) */
CTP_API void *ctp_alloc_on_node(ctp_pool *pool, int node, size_t size);

/** Frees memory from ctp_alloc_on_node. NULL ptr is a no-op. Any thread. */
CTP_API void ctp_free_on_node(ctp_pool *pool, void *ptr, size_t size);

/** Fills *out for node `node`. Errors: CTP_EINVAL (NULL, bad node). */
CTP_API int ctp_pool_node_stats(ctp_pool *pool, int node, ctp_node_stats *out);

/** The linked library's version as major * 10000 + minor * 100 + patch.
 *  Any thread. */
CTP_API unsigned ctp_version(void);

/** A static sentence describing code (never NULL). Any thread. */
CTP_API const char *ctp_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* CTP_CTP_H */
