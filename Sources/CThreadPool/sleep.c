/* The sleep/wake protocol (sleep.h). docs/scheduler.md, "Sleeping and
 * waking", has the states, the invariants and the proof that no wake-up is
 * lost; model/park_wake.pml models the functions below one to one:
 *
 *   start_looking   searching += 1                       (model: srch)
 *   found_work      searching -= 1; the last searcher
 *                   hands visible work on                 (end_search)
 *   found_none      park: announce, fence, re-check,
 *                   block, leave, pass owed signals on    (park)
 *   new_work        fence, read counts, wake              (notify)
 *
 * In short: the submitter's and the parking worker's seq_cst fences pair up;
 * the waker moves a woken worker back to searching; every signal a waker owes
 * is recorded first, so the workers it wakes send the rest if it stalls. */
#include "sleep_internal.h"

#include "ctp/ctp.h"

#include <stdlib.h>

static void hook(ctp__sleep *s, ctp_test_hook_point point)
{
    if (s->ops.hook != NULL)
        s->ops.hook(s->ops.ctx, point);
}

static void count(_Atomic uint64_t *c)
{
    /* Relaxed: a statistic written by its owner only. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

int ctp__sleep_init(ctp__sleep *s, uint32_t nworkers, ctp__parker *const *parkers,
                    const ctp__sleep_policy *policy, const ctp__sleep_ops *ops)
{
    atomic_init(&s->counts, (uint64_t)0);
    atomic_init(&s->owed, 0u);
    atomic_init(&s->prewake_at, (uint64_t)0);
    atomic_init(&s->prewake_late_ns, (uint64_t)0);
    atomic_init(&s->report_parks, false);
    s->idle_len = 0;
    s->nworkers = nworkers;
    s->policy = *policy;
    s->ops = *ops;
    s->idle = ctp__calloc(nworkers, sizeof *s->idle);
    s->parkers = ctp__calloc(nworkers, sizeof *s->parkers);
    if (s->idle == NULL || s->parkers == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s->idle);
        free(s->parkers);
        s->idle = NULL;
        s->parkers = NULL;
        return CTP_ENOMEM;
    }
    for (uint32_t i = 0; i < nworkers; i++) {
        s->parkers[i] = parkers[i];
        atomic_init(&parkers[i]->owed, false);
        atomic_init(&parkers[i]->cpu, -1);
        atomic_init(&parkers[i]->kept_off, false);
    }
    atomic_init(&s->narrowed, 0);
    return CTP_OK;
}

void ctp__sleep_destroy(ctp__sleep *s)
{
    if (s->idle == NULL)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s->idle);
    free(s->parkers);
    s->idle = NULL;
    s->parkers = NULL;
}

uint32_t ctp__sleep_parked(ctp__sleep *s)
{
    /* Relaxed: a statistic. */
    return CTP__PARKED(atomic_load_explicit(&s->counts, memory_order_relaxed));
}

uint32_t ctp__sleep_parked_sync(ctp__sleep *s)
{
    /* Seq_cst: see sleep.h (the caller's Dekker pair). */
    return CTP__PARKED(atomic_load_explicit(&s->counts, memory_order_seq_cst));
}

bool ctp__sleep_is_parked(ctp__sleep *s, uint32_t worker)
{
    /* Relaxed: a report for observers. */
    return atomic_load_explicit(&s->parkers[worker]->parked_now, memory_order_relaxed);
}

/* ---- The idle stack (under the lock) ------------------------------------ */

/* The idle-stack position of the newest parked worker of `node` (any node
 * for -1), or UINT32_MAX if there is none. */
static uint32_t idle_find_locked(ctp__sleep *s, int node)
{
    for (uint32_t i = s->idle_len; i-- > 0;)
        if (node < 0 || s->parkers[s->idle[i]]->node == node)
            return i;
    return UINT32_MAX;
}

/* Takes the entry at idle-stack position pos off the stack. */
static uint32_t idle_remove_at_locked(ctp__sleep *s, uint32_t pos)
{
    uint32_t idx = s->idle[pos];
    for (uint32_t j = pos; j + 1 < s->idle_len; j++)
        s->idle[j] = s->idle[j + 1];
    s->idle_len--;
    return idx;
}

static void idle_remove_locked(ctp__sleep *s, uint32_t idx)
{
    for (uint32_t i = s->idle_len; i-- > 0;) {
        if (s->idle[i] == idx) {
            idle_remove_at_locked(s, i);
            return;
        }
    }
}

/* ---- Waking ------------------------------------------------------------ */

/* Keeps p off our CPU (its home minus our CPU) unless home CPUs - 1 workers
 * are kept off already: on 2 CPUs two workers narrowed off one waker (a
 * submitter that wakes for several batches in a row) would both be held on
 * the other CPU, and one would queue behind the other while ours goes idle
 * once we block (a simulated two-node zones tick ran at half speed, 52% of
 * its tasks at home). The count is dropped when p returns to its home. */
static bool narrow(ctp__sleep *s, ctp__parker *p)
{
    /* Relaxed: a placement limit; racing wakers may briefly exceed it. */
    uint32_t before = atomic_fetch_add_explicit(&s->narrowed, 1, memory_order_relaxed);
    if (p->home.cpus >= 2 && before < (uint32_t)p->home.cpus - 1 && ctp__cpu_home_avoid(&p->home, ctp__current_cpu()))
        return true;
    atomic_fetch_sub_explicit(&s->narrowed, 1, memory_order_relaxed);
    return false;
}

/* Sends p's owed signal if nobody has yet.
 *
 * With policy.keep_off_waker and keep_off (we keep running after the signal:
 * helping, computing, or running the task that made the work) the worker is
 * first kept off this thread's CPU (its affinity is its home minus our CPU)
 * until it leaves its park and takes its home back. It is then of use only
 * on another CPU; a kernel that packs wake-ups onto busy CPUs would otherwise
 * queue it behind us while another CPU idles (docs/scheduler.md, "Where a
 * woken worker runs"). Placement only: the protocol is unchanged. */
static void send_owed(ctp__sleep *s, ctp__parker *p, bool keep_off)
{
    /* Relaxed: the exchange only decides who sends; what the woken worker
     * reads (notified) is ordered by the sleep lock it takes on waking. */
    if (atomic_exchange_explicit(&p->owed, false, memory_order_relaxed)) {
        atomic_fetch_sub_explicit(&s->owed, 1, memory_order_relaxed);
        /* Release: pairs with the worker's acquire exchange when it leaves
         * the park, so its return to its home comes after our restriction.
         * If the worker already left (it woke by itself and lost the owed
         * race to us), it finds the flag at its next park and the
         * restriction lasts until then: a placement cost, never a lost wake. */
        /* One pending kept_off owns one `narrowed` count: if the worker
         * never took the last one back (it left before that store), ours
         * replaces it and gives its count back. */
        if (keep_off && s->policy.keep_off_waker && narrow(s, p) &&
            atomic_exchange_explicit(&p->kept_off, true, memory_order_release))
            atomic_fetch_sub_explicit(&s->narrowed, 1, memory_order_relaxed); /* relaxed: see narrow() */
        /* Worker parkers live as long as the pool; a late signal is only a
         * spurious wake, which the worker re-checks under the lock. */
        pthread_cond_signal(&p->cv);
    }
}

/* Sends every signal still owed (a worker leaving its park: it goes on to
 * look for work and run it, so it keeps the workers off its CPU). */
static void pass_owed_on(ctp__sleep *s)
{
    for (uint32_t i = 0; i < s->nworkers; i++) {
        /* Relaxed: a hint; the waker sends whatever we miss. */
        if (atomic_load_explicit(&s->owed, memory_order_relaxed) == 0)
            return;
        send_owed(s, s->parkers[i], true);
    }
}

/* Pops up to n workers off the idle stack (newest first: warm caches), counts
 * each as searching and signals them. For node >= 0 it wakes only that
 * node's parked workers, or, if it has none parked, one worker of another
 * node (idle workers may take any node's work; the node's own busy workers
 * reach it at their next task boundary).
 *
 * All signals are owed before the first is sent, and workers that leave
 * their park send the rest (pass_owed_on): the wake completes even if this
 * thread loses its CPU after any signal. Workers that last ran on another
 * CPU are signalled first, the one that shares ours last, so the first
 * wake-up does not take the CPU we still need for the others. With a worker
 * per CPU (policy.defer_last) we leave the last of k >= 2 signals (the
 * worker that shares our CPU, if one does) owed: the first worker we woke
 * sends it when it leaves its park, as it would if we had stopped there.
 * We occupy a CPU, so with every worker awake one of them could only queue
 * for a CPU meanwhile (on 2 CPUs this cut the CPU the bot benchmark spends
 * per unit of work from 1.12 to 1.04).
 *
 * home_only: only `node`'s parked workers; none if it has none parked.
 *
 * keep_off (the caller runs work next: a worker or a task's code) keeps the
 * workers off our CPU (send_owed); so does a wake of two or more from any
 * thread, which only a batch makes. A thread outside the pool that wakes one
 * worker at a time (a single task, or a batch for one node's worker) is left
 * to the kernel: it often blocks next, and then its CPU is the cheap one. */
static void wake(ctp__sleep *s, size_t n, int node, bool keep_off, bool home_only)
{
    enum { MAX_ROUND = 32 };
    uint32_t picked[MAX_ROUND] = { 0 }; /* zeroed: gcc -O3 cannot see that only entries below k are read */
    while (n > 0) {
        size_t k = 0;
        pthread_mutex_lock(&s->lock);
        while (k < n && k < MAX_ROUND && s->idle_len > 0) {
            uint32_t pos = idle_find_locked(s, node);
            if (pos == UINT32_MAX) {
                if (k > 0 || home_only)
                    break; /* woke this node's parked workers: enough */
                pos = idle_find_locked(s, -1);
                n = 1;
            }
            uint32_t idx = idle_remove_at_locked(s, pos);
            ctp__parker *p = s->parkers[idx];
            p->on_idle = false;
            p->notified = true;
            /* Relaxed: published to the workers that pass it on by the lock. */
            atomic_store_explicit(&p->owed, true, memory_order_relaxed);
            atomic_fetch_add_explicit(&s->owed, 1, memory_order_relaxed);
            /* Seq_cst: pairs with the fence in ctp__sleep_new_work of other
             * submitters, which then see a searcher and skip their wake. */
            atomic_fetch_add_explicit(&s->counts, CTP__SEARCHING_ONE - CTP__PARKED_ONE, memory_order_seq_cst);
            picked[k++] = idx;
        }
        pthread_mutex_unlock(&s->lock);
        /* Outside the lock, so the woken worker does not block on it. */
        /* Which of them last parked on our CPU: read once, since a worker
         * we signal may park again (and move its hint) before we are done. */
        int here = k > 1 ? ctp__current_cpu() : -1;
        bool ours[MAX_ROUND] = { false };
        for (size_t i = 0; i < k && here >= 0; i++)
            /* Relaxed: p->cpu is a placement hint, read racily. */
            ours[i] = atomic_load_explicit(&s->parkers[picked[i]]->cpu, memory_order_relaxed) == here;
        /* With a worker per CPU the last signal stays owed: the worker we
         * woke first sends it. */
        size_t direct = k > 1 && s->policy.defer_last ? k - 1 : k;
        size_t sent = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < k; i++) {
                if (ours[i] != (pass == 1) || sent == direct)
                    continue;
                if (sent++ > 0)
                    hook(s, CTP_HOOK_BETWEEN_WAKES);
                send_owed(s, s->parkers[picked[i]], keep_off || k >= 2);
            }
        }
        if (k < MAX_ROUND || k >= n)
            break; /* the stack ran empty, or we woke all we wanted */
        n -= k;
    }
}

void ctp__sleep_new_work(ctp__sleep *s, size_t tasks, int node, bool caller_busy)
{
    hook(s, CTP_HOOK_BEFORE_NOTIFY);
    /* Seq_cst fence: pairs with the fence in found_none (and in found_work).
     * Either that worker's re-check sees the task we just published, or we
     * see it parked (or no longer searching) here. */
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t c = atomic_load_explicit(&s->counts, memory_order_relaxed);
    uint32_t parked = CTP__PARKED(c);
    if (parked == 0)
        return;
    size_t n;
    if (tasks == 1) {
        if (CTP__SEARCHING(c) != 0) {
            /* A searcher will find it; it wakes the next if more remains.
             * But with a grace period for another node's work (work_for) a
             * searcher of another node must leave a node's task for the
             * grace, and a spinning one (spin_ns) wakes that node's parked
             * workers only when it parks: so wake one of them now (none if
             * none is parked). Only adds a wake (the model lets any
             * submission wake more than the rule asks). */
            if (node >= 0 && s->ops.work_for != NULL)
                wake(s, 1, node, caller_busy, true);
            return;
        }
        n = 1;
    } else {
        n = tasks < parked ? tasks : parked;
        if (s->policy.wake_fanout != 0 && n > s->policy.wake_fanout)
            n = s->policy.wake_fanout;
    }
    wake(s, n, node, caller_busy, false);
}

/* ---- Looking for work ---------------------------------------------------- */

static void start_looking(ctp__sleep *s)
{
    /* Seq_cst: pairs with the fence in ctp__sleep_new_work; a submitter that
     * sees us searching leaves its task to us. */
    atomic_fetch_add_explicit(&s->counts, CTP__SEARCHING_ONE, memory_order_seq_cst);
}

/* Leaves the search (found work, or stopped looking). */
static void found_work(ctp__sleep *s)
{
    /* Seq_cst: pairs with the fence in ctp__sleep_new_work. A submitter that
     * saw us searching did not wake anyone for its task. */
    uint64_t prev = atomic_fetch_sub_explicit(&s->counts, CTP__SEARCHING_ONE, memory_order_seq_cst);
    hook(s, CTP_HOOK_AFTER_SEARCH);
    if (CTP__SEARCHING(prev) != 1 || CTP__PARKED(prev) == 0)
        return;
    /* We were the last searcher. Tasks whose submitters relied on us may
     * still be queued: look once more and hand them to a parked worker.
     * Seq_cst fence: pairs with the submitter's fence in ctp__sleep_new_work. */
    atomic_thread_fence(memory_order_seq_cst);
    if (s->ops.has_work(s->ops.ctx))
        ctp__sleep_new_work(s, 1, -1, true); /* we run the work we found next */
}

static bool until_holds(const ctp__sleep_until *until)
{
    return until != NULL && until->done(until->ctx);
}

static bool stopping(ctp__sleep *s)
{
    return s->ops.stopping(s->ops.ctx);
}

/* Parks worker `idx` (which is searching) until notified, `until` holds,
 * the pool stops, or deadline_ns. Returns with it counted as searching. */
static void found_none(ctp__sleep *s, uint32_t idx, const ctp__sleep_until *until, uint64_t deadline_ns,
                       ctp__sleep_counters *counters)
{
    ctp__parker *p = s->parkers[idx];
    if (until != NULL && until->arm != NULL)
        until->arm(until->ctx); /* before the re-checks below read `done` */

    /* 1. Announce: searching -> parked, on the idle stack. */
    int cpu = ctp__current_cpu();
    pthread_mutex_lock(&s->lock);
    s->idle[s->idle_len++] = idx;
    p->on_idle = true;
    atomic_store_explicit(&p->cpu, cpu, memory_order_relaxed); /* relaxed: a hint for wake's order */
    atomic_store_explicit(&p->parked_now, true, memory_order_relaxed); /* relaxed: a report */
    /* Seq_cst: pairs with the fence in ctp__sleep_new_work (via the fence below). */
    atomic_fetch_add_explicit(&s->counts, CTP__PARKED_ONE - CTP__SEARCHING_ONE, memory_order_seq_cst);
    pthread_mutex_unlock(&s->lock);

    if (s->ops.parked != NULL)
        s->ops.parked(s->ops.ctx);
    hook(s, CTP_HOOK_BEFORE_PARK);

    /* 2. Seq_cst fence: pairs with the fence in ctp__sleep_new_work. After
     * it, every task published before a submitter's fence is visible here. */
    atomic_thread_fence(memory_order_seq_cst);
    /* Work we may not take yet (another node's, in its grace period) is no
     * reason to stay awake: we park until we may take it. (Counted as work,
     * it kept the worker spinning through the whole grace period, taking
     * the CPU its node's own worker needed.) */
    uint64_t defer = UINT64_MAX, defer_nodes = 0;
    bool visible =
        s->ops.work_for != NULL ? s->ops.work_for(s->ops.ctx, idx, &defer, &defer_nodes) : s->ops.has_work(s->ops.ctx);
    bool skip = visible || until_holds(until) || stopping(s);
    if (!skip && defer < deadline_ns)
        deadline_ns = defer;
    /* Work we leave for its own node: wake one of each such node's parked
     * workers for it (none if they are all busy: they reach it at their next task
     * boundary). A single task wakes nobody while anyone searches
     * (ctp__sleep_new_work), and the searcher may have been us, so without
     * this its node's workers could sleep through the whole grace and the
     * task run here after it. We park next, so our CPU is not kept from
     * the woken worker (keep_off false). Only adds a wake: the protocol's
     * guarantees are unchanged. Every such node, not only the one due
     * soonest: with three nodes, a second node's task waited out the whole
     * grace while its worker slept (test numa_remote_grace_wakes_every_node). */
    for (uint64_t m = skip ? 0 : defer_nodes; m != 0; m &= m - 1)
        wake(s, 1, __builtin_ctzll(m), false, true);

    /* 3. Block unless there is a reason not to. */
    bool blocked = false, timed_out = false;
    pthread_mutex_lock(&s->lock);
    bool told = false;
    /* Relaxed: see report_parks. */
    bool report = s->ops.parking != NULL && atomic_load_explicit(&s->report_parks, memory_order_relaxed);
    if (!skip && report) {
        /* Outside the lock; safe to drop it here: the wait below re-checks
         * `notified`, which wakers set under the lock. */
        pthread_mutex_unlock(&s->lock);
        s->ops.parking(s->ops.ctx, idx, CTP__PARK_BLOCK);
        pthread_mutex_lock(&s->lock);
        told = true;
    }
    if (!skip) {
        /* `until` is read under the lock: whoever makes it true pokes us
         * after (ctp__sleep_poke takes the lock), so it is not missed. */
        while (!p->notified && !until_holds(until) && !stopping(s)) {
            /* Until the deadline, or the start of a pre-wake window (less
             * how late such a wait has been ending). */
            uint64_t wake_at = deadline_ns, from, to;
            bool for_window = false;
            if (atomic_load_explicit(&s->prewake_at, memory_order_relaxed) != 0 && /* relaxed: see ctp__sleep_prewake_window */
                ctp__sleep_prewake_window(s, ctp__now_ns(), &from, &to)) {
                uint64_t leave = ctp__sleep_prewake_leave(s, from);
                if (ctp__now_ns() >= leave)
                    break; /* pre-woken: leave as if the park timed out */
                if (leave < wake_at) {
                    wake_at = leave;
                    for_window = true;
                }
            }
            blocked = true;
            if (ctp__cond_wait_until(&p->cv, &s->lock, wake_at)) {
                if (for_window)
                    ctp__sleep_prewake_learn(s, ctp__now_ns() - wake_at);
                else if (wake_at == deadline_ns) {
                    timed_out = true;
                    break;
                }
            }
        }
    }
    /* 4. Leave: a waker already moved us to searching; otherwise do it here. */
    bool notified = p->notified;
    bool pass_on = false;
    if (notified) {
        p->notified = false;
        timed_out = false;
        /* Relaxed: we are awake; nobody needs to signal us any more. */
        if (atomic_exchange_explicit(&p->owed, false, memory_order_relaxed))
            atomic_fetch_sub_explicit(&s->owed, 1, memory_order_relaxed);
        /* Relaxed, under the lock: exact for every wake whose waker unlocked
         * before we took the lock, ours included. */
        pass_on = atomic_load_explicit(&s->owed, memory_order_relaxed) != 0;
    } else {
        idle_remove_locked(s, idx);
        p->on_idle = false;
        /* Seq_cst: like start_looking, submitters that see us searching rely on us. */
        atomic_fetch_add_explicit(&s->counts, CTP__SEARCHING_ONE - CTP__PARKED_ONE, memory_order_seq_cst);
    }
    atomic_store_explicit(&p->parked_now, false, memory_order_relaxed); /* relaxed: a report */
    pthread_mutex_unlock(&s->lock);
    if (report)
        s->ops.parking(s->ops.ctx, idx, told ? CTP__PARK_WOKE : CTP__PARK_LEFT);

    if (until != NULL && until->disarm != NULL)
        until->disarm(until->ctx);
    /* Acquire: pairs with the waker's release in send_owed. */
    if (atomic_exchange_explicit(&p->kept_off, false, memory_order_acquire)) {
        ctp__cpu_home_return(&p->home);
        atomic_fetch_sub_explicit(&s->narrowed, 1, memory_order_relaxed); /* relaxed: see narrow() */
    }

    /* 5. Finish the wake that woke us: the waker may have lost its CPU to us. */
    if (pass_on)
        pass_owed_on(s);

    if (blocked)
        count(&counters->parks);
    if (timed_out)
        count(&counters->backoff_timeouts);
    if (notified)
        count(&counters->wakeups);
}

bool ctp__sleep_stop_looking(ctp__sleep *s, const ctp__sleep_until *until)
{
    return until != NULL ? until->done(until->ctx) : stopping(s);
}

void *ctp__sleep_idle(ctp__sleep *s, uint32_t worker, ctp__sleep_find_fn find, void *find_ctx,
                      const ctp__sleep_until *until, uint64_t deadline_ns, ctp__sleep_counters *counters)
{
    void *t = NULL;
    start_looking(s);

    /* Spin phase: keep looking, pausing between sweeps; no sleep, so new
     * work is seen at the next sweep. At most half the workers (at least
     * one) spin at a time: more spinners find no more work, they only take
     * CPU from the threads producing it. */
    uint64_t spin = s->policy.spin_ns;
    /* Relaxed: a heuristic (how many spin now). */
    uint32_t searching = CTP__SEARCHING(atomic_load_explicit(&s->counts, memory_order_relaxed));
    if (spin > 0 && searching <= (s->nworkers + 1) / 2) {
        uint64_t spin_end = ctp__now_ns() + spin;
        for (unsigned round = 0;; round++) {
            if (ctp__sleep_stop_looking(s, until))
                goto out;
            uint64_t now = ctp__now_ns();
            if (now >= deadline_ns)
                goto out; /* a timed wait takes no task past its deadline */
            if ((t = find(find_ctx)) != NULL)
                goto out;
            if (now >= spin_end)
                break;
            for (unsigned i = 0, n = 1u << (round < 6 ? round : 6); i < n; i++)
                ctp__cpu_relax();
        }
    }

    /* Park phase: one optional timed park (the backoff), then untimed. Any
     * submission wakes a parked worker at once, timed or not. */
    uint64_t backoff = s->policy.backoff_ns;
    uint64_t backoff_end = backoff > 0 ? ctp__deadline(backoff) : 0;
    for (;;) {
        if (ctp__sleep_stop_looking(s, until))
            goto out;
        /* The deadline first: a timed wait takes no task past it. */
        if (deadline_ns != CTP_WAIT_FOREVER && ctp__now_ns() >= deadline_ns)
            goto out;
        if ((t = find(find_ctx)) != NULL)
            goto out;
        uint64_t park_until = deadline_ns;
        if (backoff_end != 0) {
            if (backoff_end < park_until)
                park_until = backoff_end;
            backoff_end = 0; /* only once */
        }
        /* Inside a pre-wake window: search instead of parking. (Work left
         * for a grace period bounds the park in found_none's re-check,
         * ops.work_for.) */
        uint64_t from, to, now = ctp__now_ns();
        if (atomic_load_explicit(&s->prewake_at, memory_order_relaxed) != 0 && /* relaxed: a hint */
            ctp__sleep_prewake_window(s, now, &from, &to) && now >= from) {
            if ((t = ctp__sleep_prewake_search(s, find, find_ctx, until, deadline_ns, to)) != NULL)
                goto out;
            continue; /* the window closed: look once more, then park */
        }
        found_none(s, worker, until, park_until, counters);
    }
out:
    found_work(s);
    return t;
}

void ctp__sleep_report_parks(ctp__sleep *s)
{
    atomic_store_explicit(&s->report_parks, true, memory_order_relaxed); /* relaxed: see report_parks */
}

void ctp__sleep_wake_all(ctp__sleep *s)
{
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < s->nworkers; i++)
        pthread_cond_signal(&s->parkers[i]->cv);
    pthread_mutex_unlock(&s->lock);
}

void ctp__sleep_poke(ctp__sleep *s, uint32_t worker)
{
    pthread_mutex_lock(&s->lock);
    pthread_cond_signal(&s->parkers[worker]->cv);
    pthread_mutex_unlock(&s->lock);
}
