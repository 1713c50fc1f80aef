#if Benchmark // the whole file; see the trait in Package.swift
import CTPBenchKernels
import Foundation

/// The micro-benchmarks every peer runs through the same C interface as the
/// bot simulation (Sources/CTPBenchKernels/peer_micro.c).
struct PeerMicro: Codable {
    var pool: String
    var wake: LatencySummary               // us
    var burstTasksPerSecond: Double
    var burstContextSwitchesPerTask: Double
    var trickleOverheadMicrosPerTask: Double
    var trickleContextSwitchesPerTask: Double
    var idleCpuSecondsPerSecond: Double
    var fibSeconds: Double?                // best of reps; nil where the runtime has no fork-join
    var parallelForSeconds: Double?
}

func runPeerMicro(workers: Int, quick: Bool, reps: Int, fibN: Int32, fibValue: Int) throws -> [PeerMicro] {
    let rounds = quick ? 100 : 500
    let burst = quick ? 100_000 : 1_000_000
    let trickle = quick ? 200 : 1000
    let loopN = 10_000_000
    let a = UnsafeMutablePointer<Double>.allocate(capacity: loopN)
    a.initialize(repeating: 0, count: loopN)
    defer { a.deallocate() }
    var out: [PeerMicro] = []
    for spec in allPeers where defaultPeerNames.contains(spec.name) {
        progress("peers: \(spec.name): wake, burst, trickle, idle, fib(\(fibN)), parallel for")
        var pool = try spec.make(PeerOptions(workers: workers, topology: nil))
        defer { pool.destroy(pool.impl) }
        var wakeNs = [UInt64](repeating: 0, count: rounds)
        guard ctpb_peer_wake(&pool, rounds, 1000, &wakeNs) == 0 else { throw PeerError(description: "\(spec.name): wake run failed") }
        // Best of `reps` bursts: the first one on a fresh pool also pays for
        // its task memory's first touch (a server's pool is past that), and
        // one run on a shared 2-CPU machine is at the mercy of whatever else
        // ran at that moment.
        var b = ctpb_peer_burst_result(seconds: .infinity, context_switches: 0)
        for _ in 0..<max(reps, 1) {
            var r = ctpb_peer_burst_result()
            guard ctpb_peer_burst(&pool, burst, &r) == 0 else { throw PeerError(description: "\(spec.name): burst lost tasks") }
            if r.seconds < b.seconds { b = r }
        }
        var t = ctpb_peer_trickle_result()
        guard ctpb_peer_trickle(&pool, trickle, 1000, 20, &t) == 0 else { throw PeerError(description: "\(spec.name): trickle failed") }
        let idle = ctpb_peer_idle_cpu(&pool, quick ? 0.3 : 1.0)
        var fibBest: Double?
        if let fib = pool.fib {
            for _ in 0..<min(reps, 3) {
                var v = 0
                let s = fib(pool.impl, fibN, &v)
                guard s >= 0, v == fibValue else { throw PeerError(description: "\(spec.name): fib gave \(v), expected \(fibValue)") }
                fibBest = min(fibBest ?? .infinity, s)
            }
        }
        var loopBest: Double?
        if let loop = pool.parallel_for {
            for _ in 0..<reps { loopBest = min(loopBest ?? .infinity, loop(pool.impl, a, loopN)) }
        }
        out.append(PeerMicro(pool: spec.name, wake: LatencySummary(nanoseconds: wakeNs),
                             burstTasksPerSecond: Double(burst) / b.seconds,
                             burstContextSwitchesPerTask: b.context_switches / Double(burst),
                             trickleOverheadMicrosPerTask: (t.total_cpu_seconds - t.work_cpu_seconds) / t.tasks * 1e6,
                             trickleContextSwitchesPerTask: t.context_switches / t.tasks,
                             idleCpuSecondsPerSecond: idle, fibSeconds: fibBest, parallelForSeconds: loopBest))
    }
    return out
}

func renderPeerMicro(_ runs: [PeerMicro], fibN: Int32, fibSequential: Double, loopSequential: Double) -> String {
    guard let base = runs.first(where: { $0.pool == "ctp" }) ?? runs.first else { return "" }
    func r(_ v: Double?, _ b: Double?) -> String {
        guard let v, let b, v > 0 else { return "n/a" }
        return fmt(v / b, 2) + "x"
    }
    var t = Table(title: "Every peer through the same interface (ratios: peer / ctp; lower is better except M tasks/s)",
                  header: ["pool", "wake p50 us", "p99", "p99/ctp", "burst M tasks/s", "csw/task", "trickle us CPU/task",
                           "csw/task", "idle CPU s/s", "fib(\(fibN)) ms", "fib/ctp", "par-for 10M ms", "pf/ctp"])
    for p in runs {
        t.add([p.pool, fmt(p.wake.p50), fmt(p.wake.p99), r(p.wake.p99, base.wake.p99),
               fmt(p.burstTasksPerSecond / 1e6, 2), fmt(p.burstContextSwitchesPerTask, 4),
               fmt(p.trickleOverheadMicrosPerTask, 1), fmt(p.trickleContextSwitchesPerTask, 2),
               fmt(p.idleCpuSecondsPerSecond, 4),
               p.fibSeconds.map { fmt($0 * 1000, 0) } ?? "n/a", r(p.fibSeconds, base.fibSeconds),
               p.parallelForSeconds.map { fmt($0 * 1000, 2) } ?? "n/a", r(p.parallelForSeconds, base.parallelForSeconds)])
    }
    return t.render() + "Sequential references: fib(\(fibN)) \(fmt(fibSequential * 1000, 0)) ms by plain recursion; " +
        "the loop over 10 M doubles \(fmt(loopSequential * 1000, 2)) ms on one thread. n/a: the runtime has no fork-join " +
        "(a task blocking on its children in a non-helping pool can deadlock).\n"
}
#endif
