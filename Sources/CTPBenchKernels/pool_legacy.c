/* The "before" picture: the work-stealing pool of background document 003
 * (an incident report the project started from, kept outside this
 * repository), reproduced from its description, not fixed:
 * - each worker owns one queue per priority; Submit() picks a worker round
 *   robin, queues the task there and wakes that one worker only (a safety
 *   net wakes everyone when more than 2 tasks per worker are queued);
 * - an idle worker tries to steal, and between failed attempts sleeps with
 *   an exponential backoff (10 us doubling, capped at 1 ms) that new work
 *   cannot interrupt;
 * - then it waits on its condition variable with the configured 1 ms
 *   workerSleepTime, i.e. it polls every millisecond.
 * The document does not give the number of steal attempts; 8 reaches the
 * 1 ms cap. The sleep/wake flag ordering is the corrected one (its fix #2). */
#define _GNU_SOURCE
#include "job_ring.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

enum { LEGACY_PRIORITIES = 5, LEGACY_STEAL_ATTEMPTS = 8 };

typedef struct legacy_pool legacy_pool;

typedef struct lworker {
    pthread_mutex_t qlock; /* guards q */
    job_ring q[LEGACY_PRIORITIES];
    pthread_mutex_t wake_lock; /* guards sleeping with wake_cv */
    pthread_cond_t wake_cv;
    int sleeping;
    pthread_t thread;
    legacy_pool *pool;
    size_t id;
} lworker;

struct legacy_pool {
    lworker *w;
    size_t n;
    atomic_size_t next;    /* round-robin cursor */
    atomic_size_t queued;  /* tasks queued, not started (the safety net's input) */
    atomic_int running;    /* cleared by destroy; read relaxed, the wake lock orders it */
    pthread_mutex_t done_lock;
    pthread_cond_t done_cv;
    size_t pending; /* guarded by done_lock */
};

/* Takes w's most urgent job: the oldest for its owner, the newest for a thief. */
static int take(lworker *w, int from_back, job *out)
{
    int got = 0;
    pthread_mutex_lock(&w->qlock);
    for (int p = 0; p < LEGACY_PRIORITIES && !got; p++)
        got = job_ring_take(&w->q[p], from_back, out);
    pthread_mutex_unlock(&w->qlock);
    return got;
}

static void sleep_us(unsigned us)
{
    struct timespec ts = { 0, (long)us * 1000 };
    nanosleep(&ts, NULL);
}

static int try_steal(lworker *self, job *out)
{
    legacy_pool *p = self->pool;
    unsigned backoff_us = 10;
    for (int attempt = 0; attempt < LEGACY_STEAL_ATTEMPTS; attempt++) {
        for (size_t k = 1; k < p->n; k++)
            if (take(&p->w[(self->id + k) % p->n], 1, out))
                return 1;
        if (!atomic_load_explicit(&p->running, memory_order_relaxed))
            return 0;
        sleep_us(backoff_us); /* not interruptible: the document's race #3 */
        backoff_us = backoff_us * 2 > 1000 ? 1000 : backoff_us * 2;
    }
    return 0;
}

static void wake(lworker *w)
{
    pthread_mutex_lock(&w->wake_lock);
    w->sleeping = 0;
    pthread_cond_signal(&w->wake_cv);
    pthread_mutex_unlock(&w->wake_lock);
}

static void sleep_1ms(lworker *w)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&w->wake_lock);
    w->sleeping = 1;
    while (w->sleeping && atomic_load_explicit(&w->pool->running, memory_order_relaxed))
        if (pthread_cond_timedwait(&w->wake_cv, &w->wake_lock, &until) != 0)
            break; /* workerSleepTime elapsed: go and look again */
    w->sleeping = 0;
    pthread_mutex_unlock(&w->wake_lock);
}

static void *legacy_worker(void *arg)
{
    lworker *w = arg;
    legacy_pool *p = w->pool;
    while (atomic_load_explicit(&p->running, memory_order_relaxed)) {
        job j;
        if (!take(w, 0, &j) && !try_steal(w, &j)) {
            sleep_1ms(w);
            continue;
        }
        atomic_fetch_sub_explicit(&p->queued, 1, memory_order_relaxed);
        j.batch->fn(j.batch->ctx, j.index);
        pthread_mutex_lock(&p->done_lock);
        if (--p->pending == 0)
            pthread_cond_broadcast(&p->done_cv);
        pthread_mutex_unlock(&p->done_lock);
    }
    return NULL;
}

static int legacy_run(void *self, const ctpb_batch *b)
{
    legacy_pool *p = self;
    pthread_mutex_lock(&p->done_lock);
    p->pending += b->count;
    pthread_mutex_unlock(&p->done_lock);
    for (size_t i = 0; i < b->count; i++) {
        lworker *w = &p->w[atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed) % p->n];
        b->submit_ns[i] = ctpb_now_ns();
        pthread_mutex_lock(&w->qlock);
        int rc = job_ring_push(&w->q[b->priority[i] < LEGACY_PRIORITIES ? b->priority[i] : 2], (job){ b, i });
        pthread_mutex_unlock(&w->qlock);
        if (rc != 0)
            return -1;
        size_t queued = atomic_fetch_add_explicit(&p->queued, 1, memory_order_relaxed) + 1;
        wake(w); /* only the target worker */
        if (queued > p->n * 2) /* the safety net */
            for (size_t k = 0; k < p->n; k++)
                if (&p->w[k] != w)
                    wake(&p->w[k]);
    }
    pthread_mutex_lock(&p->done_lock);
    while (p->pending > 0)
        pthread_cond_wait(&p->done_cv, &p->done_lock);
    pthread_mutex_unlock(&p->done_lock);
    return 0;
}

static void legacy_destroy(void *self)
{
    legacy_pool *p = self;
    atomic_store_explicit(&p->running, 0, memory_order_relaxed);
    for (size_t i = 0; i < p->n; i++)
        wake(&p->w[i]);
    for (size_t i = 0; i < p->n; i++) {
        if (p->w[i].pool)
            pthread_join(p->w[i].thread, NULL);
        for (int q = 0; q < LEGACY_PRIORITIES; q++)
            job_ring_free(&p->w[i].q[q]);
        pthread_mutex_destroy(&p->w[i].qlock);
        pthread_mutex_destroy(&p->w[i].wake_lock);
        pthread_cond_destroy(&p->w[i].wake_cv);
    }
    pthread_mutex_destroy(&p->done_lock);
    pthread_cond_destroy(&p->done_cv);
    free(p->w);
    free(p);
}

int ctpb_pool_legacy(size_t workers, ctpb_pool *out)
{
    legacy_pool *p = calloc(1, sizeof *p);
    if (!p || workers == 0 || !(p->w = calloc(workers, sizeof *p->w))) {
        free(p);
        return -1;
    }
    p->n = workers;
    atomic_init(&p->running, 1);
    pthread_mutex_init(&p->done_lock, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (size_t i = 0; i < workers; i++) {
        pthread_mutex_init(&p->w[i].qlock, NULL);
        pthread_mutex_init(&p->w[i].wake_lock, NULL);
        pthread_cond_init(&p->w[i].wake_cv, &ca);
        p->w[i].id = i;
    }
    pthread_condattr_destroy(&ca);
    int ok = 1;
    for (size_t i = 0; i < workers && ok; i++) {
        p->w[i].pool = p;
        if (pthread_create(&p->w[i].thread, NULL, legacy_worker, &p->w[i]) != 0) {
            p->w[i].pool = NULL;
            ok = 0;
        }
    }
    if (!ok) {
        legacy_destroy(p);
        return -1;
    }
    *out = (ctpb_pool){ .impl = p, .threads = workers, .nodes = 1, .run = legacy_run, .destroy = legacy_destroy };
    return 0;
}
