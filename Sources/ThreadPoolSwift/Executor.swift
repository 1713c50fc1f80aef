import CThreadPool
import Foundation

/// Swift concurrency on the pool: `withTaskExecutorPreference(pool) { ... }`
/// and `Task(executorPreference: pool) { ... }` run async code, and the child
/// tasks of task groups created there, on the pool's workers.
extension ThreadPool: TaskExecutor {
    /// Runs `job` on a worker. A job is never dropped: after a shutdown it runs
    /// on a thread of its own instead.
    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        do {
            try submitJob(handle, Job(run: { unowned.runSynchronously(on: executor) },
                                      cancel: { Thread.detachNewThread { unowned.runSynchronously(on: executor) } }),
                          priority: .normal, node: nil, group: nil)
        } catch {
            Thread.detachNewThread { unowned.runSynchronously(on: executor) }
        }
    }
}
