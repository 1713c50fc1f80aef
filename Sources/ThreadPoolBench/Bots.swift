import ArgumentParser
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

    @Option(help: "Measured ticks per pool.")
    var ticks: Int = 200

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

    @Option(help: "World seed (every pool gets the same world).")
    var seed: UInt64 = 42

    @Flag(help: "30 measured ticks, 20 warm-up: a smoke run.")
    var quick = false

    @Option(help: "Write every figure as JSON to this file.")
    var json: String?

    @Option(help: "Write a Markdown report with the tables and SVG charts to this file.")
    var report: String?

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
    }

    func run() throws {
        let w = workers > 0 ? workers : ProcessInfo.processInfo.activeProcessorCount
        let measured = quick ? 30 : ticks
        let warm = quick ? 20 : warmup
        let specs = pools.compactMap { name in allPeers.first { $0.name == name } }
        let mode = flatOut ? "flat out" : "real time (50 ms ticks)"
        var all: [BotRun] = []
        var failures: [String] = []
        print("Bot simulation: \(mode), \(measured) ticks after \(warm) warm-up, \(zones) zones, \(w) workers, " +
              "seed \(seed)\(topology.map { ", topology \($0)" } ?? ""); \(machineDescription())")
        for n in bots {
            var runs: [BotRun] = []
            for (k, spec) in specs.enumerated() {
                let label = "\(n) bots · \(spec.name) (\(k + 1)/\(specs.count))"
                progress("\(label): \(warm + measured) ticks")
                var pool = try spec.make(PeerOptions(workers: w, topology: topology))
                defer { pool.destroy(pool.impl) }
                let reporter = ProgressReporter(label: label)
                var cfg = ctpb_bots_config()
                cfg.bots = n
                cfg.zones = Int32(zones)
                cfg.ticks = Int32(measured)
                cfg.warmup_ticks = Int32(warm)
                cfg.realtime = flatOut ? 0 : 1
                cfg.tick_ns = 50_000_000
                cfg.seed = seed
                cfg.progress = { ctx, tick, total in
                    Unmanaged<ProgressReporter>.fromOpaque(ctx!).takeUnretainedValue().update(tick, total)
                }
                cfg.progress_ctx = Unmanaged.passUnretained(reporter).toOpaque()
                var r = ctpb_bots_result()
                let rc = withExtendedLifetime(reporter) { ctpb_bots_run(&cfg, &pool, &r) }
                reporter.finish()
                defer { ctpb_bots_result_free(&r) }
                if rc != 0 {
                    failures.append("\(spec.name) at \(n) bots: driver error \(rc)" +
                                    (r.wrong_runs > 0 ? " (\(r.wrong_runs) updates ran other than once)" : ""))
                    continue
                }
                let run = BotRun(pool: spec.name, bots: n, flatOut: flatOut, threads: pool.threads, result: r)
                if run.updatesExecuted != run.updatesSubmitted || run.rebuildsExecuted != run.rebuildsSubmitted {
                    failures.append("\(spec.name) at \(n) bots: executed \(run.updatesExecuted) of \(run.updatesSubmitted) updates")
                }
                runs.append(run)
            }
            if let first = runs.first, runs.contains(where: { $0.checksum != first.checksum }) {
                failures.append("at \(n) bots the final worlds differ: " +
                                runs.map { "\($0.pool) \(String($0.checksum, radix: 16))" }.joined(separator: ", "))
            }
            print(BotTables.render(runs, flatOut: flatOut))
            all.append(contentsOf: runs)
        }
        let doc = BotReport(date: ISO8601DateFormatter().string(from: Date()), machine: machineDescription(),
                            command: CommandLine.arguments.joined(separator: " "), mode: mode, workers: w,
                            ticks: measured, warmup: warm, zones: zones, topology: topology,
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
    func update(_ tick: Int32, _ total: Int32) {
        guard tty else { return }
        FileHandle.standardError.write(Data("\r  … \(label): tick \(tick)/\(total)   ".utf8))
    }
    func finish() {
        if tty { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }
    }
}
