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
