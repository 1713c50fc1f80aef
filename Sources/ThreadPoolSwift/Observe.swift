import CThreadPool
import Synchronization

// Seeing inside a live pool: stall reports, thread hooks, worker snapshots,
// task labels and timeline traces (the C side: `ctp_config.stall_ns`,
// `on_thread_start`/`on_thread_stop`, `ctp_pool_snapshot`, `ctp_trace_start`
// and `ctp_trace_stop`).

extension ThreadPool {
    /// One stall, as handed to ``Configuration/onStall`` (see
    /// ``Configuration/stallThreshold``).
    public struct StallReport: Sendable, Equatable {
        /// What stalled.
        public enum Kind: Sendable, Equatable {
            /// One task has run longer than the threshold.
            case task
            /// Tasks are queued and none has started for the threshold:
            /// every worker is busy, blocked or lost.
            case queue
        }

        /// What stalled.
        public var kind: Kind
        /// The worker running the stalled task (``Kind/task``); nil for
        /// ``Kind/queue``.
        public var worker: Int?
        /// How long the task has run, or how long the queue has not moved.
        public var elapsed: Duration
        /// The stalled task's label (the `label:` it was submitted with), or nil.
        public var label: String?
        /// Tasks queued (not started) when the report was made.
        public var queued: UInt64

        /// A report; the pool makes these, tests and forwarding code may too.
        public init(kind: Kind, worker: Int?, elapsed: Duration, label: String?, queued: UInt64) {
            self.kind = kind
            self.worker = worker
            self.elapsed = elapsed
            self.label = label
            self.queued = queued
        }

        init(_ r: ctp_stall_report) {
            kind = r.kind == CTP_STALL_QUEUE ? .queue : .task
            worker = r.worker >= 0 ? Int(r.worker) : nil
            elapsed = .nanoseconds(Int64(clamping: r.elapsed_ns))
            label = r.label.map { String(cString: $0) }
            queued = r.queued
        }
    }

    /// One worker, as ``ThreadPool/snapshot()`` saw it. A worker's fields
    /// describe one moment of that worker; different workers are read one
    /// after the other.
    public struct WorkerInfo: Sendable, Equatable {
        /// What a worker is doing.
        public enum State: Sendable, Equatable {
            /// Blocked until work arrives.
            case parked
            /// Looking for work (spinning, or just woken).
            case searching
            /// Running a task.
            case running
        }

        /// The worker's index, 0 ..< workers.
        public var index: Int
        /// Its NUMA node.
        public var node: Int
        /// What it is doing.
        public var state: State
        /// How long it has been running its current task; nil unless
        /// ``state`` is ``State/running`` and the pool times its tasks (it
        /// does while ``Configuration/stallThreshold`` is set or a trace runs).
        public var runningTime: Duration?
        /// The label of the task it runs, or nil (not running, or no label).
        public var label: String?
        /// Tasks this worker has run (dropped ones included).
        public var executed: UInt64
        /// Tasks waiting in its own deques.
        public var localQueued: Int

        init(_ w: ctp_worker_info) {
            index = Int(w.index)
            node = Int(w.node)
            switch w.state {
            case CTP_WORKER_RUNNING: state = .running
            case CTP_WORKER_SEARCHING: state = .searching
            default: state = .parked
            }
            runningTime = state == .running && w.running_ns > 0 ? .nanoseconds(Int64(clamping: w.running_ns)) : nil
            label = w.label.map { String(cString: $0) }
            executed = w.executed
            localQueued = w.local_queued
        }
    }

    /// What every worker is doing right now, one entry per worker in index
    /// order. Never blocks a worker; callable from any thread, including the
    /// pool's own tasks and an ``Configuration/onStall`` closure.
    public func snapshot() -> [WorkerInfo] {
        var count = 0
        guard ctp_pool_snapshot(handle, nil, 0, &count) == Int32(CTP_OK), count > 0 else { return [] }
        var infos = [ctp_worker_info](repeating: ctp_worker_info(), count: count)
        var filled = 0
        let rc = infos.withUnsafeMutableBufferPointer { ctp_pool_snapshot(handle, $0.baseAddress, count, &filled) }
        guard rc == Int32(CTP_OK) else { return [] }
        return infos.prefix(min(filled, count)).map(WorkerInfo.init)
    }

    /// The most events a trace keeps per worker (`ctp_trace_start`'s limit).
    public static let maxTraceEventsPerWorker = 1 << 24

    /// Starts recording a timeline: each worker keeps its last
    /// `eventsPerWorker` events (task begin and end, park, wake, steal), and
    /// one shared ring keeps those of threads outside the pool that submit
    /// or help, with nanosecond timestamps and without locks on the workers.
    /// Tasks are named by their `label:`. Write it out with
    /// ``stopTrace(to:)``. An event takes 32 bytes: the default keeps the
    /// last 65,536 per worker in 2 MiB each.
    /// - Throws: ``ThreadPoolError/invalidArgument(_:)`` if `eventsPerWorker`
    ///   is not 1...``maxTraceEventsPerWorker`` or a trace is already
    ///   running; ``ThreadPoolError/outOfMemory``.
    public func startTrace(eventsPerWorker: Int = 1 << 16) throws {
        guard eventsPerWorker >= 1, eventsPerWorker <= Self.maxTraceEventsPerWorker else {
            throw ThreadPoolError.invalidArgument(
                "eventsPerWorker must be 1...\(Self.maxTraceEventsPerWorker), got \(eventsPerWorker)")
        }
        try tracing.withLock { running in
            if running { throw ThreadPoolError.invalidArgument("a trace is already running; stop it first") }
            try check(ctp_trace_start(handle, eventsPerWorker))
            running = true
        }
    }

    /// Stops the trace and writes it to `path` in the Chrome trace event
    /// format (JSON: open it in ui.perfetto.dev or chrome://tracing), one
    /// track per worker and one per outside thread. Tasks still running are
    /// closed at the stop time. Writes a file: call it from outside the pool.
    /// - Throws: ``ThreadPoolError/invalidArgument(_:)`` if no trace is
    ///   running, or if `path` cannot be created (then the trace keeps
    ///   running and nothing is lost: call again with another path), or if
    ///   called from one of the pool's own tasks; ``ThreadPoolError/outOfMemory``
    ///   if memory ran out or writing the file failed (the trace is gone).
    public func stopTrace(to path: String) throws {
        try tracing.withLock { running in
            guard running else { throw ThreadPoolError.invalidArgument("no trace is running (startTrace() first)") }
            let rc = path.withCString { ctp_trace_stop(handle, $0) }
            if rc == Int32(CTP_EINVAL) {
                throw ThreadPoolError.invalidArgument(
                    "stopTrace(to:) could not create \"\(path)\" (the trace keeps running), "
                        + "or was called from one of the pool's own tasks")
            }
            if rc == Int32(CTP_OK) || rc == Int32(CTP_ENOMEM) { running = false } // ENOMEM: stopped, not written
            try check(rc)
        }
    }
}

/// The closures of a ``ThreadPool/Configuration`` that the C pool calls,
/// boxed: the C pool gets an unretained pointer to the box (`stall_ctx`,
/// `thread_ctx`), and the ``ThreadPool`` keeps the box alive until the C
/// pool is destroyed (on a stopped pool's deinit, or on the thread that
/// finishes an unstopped one).
final class Observers: Sendable {
    let onStall: (@Sendable (ThreadPool.StallReport) -> Void)?
    let onThreadStart: (@Sendable (Int) -> Void)?
    let onThreadStop: (@Sendable (Int) -> Void)?

    /// A box for `configuration`'s closures, or nil if it has none.
    init?(_ configuration: ThreadPool.Configuration) {
        guard configuration.onStall != nil || configuration.onThreadStart != nil
            || configuration.onThreadStop != nil else { return nil }
        onStall = configuration.onStall
        onThreadStart = configuration.onThreadStart
        onThreadStop = configuration.onThreadStop
    }

    /// Points `c`'s callbacks at this box (it must outlive the C pool).
    func install(in c: inout ctp_config) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        if onStall != nil {
            c.on_stall = { report, ctx in
                guard let report, let ctx else { return }
                Unmanaged<Observers>.fromOpaque(ctx).takeUnretainedValue().onStall?(ThreadPool.StallReport(report.pointee))
            }
            c.stall_ctx = me
        }
        if onThreadStart != nil {
            c.on_thread_start = { worker, ctx in
                guard let ctx else { return }
                Unmanaged<Observers>.fromOpaque(ctx).takeUnretainedValue().onThreadStart?(Int(worker))
            }
        }
        if onThreadStop != nil {
            c.on_thread_stop = { worker, ctx in
                guard let ctx else { return }
                Unmanaged<Observers>.fromOpaque(ctx).takeUnretainedValue().onThreadStop?(Int(worker))
            }
        }
        if onThreadStart != nil || onThreadStop != nil { c.thread_ctx = me }
    }
}

/// Task labels as the C runtime wants them: a NUL-terminated string that
/// outlives the pool. A `StaticString` literal is one (`utf8Start` is
/// documented NUL-terminated and lives in the binary); a `StaticString` made
/// from a single Unicode scalar has no pointer, so its text is copied once
/// into a table that is never freed (at most one entry per distinct scalar).
enum TaskLabel {
    private static let scalars = Mutex<[UInt32: UnsafeRawPointer]>([:])

    static func cString(_ label: StaticString?) -> UnsafePointer<CChar>? {
        guard let label else { return nil }
        if label.hasPointerRepresentation {
            return UnsafeRawPointer(label.utf8Start).assumingMemoryBound(to: CChar.self)
        }
        let scalar = label.unicodeScalar
        let raw = scalars.withLock { table -> UnsafeRawPointer in
            if let p = table[scalar.value] { return p }
            let utf8 = Array(String(scalar).utf8)
            let p = UnsafeMutablePointer<UInt8>.allocate(capacity: utf8.count + 1)
            p.initialize(from: utf8, count: utf8.count)
            p[utf8.count] = 0
            table[scalar.value] = UnsafeRawPointer(p)
            return UnsafeRawPointer(p)
        }
        return raw.assumingMemoryBound(to: CChar.self)
    }
}
