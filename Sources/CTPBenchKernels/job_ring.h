/* A growable FIFO of batch items, for the hand-written pools of the bot
 * benchmark (pool_mutex.c, pool_legacy.c). Not thread-safe: each pool guards
 * its rings with its own lock. */
#ifndef CTPB_JOB_RING_H
#define CTPB_JOB_RING_H

#include "ctp_bots.h"

#include <stdlib.h>

typedef struct job {
    const ctpb_batch *batch;
    size_t index;
} job;

typedef struct job_ring {
    job *v;
    size_t cap, head, count; /* count jobs from head, wrapping at cap */
} job_ring;

/* Appends j, doubling the ring when full. 0, or -1 out of memory (j not queued). */
static inline int job_ring_push(job_ring *r, job j)
{
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        job *v = malloc(cap * sizeof *v);
        if (!v)
            return -1;
        for (size_t k = 0; k < r->count; k++)
            v[k] = r->v[(r->head + k) % r->cap];
        free(r->v);
        r->v = v;
        r->cap = cap;
        r->head = 0;
    }
    r->v[(r->head + r->count) % r->cap] = j;
    r->count++;
    return 0;
}

/* Takes the oldest job (or, with from_back, the newest) into *out; 0 if empty. */
static inline int job_ring_take(job_ring *r, int from_back, job *out)
{
    if (r->count == 0)
        return 0;
    if (from_back) {
        *out = r->v[(r->head + r->count - 1) % r->cap];
    } else {
        *out = r->v[r->head];
        r->head = (r->head + 1) % r->cap;
    }
    r->count--;
    return 1;
}

static inline void job_ring_free(job_ring *r)
{
    free(r->v);
    r->v = NULL;
    r->cap = r->head = r->count = 0;
}

#endif
