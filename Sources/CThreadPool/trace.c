/* The trace (trace.h): rings, their stop, and the Chrome trace JSON. */
#define _GNU_SOURCE /* dladdr, gettid */
#include "trace.h"

#include "platform.h"

#include <dlfcn.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ctp__trace_gate_init(ctp__trace_gate *g, uint32_t nrings)
{
    g->nrings = nrings;
    g->marks = ctp__aligned_alloc(64, sizeof *g->marks * (nrings + 1));
    if (g->marks == NULL)
        return -1;
    for (uint32_t r = 0; r <= nrings; r++)
        atomic_init(&g->marks[r].writers, 0);
    atomic_init(&g->active, NULL);
    return 0;
}

void ctp__trace_gate_destroy(ctp__trace_gate *g)
{
    if (g->marks != NULL) /* relaxed: no writer is left */
        ctp__trace_free(atomic_load_explicit(&g->active, memory_order_relaxed));
    free(g->marks);
    g->marks = NULL;
}

ctp__trace *ctp__trace_new(const ctp__trace_gate *g, size_t cap)
{
    uint32_t nrings = g->nrings;
    ctp__trace *t = ctp__calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->cap = cap;
    t->nrings = nrings;
    t->rings = ctp__aligned_alloc(64, sizeof *t->rings * (nrings + 1));
    if (t->rings == NULL || pthread_mutex_init(&t->shared_lock, NULL) != 0) {
        free(t->rings);
        free(t);
        return NULL;
    }
    memset(t->rings, 0, sizeof *t->rings * (nrings + 1));
    for (uint32_t r = 0; r <= nrings; r++) {
        /* The shared ring holds every outside thread's events: as large as
         * two workers' rings. */
        size_t n = r == nrings ? 2 * cap : cap;
        t->rings[r].ev = ctp__calloc(n, sizeof(ctp__event));
        if (t->rings[r].ev == NULL) {
            t->nrings = r; /* free what exists */
            ctp__trace_free(t);
            return NULL;
        }
    }
    t->start_ns = ctp__now_ns();
    return t;
}

void ctp__trace_free(ctp__trace *t)
{
    if (t == NULL)
        return;
    for (uint32_t r = 0; r <= t->nrings; r++)
        free(t->rings[r].ev);
    free(t->rings);
    pthread_mutex_destroy(&t->shared_lock);
    free(t);
}

void ctp__trace_publish(ctp__trace_gate *g, ctp__trace *t)
{
    /* Release: the rings are set up before a writer sees the pointer; pairs
     * with the acquire load in ctp__trace_running. */
    atomic_store_explicit(&g->active, t, memory_order_release);
}

/* Counts the caller in mark and tells whether t still runs; if not, the
 * caller is already uncounted. */
static bool enter(ctp__trace_gate *g, ctp__trace *t, ctp__trace_mark *mark)
{
    /* Seq_cst: the writer's half of the Dekker pair with ctp__trace_quiesce
     * (count, then re-read the active trace). */
    atomic_fetch_add_explicit(&mark->writers, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&g->active, memory_order_seq_cst) == t)
        return true;
    atomic_fetch_sub_explicit(&mark->writers, 1, memory_order_release); /* pairs with quiesce's load */
    return false;
}

static void leave(ctp__trace_mark *mark)
{
    /* Release: our event is written before the stopper reads the ring;
     * pairs with quiesce's seq_cst load of the mark. */
    atomic_fetch_sub_explicit(&mark->writers, 1, memory_order_release);
}

static void append(ctp__ring *ring, size_t cap, const ctp__event *e)
{
    ring->ev[ring->head % cap] = *e;
    ring->head++;
}

void ctp__trace_emit(ctp__trace_gate *g, ctp__trace *t, uint32_t r, const ctp__event *e)
{
    ctp__trace_mark *mark = &g->marks[r];
    if (!enter(g, t, mark))
        return; /* t may be freed: not touched */
    append(&t->rings[r], t->cap, e);
    leave(mark);
}

static _Thread_local uint32_t my_tid;

void ctp__trace_emit_shared(ctp__trace_gate *g, ctp__trace *t, ctp__event *e)
{
    if (my_tid == 0)
        my_tid = (uint32_t)gettid();
    if (e->type != CTP__EV_SUBMIT)
        e->count = 0;
    e->tid = my_tid;
    ctp__trace_mark *mark = &g->marks[g->nrings];
    if (!enter(g, t, mark))
        return; /* t and its lock may be freed: not touched */
    pthread_mutex_lock(&t->shared_lock);
    append(&t->rings[t->nrings], 2 * t->cap, e);
    pthread_mutex_unlock(&t->shared_lock);
    leave(mark);
}

void ctp__trace_quiesce(ctp__trace_gate *g, ctp__trace *t)
{
    ctp__trace *expected = t;
    /* Seq_cst: the stopper's half of the Dekker pair (see enter). */
    atomic_compare_exchange_strong_explicit(&g->active, &expected, NULL, memory_order_seq_cst,
                                            memory_order_seq_cst);
    for (uint32_t r = 0; r <= g->nrings; r++)
        /* Seq_cst: read after the pointer was cleared (pairs with enter's
         * count and leave's release). */
        while (atomic_load_explicit(&g->marks[r].writers, memory_order_seq_cst) != 0)
            sched_yield();
}

/* ---- JSON ------------------------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at s (2-4), or 0: a lone
 * byte of 0x80 or more, an overlong form, a surrogate, past U+10FFFF or cut
 * short. */
static int utf8_length(const unsigned char *s)
{
    unsigned char c = s[0];
    int n;
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (int i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* A JSON string: labels and names are the caller's bytes; well-formed UTF-8
 * is copied, any other byte of 0x80 or more is written as the code point of
 * the same value (\u00XX), so the file always parses. */
static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    while (*s != '\0') {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else if (c >= 0x80) {
            int n = utf8_length((const unsigned char *)s);
            if (n == 0) {
                fprintf(f, "\\u%04x", c);
            } else {
                fwrite(s, 1, (size_t)n, f);
                s += n;
                continue;
            }
        } else {
            fputc(c, f);
        }
        s++;
    }
    fputc('"', f);
}

/* The event's name: its label, else the function's symbol, else its address. */
static void put_name(FILE *f, const ctp__event *e)
{
    if (e->is_label) {
        put_string(f, (const char *)e->what);
        return;
    }
    Dl_info info;
    if (dladdr((void *)e->what, &info) != 0 && info.dli_sname != NULL) {
        put_string(f, info.dli_sname);
        return;
    }
    fprintf(f, "\"fn 0x%lx\"", (unsigned long)e->what);
}

static void put_ts(FILE *f, const ctp__trace *t, uint64_t ns)
{
    uint64_t rel = ns > t->start_ns ? ns - t->start_ns : 0;
    fprintf(f, "%llu.%03u", (unsigned long long)(rel / 1000), (unsigned)(rel % 1000));
}

static const char *const prio_names[] = { "critical", "high", "normal", "low", "idle" };

/* One thread's events: spans balanced with a stack of open begins. */
typedef struct open_span {
    uint8_t type; /* BEGIN or PARK */
} open_span;

enum { MAX_DEPTH = 256 };

static void head(FILE *f, bool *first)
{
    fputs(*first ? "\n" : ",\n", f);
    *first = false;
}

static void write_thread(FILE *f, const ctp__trace *t, const ctp__ring *ring, size_t cap, uint32_t tid_filter,
                         bool shared, uint32_t tid, uint64_t end_ns, bool *first)
{
    open_span stack[MAX_DEPTH];
    int depth = 0;
    uint64_t beyond = 0; /* begins left out past MAX_DEPTH, still open */
    uint64_t from = ring->head > cap ? ring->head - cap : 0;
    uint64_t last_ts = t->start_ns;
    for (uint64_t i = from; i < ring->head; i++) {
        const ctp__event *e = &ring->ev[i % cap];
        if (shared && e->tid != tid_filter)
            continue;
        if (e->ts_ns > last_ts)
            last_ts = e->ts_ns;
        switch (e->type) {
        case CTP__EV_BEGIN:
        case CTP__EV_PARK:
            if (depth == MAX_DEPTH) {
                beyond++; /* and its end with it, below */
                continue;
            }
            stack[depth++].type = e->type;
            head(f, first);
            fputs("{\"name\":", f);
            if (e->type == CTP__EV_BEGIN)
                put_name(f, e);
            else
                fputs("\"parked\"", f);
            fprintf(f, ",\"cat\":\"%s\",\"ph\":\"B\",\"pid\":1,\"tid\":%u,\"ts\":",
                    e->type == CTP__EV_BEGIN ? "task" : "sleep", tid);
            put_ts(f, t, e->ts_ns);
            if (e->type == CTP__EV_BEGIN)
                fprintf(f, ",\"args\":{\"priority\":\"%s\",\"node\":%d}",
                        e->priority < 5 ? prio_names[e->priority] : "?", (int)e->node);
            fputc('}', f);
            break;
        case CTP__EV_END:
        case CTP__EV_WAKE: {
            uint8_t want = e->type == CTP__EV_END ? CTP__EV_BEGIN : CTP__EV_PARK;
            if (beyond > 0) {
                beyond--; /* a left-out begin's: runs nest on a thread */
                continue;
            }
            if (depth == 0 || stack[depth - 1].type != want)
                continue; /* its begin fell out of the ring */
            depth--;
            head(f, first);
            fprintf(f, "{\"ph\":\"E\",\"pid\":1,\"tid\":%u,\"ts\":", tid);
            put_ts(f, t, e->ts_ns);
            fputc('}', f);
            break;
        }
        case CTP__EV_STEAL:
        case CTP__EV_SUBMIT:
            head(f, first);
            fprintf(f, "{\"name\":\"%s\",\"cat\":\"queue\",\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%u,\"ts\":",
                    e->type == CTP__EV_STEAL ? "steal" : "submit", tid);
            put_ts(f, t, e->ts_ns);
            if (e->type == CTP__EV_SUBMIT)
                fprintf(f, ",\"args\":{\"tasks\":%u}", e->count);
            fputc('}', f);
            break;
        default:
            break;
        }
    }
    /* Still open at the stop: closed at end_ns (or the last event). */
    uint64_t close_ts = end_ns > last_ts ? end_ns : last_ts;
    while (depth > 0) {
        depth--;
        head(f, first);
        fprintf(f, "{\"ph\":\"E\",\"pid\":1,\"tid\":%u,\"ts\":", tid);
        put_ts(f, t, close_ts);
        fputc('}', f);
    }
}

static void thread_name(FILE *f, uint32_t tid, const char *prefix, const char *name, long n, bool *first)
{
    head(f, first);
    fprintf(f, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"args\":{\"name\":", tid);
    char buf[96];
    if (n >= 0)
        snprintf(buf, sizeof buf, "%s%s-%ld", prefix, name, n);
    else
        snprintf(buf, sizeof buf, "%s%s", prefix, name);
    put_string(f, buf);
    fputs("}}", f);
    head(f, first);
    fprintf(f, "{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"args\":{\"sort_index\":%u}}",
            tid, tid);
}

int ctp__trace_write(const ctp__trace *t, const char *name, uint64_t end_ns, FILE *f)
{
    bool first = true;
    fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", f);
    head(f, &first);
    fputs("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":", f);
    char buf[64];
    snprintf(buf, sizeof buf, "ctp pool %s", name);
    put_string(f, buf);
    fputs("}}", f);
    /* Workers: tids 0 .. nrings-1. */
    for (uint32_t r = 0; r < t->nrings; r++) {
        thread_name(f, r, "", name, (long)r, &first);
        write_thread(f, t, &t->rings[r], t->cap, 0, false, r, end_ns, &first);
    }
    /* Outside threads: one track each, tid = 1000000 + their thread id
     * (the first 256 distinct threads; later ones are left out). */
    const ctp__ring *shared = &t->rings[t->nrings];
    size_t scap = 2 * t->cap;
    uint64_t from = shared->head > scap ? shared->head - scap : 0;
    enum { MAX_OUTSIDE = 256 };
    uint32_t tids[MAX_OUTSIDE];
    unsigned ntids = 0;
    for (uint64_t i = from; i < shared->head; i++) {
        uint32_t tid = shared->ev[i % scap].tid;
        unsigned k = 0;
        while (k < ntids && tids[k] != tid)
            k++;
        if (k == ntids && ntids < MAX_OUTSIDE)
            tids[ntids++] = tid;
    }
    for (unsigned k = 0; k < ntids; k++) {
        thread_name(f, 1000000u + tids[k], "outside thread ", "", -1, &first);
        write_thread(f, t, shared, scap, tids[k], true, 1000000u + tids[k], end_ns, &first);
    }
    fputs("\n]}\n", f);
    return ferror(f) ? -1 : 0;
}
