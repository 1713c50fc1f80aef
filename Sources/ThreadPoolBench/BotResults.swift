#if Benchmark // the whole file; see the trait in Package.swift
import CTPBenchKernels
import Foundation

let classNames = ["EMERGENCY", "HIGH", "MEDIUM", "LOW"]

/// Median and range of one figure over the repetitions.
struct Spread: Codable, Sendable {
    var median: Double
    var min: Double
    var max: Double

    init(_ values: [Double]) {
        let v = values.filter { $0.isFinite }.sorted()
        guard !v.isEmpty else { median = 0; min = 0; max = 0; return }
        median = v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
        min = v[0]
        max = v[v.count - 1]
    }

    /// "1.52 (1.48-1.60)", or "1.52" when the range is one value.
    func render(_ digits: Int = 2, scale: Double = 1, suffix: String = "") -> String {
        let m = fmt(median * scale, digits) + suffix
        let lo = fmt(min * scale, digits), hi = fmt(max * scale, digits)
        return lo == hi ? m : "\(m) (\(lo)-\(hi))"
    }
}

/// One repetition of one pool: its tick figures, from its own ticks (us).
struct BotRepetition: Codable {
    var tickP50: Double
    var tickP99: Double
    var idealP50: Double
    var idealP99: Double
    var inOrderP50: Double              // the tick list-scheduled in submission order with no overhead
    var inOrderP99: Double
    var ticksPerSecond: Double
    var checksum: UInt64
}

/// One pool's figures for one world size, as printed and written to JSON:
/// distributions and counters pooled over the repetitions, and per
/// repetition the tick percentiles the ratios are medians of.
struct BotRun: Codable {
    var pool: String
    var bots: Int
    var flatOut: Bool
    var threads: Int
    var ticks: Int                      // measured, all repetitions together
    var tick: LatencySummary            // microseconds
    var tickSamplesMs: [Double]         // sorted, for the chart
    var ideal: LatencySummary           // the tick's limit on the workers (see docs/benchmark.md), us
    var workPerTickMicros: Double       // mean measured work per tick (serial part + bodies)
    var ticksOverBudget: UInt64
    var ticksPerSecond: Double          // measured ticks / wall seconds
    var wake: LatencySummary            // tick's first submit to first start, us
    var latency: [LatencySummary]       // submit-to-start by class, us
    var critBound: LatencySummary       // lower bound on CRITICAL submit-to-start for this pool's threads, us
    var cost: LatencySummary            // one update body, us
    var costMeanMicros: Double
    var late: [UInt64]                  // by class, past 10/50/200/1000 ms
    var stranded: UInt64
    var deferredPerTick: Double
    var updatesPerTick: [Double]        // by class
    var botsPerClass: [Double]          // mean population by class
    var actions: UInt64
    var updatesSubmitted: UInt64
    var updatesExecuted: UInt64
    var rebuildsSubmitted: UInt64
    var rebuildsExecuted: UInt64
    var cpuPerSecond: Double
    var workPerSecond: Double
    var cpuOverWork: Double
    var idleCpuShare: Double            // CPU seconds per second during the gaps between ticks
    var contextSwitchesPerWorkerPerSecond: Double
    var homeShare: Double?
    /// The world's node imbalance (ctpb_bots_result.balance_remote_share), mean over the repetitions.
    var balanceRemoteShare: Double?
    /// Per measured tick, mean over every batch of it (us): hand-over to first start,
    /// first start to last end, the same bodies in order with no overhead, last end to return.
    var partsHead: Double
    var partsSpan: Double
    var partsInOrder: Double
    var partsTail: Double
    var tickShares: [Double]?          // ctp's own tick reports: workers busy, waking, idle; wake lag, tick thread helping (shares)
    var takenRemote: Double?
    var checksum: UInt64
    var repetitions: [BotRepetition]
    // Over the repetitions: median (min-max).
    var tickP50: Spread
    var tickP99: Spread
    var idealP50: Spread
    var idealP99: Spread
    var p50OverIdeal: Spread
    var p99OverIdeal: Spread
    var inOrderP50: Spread
    var inOrderOverIdeal: Spread        // p50 / ideal p50: what order alone costs
    var p50OverInOrder: Spread
    var p99OverInOrder: Spread
    var ticksPerSecondSpread: Spread
    // Against ctp in the same repetition; set by `compare(to:)`.
    var p50OverCtp: Spread?
    var p99OverCtp: Spread?
    var ctpTicksPerSecondOverPool: Spread?

    /// `results`: one per repetition, each complete.
    init(pool: String, bots: Int, flatOut: Bool, threads: Int, results: [ctpb_bots_result]) {
        func samples(_ p: UnsafeMutablePointer<UInt64>?, _ n: Int) -> [UInt64] {
            guard let p, n > 0 else { return [] }
            return Array(UnsafeBufferPointer(start: p, count: n))
        }
        func classSamples(_ r: ctpb_bots_result, _ c: Int) -> [UInt64] {
            withUnsafeBytes(of: r.latency_ns) { lp in
                withUnsafeBytes(of: r.latency_count) { cp in
                    samples(lp.load(fromByteOffset: c * 8, as: UnsafeMutablePointer<UInt64>?.self),
                            cp.load(fromByteOffset: c * 8, as: Int.self))
                }
            }
        }
        func sum(_ f: (ctpb_bots_result) -> UInt64) -> UInt64 { results.reduce(0) { $0 + f($1) } }
        func sumD(_ f: (ctpb_bots_result) -> Double) -> Double { results.reduce(0) { $0 + f($1) } }
        let t = results.reduce(0) { $0 + Int($1.ticks) }
        var tickNs: [UInt64] = [], idealNs: [UInt64] = [], workNs: [UInt64] = [], wakeNs: [UInt64] = []
        var lat: [[UInt64]] = Array(repeating: [], count: 4), costs: [UInt64] = [], bound: [UInt64] = []
        var reps: [BotRepetition] = []
        for r in results {
            let n = Int(r.ticks)
            let ticksOfRep = samples(r.tick_ns, n), idealOfRep = samples(r.tick_ideal_ns, n)
            let ts = LatencySummary(nanoseconds: ticksOfRep), id = LatencySummary(nanoseconds: idealOfRep)
            let io = LatencySummary(nanoseconds: samples(r.tick_in_order_ns, n))
            reps.append(BotRepetition(tickP50: ts.p50, tickP99: ts.p99, idealP50: id.p50, idealP99: id.p99,
                                      inOrderP50: io.p50, inOrderP99: io.p99,
                                      ticksPerSecond: r.wall_seconds > 0 ? Double(n) / r.wall_seconds : 0,
                                      checksum: r.checksum))
            tickNs += ticksOfRep
            idealNs += idealOfRep
            workNs += samples(r.tick_work_ns, n)
            wakeNs += samples(r.tick_wake_ns, n)
            for c in 0..<4 { lat[c] += classSamples(r, c) }
            costs += samples(r.cost_ns, Int(r.cost_count))
            bound += samples(r.crit_bound_ns, Int(r.crit_bound_count))
        }
        self.pool = pool
        self.bots = bots
        self.flatOut = flatOut
        self.threads = threads
        ticks = t
        tick = LatencySummary(nanoseconds: tickNs)
        tickSamplesMs = tickNs.sorted().map { Double($0) / 1e6 }
        ideal = LatencySummary(nanoseconds: idealNs)
        workPerTickMicros = workNs.isEmpty ? 0 : Double(workNs.reduce(0, +)) / Double(workNs.count) / 1000
        ticksOverBudget = sum { $0.ticks_over_budget }
        let wall = sumD { $0.wall_seconds }, cpu = sumD { $0.cpu_seconds }, work = sumD { $0.work_seconds }
        let idleSeconds = sumD { $0.idle_seconds }
        ticksPerSecond = wall > 0 ? Double(t) / wall : 0
        wake = LatencySummary(nanoseconds: wakeNs)
        latency = lat.map { LatencySummary(nanoseconds: $0) }
        critBound = LatencySummary(nanoseconds: bound)
        cost = LatencySummary(nanoseconds: costs)
        costMeanMicros = costs.isEmpty ? 0 : Double(costs.reduce(0, +)) / Double(costs.count) / 1000
        late = [sum { $0.late.0 }, sum { $0.late.1 }, sum { $0.late.2 }, sum { $0.late.3 }]
        stranded = sum { $0.stranded }
        deferredPerTick = t > 0 ? Double(sum { $0.deferred }) / Double(t) : 0
        updatesPerTick = [sum { $0.class_updates.0 }, sum { $0.class_updates.1 }, sum { $0.class_updates.2 },
                          sum { $0.class_updates.3 }].map { t > 0 ? Double($0) / Double(t) : 0 }
        let reps_ = Double(max(results.count, 1))
        botsPerClass = [sumD { $0.class_bots.0 }, sumD { $0.class_bots.1 }, sumD { $0.class_bots.2 },
                        sumD { $0.class_bots.3 }].map { $0 / reps_ }
        actions = sum { $0.actions }
        updatesSubmitted = sum { $0.updates_submitted }
        updatesExecuted = sum { $0.updates_executed }
        rebuildsSubmitted = sum { $0.rebuilds_submitted }
        rebuildsExecuted = sum { $0.rebuilds_executed }
        cpuPerSecond = wall > 0 ? cpu / wall : 0
        workPerSecond = wall > 0 ? work / wall : 0
        cpuOverWork = work > 0 ? cpu / work : 0
        idleCpuShare = idleSeconds > 0 ? sumD { $0.idle_cpu_seconds } / idleSeconds : 0
        contextSwitchesPerWorkerPerSecond = wall > 0 ? sumD { $0.context_switches } / Double(max(threads, 1)) / wall : 0
        let perTick = t > 0 ? 1e6 / Double(t) : 0
        partsHead = sumD { $0.parts_head_seconds } * perTick
        partsSpan = sumD { $0.parts_span_seconds } * perTick
        partsInOrder = sumD { $0.parts_in_order_seconds } * perTick
        partsTail = sumD { $0.parts_tail_seconds } * perTick
        let last = results.last
        homeShare = last.flatMap { $0.home_share >= 0 ? $0.home_share : nil }
        takenRemote = last.flatMap { $0.taken_remote >= 0 ? $0.taken_remote : nil }
        let balances = results.map(\.balance_remote_share).filter { $0 >= 0 }
        balanceRemoteShare = balances.isEmpty ? nil : balances.reduce(0, +) / Double(balances.count)
        checksum = results.first?.checksum ?? 0
        repetitions = reps
        tickP50 = Spread(reps.map(\.tickP50))
        tickP99 = Spread(reps.map(\.tickP99))
        idealP50 = Spread(reps.map(\.idealP50))
        idealP99 = Spread(reps.map(\.idealP99))
        p50OverIdeal = Spread(reps.map { $0.tickP50 / $0.idealP50 })
        p99OverIdeal = Spread(reps.map { $0.tickP99 / $0.idealP99 })
        inOrderP50 = Spread(reps.map(\.inOrderP50))
        inOrderOverIdeal = Spread(reps.map { $0.inOrderP50 / $0.idealP50 })
        p50OverInOrder = Spread(reps.map { $0.tickP50 / $0.inOrderP50 })
        p99OverInOrder = Spread(reps.map { $0.tickP99 / $0.inOrderP99 })
        ticksPerSecondSpread = Spread(reps.map(\.ticksPerSecond))
    }

    /// Ratios to `base` (ctp), repetition by repetition: each pair ran in
    /// the same stretch of time, interleaved.
    mutating func compare(to base: BotRun) {
        let pairs = Array(zip(repetitions, base.repetitions))
        guard !pairs.isEmpty else { return }
        p50OverCtp = Spread(pairs.map { $0.tickP50 / $1.tickP50 })
        p99OverCtp = Spread(pairs.map { $0.tickP99 / $1.tickP99 })
        ctpTicksPerSecondOverPool = Spread(pairs.map { $1.ticksPerSecond / $0.ticksPerSecond })
    }
}

enum BotTables {
    static func ms(_ us: Double) -> String { fmt(us / 1000, 2) }
    static func us(_ v: Double) -> String { v >= 10_000 ? fmt(v / 1000, 1) + "ms" : fmt(v, 0) }
    static func ratio(_ a: Double, _ b: Double) -> String { b > 0 ? fmt(a / b, 2) + "x" : "-" }

    /// The tables for one world size, with each pool's ratios to the ideal and to ctp.
    static func render(_ runs: [BotRun], flatOut: Bool) -> String {
        guard let first = runs.first else { return "" }
        let base = runs.first { $0.pool == "ctp" } ?? first
        let n = first.bots
        let reps = first.repetitions.count
        var out = ""
        let mode = flatOut ? "flat out (ticks back to back)" : "real time (one tick every 50 ms)"
        var head = ["pool", "tick p50 ms", "tick p99 ms", "ideal p50", "ideal p99", "p50/ideal", "p99/ideal",
                    "p50/\(base.pool)", "p99/\(base.pool)"]
        if flatOut { head += ["ticks/s", "\(base.pool)/pool"] }
        var r0 = Table(title: "\(n) bots, \(mode): tick time against its ideal and \(base.pool), " +
                       (reps > 1 ? "median of \(reps) repetitions (min-max)" : "one repetition"),
                       header: head)
        for r in runs {
            var row = [r.pool, r.tickP50.render(scale: 1e-3), r.tickP99.render(scale: 1e-3),
                       r.idealP50.render(scale: 1e-3), r.idealP99.render(scale: 1e-3),
                       r.p50OverIdeal.render(suffix: "x"), r.p99OverIdeal.render(suffix: "x"),
                       r.p50OverCtp?.render(suffix: "x") ?? "-", r.p99OverCtp?.render(suffix: "x") ?? "-"]
            if flatOut {
                row += [r.ticksPerSecondSpread.render(0), r.ctpTicksPerSecondOverPool?.render(suffix: "x") ?? "-"]
            }
            r0.add(row)
        }
        out += r0.render()
        let pooled = reps > 1 ? ", all \(reps) repetitions pooled" : ""
        if flatOut {
            var t = Table(title: "\(n) bots, flat out: tail and CPU\(pooled)",
                          header: ["pool", "ticks/s", "tick p50 ms", "p99", "max", "CPU/work", "csw/worker/s"])
            for r in runs {
                t.add([r.pool, fmt(r.ticksPerSecond, 0), ms(r.tick.p50), ms(r.tick.p99), ms(r.tick.max),
                       fmt(r.cpuOverWork, 2), fmt(r.contextSwitchesPerWorkerPerSecond, 0)])
            }
            out += t.render()
        } else {
            var t = Table(title: "\(n) bots, real time: tail, wake-up, CPU\(pooled)",
                          header: ["pool", "tick p50 ms", "p99", "max", ">50ms", "wake p99 us", "CRIT p99 us",
                                   "bound", "late", "stranded", "CPU s/s", "CPU/work", "idle CPU", "csw/worker/s"])
            for r in runs {
                t.add([r.pool, ms(r.tick.p50), ms(r.tick.p99), ms(r.tick.max), "\(r.ticksOverBudget)",
                       us(r.wake.p99), us(r.latency[0].p99), us(r.critBound.p99),
                       "\(r.late.reduce(0, +))", "\(r.stranded)", fmt(r.cpuPerSecond, 3), fmt(r.cpuOverWork, 2),
                       fmt(r.idleCpuShare * 100, 1) + "%", fmt(r.contextSwitchesPerWorkerPerSecond, 0)])
            }
            out += t.render()
        }
        var l = Table(title: "\(n) bots: submit-to-start by class, p50 / p99 / max (us)\(pooled)",
                      header: ["pool"] + classNames)
        for r in runs {
            l.add([r.pool] + r.latency.map { "\(us($0.p50)) / \(us($0.p99)) / \(us($0.max))" })
        }
        out += l.render()
        out += "\nWork per tick: " + zip(classNames, first.updatesPerTick).map { "\($0) \(fmt($1, 1))" }.joined(separator: ", ") +
            " updates; bots per class " + first.botsPerClass.map { fmt($0, 0) }.joined(separator: "/") +
            "; \(fmt(first.deferredPerTick, 1)) due updates deferred per tick by the budgets" +
            "; update cost mean \(fmt(first.costMeanMicros, 1)) us, p50 \(fmt(first.cost.p50, 1)), p99 \(fmt(first.cost.p99, 0)), max \(fmt(first.cost.max, 0)) us" +
            "; measured work \(ms(base.workPerTickMicros)) ms per tick on \(base.pool), ideal p50 \(ms(base.ideal.p50)) ms.\n"
        out += "Ideal: the tick thread's serial part (its time outside the pool's run calls) plus, per batch, the bodies' " +
            "thread CPU time divided by the workers (or the longest body's if longer); each pool's from its own ticks.\n"
        out += "Every pool above ran every update exactly once (\(first.updatesSubmitted) updates, \(first.rebuildsSubmitted) grid rebuilds per pool" +
            (reps > 1 ? " over \(reps) repetitions" : "") + "); final world checksum " +
            (runs.allSatisfy { r in r.repetitions.allSatisfy { $0.checksum == first.checksum } }
                ? "identical across pools.\n" : "DIFFERS between pools.\n")
        if !flatOut {
            var t = Table(title: "\(n) bots: against the tick in submission order with no overhead, " +
                          (reps > 1 ? "median of \(reps) repetitions (min-max)" : "one repetition"),
                          header: ["pool", "in order p50 ms", "in order/ideal", "p50/in order", "p99/in order"])
            for r in runs {
                t.add([r.pool, r.inOrderP50.render(scale: 1e-3), r.inOrderOverIdeal.render(suffix: "x"),
                       r.p50OverInOrder.render(suffix: "x"), r.p99OverInOrder.render(suffix: "x")])
            }
            out += t.render()
            var p = Table(title: "\(n) bots: where the time in the pool goes, us per tick (mean, every batch of the tick summed)\(pooled)",
                          header: ["pool", "head", "span", "in order", "span - in order", "tail", "head+tail+excess"])
            for r in runs {
                p.add([r.pool, fmt(r.partsHead, 0), fmt(r.partsSpan, 0), fmt(r.partsInOrder, 0),
                       fmt(r.partsSpan - r.partsInOrder, 0), fmt(r.partsTail, 0),
                       fmt(r.partsHead + r.partsTail + r.partsSpan - r.partsInOrder, 0)])
            }
            out += p.render()
            out += "Head: a batch's hand-over to its first body's start; span: first start to last end; in order: the " +
                "same bodies list-scheduled in submission order on the workers with no overhead; tail: last end to the " +
                "pool's return. Head, tail and the span's excess over in order are what the pool and the machine " +
                "add to the bodies.\n"
            out += "In order: the serial part plus each batch list-scheduled in submission order (the updates' priority order) " +
                "on the workers, each body on the first free one, with its measured CPU time and nothing paid to wake, " +
                "steal or finish: what a pool that starts the bodies strictly in that order takes if it pays nothing. A pool " +
                "that strays from the order (stealing) can land either side of it.\n"
        }
        if runs.contains(where: { $0.tickShares != nil }) {
            var t = Table(title: "\(n) bots: ctp's own tick reports (ctp_tick_end), every batch of every tick",
                          header: ["pool", "workers busy", "waking", "idle", "wake lag", "tick thread helping"])
            for r in runs { if let s = r.tickShares {
                t.add([r.pool] + s.map { fmt($0 * 100, 1) + "%" })
            } }
            out += t.render()
        }
        for r in runs where r.homeShare != nil {
            out += "\(r.pool): \(fmt(r.homeShare! * 100, 1))% of node-affine tasks ran on their home node, \(Int(r.takenRemote ?? 0)) taken from another node.\n"
        }
        if let b = runs.compactMap(\.balanceRemoteShare).first {
            out += "Node imbalance of this world: for the nodes to finish each tick together, \(fmt(b * 100, 1))% of the node-affine " +
                "update work (CPU time, mean over the ticks) has to run on another node, so a pool that keeps the tick short " +
                "runs at most about \(fmt((1 - b) * 100, 1))% at home.\n"
        }
        if base.pool == "ctp", let c = runs.first(where: { $0.pool == "ctp-control" }),
           let p50 = c.p50OverCtp, let p99 = c.p99OverCtp {
            out += "Noise floor: ctp-control is the same pool as ctp; its ratios to ctp, tick p50 \(p50.render(suffix: "x")) " +
                "and p99 \(p99.render(suffix: "x")), show how far two identical pools differ in this run: read other " +
                "pools' ratios to ctp against them.\n"
        }
        let peers = runs.filter { !$0.pool.hasPrefix("ctp") }
        if base.pool == "ctp", let best = peers.min(by: { $0.tickP99.median < $1.tickP99.median }) {
            out += "ctp tick p99 = \(ratio(base.tickP99.median, best.tickP99.median)) the best peer's " +
                "(\(best.pool), \(ms(best.tickP99.median)) ms; medians over the repetitions).\n"
        }
        return out
    }
}
#endif
