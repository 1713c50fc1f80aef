import CThreadPool
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Knowing the tick (issue 15): pre-wake, tick scopes with a report and a
// budget. The C side: `ctp_pool_prewake`, `ctp_tick_begin`,
// `ctp_tick_group`, `ctp_tick_end`.

extension ThreadPool {
    /// Tells the pool that work will be submitted at about `instant` (a
    /// server knows when its next tick starts): parked workers leave their
    /// park ``Configuration/prewakeLead`` before it and search until as long
    /// after it, so work submitted in that window starts without a wake-up;
    /// if none came they park again. Replaces an earlier call's time; an
    /// instant further in the past than the lead does nothing. Any thread.
    ///
    /// Clocks: the C runtime takes `CLOCK_MONOTONIC` nanoseconds, while
    /// `ContinuousClock` on Linux reads `CLOCK_BOOTTIME` (the Swift runtime's
    /// `swift_get_time`; `SuspendingClock` is the one that reads
    /// `CLOCK_MONOTONIC`). The two differ by the time the machine was
    /// suspended, so the instant is converted by its distance from
    /// `ContinuousClock.now`, added to `clock_gettime(CLOCK_MONOTONIC)` read
    /// right after (an error of the order of the two reads, well under a
    /// microsecond).
    public func prewake(at instant: ContinuousClock.Instant) {
        let ahead = ContinuousClock.now.duration(to: instant)
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let now = Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
        let (seconds, attoseconds) = ahead.components
        // Clamped to ±100 years in nanoseconds (no overflow), then to a
        // positive time: 0 would cancel rather than name a past instant.
        let aheadNs = seconds > 3_155_760_000 ? Int64(3_155_760_000) * 1_000_000_000
            : seconds < -3_155_760_000 ? Int64(-3_155_760_000) * 1_000_000_000
            : seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        let at = max(now + aheadNs, 1)
        _ = ctp_pool_prewake(handle, UInt64(at))
    }

    /// Cancels a pending ``prewake(at:)``.
    public func cancelPrewake() {
        _ = ctp_pool_prewake(handle, 0)
    }

    /// Begins a tick: a group (see ``Tick``) to submit the tick's closures
    /// into, ended by ``Tick/end(timeout:)``, which returns its
    /// report.
    /// - Parameters:
    ///   - report: record the report: per-worker busy, waking and idle
    ///     time, submit-to-start latencies, the longest task (two clock reads
    ///     per closure of the tick). With `false` and no budget, nothing is
    ///     recorded and the report has only ``TickReport/wall``.
    ///   - budget: the tick's budget, more than `.zero` (nil = none): the
    ///     report counts the closures that started and that finished past
    ///     it (recorded whenever a budget is set).
    ///   - onOverrun: called once, with the time since the tick began, when
    ///     the tick is still running at its budget: on the pool's monitor
    ///     thread, not on a thread the tick's work can block (the monitor is
    ///     started if stall detection did not start it). Needs `budget`. Kept
    ///     until the tick has ended; it must not wait for the tick (ending
    ///     it from there throws ``ThreadPoolError/deadlock``). That thread
    ///     runs no pool's closures (its stack is small): a wait there blocks
    ///     without helping. Closures it submits into the tick are accepted
    ///     and waited for by the tick's end, also while an end is under way.
    /// - Throws: ``ThreadPoolError/invalidArgument(_:)`` (a budget of
    ///   `.zero` or less, `onOverrun` without a budget),
    ///   ``ThreadPoolError/shutdown``, ``ThreadPoolError/outOfMemory``.
    public func beginTick(report: Bool = true, budget: Duration? = nil,
                          onOverrun: (@Sendable (Duration) -> Void)? = nil) throws -> Tick {
        try Tick(pool: self, report: report, budget: budget, onOverrun: onOverrun)
    }

    /// What ``Tick/end(timeout:)`` reports about one tick (see
    /// `ctp_tick_report`).
    public struct TickReport: Sendable, Equatable {
        /// From ``ThreadPool/beginTick(report:budget:onOverrun:)`` to the
        /// end of the wait in ``Tick/end(timeout:)``.
        public var wall: Duration
        /// Whether the tick recorded (`report: true` or a budget); if not,
        /// every field but ``wall`` is zero.
        public var isRecorded: Bool
        /// Closures of the tick that ran, each counted exactly once (nested
        /// submissions into the tick and pinned closures included).
        public var tasks: UInt64
        /// The sum of their run times.
        public var taskTime: Duration
        /// From the tick's begin to the first closure's start (the wake
        /// lag); nil if none ran.
        public var firstStart: Duration?
        /// Submit-to-start latency of the tick's closures: median and 99th
        /// percentile from a histogram of 8 buckets per power of two
        /// (within 12.5%), and the exact maximum.
        public var waitP50: Duration
        public var waitP99: Duration
        public var waitMax: Duration
        /// The longest closure's run time, and its `label:` (or nil).
        public var longest: Duration
        public var longestLabel: String?
        /// The budget as given; nil = none.
        public var budget: Duration?
        /// Closures that started past the budget, and that finished past it.
        public var startedPastBudget: UInt64
        public var finishedPastBudget: UInt64
        /// Whether the wait ended past the budget.
        public var overran: Bool
        /// One entry per worker, by index.
        public var workers: [TickThreadReport]
        /// Threads outside the pool that ran closures of the tick: the one
        /// waiting in ``Tick/end(timeout:)`` (helping, and running
        /// its pinned closures), other helpers. Its ``TickThreadReport/idle``
        /// is zero.
        public var outside: TickThreadReport

        init(_ r: ctp_tick_report, workers: [ctp_tick_thread_report], recorded: Bool) {
            func d(_ ns: UInt64) -> Duration { .nanoseconds(Int64(clamping: ns)) }
            wall = d(r.wall_ns)
            isRecorded = recorded
            tasks = r.tasks
            taskTime = d(r.task_ns)
            firstStart = r.tasks > 0 ? d(r.first_start_ns) : nil
            waitP50 = d(r.wait_p50_ns)
            waitP99 = d(r.wait_p99_ns)
            waitMax = d(r.wait_max_ns)
            longest = d(r.longest_ns)
            longestLabel = r.longest_label.map { String(cString: $0) }
            budget = r.budget_ns > 0 ? d(r.budget_ns) : nil
            startedPastBudget = r.started_past_budget
            finishedPastBudget = r.finished_past_budget
            overran = r.overran
            self.workers = workers.map(TickThreadReport.init)
            outside = TickThreadReport(r.outside)
        }
    }

    /// One thread's share of a tick (see `ctp_tick_thread_report`).
    public struct TickThreadReport: Sendable, Equatable {
        /// Closures of the tick it ran.
        public var tasks: UInt64
        /// Time running them (a closure nested in another counted once).
        public var busy: Duration
        /// From the tick's begin to its first closure (zero if it ran none).
        public var waking: Duration
        /// The rest of the tick's wall time (zero for ``TickReport/outside``).
        public var idle: Duration

        /// A report; the pool makes these, tests and forwarding code may too.
        public init(tasks: UInt64, busy: Duration, waking: Duration, idle: Duration) {
            self.tasks = tasks
            self.busy = busy
            self.waking = waking
            self.idle = idle
        }

        init(_ r: ctp_tick_thread_report) {
            tasks = r.tasks
            busy = .nanoseconds(Int64(clamping: r.busy_ns))
            waking = .nanoseconds(Int64(clamping: r.waking_ns))
            idle = .nanoseconds(Int64(clamping: r.idle_ns))
        }
    }
}

/// The `onOverrun` closure of a tick, boxed: the C tick gets an unretained
/// pointer (`overrun_ctx`), and the ``Tick`` keeps the box until the C tick
/// has ended (`ctp_tick_end` waits out a running callback).
final class OverrunBox: Sendable {
    let body: @Sendable (Duration) -> Void
    /// The thread inside `body` right now (the pool's monitor thread), or nil.
    private let firing = Mutex<pthread_t?>(nil)
    init(_ body: @escaping @Sendable (Duration) -> Void) { self.body = body }

    /// Calls `body`, remembering the thread meanwhile.
    func fire(_ elapsed: Duration) {
        firing.withLock { $0 = pthread_self() }
        defer { firing.withLock { $0 = nil } }
        body(elapsed)
    }

    /// Is the calling thread inside `body`?
    var firingHere: Bool {
        firing.withLock { f in f.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
    }
}

/// One tick of a server: a group of closures with a report and an optional
/// budget (see ``ThreadPool/beginTick(report:budget:onOverrun:)``).
///
/// Submit closures with ``submit(priority:node:label:pinnedTo:_:)`` (from
/// any thread, including the tick's own closures), then end the tick with
/// the blocking ``end(timeout:)``, which helps run the pool's
/// tasks while it waits (and, on a ``PinnedQueue``'s owner thread, runs its
/// pinned closures first), or with `await` ``end(timeout:)``.
/// Closures may throw: ending rethrows the first error, as ``WorkGroup``'s
/// wait does; the report is then in ``report``.
///
/// A tick is ended once; afterwards submissions throw
/// ``ThreadPoolError/invalidArgument(_:)``. End it from the thread that
/// began it or one it handed it to; not from one of its own closures (that
/// would wait for itself).
///
/// ## Released without end
///
/// Releasing a tick that was not ended never blocks, and loses its report:
/// if its closures have all finished, the tick is ended right there;
/// otherwise a detached thread of its own waits for them and ends it. Either
/// way `onOverrun` may still fire until then, and is released afterwards.
/// (Pinned closures of such a tick still need their owner to run them.)
public final class Tick: @unchecked Sendable {
    let pool: ThreadPool
    private let handle: OpaquePointer
    private let group: OpaquePointer
    private let recorded: Bool
    private let errors = ErrorSlot()
    /// Refuses submissions once the tick is ending (see `SubmitGate`).
    private let gate = SubmitGate()
    /// The async ``end(timeout:)``'s waiters on the tick's group.
    private let notified = GroupWaiters()

    private enum Phase { case open, ending, ended }
    private struct State {
        var phase = Phase.open
        var report: ThreadPool.TickReport?
        var overrun: OverrunBox?
    }
    private let state: Mutex<State>

    init(pool: ThreadPool, report: Bool, budget: Duration?, onOverrun: (@Sendable (Duration) -> Void)?) throws {
        var o = ctp_tick_options()
        o.report = report
        if let budget {
            guard budget > .zero, ThreadPool.nanoseconds(budget) >= 1 else {
                throw ThreadPoolError.invalidArgument(
                    "beginTick(budget:) must be at least 1 nanosecond, got \(budget) (nil means no budget)")
            }
            o.budget_ns = ThreadPool.nanoseconds(budget)
        }
        let box = onOverrun.map(OverrunBox.init)
        if let box {
            guard budget != nil else {
                throw ThreadPoolError.invalidArgument("beginTick(onOverrun:) needs a budget")
            }
            o.on_overrun = { _, elapsed, ctx in
                guard let ctx else { return }
                Unmanaged<OverrunBox>.fromOpaque(ctx).takeUnretainedValue().fire(.nanoseconds(Int64(clamping: elapsed)))
            }
            o.overrun_ctx = Unmanaged.passUnretained(box).toOpaque()
        }
        var t: OpaquePointer?
        try check(ctp_tick_begin(pool.handle, &o, &t))
        self.pool = pool
        handle = t!
        group = ctp_tick_group(t)
        recorded = report || budget != nil
        state = Mutex(State(overrun: box))
    }

    deinit {
        let (phase, box) = state.withLock { ($0.phase, $0.overrun) }
        guard phase == .open else { return } // ended (.ending cannot be: end() holds a reference)
        // Nobody else holds the tick, so nothing can submit into it any more.
        // Outside the pool, a zero timeout polls without running a task. Not
        // with an onOverrun: the last reference may have been the callback's,
        // on the monitor thread, and ctp_tick_end waits for that callback.
        if box == nil && ctp_worker_index() < 0 && ctp_group_wait(group, 0) == Int32(CTP_OK) {
            _ = ctp_tick_end(handle, UInt64.max, nil, nil, 0)
            return
        }
        let ref = TickRef(handle: handle)
        let pool = self.pool
        if !detachThread({
            _ = ctp_tick_end(ref.handle, UInt64.max, nil, nil, 0)
            withExtendedLifetime((box, pool)) {} // called until now; the pool outlives its tick
        }) {
            // No thread: leave the tick behind (its memory, and the closure
            // its monitor may still call) rather than block here.
            logError("ThreadPoolSwift: a Tick released before end() could not be ended (no thread); left behind")
            if let box { _ = Unmanaged.passRetained(box) }
            _ = Unmanaged.passRetained(pool)
        }
    }

    /// Queues `body` in this tick. If it throws, ending the tick rethrows
    /// the error (the first one). `priority`, `node`, `label` and
    /// `pinnedTo` are as for
    /// ``ThreadPool/submit(priority:node:label:pinnedTo:_:)-(_,_,_,_,()->Void)``.
    /// On a submission error `body` is released without running and that
    /// error is thrown here.
    /// - Throws: ``ThreadPoolError/invalidArgument(_:)`` if the tick has
    ///   ended (or a submission from outside races its end), and the errors
    ///   of ``ThreadPool/submit(priority:node:label:pinnedTo:_:)-(_,_,_,_,()->Void)``.
    public func submit(priority: ThreadPool.Priority = .normal, node: Int? = nil, label: StaticString? = nil,
                       pinnedTo: PinnedQueue? = nil, _ body: @escaping @Sendable () throws -> Void) throws {
        let entered = gate.enter()
        guard entered || inOwnOverrun else { throw ThreadPoolError.invalidArgument("Tick.submit: the tick has ended") }
        defer { if entered { gate.leave() } }
        try submitJob(pool.handle, Job(run: body, cancel: nil, errors: errors), priority: priority, node: node,
                      label: label, group: group, pinned: pinnedTo)
    }

    /// Queues every closure of `batch` in this tick with one publish and
    /// one wake decision, and empties the batch (see ``TaskBatch``). A
    /// closure that throws has its error rethrown when the tick ends (the
    /// first one). Any thread, including the tick's own closures; `batch`
    /// belongs to the caller.
    /// - Parameter pinnedTo: as for ``ThreadPool/submit(_:pinnedTo:)``.
    /// - Throws: ``ThreadPoolError/invalidArgument(_:)`` if the tick has
    ///   ended, and the errors of ``ThreadPool/submit(_:pinnedTo:)``. On
    ///   error nothing was queued and every closure was released without
    ///   running.
    public func submit(_ batch: TaskBatch, pinnedTo: PinnedQueue? = nil) throws {
        let entered = gate.enter()
        guard entered || inOwnOverrun else {
            batch.removeAll()
            throw ThreadPoolError.invalidArgument("Tick.submit: the tick has ended")
        }
        defer { if entered { gate.leave() } }
        try batch.submit(to: pool, group: group, errors: errors, pinned: pinnedTo)
    }

    /// Is the calling thread inside this tick's `onOverrun`? Its submissions
    /// pass a sealed gate: `ctp_tick_end` waits for a running callback before
    /// it frees the group, and then waits for what the callback submitted.
    private var inOwnOverrun: Bool { state.withLock { $0.overrun }?.firingHere ?? false }

    /// The report, once the tick has ended (also when ending rethrew a
    /// closure's error); nil before.
    public var report: ThreadPool.TickReport? { state.withLock { $0.report } }

    /// Whether the tick has ended.
    public var hasEnded: Bool { state.withLock { $0.phase == .ended } }

    /// Waits until every closure of the tick has run (helping to run the
    /// pool's tasks meanwhile; on a ``PinnedQueue``'s owner thread, running
    /// its pinned closures first), ends the tick and returns its report.
    /// Then rethrows the first error a closure threw, if one did (the report
    /// is in ``report``).
    /// - Parameter timeout: the longest wait for the closures, and for the
    ///   tick's `onOverrun` if it is running when they are done (ending
    ///   waits for it); nil = no limit.
    /// - Throws: ``ThreadPoolError/timedOut`` if closures are still pending
    ///   after `timeout`, or `onOverrun` still runs (the tick stays open:
    ///   call again);
    ///   ``ThreadPoolError/invalidArgument(_:)`` if the tick has ended or is
    ///   being ended on another thread or task (a blocking end, or an async
    ///   one still waiting; also a closure of the tick that the ending
    ///   thread runs in its wait); ``ThreadPoolError/deadlock`` from one of the
    ///   tick's own closures (it would wait for itself; the tick stays
    ///   open) or from its `onOverrun` (which the end waits for); a
    ///   closure's error.
    @available(*, noasync, message: "blocks the thread; use 'await tick.end()'")
    public func end(timeout: Duration? = nil) throws -> ThreadPool.TickReport {
        if inOwnOverrun { throw ThreadPoolError.deadlock } // the monitor waits for this callback
        try claimEnd()
        let report: ThreadPool.TickReport
        switch endClaimed(timeout.map(ThreadPool.nanoseconds) ?? UInt64.max) {
        case .success(let r):
            report = r
        case .failure(let e):
            reopen() // timed out (or refused): the tick stays open
            throw e
        }
        if let e = errors.take() { throw e }
        return report
    }

    /// ``end(timeout:)`` for async code: the caller suspends until every
    /// closure of the tick has run, then ends it. Nothing waits meanwhile:
    /// the tick's completion notification (as for `await`
    /// ``WorkGroup/wait()``) resumes the caller, which then ends the tick
    /// without blocking, except that ending waits for the tick's
    /// `onOverrun` if it is running right then (so keep it short). The wait
    /// runs no closures (pinned closures need
    /// their owner, see ``PinnedQueue``). From any task, a tick's own
    /// closures' nested waits included (a pool task that blocked for the
    /// tick could be run by such a wait, inside the closure it waits for).
    ///
    /// The tick counts as being ended from the call on: until this returns
    /// or throws, another end (blocking or async) throws at once, and
    /// closures may still be submitted into the tick (they are waited for).
    /// While `onOverrun` runs after the closures are done, the caller
    /// sleeps (suspended, never holding a pool thread) and looks again,
    /// within `timeout`. Cancelling the calling task ends the wait.
    /// - Throws: as the blocking ``end(timeout:)``: on a timeout the tick
    ///   stays open (call again); `CancellationError` if the task was
    ///   cancelled while it waited (the tick stays open).
    public func end(timeout: Duration? = nil) async throws -> ThreadPool.TickReport {
        if inOwnOverrun { throw ThreadPoolError.deadlock } // the monitor waits for this callback
        // Claimed before the group is touched: once ended, the C group is
        // freed (and its memory recycled for other groups).
        try claimEnd()
        let start = ContinuousClock.now
        var pause = Duration.microseconds(50)
        while true {
            let left = timeout.map { t -> Duration in
                let spent = ContinuousClock.now - start
                return t > spent ? t - spent : .zero
            }
            guard await notified.wait(group, timeout: left) else {
                let forked = ctp_group_wait(group, 0) == Int32(CTP_EINVAL)
                reopen()
                if forked { throw ThreadPoolError.invalidArgument("Tick.end: the pool was inherited across fork") }
                if Task.isCancelled { throw CancellationError() }
                throw ThreadPoolError.timedOut
            }
            switch endClaimed(0) {
            case .success(let report):
                if let e = errors.take() { throw e }
                return report
            case .failure(.timedOut):
                // A submission got in after the notification (wait for it
                // too, still claimed), or every closure has run and the
                // tick's onOverrun is running: the C end waits for it only
                // within its timeout (0 here). Sleep, so that no thread is
                // held (on a one-worker pool the callback may wait for a
                // closure that needs this very thread), within the timeout.
                if ctp_group_wait(group, 0) == Int32(CTP_OK) {
                    if let t = timeout, ContinuousClock.now - start >= t {
                        reopen()
                        throw ThreadPoolError.timedOut
                    }
                    do {
                        try await Task.sleep(for: pause)
                    } catch {
                        reopen()
                        throw error
                    }
                    pause = min(pause * 2, .milliseconds(1))
                }
                continue
            case .failure(let e):
                reopen()
                throw e
            }
        }
    }

    /// Claims the end of the tick for the caller (`.open` to `.ending`), so
    /// that no other end touches the tick's group meanwhile.
    /// - Throws: ``ThreadPoolError/invalidArgument(_:)`` if the tick has
    ///   ended or another end has claimed it.
    private func claimEnd() throws {
        let was = state.withLock { s -> Phase in
            let was = s.phase
            if was == .open { s.phase = .ending }
            return was
        }
        switch was {
        case .ended: throw ThreadPoolError.invalidArgument("Tick.end: the tick has already ended")
        case .ending: throw ThreadPoolError.invalidArgument("Tick.end: the tick is being ended on another thread")
        case .open: return
        }
    }

    /// Gives a claimed end back (`.ending` to `.open`): it timed out or failed.
    private func reopen() {
        state.withLock { $0.phase = .open }
    }

    /// Ends the tick, claimed by the caller with `claimEnd()`, on the calling
    /// thread (blocking up to `timeoutNs`). On failure the tick is still
    /// open in C and still claimed: the caller retries or calls `reopen()`.
    private func endClaimed(_ timeoutNs: UInt64) -> Result<ThreadPool.TickReport, ThreadPoolError> {
        let deadline: UInt64
        if timeoutNs == UInt64.max {
            deadline = UInt64.max
        } else {
            let (d, over) = monotonicNow().addingReportingOverflow(timeoutNs)
            deadline = over || d == UInt64.max ? UInt64.max - 1 : d // saturate, as ctp__deadline does
        }
        // 1. Wait with submissions open: the tick's closures may add more.
        var rc = ctp_group_wait(group, timeoutNs)
        var report = ctp_tick_report()
        var workers = [ctp_tick_thread_report](repeating: ctp_tick_thread_report(), count: pool.workerCount)
        if rc == Int32(CTP_OK) {
            // 2. Close submissions (waiting out those in flight), then end:
            // the C tick frees its group, so no submission may reach it after.
            gate.seal()
            let left: UInt64
            if deadline == UInt64.max {
                left = UInt64.max
            } else {
                let now = monotonicNow()
                left = deadline > now ? deadline - now : 0
            }
            rc = workers.withUnsafeMutableBufferPointer { w in
                ctp_tick_end(handle, left, &report, w.baseAddress, w.count)
            }
            if rc != Int32(CTP_OK) { gate.unseal() } // a submission racing the seal is still pending
        }
        guard rc == Int32(CTP_OK) else { return .failure(ThreadPoolError(code: rc)) }
        let r = ThreadPool.TickReport(report, workers: workers, recorded: recorded)
        let box = state.withLock { s -> OverrunBox? in
            s.phase = .ended
            s.report = r
            defer { s.overrun = nil }
            return s.overrun
        }
        withExtendedLifetime(box) {} // released here, outside the lock: the C tick no longer calls it
        return .success(r)
    }
}

/// A C tick pointer, to hand to another thread.
struct TickRef: @unchecked Sendable {
    let handle: OpaquePointer
}

/// `CLOCK_MONOTONIC` in nanoseconds (the C runtime's clock).
func monotonicNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
