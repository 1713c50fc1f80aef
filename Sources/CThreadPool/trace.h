/* A trace: per-thread rings of timestamped events, written without locks by
 * their owners, and their export in the Chrome trace event format (JSON).
 * It knows nothing of pools: its user says which ring each event goes to.
 *
 * Rings 0 .. nrings-1 each have one writer (a worker). The shared ring takes
 * events from any other thread under a mutex (outside submitters and
 * helpers), each tagged with the writer's thread id. A full ring overwrites
 * its oldest events.
 *
 * Stopping without a lock on the writers, through a gate that outlives every
 * trace it carries: a writer that loaded the running trace counts itself in
 * its ring's mark in the gate (seq_cst), re-checks that the trace is still
 * the gate's active one (seq_cst), writes, and uncounts itself; the stopper
 * clears the active pointer (seq_cst) and then waits until every mark is
 * zero before it frees the trace. Either the writer sees the trace stopped,
 * or the stopper sees it counted and waits (a Dekker pair). The marks live in
 * the gate, not in the trace: a writer may mark after the stopper freed the
 * trace it loaded, and that write must land in live memory.
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
    _Alignas(64) uint64_t head; /* events ever written (owner, or under the shared lock) */
    ctp__event *ev;
} ctp__ring;

typedef struct ctp__trace {
    uint64_t start_ns;
    size_t cap;          /* events per ring */
    uint32_t nrings;     /* per-writer rings; rings[nrings] is the shared one */
    ctp__ring *rings;
    pthread_mutex_t shared_lock;
} ctp__trace;

/* Writers of one ring that are inside the gate (see the top); its own line. */
typedef struct ctp__trace_mark {
    _Alignas(64) _Atomic unsigned writers;
} ctp__trace_mark;

/* Where writers meet the running trace. Invariant: a trace is freed only
 * after it stopped being active and every mark was seen at zero. */
typedef struct ctp__trace_gate {
    _Atomic(ctp__trace *) active; /* the running trace, or NULL */
    uint32_t nrings;              /* per-writer rings; marks[nrings] is the shared ring's */
    ctp__trace_mark *marks;       /* nrings + 1, for the gate's whole life */
} ctp__trace_gate;

/* A gate for traces of nrings + 1 rings, none running. 0, or -1 when out of
 * memory. A zeroed gate may be destroyed. */
int ctp__trace_gate_init(ctp__trace_gate *g, uint32_t nrings);
/* Frees the gate and the trace still running in it; no writer may be inside. */
void ctp__trace_gate_destroy(ctp__trace_gate *g);

/* The running trace (acquire: its rings are set up), or NULL. */
static inline ctp__trace *ctp__trace_running(ctp__trace_gate *g)
{
    /* Acquire: pairs with the release store in ctp__trace_publish. */
    return atomic_load_explicit(&g->active, memory_order_acquire);
}

/* A trace with the gate's rings of cap events each. NULL when out of memory. */
ctp__trace *ctp__trace_new(const ctp__trace_gate *g, size_t cap);
void ctp__trace_free(ctp__trace *t);

/* t becomes the running trace (none may run). */
void ctp__trace_publish(ctp__trace_gate *g, ctp__trace *t);

/* Appends e to ring r (its one writer), if t, which the caller loaded with
 * ctp__trace_running, still runs. */
void ctp__trace_emit(ctp__trace_gate *g, ctp__trace *t, uint32_t r, const ctp__event *e);
/* Appends e to the shared ring with the caller's thread id, if t still runs. */
void ctp__trace_emit_shared(ctp__trace_gate *g, ctp__trace *t, ctp__event *e);

/* Stops t (if it runs) and waits until no writer is inside the gate; then t
 * may be read and freed. */
void ctp__trace_quiesce(ctp__trace_gate *g, ctp__trace *t);

/* Writes the JSON to f: thread names "<name>-<i>" for the rings, spans
 * properly nested per thread (ends without a begin dropped, begins without
 * an end closed at end_ns). 0, or -1 on a write error. */
int ctp__trace_write(const ctp__trace *t, const char *name, uint64_t end_ns, FILE *f);

#endif
