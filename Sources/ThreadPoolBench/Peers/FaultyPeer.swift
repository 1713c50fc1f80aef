#if Benchmark // the whole file; see the trait in Package.swift
/// Not a runtime: a pool that silently drops the last item of every batch,
/// so that the tests can show the benchmark's exactly-once check catches a
/// lost update (`--pools faulty-drop` must exit with an error).
final class FaultyDropPeer: SwiftBotPool {
    let threads = 1

    func run(_ batch: BatchRef) -> Int32 {
        batch.stampAll()
        for i in 0..<max(batch.count - 1, 0) { batch.run(i) }
        return 0
    }

    func close() {}
}
#endif
