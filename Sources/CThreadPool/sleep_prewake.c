/* The sleep protocol's pre-wake (ctp__sleep_prewake, sleep.h): the window
 * around expected work in which parked workers leave their park and search
 * (docs/scheduler.md, "Pre-wake"). sleep.c calls the helpers below. */
#include "sleep_internal.h"

#include <sched.h>

/* The pre-wake window around the expected work: [*from, *to), or false if
 * none is set or it has passed. */
bool ctp__sleep_prewake_window(ctp__sleep *s, uint64_t now, uint64_t *from, uint64_t *to)
{
    /* Relaxed: read under the lock after the setter's signal, or as a hint. */
    uint64_t at = atomic_load_explicit(&s->prewake_at, memory_order_relaxed);
    uint64_t lead = s->policy.prewake_lead_ns;
    if (at == 0 || now >= at + lead)
        return false;
    *from = at > lead ? at - lead : 0;
    *to = at + lead;
    return true;
}

/* The most a window's timer is set early: far above any lateness measured
 * here (p99 about 300 us after a 48 ms park on the test VM), far below a
 * tick period. */
enum { CTP__PREWAKE_LATE_MAX_NS = 2000000 };

uint64_t ctp__sleep_prewake_leave(ctp__sleep *s, uint64_t from)
{
    /* Relaxed: a heuristic. */
    uint64_t early = atomic_load_explicit(&s->prewake_late_ns, memory_order_relaxed);
    return from > early ? from - early : 0;
}

void ctp__sleep_prewake_learn(ctp__sleep *s, uint64_t late_ns)
{
    if (late_ns > CTP__PREWAKE_LATE_MAX_NS)
        late_ns = CTP__PREWAKE_LATE_MAX_NS;
    /* Relaxed: a heuristic; racing workers may lose an update. Up half way
     * at once (a late timer costs the window; an early one only spins a
     * little longer), down an eighth of the way: it tracks the late end of
     * the spread, not its middle. */
    uint64_t est = atomic_load_explicit(&s->prewake_late_ns, memory_order_relaxed);
    est = late_ns > est ? est + (late_ns - est) / 2 : est - (est - late_ns) / 8;
    atomic_store_explicit(&s->prewake_late_ns, est, memory_order_relaxed);
}

void ctp__sleep_prewake(ctp__sleep *s, uint64_t at_ns)
{
    /* Relaxed: parked workers read it under the lock taken below. */
    atomic_store_explicit(&s->prewake_at, at_ns, memory_order_relaxed);
    /* Parked workers recompute how long to sleep (a spurious wake for
     * them: the wait loop re-checks everything). */
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < s->idle_len; i++)
        pthread_cond_signal(&s->parkers[s->idle[i]]->cv);
    pthread_mutex_unlock(&s->lock);
}

void *ctp__sleep_prewake_search(ctp__sleep *s, ctp__sleep_find_fn find, void *find_ctx, const ctp__sleep_until *until,
                                uint64_t deadline_ns, uint64_t to)
{
    for (unsigned round = 0;; round++) {
        if (ctp__sleep_stop_looking(s, until))
            return NULL;
        uint64_t now = ctp__now_ns();
        if (now >= to || now >= deadline_ns)
            return NULL;
        void *t = find(find_ctx);
        if (t != NULL)
            return t;
        if (round % 8 == 7)
            sched_yield(); /* the submitter may be waiting for this CPU */
        else
            for (unsigned i = 0; i < 64; i++)
                ctp__cpu_relax();
    }
}
