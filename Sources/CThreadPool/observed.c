/* The observed half of a task run (observed.h). */
#include "observed.h"

void ctp__trace_record(ctp_pool *pool, int worker, ctp__event *e)
{
    ctp__trace *tr = ctp__trace_running(&pool->trace);
    if (tr == NULL)
        return;
    CTP__HOOK(pool, CTP_HOOK_TRACE_WRITE);
    if (e->ts_ns == 0)
        e->ts_ns = ctp__now_ns();
    if (worker < 0)
        ctp__trace_emit_shared(&pool->trace, tr, e);
    else
        ctp__trace_emit(&pool->trace, tr, (uint32_t)worker, e);
}

static ctp__tick_slot *tick_slot(ctp__tickrec *tr, ctp__worker *w)
{
    if (w != NULL)
        return &tr->slots[w->index];
    pthread_mutex_lock(&tr->outside_lock); /* outside threads share a slot */
    return &tr->slots[tr->nslots - 1];
}

static void tick_slot_done(ctp__tickrec *tr, ctp__worker *w)
{
    if (w == NULL)
        pthread_mutex_unlock(&tr->outside_lock);
}

void ctp__observe_begin(ctp_pool *pool, ctp__worker *w, unsigned observe, const run_info *t, uint64_t serial,
                          observed *o)
{
    uint64_t now = ctp__now_ns();
    o->start = now;
    o->tick = NULL;
    struct ctp_group *g = t->group;
    const char *label = t->label;
    ctp_task_fn fn = t->fn;
    if (observe >= CTP__OBSERVE_TICK_ONE && g != NULL && g->tick != NULL && !t->cancelled) {
        ctp__tickrec *tr = o->tick = g->tick;
        ctp__tick_slot *s = tick_slot(tr, w);
        if (s->depth++ == 0)
            s->outer_start = now;
        if (s->first_start == 0)
            s->first_start = now;
        uint64_t wait = t->submit_ns != 0 && now > t->submit_ns ? now - t->submit_ns : 0;
        s->hist[ctp__hist_bucket(wait)]++;
        if (wait > s->wait_max)
            s->wait_max = wait;
        s->started_late += now > tr->deadline_ns;
        tick_slot_done(tr, w);
    }
    if ((observe & CTP__OBSERVE_TRACE) == 0)
        return;
    if (w != NULL && w->stolen_serial == serial) {
        ctp__event s = { .ts_ns = now, .type = CTP__EV_STEAL };
        ctp__trace_record(pool, (int)w->index, &s);
    }
    ctp__event e = { .ts_ns = now,
                     .what = label != NULL ? (uintptr_t)label : (uintptr_t)fn,
                     .is_label = label != NULL,
                     .type = CTP__EV_BEGIN,
                     .priority = (uint8_t)t->priority,
                     .node = (int8_t)t->node };
    ctp__trace_record(pool, w != NULL ? (int)w->index : -1, &e);
}

void ctp__observe_end(ctp_pool *pool, ctp__worker *w, unsigned observe, ctp_task_fn fn, const char *label,
                        const observed *o)
{
    uint64_t now = 0;
    if (o->tick != NULL) {
        now = ctp__now_ns();
        ctp__tickrec *tr = o->tick;
        ctp__tick_slot *s = tick_slot(tr, w);
        uint64_t ran = now - o->start;
        s->task_ns += ran;
        s->tasks++;
        s->finished_late += now > tr->deadline_ns;
        if (ran > s->longest_ns) {
            s->longest_ns = ran;
            s->longest_fn = (uintptr_t)fn;
            s->longest_label = (uintptr_t)label;
        }
        if (--s->depth == 0)
            s->busy_ns += now - s->outer_start;
        tick_slot_done(tr, w);
    }
    if ((observe & CTP__OBSERVE_TRACE) == 0)
        return;
    ctp__event e = { .ts_ns = now, .type = CTP__EV_END }; /* 0: stamped by the record */
    ctp__trace_record(pool, w != NULL ? (int)w->index : -1, &e);
}
