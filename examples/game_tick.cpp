// A small game-server tick loop on ctp's C++ header: every 50 ms the bots
// that are due this tick are updated on the pool (a task per bot, priority by
// class), the tick waits for all of them, then the main thread drains the
// actions the updates queued (respawns) and applies them.
//
// Its own checks, whatever the timing: every due bot is updated exactly once
// per tick and no other bot is, every queued action is applied exactly once,
// and the totals add up. Exits non-zero otherwise.
//
// Stall reports are on (config::stall, 20 ms): a bot update that runs far
// longer than a tick is reported by the pool's monitor while it runs, with
// its label (the bot's class) and a snapshot of the workers. --hang-bot N
// makes bot N's update hang for 250 ms once, the first time it runs on a
// worker (the main thread helps while it waits for the tick, and the
// monitor watches the workers); the example then also checks that the hang
// was reported.
//
//   ctp_game_tick [--seconds N] [--bots N] [--hang-bot N]
#include <ctp/ctp.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
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

struct action {
    std::uint32_t bot;
};

struct action_queue {
    std::mutex mutex;
    std::vector<action> pending;
    void push(action a)
    {
        std::lock_guard<std::mutex> lock(mutex);
        pending.push_back(a);
    }
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

// One bot's update: some deterministic decision work, a move, combat.
void update(bot &b, std::uint64_t tick, action_queue &actions, hang *h)
{
    h->maybe_hang(b);
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
            actions.push({b.id}); // respawns happen on the main thread
        }
    }
    b.cls = b.dead || b.health < 20 ? bot_class::emergency
            : b.health < 50         ? bot_class::high
            : b.health < 80         ? bot_class::medium
                                    : bot_class::low;
    b.updates++;
    b.last_tick = tick;
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
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--seconds") == 0)
            seconds = std::atof(argv[i + 1]);
        else if (std::strcmp(argv[i], "--bots") == 0)
            nbots = static_cast<std::size_t>(std::atol(argv[i + 1]));
        else if (std::strcmp(argv[i], "--hang-bot") == 0)
            hung.bot_id = std::atol(argv[i + 1]);
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
    action_queue actions;
    std::uint64_t expected_updates = 0, actions_applied = 0, late_ticks = 0, errors = 0;
    const auto tick_length = std::chrono::milliseconds(50);
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t tick = 0;

    for (; std::chrono::steady_clock::now() - start < std::chrono::duration<double>(seconds); tick++) {
        const auto tick_start = std::chrono::steady_clock::now();
        std::vector<bool> due(nbots);
        {
            ctp::task_group group(pool);
            for (bot &b : bots) {
                unsigned every = interval(b.cls);
                if (b.id % every != tick % every)
                    continue;
                due[b.id] = true;
                expected_updates++;
                bot *bp = &b;
                action_queue *aq = &actions;
                hang *h = &hung;
                std::uint64_t t = tick;
                group.run([bp, aq, h, t] { update(*bp, t, *aq, h); }, pool_priority(b.cls), label(b.cls));
            }
            group.wait();
        }
        for (const bot &b : bots)
            if ((b.last_tick == tick) != due[b.id])
                errors++; // updated when not due, or due and not updated
        // Main-thread work after the bots: apply their actions.
        std::vector<action> drained;
        {
            std::lock_guard<std::mutex> lock(actions.mutex);
            drained.swap(actions.pending);
        }
        for (action a : drained) {
            bot &b = bots[a.bot];
            if (!b.dead)
                errors++; // a respawn for a living bot: applied twice
            b.dead = false;
            b.health = 100;
            b.cls = bot_class::medium;
            actions_applied++;
        }
        const auto spent = std::chrono::steady_clock::now() - tick_start;
        if (spent > tick_length)
            late_ticks++;
        else
            std::this_thread::sleep_for(tick_length - spent);
    }

    std::uint64_t total = 0, dead_now = 0;
    for (const bot &b : bots) {
        total += b.updates;
        dead_now += b.dead ? 1 : 0;
    }
    if (total != expected_updates || dead_now != 0)
        errors++;
    ctp::stats st = pool.stats();
    std::printf("ticks %llu, bot updates %llu (expected %llu), respawns applied %llu, ticks over 50 ms %llu, "
                "pool executed %llu, errors %llu\n",
                static_cast<unsigned long long>(tick), static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(expected_updates), static_cast<unsigned long long>(actions_applied),
                static_cast<unsigned long long>(late_ticks), static_cast<unsigned long long>(st.executed),
                static_cast<unsigned long long>(errors));
    if (hung.bot_id >= 0) {
        std::printf("--hang-bot %ld: %s, %d stall report(s) while it hung\n", hung.bot_id,
                    hung.done ? "hung once" : "never ran on a worker", hung.reported.load());
        if (!hung.done || hung.reported == 0)
            errors++;
    }
    return errors == 0 && tick > 0 && st.executed == expected_updates ? 0 : 1;
}
