// ctp.hpp — a header-only C++17 wrapper over the ctp C API (ctp/ctp.h).
//
// Errors: every failure of the C API is thrown as ctp::error, a
// std::system_error whose code() is in ctp::category() (compare with
// ctp::errc or make_error_code). Calls named try_* return std::error_code
// instead and never throw for ctp errors.
//
// Exceptions thrown by tasks are never lost:
//  - task_group::wait() rethrows the first exception thrown by a task of the
//    group (later ones are dropped; the count is in exceptions()).
//  - parallel_for rethrows the first exception thrown by the body.
//  - pool::submit (fire and forget) keeps the first exception of such tasks;
//    pool::rethrow() rethrows it and pool::shutdown() does so after stopping.
//    If it was never observed, ~pool writes it to stderr.
//  - A task_group destroyed while an exception is unobserved calls
//    std::terminate, like a joinable std::thread (call wait()).
//
// Callables: submit, run and parallel_for take any callable invocable with
// no arguments (parallel_for: with a std::size_t index range), move-only
// ones included. A callable that fits in CTP_INLINE_CAPACITY bytes (with the
// wrapper's bookkeeping) and is nothrow-move-constructible is stored inside
// the task itself: no allocation. Larger ones are moved to the heap.
// A refused submission (queue full, shutdown, no memory, or any other error,
// thrown by submit/run or returned by try_submit) leaves the callable
// untouched: not moved from, still owned by the caller, who may submit it
// again (retrying after errc::full is fine). Only an accepted submission
// moves from it (an lvalue is copied instead). The one exception: a callable
// passed as an rvalue whose move constructor may throw is moved once the
// submission is accepted, where nothing may fail; if that move throws, the
// exception is reported as the task's own (like one thrown by the task).
// A callable's move constructor (whatever constructor an rvalue of it
// selects: a copy constructor, for a type without a move constructor)
// runs while the pool holds the lock of the queue the task goes to: it
// must not call into ctp (copies of lvalues are made before, outside the
// lock).
//
// Threads: every member function may be called from any thread, including
// the pool's own tasks, except pool's destructor, shutdown with a timeout,
// move assignment and stop_trace, which must not run on the pool's own
// workers, and tick::run, which must not race tick::end (see tick).
//
// Seeing inside a pool: config::stall with config::on_stall reports tasks
// that run too long and queues that do not move; config::on_thread_start /
// on_thread_stop run on each worker as it starts and stops; pool::snapshot()
// says what each worker is doing; pool::start_trace / stop_trace record a
// timeline (Chrome trace JSON). Tasks may carry a label (a static string)
// shown in all of them: submit, try_submit and task_group::run take one after
// the priority.
//
// Ticks (a game server's): pool::prewake(time_point) wakes the workers a
// config::prewake_lead before the next tick starts; ctp::tick is a task
// group for one tick that reports on it (tick_report: wall, busy / waking /
// idle per worker, submit-to-start percentiles, wake lag, longest task) and
// may carry a budget with an on_overrun callback; ctp::pinned_queue pins
// tasks to the thread that owns it (submit, task_group::run and tick::run
// take the queue first), which runs them while it waits.
#ifndef CTP_CTP_HPP
#define CTP_CTP_HPP

#include <ctp/ctp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace ctp {

enum class errc {
    invalid_argument = CTP_EINVAL,
    no_memory = CTP_ENOMEM,
    shutdown = CTP_ESHUTDOWN,
    full = CTP_EFULL,
    timed_out = CTP_ETIMEDOUT,
    deadlock = CTP_EDEADLK,
};

namespace detail {
class category_impl final : public std::error_category {
public:
    const char *name() const noexcept override { return "ctp"; }
    std::string message(int code) const override { return ctp_strerror(code); }
};
} // namespace detail

/// The error category of ctp's error codes.
inline const std::error_category &category() noexcept
{
    static const detail::category_impl instance;
    return instance;
}

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }
inline std::error_code to_error_code(int rc) noexcept
{
    return rc == CTP_OK ? std::error_code() : std::error_code(rc, category());
}

/// What every throwing call of this header throws for a ctp error.
class error : public std::system_error {
public:
    explicit error(int rc, const char *what) : std::system_error(rc, category(), what) {}
    explicit error(int rc, const std::string &what) : std::system_error(rc, category(), what) {}
};

namespace detail {
inline void check(int rc, const char *what)
{
    if (rc != CTP_OK)
        throw error(rc, what);
}
/// A timeout for the C API, from any duration without overflow: negative
/// or zero = 0; as long as nanoseconds::max() or longer (seconds::max(),
/// hours::max(), ...) = CTP_WAIT_FOREVER. A floating-point duration is
/// compared as a count of nanoseconds in double: NaN = 0 (a wait that
/// cannot be meant is not made endless), infinity and anything from 2^63
/// ns on = CTP_WAIT_FOREVER.
template <class Rep, class Period>
inline std::uint64_t timeout_ns(std::chrono::duration<Rep, Period> timeout) noexcept
{
    using ns = std::chrono::nanoseconds;
    using given = std::chrono::duration<Rep, Period>;
    if constexpr (std::chrono::treat_as_floating_point<Rep>::value) {
        // Converting NaN, or a count past int64, to an integer is undefined.
        const double n = std::chrono::duration<double, std::nano>(timeout).count();
        if (!(n > 0.0))
            return 0;
        if (n >= 9223372036854775808.0) /* 2^63 */
            return CTP_WAIT_FOREVER;
        return static_cast<std::uint64_t>(n);
    } else {
        if (timeout <= given::zero())
            return 0;
        if constexpr (std::ratio_greater<Period, std::nano>::value) {
            // Compared in the caller's unit: converting first would overflow.
            if (timeout >= std::chrono::duration_cast<given>(ns::max()))
                return CTP_WAIT_FOREVER;
        }
        ns n = std::chrono::duration_cast<ns>(timeout);
        return n == ns::max() ? CTP_WAIT_FOREVER : static_cast<std::uint64_t>(n.count());
    }
}
inline std::chrono::nanoseconds to_duration(std::uint64_t ns) noexcept
{
    return std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(ns));
}
} // namespace detail

/// Task priorities (CRITICAL runs first).
enum class priority {
    critical = CTP_PRIORITY_CRITICAL,
    high = CTP_PRIORITY_HIGH,
    normal = CTP_PRIORITY_NORMAL,
    low = CTP_PRIORITY_LOW,
    idle = CTP_PRIORITY_IDLE,
};

/// Number of priorities (the size of stats::executed_by_priority).
inline constexpr std::size_t priority_count = CTP_PRIORITY_COUNT;

/// How pool::shutdown treats tasks that have not started (ctp_shutdown_mode).
enum class shutdown_mode {
    drain = CTP_SHUTDOWN_DRAIN,   ///< run everything queued and everything it spawns
    cancel = CTP_SHUTDOWN_CANCEL, ///< drop unstarted tasks: their callables are destroyed unrun
};

/// NUMA mode (ctp_numa_mode). automatic: follow the topology; off: behave
/// as one node.
enum class numa_mode {
    automatic = CTP_NUMA_AUTO,
    off = CTP_NUMA_OFF,
};

/// Worker CPU affinity (ctp_affinity): none, pinned to their node's CPUs,
/// or one CPU each.
enum class affinity {
    none = CTP_AFFINITY_NONE,
    node = CTP_AFFINITY_NODE,
    cpu = CTP_AFFINITY_CPU,
};

/// What a stall report is about (ctp_stall_kind).
enum class stall_kind {
    task = CTP_STALL_TASK,   ///< one task has run longer than config::stall
    queue = CTP_STALL_QUEUE, ///< tasks are queued and none has started for config::stall
};

/// What a worker is doing (ctp_worker_state).
enum class worker_state {
    parked = CTP_WORKER_PARKED,       ///< blocked until work arrives
    searching = CTP_WORKER_SEARCHING, ///< looking for work (spinning, or just woken)
    running = CTP_WORKER_RUNNING,     ///< running a task
};

/// One worker as pool::snapshot() saw it (ctp_worker_info). Each worker's
/// fields describe one moment of that worker; different workers are read one
/// after the other.
struct worker_info {
    int index = 0;                          ///< 0 .. workers-1
    int node = 0;                           ///< its NUMA node
    worker_state state = worker_state::parked;
    /// Time in the current task (running) when the pool times its tasks
    /// (config::stall set, or a trace running); else 0.
    std::chrono::nanoseconds running{0};
    /// The current task's C function (running), else nullptr. For tasks
    /// submitted through this header it is the wrapper's trampoline, the same
    /// for every callable type of a size class: use label to tell them apart.
    ctp_task_fn fn = nullptr;
    /// The current task's label (running and labelled), else nullptr.
    const char *label = nullptr;
    std::uint64_t executed = 0;   ///< tasks this worker has run
    std::size_t local_queued = 0; ///< tasks in its own deques

    static worker_info from_c(const ctp_worker_info &c) noexcept
    {
        worker_info w;
        w.index = c.index;
        w.node = c.node;
        w.state = static_cast<worker_state>(c.state);
        w.running = std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(c.running_ns));
        w.fn = c.fn;
        w.label = c.label;
        w.executed = c.executed;
        w.local_queued = c.local_queued;
        return w;
    }
};

/// Describes every worker of the C pool `p` (ctp_pool_snapshot): never
/// blocks a worker; any thread, including a task and the stall callback.
/// Throws ctp::error (invalid_argument for a null pool), std::bad_alloc.
inline std::vector<worker_info> snapshot(ctp_pool *p)
{
    std::size_t count = 0;
    detail::check(ctp_pool_snapshot(p, nullptr, 0, &count), "ctp_pool_snapshot");
    std::vector<ctp_worker_info> c(count);
    detail::check(ctp_pool_snapshot(p, c.data(), c.size(), &count), "ctp_pool_snapshot");
    std::vector<worker_info> out;
    out.reserve(c.size());
    for (std::size_t i = 0; i < c.size() && i < count; i++)
        out.push_back(worker_info::from_c(c[i]));
    return out;
}

/// One stall, as handed to config::on_stall (ctp_stall_report). Valid only
/// during the call (copy what you keep; label is a static string and stays
/// valid).
struct stall_report {
    stall_kind kind = stall_kind::task;
    int worker = -1;                     ///< the stalled worker (stall_kind::task), else -1
    std::chrono::nanoseconds elapsed{0}; ///< how long the task has run / the queue has not moved
    /// The stalled task's C function and argument (stall_kind::task), else
    /// nullptr. For tasks submitted through this header these are the
    /// wrapper's trampoline and its storage: use label to tell tasks apart.
    ctp_task_fn fn = nullptr;
    void *arg = nullptr;
    const char *label = nullptr; ///< the task's label, or nullptr
    std::uint64_t queued = 0;    ///< tasks queued (not started) when the report was made
    /// The reporting pool's C handle (for ctp::snapshot or calls this header
    /// does not wrap); the pool outlives the call.
    ctp_pool *pool = nullptr;

    /// What every worker of the reporting pool is doing now (ctp::snapshot).
    std::vector<worker_info> snapshot() const { return ctp::snapshot(pool); }
};

/// Pool settings: every field of ctp_config (see ctp.h for each), with the
/// same defaults. Zero counts mean "the default" as in C; spin, backoff and
/// stall are the C fields spin_ns, backoff_ns and stall_ns; name and
/// topology are copied when the pool is created, and std::nullopt is the C
/// NULL (name "ctp"; topology from the environment variable CTP_TOPOLOGY,
/// else the machine's). The callbacks (on_stall, on_thread_start,
/// on_thread_stop) are copied into the pool object, which keeps them until
/// its C pool is destroyed (moving the pool object does not move them).
/// An exception a callback throws is kept like a fire-and-forget task's
/// (pool::rethrow, pool::shutdown, else ~pool prints it), except that one
/// thrown by on_thread_start makes the pool's constructor throw it.
struct config {
    std::size_t workers = 0;
    std::size_t queue_capacity = 0;
    std::chrono::nanoseconds spin{0};
    std::chrono::nanoseconds backoff{0};
    unsigned wake_fanout = 0;
    std::size_t stack_size = 0;
    std::optional<std::string> name{};
    ctp::numa_mode numa_mode = ctp::numa_mode::automatic;
    ctp::affinity affinity = ctp::affinity::none;
    /// A simulated topology such as "0-7;8-15" (syntax in ctp.h).
    std::optional<std::string> topology{};
    /// Stall detection (ctp_config.stall_ns): 0 = off (the default), else
    /// between 1 ms and 1 hour (others make the pool's constructor throw
    /// invalid_argument). A monitor thread reports, once per episode and
    /// within 2 x stall of its start, a task that has run longer than stall
    /// and tasks queued while none has started for stall. It parks with the
    /// workers: an idle pool costs nothing.
    std::chrono::nanoseconds stall{0};
    /// Called for each stall, on the pool's monitor thread (one call at a
    /// time). It may call pool::snapshot (or report.snapshot()) and
    /// pool::stats; it must not destroy the pool or wait for its tasks.
    /// Empty = one line per stall on stderr. Set with stall 0, the pool's
    /// constructor throws invalid_argument.
    std::function<void(const stall_report &)> on_stall{};
    /// Run on each worker thread with its index (0 .. workers-1) as it
    /// starts (every one before the pool's constructor returns) and as it
    /// stops (every one before the C pool is destroyed: ~pool, move
    /// assignment): name threads for a profiler, set up thread-locals. They
    /// must not call into the pool. Empty = nothing.
    std::function<void(int worker)> on_thread_start{};
    std::function<void(int worker)> on_thread_stop{};
    /// Pre-wake lead (ctp_config.prewake_lead_ns; see pool::prewake): how
    /// long before the time given to pool::prewake the workers leave their
    /// park, and how long after it they keep searching if no work came.
    /// 0 = the C default (ctp_config_init's: 100 us); else 1 ns to 50 ms
    /// (others, negative ones included, make the pool's constructor throw
    /// invalid_argument).
    std::chrono::nanoseconds prewake_lead{0};
    /// NUMA grace period (ctp_config.remote_steal_delay_ns): how long another
    /// node's affine work is left to that node's workers before an idle worker
    /// takes it (CRITICAL and HIGH at once). Negative = the C default
    /// (ctp_config_init's: 300 us); 0 = at once; at most 100 ms (more makes
    /// the pool's constructor throw invalid_argument).
    std::chrono::nanoseconds remote_steal_delay{-1};
    /// Keep a woken worker off its waker's CPU until it runs
    /// (ctp_config.wake_elsewhere, which explains the cost; Linux only).
    bool wake_elsewhere = true;

    /// The C configuration without the callbacks (the pool sets those, as
    /// they need storage that outlives the C pool); its strings point into
    /// this object, so it is valid while this config lives unchanged.
    ctp_config to_c() const noexcept
    {
        ctp_config c;
        ctp_config_init(&c);
        c.workers = workers;
        c.queue_capacity = queue_capacity;
        /* Negative durations are rejected like too large ones: they become
         * huge unsigned values, which ctp_pool_create refuses (EINVAL). */
        c.spin_ns = static_cast<std::uint64_t>(spin.count());
        c.backoff_ns = static_cast<std::uint64_t>(backoff.count());
        c.wake_fanout = wake_fanout;
        c.stack_size = stack_size;
        c.name = name ? name->c_str() : nullptr;
        c.numa_mode = static_cast<ctp_numa_mode>(numa_mode);
        c.affinity = static_cast<ctp_affinity>(affinity);
        c.topology = topology ? topology->c_str() : nullptr;
        c.stall_ns = static_cast<std::uint64_t>(stall.count()); /* negative: refused, as above */
        if (prewake_lead.count() != 0) /* 0: keep ctp_config_init's default */
            c.prewake_lead_ns = static_cast<std::uint64_t>(prewake_lead.count()); /* negative: refused */
        if (remote_steal_delay.count() >= 0) /* negative: keep ctp_config_init's default */
            c.remote_steal_delay_ns = static_cast<std::uint64_t>(remote_steal_delay.count());
        c.wake_elsewhere = wake_elsewhere;
        return c;
    }
};

/// A snapshot of a pool's counters (ctp_stats; see ctp.h for each field).
struct stats {
    std::uint64_t submitted = 0;
    std::uint64_t executed = 0;
    std::uint64_t cancelled = 0;
    std::uint64_t rejected = 0;
    std::uint64_t steals = 0;
    std::uint64_t injected = 0;
    std::uint64_t parks = 0;
    std::uint64_t wakeups = 0;
    std::uint64_t backoff_timeouts = 0;
    std::uint64_t queued = 0;
    std::uint64_t workers = 0;
    std::uint64_t parked = 0;
    /// Indexed by static_cast<std::size_t>(priority); see executed_at.
    std::array<std::uint64_t, priority_count> executed_by_priority{};
    std::uint64_t workers_lost = 0;
    std::uint64_t task_memory_bytes = 0;

    /// Tasks of priority p that have run.
    std::uint64_t executed_at(priority p) const noexcept
    {
        return executed_by_priority[static_cast<std::size_t>(p)];
    }

    static stats from_c(const ctp_stats &c) noexcept
    {
        stats s;
        s.submitted = c.submitted;
        s.executed = c.executed;
        s.cancelled = c.cancelled;
        s.rejected = c.rejected;
        s.steals = c.steals;
        s.injected = c.injected;
        s.parks = c.parks;
        s.wakeups = c.wakeups;
        s.backoff_timeouts = c.backoff_timeouts;
        s.queued = c.queued;
        s.workers = c.workers;
        s.parked = c.parked;
        for (std::size_t i = 0; i < priority_count; i++)
            s.executed_by_priority[i] = c.executed_by_priority[i];
        s.workers_lost = c.workers_lost;
        s.task_memory_bytes = c.task_memory_bytes;
        return s;
    }
};

/// A snapshot of one NUMA node's counters (ctp_node_stats; see ctp.h).
struct node_stats {
    std::uint64_t workers = 0;
    std::uint64_t executed = 0;
    std::uint64_t taken_remote = 0;
    std::uint64_t steals_local = 0;
    std::uint64_t steals_remote = 0;
    std::uint64_t affine_executed = 0;
    std::uint64_t affine_home = 0;

    static node_stats from_c(const ctp_node_stats &c) noexcept
    {
        return {c.workers, c.executed, c.taken_remote, c.steals_local, c.steals_remote, c.affine_executed,
                c.affine_home};
    }
};

namespace detail {

/// The first exception of a set of tasks, kept until observed.
class exception_slot {
public:
    void capture(std::exception_ptr e) noexcept
    {
        count_.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard<std::mutex> lock(mutex_);
        if (!first_)
            first_ = std::move(e);
    }
    std::exception_ptr take() noexcept
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return std::exchange(first_, nullptr);
    }
    bool pending() noexcept
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return first_ != nullptr;
    }
    std::size_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

private:
    std::mutex mutex_;
    std::exception_ptr first_;
    std::atomic<std::size_t> count_{0};
};

/// A callable and where its exception goes, stored inside the task (see
/// submit_callable).
template <class F> struct boxed {
    F fn;
    exception_slot *errors;

    static void run(void *p) noexcept
    {
        boxed *self = static_cast<boxed *>(p);
        try {
            self->fn();
        } catch (...) {
            self->errors->capture(std::current_exception());
        }
        self->~boxed();
    }
    static void cancel(void *p) noexcept { static_cast<boxed *>(p)->~boxed(); }
    /// Moves a boxed made before the submission into the task.
    static void relocate(void *dst, void *src) noexcept
    {
        boxed *from = static_cast<boxed *>(src);
        ::new (dst) boxed(std::move(*from));
        from->~boxed();
    }
};

template <class F>
inline constexpr bool fits_inline = sizeof(boxed<F>) <= CTP_INLINE_CAPACITY && alignof(boxed<F>) <= 16 &&
                                    std::is_nothrow_move_constructible_v<F>;

/// What ctp_submit_inline is given when the callable is built only once the
/// submission is accepted: the caller's callable (Fn as forwarded to
/// submit_callable) and where exceptions go. Heap callables also carry their
/// storage, allocated before the submission (and, for a copy that may throw,
/// the callable already built there). ctp_submit_inline calls relocate only
/// after every check has passed, so a refused submission never reads *f.
/// Padded to the payload's size, as ctp_submit_inline's contract describes
/// the source.
template <class Fn, std::size_t Size> union source {
    struct fields {
        std::remove_reference_t<Fn> *f;
        exception_slot *errors;
        void *storage;
        bool built;
    } s;
    unsigned char pad[Size];
};

/// Storage for a callable too large (or too alignment-hungry, or with a move
/// that may throw) for the task. Allocated before the submission with
/// nothrow new, so running out of memory is an error code, not bad_alloc.
template <class F> void *heap_allocate() noexcept
{
    if constexpr (alignof(F) > __STDCPP_DEFAULT_NEW_ALIGNMENT__)
        return ::operator new(sizeof(F), std::align_val_t(alignof(F)), std::nothrow);
    else
        return ::operator new(sizeof(F), std::nothrow);
}
template <class F> void heap_free(void *p) noexcept
{
    if constexpr (alignof(F) > __STDCPP_DEFAULT_NEW_ALIGNMENT__)
        ::operator delete(p, std::align_val_t(alignof(F)));
    else
        ::operator delete(p);
}

/// What the task holds for a heap callable: the callable, or null when
/// moving it to the heap threw (failed then holds that exception, which is
/// reported as the task's), and where its exception goes.
template <class F> struct heap_task {
    F *fn;
    exception_slot *errors;
    std::exception_ptr failed;

    static void destroy(F *fn) noexcept
    {
        fn->~F();
        heap_free<F>(fn);
    }
    static void run(void *p) noexcept
    {
        heap_task *self = static_cast<heap_task *>(p);
        if (self->fn != nullptr) {
            try {
                (*self->fn)();
            } catch (...) {
                self->errors->capture(std::current_exception());
            }
            destroy(self->fn);
        } else {
            self->errors->capture(std::move(self->failed));
        }
        self->~heap_task();
    }
    static void cancel(void *p) noexcept
    {
        heap_task *self = static_cast<heap_task *>(p);
        if (self->fn != nullptr)
            destroy(self->fn);
        self->~heap_task();
    }
    /// Builds the task's heap_task from a source: the callable is moved (or
    /// copied) from the caller's object into the storage now, the submission
    /// having been accepted, unless it was built before.
    template <class Fn, class Src> static void relocate(void *dst, void *src) noexcept
    {
        auto &s = static_cast<Src *>(src)->s;
        heap_task *t = ::new (dst) heap_task{nullptr, s.errors, nullptr};
        if (s.built) {
            t->fn = static_cast<F *>(s.storage);
        } else if constexpr (std::is_nothrow_constructible_v<F, Fn &&>) {
            t->fn = ::new (s.storage) F(std::forward<Fn>(*s.f));
        } else {
            try {
                t->fn = ::new (s.storage) F(std::forward<Fn>(*s.f));
            } catch (...) {
                heap_free<F>(s.storage);
                t->failed = std::current_exception();
            }
        }
    }
};

/// Submits f. Returns the C error code. On error f is untouched: not moved
/// from (not even read, unless it is copied), still the caller's; on success
/// it was moved from (copied if given as an lvalue).
///
/// Small callables (fits_inline) live inside the task, no allocation: f is
/// moved into the task by ctp_submit_inline's relocate, which runs only once
/// the submission has been accepted. Other callables get heap storage first
/// (nothrow; CTP_ENOMEM if none), and relocate moves f there and stores the
/// pointer in the task. A copy (f an lvalue or const) is made before
/// submitting (it only reads f), so its exception reaches the caller and
/// no copy constructor runs under the pool's queue lock, where relocate
/// runs (an extra move of a small callable); a move that may
/// throw can only happen in relocate, which must not fail: its exception is
/// reported as the task's exception instead.
/// label is the task's ctp_task_desc.label (a static string, or nullptr);
/// pinned its ctp_task_desc.pinned (nullptr: not pinned).
template <class Fn>
int submit_callable(ctp_pool *pool, ctp_group *group, priority prio, Fn &&f, exception_slot *errors,
                    const char *label, ctp_pinned *pinned = nullptr)
{
    using F = std::decay_t<Fn>;
    ctp_task_desc d;
    ctp_task_desc_init(&d, nullptr, nullptr);
    d.priority = static_cast<ctp_priority>(prio);
    d.group = group;
    d.label = label;
    d.pinned = pinned;
    /* f is moved (a non-const rvalue) or copied. relocate runs under the
     * lock of the queue the task goes to (ctp_relocate_fn), so it may only
     * move: a copy, which may throw or do anything a copy constructor does,
     * is made before the submission, from f, which it leaves as it was. */
    constexpr bool moves = std::is_rvalue_reference_v<Fn &&> && !std::is_const_v<std::remove_reference_t<Fn>>;
    if constexpr (fits_inline<F>) {
        using B = boxed<F>;
        d.fn = &B::run;
        d.on_cancel = &B::cancel;
        if constexpr (moves) { /* fits_inline: F's move cannot throw */
            using S = source<Fn, sizeof(B)>;
            S src{{std::addressof(f), errors, nullptr, false}};
            return ctp_submit_inline(pool, &d, &src, sizeof(B), [](void *dst, void *from) noexcept {
                auto &s = static_cast<S *>(from)->s;
                ::new (dst) B{F(std::forward<Fn>(*s.f)), s.errors};
            });
        } else {
            /* A copy: made here; relocate moves it (nothrow: fits_inline). */
            alignas(16) unsigned char staging[sizeof(B)];
            B *b = ::new (staging) B{F(std::forward<Fn>(f)), errors};
            int rc = ctp_submit_inline(pool, &d, b, sizeof(B), &B::relocate);
            if (rc != CTP_OK)
                b->~B(); /* not relocated: ours to destroy */
            return rc;
        }
    } else {
        using T = heap_task<F>;
        using S = source<Fn, sizeof(T)>;
        static_assert(sizeof(T) <= CTP_INLINE_CAPACITY && alignof(T) <= 16);
        d.fn = &T::run;
        d.on_cancel = &T::cancel;
        void *storage = heap_allocate<F>();
        if (storage == nullptr)
            return CTP_ENOMEM;
        /* A copy is built in the storage before the submission; a
         * (non-const) rvalue is moved there in relocate, once accepted. */
        constexpr bool build_now = !moves;
        if constexpr (build_now) {
            try {
                ::new (storage) F(std::forward<Fn>(f));
            } catch (...) {
                heap_free<F>(storage);
                throw;
            }
        }
        S src{{std::addressof(f), errors, storage, build_now}};
        int rc = ctp_submit_inline(pool, &d, &src, sizeof(T), &T::template relocate<Fn, S>);
        if (rc != CTP_OK) {
            if constexpr (build_now)
                static_cast<F *>(storage)->~F();
            heap_free<F>(storage);
        }
        return rc;
    }
}

/// submit_callable for a pinned_queue's handle: a moved-from queue (handle
/// nullptr) is refused with CTP_EINVAL and f left untouched, where passing
/// nullptr on would queue the task unpinned, to run on a worker.
template <class Fn>
int submit_pinned_callable(ctp_pool *pool, ctp_group *group, priority prio, Fn &&f, exception_slot *errors,
                           const char *label, ctp_pinned *pinned)
{
    if (pinned == nullptr)
        return CTP_EINVAL;
    return submit_callable(pool, group, prio, std::forward<Fn>(f), errors, label, pinned);
}

/// What a pool object keeps on the heap, at an address that stays put when
/// the object is moved: where task exceptions go, and the config's
/// callbacks, whose C trampolines get a pointer to this as their context.
/// Freed only after the C pool is destroyed (no callback runs after that).
struct pool_state {
    exception_slot errors;
    std::function<void(const stall_report &)> on_stall;
    std::function<void(int)> on_thread_start;
    std::function<void(int)> on_thread_stop;
    /// The C pool, once ctp_pool_create returned (read by the monitor thread).
    std::atomic<ctp_pool *> pool{nullptr};

    static void stall_trampoline(const ctp_stall_report *r, void *ctx) noexcept
    {
        pool_state *self = static_cast<pool_state *>(ctx);
        try {
            stall_report rep;
            rep.kind = static_cast<stall_kind>(r->kind);
            rep.worker = r->worker;
            rep.elapsed = std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(r->elapsed_ns));
            rep.fn = r->fn;
            rep.arg = r->arg;
            rep.label = r->label;
            rep.queued = r->queued;
            rep.pool = self->pool.load(std::memory_order_acquire); // pairs with pool's constructor's release store
            self->on_stall(rep);
        } catch (...) {
            self->errors.capture(std::current_exception());
        }
    }
    static void thread_start_trampoline(int worker, void *ctx) noexcept
    {
        pool_state *self = static_cast<pool_state *>(ctx);
        if (!self->on_thread_start)
            return;
        try {
            self->on_thread_start(worker);
        } catch (...) {
            self->errors.capture(std::current_exception());
        }
    }
    static void thread_stop_trampoline(int worker, void *ctx) noexcept
    {
        pool_state *self = static_cast<pool_state *>(ctx);
        if (!self->on_thread_stop)
            return;
        try {
            self->on_thread_stop(worker);
        } catch (...) {
            self->errors.capture(std::current_exception());
        }
    }
};

} // namespace detail

class pool;

/// A queue of tasks pinned to the thread that creates it (ctp_pinned_create;
/// a server's main thread, which owns its world). Tasks submitted with it
/// (pool::submit, task_group::run and tick::run taking a pinned_queue& first)
/// run only on that thread, never on a worker, highest priority first and
/// FIFO within one: while the thread waits in task_group::wait/wait_for or
/// tick::end on this pool (a pinned submission wakes it there), and when it
/// calls run(). They keep their priority, group or tick, and label; their
/// exceptions go where the same call's unpinned tasks' go.
///
/// Create it on the owner thread, which must not be a worker of the pool (or
/// run one of its tasks); a thread owns at most one queue at a time. Destroy
/// it on that thread (the destructor; declare it after the pool so that it
/// goes first): tasks still queued are dropped unrun (their callables
/// destroyed, their groups counted down), as a cancelling shutdown drops
/// them. Destroying it off the owner thread, or inside a task the owner
/// runs (a pinned task, or one its wait took: the C queue is still in use
/// there), prints why and calls std::terminate. The pool's destruction
/// waits for queued pinned tasks like for any task: run them, or destroy
/// the queue first; a pool destroyed while a queue of it exists terminates
/// the same way. Movable (on the owner thread).
class pinned_queue {
public:
    /// Creates the queue, owned by the calling thread. Throws ctp::error:
    /// invalid_argument (called from inside the pool, or the thread already
    /// owns a queue), shutdown, no_memory.
    explicit pinned_queue(pool &p);
    pinned_queue(const pinned_queue &) = delete;
    pinned_queue &operator=(const pinned_queue &) = delete;
    pinned_queue(pinned_queue &&other) noexcept : queue_(std::exchange(other.queue_, nullptr)) {}
    /// Destroys this queue (dropping its queued tasks), then takes over other's.
    pinned_queue &operator=(pinned_queue &&other) noexcept
    {
        if (this != &other) {
            destroy();
            queue_ = std::exchange(other.queue_, nullptr);
        }
        return *this;
    }
    /// Drops the tasks still queued (unrun) and frees the queue. Owner thread.
    ~pinned_queue() { destroy(); }

    /// Runs up to max queued pinned tasks on the calling thread (the owner),
    /// highest priority first; returns how many ran (0 if none was queued).
    /// Does not wait for tasks. Throws ctp::error(invalid_argument) when not
    /// called on the owner thread (or on a moved-from queue).
    std::size_t run(std::size_t max = SIZE_MAX)
    {
        int n = ctp_pinned_run(queue_, max);
        detail::check(n < 0 ? n : CTP_OK, "ctp_pinned_run");
        return static_cast<std::size_t>(n);
    }

    /// The C handle (ctp_task_desc.pinned). Still owned here.
    ctp_pinned *native_handle() const noexcept { return queue_; }

private:
    void destroy() noexcept
    {
        if (queue_ != nullptr && ctp_pinned_destroy(queue_) != CTP_OK) {
            // Off the owner thread, or inside a task that the owner's run or
            // wait of this queue runs (the queue is in use up the stack): the
            // C queue stays, and with it the pool's refusal to be destroyed.
            // Forgetting it would only move the failure to ~pool.
            std::fprintf(stderr, "ctp: ctp::pinned_queue destroyed off its owner thread or while the queue is in "
                                 "use up its stack (inside a task its run or wait runs)\n");
            std::terminate();
        }
        queue_ = nullptr;
    }
    ctp_pinned *queue_ = nullptr;
};

/// A pool of worker threads (RAII). Destruction drains the pool: every
/// queued task runs, then the workers are joined. Destroying it while a
/// pinned_queue of it exists, or from one of its own tasks, is refused by
/// the C pool: the destructor then prints why and calls std::terminate
/// (its workers would otherwise go on using freed state). Groups and ticks
/// keep a pointer to the pool: destroy them first.
class pool {
public:
    pool() : pool(config{}) {}
    /// Creates the pool and starts its workers; on_thread_start (if set) has
    /// run on every worker when this returns. Throws ctp::error
    /// (invalid_argument with ctp_last_error_message()'s reason in what(),
    /// no_memory), std::bad_alloc (copying the callbacks), or the exception
    /// an on_thread_start threw (the pool is then destroyed first: the
    /// on_thread_stop of every started worker has run).
    explicit pool(const config &c) : state_(std::make_unique<detail::pool_state>())
    {
        ctp_config cc = c.to_c();
        state_->on_stall = c.on_stall;
        state_->on_thread_start = c.on_thread_start;
        state_->on_thread_stop = c.on_thread_stop;
        if (c.on_stall) { /* with stall 0 ctp_pool_create refuses it: a callback that never runs */
            cc.on_stall = &detail::pool_state::stall_trampoline;
            cc.stall_ctx = state_.get();
        }
        if (c.on_thread_start || c.on_thread_stop) {
            cc.on_thread_start = &detail::pool_state::thread_start_trampoline;
            cc.on_thread_stop = &detail::pool_state::thread_stop_trampoline;
            cc.thread_ctx = state_.get();
        }
        int rc = ctp_pool_create(&cc, &pool_);
        if (rc != CTP_OK) {
            std::string what = "ctp_pool_create";
            const char *why = ctp_last_error_message();
            if (why != nullptr && *why != '\0')
                what.append(": ").append(why);
            throw error(rc, what);
        }
        state_->pool.store(pool_, std::memory_order_release); // pairs with stall_trampoline's acquire load
        if (c.on_thread_start && state_->errors.pending()) { /* a start hook threw */
            ctp_pool_destroy(pool_);
            pool_ = nullptr;
            std::rethrow_exception(state_->errors.take());
        }
    }
    pool(const pool &) = delete;
    pool &operator=(const pool &) = delete;
    /// Takes over other's pool (and its callbacks, which stay where they
    /// are); other is left empty: only destruction and move assignment are
    /// valid on it.
    pool(pool &&other) noexcept : pool_(std::exchange(other.pool_, nullptr)), state_(std::move(other.state_)) {}
    /// Destroys this pool (draining it; its on_thread_stop runs on each of
    /// its workers), then takes over other's.
    pool &operator=(pool &&other) noexcept
    {
        if (this != &other) {
            destroy();
            pool_ = std::exchange(other.pool_, nullptr);
            state_ = std::move(other.state_);
        }
        return *this;
    }
    /// Drains the pool and joins its workers (on_thread_stop has run on each
    /// when it returns), then frees the callbacks.
    ~pool() { destroy(); }

    /// Queues f() (fire and forget). On success f was moved from (copied if
    /// an lvalue). Throws ctp::error on failure (errc::full, shutdown,
    /// no_memory, ...); f is then untouched: not moved from, still yours.
    /// label names the task in stall reports, snapshots and traces: a static
    /// string (a literal, or one that outlives the pool; it is not copied),
    /// or nullptr.
    template <class F> void submit(F &&f, priority prio = priority::normal, const char *label = nullptr)
    {
        detail::check(detail::submit_callable(pool_, nullptr, prio, std::forward<F>(f), errors_slot(), label),
                      "ctp_submit");
    }
    /// Like submit, returning the error instead of throwing it: on an error
    /// f is untouched (not moved from) and may be submitted again.
    template <class F>
    std::error_code try_submit(F &&f, priority prio = priority::normal, const char *label = nullptr)
    {
        return to_error_code(
            detail::submit_callable(pool_, nullptr, prio, std::forward<F>(f), errors_slot(), label));
    }

    /// Queues f() pinned to q's owner thread (see pinned_queue): it runs
    /// there only, when that thread waits on a group or tick of this pool or
    /// calls q.run(). Otherwise as submit. Throws invalid_argument when q
    /// belongs to another pool or was moved from (f is then untouched).
    template <class F>
    void submit(pinned_queue &q, F &&f, priority prio = priority::normal, const char *label = nullptr)
    {
        detail::check(detail::submit_pinned_callable(pool_, nullptr, prio, std::forward<F>(f), errors_slot(),
                                                     label, q.native_handle()),
                      "ctp_submit (pinned)");
    }
    /// Like submit(q, f, ...), returning the error instead of throwing it.
    template <class F>
    std::error_code try_submit(pinned_queue &q, F &&f, priority prio = priority::normal, const char *label = nullptr)
    {
        return to_error_code(detail::submit_pinned_callable(pool_, nullptr, prio, std::forward<F>(f),
                                                            errors_slot(), label, q.native_handle()));
    }

    /// Tells the pool that work will be submitted at about `at`
    /// (ctp_pool_prewake): parked workers leave their park
    /// config::prewake_lead before it and search until as long after it, then
    /// park again if no work came; work submitted in that window starts
    /// without a wake-up. A game server calls it with its next tick's start.
    /// Replaces an earlier call's time; a time already past does nothing.
    /// std::chrono::steady_clock is CLOCK_MONOTONIC on Linux (libstdc++ and
    /// libc++), the clock ctp uses: its time_since_epoch() is passed as
    /// nanoseconds. Costs up to 2 x prewake_lead of CPU per worker. Any
    /// thread. Throws ctp::error(invalid_argument) on a moved-from pool.
    void prewake(std::chrono::steady_clock::time_point at)
    {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
        if (ns <= 0) /* at or before the clock's epoch: long past (1, as 0 would cancel) */
            ns = 1;
        detail::check(ctp_pool_prewake(pool_, static_cast<std::uint64_t>(ns)), "ctp_pool_prewake");
    }
    /// Cancels a pending pre-wake (ctp_pool_prewake with 0). Any thread.
    void cancel_prewake() { detail::check(ctp_pool_prewake(pool_, 0), "ctp_pool_prewake"); }

    /// Rethrows the first exception thrown by a fire-and-forget task (or a
    /// config callback), if any. Throws ctp::error(invalid_argument) on a
    /// moved-from pool.
    void rethrow()
    {
        if (!state_)
            throw error(CTP_EINVAL, "ctp::pool::rethrow (moved-from pool)");
        if (std::exception_ptr e = state_->errors.take())
            std::rethrow_exception(e);
    }

    /// Stops the pool (see ctp_pool_shutdown): from the first call on,
    /// submissions from outside the pool are refused with errc::shutdown.
    /// drain runs every queued task; cancel destroys the callables of tasks
    /// that have not started without running them (running ones finish). A
    /// later call may switch drain to cancel, never back. Waits up to
    /// timeout (default: as long as it takes; negative = 0), then rethrows
    /// the first fire-and-forget exception. Throws ctp::error(timed_out) if
    /// the timeout passed first (the pool keeps stopping; call again), and
    /// errc::deadlock if called with a non-zero timeout from the pool's own
    /// task (use a zero timeout there: it starts the shutdown and throws
    /// timed_out).
    /// The timeout may be in any chrono unit (seconds::max() = no limit).
    template <class Rep = std::chrono::nanoseconds::rep, class Period = std::nano>
    void shutdown(shutdown_mode mode = shutdown_mode::drain,
                  std::chrono::duration<Rep, Period> timeout = std::chrono::duration<Rep, Period>::max())
    {
        detail::check(ctp_pool_shutdown(pool_, static_cast<ctp_shutdown_mode>(mode), detail::timeout_ns(timeout)),
                      "ctp_pool_shutdown");
        rethrow();
    }
    /// The C enum, for code written before shutdown_mode.
    [[deprecated("use ctp::shutdown_mode")]] void shutdown(ctp_shutdown_mode mode, std::chrono::nanoseconds timeout =
                                                                                      std::chrono::nanoseconds::max())
    {
        shutdown(static_cast<shutdown_mode>(mode), timeout);
    }

    /// A snapshot of the pool's counters.
    ctp::stats stats() const
    {
        ctp_stats s;
        detail::check(ctp_pool_stats(pool_, &s), "ctp_pool_stats");
        return ctp::stats::from_c(s);
    }

    /// Returns free task memory to the system (ctp_pool_trim). Any thread.
    void trim() { detail::check(ctp_pool_trim(pool_), "ctp_pool_trim"); }

    /// Nodes the pool places work on (1 with numa_mode::off).
    int node_count() const
    {
        int n = ctp_pool_node_count(pool_);
        detail::check(n < 0 ? n : CTP_OK, "ctp_pool_node_count");
        return n;
    }
    /// Nodes of the topology, the values a task's node may take (more than
    /// node_count() only with numa_mode::off, which accepts and ignores them).
    int topology_node_count() const
    {
        int n = ctp_pool_topology_node_count(pool_);
        detail::check(n < 0 ? n : CTP_OK, "ctp_pool_topology_node_count");
        return n;
    }
    /// The node of worker `worker` (0 .. workers-1).
    int worker_node(int worker) const
    {
        int n = ctp_worker_node(pool_, worker);
        detail::check(n < 0 ? n : CTP_OK, "ctp_worker_node");
        return n;
    }
    /// Counters of node `node` (0 .. node_count()-1).
    ctp::node_stats node_stats(int node) const
    {
        ctp_node_stats s;
        detail::check(ctp_pool_node_stats(pool_, node, &s), "ctp_pool_node_stats");
        return ctp::node_stats::from_c(s);
    }

    /// What each worker is doing now (ctp_pool_snapshot): state, current
    /// task's label and run time, tasks run, local queue length. Never blocks
    /// a worker; any thread, including a task and the stall callback.
    /// Throws ctp::error (invalid_argument on a moved-from pool),
    /// std::bad_alloc.
    std::vector<worker_info> snapshot() const { return ctp::snapshot(pool_); }

    /// Starts recording a timeline (ctp_trace_start): each worker, and one
    /// shared ring for the threads outside the pool, keeps its last
    /// events_per_worker events (task begin/end with label, park, wake,
    /// steal, outside submission). Costs one predictable branch per task
    /// while off. Throws ctp::error: invalid_argument (events_per_worker 0
    /// or above 2^24, a trace already running), no_memory. Any thread.
    void start_trace(std::size_t events_per_worker)
    {
        detail::check(ctp_trace_start(pool_, events_per_worker), "ctp_trace_start");
    }
    /// Stops the trace and writes it to path as Chrome trace event JSON
    /// (open it in ui.perfetto.dev or chrome://tracing): one track per
    /// worker and per outside thread, task spans named by label or function.
    /// Throws ctp::error: invalid_argument (no trace running, or path cannot
    /// be created: then the trace keeps running and nothing is lost; call
    /// again with another path), no_memory. Any thread except the pool's
    /// own tasks.
    void stop_trace(const std::string &path)
    {
        int rc = ctp_trace_stop(pool_, path.c_str());
        if (rc != CTP_OK)
            throw error(rc, "ctp_trace_stop: " + path);
    }

    /// The C handle, for calls this header does not wrap. Still owned here.
    ctp_pool *native_handle() const noexcept { return pool_; }

private:
    void destroy() noexcept
    {
        if (pool_ == nullptr)
            return;
        int rc = ctp_pool_destroy(pool_);
        if (rc != CTP_OK) {
            // The C pool goes on running (a task_group, tick or
            // pinned_queue of it still exists, or this is one of its own
            // tasks): freeing state_ under its workers would be a
            // use-after-free. Like a joinable std::thread's destructor:
            // terminate, and say why.
            std::fprintf(stderr,
                         "ctp: ctp::pool destroyed while the C pool refuses (%s): a ctp::task_group, ctp::tick or "
                         "ctp::pinned_queue of it still exists (declare it after the pool), or the pool is "
                         "destroyed from its own task\n",
                         ctp_strerror(rc));
            std::terminate();
        }
        pool_ = nullptr;
        if (std::exception_ptr e = state_->errors.take()) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception &ex) {
                std::fprintf(stderr, "ctp: a task's exception was never observed: %s\n", ex.what());
            } catch (...) {
                std::fprintf(stderr, "ctp: a task's exception was never observed\n");
            }
        }
    }

    /// Where fire-and-forget exceptions go; nullptr on a moved-from pool,
    /// whose null pool_ refuses every submission before it is used.
    detail::exception_slot *errors_slot() noexcept { return state_ ? &state_->errors : nullptr; }

    ctp_pool *pool_ = nullptr;
    std::unique_ptr<detail::pool_state> state_; ///< outlives pool_ (freed after destroy())
};

inline pinned_queue::pinned_queue(pool &p)
{
    detail::check(ctp_pinned_create(p.native_handle(), &queue_), "ctp_pinned_create");
}

/// Fork-join: run() tasks, then wait() for all of them. Not movable.
class task_group {
public:
    explicit task_group(pool &p) : pool_(p.native_handle())
    {
        detail::check(ctp_group_create(pool_, &group_), "ctp_group_create");
    }
    task_group(const task_group &) = delete;
    task_group &operator=(const task_group &) = delete;

    /// Waits for the tasks; an exception nobody observed ends the program
    /// (std::terminate), as a joinable std::thread does. Call wait(). Not
    /// from one of the group's own tasks (the last shared_ptr to a group
    /// released inside its task, say): the tasks could not be waited for and
    /// would go on using this object, so it prints why and calls
    /// std::terminate.
    ~task_group()
    {
        int rc = ctp_group_wait(group_, CTP_WAIT_FOREVER);
        if (rc == CTP_EDEADLK) {
            std::fprintf(stderr, "ctp: ctp::task_group destroyed inside one of its own tasks (%s): its tasks "
                                 "cannot be waited for there\n",
                         ctp_strerror(rc));
            std::terminate();
        }
        if (rc == CTP_OK)
            ctp_group_destroy(group_);
        // (CTP_EINVAL: a pool inherited across fork, whose tasks never run
        // in this process: the group is left as it is.)
        if (errors_.pending())
            std::terminate();
    }

    /// Queues f() in this group. On success f was moved from (copied if an
    /// lvalue). Throws ctp::error on failure (errc::full, shutdown,
    /// no_memory, ...); f is then untouched: not moved from, still yours.
    /// label names the task in stall reports, snapshots and traces: a static
    /// string (a literal, or one that outlives the pool; it is not copied),
    /// or nullptr (none).
    template <class F> void run(F &&f, priority prio = priority::normal, const char *label = nullptr)
    {
        detail::check(detail::submit_callable(pool_, group_, prio, std::forward<F>(f), &errors_, label),
                      "ctp_group_submit");
    }
    /// Queues f() in this group, pinned to q's owner thread (see
    /// pinned_queue): it runs there only, e.g. while that thread is in
    /// wait(). Otherwise as run(f, ...); invalid_argument when q belongs to
    /// another pool or was moved from (f is then untouched).
    template <class F>
    void run(pinned_queue &q, F &&f, priority prio = priority::normal, const char *label = nullptr)
    {
        detail::check(
            detail::submit_pinned_callable(pool_, group_, prio, std::forward<F>(f), &errors_, label,
                                           q.native_handle()),
            "ctp_group_submit (pinned)");
    }

    /// Waits for every task (helping run tasks meanwhile), then rethrows the
    /// first exception one of them threw.
    void wait()
    {
        detail::check(ctp_group_wait(group_, CTP_WAIT_FOREVER), "ctp_group_wait");
        if (std::exception_ptr e = errors_.take())
            std::rethrow_exception(e);
    }

    /// Waits at most timeout; false if tasks are still running (no throw).
    /// When it returns true it rethrows like wait().
    template <class Rep, class Period>
    bool wait_for(std::chrono::duration<Rep, Period> timeout)
    {
        int rc = ctp_group_wait(group_, detail::timeout_ns(timeout));
        if (rc == CTP_ETIMEDOUT)
            return false;
        detail::check(rc, "ctp_group_wait");
        if (std::exception_ptr e = errors_.take())
            std::rethrow_exception(e);
        return true;
    }

    /// Exceptions thrown by this group's tasks so far (only the first is kept).
    std::size_t exceptions() const noexcept { return errors_.count(); }

private:
    ctp_pool *pool_;
    ctp_group *group_ = nullptr;
    detail::exception_slot errors_;
};

/// Options of a tick (ctp_tick_options).
struct tick_options {
    /// Record the report (a clock read per task of the tick; ticks that
    /// record nothing cost one predictable branch per task).
    bool report = false;
    /// 0 = none. Else the report counts the tasks that started and finished
    /// past it (recorded whenever a budget is set, report or not). Negative
    /// makes tick's constructor throw invalid_argument.
    std::chrono::nanoseconds budget{0};
    /// With a budget: called once, with the time since the tick began, when
    /// the tick is still running at its budget, on the pool's monitor thread
    /// (not one the tick's work can block). The tick owns a copy until it
    /// ends (end() or ~tick wait out a call in progress). It must not end the
    /// tick or wait for its tasks; an exception it throws is kept like a
    /// task's (end() rethrows it). Set without a budget, tick's constructor
    /// throws invalid_argument.
    std::function<void(std::chrono::nanoseconds elapsed)> on_overrun{};
};

/// One thread's share of a tick (ctp_tick_thread_report).
struct tick_thread_report {
    std::uint64_t tasks = 0;          ///< the tick's tasks it ran
    std::chrono::nanoseconds busy{0}; ///< running them (a task nested in another counted once)
    /// From the tick's begin to its first task (0 if it ran none).
    std::chrono::nanoseconds waking{0};
    /// The rest of the tick's wall time (always 0 for tick_report::outside).
    std::chrono::nanoseconds idle{0};

    static tick_thread_report from_c(const ctp_tick_thread_report &c) noexcept
    {
        return {c.tasks, detail::to_duration(c.busy_ns), detail::to_duration(c.waking_ns),
                detail::to_duration(c.idle_ns)};
    }
};

/// What tick::end reports (ctp_tick_report). Everything but wall, budget,
/// overran and workers.size() is 0 for a tick that recorded nothing (no
/// report, no budget).
struct tick_report {
    std::chrono::nanoseconds wall{0}; ///< the tick's begin to the end of the wait in end()
    std::uint64_t tasks = 0;          ///< tasks of the tick that ran (each exactly once)
    std::chrono::nanoseconds task_time{0}; ///< the sum of their run times
    /// The tick's begin to its first task's start (ctp_tick_report.first_start_ns).
    std::chrono::nanoseconds wake_lag{0};
    /// Submit-to-start of the tick's tasks: p50 and p99 from a histogram
    /// (within 12.5%), the maximum exact.
    std::chrono::nanoseconds wait_p50{0}, wait_p99{0}, wait_max{0};
    std::chrono::nanoseconds longest{0}; ///< the longest task's run time
    /// That task's C function (for tasks submitted through this header, the
    /// wrapper's trampoline: use longest_label) and label (or nullptr).
    ctp_task_fn longest_fn = nullptr;
    const char *longest_label = nullptr;
    std::chrono::nanoseconds budget{0}; ///< as given; 0 = none
    std::uint64_t started_past_budget = 0, finished_past_budget = 0;
    bool overran = false; ///< the wait in end() ended past the budget
    /// Each worker's share, by worker index (one entry per worker).
    std::vector<tick_thread_report> workers;
    /// The threads outside the pool (such as the one waiting in end() and
    /// helping, and a pinned queue's owner), together.
    tick_thread_report outside;

    /// The workers' busy time over their wall time (workers x wall), 0..1.
    double busy_share() const noexcept { return share(&tick_thread_report::busy); }
    /// The workers' waking time (the tick's begin to their first task) over
    /// their wall time, 0..1.
    double waking_share() const noexcept { return share(&tick_thread_report::waking); }
    /// The workers' idle time over their wall time, 0..1.
    double idle_share() const noexcept { return share(&tick_thread_report::idle); }

    static tick_report from_c(const ctp_tick_report &c, const ctp_tick_thread_report *w, std::size_t n)
    {
        tick_report r;
        r.workers.reserve(n);
        fill_from_c(r, c, w, n);
        return r;
    }
    /// from_c into r, allocating nothing when r.workers has capacity for n.
    static void fill_from_c(tick_report &r, const ctp_tick_report &c, const ctp_tick_thread_report *w,
                            std::size_t n)
    {
        r.wall = detail::to_duration(c.wall_ns);
        r.tasks = c.tasks;
        r.task_time = detail::to_duration(c.task_ns);
        r.wake_lag = detail::to_duration(c.first_start_ns);
        r.wait_p50 = detail::to_duration(c.wait_p50_ns);
        r.wait_p99 = detail::to_duration(c.wait_p99_ns);
        r.wait_max = detail::to_duration(c.wait_max_ns);
        r.longest = detail::to_duration(c.longest_ns);
        r.longest_fn = c.longest_fn;
        r.longest_label = c.longest_label;
        r.budget = detail::to_duration(c.budget_ns);
        r.started_past_budget = c.started_past_budget;
        r.finished_past_budget = c.finished_past_budget;
        r.overran = c.overran;
        r.workers.clear();
        r.workers.reserve(n);
        for (std::size_t i = 0; i < n; i++)
            r.workers.push_back(tick_thread_report::from_c(w[i]));
        r.outside = tick_thread_report::from_c(c.outside);
    }

private:
    double share(std::chrono::nanoseconds tick_thread_report::*field) const noexcept
    {
        if (workers.empty() || wall.count() <= 0)
            return 0;
        double sum = 0;
        for (const tick_thread_report &w : workers)
            sum += static_cast<double>((w.*field).count());
        return sum / (static_cast<double>(wall.count()) * static_cast<double>(workers.size()));
    }
};

/// One tick of a server (ctp_tick_begin / ctp_tick_end), RAII: a task group
/// that knows it is a tick and reports on it. run() its tasks (from any
/// thread, the tick's own tasks and on_overrun included), then end() it on
/// the thread that began it: end() waits for every task (helping run them,
/// and running the tasks pinned to this thread), and returns the report.
/// Not movable. end() frees the C tick: a run() from a thread that is not
/// running one of the tick's tasks or its on_overrun must have returned
/// before end() is called (order such submitters before end() yourself);
/// one racing it may use the freed tick. The tick's own tasks and
/// on_overrun may run() while end() waits, and end() waits for those too.
///
///     ctp::tick t(pool, {true, std::chrono::milliseconds(40), [](auto late) { ... }});
///     for (bot &b : bots) t.run([&b] { b.update(); });
///     ctp::tick_report r = t.end();
///
/// Exceptions are handled as task_group does: end() rethrows the first one
/// a task (or on_overrun) threw, after the tick ended (report() still has its
/// report); ~tick ends a tick that end() did not (waiting for its tasks) and
/// calls std::terminate if an exception was never observed.
class tick {
public:
    /// Begins the tick. Throws ctp::error: invalid_argument (a negative
    /// budget, on_overrun without a budget, a moved-from pool), shutdown,
    /// no_memory; std::bad_alloc (copying on_overrun).
    explicit tick(pool &p, tick_options opts = {}) : pool_(p.native_handle()), on_overrun_(std::move(opts.on_overrun))
    {
        if (opts.budget.count() < 0)
            throw error(CTP_EINVAL, "ctp_tick_begin: negative budget");
        ctp_tick_options o{};
        o.report = opts.report;
        o.budget_ns = static_cast<std::uint64_t>(opts.budget.count());
        if (on_overrun_) {
            o.on_overrun = &tick::overrun_trampoline;
            o.overrun_ctx = this;
        }
        ctp_tick *t = nullptr;
        detail::check(ctp_tick_begin(pool_, &o, &t), "ctp_tick_begin");
        // on_overrun may have published it already (a tiny budget).
        // Acq_rel: pairs with the trampoline's CAS and the acquire loads of
        // tick_ (run, end, the destructor), which then see the C tick whole.
        ctp_tick *none = nullptr;
        tick_.compare_exchange_strong(none, t, std::memory_order_acq_rel);
    }
    tick(const tick &) = delete;
    tick &operator=(const tick &) = delete;

    /// Ends the tick if end() did not (waiting for its tasks); an exception
    /// nobody observed ends the program (std::terminate), as in task_group.
    /// Not from one of the tick's own tasks or its on_overrun: the tick
    /// could not end there, and its tasks and budget would go on using this
    /// object, so it prints why and calls std::terminate.
    ~tick()
    {
        if (ctp_tick *t = tick_.load(std::memory_order_acquire)) {
            int rc = ctp_tick_end(t, CTP_WAIT_FOREVER, nullptr, nullptr, 0);
            if (rc == CTP_EDEADLK) {
                std::fprintf(stderr, "ctp: ctp::tick destroyed inside one of its own tasks or its on_overrun "
                                     "(%s): the tick cannot end there\n",
                             ctp_strerror(rc));
                std::terminate();
            }
        }
        if (errors_.pending())
            std::terminate();
    }

    /// Queues f() in this tick. As task_group::run: on success f was moved
    /// from (copied if an lvalue); on failure (ctp::error: full, shutdown,
    /// no_memory, invalid_argument once the tick has ended) f is untouched.
    template <class F> void run(F &&f, priority prio = priority::normal, const char *label = nullptr)
    {
        detail::check(detail::submit_callable(pool_, group(), prio, std::forward<F>(f), &errors_, label),
                      "ctp_group_submit (tick)");
    }
    /// Queues f() in this tick, pinned to q's owner thread (see
    /// pinned_queue): it runs there only, e.g. while that thread waits in
    /// end(), and counts in the report (under outside). invalid_argument
    /// when q belongs to another pool or was moved from (f untouched).
    template <class F>
    void run(pinned_queue &q, F &&f, priority prio = priority::normal, const char *label = nullptr)
    {
        detail::check(
            detail::submit_pinned_callable(pool_, group(), prio, std::forward<F>(f), &errors_, label,
                                           q.native_handle()),
            "ctp_group_submit (tick, pinned)");
    }

    /// Waits for every task of the tick (helping run them), ends it and
    /// returns its report (also kept: report()); then rethrows the first
    /// exception a task or on_overrun threw. With a timeout (negative = 0):
    /// throws ctp::error(timed_out) if the tasks did not finish in time; the
    /// tick stays open (call end() again). Not from a task of the tick (it
    /// would wait for itself); on the thread that began the tick. Throws
    /// invalid_argument once the tick has ended, std::bad_alloc.
    /// The timeout may be in any chrono unit (seconds::max() = no limit).
    template <class Rep = std::chrono::nanoseconds::rep, class Period = std::nano>
    tick_report end(std::chrono::duration<Rep, Period> timeout = std::chrono::duration<Rep, Period>::max())
    {
        ctp_tick *t = tick_.load(std::memory_order_acquire);
        if (t == nullptr)
            throw error(CTP_EINVAL, "ctp_tick_end: the tick has ended");
        std::size_t workers = 0;
        detail::check(ctp_pool_snapshot(pool_, nullptr, 0, &workers), "ctp_pool_snapshot");
        std::vector<ctp_tick_thread_report> w(workers);
        tick_report made; // allocated before the tick ends: a bad_alloc leaves it open
        made.workers.reserve(workers);
        ctp_tick_report r;
        detail::check(ctp_tick_end(t, detail::timeout_ns(timeout), &r, w.data(), w.size()), "ctp_tick_end");
        tick_.store(nullptr, std::memory_order_release); // from here on nothing allocates: the report cannot be lost
        tick_report::fill_from_c(made, r, w.data(), std::min(w.size(), r.workers));
        report_ = std::move(made);
        if (std::exception_ptr e = errors_.take())
            std::rethrow_exception(e);
        return report_;
    }

    /// Whether end() has ended the tick.
    bool ended() const noexcept { return tick_.load(std::memory_order_acquire) == nullptr; }
    /// The report end() made (also when it rethrew an exception); empty
    /// (all zero) before.
    const tick_report &report() const noexcept { return report_; }
    /// Exceptions thrown by this tick's tasks and on_overrun so far (only
    /// the first is kept).
    std::size_t exceptions() const noexcept { return errors_.count(); }

    /// The C handle (nullptr once ended). Still owned here.
    ctp_tick *native_handle() const noexcept { return tick_.load(std::memory_order_acquire); }

private:
    ctp_group *group() const
    {
        ctp_tick *t = tick_.load(std::memory_order_acquire);
        if (t == nullptr)
            throw error(CTP_EINVAL, "ctp_group_submit: the tick has ended");
        return ctp_tick_group(t);
    }
    static void overrun_trampoline(ctp_tick *t, std::uint64_t elapsed_ns, void *ctx) noexcept
    {
        tick *self = static_cast<tick *>(ctx);
        // With a tiny budget this can run before the constructor has the
        // handle: publish the callback's own, so run() inside it works.
        ctp_tick *none = nullptr; // acq_rel: as in the constructor's CAS
        self->tick_.compare_exchange_strong(none, t, std::memory_order_acq_rel);
        try {
            self->on_overrun_(detail::to_duration(elapsed_ns));
        } catch (...) {
            self->errors_.capture(std::current_exception());
        }
    }

    ctp_pool *pool_;
    /// Set by the constructor, or first by on_overrun's trampoline; cleared
    /// by end(). Atomic: on_overrun runs on the monitor thread. Every load
    /// is acquire, pairing with the two CASes (acq_rel) that publish it and
    /// end()'s release store that clears it.
    std::atomic<ctp_tick *> tick_{nullptr};
    std::function<void(std::chrono::nanoseconds)> on_overrun_;
    detail::exception_slot errors_;
    tick_report report_;
};

/// Calls body(begin, end) over [first, last) in chunks of about grain (0 =
/// automatic) on the pool and the caller; returns when all chunks ran, then
/// rethrows the first exception the body threw (later chunks still run).
template <class Body>
void parallel_for(pool &p, std::size_t first, std::size_t last, std::size_t grain, Body &&body)
{
    struct context {
        std::remove_reference_t<Body> *body; // Body is X& for an lvalue
        detail::exception_slot errors;
    } ctx{&body, {}};
    auto trampoline = [](std::size_t b, std::size_t e, void *c) noexcept {
        context *cx = static_cast<context *>(c);
        try {
            (*cx->body)(b, e);
        } catch (...) {
            cx->errors.capture(std::current_exception());
        }
    };
    detail::check(ctp_parallel_for(p.native_handle(), first, last, grain, trampoline, &ctx), "ctp_parallel_for");
    if (std::exception_ptr e = ctx.errors.take())
        std::rethrow_exception(e);
}

/// This thread's worker index in the pool whose task is running, or -1
/// (also inside another pool's task that a worker helps run: see ctp_worker_index).
inline int worker_index() noexcept { return ctp_worker_index(); }

/// The NUMA node of the calling worker, or -1 on a thread that is not one.
inline int current_node() noexcept { return ctp_current_node(); }

} // namespace ctp

namespace std {
template <> struct is_error_code_enum<ctp::errc> : true_type {};
} // namespace std

#endif // CTP_CTP_HPP
