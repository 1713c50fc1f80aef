/* Submission: validation, then a worker's own deque or the injection queue,
 * then the wake decision (ctp__notify, i.e. ctp__sleep_new_work). Batches are all or none. */
#include "observed.h"
#include "pinned.h"

#include <stdlib.h> /* free */
#include <string.h>

void ctp_task_desc_init(ctp_task_desc *desc, ctp_task_fn fn, void *arg)
{
    if (desc == NULL)
        return;
    desc->fn = fn;
    desc->arg = arg;
    desc->on_cancel = NULL;
    desc->priority = CTP_PRIORITY_NORMAL;
    desc->group = NULL;
    desc->label = NULL;
    desc->pinned = NULL;
    desc->node = -1;
}

static int validate(ctp_pool *pool, const ctp_task_desc *d)
{
    if (d->fn == NULL)
        return CTP_EINVAL;
    if ((unsigned)d->priority >= (unsigned)CTP_PRIORITY_COUNT)
        return CTP_EINVAL;
    if (d->node < -1 || d->node >= pool->topo.nodes)
        return CTP_EINVAL;
    if (d->group != NULL && d->group->pool != pool)
        return CTP_EINVAL;
    return CTP_OK;
}

/* The payloads of ctp_submit_inline / ctp_submit_batch_inline: item i's
 * `size` bytes at data + i * stride. NULL for ordinary submissions. */
typedef struct ctp__payload {
    char *data;
    size_t size, stride;
    ctp_relocate_fn relocate;
} ctp__payload;

/* Moves item i's payload into its node: called only once every check of the
 * whole submission has passed, so a refused one moves nothing. */
static void place_payload(ctp__task *t, const ctp__payload *pl, size_t i)
{
    if (pl == NULL)
        return;
    t->has_payload = 1;
    if (pl->size == 0)
        return;
    void *src = pl->data + i * pl->stride;
    if (pl->relocate != NULL)
        pl->relocate(t->payload, src);
    else
        memcpy(t->payload, src, pl->size);
}

/* The node a task is placed on: -1 for none. With NUMA off every affinity
 * is node 0; an affinity for a node without workers goes to the nearest
 * node that has some. */
static int home_node(ctp_pool *pool, int node)
{
    if (node < 0)
        return -1;
    if (pool->nnodes == 1)
        return 0;
    if (pool->worker_first[node + 1] > pool->worker_first[node])
        return node;
    int best = -1;
    for (int m = 0; m < pool->nnodes; m++)
        if (pool->worker_first[m + 1] > pool->worker_first[m] &&
            (best < 0 || pool->topo.distance[node][m] < pool->topo.distance[node][best]))
            best = m;
    return best;
}

/* The injector for a task placed on `home` (-1: the node-less one). */
static int injector_index(ctp_pool *pool, int home)
{
    return home < 0 ? pool->nnodes : home;
}

/* The submission time to stamp tasks with while a tick records (0 otherwise:
 * no clock read). Relaxed: a hint; a tick is opened before its tasks are
 * submitted, usually by the same thread. */
static uint64_t submit_stamp(ctp_pool *pool)
{
    return atomic_load_explicit(&pool->observe, memory_order_relaxed) >= CTP__OBSERVE_TICK_ONE ||
                   (pool->config.remote_steal_delay_ns != 0 && pool->nnodes > 1) /* grace periods need the age */
               ? ctp__now_ns()
               : 0;
}

static void fill(ctp__task *t, const ctp_task_desc *d, bool holds_capacity, int home, uint64_t stamp)
{
    t->submit_ns = stamp;
    t->fn = d->fn;
    t->arg = d->arg;
    t->on_cancel = d->on_cancel;
    t->group = d->group;
    t->priority = (uint8_t)d->priority;
    t->holds_capacity = holds_capacity;
    t->has_payload = 0;
    t->node = (int16_t)home;
    t->label = d->label;
    t->next = NULL;
}

static void count_groups(const ctp_task_desc *descs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (descs[i].group != NULL)
            ctp__latch_add(&descs[i].group->latch, 1); /* published with the task */
}

/* What the validation pass learnt about a batch, so that later steps need
 * not walk its descriptors again (a walk of 1 M descriptors is 64 MB). */
typedef struct batch_shape {
    struct ctp_group *group; /* descs[0].group */
    bool one_group;          /* every task has that group (NULL or not) */
    int injector;            /* the injector every task goes to; -1: several */
} batch_shape;

/* count_groups, with one add when every task has the same group. */
static void count_shaped_groups(const batch_shape *sh, const ctp_task_desc *descs, size_t count)
{
    if (!sh->one_group)
        count_groups(descs, count);
    else if (sh->group != NULL)
        ctp__latch_add(&sh->group->latch, count); /* published with the tasks */
}

/* From a worker of the pool: onto its own deque. */
static int submit_local(ctp__worker *w, const ctp_task_desc *descs, size_t count, const ctp__payload *pl,
                        const batch_shape *sh)
{
    ctp_pool *pool = w->pool;
    uint64_t stamp = submit_stamp(pool);
    if (count == 1) {
        /* One task (the executor's and a spawning task's case): room first,
         * so nothing below can fail and no payload moves unless it is
         * queued; none of the batch path's per-level bookkeeping. */
        ctp__deque *d = &w->deques[descs[0].priority];
        if (ctp__deque_reserve(d, 1) != 0)
            return CTP_ENOMEM;
        ctp__task *t = ctp__task_alloc(&w->cache, &pool->depots[w->node]);
        if (t == NULL)
            return CTP_ENOMEM;
        fill(t, &descs[0], false, home_node(pool, descs[0].node), stamp);
        place_payload(t, pl, 0);
        count_groups(descs, 1);
        ctp__count_release(&w->submitted, 1); /* before publishing: see the quiescence check */
        (void)ctp__deque_push(d, t);   /* cannot fail: room reserved above */
    } else {
        /* Reserve room on every level first, so the pushes cannot fail (and
         * no payload is moved unless every task will be queued). */
        int64_t per_level[CTP_PRIORITY_COUNT] = { 0 };
        for (size_t i = 0; i < count; i++)
            per_level[descs[i].priority]++;
        for (int p = 0; p < CTP_PRIORITY_COUNT; p++)
            if (per_level[p] > 0 && ctp__deque_reserve(&w->deques[p], per_level[p]) != 0)
                return CTP_ENOMEM;
        ctp__task *list = NULL;
        for (size_t i = 0; i < count; i++) {
            ctp__task *t = ctp__task_alloc(&w->cache, &pool->depots[w->node]);
            if (t == NULL) {
                while (list != NULL) {
                    ctp__task *next = list->next;
                    ctp__task_free(&w->cache, &pool->depots[w->node], list);
                    list = next;
                }
                return CTP_ENOMEM;
            }
            t->next = list;
            list = t;
        }
        count_shaped_groups(sh, descs, count);
        ctp__count_release(&w->submitted, count); /* before publishing: see the quiescence check */
        for (size_t i = 0; i < count; i++) {
            ctp__task *t = list;
            list = list->next;
            fill(t, &descs[i], false, home_node(pool, descs[i].node), stamp);
            place_payload(t, pl, i);
            (void)ctp__deque_push(&w->deques[t->priority], t);
        }
    }
    unsigned bits = 0;
    for (size_t i = 0; i < count; i++)
        bits |= 1u << descs[i].priority;
    w->local_mask |= bits;
    ctp__steal_hint_set(&pool->steal_hints[w->node], bits);
    /* The full wake decision even behind work already queued: see
     * docs/scheduler.md, "Pushing behind work". */
    ctp__notify(pool, count, -1, true); /* a worker: it runs tasks next */
    return CTP_OK;
}

/* Under the locks of the injectors a submission uses: whether the pool
 * takes count more tasks (CTP_OK, CTP_ESHUTDOWN or CTP_EFULL). *reserved:
 * they were counted in ext_queued here (a caller that fails after this
 * subtracts them again). */
static int admit(ctp_pool *pool, size_t count, bool inside, bool *reserved)
{
    size_t cap = pool->config.queue_capacity;
    *reserved = false;
    /* Relaxed, under the injector locks: state changes only under all of them. */
    if (!inside && atomic_load_explicit(&pool->state, memory_order_relaxed) != CTP__RUNNING)
        return CTP_ESHUTDOWN;
    if (inside || cap == 0)
        return CTP_OK;
    /* Reserve with a compare-and-swap that only succeeds within the bound,
     * so submitters holding different injectors' locks cannot both pass it
     * (each sees the other's reservation), and a refused one never adds:
     * an add undone after the refusal made a concurrent submission that
     * fits see the overshoot and fail too. Relaxed: the count is the only
     * thing it protects. */
    if (count > cap)
        return CTP_EFULL; /* never fits */
    size_t cur = atomic_load_explicit(&pool->ext_queued, memory_order_relaxed);
    do {
        if (cur > cap - count)
            return CTP_EFULL;
    } while (!atomic_compare_exchange_weak_explicit(&pool->ext_queued, &cur, cur + count, memory_order_relaxed,
                                                    memory_order_relaxed));
    *reserved = true;
    return CTP_OK;
}

/* An admitted submission of count tasks, before its first task is
 * published: groups, the quiescence count, the capacity count. */
static void count_admitted(ctp_pool *pool, const batch_shape *sh, const ctp_task_desc *descs, size_t count,
                           bool inside, bool reserved)
{
    count_shaped_groups(sh, descs, count);
    /* Before publishing: see the quiescence check. Release: pairs with its acquire loads. */
    atomic_fetch_add_explicit(&pool->ext_submitted, count, memory_order_release);
    if (!inside && !reserved)
        atomic_fetch_add_explicit(&pool->ext_queued, count, memory_order_relaxed);
}

static void count_refused(ctp_pool *pool, int rc)
{
    if (rc == CTP_ESHUTDOWN || rc == CTP_EFULL)
        atomic_fetch_add_explicit(&pool->rejected, 1, memory_order_relaxed);
}

/* Busy after: a task's code (it returns to its worker or helper loop), or,
 * we guess, the submitter of a batch for any node (it helps or computes
 * next). A batch for one node is often one of several, one per node, made
 * before the submitter blocks: keeping each node's worker off this CPU
 * stacked them on the others (a simulated two-node zones tick ran at half
 * speed), so those are left to the kernel, like single tasks (sleep.h). */
static bool busy_after(bool inside, size_t count, int wake_node)
{
    return inside || (count > 1 && wake_node < 0);
}

/* The node whose workers a batch wakes first: its one node, if all its
 * tasks are for one node of a pool with several; else -1. */
static int batch_wake_node(ctp_pool *pool, const batch_shape *sh)
{
    return pool->nnodes > 1 && sh->injector >= 0 && sh->injector < pool->nnodes ? sh->injector : -1;
}

/* A batch larger than this, all for one injector, is published in chunks
 * of this many, each followed by its wake decision: the workers start on
 * the first chunk while the rest is queued, and the injector's lock is
 * never held for more than one chunk (a one-lock publish of 1 M tasks held
 * it for 170 ms on the 2-vCPU VM, with every worker parked meanwhile). */
enum { CTP__PUBLISH_CHUNK = 256 };

/* The nodes a chunked publish takes up front: for a batch bound for one
 * injector, one run from its depot; for a batch over several, one run per
 * injector involved (allocated: a batch this large is rare, and 65 runs on
 * the stack would be 1.5 KB). */
typedef struct chunk_nodes {
    ctp__task_run one;
    ctp__task_run *runs; /* per injector, or NULL for `one` */
    bool involved[CTP__MAX_NODES + 1];
} chunk_nodes;

static void chunk_nodes_return(ctp_pool *pool, chunk_nodes *cn)
{
    if (cn->runs == NULL) {
        for (int j = 0; j <= pool->nnodes; j++)
            if (cn->involved[j])
                ctp__task_run_return(&cn->one, pool->injs[j].depot);
        return;
    }
    for (int j = 0; j <= pool->nnodes; j++)
        if (cn->involved[j])
            ctp__task_run_return(&cn->runs[j], pool->injs[j].depot);
    free(cn->runs);
    cn->runs = NULL;
}

/* Takes the nodes of the whole batch, all or none. */
static int chunk_nodes_take(ctp_pool *pool, const ctp_task_desc *descs, size_t count, const batch_shape *sh,
                            chunk_nodes *cn)
{
    memset(cn->involved, 0, sizeof cn->involved);
    cn->runs = NULL;
    if (sh->injector >= 0) {
        if (ctp__depot_take(pool->injs[sh->injector].depot, count, &cn->one) != CTP_OK)
            return CTP_ENOMEM;
        cn->involved[sh->injector] = true;
        return CTP_OK;
    }
    cn->runs = ctp__calloc((size_t)pool->nnodes + 1, sizeof *cn->runs);
    if (cn->runs == NULL)
        return CTP_ENOMEM;
    for (size_t i = 0; i < count; i++)
        cn->runs[injector_index(pool, home_node(pool, descs[i].node))].count++; /* the need, for now */
    for (int j = 0; j <= pool->nnodes; j++) {
        size_t need = cn->runs[j].count;
        cn->runs[j].count = 0;
        if (need == 0)
            continue;
        if (ctp__depot_take(pool->injs[j].depot, need, &cn->runs[j]) != CTP_OK) {
            chunk_nodes_return(pool, cn); /* the runs taken so far */
            return CTP_ENOMEM;
        }
        cn->involved[j] = true;
    }
    return CTP_OK;
}

/* The chunked publish of a large batch; all or none still: the nodes of the
 * whole batch are taken before anything is checked, the pool admits the
 * whole batch under the locks before the first chunk is published, and once
 * admitted nothing can fail (a shutdown that starts meanwhile sees the
 * whole batch counted in ext_submitted and waits for it, drained or
 * cancelled as a queued task would be). */
static int submit_chunked(ctp_pool *pool, const ctp_task_desc *descs, size_t count, bool inside,
                          const ctp__payload *pl, const batch_shape *sh)
{
    chunk_nodes cn;
    if (chunk_nodes_take(pool, descs, count, sh, &cn) != CTP_OK)
        return CTP_ENOMEM;
    int wake_node = batch_wake_node(pool, sh);
    bool busy = busy_after(inside, count, wake_node);
    uint64_t stamp = submit_stamp(pool);
    bool reserved;
    for (size_t i = 0; i < count;) {
        size_t end = count - i > CTP__PUBLISH_CHUNK ? i + CTP__PUBLISH_CHUNK : count;
        /* Filled outside the locks: the nodes are ours until pushed.
         * Payloads move in only once the batch is admitted: after the first
         * chunk, here (a relocate callback never runs under a lock then). */
        ctp__task *chunk = NULL, **tail = &chunk;
        for (size_t k = i; k < end; k++) {
            int home = home_node(pool, descs[k].node);
            ctp__task_run *run = cn.runs != NULL ? &cn.runs[injector_index(pool, home)] : &cn.one;
            ctp__task *t = ctp__task_run_next(run);
            fill(t, &descs[k], !inside, home, stamp);
            if (i > 0)
                place_payload(t, pl, k);
            *tail = t;
            tail = &t->next;
        }
        ctp__injectors_lock(pool->injs, pool->nnodes + 1, cn.involved);
        if (i == 0) {
            int rc = admit(pool, count, inside, &reserved);
            if (rc != CTP_OK) {
                ctp__injectors_unlock(pool->injs, pool->nnodes + 1, cn.involved);
                for (ctp__task *t = chunk, *next; t != NULL; t = next) {
                    next = t->next;
                    ctp__task_free_home(t); /* back to its depot (the caches need the locks) */
                }
                chunk_nodes_return(pool, &cn);
                count_refused(pool, rc);
                return rc;
            }
            count_admitted(pool, sh, descs, count, inside, reserved);
        }
        for (size_t k = i; chunk != NULL; k++) {
            ctp__task *t = chunk;
            chunk = t->next;
            if (i == 0)
                place_payload(t, pl, k);
            ctp__injector_push_locked(&pool->injs[injector_index(pool, t->node)], t);
        }
        ctp__injectors_unlock(pool->injs, pool->nnodes + 1, cn.involved);
        if (i == 0 && !inside) {
            ctp__event e = { .type = CTP__EV_SUBMIT, .count = (uint32_t)count };
            ctp__trace_record(pool, -1, &e);
        }
        ctp__notify(pool, end - i, wake_node, busy);
        i = end;
    }
    chunk_nodes_return(pool, &cn);
    return CTP_OK;
}

/* Into the injection queues: from outside the pool, or a worker's tasks
 * for another node. `inside` = the caller is running one of this pool's
 * tasks, so it is never refused. Every injector involved is locked (in
 * index order), so the batch is still all or none. */
static int submit_injected(ctp_pool *pool, const ctp_task_desc *descs, size_t count, bool inside,
                           const ctp__payload *pl, const batch_shape *sh)
{
    if (count > CTP__PUBLISH_CHUNK)
        return submit_chunked(pool, descs, count, inside, pl, sh);
    bool involved[CTP__MAX_NODES + 1] = { false };
    if (sh->injector >= 0)
        involved[sh->injector] = true;
    else
        for (size_t i = 0; i < count; i++)
            involved[injector_index(pool, home_node(pool, descs[i].node))] = true;
    ctp__injectors_lock(pool->injs, pool->nnodes + 1, involved);
    bool reserved;
    int rc = admit(pool, count, inside, &reserved);
    ctp__task *list = NULL, **tail = &list;
    uint64_t stamp = submit_stamp(pool);
    for (size_t i = 0; rc == CTP_OK && i < count; i++) {
        int home = home_node(pool, descs[i].node);
        ctp__injector *inj = &pool->injs[injector_index(pool, home)];
        ctp__task *t = ctp__task_alloc(&inj->cache, inj->depot);
        if (t == NULL) {
            while (list != NULL) {
                ctp__task *next = list->next;
                ctp__injector *back = &pool->injs[injector_index(pool, list->node)];
                ctp__task_free(&back->cache, back->depot, list);
                list = next;
            }
            rc = CTP_ENOMEM;
            if (reserved)
                atomic_fetch_sub_explicit(&pool->ext_queued, count, memory_order_relaxed);
            break;
        }
        fill(t, &descs[i], !inside, home, stamp);
        *tail = t;
        tail = &t->next;
    }
    if (rc == CTP_OK) {
        count_admitted(pool, sh, descs, count, inside, reserved);
        for (size_t i = 0; list != NULL; i++) {
            ctp__task *t = list;
            list = list->next;
            place_payload(t, pl, i);
            ctp__injector_push_locked(&pool->injs[injector_index(pool, t->node)], t);
        }
    }
    ctp__injectors_unlock(pool->injs, pool->nnodes + 1, involved);
    count_refused(pool, rc);
    if (rc == CTP_OK && !inside) {
        ctp__event e = { .type = CTP__EV_SUBMIT, .count = (uint32_t)count };
        ctp__trace_record(pool, -1, &e);
    }
    if (rc == CTP_OK) {
        int wake_node = batch_wake_node(pool, sh);
        ctp__notify(pool, count, wake_node, busy_after(inside, count, wake_node));
    }
    return rc;
}

/* A refused pinned submission: its nodes go back, q->lock is released. */
static int refuse_pinned(ctp_pinned *q, ctp__task *list, int rc)
{
    while (list != NULL) {
        ctp__task *next = list->next;
        ctp__pinned_free_locked(q, list);
        list = next;
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

/* Pinned tasks: onto their owner's queue, nowhere a worker looks. */
static int submit_pinned(ctp_pool *pool, ctp_pinned *q, const ctp_task_desc *descs, size_t count,
                         const ctp__payload *pl)
{
    if (q->pool != pool)
        return CTP_EINVAL;
    bool inside = ctp__is_inside(pool);
    uint64_t stamp = submit_stamp(pool);
    pthread_mutex_lock(&q->lock);
    ctp__task *list = NULL, **tail = &list;
    for (size_t i = 0; i < count; i++) {
        ctp__task *t = ctp__pinned_alloc_locked(q);
        if (t == NULL)
            return refuse_pinned(q, list, CTP_ENOMEM);
        fill(t, &descs[i], false, -1, stamp);
        *tail = t;
        tail = &t->next;
    }
    /* The state check and the count under an injector lock (the node-less
     * one): the shutdown changes the state under every injector lock, so
     * either it sees these tasks counted (and waits for them) or we see it
     * and refuse, as in submit_injected. (Checked before, without the lock,
     * a submission could slip past a shutdown that had already found the
     * pool quiescent: accepted, then run on a STOPPED pool.) Lock order:
     * q->lock, then the injector's; nothing takes them the other way. */
    ctp__injector *gate = &pool->injs[pool->nnodes];
    pthread_mutex_lock(&gate->lock);
    /* Relaxed, under the injector lock: state changes only under all of them. */
    if (!inside && atomic_load_explicit(&pool->state, memory_order_relaxed) != CTP__RUNNING) {
        pthread_mutex_unlock(&gate->lock);
        atomic_fetch_add_explicit(&pool->rejected, 1, memory_order_relaxed); /* relaxed: a statistic */
        return refuse_pinned(q, list, CTP_ESHUTDOWN);
    }
    count_groups(descs, count);
    /* Before publishing: see the quiescence check. Release: pairs with its acquire loads. */
    atomic_fetch_add_explicit(&pool->ext_submitted, count, memory_order_release);
    pthread_mutex_unlock(&gate->lock);
    for (size_t i = 0; list != NULL; i++) {
        ctp__task *t = list;
        list = list->next;
        place_payload(t, pl, i);
        ctp__pinned_push_locked(q, t);
    }
    pthread_mutex_unlock(&q->lock);
    /* While the pool shuts down its owner may be the shutdown's waiter,
     * which runs its own pinned tasks (ctp_pool_shutdown): wake it. After
     * q->lock is released: the waiter takes life_lock first. */
    ctp__lifecycle_poke_if_stopping(pool);
    return CTP_OK;
}

static int submit(ctp_pool *pool, const ctp_task_desc *descs, size_t count, const ctp__payload *pl)
{
    if (ctp__forked(pool))
        return CTP_EINVAL;
    if (descs[0].pinned != NULL || descs[count - 1].pinned != NULL) {
        for (size_t i = 0; i < count; i++) {
            if (descs[i].pinned != descs[0].pinned)
                return CTP_EINVAL; /* all pinned to one queue, or none */
            int rc = validate(pool, &descs[i]);
            if (rc != CTP_OK)
                return rc;
        }
        return submit_pinned(pool, descs[0].pinned, descs, count, pl);
    }
    /* One pass over the descriptors: validity, and the batch's shape. */
    bool local = true;
    ctp__worker *w = ctp__current_worker(pool);
    batch_shape sh = { .group = descs[0].group, .one_group = true, .injector = -2 };
    for (size_t i = 0; i < count; i++) {
        if (descs[i].pinned != NULL)
            return CTP_EINVAL; /* pinned in the middle of an unpinned batch */
        int rc = validate(pool, &descs[i]);
        if (rc != CTP_OK)
            return rc;
        sh.one_group = sh.one_group && descs[i].group == sh.group;
        int home = home_node(pool, descs[i].node);
        int idx = injector_index(pool, home);
        sh.injector = sh.injector == -2 || sh.injector == idx ? idx : -1;
        local = local && (home < 0 || (w != NULL && home == w->node));
    }
    if (w != NULL && local)
        return submit_local(w, descs, count, pl, &sh);
    return submit_injected(pool, descs, count, w != NULL || ctp__is_inside(pool), pl, &sh);
}

int ctp_submit_batch(ctp_pool *pool, const ctp_task_desc *descs, size_t count)
{
    if (pool == NULL || (descs == NULL && count > 0) || ctp__forked(pool))
        return CTP_EINVAL;
    if (count == 0)
        return CTP_OK;
    return submit(pool, descs, count, NULL);
}

int ctp_submit_batch_inline(ctp_pool *pool, const ctp_task_desc *descs, size_t count, void *data, size_t size,
                            size_t stride, ctp_relocate_fn relocate)
{
    if (pool == NULL || (descs == NULL && count > 0) || size > CTP_INLINE_CAPACITY || stride < size ||
        (data == NULL && size > 0 && count > 0) || ctp__forked(pool))
        return CTP_EINVAL;
    if (count > 1 && stride > (SIZE_MAX - size) / (count - 1))
        return CTP_EINVAL; /* the items would end past the address space */
    if (count == 0)
        return CTP_OK;
    ctp__payload pl = { data, size, stride, relocate };
    return submit(pool, descs, count, &pl);
}

int ctp_submit_inline(ctp_pool *pool, const ctp_task_desc *desc, void *data, size_t size,
                      ctp_relocate_fn relocate)
{
    if (desc == NULL)
        return CTP_EINVAL;
    return ctp_submit_batch_inline(pool, desc, 1, data, size, size, relocate);
}

int ctp_submit_desc(ctp_pool *pool, const ctp_task_desc *desc)
{
    if (desc == NULL)
        return CTP_EINVAL;
    return ctp_submit_batch(pool, desc, 1);
}

int ctp_submit(ctp_pool *pool, ctp_priority priority, ctp_task_fn fn, void *arg)
{
    ctp_task_desc d;
    ctp_task_desc_init(&d, fn, arg);
    d.priority = priority;
    return ctp_submit_desc(pool, &d);
}
