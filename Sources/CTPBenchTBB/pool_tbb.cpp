// oneTBB peer: see include/ctp_bench_tbb.h.
#include "ctp_bench_tbb.h"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <new>

namespace {

struct TbbPool {
    explicit TbbPool(int threads) : arena(threads) {}
    tbb::task_arena arena;
    tbb::task_group group;
};

int tbb_run(void *self, const ctpb_batch *b)
{
    auto *p = static_cast<TbbPool *>(self);
    try {
        p->arena.execute([p, b] {
            for (size_t i = 0; i < b->count; i++) {
                b->submit_ns[i] = ctpb_now_ns();
                p->group.run([b, i] { b->fn(b->ctx, i); });
            }
            p->group.wait();
        });
    } catch (...) {
        return -1;
    }
    return 0;
}

// fib(n) with a task_group per call and no cutoff.
long fib(int n)
{
    if (n < 2)
        return n;
    long x = 0, y = 0;
    tbb::task_group g;
    g.run([&] { x = fib(n - 1); });
    g.run([&] { y = fib(n - 2); });
    g.wait();
    return x + y;
}

double tbb_fib(void *self, int n, long *value)
{
    auto *p = static_cast<TbbPool *>(self);
    uint64_t t0 = ctpb_now_ns();
    p->arena.execute([&] { *value = fib(n); });
    return static_cast<double>(ctpb_now_ns() - t0) / 1e9;
}

double tbb_loop(void *self, double *a, size_t n)
{
    auto *p = static_cast<TbbPool *>(self);
    uint64_t t0 = ctpb_now_ns();
    p->arena.execute([&] {
        tbb::parallel_for(tbb::blocked_range<size_t>(0, n), [a](const tbb::blocked_range<size_t> &r) {
            for (size_t i = r.begin(); i != r.end(); ++i)
                a[i] = a[i] * 1.0000001 + 1.0;
        });
    });
    return static_cast<double>(ctpb_now_ns() - t0) / 1e9;
}

void tbb_destroy(void *self) { delete static_cast<TbbPool *>(self); }

} // namespace

extern "C" int ctpb_pool_tbb(size_t threads, ctpb_pool *out)
{
    if (threads == 0)
        return -1;
    auto *p = new (std::nothrow) TbbPool(static_cast<int>(threads));
    if (!p)
        return -1;
    *out = ctpb_pool{};
    out->impl = p;
    out->threads = threads;
    out->nodes = 1;
    out->run = tbb_run;
    out->fib = tbb_fib;
    out->parallel_for = tbb_loop;
    out->destroy = tbb_destroy;
    return 0;
}
