#if Benchmark // the whole file; see the trait in Package.swift
import ArgumentParser
import CTPBenchKernels
import Foundation
import ThreadPoolSwift

/// `threadpool-bench micro`: the runtime's micro-benchmarks, each beside the
/// raw reference measured in the same process.
struct Micro: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Wake latency, external burst, fib fork-join, trickle and idle CPU, parallel for, tick after a park.")

    @Option(help: "Pool workers (0 = one per CPU).")
    var workers: Int = 0

    @Option(help: "Wake-latency rounds.")
    var wakeRounds: Int = 2000

    @Option(help: "Tasks in the external burst.")
    var burstTasks: Int = 4_000_000

    @Option(help: "n for fib(n).")
    var fib: Int32 = 32

    @Option(help: "Repeats of each timed run (best and median reported).")
    var repeats: Int = 5

    @Flag(help: "Fewer rounds, for a smoke run.")
    var quick = false

    @Option(help: "Tick scenario: tasks per tick, comma-separated.", transform: parseList)
    var tickSizes: [Int] = [16, 100, 1000]

    @Option(help: "Tick scenario: ticks per pool in each repetition (10 with --quick).")
    var tickRounds: Int = 40

    @Option(help: "Tick scenario: repetitions; ratios are the median over them, with min-max.")
    var tickRepeats: Int = 3

    @Option(help: "Tick scenario: ticks each pool runs in its turn before the next pool's (10 with --quick).")
    var tickBlock: Int = 20

    @Option(help: "Tick scenario: pause before each tick, in microseconds (long enough for the workers to park).")
    var tickPauseUs: UInt32 = 3000

    @Flag(help: "Run only the tick scenario.")
    var tickOnly = false

    @Flag(help: "Run only the Swift section (ThreadPool.submit against ctp_submit; a task group on the pool against the global executor).")
    var swiftOnly = false

    @Flag(help: "Run only the zones-on-nodes scenario (simulated 2 and 4 nodes and this machine, NUMA auto against off).")
    var zonesOnly = false

    @Flag(help: "Run only the machine's floor: waking a bare thread on another CPU after 1 ms and after 48 ms.")
    var floorOnly = false

    @Option(help: "Write every figure as JSON to this file.")
    var json: String?

    func validate() throws {
        guard !tickSizes.isEmpty, tickSizes.allSatisfy({ $0 >= 1 && $0 <= 1_000_000 }) else {
            throw ValidationError("--tick-sizes: each between 1 and 1,000,000")
        }
        guard tickRounds >= 1, tickRepeats >= 1, tickBlock >= 1 else {
            throw ValidationError("--tick-rounds, --tick-repeats, --tick-block >= 1")
        }
    }

    struct TickResults: Codable {
        var machine: String
        var workers: Int
        var tickPauseMicros: UInt32
        var tick: [TickRun]
    }

    /// ctp_trace_start's cost: medians of interleaved repetitions.
    struct TraceCost: Codable {
        var repetitions: Int
        var burstOffMillionPerSecond: Double
        var burstOnMillionPerSecond: Double
        var fibOffMillis: Double
        var fibOnMillis: Double
    }

    struct Results: Codable {
        var machine: String
        var workers: Int
        var wakeCtp: LatencySummary
        var wakeCondvar: LatencySummary
        var coldWake: [ColdWake]
        var burstSubmitPerSecond: Double
        var burstEndToEndPerSecond: Double
        var burstBatchSubmitPerSecond: Double
        var burstContextSwitchesPerTask: Double
        var fibSequentialSeconds: Double
        var trickleOverheadMicrosPerTask: Double
        var trickleFloorOverheadMicrosPerTask: Double
        var trickleContextSwitchesPerTask: Double
        var idleCpuSecondsPerSecond: Double
        var sequentialForSeconds: Double
        var peers: [PeerMicro]
        var zones: [ZoneRun]
        var nodeBarrier: [NodeBarrierRun]
        var swiftSubmitPerSecond: Double
        var cSubmitPerSecondSameRun: Double
        var asyncOnPoolSeconds: Double
        var asyncOnGlobalSeconds: Double
        var asyncPoolOverGlobal: Double      // median of the rounds' ratios
        var asyncPoolOverGlobalMin: Double
        var asyncPoolOverGlobalMax: Double
        var asyncOnForwardingSeconds: Double   // the control executor (ForwardingExecutor)
        var asyncForwardingOverGlobal: Double  // median of the rounds' ratios
        var tickPauseMicros: UInt32
        var tick: [TickRun]
        var trace: TraceCost
    }

    /// Issue 16's node-affine tick barrier with a helping wait
    /// (``ctpb_node_barrier``), NUMA auto or off.
    struct NodeBarrierRun: Codable {
        var numa: String
        var nodes: Int
        var workerTasks: Double
        var homeShare: Double
        var roundP50Micros: Double
        var roundP99Micros: Double
    }

    struct ZoneRun: Codable {
        var layout: String
        var numa: String
        var nodes: Int
        var updatesPerSecond: Double
        var homeShare: Double
        var takenRemote: Double
    }

    /// The Swift section: `ThreadPool.submit` against `ctp_submit` in the same
    /// run, and a task group on the pool against the global executor.
    struct SwiftSection {
        var tasks: Int
        var swiftBest: Double
        var cBest: Double
        var children: Int
        var reps: Int
        var async: AsyncComparison

        func render() -> String {
            var sw = Table(title: "Swift (\(tasks) empty closures, best of \(reps); task group of \(children) children, " +
                           "\(async.pairs) interleaved rounds of three; ratio: submit rate to C's, task group time to the global executor's, median (min-max))",
                           header: ["", "value", "ratio"])
            sw.add(["ThreadPool.submit {} (M/s)", fmt(Double(tasks) / swiftBest / 1e6, 2), fmt(cBest / swiftBest, 2)])
            sw.add(["ctp_submit, same run (M/s)", fmt(Double(tasks) / cBest / 1e6, 2), "1.00"])
            sw.add(["task group on the pool (ms, median)", fmt(async.pool * 1000),
                    async.ratio.render()])
            sw.add(["task group on the global executor (ms, median)", fmt(async.global * 1000), "1.00"])
            sw.add(["task group on a forwarding executor (ms, median)", fmt(async.control * 1000),
                    async.controlRatio.render()])
            return sw.render()
        }
    }

    func runSwiftSection(workers w: Int, reps: Int) throws -> SwiftSection {
        let swiftTasks = quick ? 200_000 : 1_000_000
        progress("Swift: \(swiftTasks) empty closures through ThreadPool.submit vs C ctp_submit")
        var swiftBest = Double.infinity, cBest = Double.infinity
        for _ in 0..<reps {
            let pool = try ThreadPool(configuration: { var c = ThreadPool.Configuration(); c.workers = w; return c }())
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<swiftTasks { try pool.submit {} }
            let t1 = DispatchTime.now().uptimeNanoseconds
            while pool.stats.executed < UInt64(swiftTasks) { usleep(100) }
            try pool.shutdown()
            swiftBest = min(swiftBest, Double(t1 - t0) / 1e9)
            var r = ctpb_burst_result()
            guard ctpb_burst(w, swiftTasks, 1, &r) == 0 else { throw ValidationError("burst run failed") }
            cBest = min(cBest, r.submit_seconds)
        }
        let children = quick ? 20_000 : 100_000
        progress("Swift async: task group of \(children) small children, pool vs global executor")
        let asyncTimes = try runAsyncComparison(workers: w, children: children, repeats: quick ? reps : max(reps, 31))
        return SwiftSection(tasks: swiftTasks, swiftBest: swiftBest, cBest: cBest, children: children, reps: reps,
                            async: asyncTimes)
    }

    /// The zones scenario (``ctpb_zones``): 8 zones of 512 bots, each zone's
    /// slices a batch for its node, NUMA auto against off on the same layout.
    /// The 4-node layout is the one the C tests simulate ("0;1;2;3"), with a
    /// worker per node.
    func runZones(workers w: Int, ticks: Int) throws -> (zones: [ZoneRun], barrier: [NodeBarrierRun]) {
        progress("zones on nodes: 8 zones x 512 bots, \(ticks) ticks, NUMA auto vs off")
        var runs: [ZoneRun] = []
        let layouts: [(String, String?, Int32, Int)] = [
            ("simulated 2 nodes \"0;1\", tick barrier", "0;1", 0, w),
            ("simulated 2 nodes \"0;1\", steady", "0;1", 1, w),
            ("simulated 4 nodes \"0;1;2;3\", \(max(w, 4)) workers, tick barrier", "0;1;2;3", 0, max(w, 4)),
            ("this machine, tick barrier", nil, 0, w),
        ]
        for (layout, topo, steady, workers) in layouts {
            for off in [false, true] {
                var r = ctpb_zones_result()
                let rc: Int32 = topo.map { t in t.withCString { ctpb_zones($0, off ? 1 : 0, steady, workers, 8, 512, Int32(ticks), &r) } }
                    ?? ctpb_zones(nil, off ? 1 : 0, steady, workers, 8, 512, Int32(ticks), &r)
                guard rc == 0 else { throw ValidationError("zones run failed: \(rc)") }
                runs.append(ZoneRun(layout: layout, numa: off ? "off" : "auto", nodes: Int(r.nodes),
                                    updatesPerSecond: r.tasks * 16 / r.seconds,
                                    homeShare: r.worker_tasks > 0 ? r.affine_home / r.worker_tasks : 0,
                                    takenRemote: r.taken_remote))
            }
        }
        // Issue 16's case: "0;1", 2 workers, 200 rounds of 10 + 10 tasks of
        // 20 us after a 3 ms pause, then a helping wait; auto and off
        // alternate in blocks of 50 rounds so drift hits both.
        var barrier: [NodeBarrierRun] = []
        let rounds = ticks >= 1000 ? 200 : 50
        var parts: [[ctpb_node_barrier_result]] = [[], []]
        for block in 0..<4 {
            for k in 0..<2 {
                let off = (block + k) % 2
                var r = ctpb_node_barrier_result()
                let rc = ctpb_node_barrier("0;1", Int32(off), 2, Int32(rounds / 4), 10, 20, 3000, &r)
                guard rc == 0 else { throw ValidationError("node barrier run failed: \(rc)") }
                parts[off].append(r)
            }
        }
        for off in 0..<2 {
            let p = parts[off]
            let tasks = p.reduce(0) { $0 + $1.worker_tasks }
            let home = p.reduce(0) { $0 + $1.worker_tasks * $1.home_share }
            barrier.append(NodeBarrierRun(numa: off == 1 ? "off" : "auto", nodes: Int(p[0].nodes), workerTasks: tasks,
                                          homeShare: tasks > 0 ? home / tasks : 0,
                                          roundP50Micros: Spread(p.map { $0.round_p50_us }).median,
                                          roundP99Micros: Spread(p.map { $0.round_p99_us }).median))
        }
        return (runs, barrier)
    }

    func renderZones(_ section: (zones: [ZoneRun], barrier: [NodeBarrierRun]), ticks zoneTicks: Int) -> String {
        let zoneRuns = section.zones
        var z = Table(title: "Zones on nodes (8 zones x 512 bots, batches of 16 per task, \(zoneTicks) ticks; the caller waits without helping)",
                      header: ["layout", "NUMA", "nodes", "M bot updates/s", "ratio to off", "on home node", "taken remote"])
        for (i, r) in zoneRuns.enumerated() {
            let base = zoneRuns[i - i % 2 + 1].updatesPerSecond
            z.add([r.layout, r.numa, "\(r.nodes)", fmt(r.updatesPerSecond / 1e6, 2), fmt(r.updatesPerSecond / base, 2),
                   r.numa == "off" ? "n/a" : fmt(r.homeShare * 100, 1) + "%", fmt(r.takenRemote, 0)])
        }
        var b = Table(title: "Node-affine tick barrier, helping wait (simulated \"0;1\", 2 workers, rounds of 10 + 10 tasks of 20 us " +
                      "after a 3 ms pause; 4 blocks per mode, alternating; round times: median of the blocks' p50 and p99)",
                      header: ["NUMA", "nodes", "workers' affine tasks", "on home node", "round p50 us", "round p99 us", "p50 ratio to off"])
        let offP50 = section.barrier.first { $0.numa == "off" }?.roundP50Micros ?? 0
        for r in section.barrier {
            b.add([r.numa, "\(r.nodes)", fmt(r.workerTasks, 0), r.numa == "off" ? "n/a" : fmt(r.homeShare * 100, 1) + "%",
                   fmt(r.roundP50Micros), fmt(r.roundP99Micros), offP50 > 0 ? fmt(r.roundP50Micros / offP50, 2) : "n/a"])
        }
        return z.render() + "\n" + b.render()
    }

    /// The machine's floor for waking a second CPU (``ctpb_cold_wake``):
    /// after a short gap and after a tick's gap, in which an idle vCPU may
    /// halt. No pool is involved; it bounds what any pool can do here.
    struct ColdWake: Codable {
        var gapMicros: Int
        var signal: LatencySummary
        var wake: LatencySummary
    }

    func runColdWake(quick: Bool) throws -> [ColdWake] {
        var out: [ColdWake] = []
        for (gap, rounds) in [(1_000, quick ? 50 : 200), (48_000, quick ? 10 : 40)] {
            progress("the machine's floor: waking another CPU after \(gap) us, \(rounds) rounds")
            var sig = [UInt64](repeating: 0, count: rounds)
            var wake = [UInt64](repeating: 0, count: rounds)
            guard ctpb_cold_wake(rounds, UInt32(gap), &sig, &wake) == 0 else { return [] } // one CPU: no floor to show
            out.append(ColdWake(gapMicros: gap, signal: LatencySummary(nanoseconds: sig),
                                wake: LatencySummary(nanoseconds: wake)))
        }
        return out
    }

    func renderColdWake(_ rows: [ColdWake]) -> String {
        var t = Table(title: "The machine's floor: a bare condvar thread pinned to another CPU, woken by a thread "
                      + "that keeps running (us; no pool involved)",
                      header: ["gap before the signal", "signal call p50", "p90", "wake p50", "p90", "p99"])
        for r in rows {
            t.add(["\(r.gapMicros / 1000) ms", fmt(r.signal.p50), fmt(r.signal.p90), fmt(r.wake.p50),
                   fmt(r.wake.p90), fmt(r.wake.p99)])
        }
        return t.render()
    }

    func run() throws {
        let w = workers > 0 ? workers : ProcessInfo.processInfo.activeProcessorCount
        let rounds = quick ? 200 : wakeRounds
        let burst = quick ? 400_000 : burstTasks
        let reps = quick ? 2 : repeats
        let fibN = quick ? min(fib, 27) : fib
        let tickOptions = TickOptions(sizes: tickSizes, rounds: quick ? min(tickRounds, 10) : tickRounds,
                                      repetitions: tickRepeats, block: quick ? min(tickBlock, 10) : tickBlock,
                                      pauseMicros: tickPauseUs, seed: 0x7469_636b)
        if tickOnly {
            let ticks = try runTickScenario(workers: w, options: tickOptions)
            print(renderTickScenario(ticks, options: tickOptions, workers: w))
            if let json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                try enc.encode(TickResults(machine: machineDescription(), workers: w, tickPauseMicros: tickPauseUs,
                                           tick: ticks)).write(to: URL(fileURLWithPath: json))
            }
            return
        }
        if swiftOnly {
            print(try runSwiftSection(workers: w, reps: reps).render())
            return
        }
        if floorOnly {
            print(renderColdWake(try runColdWake(quick: quick)))
            return
        }
        if zonesOnly {
            let ticks = quick ? 100 : 1000
            print(renderZones(try runZones(workers: w, ticks: ticks), ticks: ticks))
            return
        }

        progress("wake latency: \(rounds) rounds, pool vs bare condvar")
        var ctpNs = [UInt64](repeating: 0, count: rounds)
        var cvNs = [UInt64](repeating: 0, count: rounds)
        let rc = ctpb_wake_latency(w, rounds, 1000, &ctpNs, &cvNs)
        guard rc == 0 else { throw ValidationError("wake latency run failed: \(rc)") }
        let wakeCtp = LatencySummary(nanoseconds: ctpNs)
        let wakeCv = LatencySummary(nanoseconds: cvNs)
        let coldWake = try runColdWake(quick: quick)

        progress("external burst: \(burst) empty tasks from one thread")
        var single = ctpb_burst_result(), batched = ctpb_burst_result()
        var bestSingle = Double.infinity, bestEnd = Double.infinity, bestBatch = Double.infinity
        var csPerTask = 0.0
        for _ in 0..<reps {
            guard ctpb_burst(w, burst, 1, &single) == 0, ctpb_burst(w, burst, 256, &batched) == 0 else {
                throw ValidationError("burst run failed")
            }
            if single.submit_seconds < bestSingle {
                bestSingle = single.submit_seconds
                csPerTask = single.context_switches / Double(burst)
            }
            bestEnd = min(bestEnd, single.total_seconds)
            bestBatch = min(bestBatch, batched.submit_seconds)
        }

        let traceReps = max(reps, 3)
        progress("trace cost: \(burst)-task burst and fib(\(fibN)), without and with a trace, \(traceReps) interleaved repetitions")
        var tc = ctpb_trace_cost_result()
        guard ctpb_trace_cost(w, burst, Int32(fibN), Int32(traceReps), &tc) == 0 else {
            throw ValidationError("trace cost run failed")
        }
        let traceCost = TraceCost(repetitions: traceReps, burstOffMillionPerSecond: tc.burst_off_mps,
                                  burstOnMillionPerSecond: tc.burst_on_mps, fibOffMillis: tc.fib_off_ms,
                                  fibOnMillis: tc.fib_on_ms)

        let trickleTasks = quick ? 300 : 1000
        progress("trickle: one 20 us task per ms, \(trickleTasks) tasks, pool vs bare condvar thread")
        var tr = ctpb_trickle_result(), floor = ctpb_trickle_result()
        guard ctpb_trickle(0, w, trickleTasks, 1000, 20, &tr) == 0,
              ctpb_trickle(1, w, trickleTasks, 1000, 20, &floor) == 0 else {
            throw ValidationError("trickle run failed")
        }
        let overhead = (tr.total_cpu_seconds - tr.work_cpu_seconds) / tr.tasks * 1e6
        let floorOverhead = (floor.total_cpu_seconds - floor.work_cpu_seconds) / floor.tasks * 1e6

        progress("idle: CPU of a parked pool over 1 s")
        let idle = ctpb_idle_cpu(w, quick ? 0.3 : 1.0)

        var seqValue = 0
        let fibSeq = ctpb_fib_sequential(fibN, &seqValue)
        let loopSeq = ctpb_parallel_for(0, 10_000_000, Int32(reps))
        let peerRuns = try runPeerMicro(workers: w, quick: quick, reps: reps, fibN: fibN, fibValue: seqValue)
        let tickRuns = try runTickScenario(workers: w, options: tickOptions)

        let zoneTicks = quick ? 100 : 1000
        let zoneRuns = try runZones(workers: w, ticks: zoneTicks)

        let sw = try runSwiftSection(workers: w, reps: reps)

        var t = Table(title: "Wake latency of a parked pool (submit to task start, us), \(rounds) rounds",
                      header: ["", "p50", "p90", "p99", "max", "p50 ratio", "p99 ratio"])
        t.add(["bare pthread condvar", fmt(wakeCv.p50), fmt(wakeCv.p90), fmt(wakeCv.p99), fmt(wakeCv.max), "1.00", "1.00"])
        t.add(["ctp", fmt(wakeCtp.p50), fmt(wakeCtp.p90), fmt(wakeCtp.p99), fmt(wakeCtp.max),
               fmt(wakeCtp.p50 / wakeCv.p50, 2), fmt(wakeCtp.p99 / wakeCv.p99, 2)])
        print(t.render())
        print(renderColdWake(coldWake))

        var b = Table(title: "External burst from one thread (\(burst) empty tasks, best of \(reps))",
                      header: ["", "M tasks/s"])
        b.add(["ctp_submit, submit rate", fmt(Double(burst) / bestSingle / 1e6, 2)])
        b.add(["ctp_submit, end to end", fmt(Double(burst) / bestEnd / 1e6, 2)])
        b.add(["ctp_submit_batch(256), submit rate", fmt(Double(burst) / bestBatch / 1e6, 2)])
        b.add(["context switches per task", fmt(csPerTask, 4)])
        print(b.render())

        var c = Table(title: "CPU", header: ["", "value"])
        c.add(["trickle overhead, ctp (us CPU per task)", fmt(overhead, 2)])
        c.add(["trickle overhead, bare condvar thread (us CPU per task)", fmt(floorOverhead, 2)])
        c.add(["trickle context switches per task, ctp", fmt(tr.context_switches / tr.tasks, 2)])
        c.add(["idle pool (CPU s per s)", fmt(idle, 4)])
        print(c.render())

        print(renderZones(zoneRuns, ticks: zoneTicks))

        print(sw.render())
        var tt = Table(title: "Tracing: ctp without and with ctp_trace_start (fresh pool per run, median of " +
                       "\(traceReps) interleaved repetitions)", header: ["", "no trace", "tracing", "on / off"])
        tt.add(["burst of \(burst) single submits (M/s)", fmt(tc.burst_off_mps, 2), fmt(tc.burst_on_mps, 2),
                fmt(tc.burst_on_mps / tc.burst_off_mps, 2)])
        tt.add(["fib(\(fibN)), a group per call (ms)", fmt(tc.fib_off_ms, 1), fmt(tc.fib_on_ms, 1),
                fmt(tc.fib_on_ms / tc.fib_off_ms, 2)])
        print(tt.render())
        print(renderPeerMicro(peerRuns, fibN: fibN, fibSequential: fibSeq, loopSequential: loopSeq))
        print(renderTickScenario(tickRuns, options: tickOptions, workers: w))

        if let json {
            let submitRate: Double = Double(burst) / bestSingle
            let endRate: Double = Double(burst) / bestEnd
            let batchRate: Double = Double(burst) / bestBatch
            let swiftRate: Double = Double(sw.tasks) / sw.swiftBest
            let cRate: Double = Double(sw.tasks) / sw.cBest
            let trickleCsw: Double = tr.context_switches / tr.tasks
            let r = Results(machine: machineDescription(), workers: w, wakeCtp: wakeCtp, wakeCondvar: wakeCv,
                            coldWake: coldWake,
                            burstSubmitPerSecond: submitRate,
                            burstEndToEndPerSecond: endRate,
                            burstBatchSubmitPerSecond: batchRate,
                            burstContextSwitchesPerTask: csPerTask,
                            fibSequentialSeconds: fibSeq,
                            trickleOverheadMicrosPerTask: overhead,
                            trickleFloorOverheadMicrosPerTask: floorOverhead,
                            trickleContextSwitchesPerTask: trickleCsw,
                            idleCpuSecondsPerSecond: idle, sequentialForSeconds: loopSeq, peers: peerRuns,
                            zones: zoneRuns.zones, nodeBarrier: zoneRuns.barrier,
                            swiftSubmitPerSecond: swiftRate,
                            cSubmitPerSecondSameRun: cRate,
                            asyncOnPoolSeconds: sw.async.pool, asyncOnGlobalSeconds: sw.async.global,
                            asyncPoolOverGlobal: sw.async.ratio.median, asyncPoolOverGlobalMin: sw.async.ratio.min,
                            asyncPoolOverGlobalMax: sw.async.ratio.max,
                            asyncOnForwardingSeconds: sw.async.control,
                            asyncForwardingOverGlobal: sw.async.controlRatio.median,
                            tickPauseMicros: tickPauseUs, tick: tickRuns, trace: traceCost)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(r).write(to: URL(fileURLWithPath: json))
        }
    }
}

func machineDescription() -> String {
    let cpus = ProcessInfo.processInfo.activeProcessorCount
    let model = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
        .split(separator: "\n").first { $0.hasPrefix("model name") }?
        .split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    return "\(cpus) CPUs, \(model)"
}

/// A task group of small children on the pool (executor preference), on
/// Swift's global executor, and under the preference of a control executor
/// that hands every job straight to the global executor: rounds of three,
/// rotating which goes first. The control pays what any task executor pays
/// in the Swift runtime (the preference records on every child, the checks
/// on every start) with Dispatch's queue underneath, so its ratio is the
/// runtime's own cost of an executor preference.
struct AsyncComparison {
    var pool: Double        // median seconds
    var global: Double      // median seconds
    var control: Double     // median seconds, the forwarding executor
    var ratio: Spread       // over the rounds: pool / global
    var controlRatio: Spread // over the rounds: control / global
    var pairs: Int
}

/// The control: a task executor that adds nothing of its own; each job goes
/// to Swift's global concurrent executor.
final class ForwardingExecutor: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        globalConcurrentExecutor.enqueue(job)
    }
}

func runAsyncComparison(workers: Int, children: Int, repeats: Int) throws -> AsyncComparison {
    let pool = try ThreadPool(configuration: { var c = ThreadPool.Configuration(); c.workers = workers; return c }())
    let control = ForwardingExecutor()
    let result = ResultBox()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        var times: [[Double]] = [[], [], []] // pool, global, control
        for rep in 0..<repeats {
            for k in 0..<3 {
                let which = (rep + k) % 3
                let t0 = ContinuousClock.now
                let sum: Int
                switch which {
                case 0: sum = await withTaskExecutorPreference(pool) { await childSum(children) }
                case 1: sum = await childSum(children)
                default: sum = await withTaskExecutorPreference(control) { await childSum(children) }
                }
                let t = seconds(ContinuousClock.now - t0)
                precondition(sum == expectedChildSum(children))
                times[which].append(t)
            }
        }
        result.set(times)
        done.signal()
    }
    done.wait()
    try pool.shutdown()
    let times = result.get()
    return AsyncComparison(pool: Spread(times[0]).median, global: Spread(times[1]).median,
                           control: Spread(times[2]).median,
                           ratio: Spread(zip(times[0], times[1]).map { $0 / $1 }),
                           controlRatio: Spread(zip(times[2], times[1]).map { $0 / $1 }),
                           pairs: min(times[0].count, times[1].count))
}

/// What childSum(n) returns, computed serially.
private func expectedChildSum(_ n: Int) -> Int {
    var total = 0
    for i in 0..<n {
        for k in 0..<200 { total &+= (i &* 31 &+ k) % 7 }
    }
    return total
}

private func childSum(_ n: Int) async -> Int {
    await withTaskGroup(of: Int.self) { group in
        for i in 0..<n {
            group.addTask {
                var s = 0
                for k in 0..<200 { s &+= (i &* 31 &+ k) % 7 }
                return s
            }
        }
        var total = 0
        for await x in group { total &+= x }
        return total
    }
}

private func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: [[Double]] = []
    func set(_ times: [[Double]]) { lock.lock(); value = times; lock.unlock() }
    func get() -> [[Double]] { lock.lock(); defer { lock.unlock() }; return value }
}
#endif
