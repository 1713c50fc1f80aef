#if Benchmark // the whole file; see the trait in Package.swift
import ThreadPoolSwift

/// ctp through the Swift API, as a Swift game server would write its tick:
/// one `TaskBatch` and one `WorkGroup` kept for the server's lifetime; each
/// tick adds a closure per bot (priority and node per bot), submits the
/// batch (one publish, one wake decision) and waits on the group, helping.
final class CtpSwiftPeer: SwiftBotPool {
    let pool: ThreadPool
    let threads: Int
    let nodes: Int
    /// Reused every tick: its storage grows to the largest tick and stays.
    private let batch = TaskBatch()
    private let group: WorkGroup

    init(workers: Int, topology: String?) throws {
        var c = ThreadPool.Configuration()
        c.workers = workers
        c.topology = topology
        pool = try ThreadPool(configuration: c)
        threads = Int(pool.stats.workers)
        nodes = pool.nodeCount
        group = try WorkGroup(pool: pool)
    }

    func run(_ items: BatchRef) -> Int32 {
        do {
            for i in 0..<items.count {
                let node = items.node(i)
                batch.add(priority: ThreadPool.Priority(rawValue: items.priority(i)) ?? .normal,
                          node: nodes > 1 && node >= 0 ? node : nil) {
                    items.run(i)
                }
            }
            // As the C peer: one clock read stamps every item, right before the submit.
            items.stampAll()
            try group.submit(batch)
            try group.wait()
            return 0
        } catch {
            batch.removeAll()
            return -1
        }
    }

    func close() { try? pool.shutdown() }
}
#endif
