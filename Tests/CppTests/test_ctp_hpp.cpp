// Tests of include/ctp/ctp.hpp: exceptions reach wait(), RAII shutdown runs
// everything, move-only callables run or are destroyed exactly once, large
// callables take the heap path, errors come back as ctp::error / error_code.
#include <ctp/ctp.hpp>

#include <array>
#include <atomic>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

int failures = 0;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "  CHECK failed %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
            failures++;                                                                            \
            return;                                                                                \
        }                                                                                          \
    } while (0)

// Counts live instances, so a test can see every callable destroyed once.
struct tracker {
    static std::atomic<int> live;
    static std::atomic<int> runs;
    tracker() { live++; }
    tracker(const tracker &) { live++; }
    tracker(tracker &&) noexcept { live++; }
    ~tracker() { live--; }
};
std::atomic<int> tracker::live{0};
std::atomic<int> tracker::runs{0};

void exception_reaches_wait()
{
    ctp::pool pool;
    ctp::task_group g(pool);
    std::atomic<int> ran{0};
    for (int i = 0; i < 100; i++)
        g.run([&ran, i] {
            ran++;
            if (i % 10 == 3)
                throw std::runtime_error("bot " + std::to_string(i) + " failed");
        });
    bool caught = false;
    try {
        g.wait();
    } catch (const std::runtime_error &e) {
        caught = std::string(e.what()).find("failed") != std::string::npos;
    }
    CHECK(caught);
    CHECK(ran == 100);            // the other tasks still ran
    CHECK(g.exceptions() == 10);  // all counted, the first rethrown
    g.wait();                     // observed: a second wait does not rethrow
}

void nested_groups_propagate()
{
    ctp::pool pool(ctp::config{1});
    ctp::task_group outer(pool);
    outer.run([&pool] {
        ctp::task_group inner(pool);
        inner.run([] { throw std::logic_error("inner"); });
        inner.wait(); // rethrows inside the outer task...
    });
    bool caught = false;
    try {
        outer.wait(); // ...and the outer group captures it
    } catch (const std::logic_error &) {
        caught = true;
    }
    CHECK(caught);
}

void parallel_for_rethrows_and_covers()
{
    ctp::pool pool;
    std::vector<std::atomic<int>> hits(10000);
    ctp::parallel_for(pool, 0, hits.size(), 0, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; i++)
            hits[i]++;
    });
    for (auto &h : hits)
        CHECK(h == 1);
    bool caught = false;
    try {
        ctp::parallel_for(pool, 0, 1000, 10, [](std::size_t b, std::size_t) {
            if (b == 500)
                throw std::out_of_range("chunk 500");
        });
    } catch (const std::out_of_range &) {
        caught = true;
    }
    CHECK(caught);
}

void fire_and_forget_exception_not_lost()
{
    ctp::pool pool;
    pool.submit([] { throw std::runtime_error("lost?"); });
    bool caught = false;
    try {
        pool.shutdown(); // drains, then rethrows
    } catch (const std::runtime_error &) {
        caught = true;
    }
    CHECK(caught);
}

void raii_shutdown_runs_everything()
{
    std::atomic<int> ran{0};
    {
        ctp::pool pool(ctp::config{2});
        for (int i = 0; i < 10000; i++)
            pool.submit([&ran] { ran++; });
    } // destructor drains and joins
    CHECK(ran == 10000);
}

void move_only_callables_once()
{
    tracker::live = 0;
    tracker::runs = 0;
    {
        ctp::pool pool;
        ctp::task_group g(pool);
        for (int i = 0; i < 1000; i++) {
            auto p = std::make_unique<int>(i);
            g.run([p = std::move(p), t = tracker()] {
                if (*p >= 0)
                    tracker::runs++;
            });
        }
        g.wait();
        CHECK(tracker::runs == 1000);
    }
    CHECK(tracker::live == 0); // every callable destroyed exactly once

    // Cancelled tasks: destroyed without running.
    tracker::runs = 0;
    {
        ctp::pool pool(ctp::config{1});
        std::atomic<bool> release{false}, started{false};
        pool.submit([&release, &started] {
            started = true;
            while (!release)
                std::this_thread::yield();
        });
        while (!started)
            std::this_thread::yield(); // the worker is busy: the next 100 wait
        for (int i = 0; i < 100; i++)
            pool.submit([t = tracker()] { tracker::runs++; });
        std::thread opener([&release] {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            release = true;
        });
        pool.shutdown(CTP_SHUTDOWN_CANCEL);
        opener.join();
        CHECK(pool.stats().cancelled == 100);
    }
    CHECK(tracker::runs == 0);
    CHECK(tracker::live == 0);
}

void large_callables_use_the_heap_path()
{
    tracker::live = 0;
    {
        ctp::pool pool;
        ctp::task_group g(pool);
        std::atomic<long> sum{0};
        for (int i = 0; i < 100; i++) {
            std::array<long, 32> big{}; // 256 bytes: too big for the task
            big[0] = i;
            g.run([big, &sum, t = tracker()] { sum += big[0]; });
        }
        g.wait();
        CHECK(sum == 4950);
    }
    CHECK(tracker::live == 0);
}

void errors_as_exceptions_and_codes()
{
    ctp::pool pool;
    pool.shutdown();
    std::error_code ec = pool.try_submit([] {});
    CHECK(ec == ctp::errc::shutdown);
    CHECK(ec.category() == ctp::category());
    bool caught = false;
    try {
        pool.submit([] {});
    } catch (const ctp::error &e) {
        caught = e.code() == ctp::make_error_code(ctp::errc::shutdown);
    }
    CHECK(caught);
    caught = false;
    try {
        ctp::config bad;
        bad.workers = 100000;
        ctp::pool p2(bad);
    } catch (const ctp::error &e) {
        caught = e.code() == ctp::errc::invalid_argument;
    }
    CHECK(caught);
}

void priorities_and_worker_index()
{
    ctp::pool pool(ctp::config{2});
    ctp::task_group g(pool);
    std::atomic<int> on_worker{0};
    for (int i = 0; i < 200; i++)
        g.run([&on_worker] { on_worker += ctp::worker_index() >= 0 ? 1 : 0; },
              i % 2 ? ctp::priority::critical : ctp::priority::idle);
    g.wait_for(std::chrono::seconds(10));
    CHECK(on_worker <= 200);
    CHECK(ctp::worker_index() == -1);
}

} // namespace

int main()
{
    struct test {
        const char *name;
        void (*fn)();
    } tests[] = {
        {"exception_reaches_wait", exception_reaches_wait},
        {"nested_groups_propagate", nested_groups_propagate},
        {"parallel_for_rethrows_and_covers", parallel_for_rethrows_and_covers},
        {"fire_and_forget_exception_not_lost", fire_and_forget_exception_not_lost},
        {"raii_shutdown_runs_everything", raii_shutdown_runs_everything},
        {"move_only_callables_once", move_only_callables_once},
        {"large_callables_use_the_heap_path", large_callables_use_the_heap_path},
        {"errors_as_exceptions_and_codes", errors_as_exceptions_and_codes},
        {"priorities_and_worker_index", priorities_and_worker_index},
    };
    int passed = 0, failed = 0;
    for (const test &t : tests) {
        int before = failures;
        t.fn();
        bool ok = failures == before;
        std::printf("%s %s\n", ok ? "PASS" : "FAIL", t.name);
        (ok ? passed : failed)++;
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
