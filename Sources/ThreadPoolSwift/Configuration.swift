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
        /// One node; node affinities are accepted and ignored.
        case off
    }

    /// Worker CPU affinity.
    public enum Affinity: Sendable {
        /// Not pinned.
        case none
        /// Pinned to their node's CPUs.
        case node
        /// One CPU each.
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
    public struct Configuration: Sendable, Equatable {
        /// Worker threads; 0 = one per CPU (of the topology, if one is given). At most 1024.
        public var workers: Int = 0
        /// Most tasks submitted from outside the pool waiting unstarted; 0 = unbounded.
        public var queueCapacity: Int = 0
        /// How long an idle worker keeps searching before it parks (at most 1 s).
        public var spinTime: Duration = .zero
        /// One timed park after spinning, interrupted by any submission (at most 60 s).
        public var backoffTime: Duration = .zero
        /// Most parked workers one batch wakes; 0 = as many as there are tasks.
        public var wakeFanout: Int = 0
        /// Worker stack size in bytes; 0 = 8 MiB. At least 64 KiB.
        public var stackSize: Int = 0
        /// Thread name prefix (at most 10 characters used); nil = "ctp".
        public var name: String? = nil
        /// NUMA mode.
        public var numaMode: NUMAMode = .auto
        /// Worker affinity.
        public var affinity: Affinity = .none
        /// A simulated topology in `CTP_TOPOLOGY` syntax ("0-7;8-15"); nil = the
        /// environment variable or the machine's.
        public var topology: String? = nil

        /// The defaults.
        public init() {}
    }
}
