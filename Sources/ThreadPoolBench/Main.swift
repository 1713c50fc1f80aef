#if Benchmark
import ArgumentParser

@main
struct ThreadPoolBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "threadpool-bench",
        abstract: "Benchmarks for the ctp thread pool, measured against references in the same process.",
        subcommands: [Bots.self, Micro.self],
        defaultSubcommand: Bots.self
    )
}
#else
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Built without the "Benchmark" trait (the default, so that packages using
/// ThreadPoolSwift need not fetch the benchmark's dependencies): say how to
/// build the real benchmark.
@main
enum ThreadPoolBench {
    static func main() {
        var text = "threadpool-bench was built without the Benchmark trait; build it with\n" +
            "  swift build -c release --traits Benchmark --product threadpool-bench\n" +
            "or run scripts/bench.sh.\n"
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        exit(2)
    }
}
#endif
