/* Consumer check: the C header under strict warnings, linked through the
 * package. Exits 0 when a small fork-join computes the right sum. */
#include <ctp/ctp.h>

#include <stdatomic.h>
#include <stdio.h>

static _Atomic long total;

static void add(void *arg)
{
    atomic_fetch_add(&total, (long)(size_t)arg);
}

int main(void)
{
    ctp_pool *pool;
    if (ctp_pool_create(NULL, &pool) != CTP_OK)
        return 1;
    ctp_group *g;
    if (ctp_group_create(pool, &g) != CTP_OK)
        return 1;
    for (size_t i = 1; i <= 1000; i++)
        if (ctp_group_submit(g, CTP_PRIORITY_NORMAL, add, (void *)i) != CTP_OK)
            return 1;
    if (ctp_group_wait(g, CTP_WAIT_FOREVER) != CTP_OK || ctp_group_destroy(g) != CTP_OK)
        return 1;
    if (ctp_pool_destroy(pool) != CTP_OK)
        return 1;
    printf("consumer (C): version %u, sum %ld\n", ctp_version(), atomic_load(&total));
    return atomic_load(&total) == 500500 && ctp_version() == CTP_VERSION_MAJOR * 10000u + CTP_VERSION_MINOR * 100u + CTP_VERSION_PATCH
               ? 0
               : 1;
}
