/* A trace: per-thread rings of timestamped events, written without locks by
 * their owners, and their export in the Chrome trace event format (JSON).
 * It knows nothing of pools: its user says which ring each event goes to.
 *
 * Rings 0 .. nrings-1 each have one writer (a worker). The shared ring takes
 * events from any other thread under a mutex (outside submitters and
 * helpers), each tagged with the writer's thread id. A full ring overwrites
 * its oldest events.
 *
 * Stopping without a lock on the writers: a writer marks its ring busy
 * (seq_cst), re-checks that the trace is still the active one (seq_cst),
 * writes, and clears busy; the stopper clears the active pointer (seq_cst)
 * and then waits until no ring is busy. Either the writer sees the trace
 * stopped, or the stopper sees it busy and waits (a Dekker pair).
 *
 * Layer: containers (uses the platform only). */
#ifndef CTP_TRACE_H
#define CTP_TRACE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    CTP__EV_BEGIN = 1,  /* a task starts: what = label or fn */
    CTP__EV_END,        /* the task that began last on this thread ends */
    CTP__EV_PARK,       /* the worker blocks */
    CTP__EV_WAKE,       /* it leaves its park */
    CTP__EV_STEAL,      /* it took a task from another worker's deque */
    CTP__EV_SUBMIT      /* a thread outside the pool submitted `count` tasks */
} ctp__event_type;

typedef struct ctp__event {
    uint64_t ts_ns;
    uintptr_t what;   /* BEGIN: label (is_label) or function address */
    uint32_t tid;     /* shared ring: the writer's thread id; count for SUBMIT */
    uint32_t count;   /* SUBMIT: tasks */
    uint8_t type;
    uint8_t priority;
    uint8_t is_label;
    int8_t node;
} ctp__event;

typedef struct ctp__ring {
    _Alignas(64) _Atomic int busy; /* a write is under way (see the top) */
    uint64_t head;                 /* events ever written (owner, or under the shared lock) */
    ctp__event *ev;
} ctp__ring;

typedef struct ctp__trace {
    uint64_t start_ns;
    size_t cap;          /* events per ring */
    uint32_t nrings;     /* per-writer rings; rings[nrings] is the shared one */
    ctp__ring *rings;
    pthread_mutex_t shared_lock;
} ctp__trace;

/* A trace with nrings + 1 rings of cap events. NULL when out of memory. */
ctp__trace *ctp__trace_new(uint32_t nrings, size_t cap);
void ctp__trace_free(ctp__trace *t);

/* Appends e to ring r (its one writer), if *active is still t. */
void ctp__trace_emit(_Atomic(ctp__trace *) *active, ctp__trace *t, uint32_t r, const ctp__event *e);
/* Appends e to the shared ring with the caller's thread id. */
void ctp__trace_emit_shared(_Atomic(ctp__trace *) *active, ctp__trace *t, ctp__event *e);

/* Stops: *active becomes NULL (if it was t) and every writer has left. */
void ctp__trace_quiesce(_Atomic(ctp__trace *) *active, ctp__trace *t);

/* Writes the JSON to f: thread names "<name>-<i>" for the rings, spans
 * properly nested per thread (ends without a begin dropped, begins without
 * an end closed at end_ns). 0, or -1 on a write error. */
int ctp__trace_write(const ctp__trace *t, const char *name, uint64_t end_ns, FILE *f);

#endif
