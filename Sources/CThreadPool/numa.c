/* NUMA topology and placement.
 *
 * Alternatives considered:
 *  - hwloc: richer (caches, packages), but a large dependency for what ctp
 *    uses: nodes, their CPUs and distances. libnuma is what the kernel's
 *    NUMA policy is built around, and numa_alloc_onnode binds pages.
 *  - Reading /sys/devices/system/node directly: no dependency, but memory
 *    binding would still need mbind; libnuma wraps both.
 *  - First touch only (no libnuma): works for memory a worker allocates on
 *    itself, but not for memory an application wants on a node before any
 *    worker touches it (a zone's bots), which ctp_alloc_on_node serves.
 * So: libnuma when present (CTP_HAVE_LIBNUMA), one node otherwise, and a
 * textual topology (CTP_TOPOLOGY or ctp_config.topology) that simulates any
 * layout on any machine: placement and stealing then follow the simulated
 * nodes, memory binding is skipped and pinning wraps CPU ids around. */
#define _GNU_SOURCE /* cpu_set_t, pthread_setaffinity_np */
#include "numa.h"

#include "platform.h"

#include <ctype.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef CTP_HAVE_LIBNUMA
#include <numa.h>

/* Serialises every libnuma call ctp makes except numa_free (a plain munmap).
 * libnuma fills process-wide caches on first use without a lock (the per-node
 * CPU masks behind numa_node_to_cpus, the distance table behind
 * numa_distance), and ctp_pool_create may run on several threads at once, so
 * ctp's calls must not overlap. It is one of the three pieces of
 * process-wide state listed in docs/scheduler.md ("Process-wide state"),
 * and it cannot be per pool: the state it guards is
 * libnuma's, shared by every pool of the process. A static initialiser needs
 * no setup and no teardown. (Calls the application makes to libnuma itself
 * are outside ctp's reach; ctp only reads those caches after filling them.) */
static pthread_mutex_t numa_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t numa_fork_once = PTHREAD_ONCE_INIT;

/* fork() while another thread holds numa_lock (a pool being created) left
 * it locked for ever in the child, whose ctp_pool_create then hung. The
 * forking thread takes it around the fork, so the child starts with it free
 * and libnuma's caches consistent. */
static void numa_fork_prepare(void)
{
    pthread_mutex_lock(&numa_lock);
}

static void numa_fork_done(void)
{
    pthread_mutex_unlock(&numa_lock);
}

static void numa_fork_register(void)
{
    pthread_atfork(numa_fork_prepare, numa_fork_done, numa_fork_done);
}

static void numa_lock_take(void)
{
    pthread_once(&numa_fork_once, numa_fork_register);
    pthread_mutex_lock(&numa_lock);
}
#endif

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return CTP_EINVAL;
}

/* Reads a decimal number at *p (no sign); -1 if there is none or it is huge. */
static long read_number(const char **p)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s))
        return -1;
    long v = 0;
    while (isdigit((unsigned char)*s)) {
        v = v * 10 + (*s - '0');
        if (v > 1000000)
            return -1;
        s++;
    }
    *p = s;
    return v;
}

/* The node tables for `nodes` nodes (1 .. CTP__MAX_NODES) in one block:
 * `nodes` rows of distances, then cpu_first, copied from `first`. */
static int alloc_tables(ctp__topology *t, int nodes, const int *first)
{
    size_t rows = sizeof *t->distance * (size_t)nodes; /* a multiple of 64: ints align after it */
    unsigned char *block = ctp__malloc(rows + sizeof(int) * ((size_t)nodes + 1));
    if (block == NULL)
        return CTP_ENOMEM;
    t->distance = (unsigned char (*)[CTP__MAX_NODES])block;
    t->cpu_first = (int *)(block + rows);
    memcpy(t->cpu_first, first, sizeof(int) * ((size_t)nodes + 1));
    return CTP_OK;
}

int ctp__topology_parse(const char *spec, ctp__topology *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (spec == NULL || *spec == '\0')
        return fail(err, errlen, "topology is empty: expected CPU lists per node like \"0-7;8-15\"");
    /* Work on a copy without blanks. */
    size_t len = strlen(spec);
    char *buf = ctp__malloc(len + 1), *w = buf;
    if (buf == NULL)
        return CTP_ENOMEM;
    for (const char *s = spec; *s; s++)
        if (!isspace((unsigned char)*s))
            *w++ = *s;
    *w = '\0';
    int *cpus = ctp__malloc(sizeof(int) * (CTP__MAX_CPU_ID + 1));
    unsigned char *seen = ctp__calloc(CTP__MAX_CPU_ID + 1, 1);
    if (cpus == NULL || seen == NULL) {
        free(buf);
        free(cpus);
        free(seen);
        return CTP_ENOMEM;
    }
    int rc = CTP_OK, ncpus = 0, node = 0;
    const char *p = buf;
    int first[CTP__MAX_NODES + 1];
    first[0] = 0;
    for (;;) { /* one node per iteration */
        if (node >= CTP__MAX_NODES) {
            rc = fail(err, errlen, "topology has more than %d nodes", CTP__MAX_NODES);
            goto done;
        }
        int before = ncpus;
        for (;;) { /* one CPU or range per iteration */
            const char *at = p;
            long a = read_number(&p), b = a;
            if (a < 0) {
                rc = fail(err, errlen, "topology node %d: expected a CPU number at \"%s\"", node, at);
                goto done;
            }
            if (*p == '-') {
                p++;
                b = read_number(&p);
                if (b < 0) {
                    rc = fail(err, errlen, "topology node %d: expected the end of the range %ld- at \"%s\"", node, a, at);
                    goto done;
                }
                if (b < a) {
                    rc = fail(err, errlen, "topology node %d: range %ld-%ld runs backwards", node, a, b);
                    goto done;
                }
            }
            if (b > CTP__MAX_CPU_ID) {
                rc = fail(err, errlen, "topology node %d: CPU %ld is above %d", node, b, CTP__MAX_CPU_ID);
                goto done;
            }
            for (long c = a; c <= b; c++) {
                if (seen[c]) {
                    rc = fail(err, errlen, "topology: CPU %ld is listed twice", c);
                    goto done;
                }
                seen[c] = 1;
                cpus[ncpus++] = (int)c;
            }
            if (*p != ',')
                break;
            p++;
        }
        if (ncpus == before) {
            rc = fail(err, errlen, "topology node %d has no CPUs", node);
            goto done;
        }
        first[++node] = ncpus;
        if (*p == ';') {
            p++;
            continue;
        }
        break;
    }
    out->nodes = node;
    rc = alloc_tables(out, node, first);
    if (rc != CTP_OK)
        goto done;
    /* Distances: "|row;row", default 10 on the diagonal and 20 elsewhere. */
    for (int i = 0; i < node; i++)
        for (int j = 0; j < node; j++)
            out->distance[i][j] = i == j ? 10 : 20;
    if (*p == '|') {
        p++;
        for (int i = 0; i < node; i++) {
            for (int j = 0; j < node; j++) {
                const char *at = p;
                long d = read_number(&p);
                if (d < 1 || d > 255) {
                    rc = fail(err, errlen, "topology distances: row %d needs %d numbers from 1 to 255 (at \"%s\")", i, node, at);
                    goto done;
                }
                out->distance[i][j] = (unsigned char)d;
                if (j + 1 < node) {
                    if (*p != ',') {
                        rc = fail(err, errlen, "topology distances: row %d has fewer than %d entries", i, node);
                        goto done;
                    }
                    p++;
                }
            }
            if (i + 1 < node) {
                if (*p != ';') {
                    rc = fail(err, errlen, "topology distances: %d rows expected (one per node)", node);
                    goto done;
                }
                p++;
            }
        }
    }
    if (*p != '\0') {
        rc = fail(err, errlen, "topology: unexpected \"%s\"", p);
        goto done;
    }
    out->cpus = ctp__malloc(sizeof(int) * (size_t)ncpus);
    if (out->cpus == NULL) {
        rc = CTP_ENOMEM;
        goto done;
    }
    memcpy(out->cpus, cpus, sizeof(int) * (size_t)ncpus);
done:
    free(buf);
    free(cpus);
    free(seen);
    if (rc != CTP_OK)
        ctp__topology_free(out); /* nothing left behind on an error */
    return rc;
}

static int single_node(ctp__topology *out)
{
    memset(out, 0, sizeof *out);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > CTP__MAX_CPU_ID + 1)
        n = CTP__MAX_CPU_ID + 1;
    out->cpus = ctp__malloc(sizeof(int) * (size_t)n);
    const int first[2] = { 0, (int)n };
    if (out->cpus == NULL || alloc_tables(out, 1, first) != CTP_OK) {
        ctp__topology_free(out);
        return CTP_ENOMEM;
    }
    for (long i = 0; i < n; i++)
        out->cpus[i] = (int)i;
    out->nodes = 1;
    out->distance[0][0] = 10;
    return CTP_OK;
}

#ifdef CTP_HAVE_LIBNUMA
/* The machine's nodes that have CPUs, through libnuma; numa_lock held.
 * Returns false (nothing allocated) where libnuma cannot tell: NUMA
 * unavailable, no node with CPUs, or out of memory. */
static bool discover_locked(ctp__topology *out)
{
    if (numa_available() < 0)
        return false;
    memset(out, 0, sizeof *out);
    int max_node = numa_max_node();
    int ncpus = numa_num_configured_cpus();
    if (ncpus < 1)
        return false;
    if (ncpus > CTP__MAX_CPU_ID + 1)
        ncpus = CTP__MAX_CPU_ID + 1; /* CPU ids above that are not used */
    struct bitmask *mask = numa_allocate_cpumask();
    out->cpus = ctp__malloc(sizeof(int) * (size_t)ncpus);
    int node_ids[CTP__MAX_NODES];
    int first[CTP__MAX_NODES + 1];
    int n = 0, k = 0;
    first[0] = 0;
    for (int node = 0; mask != NULL && out->cpus != NULL && node <= max_node && n < CTP__MAX_NODES; node++) {
        if (numa_node_to_cpus(node, mask) != 0)
            continue;
        int before = k;
        /* k < ncpus: a CPU listed under two nodes cannot overrun cpus. */
        for (int c = 0; c < ncpus && k < ncpus; c++)
            if (numa_bitmask_isbitset(mask, (unsigned)c))
                out->cpus[k++] = c;
        if (k == before)
            continue; /* memory-only node: no workers there */
        node_ids[n] = node;
        first[++n] = k;
    }
    if (mask != NULL)
        numa_free_cpumask(mask);
    if (n == 0 || alloc_tables(out, n, first) != CTP_OK) {
        ctp__topology_free(out);
        return false;
    }
    out->nodes = n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int d = numa_distance(node_ids[i], node_ids[j]);
            out->distance[i][j] = (unsigned char)(d > 0 && d < 256 ? d : (i == j ? 10 : 20));
        }
    out->from_libnuma = n > 1; /* binding pages pays only with several nodes */
    return true;
}
#endif

int ctp__topology_discover(ctp__topology *out)
{
#ifdef CTP_HAVE_LIBNUMA
    numa_lock_take();
    bool found = discover_locked(out);
    pthread_mutex_unlock(&numa_lock);
    if (found)
        return CTP_OK;
#endif
    return single_node(out);
}

void ctp__topology_free(ctp__topology *t)
{
    free(t->cpus);
    t->cpus = NULL;
    free(t->distance); /* and cpu_first, in the same block */
    t->distance = NULL;
    t->cpu_first = NULL;
}

void ctp__place_workers(const ctp__topology *t, unsigned workers, unsigned *per_node)
{
    unsigned total = (unsigned)t->cpu_first[t->nodes];
    unsigned given = 0;
    unsigned long rem[CTP__MAX_NODES];
    for (int n = 0; n < t->nodes; n++) {
        unsigned long cpus = (unsigned long)(t->cpu_first[n + 1] - t->cpu_first[n]);
        per_node[n] = (unsigned)(workers * cpus / total);
        rem[n] = workers * cpus % total;
        given += per_node[n];
    }
    while (given < workers) { /* largest remainder first, lower node on ties */
        int best = 0;
        for (int n = 1; n < t->nodes; n++)
            if (rem[n] > rem[best])
                best = n;
        per_node[best]++;
        rem[best] = 0;
        given++;
    }
}

void *ctp__node_alloc(bool bind, int node, size_t size)
{
    /* Rounding up to 64 bytes must not wrap around to a small block (issue
     * 12). No object may exceed PTRDIFF_MAX bytes (differences of pointers
     * into it would overflow; glibc's malloc and mmap refuse such sizes, and
     * sanitizers abort on them), after the rounding too (PTRDIFF_MAX itself
     * rounded up to 2^63, which AddressSanitizer aborted on), and below that
     * the rounding cannot wrap. */
    _Static_assert((uintmax_t)PTRDIFF_MAX <= (uintmax_t)SIZE_MAX - 63, "rounding up to 64 must not wrap");
    if (size > (size_t)PTRDIFF_MAX - 63)
        return NULL;
#ifdef CTP_HAVE_LIBNUMA
    if (bind) {
        numa_lock_take();
        void *p = numa_alloc_onnode(size, node);
        pthread_mutex_unlock(&numa_lock);
        return p;
    }
#else
    (void)bind;
#endif
    (void)node;
    return ctp__aligned_alloc(64, size == 0 ? 64 : size); /* rounds up to 64 */
}

void *ctp__node_alloc_aligned(bool bind, int node, size_t align, size_t size)
{
    void *p = ctp__aligned_alloc(align, size);
#ifdef CTP_HAVE_LIBNUMA
    if (p != NULL && bind) {
        /* Place its pages on the node (they are not touched yet). */
        size_t rounded = (size + align - 1) / align * align;
        numa_lock_take();
        numa_tonode_memory(p, rounded, node);
        pthread_mutex_unlock(&numa_lock);
    }
#else
    (void)bind;
    (void)node;
#endif
    return p;
}

void ctp__node_free(bool bind, void *ptr, size_t size)
{
    if (ptr == NULL)
        return;
#ifdef CTP_HAVE_LIBNUMA
    if (bind) {
        numa_free(ptr, size);
        return;
    }
#else
    (void)bind;
#endif
    (void)size;
    free(ptr);
}

void ctp__pin_thread(const ctp__topology *t, int node, int cpu)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1)
        online = 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu >= 0) {
        CPU_SET((size_t)(cpu % online), &set);
    } else {
        for (int i = t->cpu_first[node]; i < t->cpu_first[node + 1]; i++)
            CPU_SET((size_t)(t->cpus[i] % online), &set);
    }
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

void ctp__topology_nearest(const ctp__topology *t, int nodes, int node, int *order)
{
    for (int m = 0; m < nodes; m++)
        order[m] = m;
    for (int i = 1; i < nodes; i++) { /* insertion sort by distance from node */
        int m = order[i], j = i;
        int dm = m == node ? -1 : t->distance[node][m];
        while (j > 0) {
            int o = order[j - 1];
            int d = o == node ? -1 : t->distance[node][o];
            if (d <= dm)
                break;
            order[j] = o;
            j--;
        }
        order[j] = m;
    }
}

signed char *ctp__topology_cpu_nodes(const ctp__topology *t, int nodes, int *len)
{
    int max = -1;
    for (int i = 0; i < t->cpu_first[t->nodes]; i++)
        if (t->cpus[i] > max)
            max = t->cpus[i];
    *len = max + 1;
    signed char *table = ctp__malloc((size_t)*len + 1);
    if (table == NULL)
        return NULL;
    memset(table, -1, (size_t)*len + 1);
    for (int n = 0; n < t->nodes && n < nodes; n++)
        for (int i = t->cpu_first[n]; i < t->cpu_first[n + 1]; i++)
            table[t->cpus[i]] = (signed char)n;
    return table;
}

uint32_t ctp__steal_order(int nnodes, const int *order, const uint32_t *worker_first, uint32_t index,
                          uint32_t *victims, uint32_t *nlocal)
{
    uint32_t k = 0;
    *nlocal = 0;
    for (int i = 0; i < nnodes; i++) {
        int m = order[i];
        uint32_t first = worker_first[m], count = worker_first[m + 1] - first;
        for (uint32_t j = 0; j < count; j++) {
            uint32_t v = first + (index + 1 + j) % count;
            if (v != index)
                victims[k++] = v;
        }
        if (i == 0)
            *nlocal = k; /* order[0] is our own node */
    }
    return k;
}
