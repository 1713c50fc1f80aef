import CThreadPool
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A pool of worker threads running closures and Swift concurrency jobs.
///
/// All methods may be called from any thread or task. The C pool behind it
/// is thread-safe, which makes the class `Sendable`.
///
/// ## Lifetime: shut the pool down explicitly
///
/// Call ``shutdown(_:timeout:)`` (blocking) or ``shutdownGracefully(_:timeout:)``
/// (async) before the last reference goes away. `deinit` never blocks: on a
/// pool that stopped it only frees memory (the workers already exited). A
/// pool released without any shutdown is a programming error: debug builds
/// stop at an assertion; release builds write a line to standard error and
/// let a detached thread of their own drain the pool, join its workers and
/// free it, so the releasing thread (perhaps one of the pool's own workers)
/// still does not wait.
public final class ThreadPool: @unchecked Sendable {
    let handle: OpaquePointer
    /// Whether a shutdown was asked for; whether one completed (workers exited).
    private let shutdownStarted = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    /// Groups released while their closures were still pending: freed once
    /// they are idle (see ``freeFinishedGroups()``), at the latest with the pool.
    private let pendingGroups = Mutex<[GroupRef]>([])

    /// Where executor jobs that the pool refuses or drops are run (see
    /// `Executor.swift`). Outlives the C pool: it is freed only after
    /// `ctp_pool_destroy` returned, since a cancelling shutdown hands it jobs.
    let rescue = ExecutorRescue()
    /// The task descriptions of executor jobs, one per priority level (see
    /// `Executor.swift`): read by every `enqueue`, freed with the pool object.
    let executorDesc = makeExecutorDesc()

    /// The configuration's closures that the C pool calls (see `Observers`):
    /// kept until the C pool is destroyed, which is why `deinit` hands them
    /// to whoever destroys it.
    private let observers: Observers?
    /// Whether a trace runs (``startTrace(eventsPerWorker:)``), to tell the
    /// C runtime's invalid-argument cases apart.
    let tracing = Mutex<Bool>(false)
    /// The pool's worker threads (fixed at creation).
    let workerCount: Int
    /// The pool's open pinned queues, by owner thread (see
    /// ``pinnedQueueOfCurrentThread()``): added by `PinnedQueue.init`,
    /// removed by its `close()` and `deinit`.
    private let pinnedQueues = Mutex<[PinnedQueueEntry]>([])

    /// Creates a pool and starts its workers.
    /// - Throws: ``ThreadPoolError/invalidArgument(_:)`` naming the bad
    ///   setting by its Swift name and giving its range (for example
    ///   `"Configuration.workers must be 1...1024, got 5000"`; see
    ///   ``Configuration`` for the rules), or ``ThreadPoolError/outOfMemory``.
    public init(configuration: Configuration = Configuration()) throws {
        var c = try configuration.cConfig()
        let observers = Observers(configuration)
        observers?.install(in: &c)
        var pool: OpaquePointer?
        let rc = Self.withOptionalCString(configuration.name) { name in
            Self.withOptionalCString(configuration.topology) { topology in
                c.name = name
                c.topology = topology
                return ctp_pool_create(&c, &pool)
            }
        }
        guard rc == Int32(CTP_OK), let pool else {
            let message = Configuration.swiftNames(String(cString: ctp_last_error_message()))
            throw ThreadPoolError(code: rc, detail: message)
        }
        handle = pool
        self.observers = observers
        var stats = ctp_stats()
        _ = ctp_pool_stats(pool, &stats)
        workerCount = Int(stats.workers)
    }

    deinit {
        executorDesc.deallocate() // enqueue needs a reference to the pool: none is running
        var groups = pendingGroups.withLock { $0 }
        if stopped.load(ordering: .acquiring) {
            // Every worker exited: destroying joins finished threads and
            // frees memory, nothing more.
            for g in groups { _ = ctp_group_destroy(g.handle) }
            groups = [] // destroyed: not again on the path below
            if ctp_pool_destroy(handle) == Int32(CTP_OK) {
                rescue.close()
                return
            }
        } else if !shutdownStarted.load(ordering: .relaxed) {
            assertionFailure("ThreadPool released without shutdown(); call shutdown() or shutdownGracefully() first")
            logError("ThreadPoolSwift: a ThreadPool was released without shutdown(); it drains on a thread of its own")
        }
        // Still running or draining: a detached thread finishes the job.
        let ref = PoolRef(handle: handle)
        let rescue = self.rescue
        let observers = self.observers
        let pending = groups
        let finish: @Sendable () -> Void = {
            _ = ctp_pool_shutdown(ref.handle, CTP_SHUTDOWN_DRAIN, UInt64.max)
            for g in pending { _ = ctp_group_destroy(g.handle) }
            _ = ctp_pool_destroy(ref.handle)
            rescue.close()
            withExtendedLifetime(observers) {} // the C pool called them until now
        }
        if !detachThread(finish) {
            // No thread to be had: start the drain and leave the pool (its
            // memory and exited threads) behind rather than block here. Its
            // tasks may still hand jobs to the rescue queue, and its
            // workers and monitor call the closures: leak those too.
            _ = ctp_pool_shutdown(handle, CTP_SHUTDOWN_DRAIN, 0)
            _ = Unmanaged.passRetained(rescue)
            if let observers { _ = Unmanaged.passRetained(observers) }
        }
    }

    func adoptPendingGroup(_ group: OpaquePointer) {
        pendingGroups.withLock { $0.append(GroupRef(handle: group)) }
    }

    func registerPinnedQueue(_ queue: PinnedQueue, owner: pthread_t) {
        pinnedQueues.withLock { $0.append(PinnedQueueEntry(id: ObjectIdentifier(queue), owner: owner, queue: queue)) }
    }

    func unregisterPinnedQueue(_ id: ObjectIdentifier) {
        pinnedQueues.withLock { $0.removeAll { $0.id == id } }
    }

    /// The open pinned queue of this pool that the calling thread owns, if
    /// any (a thread owns at most one queue).
    func pinnedQueueOfCurrentThread() -> PinnedQueue? {
        let me = pthread_self()
        let q = pinnedQueues.withLock { entries in
            entries.first { pthread_equal($0.owner, me) != 0 }?.queue
        }
        guard let q, !q.isClosed else { return nil }
        return q
    }

    /// Frees the released groups whose closures have all finished.
    func freeFinishedGroups() {
        pendingGroups.withLock { groups in
            if groups.isEmpty { return }
            groups.removeAll { ctp_group_destroy($0.handle) == Int32(CTP_OK) }
        }
    }

    /// Queues `body` to run once on a worker (fire and forget).
    /// - Parameters:
    ///   - priority: the task's priority.
    ///   - node: NUMA node affinity (`nil` = any; a negative node, -1
    ///     included, or one the pool does not have throws).
    ///   - label: a name for the task in stall reports, ``snapshot()`` and
    ///     traces (a string literal: the runtime keeps the pointer, not a copy).
    ///   - pinnedTo: run the task only on this queue's owner thread (see
    ///     ``PinnedQueue``), never on a worker; `node` is then ignored.
    /// - Throws: ``ThreadPoolError/shutdown``, ``ThreadPoolError/queueFull``,
    ///   ``ThreadPoolError/invalidArgument(_:)`` (bad node, a closed pinned
    ///   queue or one of another pool), ``ThreadPoolError/outOfMemory``.
    ///   On error `body` is released without running.
    public func submit(priority: Priority = .normal, node: Int? = nil, label: StaticString? = nil,
                       pinnedTo: PinnedQueue? = nil, _ body: @escaping @Sendable () -> Void) throws {
        try submitJob(handle, Job(run: body, cancel: nil), priority: priority, node: node, label: label, group: nil,
                      pinned: pinnedTo)
    }

    /// Queues `body` and returns a handle to its value or error.
    ///
    /// If a cancelling shutdown drops the task, the handle throws
    /// ``ThreadPoolError/cancelled``, as it does if the task was pinned to a
    /// queue closed before it ran. `label` and `pinnedTo` are as for the
    /// fire-and-forget ``submit(priority:node:label:pinnedTo:_:)-(_,_,_,_,()->Void)``.
    @discardableResult
    public func submit<Value: Sendable>(priority: Priority = .normal, node: Int? = nil, label: StaticString? = nil,
                                        pinnedTo: PinnedQueue? = nil,
                                        _ body: @escaping @Sendable () throws -> Value) throws -> TaskHandle<Value> {
        let handle = TaskHandle<Value>(pool: self)
        try submitJob(self.handle,
                      Job(run: { handle.complete(Result { try body() }) },
                          cancel: { handle.complete(.failure(ThreadPoolError.cancelled)) }),
                      priority: priority, node: node, label: label, group: nil, pinned: pinnedTo)
        return handle
    }

    /// Stops the pool: moves it to draining, then waits up to `timeout` for it
    /// to stop (see ``ShutdownMode``): blocks the calling thread. A later call
    /// may switch `.drain` to `.cancel`; on a stopped pool it returns at once.
    /// Executor jobs the pool refused or dropped run on its rescue thread
    /// (see ``enqueue(_:)``), which this does not wait for: async code that
    /// resumes on the pool after the shutdown may still run when it returns.
    /// - Throws: ``ThreadPoolError/timedOut`` (the pool keeps draining; call
    ///   again), ``ThreadPoolError/deadlock`` if called from one of the pool's
    ///   own tasks (the shutdown has started; finish it from outside).
    @available(*, noasync, message: "blocks the thread; use 'await shutdownGracefully()'")
    public func shutdown(_ mode: ShutdownMode = .drain, timeout: Duration = .seconds(3600)) throws {
        shutdownStarted.store(true, ordering: .relaxed)
        let ns = Self.nanoseconds(timeout)
        let rc = ctp_pool_shutdown(handle, mode.c, ns)
        if rc == Int32(CTP_EDEADLK) {
            _ = ctp_pool_shutdown(handle, mode.c, 0) // start it, at least
        }
        if rc == Int32(CTP_OK) { stopped.store(true, ordering: .releasing) }
        try check(rc)
    }

    /// ``shutdown(_:timeout:)`` for async code: the blocking wait happens on
    /// a thread of its own, so the calling task blocks no thread (not even
    /// one of this pool's workers, if it runs on them).
    /// - Throws: ``ThreadPoolError/timedOut`` (the pool keeps draining; call
    ///   again), ``ThreadPoolError/outOfMemory`` if no thread could be made.
    public func shutdownGracefully(_ mode: ShutdownMode = .drain, timeout: Duration = .seconds(3600)) async throws {
        shutdownStarted.store(true, ordering: .relaxed)
        let ref = PoolRef(handle: handle)
        let ns = Self.nanoseconds(timeout)
        let m = mode.c
        let rc: Int32 = await withCheckedContinuation { continuation in
            if !detachThread({ continuation.resume(returning: ctp_pool_shutdown(ref.handle, m, ns)) }) {
                continuation.resume(returning: Int32(CTP_ENOMEM))
            }
        }
        if rc == Int32(CTP_OK) { stopped.store(true, ordering: .releasing) }
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

    /// Nodes of the pool's topology: a task's `node` may be 0..<this. The
    /// same as ``nodeCount`` except with ``Configuration/NUMAMode/off``,
    /// which accepts the topology's nodes and ignores them.
    public var topologyNodeCount: Int { Int(ctp_pool_topology_node_count(handle)) }

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
    /// The index belongs to the pool whose task is running: a worker of
    /// pool A running a task of pool B (helping in a wait on B) gets nil
    /// there, and its A index again when the wait returns.
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
        if d <= .zero { return 0 } // (a sub-second negative one has seconds 0, attoseconds < 0)
        let (s, a) = d.components
        let (ns, overflow) = UInt64(s).multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, carry) = ns.addingReportingOverflow(UInt64(a / 1_000_000_000))
        // UInt64.max is "forever" in C: a finite duration saturates below it.
        return overflow || carry || sum == UInt64.max ? UInt64.max - 1 : sum
    }

    static func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let s else { return body(nil) }
        return s.withCString { body($0) }
    }
}

/// One open pinned queue of a pool, for ``ThreadPool/pinnedQueueOfCurrentThread()``.
/// Weak: the queue holds its pool, not the other way round.
private struct PinnedQueueEntry: @unchecked Sendable {
    let id: ObjectIdentifier
    let owner: pthread_t
    weak var queue: PinnedQueue?
}

/// The C pool pointer, to hand to another thread (the C pool is thread-safe).
struct PoolRef: @unchecked Sendable {
    let handle: OpaquePointer
}

extension ThreadPool {
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
        /// Executed tasks per priority: `stats.executedByPriority[.high]`.
        public var executedByPriority: PriorityCounts

        init(_ s: ctp_stats) {
            submitted = s.submitted; executed = s.executed; cancelled = s.cancelled; rejected = s.rejected
            steals = s.steals; injected = s.injected; parks = s.parks; wakeups = s.wakeups
            backoffTimeouts = s.backoff_timeouts; queued = s.queued; workers = s.workers; parked = s.parked
            var p = s.executed_by_priority
            executedByPriority = PriorityCounts(withUnsafeBytes(of: &p) { Array($0.bindMemory(to: UInt64.self)) })
        }
    }

    /// One counter per ``Priority``, read and written by subscript:
    /// `stats.executedByPriority[.high]`.
    public struct PriorityCounts: Sendable, Equatable, Hashable {
        // Indexed by `Priority.rawValue`; always one element per priority.
        private var counts: [UInt64]

        /// All counters zero.
        public init() {
            counts = Array(repeating: 0, count: Priority.allCases.count)
        }

        init(_ counts: [UInt64]) {
            precondition(counts.count == Priority.allCases.count, "one counter per priority")
            self.counts = counts
        }

        /// The counter of `priority`.
        public subscript(priority: Priority) -> UInt64 {
            get { counts[priority.rawValue] }
            set { counts[priority.rawValue] = newValue }
        }

        /// The sum over all priorities.
        public var total: UInt64 { counts.reduce(0, &+) }
    }

    /// Per-node counters (see `ctp_node_stats`).
    public struct NodeStats: Sendable, Equatable {
        /// Workers placed on the node.
        public var workers: UInt64
        /// Tasks run by the node's workers.
        public var executed: UInt64
        /// Tasks the node's workers took from another node's queues (counted
        /// when taken: one that a cancelling shutdown then drops counts here
        /// but not in `executed`).
        public var takenRemote: UInt64
        /// Steals from workers of the same node.
        public var stealsLocal: UInt64
        /// Steals from workers of other nodes.
        public var stealsRemote: UInt64
        /// Tasks with a node affinity run on this node (not those a
        /// cancelling shutdown dropped).
        public var affineExecuted: UInt64
        /// Of those, tasks whose affinity was this node.
        public var affineHome: UInt64

        init(_ s: ctp_node_stats) {
            workers = s.workers; executed = s.executed; takenRemote = s.taken_remote
            stealsLocal = s.steals_local; stealsRemote = s.steals_remote
            affineExecuted = s.affine_executed; affineHome = s.affine_home
        }
    }
}
