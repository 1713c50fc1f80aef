import CThreadPool

// Batch submission (issue 17): many closures queued with one publish and one
// wake decision (`ctp_submit_batch_inline`), each closure carried inside its
// C task as a `Job`, as single submissions are.

/// Closures to submit together: a whole tick's work queued with one publish
/// and one wake decision instead of one per closure. (More than 256 closures
/// submitted from outside the pool are accepted or refused as a whole, then
/// published 256 at a time, each part with its wake decision, so the workers start on the first
/// part while the rest is queued: see `ctp_submit_batch`.)
///
/// Fill it with ``add(priority:node:label:_:)``, then hand it to
/// ``WorkGroup/submit(_:pinnedTo:)``, ``Tick/submit(_:pinnedTo:)`` or
/// ``ThreadPool/submit(_:pinnedTo:)``. Submitting empties the batch, whether
/// it succeeds or throws, and keeps its storage: a server that keeps one
/// batch and refills it every tick allocates nothing for it after the first
/// ticks. Each closure still costs what forming it costs (a closure with
/// captures has a context on the heap); the batch itself adds no allocation
/// per closure, and the closures travel inside the C tasks.
///
/// ```swift
/// let batch = TaskBatch()                 // kept across ticks
/// let group = try WorkGroup(pool: pool)   // kept across ticks too
/// while running {
///     for bot in bots { batch.add(priority: bot.priority, node: bot.zone.node) { bot.update() } }
///     try group.submit(batch)             // one publish, one wake decision; batch is empty again
///     try group.wait()
/// }
/// ```
///
/// All or none: a submission the pool refuses (it is shut down, its bounded
/// queue has no room for the whole batch, an item names a node the pool
/// does not have, a pinned queue is closed) queues nothing, runs none of the
/// closures and releases every one of them (and what they captured) before
/// it throws.
///
/// ## Thread safety
///
/// A batch is not `Sendable`: it belongs to one thread (or task) at a time,
/// which adds to it and submits it. Its closures, once submitted, run on
/// the pool like any other.
public final class TaskBatch {
    // The batch belongs to one thread at a time (it is not Sendable), so
    // its fields skip the runtime's dynamic exclusivity checks, which cost
    // about 2% of a tight add-and-submit loop.

    /// `count` initialized jobs, then uninitialized room up to `capacity`.
    @exclusivity(unchecked) private var jobs: UnsafeMutablePointer<Job>
    /// One task description per job; `group` and `pinned` are filled in by
    /// the submission.
    @exclusivity(unchecked) private var descs: UnsafeMutablePointer<ctp_task_desc>
    @exclusivity(unchecked) private var capacity: Int
    /// The closures added since the last submission (or ``removeAll()``).
    @exclusivity(unchecked) public private(set) var count = 0
    /// `fn` and `on_cancel` set, priority NORMAL, node -1: what `add` copies.
    private let template: ctp_task_desc
    /// Items whose node cannot be a node at all (negative, or past Int32):
    /// their description holds `Int32.min`, which the C runtime refuses,
    /// and this keeps the value given for the error message. Empty unless
    /// such an item was added.
    @exclusivity(unchecked) private var badNodes: [Int: Int] = [:]

    /// An empty batch with room for `minimumCapacity` closures before it
    /// grows (a negative value counts as 0).
    public init(minimumCapacity: Int = 0) {
        let n = max(minimumCapacity, 0)
        jobs = .allocate(capacity: n)
        descs = .allocate(capacity: n)
        capacity = n
        var d = ctp_task_desc()
        ctp_task_desc_init(&d, { runJob($0) }, nil)
        d.on_cancel = { cancelJob($0) }
        template = d
    }

    deinit {
        jobs.deinitialize(count: count)
        jobs.deallocate()
        descs.deallocate()
    }

    /// Whether the batch holds no closure.
    public var isEmpty: Bool { count == 0 }

    /// Makes room for `minimumCapacity` closures in all, so that adding
    /// that many allocates nothing. A smaller value does nothing.
    public func reserveCapacity(_ minimumCapacity: Int) {
        if minimumCapacity > capacity { grow(to: minimumCapacity) }
    }

    /// Adds `body` to the batch; it runs once the batch is submitted.
    /// - Parameters:
    ///   - priority: the closure's priority.
    ///   - node: NUMA node affinity (`nil` = any). A node the pool does not
    ///     have, or a negative one (-1 included), makes the submission throw
    ///     (and queue nothing).
    ///   - label: names the task in stall reports, snapshots and traces (a
    ///     string literal: the runtime keeps the pointer).
    ///   - body: the work. If it throws, a ``WorkGroup``'s or ``Tick``'s
    ///     next wait rethrows the error (the first one); a batch submitted
    ///     to the ``ThreadPool`` itself has nowhere to send it, and the
    ///     error is discarded.
    public func add(priority: ThreadPool.Priority = .normal, node: Int? = nil, label: StaticString? = nil,
                    _ body: @escaping @Sendable () throws -> Void) {
        if count == capacity { grow(to: max(16, capacity &* 2)) }
        (jobs + count).initialize(to: Job(run: body, cancel: nil))
        var d = template
        d.priority = priority.c
        if let node {
            if node >= 0 && node <= Int(Int32.max) {
                d.node = Int32(node)
            } else {
                d.node = Int32.min // refused at submission, with `node` in the message
                badNodes[count] = node
            }
        }
        if let label { d.label = TaskLabel.cString(label) }
        (descs + count).initialize(to: d)
        count += 1
    }

    /// Releases every closure of the batch without running it; the storage
    /// is kept.
    public func removeAll() {
        let n = count
        count = 0 // before the releases: a captured object's deinit sees an empty batch
        if !badNodes.isEmpty { badNodes = [:] }
        jobs.deinitialize(count: n)
    }

    private func grow(to newCapacity: Int) {
        let j = UnsafeMutablePointer<Job>.allocate(capacity: newCapacity)
        j.moveInitialize(from: jobs, count: count)
        jobs.deallocate()
        jobs = j
        let d = UnsafeMutablePointer<ctp_task_desc>.allocate(capacity: newCapacity)
        d.initialize(from: descs, count: count)
        descs.deallocate()
        descs = d
        capacity = newCapacity
    }

    /// Queues every closure (all or none), into `group` with its errors
    /// going to `errors`, pinned to `pinned` if given; empties the batch.
    /// On error every closure is released unrun and the error thrown.
    func submit(to pool: ThreadPool, group: OpaquePointer?, errors: ErrorSlot?, pinned: PinnedQueue?) throws {
        if count == 0 { return }
        // Whatever happens below, the closures leave the batch.
        var moved = false
        defer {
            if moved { count = 0; badNodes = [:] } else { removeAll() }
        }
        let rc = try withPinnedGate(pinned, pool: pool.handle) { pinnedHandle -> Int32 in
            for i in 0..<count {
                descs[i].group = group
                if let pinnedHandle {
                    descs[i].pinned = pinnedHandle
                    descs[i].node = -1 // a pinned task has no node
                }
                if let errors { jobs[i].errors = errors }
            }
            // Jobs hold only strong references and closures, which Swift moves
            // bitwise: memcpy (relocate NULL) is a move, and on success the
            // sources are dead without a deinitialize.
            return ctp_submit_batch_inline(pool.handle, descs, count, jobs, MemoryLayout<Job>.size,
                                           MemoryLayout<Job>.stride, nil)
        }
        if rc == Int32(CTP_OK) {
            moved = true
            pinned?.wakeOwner() // queued: an owner sleeping in TaskHandle.wait() runs them
            return
        }
        if rc == Int32(CTP_EINVAL) { throw invalidItem(pool) }
        try check(rc)
    }

    /// Why the C runtime refused the batch as invalid: the first item with
    /// a node the pool does not have.
    private func invalidItem(_ pool: ThreadPool) -> ThreadPoolError {
        let nodes = pool.topologyNodeCount // NUMA off accepts the topology's nodes
        for i in 0..<count where descs[i].node < -1 || descs[i].node >= nodes {
            return .invalidArgument("TaskBatch item \(i): "
                                    + notANodeMessage(badNodes[i] ?? Int(descs[i].node), nodes: nodes))
        }
        return ThreadPoolError(code: Int32(CTP_EINVAL))
    }
}

extension ThreadPool {
    /// Queues every closure of `batch` (fire and forget) with one publish
    /// and one wake decision, and empties the batch (see ``TaskBatch``).
    /// An error thrown by a closure is discarded: submit to a ``WorkGroup``
    /// or ``Tick`` to have it rethrown. Any thread; `batch` belongs to the
    /// caller.
    /// - Parameter pinnedTo: run every closure of the batch only on this
    ///   queue's owner thread (see ``PinnedQueue``); their nodes are ignored.
    /// - Throws: ``ThreadPoolError/shutdown``, ``ThreadPoolError/queueFull``
    ///   (no room for the whole batch), ``ThreadPoolError/invalidArgument(_:)``
    ///   (an item's node is not one of the pool's, a closed pinned queue or
    ///   one of another pool), ``ThreadPoolError/outOfMemory``. On error
    ///   nothing was queued and every closure was released without running.
    ///   An empty batch returns at once and checks nothing (the pool's state,
    ///   `pinnedTo`), as C's `ctp_submit_batch` with count 0 does.
    public func submit(_ batch: TaskBatch, pinnedTo: PinnedQueue? = nil) throws {
        try batch.submit(to: self, group: nil, errors: nil, pinned: pinnedTo)
    }
}

extension WorkGroup {
    /// Queues every closure of `batch` in this group with one publish and
    /// one wake decision, and empties the batch (see ``TaskBatch``). A
    /// closure that throws has its error rethrown by the group's next wait
    /// (the first one). Any thread; `batch` belongs to the caller.
    /// - Parameter pinnedTo: as for ``ThreadPool/submit(_:pinnedTo:)``.
    /// - Throws: the errors of ``ThreadPool/submit(_:pinnedTo:)``; on error
    ///   nothing was queued and every closure was released without running.
    public func submit(_ batch: TaskBatch, pinnedTo: PinnedQueue? = nil) throws {
        try batch.submit(to: pool, group: group, errors: errors, pinned: pinnedTo)
    }
}
