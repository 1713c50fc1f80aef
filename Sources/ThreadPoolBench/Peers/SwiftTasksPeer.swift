#if Benchmark // the whole file; see the trait in Package.swift
import Dispatch
import Foundation

/// Swift concurrency on the default (global) executor: a task group with one
/// child task per bot at the matching TaskPriority. The tick thread is not a
/// Swift task, so it blocks on a semaphore until the group finishes.
final class SwiftTasksPeer: SwiftBotPool {
    let threads = ProcessInfo.processInfo.activeProcessorCount

    func run(_ batch: BatchRef) -> Int32 {
        let done = DispatchSemaphore(value: 0)
        Task.detached(priority: .high) {
            await runAll(batch)
            done.signal()
        }
        done.wait()
        return 0
    }

    func close() {}
}

private let taskPriorities: [TaskPriority] = [.high, .high, .medium, .low, .background]

private func runAll(_ batch: BatchRef) async {
    await withTaskGroup(of: Void.self) { group in
        for i in 0..<batch.count {
            batch.stamp(i)
            group.addTask(priority: taskPriorities[min(batch.priority(i), 4)]) { batch.run(i) }
        }
    }
}
#endif
