/* The C API in one page: a pool, single and batch submissions, a group
 * waited on with a timeout, parallel for, a drain shutdown and statistics.
 * Exits 0 only if every result checks out. */
#include <ctp/ctp.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    size_t n;
    double *values;
    _Atomic long done;
} job;

static void square(void *arg)
{
    job *j = arg;
    long i = atomic_fetch_add(&j->done, 1);
    j->values[i] = (double)i * (double)i;
}

static void add_one(size_t begin, size_t end, void *ctx)
{
    double *v = ctx;
    for (size_t i = begin; i < end; i++)
        v[i] += 1.0;
}

int main(void)
{
    ctp_config cfg;
    ctp_config_init(&cfg);
    ctp_pool *pool;
    int rc = ctp_pool_create(&cfg, &pool);
    if (rc != CTP_OK) {
        fprintf(stderr, "ctp_pool_create: %s\n", ctp_strerror(rc));
        return 1;
    }

    job j = { .n = 10000 };
    j.values = calloc(j.n, sizeof *j.values);
    atomic_init(&j.done, 0);

    /* A group: every task counts towards it; the wait helps run them. */
    ctp_group *g;
    if ((rc = ctp_group_create(pool, &g)) != CTP_OK)
        return 1;
    for (size_t i = 0; i < j.n; i++)
        if ((rc = ctp_group_submit(g, CTP_PRIORITY_NORMAL, square, &j)) != CTP_OK) {
            fprintf(stderr, "ctp_group_submit: %s\n", ctp_strerror(rc));
            return 1;
        }
    rc = ctp_group_wait(g, 5ull * 1000 * 1000 * 1000); /* 5 s */
    if (rc != CTP_OK) {
        fprintf(stderr, "ctp_group_wait: %s\n", ctp_strerror(rc));
        return 1;
    }
    ctp_group_destroy(g);

    /* Parallel for: the caller runs chunks too. */
    ctp_parallel_for(pool, 0, j.n, 0, add_one, j.values);

    int bad = 0;
    for (size_t i = 0; i < j.n; i++)
        if (j.values[i] != (double)i * (double)i + 1.0)
            bad++;

    ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER);
    ctp_stats st;
    ctp_pool_stats(pool, &st);
    printf("ctp %u: %llu tasks submitted, %llu executed, %llu stolen, %d wrong results\n", ctp_version(),
           (unsigned long long)st.submitted, (unsigned long long)st.executed, (unsigned long long)st.steals, bad);
    ctp_pool_destroy(pool);
    free(j.values);
    return bad == 0 && st.executed == st.submitted ? 0 : 1;
}
