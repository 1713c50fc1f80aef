import CThreadPool
import Foundation

/// A pool of worker threads running closures and Swift concurrency jobs.
///
/// All methods may be called from any thread or task. Dropping the last
/// reference drains the pool: every queued closure runs, then the workers
/// exit. The C pool behind it is thread-safe, which makes the class
/// `Sendable`.
public final class ThreadPool: @unchecked Sendable {
    let handle: OpaquePointer

    /// Creates a pool and starts its workers.
    /// - Throws: ``ThreadPoolError/invalidArgument(_:)`` naming the bad setting,
    ///   or ``ThreadPoolError/outOfMemory``.
    public init(configuration: Configuration = Configuration()) throws {
        let cfg = configuration
        func invalid(_ why: String) -> ThreadPoolError { .invalidArgument(why) }
        guard cfg.workers >= 0 else { throw invalid("workers must not be negative") }
        guard cfg.queueCapacity >= 0 else { throw invalid("queueCapacity must not be negative") }
        guard cfg.wakeFanout >= 0, cfg.wakeFanout <= Int(UInt32.max) else { throw invalid("wakeFanout is out of range") }
        guard cfg.stackSize >= 0 else { throw invalid("stackSize must not be negative") }
        guard cfg.spinTime >= .zero else { throw invalid("spinTime must not be negative") }
        guard cfg.backoffTime >= .zero else { throw invalid("backoffTime must not be negative") }
        var c = ctp_config()
        ctp_config_init(&c)
        c.workers = cfg.workers
        c.queue_capacity = cfg.queueCapacity
        c.spin_ns = Self.nanoseconds(cfg.spinTime)
        c.backoff_ns = Self.nanoseconds(cfg.backoffTime)
        c.wake_fanout = UInt32(cfg.wakeFanout)
        c.stack_size = cfg.stackSize
        c.numa_mode = cfg.numaMode == .auto ? CTP_NUMA_AUTO : CTP_NUMA_OFF
        switch cfg.affinity {
        case .none: c.affinity = CTP_AFFINITY_NONE
        case .node: c.affinity = CTP_AFFINITY_NODE
        case .cpu: c.affinity = CTP_AFFINITY_CPU
        }
        var pool: OpaquePointer?
        let rc = Self.withOptionalCString(cfg.name) { name in
            Self.withOptionalCString(cfg.topology) { topology in
                c.name = name
                c.topology = topology
                return ctp_pool_create(&c, &pool)
            }
        }
        guard rc == Int32(CTP_OK), let pool else {
            throw ThreadPoolError(code: rc, detail: String(cString: ctp_last_error_message()))
        }
        handle = pool
    }

    deinit {
        if ctp_pool_destroy(handle) == Int32(CTP_EDEADLK) {
            // The last reference went away inside one of our own tasks: a
            // worker cannot join itself, so another thread finishes the job.
            let ref = PoolRef(handle: handle)
            Thread.detachNewThread { _ = ctp_pool_destroy(ref.handle) }
        }
    }

    /// Queues `body` to run once on a worker (fire and forget).
    /// - Parameters:
    ///   - priority: the task's priority.
    ///   - node: NUMA node affinity (`nil` = any).
    /// - Throws: ``ThreadPoolError/shutdown``, ``ThreadPoolError/queueFull``,
    ///   ``ThreadPoolError/invalidArgument(_:)`` (bad node), ``ThreadPoolError/outOfMemory``.
    ///   On error `body` is released without running.
    public func submit(priority: Priority = .normal, node: Int? = nil, _ body: @escaping @Sendable () -> Void) throws {
        try submitJob(handle, Job(run: body, cancel: nil), priority: priority, node: node, group: nil)
    }

    /// Queues `body` and returns a handle to its value or error.
    ///
    /// If a cancelling shutdown drops the task, the handle throws
    /// ``ThreadPoolError/cancelled``.
    @discardableResult
    public func submit<Value: Sendable>(priority: Priority = .normal, node: Int? = nil,
                                        _ body: @escaping @Sendable () throws -> Value) throws -> TaskHandle<Value> {
        let handle = TaskHandle<Value>(pool: self)
        try submitJob(self.handle,
                      Job(run: { handle.complete(Result { try body() }) },
                          cancel: { handle.complete(.failure(ThreadPoolError.cancelled)) }),
                      priority: priority, node: node, group: nil)
        return handle
    }

    /// Stops the pool: moves it to draining, then waits up to `timeout` for it
    /// to stop (see ``ShutdownMode``). Waits on a separate thread, so the
    /// calling task does not block a worker.
    /// - Throws: ``ThreadPoolError/timedOut`` (the pool keeps draining; call again).
    public func shutdown(_ mode: ShutdownMode = .drain, timeout: Duration = .seconds(3600)) async throws {
        let ref = PoolRef(handle: handle)
        let ns = Self.nanoseconds(timeout)
        let m = mode == .drain ? CTP_SHUTDOWN_DRAIN : CTP_SHUTDOWN_CANCEL
        let rc: Int32 = await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: ctp_pool_shutdown(ref.handle, m, ns)) }
        }
        try check(rc)
    }

    /// A snapshot of the pool's counters.
    public var stats: Stats {
        var s = ctp_stats()
        _ = ctp_pool_stats(handle, &s)
        return Stats(s)
    }

    /// Nodes the pool places work on (1 with NUMA off).
    public var nodeCount: Int { Int(ctp_pool_node_count(handle)) }

    /// The node of worker `worker`, or nil for a bad index.
    public func node(ofWorker worker: Int) -> Int? {
        let n = ctp_worker_node(handle, Int32(clamping: worker))
        return n >= 0 ? Int(n) : nil
    }

    /// Per-node counters for `node`, or nil for a bad node.
    public func nodeStats(_ node: Int) -> NodeStats? {
        var s = ctp_node_stats()
        guard ctp_pool_node_stats(handle, Int32(clamping: node), &s) == Int32(CTP_OK) else { return nil }
        return NodeStats(s)
    }

    /// The calling thread's worker index in its pool, nil outside any pool.
    public static var currentWorkerIndex: Int? {
        let i = ctp_worker_index()
        return i >= 0 ? Int(i) : nil
    }

    /// The NUMA node of the calling worker, nil outside any pool.
    public static var currentNode: Int? {
        let n = ctp_current_node()
        return n >= 0 ? Int(n) : nil
    }

    static func nanoseconds(_ d: Duration) -> UInt64 {
        let (s, a) = d.components
        if s < 0 { return 0 }
        let (ns, overflow) = UInt64(s).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? UInt64.max - 1 : ns &+ UInt64(a / 1_000_000_000)
    }

    static func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let s else { return body(nil) }
        return s.withCString { body($0) }
    }
}

/// The C pool pointer, to hand to another thread (the C pool is thread-safe).
struct PoolRef: @unchecked Sendable {
    let handle: OpaquePointer
}

/// Pool counters (see `ctp_stats`): a snapshot taken without stopping the pool.
public struct Stats: Sendable, Equatable {
    /// Tasks accepted.
    public var submitted: UInt64
    /// Tasks whose closure returned.
    public var executed: UInt64
    /// Tasks dropped by a cancelling shutdown.
    public var cancelled: UInt64
    /// Submissions refused (queue full, shutting down).
    public var rejected: UInt64
    /// Tasks taken from another worker's deque.
    public var steals: UInt64
    /// Tasks taken from an injection queue.
    public var injected: UInt64
    /// Times a worker blocked on its condition variable.
    public var parks: UInt64
    /// Times a parked worker was woken by a submission.
    public var wakeups: UInt64
    /// Timed parks that ended by their timeout.
    public var backoffTimeouts: UInt64
    /// Tasks submitted from outside the pool and not yet started.
    public var queued: UInt64
    /// Worker threads.
    public var workers: UInt64
    /// Workers parked right now.
    public var parked: UInt64
    /// Executed tasks per priority, critical first.
    public var executedByPriority: [UInt64]

    init(_ s: ctp_stats) {
        submitted = s.submitted; executed = s.executed; cancelled = s.cancelled; rejected = s.rejected
        steals = s.steals; injected = s.injected; parks = s.parks; wakeups = s.wakeups
        backoffTimeouts = s.backoff_timeouts; queued = s.queued; workers = s.workers; parked = s.parked
        var p = s.executed_by_priority
        executedByPriority = withUnsafeBytes(of: &p) { Array($0.bindMemory(to: UInt64.self)) }
    }
}

/// Per-node counters (see `ctp_node_stats`).
public struct NodeStats: Sendable, Equatable {
    /// Workers placed on the node.
    public var workers: UInt64
    /// Tasks run by the node's workers.
    public var executed: UInt64
    /// Of those, taken from another node's queues.
    public var takenRemote: UInt64
    /// Steals from workers of the same node.
    public var stealsLocal: UInt64
    /// Steals from workers of other nodes.
    public var stealsRemote: UInt64
    /// Tasks with a node affinity run on this node.
    public var affineExecuted: UInt64
    /// Of those, tasks whose affinity was this node.
    public var affineHome: UInt64

    init(_ s: ctp_node_stats) {
        workers = s.workers; executed = s.executed; takenRemote = s.taken_remote
        stealsLocal = s.steals_local; stealsRemote = s.steals_remote
        affineExecuted = s.affine_executed; affineHome = s.affine_home
    }
}
