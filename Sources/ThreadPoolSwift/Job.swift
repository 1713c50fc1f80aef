import CThreadPool
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A closure and what to do if it is dropped, stored inside a C task node
/// with `ctp_submit_inline` (two closures and a reference: 40 bytes, within
/// `CTP_INLINE_CAPACITY`), so submitting allocates no box of its own.
struct Job {
    let run: @Sendable () throws -> Void
    let cancel: (@Sendable () -> Void)?
    /// Where an error thrown by `run` goes (a work group's first error).
    var errors: ErrorSlot? = nil
}

func runJob(_ payload: UnsafeMutableRawPointer?) {
    let job = payload!.assumingMemoryBound(to: Job.self).move()
    do {
        try job.run()
    } catch {
        job.errors?.set(error)
    }
}

func cancelJob(_ payload: UnsafeMutableRawPointer?) {
    let job = payload!.assumingMemoryBound(to: Job.self).move()
    job.cancel?()
}

private func relocateJob(_ dst: UnsafeMutableRawPointer?, _ src: UnsafeMutableRawPointer?) {
    dst!.initializeMemory(as: Job.self, to: src!.assumingMemoryBound(to: Job.self).move())
}

/// Submits `job`; on error the job is released here and the error thrown.
/// With `pinned`, the task runs only on that queue's owner thread (`node` is
/// ignored); a closed queue refuses it.
func submitJob(_ pool: OpaquePointer, _ job: Job, priority: ThreadPool.Priority, node: Int?,
               label: StaticString? = nil, group: OpaquePointer?, pinned: PinnedQueue? = nil) throws {
    try withPinnedGate(pinned, pool: pool) { pinnedTo in
        try submitJobToC(pool, job, priority: priority, node: pinnedTo == nil ? node : nil, label: label,
                         group: group, pinnedTo: pinnedTo)
    }
    pinned?.wakeOwner() // queued: an owner sleeping in TaskHandle.wait() runs it
}

/// Runs `body` with the C handle of `pinned` (nil when not pinned) while
/// the queue's submit gate lets submissions through, so the queue is not
/// freed under them. Throws, without calling `body`, for a queue of another
/// pool or a closed one.
func withPinnedGate<R>(_ pinned: PinnedQueue?, pool: OpaquePointer,
                       _ body: (OpaquePointer?) throws -> R) throws -> R {
    guard let pinned else { return try body(nil) }
    guard pinned.pool.handle == pool else {
        throw ThreadPoolError.invalidArgument("pinnedTo: the queue belongs to another pool")
    }
    guard pinned.gate.enter() else {
        throw ThreadPoolError.invalidArgument("pinnedTo: the pinned queue is closed")
    }
    defer { pinned.gate.leave() }
    return try body(pinned.handle)
}

private func submitJobToC(_ pool: OpaquePointer, _ job: Job, priority: ThreadPool.Priority, node: Int?,
                       label: StaticString?, group: OpaquePointer?, pinnedTo: OpaquePointer?) throws {
    var desc = ctp_task_desc()
    ctp_task_desc_init(&desc, { runJob($0) }, nil)
    desc.on_cancel = { cancelJob($0) }
    desc.priority = priority.c
    if let node {
        // -1 is C's "any node": only nil means that here.
        guard node >= 0 && node <= Int(Int32.max) else { throw notANode(node, pool) }
        desc.node = Int32(node)
    } else {
        desc.node = -1
    }
    desc.group = group
    desc.label = TaskLabel.cString(label)
    desc.pinned = pinnedTo
    let rc = withUnsafeTemporaryAllocation(of: Job.self, capacity: 1) { buffer -> Int32 in
        buffer.initializeElement(at: 0, to: job)
        let rc = ctp_submit_inline(pool, &desc, buffer.baseAddress, MemoryLayout<Job>.size, { relocateJob($0, $1) })
        if rc != Int32(CTP_OK) {
            _ = buffer.moveElement(from: 0) // not relocated: still ours
        }
        return rc
    }
    if rc == Int32(CTP_EINVAL), let node, node >= Int(ctp_pool_topology_node_count(pool)) {
        throw notANode(node, pool)
    }
    try check(rc)
}

/// The error for a submission whose node the pool does not have.
func notANode(_ node: Int, _ pool: OpaquePointer) -> ThreadPoolError {
    .invalidArgument(notANodeMessage(node, nodes: Int(ctp_pool_topology_node_count(pool))))
}

/// Why `node` is refused, for a pool whose topology has `nodes` nodes (also
/// a batch item's; with NUMA off the topology's nodes are still accepted).
func notANodeMessage(_ node: Int, nodes: Int) -> String {
    "node \(node) is not a node of the pool (0..<\(nodes), nil = any)"
}

/// Lets submissions into a C object through until it is sealed, and lets
/// the sealer wait until those in flight have returned, so that the object
/// (a pinned queue, a tick's group) is never freed under a submission.
/// One atomic increment and decrement per submission; `seal()` spins
/// (yielding) only over submissions already inside, which never block.
final class SubmitGate: Sendable {
    private let inFlight = Atomic<Int>(0)
    private let sealed = Atomic<Bool>(false)

    /// Whether the submission may go ahead; if so, call `leave()` after it.
    func enter() -> Bool {
        // Sequentially consistent with seal(): either this sees the seal, or
        // the sealer sees this submission in flight (and waits for it).
        inFlight.add(1, ordering: .sequentiallyConsistent)
        if sealed.load(ordering: .sequentiallyConsistent) {
            inFlight.subtract(1, ordering: .releasing)
            return false
        }
        return true
    }

    func leave() { inFlight.subtract(1, ordering: .releasing) }

    /// Refuses later submissions, then waits for those in flight.
    func seal() {
        sealed.store(true, ordering: .sequentiallyConsistent)
        while inFlight.load(ordering: .sequentiallyConsistent) != 0 { sched_yield() }
    }

    /// Lets submissions through again (an end that timed out).
    func unseal() { sealed.store(false, ordering: .sequentiallyConsistent) }
}
