/* Tick scopes (ctp_tick_begin / ctp_tick_end): a group whose tasks the worker
 * loop records into per-thread slots (tickrec.h), a budget watched by the
 * monitor thread, and the report put together at the end. */
#include "monitor.h"
#include "scheduler.h"

#include <stdlib.h>
#include <string.h>

struct ctp_tick {
    ctp_pool *pool;
    ctp_group *group;
    ctp_tick_options opts;
    bool recording;         /* counted in pool->observe; group->tick set */
    bool watching;          /* watch is on the monitor's list */
    ctp__watch watch;
    ctp__tickrec rec;
};

static void overrun(void *ctx, uint64_t now_ns)
{
    ctp_tick *t = ctx;
    t->opts.on_overrun(t, now_ns - t->rec.begin_ns, t->opts.overrun_ctx);
}

/* Ends the tick's recording, if it has one: its group's tasks no longer
 * record into it (ctp_tick_end, or a ctp_tick_begin that fails after it
 * started recording). */
static void stop_recording(ctp_tick *t)
{
    if (!t->recording)
        return;
    t->group->tick = NULL;
    atomic_fetch_sub_explicit(&t->pool->observe, CTP__OBSERVE_TICK_ONE, memory_order_relaxed); /* relaxed: a hint */
    t->recording = false;
}

static void free_tick(ctp_tick *t)
{
    free(t->rec.slots);
    pthread_mutex_destroy(&t->rec.outside_lock);
    free(t);
}

int ctp_tick_begin(ctp_pool *pool, const ctp_tick_options *opts, ctp_tick **out_tick)
{
    if (pool == NULL || out_tick == NULL || ctp__forked(pool))
        return CTP_EINVAL;
    *out_tick = NULL;
    ctp_tick_options o;
    if (opts != NULL)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    if (o.on_overrun != NULL && o.budget_ns == 0)
        return CTP_EINVAL;
    ctp_tick *t = ctp__calloc(1, sizeof *t);
    if (t == NULL)
        return CTP_ENOMEM;
    t->pool = pool;
    t->opts = o;
    if (pthread_mutex_init(&t->rec.outside_lock, NULL) != 0) {
        free(t);
        return CTP_ENOMEM;
    }
    bool record = o.report || o.budget_ns != 0;
    t->rec.nslots = pool->nworkers + 1;
    if (record && (t->rec.slots = ctp__calloc(t->rec.nslots, sizeof *t->rec.slots)) == NULL) {
        free_tick(t);
        return CTP_ENOMEM;
    }
    int rc = ctp_group_create(pool, &t->group);
    if (rc != CTP_OK) {
        free_tick(t);
        return rc;
    }
    t->rec.begin_ns = ctp__now_ns();
    /* A budget beyond the clock's range is no deadline (saturate, not wrap). */
    t->rec.deadline_ns =
        o.budget_ns != 0 && o.budget_ns < UINT64_MAX - t->rec.begin_ns ? t->rec.begin_ns + o.budget_ns : UINT64_MAX;
    if (record) {
        /* Before any task of the group is submitted (the submission's
         * publish orders it for the runner); stamps submissions too. And
         * before the watch: the callback may fire at once and submit into
         * the tick (its tasks went unreported, found by an attack on the
         * API, test tick_overrun_at_begin_is_reported). */
        t->group->tick = &t->rec;
        atomic_fetch_add_explicit(&pool->observe, CTP__OBSERVE_TICK_ONE, memory_order_relaxed); /* relaxed: a hint */
        t->recording = true;
    }
    if (o.on_overrun != NULL) {
        t->watch.deadline = t->rec.deadline_ns;
        t->watch.fire = overrun;
        t->watch.ctx = t;
        if ((rc = ctp__monitor_watch(pool, &t->watch)) != CTP_OK) {
            stop_recording(t);
            ctp_group_destroy(t->group);
            free_tick(t);
            return rc;
        }
        t->watching = true;
        CTP__HOOK(pool, CTP_HOOK_TICK_WATCHED);
    }
    *out_tick = t;
    return CTP_OK;
}

ctp_group *ctp_tick_group(ctp_tick *tick)
{
    return tick != NULL ? tick->group : NULL;
}

/* The smallest bucket bound with at least `rank` samples at or below it. */
static uint64_t percentile(const uint32_t *hist, uint64_t total, double q)
{
    if (total == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)total);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < CTP__HIST_BUCKETS; b++) {
        seen += hist[b];
        if (seen >= rank)
            return ctp__hist_upper(b);
    }
    return ctp__hist_upper(CTP__HIST_BUCKETS - 1);
}

static void thread_report(const ctp__tick_slot *s, uint64_t begin, uint64_t wall, bool outside,
                          ctp_tick_thread_report *r)
{
    r->tasks = s->tasks;
    r->busy_ns = s->busy_ns;
    r->waking_ns = s->first_start > begin ? s->first_start - begin : 0;
    uint64_t used = r->busy_ns + r->waking_ns;
    r->idle_ns = outside || used >= wall ? 0 : wall - used;
}

static void make_report(const ctp_tick *t, uint64_t end, ctp_tick_report *r, ctp_tick_thread_report *workers,
                        size_t capacity)
{
    const ctp__tickrec *rec = &t->rec;
    memset(r, 0, sizeof *r);
    if (workers != NULL && capacity > 0) /* zeros where nothing was recorded */
        memset(workers, 0, sizeof *workers * (capacity < t->pool->nworkers ? capacity : t->pool->nworkers));
    r->wall_ns = end - rec->begin_ns;
    r->workers = t->pool->nworkers;
    r->budget_ns = t->opts.budget_ns;
    r->overran = t->opts.budget_ns != 0 && end > rec->deadline_ns;
    if (rec->slots == NULL)
        return;
    /* The merged histogram is 2 KB: on the heap (frames stay small). */
    uint32_t *hist = ctp__calloc(CTP__HIST_BUCKETS, sizeof *hist);
    uint64_t first = UINT64_MAX;
    for (uint32_t i = 0; i < rec->nslots; i++) {
        const ctp__tick_slot *s = &rec->slots[i];
        bool outside = i + 1 == rec->nslots;
        if (outside)
            thread_report(s, rec->begin_ns, r->wall_ns, true, &r->outside);
        else if (i < capacity && workers != NULL)
            thread_report(s, rec->begin_ns, r->wall_ns, false, &workers[i]);
        r->tasks += s->tasks;
        r->task_ns += s->task_ns;
        r->started_past_budget += s->started_late;
        r->finished_past_budget += s->finished_late;
        if (s->first_start != 0 && s->first_start < first)
            first = s->first_start;
        if (s->longest_ns > r->longest_ns) {
            r->longest_ns = s->longest_ns;
            r->longest_fn = (ctp_task_fn)s->longest_fn;
            r->longest_label = (const char *)s->longest_label;
        }
        if (s->wait_max > r->wait_max_ns)
            r->wait_max_ns = s->wait_max;
        if (hist != NULL)
            for (unsigned b = 0; b < CTP__HIST_BUCKETS; b++)
                hist[b] += s->hist[b];
    }
    r->first_start_ns = first != UINT64_MAX && first > rec->begin_ns ? first - rec->begin_ns : 0;
    if (hist != NULL) {
        r->wait_p50_ns = percentile(hist, r->tasks, 0.50);
        r->wait_p99_ns = percentile(hist, r->tasks, 0.99);
        if (r->wait_p50_ns > r->wait_max_ns)
            r->wait_p50_ns = r->wait_max_ns;
        if (r->wait_p99_ns > r->wait_max_ns)
            r->wait_p99_ns = r->wait_max_ns;
        free(hist);
    }
}

/* ctp__monitor_unwatch's help: one task of the pool, as a helping wait. */
static int help_pool(void *pool)
{
    return ctp_pool_help(pool) == 1;
}

int ctp_tick_end(ctp_tick *tick, uint64_t timeout_ns, ctp_tick_report *report, ctp_tick_thread_report *workers,
                 size_t capacity)
{
    if (tick == NULL || (workers == NULL && capacity > 0) || ctp__forked(tick->pool))
        return CTP_EINVAL;
    /* From its own on_overrun: the monitor would wait for this very call to
     * return before it lets go of the tick (and touches it after). Not
     * `watching`, which ctp_tick_begin sets after the watch is registered
     * (the callback may already run): opts is set before, and the watch's
     * registration under the monitor's lock publishes it to that thread. */
    if (tick->opts.on_overrun != NULL && ctp__monitor_firing_here(tick->pool, &tick->watch))
        return CTP_EDEADLK;
    ctp_pool *pool = tick->pool;
    uint64_t deadline = ctp__deadline(timeout_ns);
    uint64_t end;
    for (;;) {
        uint64_t now = ctp__now_ns();
        uint64_t left = deadline == CTP_WAIT_FOREVER ? CTP_WAIT_FOREVER : deadline > now ? deadline - now : 0;
        int rc = ctp_group_wait(tick->group, left);
        if (rc != CTP_OK)
            return rc;
        if (tick->watching) {
            /* Waits out a running callback, helping (it may wait for a task
             * that only this thread can run); none starts after. */
            bool fired;
            rc = ctp__monitor_unwatch(pool, &tick->watch, help_pool, pool, deadline, &fired);
            if (rc != CTP_OK)
                return rc;
            tick->watching = false;
            /* The callback, or another thread, may have submitted into the
             * tick after the wait returned: wait for those too, still
             * watched if the budget has not fired (best effort: a watch
             * that cannot be registered again leaves the tick unwatched). */
            if (!ctp__latch_done(&tick->group->latch) && !fired &&
                ctp__monitor_watch(pool, &tick->watch) == CTP_OK)
                tick->watching = true;
        }
        if (ctp__latch_done(&tick->group->latch)) {
            /* After the unwatch: tasks its help ran are inside the wall. */
            end = ctp__now_ns();
            break;
        }
    }
    stop_recording(tick);
    /* Refused only if a task was added (by a thread that raced this call)
     * after the last check, or another thread still leaves a wait on the
     * group: wait it out. Its tasks record into the tick, read and freed
     * below. */
    while (ctp_group_destroy(tick->group) != CTP_OK)
        (void)ctp_group_wait(tick->group, CTP_WAIT_FOREVER);
    ctp_tick_report unasked; /* the workers' share was asked for without the report */
    if (report != NULL || (workers != NULL && capacity > 0))
        make_report(tick, end, report != NULL ? report : &unasked, workers, capacity);
    free_tick(tick);
    return CTP_OK;
}
