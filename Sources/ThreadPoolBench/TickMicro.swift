#if Benchmark // the whole file; see the trait in Package.swift
import CTPBenchKernels
import Foundation

/// One repetition of the tick scenario for one pool and one k (us).
struct TickRepetition: Codable {
    var tickP50: Double
    var tickP99: Double
    var idealP50: Double
    var idealP99: Double
    var cpuOverWork: Double
}

/// The tick scenario of `threadpool-bench micro` for one pool and one k: k
/// tasks of mixed cost after a pause long enough for the workers to park
/// (ctpb_peer_tick in Sources/CTPBenchKernels/peer_micro.c).
struct TickRun: Codable {
    var pool: String
    var tasks: Int
    var rounds: Int                  // ticks per repetition
    var repetitions: [TickRepetition]
    // Over the repetitions: median (min-max).
    var tickP50: Spread
    var tickP99: Spread
    var idealP50: Spread
    var idealP99: Spread
    var p50OverIdeal: Spread
    var p99OverIdeal: Spread
    var cpuOverWork: Spread
    var p50OverCtp: Spread?
    var p99OverCtp: Spread?

    init(pool: String, tasks: Int, rounds: Int, repetitions reps: [TickRepetition]) {
        self.pool = pool
        self.tasks = tasks
        self.rounds = rounds
        repetitions = reps
        tickP50 = Spread(reps.map(\.tickP50))
        tickP99 = Spread(reps.map(\.tickP99))
        idealP50 = Spread(reps.map(\.idealP50))
        idealP99 = Spread(reps.map(\.idealP99))
        p50OverIdeal = Spread(reps.map { $0.tickP50 / $0.idealP50 })
        p99OverIdeal = Spread(reps.map { $0.tickP99 / $0.idealP99 })
        cpuOverWork = Spread(reps.map(\.cpuOverWork))
    }

    /// Ratios to `base` (ctp) repetition by repetition: each pair ran the
    /// same cost mixes, interleaved.
    mutating func compare(to base: TickRun) {
        let pairs = Array(zip(repetitions, base.repetitions))
        guard !pairs.isEmpty else { return }
        p50OverCtp = Spread(pairs.map { $0.tickP50 / $1.tickP50 })
        p99OverCtp = Spread(pairs.map { $0.tickP99 / $1.tickP99 })
    }
}

struct TickOptions {
    var sizes: [Int]
    var rounds: Int
    var repetitions: Int
    var block: Int
    var pauseMicros: UInt32
    var seed: UInt64
}

/// Runs the tick scenario on every default peer, ctp-kernel-placed and
/// ctp-pinned. All pools exist at once; in each repetition they take turns
/// round-robin, `block` ticks at a time (the order rotating by one pool per
/// repetition), each turn after the process has gone quiet (ctpb_settle),
/// and every pool runs the same cost mix in round r. A tick's ideal is its
/// measured work divided by the workers, or its longest task if that is
/// longer.
func runTickScenario(workers: Int, options o: TickOptions) throws -> [TickRun] {
    // ctp-kernel-placed and ctp-pinned too: what wake_elsewhere buys on this
    // machine, and what pinning the workers buys on top.
    let specs = allPeers.filter {
        defaultPeerNames.contains($0.name) || $0.name == "ctp-kernel-placed" || $0.name == "ctp-pinned"
    }
    let pools = UnsafeMutablePointer<ctpb_pool>.allocate(capacity: specs.count)
    var made = 0
    // Pools that poll while idle live only during their own turns (their
    // idle cost would land on the others); alive[i]: pools[i] is live.
    var alive = [Bool](repeating: false, count: specs.count)
    defer {
        for i in 0..<made where alive[i] { pools[i].destroy(pools[i].impl) }
        pools.deinitialize(count: made)
        pools.deallocate()
    }
    for spec in specs {
        (pools + made).initialize(to: try spec.make(PeerOptions(workers: workers, topology: nil)))
        alive[made] = true
        made += 1
    }
    for i in specs.indices where specs[i].pollsWhileIdle {
        pools[i].destroy(pools[i].impl)
        alive[i] = false
    }
    let reporter = ProgressReporter(label: "tick")
    defer { reporter.finish() }
    var out: [TickRun] = []
    for k in o.sizes {
        progress("tick: \(k) tasks after a \(o.pauseMicros) us pause, \(o.repetitions) x \(o.rounds) ticks per pool, " +
                 "\(specs.count) pools in turns of \(o.block)")
        var reps: [[TickRepetition]] = Array(repeating: [], count: specs.count)
        for rep in 0..<o.repetitions {
            let costs: [[UInt32]] = (0..<o.rounds).map { r in
                var c = [UInt32](repeating: 0, count: k)
                ctpb_tick_costs(&c, k, o.seed ^ (UInt64(k) << 40) ^ (UInt64(rep) << 20) ^ UInt64(r))
                return c
            }
            let order = (0..<specs.count).map { (rep + $0) % specs.count }
            var tickNs = [[UInt64]](repeating: [UInt64](repeating: 0, count: o.rounds), count: specs.count)
            var idealNs = tickNs
            var cpu = [Double](repeating: 0, count: specs.count), work = cpu
            var start = 0
            while start < o.rounds {
                let end = min(start + o.block, o.rounds)
                for i in order {
                    if !alive[i] {
                        pools[i] = try specs[i].make(PeerOptions(workers: workers, topology: nil))
                        alive[i] = true
                        var warm = ctpb_peer_burst_result()
                        _ = ctpb_peer_burst(pools + i, 64, &warm) // start its threads
                    }
                    defer {
                        if specs[i].pollsWhileIdle {
                            pools[i].destroy(pools[i].impl)
                            alive[i] = false
                        }
                    }
                    ctpb_settle(0.5)
                    let c0 = ctpb_process_cpu_seconds()
                    for r in start..<end {
                        var res = ctpb_peer_tick_result()
                        let rc = costs[r].withUnsafeBufferPointer { ctpb_peer_tick(pools + i, $0.baseAddress, k, o.pauseMicros, &res) }
                        guard rc == 0 else { throw PeerError(description: "\(specs[i].name): tick of \(k) tasks lost tasks or failed") }
                        tickNs[i][r] = res.tick_ns
                        let even = (res.work_ns + UInt64(workers) - 1) / UInt64(workers)
                        idealNs[i][r] = max(even, res.longest_ns)
                        work[i] += Double(res.work_ns) / 1e9
                    }
                    cpu[i] += ctpb_process_cpu_seconds() - c0
                    reporter.update("\(k) tasks · repetition \(rep + 1)/\(o.repetitions) · \(specs[i].name) · tick \(end)/\(o.rounds)")
                }
                start = end
            }
            for i in specs.indices {
                let t = LatencySummary(nanoseconds: tickNs[i]), d = LatencySummary(nanoseconds: idealNs[i])
                reps[i].append(TickRepetition(tickP50: t.p50, tickP99: t.p99, idealP50: d.p50, idealP99: d.p99,
                                              cpuOverWork: work[i] > 0 ? cpu[i] / work[i] : 0))
            }
        }
        var runs = specs.indices.map { TickRun(pool: specs[$0].name, tasks: k, rounds: o.rounds, repetitions: reps[$0]) }
        if let base = runs.first(where: { $0.pool == "ctp" }) ?? runs.first {
            for i in runs.indices { runs[i].compare(to: base) }
        }
        out += runs
    }
    return out
}

func renderTickScenario(_ runs: [TickRun], options o: TickOptions, workers: Int) -> String {
    var out = ""
    for k in o.sizes {
        let group = runs.filter { $0.tasks == k }
        guard let first = group.first else { continue }
        let base = group.first { $0.pool == "ctp" } ?? first
        let reps = first.repetitions.count
        var t = Table(title: "Tick after a park: \(k) tasks of mixed cost after a \(fmt(Double(o.pauseMicros) / 1000, 1)) ms pause, " +
                      "\(o.rounds) ticks per pool in each of \(reps) repetitions (us; " +
                      (reps > 1 ? "median (min-max) over the repetitions)" : "one repetition)"),
                      header: ["pool", "tick p50", "tick p99", "ideal p50", "ideal p99", "p50/ideal", "p99/ideal",
                               "p50/\(base.pool)", "p99/\(base.pool)", "CPU/work"])
        for r in group {
            t.add([r.pool, r.tickP50.render(0), r.tickP99.render(0), r.idealP50.render(0), r.idealP99.render(0),
                   r.p50OverIdeal.render(suffix: "x"), r.p99OverIdeal.render(suffix: "x"),
                   r.p50OverCtp?.render(suffix: "x") ?? "-", r.p99OverCtp?.render(suffix: "x") ?? "-",
                   r.cpuOverWork.render()])
        }
        out += t.render()
    }
    out += "Costs: 90% 8-14 us, 9% 40-100 us, 1% 300 us of thread CPU time each, a new mix every round, the same for every pool. " +
        "Ideal: the tick's measured work (the tasks' CPU time) / \(workers) workers, or its longest task if longer. Pools take turns in blocks of " +
        "\(o.block) ticks, the order rotating each repetition; CPU/work: process CPU during the pool's turns " +
        "(pauses included) over the work.\n"
    return out
}
#endif
