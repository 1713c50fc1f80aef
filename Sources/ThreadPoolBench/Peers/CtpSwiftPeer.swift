#if Benchmark // the whole file; see the trait in Package.swift
import ThreadPoolSwift

/// ctp through the Swift API, as a Swift game server would use it: one
/// WorkGroup per batch, a closure per bot, then a (helping) wait.
final class CtpSwiftPeer: SwiftBotPool {
    let pool: ThreadPool
    let threads: Int
    let nodes: Int

    init(workers: Int, topology: String?) throws {
        var c = ThreadPool.Configuration()
        c.workers = workers
        c.topology = topology
        pool = try ThreadPool(configuration: c)
        threads = Int(pool.stats.workers)
        nodes = pool.nodeCount
    }

    func run(_ batch: BatchRef) -> Int32 {
        do {
            let group = try WorkGroup(pool: pool)
            for i in 0..<batch.count {
                batch.stamp(i)
                try group.submit(priority: ThreadPool.Priority(rawValue: batch.priority(i)) ?? .normal,
                                 node: nodes > 1 && batch.node(i) >= 0 ? batch.node(i) : nil) {
                    batch.run(i)
                }
            }
            try group.wait()
            return 0
        } catch {
            return -1
        }
    }

    func close() { try? pool.shutdown() }
}
#endif
