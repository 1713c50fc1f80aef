import CThreadPool

extension ThreadPool {
    /// Task priorities; at each task boundary a worker takes the highest it can find.
    public enum Priority: Int, Sendable, CaseIterable {
        case critical = 0, high, normal, low, idle

        var c: ctp_priority { ctp_priority(rawValue: UInt32(rawValue)) }
    }

    /// Whether the pool follows NUMA nodes.
    public enum NUMAMode: Sendable {
        /// Follow the topology (the machine's, or ``ThreadPool/Configuration/topology``).
        case auto
        /// One node; affinities to the topology's nodes are accepted and
        /// ignored (others throw, as under `.auto`; see
        /// ``ThreadPool/topologyNodeCount``).
        case off
    }

    /// Worker CPU affinity.
    public enum Affinity: Sendable {
        /// Not pinned.
        case none
        /// Pinned to their node's CPUs.
        case node
        /// One CPU each. Suits a machine the server owns: no affinity
        /// system call is made when a worker is woken (`wakeElsewhere`), but
        /// a pinned worker cannot leave a CPU another process is using.
        case cpu
    }

    /// What a shutdown does with tasks that have not started.
    public enum ShutdownMode: Sendable {
        /// Run everything queued and everything it spawns.
        case drain
        /// Drop unstarted tasks: their closures are released without running, and
        /// value-returning tasks' handles throw ``ThreadPoolError/cancelled``.
        case cancel

        var c: ctp_shutdown_mode { self == .drain ? CTP_SHUTDOWN_DRAIN : CTP_SHUTDOWN_CANCEL }
    }
}

extension ThreadPool {
    /// Pool settings, with Swift names for every C option (see `ctp_config`).
    ///
    /// ## nil means default; a value you set is taken literally
    ///
    /// Every setting with a runtime default is an Optional: `nil` (the
    /// initial value) asks for the default, and any value you set means
    /// exactly that value. A value outside the range documented on the
    /// property makes ``ThreadPool/init(configuration:)`` throw
    /// ``ThreadPoolError/invalidArgument(_:)`` with a message naming the
    /// property and its range (`"Configuration.workers must be 1...1024,
    /// got 5000"`). That includes 0 where the C runtime would read 0 as
    /// "default" (`workers`, `queueCapacity`, `wakeFanout`, `stackSize`):
    /// `workers = 0` is refused rather than silently meaning "one per CPU";
    /// write `nil` for that. For `spinTime` and `backoffTime`, `.zero` is a
    /// real value (no spinning, no timed park), accepted as such.
    ///
    /// ## Equality ignores what the closures do
    ///
    /// Closures cannot be compared, so `==` compares every setting and, for
    /// ``onStall``, ``onThreadStart`` and ``onThreadStop``, only whether each
    /// is set: two configurations that differ only in which closure they
    /// hold compare equal.
    public struct Configuration: Sendable, Equatable {
        /// Worker threads, 1...1024; nil = one per CPU (of ``topology``, if
        /// one is given).
        public var workers: Int?
        /// Most tasks submitted from outside the pool that may wait
        /// unstarted at once, 1 or more (a submission beyond it throws
        /// ``ThreadPoolError/queueFull``); nil = unbounded. Submissions from
        /// the pool's own tasks are never refused.
        public var queueCapacity: Int?
        /// How long an idle worker keeps searching before it parks, `.zero`
        /// up to 1 second (`.zero`: park after one more sweep); nil = the
        /// runtime's default (currently no spinning). Precision: nanoseconds.
        public var spinTime: Duration?
        /// One timed park after spinning, interrupted by any submission,
        /// `.zero` up to 60 seconds (`.zero`: no timed park); nil = the
        /// runtime's default (currently none). Precision: nanoseconds.
        public var backoffTime: Duration?
        /// Most parked workers one batch submission wakes, 1...4294967295;
        /// nil = no limit beyond min(tasks, parked workers).
        public var wakeFanout: Int?
        /// Worker stack size in bytes, at least 65536 (64 KiB); nil = 8 MiB.
        public var stackSize: Int?
        /// Thread name prefix: at most its first 10 bytes of UTF-8 are used
        /// (whole characters only: "ゲームサーバー" names threads "ゲーム-0",
        /// "ゲーム-1", ...); nil = "ctp".
        public var name: String?
        /// NUMA mode.
        public var numaMode: NUMAMode
        /// Worker affinity.
        public var affinity: Affinity
        /// A simulated topology in `CTP_TOPOLOGY` syntax ("0-7;8-15"); nil = the
        /// environment variable `CTP_TOPOLOGY`, or the machine's.
        public var topology: String?
        /// Stall detection, 1 millisecond up to 1 hour; nil = off. When set,
        /// a monitor thread reports, once per episode and within about twice
        /// the threshold, a task that has run longer than it
        /// (``StallReport/Kind/task``) and tasks that stay queued while none
        /// starts for that long (``StallReport/Kind/queue``: every worker
        /// busy, blocked or lost). The monitor sleeps while the pool is idle.
        /// Setting it also makes the pool time its tasks (one clock read per
        /// task; see ``WorkerInfo/runningTime``). Precision: nanoseconds.
        public var stallThreshold: Duration?
        /// Called with each stall report, on the pool's monitor thread; nil
        /// = the runtime prints one line per stall to standard error. It may
        /// call ``ThreadPool/snapshot()`` and read ``ThreadPool/stats``, and
        /// must not shut the pool down or wait for its tasks; that thread
        /// runs no pool's closures (its stack is small). (The pool keeps
        /// this closure: reach the pool from it through a weak reference.)
        /// Needs ``stallThreshold``: set without it, creating the pool throws.
        public var onStall: (@Sendable (StallReport) -> Void)?
        /// Called on each worker thread as it starts, with its index: every
        /// one has run when ``ThreadPool/init(configuration:)`` returns
        /// (name threads for a profiler, set up thread-locals). It must not
        /// call into the pool. nil = nothing.
        public var onThreadStart: (@Sendable (Int) -> Void)?
        /// Called on each worker thread as it stops, with its index: every
        /// one has run when a shutdown completes. It must not call into the
        /// pool. nil = nothing.
        public var onThreadStop: (@Sendable (Int) -> Void)?
        /// Pre-wake lead (see ``ThreadPool/prewake(at:)``): how long before
        /// the announced time parked workers leave their park, and how long
        /// after it they keep searching if no work came, 1 nanosecond up to
        /// 50 milliseconds; nil = the runtime's default (100 microseconds:
        /// timer slack plus wake-up p99 measured on the development machine,
        /// see docs/scheduler.md). Each pre-wake costs up to twice the lead
        /// of CPU per worker, plus how late timed waits end on the machine
        /// (learned, at most 2 ms), by which the workers leave their park
        /// earlier still. Precision: nanoseconds.
        public var prewakeLead: Duration?
        /// NUMA grace period: how long another node's affine work is left to
        /// that node's workers before an idle worker takes it (critical and
        /// high priority at once), 0 up to 100 milliseconds; nil = the
        /// runtime's default (300 microseconds, see docs/scheduler.md).
        public var remoteStealDelay: Duration?
        /// Keep a woken worker off the CPU of the thread that woke it until
        /// it runs (Linux only; default true). The waker keeps running, so
        /// the woken worker is of use only on another CPU, but a kernel may
        /// queue it behind the waker while another CPU idles (it happened in
        /// 46% of 16-task ticks on the 2-vCPU development machine). Costs two
        /// system calls per wake; while set, the worker cannot use the
        /// waker's CPU until it has run, even if the waker blocks. Turn it
        /// off to leave every placement to the kernel (`wake_elsewhere` in
        /// ctp.h has the details).
        public var wakeElsewhere: Bool

        /// A configuration; every argument left out is the default (nil, or
        /// `.auto` NUMA mode and no affinity). Values are checked when a pool
        /// is created, not here.
        public init(workers: Int? = nil, queueCapacity: Int? = nil, spinTime: Duration? = nil,
                    backoffTime: Duration? = nil, wakeFanout: Int? = nil, stackSize: Int? = nil,
                    name: String? = nil, numaMode: NUMAMode = .auto, affinity: Affinity = .none,
                    topology: String? = nil, stallThreshold: Duration? = nil,
                    onStall: (@Sendable (StallReport) -> Void)? = nil,
                    onThreadStart: (@Sendable (Int) -> Void)? = nil,
                    onThreadStop: (@Sendable (Int) -> Void)? = nil,
                    prewakeLead: Duration? = nil, remoteStealDelay: Duration? = nil,
                    wakeElsewhere: Bool = true) {
            self.workers = workers
            self.queueCapacity = queueCapacity
            self.spinTime = spinTime
            self.backoffTime = backoffTime
            self.wakeFanout = wakeFanout
            self.stackSize = stackSize
            self.name = name
            self.numaMode = numaMode
            self.affinity = affinity
            self.topology = topology
            self.stallThreshold = stallThreshold
            self.onStall = onStall
            self.onThreadStart = onThreadStart
            self.onThreadStop = onThreadStop
            self.prewakeLead = prewakeLead
            self.remoteStealDelay = remoteStealDelay
            self.wakeElsewhere = wakeElsewhere
        }

        /// Equal when every setting is, and each closure is set in both or
        /// in neither (what the closures do is not compared).
        public static func == (a: Configuration, b: Configuration) -> Bool {
            a.workers == b.workers && a.queueCapacity == b.queueCapacity && a.spinTime == b.spinTime
                && a.backoffTime == b.backoffTime && a.wakeFanout == b.wakeFanout && a.stackSize == b.stackSize
                && a.name == b.name && a.numaMode == b.numaMode && a.affinity == b.affinity
                && a.topology == b.topology && a.stallThreshold == b.stallThreshold
                && a.prewakeLead == b.prewakeLead && a.remoteStealDelay == b.remoteStealDelay
                && a.wakeElsewhere == b.wakeElsewhere
                && (a.onStall == nil) == (b.onStall == nil)
                && (a.onThreadStart == nil) == (b.onThreadStart == nil)
                && (a.onThreadStop == nil) == (b.onThreadStop == nil)
        }
    }
}

extension ThreadPool.Configuration {
    // The limits of `ctp_config` (include/ctp/ctp.h, checked again by
    // Sources/CThreadPool/config.c), checked here first so that the error
    // names the Swift property.
    static let workerRange = 1...Int(CTP_MAX_WORKERS)
    static let maxSpinTime = Duration.seconds(1)
    static let maxBackoffTime = Duration.seconds(60)
    static let minStackSize = 64 << 10
    static let stallThresholdRange = Duration.milliseconds(1)...Duration.seconds(3600)
    static let prewakeLeadRange = Duration.nanoseconds(1)...Duration.milliseconds(50)
    static let remoteStealDelayRange = Duration.zero...Duration.milliseconds(100)

    /// The C configuration for these settings (nil mapped to the C 0 or to
    /// `ctp_config_init`'s value), without `name` and `topology`, which the
    /// caller passes as C strings, and without the closures (see `Observers`).
    /// - Throws: ``ThreadPoolError/invalidArgument(_:)`` naming the first
    ///   setting out of range, as `Configuration.<property>`.
    func cConfig() throws -> ctp_config {
        func refuse(_ property: String, _ range: String, _ got: Any, _ hint: String = "") -> ThreadPoolError {
            .invalidArgument("Configuration.\(property) must be \(range), got \(got)\(hint)")
        }
        var c = ctp_config()
        ctp_config_init(&c)
        if let workers {
            guard Self.workerRange.contains(workers) else {
                throw refuse("workers", "\(Self.workerRange)", workers, " (nil means one per CPU)")
            }
            c.workers = workers
        }
        if let queueCapacity {
            guard queueCapacity >= 1 else {
                throw refuse("queueCapacity", "1 or more", queueCapacity, " (nil means unbounded)")
            }
            c.queue_capacity = queueCapacity
        }
        if let spinTime {
            guard spinTime >= .zero, spinTime <= Self.maxSpinTime else {
                throw refuse("spinTime", ".zero...\(Self.maxSpinTime)", spinTime)
            }
            c.spin_ns = ThreadPool.nanoseconds(spinTime)
        }
        if let backoffTime {
            guard backoffTime >= .zero, backoffTime <= Self.maxBackoffTime else {
                throw refuse("backoffTime", ".zero...\(Self.maxBackoffTime)", backoffTime)
            }
            c.backoff_ns = ThreadPool.nanoseconds(backoffTime)
        }
        if let wakeFanout {
            guard wakeFanout >= 1, wakeFanout <= Int(UInt32.max) else {
                throw refuse("wakeFanout", "1...\(UInt32.max)", wakeFanout, " (nil means no limit)")
            }
            c.wake_fanout = UInt32(wakeFanout)
        }
        if let stackSize {
            guard stackSize >= Self.minStackSize else {
                throw refuse("stackSize", "at least \(Self.minStackSize) (64 KiB)", stackSize, " (nil means 8 MiB)")
            }
            c.stack_size = stackSize
        }
        if let stallThreshold {
            guard Self.stallThresholdRange.contains(stallThreshold) else {
                throw refuse("stallThreshold", "\(Self.stallThresholdRange.lowerBound)...\(Self.stallThresholdRange.upperBound)",
                             stallThreshold, " (nil means off)")
            }
            c.stall_ns = ThreadPool.nanoseconds(stallThreshold)
        } else if onStall != nil {
            throw ThreadPoolError.invalidArgument(
                "Configuration.onStall is set but Configuration.stallThreshold is nil (stall detection off)")
        }
        if let prewakeLead {
            guard Self.prewakeLeadRange.contains(prewakeLead) else {
                throw refuse("prewakeLead", "\(Self.prewakeLeadRange.lowerBound)...\(Self.prewakeLeadRange.upperBound)",
                             prewakeLead, " (nil means the default, 100 microseconds)")
            }
            c.prewake_lead_ns = ThreadPool.nanoseconds(prewakeLead)
        }
        if let remoteStealDelay {
            guard Self.remoteStealDelayRange.contains(remoteStealDelay) else {
                throw refuse("remoteStealDelay",
                             "\(Self.remoteStealDelayRange.lowerBound)...\(Self.remoteStealDelayRange.upperBound)",
                             remoteStealDelay, " (nil means the default, 300 microseconds)")
            }
            c.remote_steal_delay_ns = ThreadPool.nanoseconds(remoteStealDelay)
        }
        c.numa_mode = numaMode == .auto ? CTP_NUMA_AUTO : CTP_NUMA_OFF
        switch affinity {
        case .none: c.affinity = CTP_AFFINITY_NONE
        case .node: c.affinity = CTP_AFFINITY_NODE
        case .cpu: c.affinity = CTP_AFFINITY_CPU
        }
        c.wake_elsewhere = wakeElsewhere
        return c
    }

    /// A message of `ctp_last_error_message()` with the C field it starts
    /// with renamed to the Swift property (for limits the Swift checks above
    /// do not know, and for the topology parser's messages).
    static func swiftNames(_ message: String) -> String {
        let names = [("config.topology", "topology"), ("queue_capacity", "queueCapacity"),
                     ("spin_ns", "spinTime"), ("backoff_ns", "backoffTime"),
                     ("wake_fanout", "wakeFanout"), ("stack_size", "stackSize"),
                     ("numa_mode", "numaMode"), ("affinity", "affinity"), ("workers", "workers"),
                     ("name", "name"), ("stall_ns", "stallThreshold"), ("on_stall", "onStall"),
                     ("prewake_lead_ns", "prewakeLead")]
        for (c, swift) in names where message.hasPrefix(c) {
            let rest = message.dropFirst(c.count)
            if rest.isEmpty || rest.first == " " || rest.first == ":" {
                return "Configuration.\(swift)\(rest)"
            }
        }
        return message
    }
}
