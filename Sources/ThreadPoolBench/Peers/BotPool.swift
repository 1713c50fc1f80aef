#if Benchmark // the whole file; see the trait in Package.swift
import CTPBenchKernels
import CTPBenchOpenMP
import CTPBenchTBB
import Foundation

/// What every runtime under test provides to the bot driver: the C table
/// `ctpb_pool` (see Sources/CTPBenchKernels/include/ctp_bots.h). Pools
/// written in C fill it themselves; the Swift ones implement `SwiftBotPool`
/// and are wrapped by `makeCPool`.
struct PeerSpec: Sendable {
    let name: String
    let summary: String
    /// The pool uses CPU while it has no work (legacy-003 polls every 1 ms):
    /// the benchmarks create it for each of its turns and destroy it after,
    /// so that its idle cost does not land on the pools around it.
    var pollsWhileIdle = false
    let make: @Sendable (PeerOptions) throws -> ctpb_pool

    init(name: String, summary: String, pollsWhileIdle: Bool = false,
         make: @escaping @Sendable (PeerOptions) throws -> ctpb_pool) {
        self.name = name
        self.summary = summary
        self.pollsWhileIdle = pollsWhileIdle
        self.make = make
    }
}

struct PeerOptions: Sendable {
    var workers: Int
    var topology: String?
    /// ctp pools run each batch as a ctp_tick and sum the reports.
    var tickReports = false
}

struct PeerError: Error, CustomStringConvertible {
    let description: String
}

/// Every peer, in the order the tables list them. `ctp-numa-off` only
/// differs from `ctp` with a multi-node topology and `ctp-control` not at
/// all, so neither is in the default set; `faulty-drop` exists for the tests.
let allPeers: [PeerSpec] = [
    PeerSpec(name: "ctp", summary: "ctp C API: ctp_submit_batch + helping ctp_group_wait") { o in
        try cPool("ctp") { out in
            let rc = ctpb_pool_ctp(o.workers, o.topology, 0, out)
            if rc == 0 && o.tickReports { _ = ctpb_pool_ctp_enable_tick_reports(out) }
            return rc
        }
    },
    PeerSpec(name: "ctp-control", summary: "a second ctp pool, identical to ctp: its ratios to ctp are the run's noise floor") { o in
        try cPool("ctp-control") { out in
            let rc = ctpb_pool_ctp(o.workers, o.topology, 0, out)
            if rc == 0 && o.tickReports { _ = ctpb_pool_ctp_enable_tick_reports(out) }
            return rc
        }
    },
    PeerSpec(name: "ctp-kernel-placed", summary: "ctp with wake_elsewhere off: the kernel places every woken worker") { o in
        try cPool("ctp-kernel-placed") { out in
            let rc = ctpb_pool_ctp_placed(o.workers, o.topology, 0, 0, out)
            if rc == 0 && o.tickReports { _ = ctpb_pool_ctp_enable_tick_reports(out) }
            return rc
        }
    },
    PeerSpec(name: "ctp-pinned", summary: "ctp with each worker pinned to a CPU (CTP_AFFINITY_CPU)") { o in
        try cPool("ctp-pinned") { out in
            let rc = ctpb_pool_ctp_pinned(o.workers, o.topology, out)
            if rc == 0 && o.tickReports { _ = ctpb_pool_ctp_enable_tick_reports(out) }
            return rc
        }
    },
    PeerSpec(name: "ctp-prewake", summary: "ctp with ctp_pool_prewake before each tick (real time only)") { o in
        try cPool("ctp-prewake") { out in
            let rc = ctpb_pool_ctp(o.workers, o.topology, 0, out)
            if rc == 0 { _ = ctpb_pool_ctp_enable_prewake(out) }
            if rc == 0 && o.tickReports { _ = ctpb_pool_ctp_enable_tick_reports(out) }
            return rc
        }
    },
    PeerSpec(name: "ctp-swift", summary: "ctp through ThreadPoolSwift: a reused TaskBatch into a WorkGroup + helping wait") { o in
        makeCPool(try CtpSwiftPeer(workers: o.workers, topology: o.topology))
    },
    PeerSpec(name: "tbb", summary: "oneTBB task_arena + task_group") { o in
        try cPool("tbb") { ctpb_pool_tbb(o.workers, $0) }
    },
    PeerSpec(name: "openmp", summary: "OpenMP tasks with priority in a parallel region (libomp)") { o in
        try cPool("openmp") { ctpb_pool_openmp(o.workers, $0) }
    },
    PeerSpec(name: "dispatch-group", summary: "libdispatch: global queue per QoS + DispatchGroup") { _ in
        makeCPool(DispatchGroupPeer())
    },
    PeerSpec(name: "dispatch-apply", summary: "libdispatch: DispatchQueue.concurrentPerform") { _ in
        makeCPool(DispatchApplyPeer())
    },
    PeerSpec(name: "swift-tasks", summary: "Swift concurrency: withTaskGroup on the default executor") { _ in
        makeCPool(SwiftTasksPeer())
    },
    PeerSpec(name: "mutex-pool", summary: "hand-written mutex + condvar pool, one FIFO") { o in
        try cPool("mutex-pool") { ctpb_pool_mutex(o.workers, $0) }
    },
    PeerSpec(name: "legacy-003", summary: "the pool of background document 003 (the before picture)",
             pollsWhileIdle: true) { o in
        try cPool("legacy-003") { ctpb_pool_legacy(o.workers, $0) }
    },
    PeerSpec(name: "ctp-numa-off", summary: "ctp with NUMA mode off (one node), for --topology runs") { o in
        try cPool("ctp-numa-off") { ctpb_pool_ctp(o.workers, o.topology, 1, $0) }
    },
    PeerSpec(name: "faulty-drop", summary: "test only: drops one update per batch; the run must fail") { _ in
        makeCPool(FaultyDropPeer())
    },
]

let defaultPeerNames = allPeers.map(\.name).filter {
    !["ctp-numa-off", "faulty-drop", "ctp-prewake", "ctp-control", "ctp-kernel-placed", "ctp-pinned"].contains($0)
}

private func cPool(_ name: String, _ make: (UnsafeMutablePointer<ctpb_pool>) -> Int32) throws -> ctpb_pool {
    var p = ctpb_pool()
    let rc = make(&p)
    guard rc == 0 else { throw PeerError(description: "\(name): could not create the pool (error \(rc))") }
    return p
}

/// A pool implemented in Swift.
protocol SwiftBotPool: AnyObject {
    var threads: Int { get }
    /// Runs every item of the batch once and returns when all have run.
    func run(_ batch: BatchRef) -> Int32
    func close()
}

/// A batch handed to a Swift pool. The driver keeps it alive and unchanged
/// until `run` returns, and each item is run by exactly one closure, so
/// sharing the pointer across threads is safe.
struct BatchRef: @unchecked Sendable {
    let batch: UnsafePointer<ctpb_batch>
    var count: Int { batch.pointee.count }
    func priority(_ i: Int) -> Int { Int(batch.pointee.priority[i]) }
    func node(_ i: Int) -> Int { Int(batch.pointee.node[i]) }
    func stamp(_ i: Int) { batch.pointee.submit_ns[i] = ctpb_now_ns() }
    func stampAll() {
        let t = ctpb_now_ns()
        for i in 0..<count { batch.pointee.submit_ns[i] = t }
    }
    func run(_ i: Int) { batch.pointee.fn(batch.pointee.ctx, i) }
}

/// Wraps a Swift pool in the C table; the table owns one retain, released by `destroy`.
func makeCPool(_ pool: some SwiftBotPool) -> ctpb_pool {
    var c = ctpb_pool()
    c.impl = Unmanaged.passRetained(pool as AnyObject).toOpaque()
    c.threads = pool.threads
    c.nodes = 1
    c.run = { impl, batch in
        let me = Unmanaged<AnyObject>.fromOpaque(impl!).takeUnretainedValue() as! any SwiftBotPool
        return me.run(BatchRef(batch: batch!))
    }
    c.destroy = { impl in
        let ref = Unmanaged<AnyObject>.fromOpaque(impl!)
        (ref.takeUnretainedValue() as! any SwiftBotPool).close()
        ref.release()
    }
    return c
}
#endif
