/* The one-batch burst of `threadpool-bench micro` (ctpb_peer_burst, the
 * shared C kernel) called from a small C program, ctp and oneTBB taking
 * turns burst by burst: the reference that issue 17 compares the in-process
 * figure with. Built and run by scripts/peer-burst.sh. */
#include "ctp_bots.h"
#include "ctp_bench_tbb.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t tasks = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    int reps = argc > 2 ? atoi(argv[2]) : 11;
    if (tasks == 0 || reps < 1 || reps > 1000) {
        fprintf(stderr, "usage: peer_burst [tasks] [repetitions, 1-1000]\n");
        return 2;
    }
    ctpb_pool pools[2];
    if (ctpb_pool_ctp(2, NULL, 0, &pools[0]) != 0 || ctpb_pool_tbb(2, &pools[1]) != 0) {
        fprintf(stderr, "peer_burst: could not make the pools\n");
        return 1;
    }
    static const char *const names[2] = { "ctp", "tbb" };
    double *rate = calloc(2 * (size_t)reps, sizeof *rate);
    if (!rate)
        return 1;
    for (int r = 0; r < reps; r++)
        for (int p = 0; p < 2; p++) {
            ctpb_peer_burst_result b;
            if (ctpb_peer_burst(&pools[p], tasks, &b) != 0) {
                fprintf(stderr, "peer_burst: %s lost tasks\n", names[p]);
                return 1;
            }
            rate[p * reps + r] = (double)tasks / b.seconds / 1e6;
        }
    printf("one-batch burst of %zu empty tasks, %d interleaved repetitions (M tasks/s)\n", tasks, reps);
    for (int p = 0; p < 2; p++) {
        double *v = &rate[p * reps];
        qsort(v, (size_t)reps, sizeof *v, cmp);
        printf("%-4s median %.2f  best %.2f  worst %.2f\n", names[p], v[reps / 2], v[reps - 1], v[0]);
    }
    for (int p = 0; p < 2; p++)
        pools[p].destroy(pools[p].impl);
    free(rate);
    return 0;
}
