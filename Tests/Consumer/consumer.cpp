// Consumer check: the C++ header under strict warnings, linked through the
// package. Exits 0 when the group's sum is right and an exception came back.
#include <ctp/ctp.hpp>

#include <atomic>
#include <cstdio>
#include <stdexcept>

int main()
{
    ctp::pool pool;
    std::atomic<long> total{0};
    {
        ctp::task_group g(pool);
        for (long i = 1; i <= 1000; i++)
            g.run([&total, i] { total += i; });
        g.wait();
    }
    bool caught = false;
    try {
        ctp::task_group g(pool);
        g.run([] { throw std::runtime_error("from a task"); });
        g.wait();
    } catch (const std::runtime_error &) {
        caught = true;
    }
    std::printf("consumer (C++): sum %ld, exception %s\n", total.load(), caught ? "rethrown" : "LOST");
    return total == 500500 && caught ? 0 : 1;
}
