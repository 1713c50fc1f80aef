#!/usr/bin/env python3
"""What a tick after a park can cost at best, whatever the pool.

The `tick` scenario of `threadpool-bench micro` (Sources/CTPBenchKernels/
peer_micro.c, ctpb_tick_costs) submits k tasks of mixed cost (90% 8-14 us,
9% 40-100 us, 1% 300 us) 3 ms after the previous tick, when every worker has
parked. Its "ideal" is the work / 2 workers (or the longest task). This
model asks what a pool with zero overhead would get on 2 CPUs if its tasks
start in submission order on whichever thread is free first (list
scheduling, which is all a pool can do without knowing the costs), with one
thread (the helping caller) starting at once and the other only after a
wake-up latency L. It prints the scenario's own figure, p50 tick / p50
ideal, for each L. With L = 0 it is the cost of the tasks' granularity
alone; with L near this VM's bare condvar wake p50 (about 20 us, `micro`'s
wake table) it is the floor for any pool that parks its workers. Waking a
CPU that has idled through a tick's gap takes longer (`micro --floor-only`:
a bare thread on another CPU after a 48 ms gap, 74-162 us p50 on the test
VM), hence the longer lags.

Usage: python3 scripts/tick-wake-model.py [k ...]   (default: 16 100)
"""
import statistics
import sys

M = 2**64 - 1


def splitmix(seed):
    state = [seed]

    def rnd():
        state[0] = (state[0] + 0x9E3779B97F4A7C15) & M
        z = state[0]
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        return ((z ^ (z >> 31)) >> 32) & 0xFFFFFFFF

    return rnd


def costs(k, seed):
    """The cost mix of ctpb_tick_costs, in ns."""
    rnd = splitmix(seed)
    out = []
    for _ in range(k):
        r = rnd() % 100
        if r < 90:
            out.append(8000 + rnd() % 6001)
        elif r < 99:
            out.append(40000 + rnd() % 60001)
        else:
            out.append(300000)
    return out


def list_schedule(c, starts):
    """Makespan when each task, in order, goes to the thread free first."""
    free = list(starts)
    for x in c:
        i = free.index(min(free))
        free[i] += x
    return max(free)


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [16, 100]
    for k in sizes:
        print(f"k = {k}: p50 tick / p50 ideal of a zero-overhead pool, 3000 ticks")
        for lag_us in (0, 10, 20, 30, 40, 50, 75, 100, 150):
            ticks, ideals = [], []
            for seed in range(3000):
                c = costs(k, seed * 7919 + k)
                ideals.append(max(sum(c) / 2, max(c)))
                ticks.append(list_schedule(c, [0, lag_us * 1000]))
            ratio = statistics.median(ticks) / statistics.median(ideals)
            print(f"  second thread starts {lag_us:2d} us late: {ratio:.3f}x")


if __name__ == "__main__":
    main()
