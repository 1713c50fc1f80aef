/* The pool game servers write by hand: one mutex, one FIFO, notify_one per
 * submit, and a counter with a condition variable for the tick to wait on. */
#include "ctp_bots.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct job {
    const ctpb_batch *batch;
    size_t index;
} job;

typedef struct mutex_pool {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t work;  /* signalled once per pushed job */
    pthread_cond_t done;  /* broadcast when pending drops to 0 */
    job *ring;
    size_t cap, head, count; /* FIFO of count jobs from head */
    size_t pending;          /* jobs pushed and not finished */
    int stop;
    pthread_t *threads;
    size_t nthreads;
} mutex_pool;

static void *worker(void *arg)
{
    mutex_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->count == 0 && !p->stop)
            pthread_cond_wait(&p->work, &p->lock);
        if (p->count == 0)
            break;
        job j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        pthread_mutex_unlock(&p->lock);
        j.batch->fn(j.batch->ctx, j.index);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0)
            pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static int grow(mutex_pool *p)
{
    size_t cap = p->cap ? p->cap * 2 : 1024;
    job *r = malloc(cap * sizeof *r);
    if (!r)
        return -1;
    for (size_t k = 0; k < p->count; k++)
        r[k] = p->ring[(p->head + k) % p->cap];
    free(p->ring);
    p->ring = r;
    p->cap = cap;
    p->head = 0;
    return 0;
}

static int mutex_run(void *self, const ctpb_batch *b)
{
    mutex_pool *p = self;
    for (size_t i = 0; i < b->count; i++) {
        pthread_mutex_lock(&p->lock);
        if (p->count == p->cap && grow(p) != 0) {
            pthread_mutex_unlock(&p->lock);
            return -1;
        }
        b->submit_ns[i] = ctpb_now_ns();
        p->ring[(p->head + p->count) % p->cap] = (job){ b, i };
        p->count++;
        p->pending++;
        pthread_mutex_unlock(&p->lock);
        pthread_cond_signal(&p->work);
    }
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static void mutex_destroy(void *self)
{
    mutex_pool *p = self;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p->ring);
    free(p);
}

int ctpb_pool_mutex(size_t workers, ctpb_pool *out)
{
    mutex_pool *p = calloc(1, sizeof *p);
    if (!p || workers == 0 || !(p->threads = calloc(workers, sizeof(pthread_t)))) {
        free(p);
        return -1;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (size_t i = 0; i < workers; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break;
        p->nthreads++;
    }
    if (p->nthreads != workers) {
        mutex_destroy(p);
        return -1;
    }
    *out = (ctpb_pool){ .impl = p, .threads = workers, .nodes = 1, .run = mutex_run, .destroy = mutex_destroy };
    return 0;
}
