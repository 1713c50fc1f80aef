/* The pool game servers write by hand: one mutex, one FIFO, notify_one per
 * submit, and a counter with a condition variable for the tick to wait on. */
#include "job_ring.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct mutex_pool {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t work;  /* signalled once per pushed job */
    pthread_cond_t done;  /* broadcast when pending drops to 0 */
    job_ring queue;
    size_t pending; /* jobs pushed and not finished */
    int stop;
    pthread_t *threads;
    size_t nthreads;
} mutex_pool;

static void *worker(void *arg)
{
    mutex_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->queue.count == 0 && !p->stop)
            pthread_cond_wait(&p->work, &p->lock);
        job j;
        if (!job_ring_take(&p->queue, 0, &j))
            break; /* stopped, and nothing left */
        pthread_mutex_unlock(&p->lock);
        j.batch->fn(j.batch->ctx, j.index);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0)
            pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static int mutex_run(void *self, const ctpb_batch *b)
{
    mutex_pool *p = self;
    for (size_t i = 0; i < b->count; i++) {
        pthread_mutex_lock(&p->lock);
        b->submit_ns[i] = ctpb_now_ns();
        if (job_ring_push(&p->queue, (job){ b, i }) != 0) {
            pthread_mutex_unlock(&p->lock);
            return -1;
        }
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
    job_ring_free(&p->queue);
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
