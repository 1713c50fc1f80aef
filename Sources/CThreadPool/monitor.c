/* The stall monitor (monitor.h). */
#define _GNU_SOURCE /* pthread_setname_np */
#include "monitor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

uint64_t ctp__queued_now(ctp_pool *pool)
{
    /* The injection queues and the deques, each task in one of them. Not
     * ext_queued: it keeps counting outside submissions a worker already
     * moved to its deque, until they start (they were counted twice). */
    uint64_t n = 0;
    for (int i = 0; i <= pool->nnodes; i++) /* relaxed: a report; may be a moment old */
        n += atomic_load_explicit(&pool->injs[i].count, memory_order_relaxed);
    for (uint32_t i = 0; i < pool->nworkers; i++)
        n += ctp__worker_queued(pool->workers[i]);
    return n;
}

/* Appends printf-style text to out (capacity cap > 0, NUL-terminated),
 * whose first *len bytes are filled; cut to fit, *len at most cap - 1. */
__attribute__((format(printf, 4, 5))) static void put_fmt(char *out, size_t cap, size_t *len, const char *fmt,
                                                          ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(out + *len, cap - *len, fmt, ap);
    va_end(ap);
    *len = w < 0 || (size_t)w >= cap - *len ? cap - 1 : *len + (size_t)w;
}

/* Appends s to out (as put_fmt) in double quotes, at most max bytes of it:
 * '"' and '\\' escaped with a backslash, control bytes as \xNN, so that no
 * label or pool name can break the line or forge another. A cut string ends
 * with "..." and is never cut inside a UTF-8 character. */
static void put_quoted(char *out, size_t cap, size_t *len, const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n] != '\0')
        n++;
    bool cut = s[n] != '\0';
    if (cut)
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) /* s[n] continues a character */
            n--;
    put_fmt(out, cap, len, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            put_fmt(out, cap, len, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            put_fmt(out, cap, len, "\\x%02x", c);
        else
            put_fmt(out, cap, len, "%c", c);
    }
    put_fmt(out, cap, len, cut ? "...\"" : "\"");
}

size_t ctp__stall_format(char *out, size_t cap, const char *pool_name, const ctp_stall_report *r)
{
    size_t len = 0;
    if (cap == 0)
        return 0;
    out[0] = '\0';
    put_fmt(out, cap, &len, "ctp: pool ");
    put_quoted(out, cap, &len, pool_name, 16);
    if (r->kind == CTP_STALL_TASK) {
        put_fmt(out, cap, &len, ": worker %d has been running task ", r->worker);
        if (r->label != NULL)
            put_quoted(out, cap, &len, r->label, 40);
        else
            put_fmt(out, cap, &len, "fn %p", (void *)(uintptr_t)r->fn);
        put_fmt(out, cap, &len, " for %.1f ms (%llu tasks queued)\n", (double)r->elapsed_ns / 1e6,
                (unsigned long long)r->queued);
    } else {
        put_fmt(out, cap, &len,
                ": %llu tasks queued and none started for %.1f ms (every worker busy, blocked or lost)\n",
                (unsigned long long)r->queued, (double)r->elapsed_ns / 1e6);
    }
    return len;
}

static void report(ctp_pool *pool, const ctp_stall_report *r)
{
    atomic_fetch_add_explicit(&pool->monitor.reports, 1, memory_order_relaxed); /* relaxed: a statistic */
    if (pool->config.on_stall != NULL) {
        pool->config.on_stall(r, pool->config.stall_ctx);
        return;
    }
    char line[CTP__STALL_LINE];
    ctp__stall_format(line, sizeof line, pool->name, r);
    fputs(line, stderr);
}

/* Progress: runs started by workers, and tasks finished by outside helpers. */
static uint64_t progress(ctp_pool *pool)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < pool->nworkers; i++)
        n += ctp__live_serial(&pool->workers[i]->live);
    /* Relaxed: progress counts (any change is progress; no order needed). */
    n += atomic_load_explicit(&pool->helper_executed, memory_order_relaxed);
    n += atomic_load_explicit(&pool->helper_cancelled, memory_order_relaxed);
    return n;
}

typedef struct episode {
    uint64_t last_progress; /* progress at the last change */
    uint64_t since_ns;      /* when it was first seen (or the queue was empty) */
    bool reported;          /* this queue stall was reported */
} episode;

static bool already_reported(const ctp__monitor *m, uint32_t worker, uint64_t serial)
{
    for (unsigned k = 0; k < CTP__MONITOR_REMEMBER; k++)
        if (m->reported[worker * CTP__MONITOR_REMEMBER + k] == serial)
            return true;
    return false;
}

static void check(ctp_pool *pool, episode *q)
{
    ctp__monitor *m = &pool->monitor;
    uint64_t stall = pool->config.stall_ns;
    uint64_t now = ctp__now_ns();
    uint64_t queued = ctp__queued_now(pool);
    for (uint32_t i = 0; i < pool->nworkers; i++) {
        ctp__live_view v;
        ctp__live_read(&pool->workers[i]->live, &v);
        if (!v.running || v.start_ns == 0 || now < v.start_ns || now - v.start_ns < stall ||
            already_reported(m, i, v.serial))
            continue;
        /* Once per run: remembered among the worker's last few reported
         * runs, so that an outer run shown again after a nested one that
         * was reported too is not reported twice. */
        m->reported[i * CTP__MONITOR_REMEMBER + m->reported_next[i]++ % CTP__MONITOR_REMEMBER] = v.serial;
        ctp_stall_report r = { .kind = CTP_STALL_TASK,
                               .worker = (int)i,
                               .elapsed_ns = now - v.start_ns,
                               .fn = (ctp_task_fn)v.fn,
                               .arg = (void *)v.arg,
                               .label = (const char *)v.label,
                               .queued = queued };
        report(pool, &r);
    }
    uint64_t p = progress(pool);
    if (queued == 0 || p != q->last_progress) {
        q->last_progress = p;
        q->since_ns = now;
        q->reported = false;
    } else if (!q->reported && now - q->since_ns >= stall) {
        q->reported = true;
        ctp_stall_report r = { .kind = CTP_STALL_QUEUE,
                               .worker = -1,
                               .elapsed_ns = now - q->since_ns,
                               .fn = NULL,
                               .arg = NULL,
                               .label = NULL,
                               .queued = queued };
        report(pool, &r);
    }
}

/* Fires the watches whose deadline passed (lock held; dropped around each
 * callback, during which the watch is marked firing). Returns the earliest
 * deadline still ahead, or CTP_WAIT_FOREVER. */
static uint64_t fire_watches_locked(ctp__monitor *m)
{
    uint64_t now = ctp__now_ns(), next = CTP_WAIT_FOREVER;
    bool again = true;
    while (again) {
        again = false;
        next = CTP_WAIT_FOREVER;
        for (ctp__watch *w = m->watches; w != NULL; w = w->next) {
            if (w->fired)
                continue;
            if (w->deadline > now) {
                if (w->deadline < next)
                    next = w->deadline;
                continue;
            }
            w->fired = w->firing = true;
            pthread_mutex_unlock(&m->lock);
            w->fire(w->ctx, now);
            pthread_mutex_lock(&m->lock);
            w->firing = false;
            pthread_cond_broadcast(&m->watch_cv);
            again = true; /* the list may have changed meanwhile */
            now = ctp__now_ns();
            break;
        }
    }
    return next;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Whether a worker is inside a task run: parked in a helping wait (a group
 * wait, a handle wait) counts as parked, but its task has not ended and
 * may stall there. Call after the seq_cst load of the parked count: a
 * worker parks after it published its run's depth (release), and enters a
 * run only awake, which pokes an idle monitor. */
static bool any_worker_in_task(ctp_pool *pool)
{
    for (uint32_t i = 0; i < pool->nworkers; i++)
        if (ctp__live_running(&pool->workers[i]->live))
            return true;
    return false;
}

static void *monitor_main(void *arg)
{
    ctp_pool *pool = arg;
    ctp__monitor *m = &pool->monitor;
    char name[16];
    snprintf(name, sizeof name, "%.*s-mon", (int)ctp__utf8_fit(pool->name, 9), pool->name);
    pthread_setname_np(pthread_self(), name);
    (void)ctp__cancel_off(); /* its waits and reports are never cancellation points */
    /* on_overrun and on_stall may wait or help: never run tasks on this
     * thread's small stack (nor block the monitor behind them). */
    ctp__tls_get()->runs_no_tasks = true;
    bool stalls = pool->config.stall_ns != 0;
    uint64_t period = pool->config.stall_ns / 4;
    episode q = { progress(pool), ctp__now_ns(), false };
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        uint64_t next = fire_watches_locked(m); /* tick budgets */
        if (m->stop)
            break;
        if (!stalls) {
            ctp__cond_wait_until(&m->cv, &m->lock, next);
            atomic_fetch_add_explicit(&m->wakeups, 1, memory_order_relaxed); /* relaxed: a statistic */
            continue;
        }
        /* Every worker parked, none inside a task: nothing can stall until
         * one wakes (and pokes us). Seq_cst: idle is set before the parked
         * count is read; a worker leaving its park is counted out (seq_cst)
         * before it reads idle in ctp__monitor_poke. Either we see it awake
         * or it sees us idle and signals, under our lock, once we wait. A
         * worker parked inside a task (its helping wait) keeps us checking:
         * that task may be the stall. */
        atomic_store_explicit(&m->idle, true, memory_order_seq_cst);
        if (ctp__sleep_parked_sync(&pool->sleep) == pool->nworkers && !any_worker_in_task(pool)) {
            ctp__cond_wait_until(&m->cv, &m->lock, next);
            atomic_store_explicit(&m->idle, false, memory_order_relaxed); /* under the lock */
            atomic_fetch_add_explicit(&m->wakeups, 1, memory_order_relaxed); /* relaxed: a statistic */
            q.last_progress = progress(pool);
            q.since_ns = ctp__now_ns();
            q.reported = false;
            continue;
        }
        atomic_store_explicit(&m->idle, false, memory_order_relaxed); /* under the lock */
        ctp__cond_wait_until(&m->cv, &m->lock, min_u64(ctp__deadline(period), next));
        atomic_fetch_add_explicit(&m->wakeups, 1, memory_order_relaxed); /* relaxed: a statistic */
        if (m->stop)
            break;
        pthread_mutex_unlock(&m->lock);
        check(pool, &q);
        pthread_mutex_lock(&m->lock);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

int ctp__monitor_init(ctp_pool *pool)
{
    ctp__monitor *m = &pool->monitor;
    m->reported = ctp__calloc((size_t)pool->nworkers * CTP__MONITOR_REMEMBER, sizeof *m->reported);
    m->reported_next = ctp__calloc(pool->nworkers, sizeof *m->reported_next);
    if (m->reported == NULL || m->reported_next == NULL)
        return CTP_ENOMEM;
    if (pthread_mutex_init(&m->lock, NULL) != 0)
        return CTP_ENOMEM;
    if (ctp__cond_init_monotonic(&m->cv) != 0) {
        pthread_mutex_destroy(&m->lock);
        return CTP_ENOMEM;
    }
    if (pthread_cond_init(&m->watch_cv, NULL) != 0) {
        pthread_cond_destroy(&m->cv);
        pthread_mutex_destroy(&m->lock);
        return CTP_ENOMEM;
    }
    m->ready = true;
    return CTP_OK;
}

/* Lock held. */
static int start_locked(ctp_pool *pool)
{
    ctp__monitor *m = &pool->monitor;
    if (m->started)
        return CTP_OK;
    if (m->stop)
        return CTP_ESHUTDOWN;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return CTP_ENOMEM;
    pthread_attr_setstacksize(&attr, 64 * 1024 + 16384);
    m->started = ctp__thread_create(&m->thread, &attr, monitor_main, pool) == 0;
    pthread_attr_destroy(&attr);
    return m->started ? CTP_OK : CTP_ENOMEM;
}

int ctp__monitor_start(ctp_pool *pool)
{
    if (pool->config.stall_ns == 0)
        return CTP_OK;
    pthread_mutex_lock(&pool->monitor.lock);
    int rc = start_locked(pool);
    pthread_mutex_unlock(&pool->monitor.lock);
    return rc;
}

int ctp__monitor_watch(ctp_pool *pool, ctp__watch *w)
{
    ctp__monitor *m = &pool->monitor;
    pthread_mutex_lock(&m->lock);
    int rc = start_locked(pool);
    if (rc == CTP_OK) {
        w->fired = w->firing = false;
        w->next = m->watches;
        m->watches = w;
        pthread_cond_signal(&m->cv); /* it recomputes its next deadline */
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Lock held: is the calling thread the monitor thread? */
static bool is_self_locked(const ctp__monitor *m)
{
    return m->started && pthread_equal(m->thread, pthread_self());
}

bool ctp__monitor_is_self(ctp_pool *pool)
{
    ctp__monitor *m = &pool->monitor;
    if (!m->ready)
        return false;
    pthread_mutex_lock(&m->lock);
    bool self = is_self_locked(m);
    pthread_mutex_unlock(&m->lock);
    return self;
}

bool ctp__monitor_firing_here(ctp_pool *pool, const ctp__watch *w)
{
    ctp__monitor *m = &pool->monitor;
    pthread_mutex_lock(&m->lock);
    bool here = w->firing && is_self_locked(m);
    pthread_mutex_unlock(&m->lock);
    return here;
}

int ctp__monitor_unwatch(ctp_pool *pool, ctp__watch *w, int (*help)(void *ctx), void *ctx, uint64_t deadline,
                         bool *fired_out)
{
    ctp__monitor *m = &pool->monitor;
    pthread_mutex_lock(&m->lock);
    while (w->firing) {
        /* The deadline before every task, as a group wait: with work that
         * keeps coming, the help below would otherwise run past it for as
         * long as the callback runs (test tick_end_times_out_while_overrun_runs). */
        if (ctp__now_ns() >= deadline) {
            pthread_mutex_unlock(&m->lock);
            return CTP_ETIMEDOUT;
        }
        /* The callback may wait for a task that only this thread can run
         * (a one-worker pool's worker ends its tick): run tasks meanwhile,
         * and between them look at the callback at least every millisecond. */
        pthread_mutex_unlock(&m->lock);
        int ran = help != NULL ? help(ctx) : 0;
        pthread_mutex_lock(&m->lock);
        if (ran != 0 || !w->firing)
            continue;
        uint64_t again = ctp__now_ns() + CTP__RECHECK_NS;
        ctp__cond_wait_until(&m->watch_cv, &m->lock, again < deadline ? again : deadline);
    }
    for (ctp__watch **pp = &m->watches; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    *fired_out = w->fired;
    pthread_mutex_unlock(&m->lock);
    return CTP_OK;
}

void ctp__monitor_stop(ctp_pool *pool)
{
    ctp__monitor *m = &pool->monitor;
    if (!m->ready)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_signal(&m->cv);
    bool started = m->started;
    pthread_mutex_unlock(&m->lock);
    if (started)
        ctp__thread_join(m->thread);
    pthread_mutex_lock(&m->lock);
    m->started = false;
    pthread_mutex_unlock(&m->lock);
}

void ctp__monitor_destroy(ctp_pool *pool)
{
    ctp__monitor *m = &pool->monitor;
    ctp__monitor_stop(pool);
    if (m->ready) {
        pthread_mutex_destroy(&m->lock);
        pthread_cond_destroy(&m->cv);
        pthread_cond_destroy(&m->watch_cv);
        m->ready = false;
    }
    free(m->reported);
    free(m->reported_next);
    m->reported = NULL;
    m->reported_next = NULL;
}

void ctp__monitor_poke(ctp_pool *pool)
{
    ctp__monitor *m = &pool->monitor;
    /* Seq_cst: after our parked count went down (seq_cst); pairs with the
     * monitor's store of idle before it reads the parked count. idle is
     * only ever true while the monitor runs (its lock is valid). */
    if (!atomic_load_explicit(&m->idle, memory_order_seq_cst))
        return;
    pthread_mutex_lock(&m->lock);
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->lock);
}
