/* The sleep/wake protocol: the one owner of how workers look for work, spin,
 * park and wake. docs/scheduler.md ("Sleeping and waking") has the states,
 * the invariants and the proof that no wake-up is lost; model/park_wake.pml
 * models this file step by step.
 *
 * The protocol knows nothing of tasks, queues or pools. Its user hands it:
 *   - a find function (take one task, or NULL), called while a worker looks;
 *   - ops: the "is there visible work anywhere" re-check made after the
 *     park fence (and work_for, the work one worker may take now), the
 *     "workers must stop" condition, and three notifications (parked,
 *     parking, the test hook);
 *   - a call to ctp__sleep_new_work after every publish.
 * That is what lets the test suite drive it with a fake queue.
 *
 * Layer: above the platform (platform.h), below the worker loop. */
#ifndef CTP_SLEEP_H
#define CTP_SLEEP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform.h"
#include "test_hooks.h"

#define CTP__SLEEP_CACHELINE 64

/* Where a worker blocks when it parks. Fields without a note are guarded by
 * the sleep lock. */
typedef struct ctp__parker {
    pthread_cond_t cv;
    int node;          /* set once: the worker's node, for node-directed wakes */
    _Atomic int cpu;   /* lock-free: CPU it last parked on (a hint for the wake order) */
    bool notified;     /* a waker took us off the idle stack and counted us searching */
    bool on_idle;      /* on the idle stack */
    /* Lock-free: notified, and the signal not yet sent. Whoever exchanges it
     * from true sends the signal: the waker, or any worker leaving its park. */
    _Atomic bool owed;
    /* Between announcing its park and leaving it. Written by the worker,
     * read relaxed by observers (ctp_pool_snapshot): a report, not a sync. */
    _Atomic bool parked_now;
    /* The worker's CPU home (platform.h): taken by the worker before the
     * pool is released, read by wakers after (policy.keep_off_waker).
     * Zeroed (inert) for parkers without a thread of their own. */
    ctp__cpu_home home;
    /* Lock-free: a waker kept this worker off its CPU (ctp__cpu_home_avoid);
     * the worker gives itself its home back when it next leaves a park. */
    _Atomic bool kept_off;
} ctp__parker;

/* Per-worker counters, written by that worker only. */
typedef struct ctp__sleep_counters {
    _Atomic uint64_t parks;            /* times it blocked */
    _Atomic uint64_t wakeups;          /* times a waker ended its park */
    _Atomic uint64_t backoff_timeouts; /* timed first parks that ran out */
} ctp__sleep_counters;

typedef struct ctp__sleep_policy {
    uint64_t spin_ns;     /* spin phase before parking (0: one sweep) */
    uint64_t backoff_ns;  /* first park timed this long (0: untimed) */
    uint32_t wake_fanout; /* most workers one batch wakes (0: no limit) */
    uint64_t prewake_lead_ns; /* pre-wake: leave the park this long before the
                                 expected work, search until as long after it */
    bool defer_last;          /* a worker per CPU: a waker of k >= 2 workers
                                 leaves its last signal owed, for the first
                                 worker it woke to send (wake, in sleep.c) */
    bool keep_off_waker;      /* a worker signalled by a waker that stays
                                 busy may not run on the waker's CPU until
                                 it has left its park (send_owed, in sleep.c) */
} ctp__sleep_policy;

typedef struct ctp__sleep_ops {
    void *ctx;
    /* Is any task visible in any queue? Called after the park fence: it must
     * read every place a task can be published (the proof depends on it). */
    bool (*has_work)(void *ctx);
    /* Optional, for a worker about to block (after the park fence): like
     * has_work, but only work this worker may take now counts; work it must
     * leave for a while (another node's, in its grace period) lowers
     * *defer_until to when it may take it, and the park then lasts no longer
     * than that (so such work is never stranded, and never spun on); it also
     * sets bit n of *defer_nodes for each node n (parkers' `node`, < 64)
     * with such work, and the parking worker wakes one parked worker of each
     * of them, so the work runs at home now. NULL: has_work decides. */
    bool (*work_for)(void *ctx, uint32_t worker, uint64_t *defer_until, uint64_t *defer_nodes);
    /* Must parked workers leave for good (pool exiting)? */
    bool (*stopping)(void *ctx);
    /* A worker announced its park (shutdown watches for quiescence); or NULL. */
    void (*parked)(void *ctx);
    /* Test builds: the race-window hook; or NULL. */
    void (*hook)(void *ctx, ctp_test_hook_point point);
    /* Called on worker `worker`, outside the sleep lock, as it parks:
     * CTP__PARK_BLOCK just before it blocks, then CTP__PARK_WOKE when it
     * leaves the block; or CTP__PARK_LEFT when it left its park without
     * blocking. After WOKE and LEFT it is counted searching (seq_cst). For
     * traces and the stall monitor; or NULL. */
    void (*parking)(void *ctx, uint32_t worker, int what);
} ctp__sleep_ops;

enum { CTP__PARK_BLOCK = 1, CTP__PARK_WOKE = 2, CTP__PARK_LEFT = 3 };

/* counts packs two numbers in one word so a submitter reads both at once:
 *   bits  0..31  searching: workers looking for work (spinning or just woken)
 *   bits 32..63  parked:    workers on the idle stack
 * Invariant: parked == idle_len whenever the lock is free. Only threads
 * holding the lock change `parked`; `searching` changes lock-free too. */
#define CTP__SEARCHING_ONE ((uint64_t)1)
#define CTP__PARKED_ONE ((uint64_t)1 << 32)
#define CTP__SEARCHING(c) ((uint32_t)((c) & 0xffffffffu))
#define CTP__PARKED(c) ((uint32_t)((c) >> 32))

typedef struct ctp__sleep {
    _Alignas(CTP__SLEEP_CACHELINE) _Atomic uint64_t counts;
    /* Signals owed: parkers with `owed` set. A hint read by workers leaving
     * their park (under the lock, so it is exact for wakes made before). */
    _Atomic uint32_t owed;
    /* Workers kept off their waker's CPU that have not yet left their park
     * (policy.keep_off_waker). At most home CPUs - 1 at a time, so that
     * wakes cannot stack workers onto one CPU: with 2 CPUs a second worker
     * narrowed off the same waker could only queue behind the first. A
     * placement limit, relaxed (sleep.c, send_owed). */
    _Atomic uint32_t narrowed;
    /* Pre-wake (ctp__sleep_prewake): work is expected at this monotonic
     * time; 0 = none. Parked workers leave their park prewake_lead_ns
     * before it and search until prewake_lead_ns after it. Written by any
     * thread; read by workers under the lock (after the writer's signal) or
     * relaxed as a hint. */
    _Atomic uint64_t prewake_at;
    /* How late a worker's timed wait for a pre-wake window ends, learned
     * from those waits (rises fast, decays slowly): parked workers set their
     * timer this much before the window, so that they are searching when it
     * opens. Relaxed: a heuristic any worker updates. */
    _Atomic uint64_t prewake_late_ns;
    /* Call ops.parking (ctp__sleep_report_parks): off unless someone listens,
     * so an unobserved park costs no extra lock round. Relaxed: a listener
     * that needs every park (the stall monitor) sets it before the workers
     * start; a trace started later may miss a park in flight. */
    _Atomic bool report_parks;
    _Alignas(CTP__SLEEP_CACHELINE) pthread_mutex_t lock;
    uint32_t *idle;    /* under lock: stack of parked worker indices, newest last */
    uint32_t idle_len; /* under lock */
    uint32_t nworkers;
    ctp__parker **parkers; /* set at init: worker i's parker */
    ctp__sleep_policy policy;
    ctp__sleep_ops ops;
} ctp__sleep;

/* Sets up s for nworkers workers whose parkers (cv initialised, node set)
 * stay valid until ctp__sleep_destroy. CTP_OK or CTP_ENOMEM. */
int ctp__sleep_init(ctp__sleep *s, uint32_t nworkers, ctp__parker *const *parkers,
                    const ctp__sleep_policy *policy, const ctp__sleep_ops *ops);
void ctp__sleep_destroy(ctp__sleep *s);

/* New work: call after publishing `tasks` tasks (any thread). Wakes parked
 * workers if the wake rule says so, node's first (node -1: any).
 * caller_busy: the calling thread runs work next (a worker, a task's code,
 * or the submitter of a batch, which helps or computes next), so with
 * policy.keep_off_waker the workers it wakes are kept off its CPU. Otherwise
 * only a wake of two or more workers at once is: a thread outside the pool
 * that submits a single task often blocks or sleeps next, and then a
 * wake-up on its own CPU is the cheap one (6-9 us against 40-60 us to a
 * halted vCPU on the VM of docs/scheduler.md). */
void ctp__sleep_new_work(ctp__sleep *s, size_t tasks, int node, bool caller_busy);

/* A condition that ends a worker's idle phase without work (a latch set);
 * read under the sleep lock before the worker blocks, so whoever makes it
 * true and then calls ctp__sleep_poke cannot be missed. */
typedef struct ctp__sleep_until {
    bool (*done)(void *ctx);
    void *ctx;
    /* Optional: called (outside the lock) when the worker is about to park,
     * before it re-checks done, and after it left the park: where a waker
     * of `done` subscribes it (a latch waiter), so that only workers that
     * park pay for the subscription. */
    void (*arm)(void *ctx);
    void (*disarm)(void *ctx);
} ctp__sleep_until;

/* The idle phase of worker `worker`: start looking, call find (spinning per
 * the policy) until it returns a task, park when it finds none, and leave
 * the search when it found work or must stop. Returns the task, or NULL when
 * `until` (if not NULL) holds, the pool stops (until NULL), or deadline_ns
 * passed. May call find many times; find runs on this thread. */
typedef void *(*ctp__sleep_find_fn)(void *find_ctx);
void *ctp__sleep_idle(ctp__sleep *s, uint32_t worker, ctp__sleep_find_fn find, void *find_ctx,
                      const ctp__sleep_until *until, uint64_t deadline_ns, ctp__sleep_counters *counters);

/* Work is expected at monotonic time at_ns (0: forget an earlier call):
 * every parked worker leaves its park policy.prewake_lead_ns before it and
 * searches until as long after it, then parks again if none came. Leaving
 * early is a timed park running out, which the protocol already covers: the
 * worker moves itself parked -> searching and, if it finds nothing, parks
 * through the same announce / fence / re-check. Any thread. */
void ctp__sleep_prewake(ctp__sleep *s, uint64_t at_ns);

/* From now on, call ops.parking at every park (see report_parks). */
void ctp__sleep_report_parks(ctp__sleep *s);

/* Wakes every parked worker (shutdown: they see `stopping`). */
void ctp__sleep_wake_all(ctp__sleep *s);

/* Parked workers now (relaxed: a statistic). */
uint32_t ctp__sleep_parked(ctp__sleep *s);
/* Parked workers now, seq_cst: one side of a Dekker pair its caller keeps
 * with the parked count's seq_cst decrement of a worker leaving its park
 * (the stall monitor going idle, monitor.c, reads it after its seq_cst store
 * of idle; the worker reads idle in ctp__monitor_poke, from ops.parking). */
uint32_t ctp__sleep_parked_sync(ctp__sleep *s);
/* Worker `worker` is parked (relaxed: a report for observers). */
bool ctp__sleep_is_parked(ctp__sleep *s, uint32_t worker);

/* Wakes worker `worker` if it is parked, without counting it as searching:
 * it re-checks its `until` condition (and goes back to sleep if it does not
 * hold). For conditions outside the protocol, such as a latch a worker waits
 * on: whoever makes the condition true calls this after doing so. */
void ctp__sleep_poke(ctp__sleep *s, uint32_t worker);

#endif
