/* The pool's data: workers, the pool, groups and the per-thread context,
 * shared by the worker loop (scheduler.h) and the layers above it. Not
 * installed. Functions live in the headers of the layers that define them:
 * scheduler.h (the worker loop), config.h (configuration); the public
 * functions in ctp/ctp.h. Internal names carry the ctp__ prefix. */
#ifndef CTP_POOL_H
#define CTP_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctp/ctp.h"
#include "deque.h"
#include "injector.h"
#include "latch.h"
#include "live.h"
#include "numa.h"
#include "platform.h"
#include "sleep.h"
#include "task.h"
#include "test_hooks.h"
#include "tickrec.h"
#include "trace.h"

#define CTP__CACHELINE 64
#define CTP__RUNNING_MAX 16
/* Automatic trim after a burst: a worker going idle while its node's depot
 * holds more than TRIM_HIGH free nodes (or with a grown deque) parks for at
 * most TRIM_DELAY; if no work came by then it discards its deques' pages and,
 * when every other worker is parked too, trims the depots to TRIM_KEEP free
 * nodes (64 and 16 slabs of 448 nodes of 128 bytes: 4 MiB and 1 MiB). A pool that
 * is busy again within TRIM_DELAY (back-to-back bursts) keeps its memory. */
#define CTP__TRIM_DELAY_NS ((uint64_t)20 * 1000 * 1000)
#define CTP__TRIM_HIGH ((size_t)64 * CTP__SLAB_TASKS)
#define CTP__TRIM_KEEP ((size_t)16 * CTP__SLAB_TASKS)

/* ---- Workers ------------------------------------------------------------ */

/* Counters written by one thread only (the owner), read by anyone. */
typedef _Atomic uint64_t ctp__counter;

/* A statistic (relaxed: readers sum them for ctp_pool_stats and the like,
 * with no order to keep). */
static inline void ctp__count(ctp__counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

/* `submitted` and `retired`, which the quiescence check (pool.c) compares.
 * Release: pairs with its acquire loads, which must not see a task retired
 * before the submissions it made (a retire follows them in the worker's
 * program order, and the release keeps them before it). */
static inline void ctp__count_release(ctp__counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_release);
}

/* A node's steal hint (ctp_pool.steal_hints), on its own line: set by its
 * workers' pushes, read at every task boundary. Relaxed throughout: a
 * missed or stale bit only delays priority order, never a task (a worker
 * with nothing of its own, and the park's re-check, look at every deque). */
typedef struct ctp__steal_hint {
    _Alignas(CTP__CACHELINE) _Atomic unsigned bits;
} ctp__steal_hint;

static inline void ctp__steal_hint_set(ctp__steal_hint *h, unsigned bits)
{
    /* Set only if clear, so steady pushing does not write the shared line. */
    if ((atomic_load_explicit(&h->bits, memory_order_relaxed) & bits) != bits)
        atomic_fetch_or_explicit(&h->bits, bits, memory_order_relaxed);
}

typedef struct ctp__worker {
    /* Set at creation, before the thread starts; read-only after (by the
     * worker, thieves and observers). */
    _Alignas(CTP__CACHELINE) ctp_pool *pool;
    uint32_t index;
    int node;              /* placement node */
    uint32_t *victims;     /* steal order: this node's workers, then nodes by distance */
    uint32_t nvictims;     /* entries in victims */
    uint32_t nlocal;       /* the first nlocal victims are on our node */
    bool deques_ready;     /* deques initialised (by the worker thread: first touch;
                              read by others after the start barrier) */
    pthread_t thread;      /* creator and joiner only */
    bool started;          /* creator and joiner only */
    unsigned local_mask;   /* owner only: bit p may be set only if deques[p] may be non-empty */
    uint32_t rng;          /* owner only: victim selection */
    uintptr_t stack_limit; /* owner only: below this address, waits stop stealing */
    ctp__task_cache cache; /* owner only */
    struct ctp_group *free_groups; /* owner only */
    size_t free_group_count;       /* owner only */
    ctp__parker parker;            /* guarded by the sleep lock */
    uint64_t runs;                 /* owner only: runs started (the live serial) */
    uint64_t stolen_serial;        /* owner only: the serial of a run whose task was stolen */
    /* Owner only, for remote_steal_delay_ns: when to look again at another
     * node's work it left in its grace period (UINT64_MAX: none), and since
     * when it has found nothing (valid while gate_runs == runs; gate_runs
     * starts at UINT64_MAX, so a worker that has run nothing starts its
     * clock at its first search). */
    uint64_t retry_at, idle_since, gate_runs;
    /* Owner only: another node's deque task it left for the grace, the
     * oldest of the first deque it saw holding any (victim index, level,
     * the deque's top then), and since when (0: none). Valid while that
     * deque's top is unchanged: the same task still waits. */
    uint64_t remote_seen_at;
    int64_t remote_seen_top;
    uint32_t remote_seen_victim;
    int remote_seen_level;
    /* Owner only: its node depot's free nodes right after its last depot
     * trim. Another trim is due only when the depot holds more than this
     * (and more than CTP__TRIM_HIGH): a trim that could not free slabs
     * (their nodes lent out) is not retried every CTP__TRIM_DELAY_NS while
     * the pool idles. */
    size_t trim_floor;
    /* Owner only: tasks this worker is running (a helping wait nests
     * them); the groups of the innermost CTP__RUNNING_MAX, run k (0 = the
     * outermost) at k % CTP__RUNNING_MAX. If the
     * thread exits inside a task (pthread_exit), its cleanup handler
     * finishes them so that waiters and shutdown do not wait forever. */
    unsigned running;
    struct ctp_group *running_group[CTP__RUNNING_MAX];
    /* The same runs' priority, and CTP__RUN_DROPPED if it is an on_cancel:
     * how the cleanup handler counts them (executed or cancelled). */
    uint8_t running_kind[CTP__RUNNING_MAX];
    ctp__deque deques[CTP_PRIORITY_COUNT];
    /* Statistics, owner-written. */
    _Alignas(CTP__CACHELINE) ctp__counter submitted;
    ctp__counter executed;
    ctp__counter cancelled;
    /* Runs finished for the shutdown's quiescence check: counted after the
     * run's group count-down, and so after a notification that count-down
     * fired, which may submit (executed and cancelled count before it, so
     * that ctp_stats is complete once a group wait returns). */
    ctp__counter retired;
    ctp__counter steals;
    ctp__counter injected;
    ctp__sleep_counters sleep_counters;
    ctp__counter executed_by_priority[CTP_PRIORITY_COUNT];
    ctp__counter taken_remote;
    ctp__counter steals_remote;
    ctp__counter affine_executed;
    ctp__counter affine_home;
    /* Groups created and destroyed on this worker (ctp_pool_destroy sums
     * them with the outside threads' count, after the workers are joined):
     * owner-written, so a group per task costs no shared cache line. */
    ctp__counter groups_made, groups_freed;
    /* What it runs now (live.h): owner-written, read by snapshots and the
     * stall monitor. */
    _Alignas(CTP__CACHELINE) ctp__live live;
} ctp__worker;

/* A deadline the monitor thread calls back at (a tick's budget). */
typedef struct ctp__watch {
    /* Set before ctp__monitor_watch lists it; read-only while listed. */
    uint64_t deadline;
    void (*fire)(void *ctx, uint64_t now_ns);
    void *ctx;
    bool fired, firing;      /* under the monitor lock */
    struct ctp__watch *next; /* under the monitor lock */
} ctp__watch;

/* The monitor thread (monitor.c): stall detection and tick budgets. Started
 * at creation when stall_ns is set, else by the first tick with a budget. */
typedef struct ctp__monitor {
    pthread_t thread;        /* under lock: set by whichever thread starts it */
    bool started;            /* under lock */
    pthread_mutex_t lock;
    pthread_cond_t cv;
    pthread_cond_t watch_cv; /* a watch's callback finished */
    bool ready;              /* lock and cvs initialised: set at the pool's
                                creation, cleared at its destroy (read
                                without the lock in between) */
    bool stop;               /* under lock */
    ctp__watch *watches;     /* under lock */
    /* Parked without a timeout because every worker is parked: a worker
     * leaving its park must poke it (seq_cst; see ctp__monitor_poke). */
    _Atomic bool idle;
    _Atomic uint64_t wakeups; /* times it woke up (tests: none while idle) */
    _Atomic uint64_t reports; /* stall reports made */
    /* Monitor thread only: per worker, the serials of its last
     * CTP__MONITOR_REMEMBER reported runs (nested runs restore an outer
     * one), and where the next goes. Serials start at 1. */
    uint64_t *reported;
    unsigned *reported_next;
} ctp__monitor;

enum { CTP__MONITOR_REMEMBER = 8 };

/* ctp_pool.observe: what each task run must record. Bits: TIME (stall
 * detection times tasks), TRACE (a trace runs); above them, the number of
 * open ticks that record (in units of TICK_ONE). */
enum { CTP__OBSERVE_TIME = 1u, CTP__OBSERVE_TRACE = 2u, CTP__OBSERVE_TICK_ONE = 4u };

/* ---- Lifecycle ---------------------------------------------------------- */
enum { CTP__RUNNING = 0, CTP__DRAINING = 1, CTP__STOPPED = 2 };

struct ctp_pool {
    ctp_config config;
    char name[12];
    uint32_t nworkers;
    ctp__worker **workers;
    /* Placement: nnodes nodes (1 with NUMA off); node n's workers are
     * workers[worker_first[n] .. worker_first[n+1]). injs[n] is node n's
     * injection queue, injs[nnodes] the one for tasks without affinity.
     * depots[n] holds node n's task slabs. */
    ctp__topology topo;
    int nnodes;
    bool bind_memory; /* real NUMA: pages bound with libnuma */
    uint32_t worker_first[CTP__MAX_NODES + 1];
    /* Set at creation: node_order[n * nnodes ..] is every node nearest to n
     * first (n itself first); cpu_node[c] is CPU c's node, -1 if none, for
     * c < ncpu_ids (outside helpers look at their own CPU's node first). */
    int *node_order;
    signed char *cpu_node;
    int ncpu_ids;
    ctp__injector *injs;
    ctp__task_depot *depots;
    ctp__sleep sleep;

    /* Observability. observe (CTP__OBSERVE_*) is read relaxed at every task
     * run: one predictable branch when nothing is observed. trace is the
     * gate to the running trace (trace.h: its writers and its stop). */
    _Alignas(CTP__CACHELINE) _Atomic unsigned observe; /* its own line: read per task, rarely written */
    ctp__trace_gate trace;
    pthread_mutex_t trace_lock; /* serialises ctp_trace_start / ctp_trace_stop */
    bool trace_lock_ready;
    ctp__monitor monitor;

    /* Per node, bit p: a worker of that node pushed a task of priority p
     * to its own deque and no worker has since found level p empty on all
     * of that node's workers. A hint that lets busy workers look for
     * higher-priority work at task boundaries (their own node's at every
     * level, every node's at CRITICAL). Index: the node (0 with one). */
    ctp__steal_hint steal_hints[CTP__MAX_NODES];

    /* Lifecycle. state changes only under every injector's lock (so outside
     * submitters see it consistently); cancel and exiting only ever go
     * false -> true. */
    _Alignas(CTP__CACHELINE) _Atomic int state;
    _Atomic bool cancel;
    _Atomic bool exiting;
    pthread_mutex_t life_lock;
    pthread_cond_t life_cv; /* shutdown waiters; signalled on park and helper finish */
    unsigned fork_generation; /* ctp__fork_generation() at creation */
    _Atomic uint32_t workers_lost; /* workers that exited inside a task */
    _Atomic uint32_t pinned_live;  /* pinned queues not destroyed (ctp_pool_destroy refuses) */
    /* Groups (ticks' included) created minus destroyed by threads outside
     * the pool (workers count theirs in ctp__worker.groups_made/freed); may
     * wrap below zero when a worker's group is destroyed outside. */
    _Atomic uint64_t groups_outside;
    /* How far creation got (free_pool frees exactly that). */
    bool life_lock_ready, life_cv_ready;
    int ndepots_ready, ninjs_ready;
    unsigned life_pokes;    /* under life_lock: ctp__lifecycle_poke calls, so a waiter
                               that dropped the lock sees one it missed */
    bool joining;           /* under life_lock */
    bool joined;            /* under life_lock */
    uint32_t ready;         /* under life_lock: workers that initialised */
    bool init_failed;       /* under life_lock: a worker could not */
    bool released;          /* under life_lock: workers may start */
    struct ctp_group *free_groups; /* under life_lock: destroyed groups for reuse */

    /* Outside submissions, updated under an injector lock (atomic add: there
     * are several injectors). */
    _Atomic uint64_t ext_submitted;
    /* Outside tasks not yet started: the bounded-queue count. */
    _Atomic size_t ext_queued;
    /* Outside threads running a task inside ctp_group_wait. */
    _Atomic uint64_t helper_executed;
    _Atomic uint64_t helper_cancelled;
    _Atomic uint64_t helper_retired; /* as ctp__worker.retired */
    _Atomic uint64_t helper_by_priority[CTP_PRIORITY_COUNT]; /* relaxed statistics, */
    _Atomic uint64_t rejected; /* any thread adds (CTP_EFULL / CTP_ESHUTDOWN refusals) */

#ifdef CTP_TEST_HOOKS
    ctp_test_hook_fn hook;
    void *hook_ctx;
#endif
};

struct ctp_group {
    ctp_pool *pool;           /* set once, when first made; kept across reuse */
    ctp__latch latch;         /* pending: tasks submitted and not yet finished */
    /* The tick that records this group's tasks (ctp_tick_begin), or NULL.
     * Set before any task of the group is submitted, cleared after the
     * group completed; the submission's publish orders it for the runner. */
    ctp__tickrec *tick;
    struct ctp_group *next_free; /* while free: under life_lock (the pool's list)
                                    or the owning worker's (its cache) */
};

/* Tasks in w's own deques right now (relaxed: a report for observers). */
static inline size_t ctp__worker_queued(ctp__worker *w)
{
    size_t n = 0;
    for (int p = 0; p < CTP_PRIORITY_COUNT; p++)
        n += ctp__deque_len(&w->deques[p]);
    return n;
}

/* In a process forked after pool was created: every call on it is refused
 * (it has no workers there; see resources.c). */
static inline bool ctp__forked(const ctp_pool *pool)
{
    return pool->fork_generation != ctp__fork_generation();
}

/* ---- Per-thread context --------------------------------------------------
 * Which pool the current thread works for. Thread-local, not shared. */
/* A pool the thread is inside further up its stack: a task of another pool
 * that a helping wait runs (ctp__run_outside) saves it here, on its stack. */
typedef struct ctp__tls_outer {
    ctp__worker *worker; /* the worker the thread is, in that pool (NULL outside) */
    ctp_pool *pool;
    const struct ctp__tls_outer *up;
} ctp__tls_outer;

enum { CTP__RUN_DROPPED = 0x80 }; /* ctp__worker.running_kind: an on_cancel run */

typedef struct ctp__tls {
    ctp_pool *pool;       /* set on workers, and on outside threads while they run a task */
    ctp__worker *worker;  /* NULL on outside threads */
    unsigned task_depth;  /* > 0 while running a task of `pool` (counts across pools: bounds helping depth) */
    /* Runs not on a worker of their pool (task_depth counts them): the
     * groups of the innermost CTP__RUNNING_MAX, in a ring as in
     * ctp__worker.running_group (which workers keep theirs in), so that a
     * wait on one of them sees it would wait for itself. */
    struct ctp_group *run_group[CTP__RUNNING_MAX];
    const ctp__tls_outer *outer; /* pools left for another pool's task, innermost first */
    struct ctp_pinned *pinned; /* the pinned queue this thread owns (outside threads), or NULL */
    /* A pool's monitor thread (a small stack, and the thread that must not
     * be blocked by the work): it runs no pool's tasks. Its helping waits
     * only block, ctp_pool_help finds nothing, ctp_pinned_create refuses. */
    bool runs_no_tasks;
} ctp__tls;

ctp__tls *ctp__tls_get(void);
/* Registers (once per process) the fork handler that clears the forking
 * thread's context in the child. Called at every pool creation. */
void ctp__tls_watch_fork(void);

/* True if the calling thread is running a task of pool (or is its worker),
 * also further up its stack: pool A's worker or task that helps in a wait
 * for pool B and runs B's task is still inside A there (A's shutdown from
 * that task would wait for the A task below it). */
static inline bool ctp__is_inside(ctp_pool *pool)
{
    ctp__tls *tls = ctp__tls_get();
    if (tls->pool == pool && (tls->worker != NULL || tls->task_depth > 0))
        return true;
    for (const ctp__tls_outer *o = tls->outer; o != NULL; o = o->up)
        if (o->pool == pool)
            return true;
    return false;
}

static inline ctp__worker *ctp__current_worker(ctp_pool *pool)
{
    ctp__tls *tls = ctp__tls_get();
    return tls->pool == pool ? tls->worker : NULL;
}

/* ---- Lifecycle (pool.c) ---------------------------------------------------- */
/* Wakes the shutdown waiter to re-check quiescence: called when a worker
 * parks, a helper finishes, a worker is lost or a pinned task is queued
 * while the pool shuts down.
 * Inline here (not in pool.c) so the layers below lifecycle can poke it
 * without calling up into pool.c. */
static inline void ctp__lifecycle_poke(ctp_pool *pool)
{
    pthread_mutex_lock(&pool->life_lock);
    pool->life_pokes++;
    pthread_cond_broadcast(&pool->life_cv);
    pthread_mutex_unlock(&pool->life_lock);
}
/* ctp__lifecycle_poke, only while the pool shuts down (not RUNNING): what a
 * worker parking, a helper's finished or dropped task and a pinned
 * submission call, so that a waiting shutdown re-checks. Relaxed: a hint;
 * the shutdown waiter re-checks quiescence itself. */
static inline void ctp__lifecycle_poke_if_stopping(ctp_pool *pool)
{
    if (atomic_load_explicit(&pool->state, memory_order_relaxed) != CTP__RUNNING)
        ctp__lifecycle_poke(pool);
}
static inline bool ctp__stop_wanted(ctp_pool *pool)
{
    return atomic_load_explicit(&pool->exiting, memory_order_acquire); /* pairs with the release store in stop_workers */
}

#endif
