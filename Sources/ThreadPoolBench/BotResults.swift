import CTPBenchKernels
import Foundation

let classNames = ["EMERGENCY", "HIGH", "MEDIUM", "LOW"]

/// One pool's figures for one world size, as printed and written to JSON.
struct BotRun: Codable {
    var pool: String
    var bots: Int
    var flatOut: Bool
    var threads: Int
    var ticks: Int
    var tick: LatencySummary            // microseconds
    var tickSamplesMs: [Double]         // sorted, for the chart
    var ticksOverBudget: UInt64
    var ticksPerSecond: Double          // measured ticks / wall seconds
    var wake: LatencySummary            // tick's first submit to first start, us
    var latency: [LatencySummary]       // submit-to-start by class, us
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
    var takenRemote: Double?
    var checksum: UInt64

    init(pool: String, bots: Int, flatOut: Bool, threads: Int, result r: ctpb_bots_result) {
        func samples(_ p: UnsafeMutablePointer<UInt64>?, _ n: Int) -> [UInt64] {
            guard let p, n > 0 else { return [] }
            return Array(UnsafeBufferPointer(start: p, count: n))
        }
        let t = Int(r.ticks)
        let tickNs = samples(r.tick_ns, t)
        self.pool = pool
        self.bots = bots
        self.flatOut = flatOut
        self.threads = threads
        ticks = t
        tick = LatencySummary(nanoseconds: tickNs)
        tickSamplesMs = tickNs.sorted().map { Double($0) / 1e6 }
        ticksOverBudget = r.ticks_over_budget
        ticksPerSecond = r.wall_seconds > 0 ? Double(t) / r.wall_seconds : 0
        wake = LatencySummary(nanoseconds: samples(r.tick_wake_ns, t))
        latency = withUnsafeBytes(of: r.latency_ns) { lp in
            withUnsafeBytes(of: r.latency_count) { cp in
                (0..<4).map { c in
                    LatencySummary(nanoseconds: samples(lp.load(fromByteOffset: c * 8, as: UnsafeMutablePointer<UInt64>?.self),
                                                        cp.load(fromByteOffset: c * 8, as: Int.self)))
                }
            }
        }
        let costs = samples(r.cost_ns, Int(r.cost_count))
        cost = LatencySummary(nanoseconds: costs)
        costMeanMicros = costs.isEmpty ? 0 : Double(costs.reduce(0, +)) / Double(costs.count) / 1000
        late = [r.late.0, r.late.1, r.late.2, r.late.3]
        stranded = r.stranded
        deferredPerTick = Double(r.deferred) / Double(t)
        updatesPerTick = [r.class_updates.0, r.class_updates.1, r.class_updates.2, r.class_updates.3].map { Double($0) / Double(t) }
        botsPerClass = [r.class_bots.0, r.class_bots.1, r.class_bots.2, r.class_bots.3]
        actions = r.actions
        updatesSubmitted = r.updates_submitted
        updatesExecuted = r.updates_executed
        rebuildsSubmitted = r.rebuilds_submitted
        rebuildsExecuted = r.rebuilds_executed
        cpuPerSecond = r.wall_seconds > 0 ? r.cpu_seconds / r.wall_seconds : 0
        workPerSecond = r.wall_seconds > 0 ? r.work_seconds / r.wall_seconds : 0
        cpuOverWork = r.work_seconds > 0 ? r.cpu_seconds / r.work_seconds : 0
        idleCpuShare = r.idle_seconds > 0 ? r.idle_cpu_seconds / r.idle_seconds : 0
        contextSwitchesPerWorkerPerSecond = r.wall_seconds > 0 ? r.context_switches / Double(max(threads, 1)) / r.wall_seconds : 0
        homeShare = r.home_share >= 0 ? r.home_share : nil
        takenRemote = r.taken_remote >= 0 ? r.taken_remote : nil
        checksum = r.checksum
    }
}

enum BotTables {
    static func ms(_ us: Double) -> String { fmt(us / 1000, 2) }
    static func us(_ v: Double) -> String { v >= 10_000 ? fmt(v / 1000, 1) + "ms" : fmt(v, 0) }
    static func ratio(_ a: Double, _ b: Double) -> String { b > 0 ? fmt(a / b, 2) + "x" : "-" }

    /// The tables for one world size, with each pool's ratio to ctp.
    static func render(_ runs: [BotRun], flatOut: Bool) -> String {
        guard let first = runs.first else { return "" }
        let base = runs.first { $0.pool == "ctp" } ?? first
        let n = first.bots
        var out = ""
        if flatOut {
            var t = Table(title: "\(n) bots, flat out (ticks back to back)",
                          header: ["pool", "ticks/s", "ctp/pool", "tick p50 ms", "p99", "max", "p99 / ctp", "CPU/work", "csw/worker/s"])
            for r in runs {
                t.add([r.pool, fmt(r.ticksPerSecond, 0), ratio(base.ticksPerSecond, r.ticksPerSecond), ms(r.tick.p50),
                       ms(r.tick.p99), ms(r.tick.max), ratio(r.tick.p99, base.tick.p99), fmt(r.cpuOverWork, 2),
                       fmt(r.contextSwitchesPerWorkerPerSecond, 0)])
            }
            out += t.render()
        } else {
            var t = Table(title: "\(n) bots, real time (one tick every 50 ms): tick time, wake-up, CPU",
                          header: ["pool", "tick p50 ms", "p99", "max", ">50ms", "p99 / ctp", "wake p99 us", "CRIT p99 us",
                                   "late", "stranded", "CPU s/s", "CPU/work", "idle CPU", "csw/worker/s"])
            for r in runs {
                t.add([r.pool, ms(r.tick.p50), ms(r.tick.p99), ms(r.tick.max), "\(r.ticksOverBudget)",
                       ratio(r.tick.p99, base.tick.p99), us(r.wake.p99), us(r.latency[0].p99),
                       "\(r.late.reduce(0, +))", "\(r.stranded)", fmt(r.cpuPerSecond, 3), fmt(r.cpuOverWork, 2),
                       fmt(r.idleCpuShare * 100, 1) + "%", fmt(r.contextSwitchesPerWorkerPerSecond, 0)])
            }
            out += t.render()
        }
        var l = Table(title: "\(n) bots: submit-to-start by class, p50 / p99 / max (us)",
                      header: ["pool"] + classNames)
        for r in runs {
            l.add([r.pool] + r.latency.map { "\(us($0.p50)) / \(us($0.p99)) / \(us($0.max))" })
        }
        out += l.render()
        out += "\nWork per tick: " + zip(classNames, first.updatesPerTick).map { "\($0) \(fmt($1, 1))" }.joined(separator: ", ") +
            " updates; bots per class " + first.botsPerClass.map { fmt($0, 0) }.joined(separator: "/") +
            "; \(fmt(first.deferredPerTick, 1)) due updates deferred per tick by the budgets" +
            "; update cost mean \(fmt(first.costMeanMicros, 1)) us, p50 \(fmt(first.cost.p50, 1)), p99 \(fmt(first.cost.p99, 0)), max \(fmt(first.cost.max, 0)) us.\n"
        out += "Every pool ran every update exactly once (\(first.updatesSubmitted) updates, \(first.rebuildsSubmitted) grid rebuilds per pool); final world checksum " +
            (runs.allSatisfy { $0.checksum == first.checksum } ? "identical across pools.\n" : "DIFFERS between pools.\n")
        for r in runs where r.homeShare != nil {
            out += "\(r.pool): \(fmt(r.homeShare! * 100, 1))% of node-affine tasks ran on their home node, \(Int(r.takenRemote ?? 0)) taken from another node.\n"
        }
        let peers = runs.filter { !$0.pool.hasPrefix("ctp") }
        if base.pool == "ctp", let best = peers.min(by: { $0.tick.p99 < $1.tick.p99 }) {
            out += "ctp tick p99 = \(ratio(base.tick.p99, best.tick.p99)) the best peer's (\(best.pool), \(ms(best.tick.p99)) ms).\n"
        }
        return out
    }
}
