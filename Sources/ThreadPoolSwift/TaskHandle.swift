import CThreadPool
import Foundation

/// The eventual value (or error) of a closure submitted with
/// ``ThreadPool/submit(priority:node:_:)-(_,_,()->Value)``.
public final class TaskHandle<Value: Sendable>: @unchecked Sendable {
    private let pool: ThreadPool
    private let condition = NSCondition()
    private var result: Result<Value, any Error>?               // guarded by condition
    private var continuations: [CheckedContinuation<Value, any Error>] = [] // guarded by condition

    init(pool: ThreadPool) { self.pool = pool }

    func complete(_ r: Result<Value, any Error>) {
        condition.lock()
        result = r
        let waiting = continuations
        continuations = []
        condition.broadcast()
        condition.unlock()
        for c in waiting { c.resume(with: r) }
    }

    /// Blocks until the closure finished, then returns its value or throws its
    /// error (``ThreadPoolError/cancelled`` if a shutdown dropped it). While it
    /// waits it runs other queued tasks of the pool, so waiting on a worker
    /// cannot deadlock a one-worker pool.
    public func wait() throws -> Value {
        let onWorker = ctp_worker_index() >= 0
        condition.lock()
        while result == nil {
            condition.unlock()
            let helped = ctp_pool_help(pool.handle) == 1
            condition.lock()
            if helped || result != nil { continue }
            if onWorker {
                // Nothing to help with: the task runs elsewhere. A bounded wait
                // covers the one case help declines (a nearly full stack).
                _ = condition.wait(until: Date(timeIntervalSinceNow: 0.001))
            } else {
                condition.wait()
            }
        }
        let r = result!
        condition.unlock()
        return try r.get()
    }

    /// The value, awaited without blocking a thread.
    public var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Value, any Error>) in
                condition.lock()
                if let r = result {
                    condition.unlock()
                    c.resume(with: r)
                } else {
                    continuations.append(c)
                    condition.unlock()
                }
            }
        }
    }
}

/// Structured fork-join: submit closures, then wait for all of them. Waiting
/// runs other queued tasks meanwhile. Destroying the group waits for its
/// closures.
public final class WorkGroup: @unchecked Sendable {
    let pool: ThreadPool
    let group: OpaquePointer

    /// Creates an empty group on `pool`.
    /// - Throws: ``ThreadPoolError/shutdown`` if the pool stopped, ``ThreadPoolError/outOfMemory``.
    public init(pool: ThreadPool) throws {
        self.pool = pool
        var g: OpaquePointer?
        try check(ctp_group_create(pool.handle, &g))
        group = g!
    }

    deinit {
        _ = ctp_group_wait(group, UInt64.max)
        _ = ctp_group_destroy(group)
    }

    /// Queues `body` in this group. On error `body` is released without running.
    public func submit(priority: Priority = .normal, node: Int? = nil, _ body: @escaping @Sendable () -> Void) throws {
        try submitJob(pool.handle, Job(run: body, cancel: nil), priority: priority, node: node, group: group)
    }

    /// Waits until every closure of the group has run (or was dropped).
    public func wait() {
        _ = ctp_group_wait(group, UInt64.max)
    }

    /// Waits at most `timeout`; returns false if closures are still pending.
    public func wait(timeout: Duration) -> Bool {
        ctp_group_wait(group, ThreadPool.nanoseconds(timeout)) == Int32(CTP_OK)
    }
}

private struct RangeBody {
    let body: (Range<Int>) -> Void
    let base: Int
}

extension ThreadPool {
    /// Calls `body` over `range` split into chunks of about `grain` indices
    /// (0 = automatic) on the workers and the caller; returns when all ran.
    public func parallelFor(_ range: Range<Int>, grain: Int = 0, _ body: @Sendable (Range<Int>) -> Void) throws {
        guard grain >= 0 else { throw ThreadPoolError.invalidArgument("grain must not be negative") }
        if range.isEmpty { return }
        let base = range.lowerBound
        try withoutActuallyEscaping(body) { escapable in
            var ctx = RangeBody(body: escapable, base: base)
            let rc = withUnsafeMutablePointer(to: &ctx) { ptr in
                ctp_parallel_for(handle, 0, range.count, grain, { b, e, c in
                    let ctx = c!.assumingMemoryBound(to: RangeBody.self)
                    let offset = ctx.pointee.base
                    ctx.pointee.body((Int(b) + offset)..<(Int(e) + offset))
                }, UnsafeMutableRawPointer(ptr))
            }
            try check(rc)
        }
    }

    /// Maps `items` concurrently on the pool, keeping their order. If
    /// `transform` throws, the first error is rethrown after all items ran.
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
        if let e = firstError.get() { throw e }
        return results.map { $0! }
    }
}

/// A buffer shared by chunks that write disjoint indices.
private struct SendableBuffer<E>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<E>
    init(_ b: UnsafeMutableBufferPointer<E>) { buffer = b }
}

private final class ErrorSlot: @unchecked Sendable {
    private let lock = NSLock()
    private var error: (any Error)?
    func set(_ e: any Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
    func get() -> (any Error)? { lock.lock(); defer { lock.unlock() }; return error }
}
