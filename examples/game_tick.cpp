// A small game-server tick loop on ctp's C++ header: every 50 ms the bots
// that are due this tick are updated on the pool (a task per bot, priority by
// class) inside a ctp::tick; an update whose bot died hands its respawn to
// the main thread, which owns the world, as a task pinned to it
// (ctp::pinned_queue): the main thread runs those while it waits for the
// tick to end. The pool is pre-woken (pool::prewake) for the start of each
// next tick, so the workers are searching when the tick's work arrives.
//
// Each tick carries a budget of 40 ms (the rest of the 50 ms is the main
// thread's): a tick still running then is reported by the pool's monitor
// (tick_options::on_overrun). Every --report-every ticks (default 20, one a
// second; 0 = never) the tick's report is printed: the workers' busy,
// waking and idle shares of the tick, the wake lag (the tick's start to its
// first task's), submit-to-start p99 and the longest task.
//
// Its own checks, whatever the timing: every due bot is updated exactly once
// per tick and no other bot is, every respawn is applied exactly once (on
// the main thread), each tick's report counts exactly its tasks, and the
// totals add up. Exits non-zero otherwise.
//
// Stall reports are on (config::stall, 20 ms): a bot update that runs far
// longer than a tick is reported by the pool's monitor while it runs, with
// its label (the bot's class) and a snapshot of the workers. --hang-bot N
// makes bot N's update hang for 250 ms once, on a worker (the main thread,
// which helps while it waits for the tick and is not watched by the
// monitor, holds back in the first tick the bot is due until a worker has
// taken it); the example then also checks that the hang was reported, and
// that its tick overran the budget.
//
//   ctp_game_tick [--seconds N] [--bots N] [--hang-bot N] [--report-every N] [--no-prewake]
#include <ctp/ctp.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

enum class bot_class { emergency, high, medium, low };

constexpr unsigned interval(bot_class c)
{
    switch (c) {
    case bot_class::emergency:
    case bot_class::high:
        return 1;
    case bot_class::medium:
        return 10;
    case bot_class::low:
        return 50;
    }
    return 1;
}

// The tasks' labels: static strings, as labels are not copied.
constexpr const char *label(bot_class c)
{
    switch (c) {
    case bot_class::emergency:
        return "bot update (emergency)";
    case bot_class::high:
        return "bot update (high)";
    case bot_class::medium:
        return "bot update (medium)";
    case bot_class::low:
        return "bot update (low)";
    }
    return "bot update";
}

constexpr ctp::priority pool_priority(bot_class c)
{
    switch (c) {
    case bot_class::emergency:
        return ctp::priority::critical;
    case bot_class::high:
        return ctp::priority::high;
    case bot_class::medium:
        return ctp::priority::normal;
    case bot_class::low:
        return ctp::priority::low;
    }
    return ctp::priority::normal;
}

struct bot {
    std::uint32_t id = 0;
    double x = 0, y = 0;
    int health = 100;
    bot_class cls = bot_class::medium;
    std::uint32_t rng = 1;
    std::uint64_t updates = 0;
    std::uint64_t last_tick = UINT64_MAX;
    bool dead = false;
};

// Where a dying bot's respawn goes: a task of this tick pinned to the main
// thread, which owns the world (the respawn writes the bot, and counts).
struct world {
    ctp::pinned_queue *main_thread = nullptr;
    std::thread::id main_id;
    std::uint64_t respawns = 0;        // main thread only
    std::uint64_t respawns_elsewhere = 0; // main thread only: stays 0
    std::uint64_t errors = 0;          // main thread only
};

std::uint32_t next(std::uint32_t &s)
{
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
}

// --hang-bot: bot bot_id's update hangs once, on a worker.
struct hang {
    long bot_id = -1;                // -1: no hang
    std::atomic<bool> done{false};   // it has hung
    std::atomic<int> reported{0};    // stall reports of a task while it hung
    std::atomic<bool> hanging{false};

    void maybe_hang(const bot &b)
    {
        if (static_cast<long>(b.id) != bot_id || ctp::worker_index() < 0 || done.exchange(true))
            return;
        hanging = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(250)); // > 10 x the stall threshold
        hanging = false;
    }
};

// Runs on the main thread (a pinned task): brings a dead bot back.
void respawn(bot &b, world &w)
{
    if (std::this_thread::get_id() != w.main_id)
        w.respawns_elsewhere++; // never: pinned tasks run on their owner only
    if (!b.dead)
        w.errors++; // a respawn for a living bot: applied twice
    b.dead = false;
    b.health = 100;
    b.cls = bot_class::medium;
    w.respawns++;
}

// One bot's update: some deterministic decision work, a move, combat.
void update(bot &b, std::uint64_t tick, ctp::tick &t, world &w, hang *h)
{
    h->maybe_hang(b);
    bool died = false;
    double score = 0;
    for (int i = 0; i < 200; i++)
        score += std::sin(b.x * 0.01 + i) * std::cos(b.y * 0.01 - i);
    b.x += (next(b.rng) % 7) - 3.0 + (score > 0 ? 0.5 : -0.5);
    b.y += (next(b.rng) % 7) - 3.0;
    if (!b.dead) {
        b.health -= static_cast<int>(next(b.rng) % 15); // fighting
        if (next(b.rng) % 4 == 0)
            b.health += 8; // healing
        if (b.health <= 0) {
            b.dead = true;
            died = true;
        }
    }
    b.cls = b.dead || b.health < 20 ? bot_class::emergency
            : b.health < 50         ? bot_class::high
            : b.health < 80         ? bot_class::medium
                                    : bot_class::low;
    b.updates++;
    b.last_tick = tick;
    if (died) {
        // The respawn happens on the main thread, within this tick. Submitted
        // last: from here on the bot is the main thread's until the tick ends.
        bot *bp = &b;
        world *wp = &w;
        t.run(*w.main_thread, [bp, wp] { respawn(*bp, *wp); }, ctp::priority::high, "respawn");
    }
}

double ms(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }
double us(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::micro>(d).count(); }

void print_report(std::uint64_t tick, const ctp::tick_report &r)
{
    std::printf("tick %llu: %llu tasks (%llu on the main thread) in %.2f ms (work %.2f ms); workers busy %.0f%%, waking %.0f%%, idle %.0f%%; "
                "wake lag %.0f us; wait p99 %.0f us; longest \"%s\" %.2f ms%s\n",
                static_cast<unsigned long long>(tick), static_cast<unsigned long long>(r.tasks),
                static_cast<unsigned long long>(r.outside.tasks), ms(r.wall),
                ms(r.task_time), 100 * r.busy_share(), 100 * r.waking_share(), 100 * r.idle_share(), us(r.wake_lag),
                us(r.wait_p99), r.longest_label != nullptr ? r.longest_label : "?", ms(r.longest),
                r.overran ? " (over budget)" : "");
    std::fflush(stdout);
}

// A stall report (on the pool's monitor thread): one line, and what every
// worker is doing.
void print_stall(const ctp::stall_report &r, hang &h)
{
    if (r.kind == ctp::stall_kind::task) {
        if (h.hanging)
            h.reported++;
        std::printf("stall: worker %d has been running \"%s\" for %.1f ms (%llu tasks queued)\n", r.worker,
                    r.label != nullptr ? r.label : "?", std::chrono::duration<double, std::milli>(r.elapsed).count(),
                    static_cast<unsigned long long>(r.queued));
    } else {
        std::printf("stall: %llu tasks queued and none started for %.1f ms\n",
                    static_cast<unsigned long long>(r.queued),
                    std::chrono::duration<double, std::milli>(r.elapsed).count());
    }
    static const char *const states[] = {"parked", "searching", "running"};
    for (const ctp::worker_info &w : r.snapshot())
        std::printf("  worker %d: %s%s%s%s, %llu tasks run\n", w.index, states[static_cast<int>(w.state)],
                    w.label != nullptr ? " \"" : "", w.label != nullptr ? w.label : "", w.label != nullptr ? "\"" : "",
                    static_cast<unsigned long long>(w.executed));
    std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv)
{
    double seconds = 3;
    std::size_t nbots = 500;
    hang hung;
    long report_every = 20;
    bool prewake = true;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--no-prewake") == 0) {
            prewake = false;
            continue;
        }
        if (i + 1 >= argc)
            break;
        if (std::strcmp(argv[i], "--seconds") == 0)
            seconds = std::atof(argv[i + 1]);
        else if (std::strcmp(argv[i], "--bots") == 0)
            nbots = static_cast<std::size_t>(std::atol(argv[i + 1]));
        else if (std::strcmp(argv[i], "--hang-bot") == 0)
            hung.bot_id = std::atol(argv[i + 1]);
        else if (std::strcmp(argv[i], "--report-every") == 0)
            report_every = std::atol(argv[i + 1]);
        else
            continue;
        i++;
    }

    ctp::config config;
    config.stall = std::chrono::milliseconds(20);
    config.on_stall = [&hung](const ctp::stall_report &r) { print_stall(r, hung); };
    ctp::pool pool(config);
    std::vector<bot> bots(nbots);
    for (std::size_t i = 0; i < nbots; i++) {
        bots[i].id = static_cast<std::uint32_t>(i);
        bots[i].rng = static_cast<std::uint32_t>(i) * 2654435761u + 1u;
        bots[i].x = static_cast<double>(i % 512) * 66.7;
        bots[i].y = static_cast<double>(i / 512) * 66.7;
        bots[i].health = 30 + static_cast<int>(i % 70); // some start in combat
    }
    ctp::pinned_queue main_thread(pool); // after the pool: destroyed before it
    world w;
    w.main_thread = &main_thread;
    w.main_id = std::this_thread::get_id();
    std::uint64_t expected_updates = 0, late_ticks = 0, errors = 0, report_mismatches = 0;
    std::atomic<std::uint64_t> overruns{0};
    const auto tick_length = std::chrono::milliseconds(50);
    const auto budget = std::chrono::milliseconds(40);
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t tick = 0;
    std::vector<bool> due(nbots);

    for (; std::chrono::steady_clock::now() - start < std::chrono::duration<double>(seconds); tick++) {
        const auto tick_start = std::chrono::steady_clock::now();
        std::fill(due.begin(), due.end(), false);
        std::uint64_t due_now = 0;
        const std::uint64_t respawns_before = w.respawns;
        ctp::tick_options options;
        options.report = true;
        options.budget = budget;
        options.on_overrun = [&overruns, tick, budget](std::chrono::nanoseconds elapsed) { // on the monitor thread
            overruns++;
            std::printf("tick %llu: over its %.0f ms budget (%.1f ms so far)\n", static_cast<unsigned long long>(tick),
                        ms(budget), ms(elapsed));
            std::fflush(stdout);
        };
        ctp::tick t(pool, std::move(options));
        for (bot &b : bots) {
            unsigned every = interval(b.cls);
            if (b.id % every != tick % every)
                continue;
            due[b.id] = true;
            due_now++;
            bot *bp = &b;
            ctp::tick *tp = &t;
            world *wp = &w;
            hang *h = &hung;
            std::uint64_t n = tick;
            t.run([bp, tp, wp, h, n] { update(*bp, n, *tp, *wp, h); }, pool_priority(b.cls), label(b.cls));
        }
        // --hang-bot: the first time the bot is due, this thread does not
        // help until a worker has taken its update (end() would help, and
        // might run it here, where the monitor does not look), so the hang
        // is on a worker whatever the load. Bounded: 10 s.
        if (hung.bot_id >= 0 && static_cast<std::size_t>(hung.bot_id) < nbots && due[hung.bot_id]) {
            for (int waited = 0; !hung.done && waited < 10000; waited++)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        // Waits for the updates, running the respawns they pin to this thread.
        const ctp::tick_report r = t.end();
        expected_updates += due_now;
        if (r.tasks != due_now + (w.respawns - respawns_before))
            report_mismatches++; // the report counts every task of the tick once
        if (report_every > 0 && tick % static_cast<std::uint64_t>(report_every) == 0)
            print_report(tick, r);
        for (const bot &b : bots)
            if ((b.last_tick == tick) != due[b.id])
                errors++; // updated when not due, or due and not updated
        const auto next_start = tick_start + tick_length;
        if (std::chrono::steady_clock::now() > next_start) {
            late_ticks++;
        } else {
            if (prewake)
                pool.prewake(next_start); // the workers search from a lead before it
            std::this_thread::sleep_until(next_start);
        }
    }

    std::uint64_t total = 0, dead_now = 0;
    for (const bot &b : bots) {
        total += b.updates;
        dead_now += b.dead ? 1 : 0;
    }
    if (total != expected_updates || dead_now != 0)
        errors++;
    errors += w.errors + w.respawns_elsewhere + report_mismatches;
    ctp::stats st = pool.stats();
    std::printf("ticks %llu, bot updates %llu (expected %llu), respawns applied %llu (on other threads %llu), "
                "ticks over 50 ms %llu, over the 40 ms budget %llu, reports that miscounted %llu, pool executed %llu, "
                "errors %llu\n",
                static_cast<unsigned long long>(tick), static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(expected_updates), static_cast<unsigned long long>(w.respawns),
                static_cast<unsigned long long>(w.respawns_elsewhere), static_cast<unsigned long long>(late_ticks),
                static_cast<unsigned long long>(overruns.load()), static_cast<unsigned long long>(report_mismatches),
                static_cast<unsigned long long>(st.executed), static_cast<unsigned long long>(errors));
    if (hung.bot_id >= 0) {
        std::printf("--hang-bot %ld: %s, %d stall report(s) while it hung, %llu tick(s) over budget\n", hung.bot_id,
                    hung.done ? "hung once" : "never ran on a worker", hung.reported.load(),
                    static_cast<unsigned long long>(overruns.load()));
        if (!hung.done || hung.reported == 0 || overruns == 0) // its tick ran 250 ms: past the 40 ms budget
            errors++;
    }
    // The pool ran every update and every respawn (pinned tasks are the pool's too).
    return errors == 0 && tick > 0 && st.executed == expected_updates + w.respawns ? 0 : 1;
}
