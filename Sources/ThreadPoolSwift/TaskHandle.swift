import CThreadPool
import Synchronization

/// The eventual value (or error) of a closure submitted with
/// ``ThreadPool/submit(priority:node:label:pinnedTo:_:)-(_,_,_,_,()->Value)``.
///
/// Wait for it with ``wait()`` from synchronous code (it helps run the pool's
/// tasks meanwhile) or with `await` ``value`` from async code.
public final class TaskHandle<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        /// Threads blocked in wait().
        var sleepers: [Semaphore] = []
        /// Tasks suspended in `value`, by id (so a cancelled one can leave).
        var continuations: [UInt64: CheckedContinuation<Value, any Error>] = [:]
        /// Ids whose task was cancelled before its continuation was stored.
        var cancelledEarly: Set<UInt64> = []
        var nextID: UInt64 = 0
    }

    private let pool: ThreadPool
    private let state = Mutex(State())

    init(pool: ThreadPool) {
        self.pool = pool
    }

    func complete(_ r: Result<Value, any Error>) {
        let (sleepers, continuations) = state.withLock { s in
            s.result = r
            let taken = (s.sleepers, Array(s.continuations.values))
            s.sleepers = []
            s.continuations = [:]
            return taken
        }
        for t in sleepers { t.signal() }
        for c in continuations { c.resume(with: r) }
    }

    /// Blocks until the closure finished, then returns its value or throws its
    /// error (``ThreadPoolError/cancelled`` if a shutdown dropped it).
    /// Call it from synchronous code on any thread (a worker of the pool, a
    /// closure of it, a ``PinnedQueue``'s owner included); from async code
    /// use ``value``.
    ///
    /// While it waits it runs other queued tasks of the pool (`ctp_pool_help`:
    /// on a worker its own deque first), so waiting on a worker cannot
    /// deadlock a one-worker pool; once nothing is left to run it blocks on a
    /// semaphore until the closure completes. One exception: a worker with
    /// under a quarter of its stack free runs only the closures it submitted
    /// itself (its own deque), so on a one-worker pool a wait that deep for
    /// a closure submitted from elsewhere blocks until another thread runs
    /// it (a thread outside the pool in a helping wait, say). Wait on a
    /// ``WorkGroup`` instead: a worker that deep still runs the queued
    /// closures of the group it waits for.
    ///
    /// On the owner thread of an open ``PinnedQueue`` of this pool it also
    /// runs that queue's pinned closures, before it looks for other work,
    /// whatever closure the handle belongs to: one pinned to the queue
    /// completes, and so does a closure that (on a worker) submits a
    /// closure pinned to the owner and waits for it. A pinned submission
    /// made through this API (`pinnedTo:` on ``ThreadPool``, ``WorkGroup``,
    /// ``Tick`` or with a ``TaskBatch``) wakes the owner while it blocks; one
    /// made through the C API directly does not (it runs once the owner
    /// wakes for another reason). For a closure pinned to a queue, on any
    /// thread but the owner this waits until the owner runs it.
    @available(*, noasync, message: "blocks the thread; use 'await handle.value'")
    public func wait() throws -> Value {
        if let r = state.withLock({ $0.result }) { return try r.get() }
        // The calling thread's queue of this pool, if it owns one.
        let own = pool.pinnedQueueOfCurrentThread()
        var sleeper: Semaphore?
        while true {
            if let r = state.withLock({ $0.result }) { return try r.get() }
            // (Checked again each round: a closure run here may not close the
            // queue, but the C handle must not be used once it did.)
            let queue = own.flatMap { $0.isClosed ? nil : $0 }
            if let q = queue, ctp_pinned_run(q.handle, 1) == 1 { continue }
            if ctp_pool_help(pool.handle) == 1 { continue }
            // Nothing to help with: the closure runs (or is about to) on
            // another thread, which signals us when it completes; on the
            // owner, so does a pinned submission.
            let s = sleeper ?? Semaphore()
            sleeper = s
            let registered = state.withLock { st -> Bool in
                guard st.result == nil else { return false }
                st.sleepers.append(s)
                return true
            }
            guard registered else { continue }
            if let q = queue {
                q.beginSleep(s)
                // A pinned closure queued before beginSleep signalled nobody:
                // look once more (one queued after it signals `s`).
                if ctp_pinned_run(q.handle, 1) != 1 { s.wait() }
                q.endSleep(s)
                // Woken by a pinned submission (or ran one instead): the loop
                // looks again. A signal still to come (from complete() or a
                // submission) only makes a later s.wait() return early.
                state.withLock { $0.sleepers.removeAll { $0 === s } }
            } else {
                s.wait()
            }
        }
    }

    /// The value, awaited without blocking a thread.
    ///
    /// Honours cancellation: if the awaiting task is cancelled before the
    /// closure completed, this throws `CancellationError` at once. The
    /// closure itself is not stopped (it runs, or already runs, on the pool);
    /// its result stays available to ``wait()`` and later reads of `value`.
    public var value: Value {
        get async throws {
            if let r = state.withLock({ $0.result }) { return try r.get() }
            try Task.checkCancellation()
            let id = state.withLock { s -> UInt64 in
                s.nextID += 1
                return s.nextID
            }
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<Value, any Error>) in
                    // nil: stored, to be resumed by complete() or onCancel.
                    let now = state.withLock { s -> Result<Value, any Error>? in
                        // Removed either way: a result that came after the
                        // cancellation would leave the id behind for good.
                        let cancelled = s.cancelledEarly.remove(id) != nil
                        if let r = s.result { return r }
                        if cancelled { return .failure(CancellationError()) }
                        s.continuations[id] = c
                        return nil
                    }
                    if let r = now { c.resume(with: r) }
                }
            } onCancel: {
                let c = state.withLock { s -> CheckedContinuation<Value, any Error>? in
                    if let c = s.continuations.removeValue(forKey: id) { return c }
                    if s.result == nil { s.cancelledEarly.insert(id) }
                    return nil
                }
                c?.resume(throwing: CancellationError())
            }
        }
    }
}

/// Structured fork-join: submit closures, then wait for all of them. Waiting
/// runs other queued tasks meanwhile.
///
/// Closures may throw: the first error thrown since the previous wait is
/// rethrown by the next wait that sees the group finished (and then
/// forgotten, so the group can be reused). Every closure runs regardless.
///
/// Releasing the group does not wait: closures still pending run as usual,
/// and the C group is freed once they finished (at the latest when the pool
/// is destroyed).
public final class WorkGroup: @unchecked Sendable {
    let pool: ThreadPool
    let group: OpaquePointer
    let errors = ErrorSlot()
    /// Async waiters and the completion notification that resumes them.
    private let notified = GroupWaiters()

    /// Creates an empty group on `pool`.
    /// - Throws: ``ThreadPoolError/shutdown`` if the pool stopped, ``ThreadPoolError/outOfMemory``.
    public init(pool: ThreadPool) throws {
        self.pool = pool
        pool.freeFinishedGroups()
        var g: OpaquePointer?
        try check(ctp_group_create(pool.handle, &g))
        group = g!
    }

    deinit {
        // Never blocks: with closures pending the pool frees the group later.
        if ctp_group_destroy(group) != Int32(CTP_OK) {
            pool.adoptPendingGroup(group)
        }
    }

    /// Queues `body` in this group. If it throws, a later wait rethrows the
    /// error (the first one). On a submission error `body` is released
    /// without running and that error is thrown here. `label` names the
    /// task in stall reports, snapshots and traces, and `pinnedTo` runs it
    /// only on that queue's owner thread (see
    /// ``ThreadPool/submit(priority:node:label:pinnedTo:_:)-(_,_,_,_,()->Void)``):
    /// the owner's ``wait()`` runs it, so does ``PinnedQueue/run(max:)``.
    public func submit(priority: ThreadPool.Priority = .normal, node: Int? = nil, label: StaticString? = nil,
                       pinnedTo: PinnedQueue? = nil, _ body: @escaping @Sendable () throws -> Void) throws {
        try submitJob(pool.handle, Job(run: body, cancel: nil, errors: errors), priority: priority, node: node,
                      label: label, group: group, pinned: pinnedTo)
    }

    /// Waits until every closure of the group has run (or was dropped),
    /// running other queued tasks meanwhile (`ctp_group_wait`; on a
    /// ``PinnedQueue``'s owner thread, its pinned closures first), then
    /// rethrows the first error a closure threw. From async code use
    /// `await wait()` (which runs no closures: it suspends until the group's
    /// completion notification).
    /// - Throws: ``ThreadPoolError/deadlock`` if called from one of the
    ///   group's own closures (it would wait for itself); a closure's error.
    @available(*, noasync, message: "blocks the thread; use 'await group.wait()'")
    public func wait() throws {
        try check(ctp_group_wait(group, UInt64.max)) // CTP_EINVAL: a pool inherited across fork
        try rethrowFirst()
    }

    /// Waits at most `timeout`; returns false if closures are still pending,
    /// true once all finished (rethrowing the first error a closure threw).
    /// Throws ``ThreadPoolError/deadlock`` from one of the group's own
    /// closures, as ``wait()`` does.
    @available(*, noasync, message: "blocks the thread; use 'await group.wait(timeout:)'")
    public func wait(timeout: Duration) throws -> Bool {
        let rc = ctp_group_wait(group, ThreadPool.nanoseconds(timeout))
        if rc == Int32(CTP_ETIMEDOUT) { return false }
        try check(rc) // CTP_EINVAL: a pool inherited across fork
        try rethrowFirst()
        return true
    }

    /// Suspends until every closure of the group has run (or was dropped),
    /// then rethrows the first error a closure threw. Any task, on any
    /// executor (the pool's own included).
    ///
    /// Neither the caller's thread nor a worker waits: a group that has
    /// finished returns at once, without suspending; otherwise the caller
    /// suspends and the group's completion notification
    /// (`ctp_group_notify`, called on the thread that finished the group's
    /// last closure) resumes it on its own executor. The wait itself runs
    /// nothing: the pool's
    /// workers run the group's closures (a caller on the pool's own
    /// executor gives its thread back to them), and pinned closures need
    /// their owner (see ``PinnedQueue``). Several tasks may await one group
    /// at once; one notification resumes them all. Cancelling the waiting
    /// task ends the wait with `CancellationError` (the group's closures go
    /// on; wait again to wait for them).
    public func wait() async throws {
        guard await notified.wait(group, timeout: nil) else {
            if Task.isCancelled { throw CancellationError() }
            throw ThreadPoolError.invalidArgument("WorkGroup.wait: the pool was inherited across fork")
        }
        try rethrowFirst()
    }

    /// Suspends at most `timeout`; returns false if closures are still
    /// pending, true once all finished (rethrowing the first error). Waits
    /// as the untimed async `wait()` does (a timeout of zero only polls;
    /// cancelling the task throws `CancellationError`); the timeout is a
    /// sleeping task of the global executor, cancelled when the group
    /// finishes first.
    public func wait(timeout: Duration) async throws -> Bool {
        guard await notified.wait(group, timeout: timeout) else {
            if Task.isCancelled { throw CancellationError() }
            return false
        }
        try rethrowFirst()
        return true
    }

    private func rethrowFirst() throws {
        if let e = errors.take() { throw e }
    }
}

/// The async waiters of one group, resumed by one `ctp_group_notify`
/// notification (the C runtime takes at most one per group): the first
/// waiter registers it, holding a reference to this object for the C side
/// until it fires; the ones after join it. A resumed waiter re-checks the
/// group itself and waits again if it has tasks pending: the notification
/// it joined may have fired for an earlier round, just before it joined (a
/// condition variable's spurious wake-up). A timed-out waiter leaves; the
/// notification stays registered and fires for the others (or for nobody)
/// once the group finishes: at the latest when the pool drains it, or in
/// `ctp_group_destroy` once it has.
final class GroupWaiters: Sendable {
    private enum Entry {
        /// Waiting, between two suspensions (its timer may fire meanwhile).
        case reserved
        /// Its timeout passed.
        case expired
        case waiting(CheckedContinuation<Bool, Never>)
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        /// A C notification is registered (and holds a reference to us),
        /// or it fired and its resumeAll has not run yet.
        var armed = false
    }

    private let state = Mutex(State())

    /// Timeouts from here on wait without a timer (100 years).
    static let forever = Duration.seconds(100 * 365 * 86_400)

    /// True once the group finished, false if `timeout` passed first, the
    /// calling task was cancelled (the caller tells by `Task.isCancelled`),
    /// or the C group refused the notification (a pool inherited across
    /// fork).
    func wait(_ group: OpaquePointer, timeout: Duration?) async -> Bool {
        // Finished already: no suspension. (A zero timeout only polls; it
        // starts no task, on a worker or elsewhere.)
        if ctp_group_wait(group, 0) == Int32(CTP_OK) { return true }
        if let t = timeout, t <= .zero { return false }
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            s.entries[s.nextID] = .reserved
            return s.nextID
        }
        // A timeout of a century or more is no timeout: the clock's deadline
        // (now + t) would overflow for one near Duration's maximum.
        var timed: Duration? = nil
        if let t = timeout, t < GroupWaiters.forever { timed = t }
        let timer = timed.map { t -> Task<Void, Never> in
            Task { [self] in
                do { try await Task.sleep(for: t) } catch { return } // cancelled: the wait ended
                expire(id)
            }
        }
        defer {
            timer?.cancel()
            state.withLock { _ = $0.entries.removeValue(forKey: id) }
        }
        let g = GroupRef(handle: group)
        // Cancelling the task ends the wait as its timeout would.
        return await withTaskCancellationHandler {
            while true {
                // true: a notification fired; false: the timeout passed.
                let notified = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                    let (expired, arm) = state.withLock { s -> (Bool, Bool) in
                        if case .expired = s.entries[id] { return (true, false) }
                        s.entries[id] = .waiting(c)
                        if s.armed { return (false, false) }
                        s.armed = true
                        return (false, true)
                    }
                    if expired { return c.resume(returning: false) }
                    if arm { register(g.handle) }
                }
                if ctp_group_wait(g.handle, 0) == Int32(CTP_OK) { return true }
                if !notified { return false }
            }
        } onCancel: { [self] in
            expire(id)
        }
    }

    /// Registers the notification; on a group with nothing pending it
    /// fires at once, on this thread.
    private func register(_ group: OpaquePointer) {
        let me = Unmanaged.passRetained(self).toOpaque()
        let rc = ctp_group_notify(group, { ctx in
            Unmanaged<GroupWaiters>.fromOpaque(ctx!).takeRetainedValue().resumeAll(notified: true)
        }, me)
        if rc != Int32(CTP_OK) {
            // Only a pool inherited across fork refuses: `armed` was false,
            // so no notification of ours is registered.
            Unmanaged<GroupWaiters>.fromOpaque(me).release()
            resumeAll(notified: false)
        }
    }

    /// The notification fired: every stored waiter resumes and re-checks.
    /// Waiters that come later register a new one.
    private func resumeAll(notified: Bool) {
        let ready = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            s.armed = false
            var ready: [CheckedContinuation<Bool, Never>] = []
            for (id, e) in s.entries {
                if case .waiting(let c) = e {
                    ready.append(c)
                    s.entries[id] = .reserved
                }
            }
            return ready
        }
        for c in ready { c.resume(returning: notified) }
    }

    /// The waiter `id` timed out.
    private func expire(_ id: UInt64) {
        let c = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard let e = s.entries[id] else { return nil } // it returned already
            s.entries[id] = .expired
            if case .waiting(let c) = e { return c }
            return nil
        }
        c?.resume(returning: false)
    }
}

/// A C group pointer, to hand to another thread.
struct GroupRef: @unchecked Sendable {
    let handle: OpaquePointer
}

private struct RangeBody {
    let body: (Range<Int>) -> Void
    let base: Int
}

extension ThreadPool {
    /// Calls `body` over `range` split into chunks of about `grain` indices
    /// (0 = automatic) on the workers and the caller; returns when all ran.
    /// Blocks (helping); from async code run it inside a pool task or use a
    /// task group under `withTaskExecutorPreference(pool)`.
    @available(*, noasync, message: "blocks the thread; call it from a pool task or use a task group")
    public func parallelFor(_ range: Range<Int>, grain: Int = 0, _ body: @Sendable (Range<Int>) -> Void) throws {
        guard grain >= 0 else { throw ThreadPoolError.invalidArgument("grain must not be negative") }
        if range.isEmpty { return }
        let base = range.lowerBound
        // The span as C's size_t (imported as Int, by bit pattern): a range
        // wider than Int.max (say Int.min..<Int.max) has no Int count. Each
        // base + offset lies inside the range, so the wrapping additions
        // below are exact.
        let span = range.upperBound &- range.lowerBound
        try withoutActuallyEscaping(body) { escapable in
            var ctx = RangeBody(body: escapable, base: base)
            let rc = withUnsafeMutablePointer(to: &ctx) { ptr in
                ctp_parallel_for(handle, 0, span, grain, { b, e, c in
                    let ctx = c!.assumingMemoryBound(to: RangeBody.self)
                    let offset = ctx.pointee.base
                    ctx.pointee.body((offset &+ b)..<(offset &+ e))
                }, UnsafeMutableRawPointer(ptr))
            }
            try check(rc)
        }
    }

    /// Maps `items` concurrently on the pool, keeping their order. If
    /// `transform` throws, the first error is rethrown after all items ran.
    /// Blocks (helping), like ``parallelFor(_:grain:_:)``.
    @available(*, noasync, message: "blocks the thread; call it from a pool task or use a task group")
    public func concurrentMap<T: Sendable, R: Sendable>(_ items: [T], grain: Int = 0,
                                                        _ transform: @Sendable (T) throws -> R) throws -> [R] {
        let n = items.count
        if n == 0 { return [] }
        let results = UnsafeMutableBufferPointer<R?>.allocate(capacity: n)
        results.initialize(repeating: nil)
        defer { results.deinitialize().deallocate() }
        let firstError = ErrorSlot()
        let out = SendableBuffer(results)
        try items.withUnsafeBufferPointer { input in
            let inp = SendableBuffer(UnsafeMutableBufferPointer(mutating: input))
            try parallelFor(0..<n, grain: grain) { r in
                for i in r {
                    do { out.buffer[i] = try transform(inp.buffer[i]) } catch { firstError.set(error) }
                }
            }
        }
        if let e = firstError.take() { throw e }
        return results.map { $0! }
    }
}

extension ThreadPool {
    /// The blocking `parallelFor` for async code: it runs as a
    /// task of the pool (which helps run the chunks), and the caller suspends.
    /// If the awaiting task is cancelled, this throws `CancellationError`
    /// at once while the chunks already queued still run.
    public func parallelFor(_ range: Range<Int>, grain: Int = 0,
                            _ body: @escaping @Sendable (Range<Int>) -> Void) async throws {
        try await submit { [self] in try parallelFor(range, grain: grain, body) }.value
    }

    /// The blocking `concurrentMap` for async code, run like the async
    /// `parallelFor`: as a task of the pool, while the caller suspends.
    public func concurrentMap<T: Sendable, R: Sendable>(_ items: [T], grain: Int = 0,
                                                        _ transform: @escaping @Sendable (T) throws -> R) async throws -> [R] {
        try await submit { [self] in try concurrentMap(items, grain: grain, transform) }.value
    }
}

/// A buffer shared by chunks that write disjoint indices.
private struct SendableBuffer<E>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<E>
    init(_ b: UnsafeMutableBufferPointer<E>) { buffer = b }
}

/// The first error of several closures.
final class ErrorSlot: Sendable {
    private let error = Mutex<(any Error)?>(nil)
    func set(_ e: any Error) { error.withLock { if $0 == nil { $0 = e } } }
    /// The error, leaving the slot empty.
    func take() -> (any Error)? { error.withLock { e in defer { e = nil }; return e } }
}
