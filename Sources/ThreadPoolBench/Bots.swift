#if Benchmark // the whole file; see the trait in Package.swift
import ArgumentParser
import CThreadPool
import CTPBenchKernels
import Foundation

/// `threadpool-bench bots` (the default): the bot simulation of
/// ../shared/research/bot-workload.md, run by every selected runtime on the
/// same seeded world in this one process, so that each figure is a ratio.
struct Bots: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The bot simulation on ctp and on its peers, side by side.")

    @Option(help: "World sizes to run, comma-separated (e.g. 100,1000,5000,10000).",
            transform: parseList)
    var bots: [Int] = [1000]

    @Option(help: "Measured ticks per pool in each repetition.")
    var ticks: Int = 100

    @Option(help: "Warm-up ticks per pool, run back to back before measuring.")
    var warmup: Int = 100

    @Option(help: "Zones (bands of the grid, each on a node). 1 to 64.")
    var zones: Int = 8

    @Option(help: "Worker threads for the pools that take a count (0 = one per CPU).")
    var workers: Int = 0

    @Option(help: "Simulated NUMA topology for ctp, CTP_TOPOLOGY syntax (e.g. \"0;1\" or \"0-7;8-15\").")
    var topology: String?

    @Option(help: "Pools to run, comma-separated, from: \(allPeers.map(\.name).joined(separator: ", ")).",
            transform: { s in s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } })
    var pools: [String] = defaultPeerNames

    @Flag(help: "Ticks back to back instead of one every 50 ms (throughput).")
    var flatOut = false

    @Flag(help: "Also run ctp-prewake: ctp with ctp_pool_prewake before each tick, right after ctp in the tables.")
    var prewake = false

    @Flag(help: "Also run ctp-control, a second pool identical to ctp, right after ctp: its ratios to ctp show how far two identical pools differ in this run (the noise floor).")
    var control = false

    @Flag(help: "Run ctp's batches as ctp_ticks with reports (a clock read per task start and end) and print their shares.")
    var tickReports = false

    @Option(help: "World seed (every pool gets the same world).")
    var seed: UInt64 = 42

    @Option(name: .customLong("repeat"),
            help: "Repetitions (each on fresh worlds); ratios are the median over them, with min-max.")
    var repetitions: Int = 3

    @Option(help: "Ticks each pool runs in its turn before the next pool's (pools take turns round-robin).")
    var block: Int = 10

    @Flag(help: "20 measured ticks, 10 warm-up per repetition: a smoke run.")
    var quick = false

    @Option(help: "Write every figure as JSON to this file.")
    var json: String?

    @Option(help: "Write a Markdown report with the tables and SVG charts to this file.")
    var report: String?

    @Option(help: "Write a Chrome trace (JSON: open it in ui.perfetto.dev or chrome://tracing) of ctp's measured ticks, first repetition of the first world size, to this file.")
    var trace: String?

    @Option(help: "The ctp pool that --trace records (ctp, ctp-control, ctp-prewake, ctp-pinned, ...). (default: ctp)")
    var tracePool: String = "ctp"

    @Option(help: "Write an SVG of one tick (the middle measured tick of the first repetition, first world size) for every pool: one lane per thread, tasks coloured by class.")
    var timeline: String?

    func validate() throws {
        let known = Set(allPeers.map(\.name))
        for p in pools where !known.contains(p) {
            throw ValidationError("unknown pool '\(p)'; choose from \(allPeers.map(\.name).joined(separator: ", "))")
        }
        guard !pools.isEmpty else { throw ValidationError("--pools is empty") }
        guard bots.allSatisfy({ $0 >= 2 * zones && $0 <= 1_000_000 }) else {
            throw ValidationError("--bots: each size must be between 2 x zones and 1,000,000")
        }
        guard (1...64).contains(zones) else { throw ValidationError("--zones must be 1 to 64") }
        guard ticks >= 1, warmup >= 0, workers >= 0 else { throw ValidationError("--ticks >= 1, --warmup >= 0, --workers >= 0") }
        guard repetitions >= 1, block >= 1 else { throw ValidationError("--repeat >= 1, --block >= 1") }
    }

    func run() throws {
        let w = workers > 0 ? workers : ProcessInfo.processInfo.activeProcessorCount
        let measured = quick ? 20 : ticks
        let warm = quick ? 10 : warmup
        var names = pools
        if prewake && !names.contains("ctp-prewake") {
            names.insert("ctp-prewake", at: (names.firstIndex(of: "ctp") ?? -1) + 1)
        }
        if control && !names.contains("ctp-control") {
            names.insert("ctp-control", at: (names.firstIndex(of: "ctp") ?? -1) + 1)
        }
        let specs = names.compactMap { name in allPeers.first { $0.name == name } }
        let mode = flatOut ? "flat out" : "real time (50 ms ticks)"
        var all: [BotRun] = []
        var failures: [String] = []
        print("Bot simulation: \(mode), \(repetitions) repetitions of \(measured) ticks per pool after \(warm) warm-up, " +
              "pools taking turns in blocks of \(block) ticks, \(zones) zones, \(w) workers, " +
              "seed \(seed)\(topology.map { ", topology \($0)" } ?? ""); \(machineDescription())")
        for n in bots {
            let (runs, failed) = try runInterleaved(specs: specs, bots: n, workers: w, measured: measured, warm: warm)
            failures += failed
            if let first = runs.first,
               runs.contains(where: { r in r.repetitions.contains { $0.checksum != first.checksum } }) {
                failures.append("at \(n) bots the final worlds differ: " + runs.map { r in
                    "\(r.pool) " + r.repetitions.map { String($0.checksum, radix: 16) }.joined(separator: "/")
                }.joined(separator: ", "))
            }
            print(BotTables.render(runs, flatOut: flatOut))
            all.append(contentsOf: runs)
        }
        let doc = BotReport(date: ISO8601DateFormatter().string(from: Date()), machine: machineDescription(),
                            command: CommandLine.arguments.joined(separator: " "), mode: mode, workers: w,
                            ticks: measured, warmup: warm, repetitions: repetitions, block: block, zones: zones,
                            topology: topology,
                            peers: specs.map { "\($0.name): \($0.summary)" }, runs: all, failures: failures)
        for path in [json, report].compactMap({ $0 }) {
            try FileManager.default.createDirectory(at: URL(fileURLWithPath: path).deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
        }
        if let json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(doc).write(to: URL(fileURLWithPath: json))
        }
        if let report { try doc.writeMarkdown(to: report) }
        if !failures.isEmpty {
            for f in failures { FileHandle.standardError.write(Data("error: \(f)\n".utf8)) }
            throw ExitCode(2)
        }
    }

    /// Every pool on its own world of `bots` bots (the same seed, so the same
    /// world), `repetitions` times. In each repetition every pool first runs
    /// its warm-up ticks, then the pools take turns, round-robin, `block`
    /// measured ticks at a time, so that whatever else the machine does hits
    /// them all alike; the order rotates by one pool each repetition. Before
    /// each turn the process waits until it is quiet (ctpb_settle), so that
    /// threads still spinning from one pool's turn do not run into the next.
    private func runInterleaved(specs: [PeerSpec], bots n: Int, workers w: Int, measured: Int,
                                warm: Int) throws -> ([BotRun], [String]) {
        var failures: [String] = []
        let pools = UnsafeMutablePointer<ctpb_pool>.allocate(capacity: specs.count)
        var made = 0
        defer {
            pools.deinitialize(count: made)
            pools.deallocate()
        }
        // Pools that poll while idle live only during their own turns; the
        // others for the whole run. alive[i]: pools[i] holds a live pool.
        var alive = [Bool](repeating: false, count: specs.count)
        defer { for i in 0..<made where alive[i] { pools[i].destroy(pools[i].impl) } }
        for spec in specs {
            (pools + made).initialize(to: try spec.make(PeerOptions(workers: w, topology: topology, tickReports: tickReports)))
            alive[made] = true
            made += 1
        }
        func enterTurn(_ i: Int, _ state: OpaquePointer?) throws {
            guard specs[i].pollsWhileIdle else { return }
            if !alive[i] {
                pools[i] = try specs[i].make(PeerOptions(workers: w, topology: topology, tickReports: tickReports))
                alive[i] = true
                var warm = ctpb_peer_burst_result()
                _ = ctpb_peer_burst(pools + i, 64, &warm) // start its threads
            }
            if let state { _ = ctpb_bots_set_pool(state, pools + i) }
        }
        func leaveTurn(_ i: Int) {
            guard specs[i].pollsWhileIdle, alive[i] else { return }
            pools[i].destroy(pools[i].impl)
            alive[i] = false
        }
        var results: [[ctpb_bots_result]] = Array(repeating: [], count: specs.count)
        defer { for i in results.indices { for j in results[i].indices { ctpb_bots_result_free(&results[i][j]) } } }
        var broken = Set<Int>() // failed once: left out of later repetitions and of the tables
        let reporter = ProgressReporter(label: "\(n) bots")
        defer { reporter.finish() }
        for rep in 0..<repetitions {
            let order = (0..<specs.count).map { (rep + $0) % specs.count }.filter { !broken.contains($0) }
            var states = [OpaquePointer?](repeating: nil, count: specs.count)
            var cfg = ctpb_bots_config()
            cfg.bots = n
            cfg.zones = Int32(zones)
            cfg.ticks = Int32(measured)
            cfg.warmup_ticks = Int32(warm)
            cfg.realtime = flatOut ? 0 : 1
            cfg.tick_ns = 50_000_000
            cfg.seed = seed
            cfg.workers = w
            progress("\(n) bots · repetition \(rep + 1)/\(repetitions): \(warm) warm-up ticks per pool, then " +
                     "\(measured) measured in turns of \(block)")
            for i in order {
                try enterTurn(i, nil)
                let rc = ctpb_bots_begin(&cfg, pools + i, &states[i])
                if rc != 0 { throw PeerError(description: "\(specs[i].name): could not set up the world (\(rc))") }
                _ = ctpb_bots_step(states[i], Int32(warm))
                leaveTurn(i)
            }
            // The trace covers the traced pool's measured ticks (it idles during the others' turns).
            var traced: OpaquePointer? = nil
            if rep == 0, n == bots.first, trace != nil {
                if let i = specs.firstIndex(where: { $0.name == tracePool }), let h = ctpb_pool_ctp_handle(pools + i) {
                    if ctp_trace_start(h, 1 << 19) == CTP_OK { traced = h }
                } else {
                    failures.append("--trace-pool \(tracePool): not a C ctp pool of this run, nothing traced")
                }
            }
            var done = 0
            while done < measured {
                let b = min(block, measured - done)
                for i in order {
                    try enterTurn(i, states[i])
                    ctpb_settle(0.5)
                    _ = ctpb_bots_step(states[i], Int32(b))
                    leaveTurn(i)
                    reporter.update("repetition \(rep + 1)/\(repetitions) · \(specs[i].name) · tick \(done + b)/\(measured)")
                }
                done += b
            }
            if let traced, let trace {
                let rc = ctp_trace_stop(traced, trace)
                if rc != CTP_OK { failures.append("could not write the trace to \(trace) (\(rc))") }
                else { print("Trace of \(tracePool)'s \(measured) measured ticks at \(n) bots written to \(trace).") }
            }
            for i in order {
                var r = ctpb_bots_result()
                let rc = ctpb_bots_finish(states[i], &r)
                let name = specs[i].name
                if rc != 0 {
                    failures.append("\(name) at \(n) bots: driver error \(rc)" +
                                    (r.wrong_runs > 0 ? " (\(r.wrong_runs) updates ran other than once)" : "") +
                                    ", repetition \(rep + 1)")
                    ctpb_bots_result_free(&r)
                    broken.insert(i)
                    continue
                }
                if r.updates_executed != r.updates_submitted || r.rebuilds_executed != r.rebuilds_submitted {
                    failures.append("\(name) at \(n) bots: executed \(r.updates_executed) of \(r.updates_submitted) updates, " +
                                    "repetition \(rep + 1)")
                }
                results[i].append(r)
            }
        }
        if let timeline, n == bots.first {
            let lanes = specs.indices.filter { !broken.contains($0) && !results[$0].isEmpty }.map { i in
                TickTimeline(pool: specs[i].name, result: results[i][0])
            }
            try TickTimeline.svg(lanes, bots: n).write(toFile: timeline, atomically: true, encoding: .utf8)
            print("Timeline of tick \(lanes.first.map { $0.tick + 1 } ?? 0) at \(n) bots written to \(timeline).")
        }
        var runs = specs.indices.filter { !broken.contains($0) }.map { i in
            var run = BotRun(pool: specs[i].name, bots: n, flatOut: flatOut, threads: pools[i].threads, results: results[i])
            if alive[i], let shares = pools[i].tick_shares {
                var s = [Double](repeating: 0, count: 5)
                shares(pools[i].impl, &s)
                run.tickShares = s
            }
            return run
        }
        if let base = runs.first(where: { $0.pool == "ctp" }) ?? runs.first {
            for i in runs.indices { runs[i].compare(to: base) }
        }
        return (runs, failures)
    }
}

func parseList(_ s: String) throws -> [Int] {
    let parts = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "") }
    let values = parts.compactMap { Int($0) }
    guard !values.isEmpty, values.count == parts.count else { throw ValidationError("not a list of numbers: \(s)") }
    return values
}

/// Rewrites one status line on a terminal; silent when stderr is a file.
final class ProgressReporter {
    let label: String
    let tty = isatty(2) != 0
    init(label: String) { self.label = label }
    func update(_ status: String) {
        guard tty else { return }
        FileHandle.standardError.write(Data("\r\u{1b}[K  … \(label): \(status)".utf8))
    }
    func finish() {
        if tty { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }
    }
}
#endif
