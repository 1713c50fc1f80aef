#if Benchmark // the whole file; see the trait in Package.swift
import Dispatch
import Foundation

/// libdispatch as a Swift server would use it for prioritised work: the
/// global concurrent queue of the matching QoS, one async per bot in a
/// DispatchGroup, then group.wait() (which does not help).
final class DispatchGroupPeer: SwiftBotPool {
    let threads = ProcessInfo.processInfo.activeProcessorCount
    private let queues: [DispatchQueue] = [
        .global(qos: .userInteractive), .global(qos: .userInitiated), .global(qos: .default),
        .global(qos: .utility), .global(qos: .background),
    ]

    func run(_ batch: BatchRef) -> Int32 {
        let group = DispatchGroup()
        for i in 0..<batch.count {
            batch.stamp(i)
            queues[min(batch.priority(i), queues.count - 1)].async(group: group) { batch.run(i) }
        }
        group.wait()
        return 0
    }

    func close() {}
}

/// libdispatch's data-parallel loop: DispatchQueue.concurrentPerform over the
/// batch (no priorities; the calling thread takes part).
final class DispatchApplyPeer: SwiftBotPool {
    let threads = ProcessInfo.processInfo.activeProcessorCount

    func run(_ batch: BatchRef) -> Int32 {
        batch.stampAll()
        DispatchQueue.concurrentPerform(iterations: batch.count) { i in batch.run(i) }
        return 0
    }

    func close() {}
}
#endif
