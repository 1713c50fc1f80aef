/* micro's tick after a park, timed phase by phase, ctp against the mutex
 * pool in one process, tick by tick in turns: `bash scripts/tick-phases.sh
 * [tasks] [rounds]`. Each round draws micro's cost mix (90% 8-14 us, 9%
 * 40-100 us, 1% 300 us of thread CPU time), pauses 3 ms so the workers park,
 * and runs the batch on each pool. Per pool, medians over the rounds (us from
 * the hand-over): the tick, the first body's start (head; on ctp that is
 * usually the helping caller's), the first start of the earliest and of the
 * latest worker, the last body's end to the return (tail), and the bodies
 * worker threads ran on the caller's CPU (sched_getcpu at their start). */
#define _GNU_SOURCE
#include "ctp_bots.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { MAX_TASKS = 1000, MAX_ROUNDS = 2000, LANES = 8, FIGURES = 6 };

typedef struct {
    uint32_t cost[MAX_TASKS];
    uint64_t start[MAX_TASKS], end[MAX_TASKS];
    int lane[MAX_TASKS], cpu[MAX_TASKS];
    pthread_t caller;
} tick_state;

/* Lane 0: the caller; workers 1, 2, ... in the order they first ran a body. */
static _Thread_local int my_lane = -1;
static _Atomic int next_lane;

static void body(void *ctx, size_t i)
{
    tick_state *s = ctx;
    if (my_lane < 0)
        my_lane = pthread_equal(pthread_self(), s->caller) ? 0 : 1 + atomic_fetch_add(&next_lane, 1);
    s->start[i] = ctpb_now_ns();
    s->lane[i] = my_lane;
    s->cpu[i] = sched_getcpu();
    uint64_t c0 = ctpb_thread_cpu_ns();
    while (ctpb_thread_cpu_ns() - c0 < s->cost[i]) {
    }
    s->end[i] = ctpb_now_ns();
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

static double us(uint64_t from, uint64_t to)
{
    return to >= from ? (double)(to - from) / 1e3 : 0;
}

/* One tick's figures, in the order of the printed columns. */
static void phases(const tick_state *s, size_t n, uint64_t t0, uint64_t t1, int caller_cpu, double out[FIGURES])
{
    uint64_t first = UINT64_MAX, last = 0, lane_first[LANES];
    for (int l = 0; l < LANES; l++)
        lane_first[l] = UINT64_MAX;
    int on_caller_cpu = 0;
    for (size_t i = 0; i < n; i++) {
        first = s->start[i] < first ? s->start[i] : first;
        last = s->end[i] > last ? s->end[i] : last;
        int l = s->lane[i] < LANES ? s->lane[i] : LANES - 1;
        lane_first[l] = s->start[i] < lane_first[l] ? s->start[i] : lane_first[l];
        on_caller_cpu += s->lane[i] != 0 && s->cpu[i] == caller_cpu;
    }
    uint64_t earliest = UINT64_MAX, latest = 0;
    for (int l = 1; l < LANES; l++) {
        if (lane_first[l] == UINT64_MAX)
            continue;
        earliest = lane_first[l] < earliest ? lane_first[l] : earliest;
        latest = lane_first[l] > latest ? lane_first[l] : latest;
    }
    out[0] = us(t0, t1);
    out[1] = us(t0, first);
    out[2] = earliest == UINT64_MAX ? -1 : us(t0, earliest);
    out[3] = latest == 0 ? -1 : us(t0, latest);
    out[4] = us(last, t1);
    out[5] = on_caller_cpu;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atoi(argv[1]) : 100;
    int rounds = argc > 2 ? atoi(argv[2]) : 200;
    if (n < 1 || n > MAX_TASKS || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: tick_phases [tasks 1-%d] [rounds 1-%d]\n", MAX_TASKS, MAX_ROUNDS);
        return 2;
    }
    ctpb_pool pools[2];
    const char *names[2] = { "ctp", "mutex-pool" };
    if (ctpb_pool_ctp(2, NULL, 0, &pools[0]) != 0 || ctpb_pool_mutex(2, &pools[1]) != 0) {
        fprintf(stderr, "tick_phases: could not create the pools\n");
        return 1;
    }
    static tick_state st;
    static double fig[2][FIGURES][MAX_ROUNDS];
    static uint8_t prio[MAX_TASKS];
    static int16_t node[MAX_TASKS];
    static uint64_t submitted[MAX_TASKS];
    st.caller = pthread_self();
    for (size_t i = 0; i < n; i++) {
        prio[i] = 1;
        node[i] = -1;
    }
    srand(7);
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < n; i++) {
            int x = rand() % 100;
            st.cost[i] = x < 90 ? 8000 + (uint32_t)(rand() % 6000)
                         : x < 99 ? 40000 + (uint32_t)(rand() % 60000)
                                  : 300000;
        }
        for (int k = 0; k < 2; k++) {
            int p = (r + k) % 2; /* each pool goes first every other round */
            struct timespec pause = { 0, 3000000 };
            nanosleep(&pause, NULL);
            ctpb_batch b = { n, body, &st, prio, node, submitted, NULL };
            uint64_t t0 = ctpb_now_ns();
            if (pools[p].run(pools[p].impl, &b) != 0) {
                fprintf(stderr, "tick_phases: %s failed a tick\n", names[p]);
                return 1;
            }
            uint64_t t1 = ctpb_now_ns();
            double one[FIGURES];
            phases(&st, n, t0, t1, sched_getcpu(), one);
            for (int f = 0; f < FIGURES; f++)
                fig[p][f][r] = one[f];
        }
    }
    printf("%zu tasks after a 3 ms pause, %d rounds, medians (us from the hand-over)\n", n, rounds);
    printf("%-11s %6s %6s %13s %13s %6s %16s\n", "pool", "tick", "head", "first worker", "last worker", "tail",
           "worker bodies on");
    printf("%-11s %6s %6s %13s %13s %6s %16s\n", "", "", "", "starts", "starts", "", "caller's CPU");
    for (int p = 0; p < 2; p++)
        printf("%-11s %6.0f %6.0f %13.0f %13.0f %6.0f %16.0f\n", names[p], median(fig[p][0], rounds),
               median(fig[p][1], rounds), median(fig[p][2], rounds), median(fig[p][3], rounds),
               median(fig[p][4], rounds), median(fig[p][5], rounds));
    for (int p = 0; p < 2; p++)
        pools[p].destroy(pools[p].impl);
    return 0;
}
