// oneTBB peer: see include/ctp_bench_tbb.h.
#include "ctp_bench_tbb.h"

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
    out->destroy = tbb_destroy;
    return 0;
}
