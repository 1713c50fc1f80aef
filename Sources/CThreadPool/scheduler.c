/* Finding, running and waiting for tasks: the worker loop.
 *
 * Where a worker looks, at every task boundary, level by level from
 * CRITICAL to IDLE: other workers' deques at that level if the steal hint
 * says some worker pushed work of that level and we hold work of a lower
 * level ourselves, then its own deque at that level, then the injection
 * queue at that level. Only when all of that is empty does it sweep every
 * other worker's deques at every level. So a task is not passed over for a
 * lower-priority one the worker could see (the hint can be stale for a
 * moment: see docs/scheduler.md, "Priorities"). */
#include "scheduler.h"

#include "observed.h"

#include <string.h>

bool ctp__has_visible_work(ctp_pool *pool)
{
    for (int n = 0; n <= pool->nnodes; n++)
        if (ctp__injector_mask(&pool->injs[n]) != 0)
            return true;
    for (uint32_t i = 0; i < pool->nworkers; i++) {
        ctp__worker *v = pool->workers[i];
        for (int p = 0; p < CTP_PRIORITY_COUNT; p++)
            if (!ctp__deque_is_empty(&v->deques[p]))
                return true;
    }
    return false;
}

bool ctp__stack_allows_steal(ctp__worker *w)
{
    /* The frame, not a local (see ctp__worker_main): under ASan's fake
     * stacks a local's address said "too deep" at random, and the workers
     * stopped taking the injection queue's tasks. */
    return (uintptr_t)__builtin_frame_address(0) > w->stack_limit;
}

/* The lowest priority another node takes at once, grace or not: HIGH. The
 * bots on simulated "0;1" with HIGH under the grace too kept the same home
 * share (77% / 90% at 1,000 / 5,000 bots, against 78% / 89%) and raised
 * CRITICAL start p99 to 1.5-1.9x NUMA off's (from 1.04-1.06x). */
#ifndef CTP__URGENT_REMOTE
#define CTP__URGENT_REMOTE CTP_PRIORITY_HIGH
#endif

/* Another node's workers' deque work waits for an idle worker that has
 * found nothing of its own for the delay, but no longer than this many
 * delays after the worker first saw the task that is still the oldest of
 * that deque: a trickle of its own tasks, each restarting the idle clock,
 * kept it from such work for as long as the other node's worker stayed
 * busy (400 ms in helper-41's repro, 2026-12-03; injected work is aged by
 * its submission and never was). */
#define CTP__REMOTE_DEQUE_CAP 2

/* Whether the task this worker noted waiting in another node's deque
 * (remote_seen_*) is still there: that deque's top has not moved. */
static bool remote_seen_waits(const ctp__worker *w)
{
    ctp__worker *v = w->pool->workers[w->victims[w->remote_seen_victim]];
    return ctp__deque_top_if_any(&v->deques[w->remote_seen_level]) == w->remote_seen_top;
}

/* When this worker may steal another node's deque work it now leaves for
 * the grace (find_remote): once it has found nothing of its own for the
 * delay, or once the task it noted has waited CTP__REMOTE_DEQUE_CAP delays
 * since it first saw it, whichever comes first (a clock not started yet,
 * or whose task left, starts now). */
static uint64_t remote_deques_at(const ctp__worker *w, uint64_t delay)
{
    uint64_t now = ctp__now_ns();
    uint64_t idle_at = w->gate_runs == w->runs ? w->idle_since + delay : now + delay;
    bool noted = w->remote_seen_at != 0 && remote_seen_waits(w);
    uint64_t seen_at = (noted ? w->remote_seen_at : now) + CTP__REMOTE_DEQUE_CAP * delay;
    return idle_at < seen_at ? idle_at : seen_at;
}

bool ctp__has_work_for(ctp__worker *w, uint64_t *defer_until, uint64_t *defer_nodes)
{
    ctp_pool *pool = w->pool;
    uint64_t delay = pool->config.remote_steal_delay_ns;
    if (delay == 0 || pool->nnodes == 1)
        return ctp__has_visible_work(pool);
    unsigned urgent = (2u << CTP__URGENT_REMOTE) - 1; /* the levels taken from another node at once */
    uint64_t now = ctp__now_ns();
    for (int n = 0; n <= pool->nnodes; n++) {
        unsigned m = ctp__injector_mask(&pool->injs[n]);
        if (m == 0)
            continue;
        if (n == pool->nnodes || n == w->node || (m & urgent) != 0)
            return true;
        /* Another node's lower levels: taken once their grace has passed.
         * Our last search noted when the oldest it left gets there
         * (retry_at); a task it did not see was submitted since, so its
         * grace ends within the delay from now. */
        uint64_t at = w->retry_at < now + delay ? w->retry_at : now + delay;
        if (at <= now)
            return true;
        if (at < *defer_until)
            *defer_until = at;
        *defer_nodes |= (uint64_t)1 << n; /* n < nnodes <= CTP__MAX_NODES = 64 */
    }
    /* Another node's workers' deques are ours once we have found nothing for
     * the delay, or seen their work wait for CTP__REMOTE_DEQUE_CAP delays
     * (find_remote's clocks; not started yet = start now). */
    uint64_t steal_at = remote_deques_at(w, delay);
    for (uint32_t i = 0; i < pool->nworkers; i++) {
        ctp__worker *v = pool->workers[i];
        for (int p = 0; p < CTP_PRIORITY_COUNT; p++) {
            if (ctp__deque_is_empty(&v->deques[p]))
                continue;
            if (v->node == w->node || p <= CTP__URGENT_REMOTE || steal_at <= now)
                return true;
            if (steal_at < *defer_until)
                *defer_until = steal_at;
            *defer_nodes |= (uint64_t)1 << v->node;
        }
    }
    return false;
}

static inline uint32_t next_rand(uint32_t *state)
{
    /* xorshift32: victim order only, quality does not matter. */
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static ctp__task *steal_from(ctp__worker *v, int p)
{
    ctp__task *t;
    ctp__steal_result r;
    while ((r = ctp__deque_steal(&v->deques[p], &t)) == CTP__STEAL_RETRY) {
    }
    return r == CTP__STEAL_SUCCESS ? t : NULL;
}

/* Steals one task of priority p from w's victims [from, to) in its steal
 * order (same node first, then by distance), starting at a random one of
 * them so thieves spread out. Counts the steal. */
static ctp__task *steal_range(ctp__worker *w, int p, uint32_t from, uint32_t to, uint32_t start)
{
    uint32_t n = to - from;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t idx = from + (start + k) % n;
        ctp__task *t = steal_from(w->pool->workers[w->victims[idx]], p);
        if (t != NULL) {
            ctp__count(&w->steals, 1);
            w->stolen_serial = w->runs + 1; /* for a trace: the next run was stolen */
            if (idx >= w->nlocal) {
                ctp__count(&w->steals_remote, 1);
                ctp__count(&w->taken_remote, 1);
            }
            return t;
        }
    }
    return NULL;
}

/* A CRITICAL task from another node's workers, if their nodes' hints say
 * one may be there; clears the bits of the nodes whose workers had none. */
static ctp__task *steal_remote_critical(ctp__worker *w, uint32_t start)
{
    ctp_pool *pool = w->pool;
    unsigned bit = 1u << CTP_PRIORITY_CRITICAL;
    uint64_t hinted = 0;
    for (int n = 0; n < pool->nnodes; n++) /* relaxed: hints */
        if (n != w->node && (atomic_load_explicit(&pool->steal_hints[n].bits, memory_order_relaxed) & bit))
            hinted |= (uint64_t)1 << n; /* n < nnodes <= CTP__MAX_NODES = 64 */
    if (hinted == 0)
        return NULL;
    ctp__task *t = steal_range(w, CTP_PRIORITY_CRITICAL, w->nlocal, w->nvictims, start);
    if (t != NULL)
        return t;
    for (int n = 0; n < pool->nnodes; n++)
        if (hinted & ((uint64_t)1 << n))
            atomic_fetch_and_explicit(&pool->steal_hints[n].bits, ~bit, memory_order_relaxed); /* relaxed: a hint */
    return NULL;
}

/* Owner only: pushes t on its own deque. Returns 0, or -1 if out of memory. */
static int local_push(ctp__worker *w, ctp__task *t)
{
    int p = t->priority;
    if (ctp__deque_push(&w->deques[p], t) != 0)
        return -1;
    w->local_mask |= 1u << p;
    ctp__steal_hint_set(&w->pool->steal_hints[w->node], 1u << p);
    return 0;
}

/* Takes a batch of inj's tasks at priority <= p: runs the first, keeps the
 * rest on its own deque (pushed newest-last so they pop in FIFO order).
 * Batching takes the injector lock once per batch. (Another node's
 * injector gives one task at a time: find_remote.)
 *
 * Moving the rest is a publication like a submission, and gets its wake
 * rule: between the take and the push the tasks are in no queue, so a
 * searcher whose park re-check falls in that window parks, counting on
 * nobody. A searching worker covers that in found_work (it re-checks as the
 * last searcher), but a worker taking the batch at a task boundary is no
 * searcher: without the notify below it ran the first task, and if that
 * task blocked, the rest waited on its deque while the other worker slept
 * (a CI hang: two blocking tasks submitted while one worker was still
 * starting). */
static ctp__task *take_injected(ctp__worker *w, ctp__injector *inj, int p)
{
    ctp_pool *pool = w->pool;
    size_t want = 1;
    /* CRITICAL tasks are taken one at a time: left in the injector they run
     * in submission order on whichever thread comes first (a batch on one
     * deque would queue them behind that worker's current task, and thieves
     * take a batch newest first). */
    if (p != CTP_PRIORITY_CRITICAL) {
        /* Relaxed: a heuristic for the batch size; the take is under the lock. */
        size_t queued = atomic_load_explicit(&inj->count, memory_order_relaxed);
        want = queued / pool->nworkers + 1;
        if (want > 32)
            want = 32;
    }
    ctp__task *batch[32];
    size_t n = ctp__injector_take(inj, p, batch, want);
    if (n == 0)
        return NULL;
    ctp__count(&w->injected, n);
    if (n > 1)
        CTP__HOOK(pool, CTP_HOOK_IN_BATCH_TAKE);
    for (size_t i = n; i-- > 1;) {
        if (local_push(w, batch[i]) != 0) {
            /* Out of memory growing our deque: give the rest back. */
            pthread_mutex_lock(&inj->lock);
            for (size_t j = 1; j <= i; j++)
                ctp__injector_push_locked(inj, batch[j]);
            pthread_mutex_unlock(&inj->lock);
            break;
        }
    }
    if (n > 1)
        ctp__notify(pool, n - 1, -1, true); /* the rest, visible again; we run the first next */
    return batch[0];
}

/* One task at level p from another node's injection queue, nearest node
 * first (the rest stay for that node's workers). Levels below `urgent` only
 * once older than `older_than` (ctp__injector_take_aged; what it leaves
 * lowers w->retry_at). */
static ctp__task *take_remote_injected(ctp__worker *w, int p, int urgent, uint64_t older_than, uint64_t delay)
{
    ctp_pool *pool = w->pool;
    ctp__task *t;
    for (int k = 1; k < pool->nnodes; k++) {
        ctp__injector *inj = &pool->injs[pool->node_order[w->node * pool->nnodes + k]];
        if ((ctp__injector_mask(inj) & (1u << p)) &&
            ctp__injector_take_aged(inj, p, urgent, older_than, delay, &t, &w->retry_at) == 1) {
            ctp__count(&w->injected, 1);
            ctp__count(&w->taken_remote, 1);
            return t;
        }
    }
    return NULL;
}

/* Other nodes' work, nearest node first, one task at a time; with a grace
 * period (ctp_config.remote_steal_delay_ns, several nodes):
 * CRITICAL and HIGH tasks at once; a lower-priority task in another node's
 * injection queue only once it has waited `delay`; another node's workers'
 * deques only once this worker has found nothing for `delay`, or the task
 * it noted there has waited CTP__REMOTE_DEQUE_CAP delays since it saw it
 * (their tasks' submission times are not visible before a steal). Whatever it leaves, it notes when to
 * look again (w->retry_at), and parks no longer than that: the task cannot
 * be stranded. */
static ctp__task *find_remote(ctp__worker *w, uint32_t start)
{
    ctp_pool *pool = w->pool;
    uint64_t delay = pool->nnodes > 1 ? pool->config.remote_steal_delay_ns : 0;
    int urgent = CTP_PRIORITY_COUNT; /* no grace: every level at once */
    uint64_t older_than = UINT64_MAX;
    bool idle_long = true;
    if (delay != 0) {
        uint64_t now = ctp__now_ns();
        if (w->gate_runs != w->runs) { /* nothing found since our last run began */
            w->gate_runs = w->runs;
            w->idle_since = now;
        }
        urgent = CTP__URGENT_REMOTE;
        older_than = now > delay ? now - delay : 0;
        if (w->remote_seen_at != 0 && !remote_seen_waits(w))
            w->remote_seen_at = 0; /* that task left: the next one noted starts anew */
        idle_long = now - w->idle_since >= delay ||
                    (w->remote_seen_at != 0 && now - w->remote_seen_at >= CTP__REMOTE_DEQUE_CAP * delay);
    }
    ctp__task *t;
    bool saw = false; /* another node's deque work we leave */
    for (int p = 0; p < CTP_PRIORITY_COUNT; p++) {
        if ((t = take_remote_injected(w, p, urgent, older_than, delay)) != NULL)
            return t;
        if (p <= urgent || idle_long) {
            if ((t = steal_range(w, p, w->nlocal, w->nvictims, start)) != NULL)
                return t;
        } else if (!saw) {
            /* Deque work we leave: note its oldest task (the first deque
             * seen holding any) unless one is noted and still waits. */
            for (uint32_t i = w->nlocal; i < w->nvictims && !saw; i++) {
                int64_t top = ctp__deque_top_if_any(&pool->workers[w->victims[i]]->deques[p]);
                if (top < 0)
                    continue;
                saw = true;
                if (w->remote_seen_at == 0) {
                    w->remote_seen_at = ctp__now_ns();
                    w->remote_seen_top = top;
                    w->remote_seen_victim = i;
                    w->remote_seen_level = p;
                }
            }
        }
    }
    if (saw) {
        uint64_t at = remote_deques_at(w, delay);
        if (at < w->retry_at)
            w->retry_at = at; /* their deques, after the grace */
    }
    return NULL;
}

ctp__task *ctp__find_task(ctp__worker *w, bool may_steal)
{
    w->retry_at = UINT64_MAX;
    ctp_pool *pool = w->pool;
    ctp__injector *home = &pool->injs[w->node], *any = &pool->injs[pool->nnodes];
    unsigned inj_home = may_steal ? ctp__injector_mask(home) : 0;
    unsigned inj_any = may_steal ? ctp__injector_mask(any) : 0;
    ctp__steal_hint *own_hint = &pool->steal_hints[w->node];
    unsigned hint = may_steal ? atomic_load_explicit(&own_hint->bits, memory_order_relaxed) : 0; /* relaxed: a hint */
    /* Lower work we would take below: our deque's, or our injectors'. */
    unsigned ours = w->local_mask | inj_home | inj_any;
    uint32_t start = next_rand(&w->rng);
    ctp__task *t;
    for (int p = 0; p < CTP_PRIORITY_COUNT; p++) {
        unsigned bit = 1u << p;
        /* Our node's other workers at this level, if the hint says they may
         * hold work and we would take lower work of our own next (a worker
         * with nothing of its own sweeps every level below). */
        if ((hint & bit) && (ours >> p) > 1u) {
            if ((t = steal_range(w, p, 0, w->nlocal, start)) != NULL)
                return t;
            atomic_fetch_and_explicit(&own_hint->bits, ~bit, memory_order_relaxed); /* relaxed: a hint */
        }
        if (w->local_mask & bit) {
            if ((t = ctp__deque_pop(&w->deques[p])) != NULL)
                return t;
            w->local_mask &= ~bit; /* only we push, so it stays empty until we do */
        }
        if ((inj_home & bit) && (t = take_injected(w, home, p)) != NULL)
            return t;
        if ((inj_any & bit) && (t = take_injected(w, any, p)) != NULL)
            return t;
        /* Another node's CRITICAL tasks before any lower level of our own
         * node (CRITICAL is never under the grace period): left to
         * find_remote, they waited behind this node's whole HIGH and NORMAL
         * backlog while their own node's workers were busy. */
        if (p == CTP_PRIORITY_CRITICAL && pool->nnodes > 1 && may_steal &&
            (t = take_remote_injected(w, p, CTP_PRIORITY_COUNT, UINT64_MAX, 0)) != NULL)
            return t;
        /* Likewise other nodes' workers' CRITICAL tasks, after our own: a
         * CRITICAL task pushed by a busy worker of another node waited for
         * this worker's whole lower backlog. */
        if (p == CTP_PRIORITY_CRITICAL && may_steal && pool->nnodes > 1 && (ours >> p) > 1u &&
            (t = steal_remote_critical(w, start)) != NULL)
            return t;
    }
    if (!may_steal)
        return NULL;
    /* Nothing of our own: our node's workers, every level. */
    for (int p = 0; p < CTP_PRIORITY_COUNT; p++)
        if ((t = steal_range(w, p, 0, w->nlocal, start)) != NULL)
            return t;
    /* Our node had nothing: other nodes, nearest first (their injection
     * queues, then their workers), every level. */
    if (w->nvictims > w->nlocal || pool->nnodes > 1)
        return find_remote(w, start);
    return NULL;
}

/* The node of the CPU the calling (outside) thread runs on; 0 if unknown. */
static int outside_home(ctp_pool *pool)
{
    if (pool->nnodes == 1)
        return 0;
    int cpu = ctp__current_cpu();
    int node = cpu >= 0 && cpu < pool->ncpu_ids ? pool->cpu_node[cpu] : -1;
    return node >= 0 ? node : 0;
}

ctp__task *ctp__find_task_outside(ctp_pool *pool)
{
    ctp__task *t = NULL;
    uint32_t start = (uint32_t)(uintptr_t)&t >> 6;
    /* Like a worker of the node of our CPU: at each priority, the node-less
     * queue, then node by node nearest first (our own first): its injection
     * queue, then its workers' deques. Another node's affine work is taken
     * last, where it runs remote. */
    const int *order = &pool->node_order[outside_home(pool) * pool->nnodes];
    ctp__injector *any = &pool->injs[pool->nnodes];
    for (int p = 0; p < CTP_PRIORITY_COUNT; p++) {
        unsigned bit = 1u << p;
        if ((ctp__injector_mask(any) & bit) && ctp__injector_take(any, p, &t, 1) == 1)
            return t;
        for (int i = 0; i < pool->nnodes; i++) {
            int m = order[i];
            if ((ctp__injector_mask(&pool->injs[m]) & bit) && ctp__injector_take(&pool->injs[m], p, &t, 1) == 1)
                return t;
            uint32_t first = pool->worker_first[m], count = pool->worker_first[m + 1] - first;
            for (uint32_t k = 0; k < count; k++)
                if ((t = steal_from(pool->workers[first + (start + k) % count], p)) != NULL)
                    return t;
        }
    }
    return NULL;
}

ctp__task *ctp__find_group_task_injected(ctp_pool *pool, const struct ctp_group *g)
{
    for (int n = 0; n <= pool->nnodes; n++) {
        ctp__task *t;
        /* Relaxed: a hint; the take is under the queue's lock. */
        if (ctp__injector_mask(&pool->injs[n]) != 0 && (t = ctp__injector_take_group(&pool->injs[n], g)) != NULL)
            return t;
    }
    return NULL;
}

static void recycle(ctp_pool *pool, ctp__worker *w, ctp__task *t)
{
    if (w != NULL)
        ctp__task_free(&w->cache, &pool->depots[w->node], t);
    else
        ctp__task_free_home(t); /* an outside helper has no cache: to its own depot, whichever node's */
}

/* Runs t (or, if `dropped` or the pool is cancelling, calls its on_cancel)
 * as one of the pool's task runs: the same run frame either way, so code in
 * on_cancel sees itself inside a task (a wait for its own group, a waiting
 * shutdown, ctp_pinned_destroy of the queue being dropped are refused). */
static void run_task(ctp_pool *pool, ctp__worker *w, ctp__task *t, bool dropped)
{
    ctp_task_fn fn = t->fn, on_cancel = t->on_cancel;
    const char *label = t->label;
    void *arg = t->has_payload ? (void *)t->payload : t->arg;
    struct ctp_group *g = t->group;
    int prio = t->priority;
    int affinity = t->node;
    /* Relaxed: read once per task; one predictable branch when nothing is
     * observed (the trace pointer it leads to is read with acquire). */
    unsigned observe = atomic_load_explicit(&pool->observe, memory_order_relaxed);
    /* Acquire: pairs with the release store in ctp_pool_shutdown. */
    bool cancelled = dropped || atomic_load_explicit(&pool->cancel, memory_order_acquire);
    run_info info;
    if (observe != 0)
        info = (run_info){ fn, label, g, t->submit_ns, prio, affinity, cancelled };
    if (t->holds_capacity)
        atomic_fetch_sub_explicit(&pool->ext_queued, 1, memory_order_relaxed);
    /* Recycle the node before running, so the task's own submissions reuse
     * it; a node carrying the argument is recycled after. */
    ctp__task *keep = t->has_payload ? t : NULL;
    if (keep == NULL)
        recycle(pool, w, t);

    /* What this run shows (live.h); observed runs also record their start
     * and the trace's and tick's events. */
    observed obs;
    uint32_t depth = w != NULL ? w->running : 0;
    if (w != NULL) {
        uint64_t serial = ++w->runs;
        uint64_t start = 0;
        if (observe != 0) {
            ctp__observe_begin(pool, w, observe, &info, serial, &obs);
            start = obs.start;
        }
        ctp__live_begin(&w->live, depth, (uintptr_t)fn, (uintptr_t)arg, (uintptr_t)label, start, serial);
    } else if (observe != 0) {
        ctp__observe_begin(pool, NULL, observe, &info, 0, &obs);
    }

    /* Workers are always inside their pool; outside helpers count depth.
     * The run's group goes into a ring of the innermost CTP__RUNNING_MAX
     * runs (worker_lost, and a wait that would wait for itself); the entry
     * it overwrites, an outer run's, is put back when this run ends. */
    ctp__tls *tls = w == NULL ? ctp__tls_get() : NULL;
    struct ctp_group **slot;
    uint8_t *kind = NULL, outer_kind = 0;
    if (tls != NULL) {
        slot = &tls->run_group[tls->task_depth++ % CTP__RUNNING_MAX];
    } else {
        unsigned k = w->running++ % CTP__RUNNING_MAX;
        slot = &w->running_group[k];
        kind = &w->running_kind[k];
        outer_kind = *kind;
        *kind = (uint8_t)(prio | (cancelled ? CTP__RUN_DROPPED : 0));
    }
    struct ctp_group *outer_group = *slot;
    *slot = g;
    if (cancelled) {
        if (on_cancel != NULL)
            on_cancel(arg);
    } else {
        fn(arg);
    }
    if (observe != 0)
        ctp__observe_end(pool, w, observe, fn, label, &obs);
    *slot = outer_group;
    if (kind != NULL)
        *kind = outer_kind;
    if (tls == NULL) {
        w->running--;
        ctp__live_end(&w->live, depth);
    }
    if (keep != NULL)
        recycle(pool, w, keep);

    if (w != NULL) {
        if (cancelled) {
            ctp__count(&w->cancelled, 1);
        } else {
            ctp__count(&w->executed, 1);
            ctp__count(&w->executed_by_priority[prio], 1);
            if (affinity >= 0) { /* run, like executed: not a cancelled drop */
                ctp__count(&w->affine_executed, 1);
                if (affinity == w->node)
                    ctp__count(&w->affine_home, 1);
            }
        }
    } else {
        if (!cancelled)
            atomic_fetch_add_explicit(&pool->helper_by_priority[prio], 1, memory_order_relaxed);
        /* Relaxed: a statistic (the quiescence check reads helper_retired). */
        atomic_fetch_add_explicit(cancelled ? &pool->helper_cancelled : &pool->helper_executed, 1,
                                  memory_order_relaxed);
    }
    /* An outside thread keeps the task's frame through the count-down: a
     * group notification fires inside it, and must see the thread as still
     * in a task (ctp_pinned_destroy from it would free the pinned queue its
     * run loop or helping wait, further up this stack, takes from next). */
    if (g != NULL)
        ctp__latch_count_down(&g->latch);
    /* Finished for the shutdown only now: the notification the count-down
     * fired may have submitted (the pool's own work, which a drain runs). */
    if (w != NULL)
        ctp__count_release(&w->retired, 1);
    else /* Release: pairs with the acquire loads in the quiescence check. */
        atomic_fetch_add_explicit(&pool->helper_retired, 1, memory_order_release);
    if (tls != NULL)
        tls->task_depth--;
}

void ctp__run_task(ctp_pool *pool, ctp__worker *w, ctp__task *t)
{
    run_task(pool, w, t, false);
}

typedef struct idle_find {
    ctp__worker *w;
    bool may_steal;
} idle_find;

static void *find_for_idle(void *ctx)
{
    idle_find *f = ctx;
    return ctp__find_task(f->w, f->may_steal);
}

/* A group's latch set: wake its waiting worker if it parked. */
static void poke_worker(void *ctx)
{
    ctp__worker *w = ctx;
    ctp__sleep_poke(&w->pool->sleep, w->index);
}

/* A worker waiting on a group parks: subscribed to the group's latch first,
 * so that the count-down that sets it either is seen by the park's re-check
 * or pokes the worker (latch.h); unsubscribed after. */
typedef struct group_wait {
    ctp__latch *latch;
    ctp__latch_waiter sub;
} group_wait;

static void arm_latch(void *ctx)
{
    group_wait *gw = ctx;
    ctp__latch_subscribe(gw->latch, &gw->sub);
}

static void disarm_latch(void *ctx)
{
    group_wait *gw = ctx;
    ctp__latch_unsubscribe(gw->latch, &gw->sub);
}

static bool group_latch_set(void *ctx)
{
    return ctp__latch_done(((group_wait *)ctx)->latch);
}

ctp__task *ctp__worker_idle(ctp__worker *w, struct ctp_group *group, uint64_t deadline_ns)
{
    idle_find f = { w, group == NULL || ctp__stack_allows_steal(w) };
    if (group == NULL)
        return ctp__sleep_idle(&w->pool->sleep, w->index, find_for_idle, &f, NULL, deadline_ns, &w->sleep_counters);
    group_wait gw = { &group->latch, { .wake = poke_worker, .ctx = w, .next = NULL } };
    ctp__sleep_until until = { .done = group_latch_set, .ctx = &gw, .arm = arm_latch, .disarm = disarm_latch };
    return ctp__sleep_idle(&w->pool->sleep, w->index, find_for_idle, &f, &until, deadline_ns, &w->sleep_counters);
}

/* Runs (or drops) t on an outside thread as one of pool's tasks (its
 * submissions are internal), restoring the thread's own context afterwards. */
static void run_outside(ctp_pool *pool, ctp__task *t, bool dropped)
{
    ctp__tls *tls = ctp__tls_get();
    ctp_pool *saved_pool = tls->pool;
    ctp__worker *saved_worker = tls->worker;
    const ctp__tls_outer *saved_outer = tls->outer;
    ctp__tls_outer left = { saved_worker, saved_pool, saved_outer };
    if (saved_pool != NULL && saved_pool != pool)
        tls->outer = &left; /* still inside saved_pool (ctp__is_inside) */
    tls->pool = pool;
    tls->worker = NULL;
    run_task(pool, NULL, t, dropped);
    tls->pool = saved_pool;
    tls->worker = saved_worker;
    tls->outer = saved_outer;
    ctp__lifecycle_poke_if_stopping(pool);
}

void ctp__run_outside(ctp_pool *pool, ctp__task *t)
{
    run_outside(pool, t, false);
}

/* Its on_cancel runs in a task frame, as in a cancelling shutdown; run_task
 * counts it cancelled and counts its group down, and run_outside pokes a
 * shutdown that may be waiting for this very task with every worker parked. */
void ctp__drop_task(ctp_pool *pool, ctp__task *t)
{
    run_outside(pool, t, true);
}
