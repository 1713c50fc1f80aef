import CThreadPool

/// Swift concurrency on the pool: `withTaskExecutorPreference(pool) { ... }`
/// and `Task(executorPreference: pool) { ... }` run async code, and the child
/// tasks of task groups created there, on the pool's workers.
extension ThreadPool: TaskExecutor {
    /// Runs `job` on a worker. The job and this executor (two words, no
    /// allocation) travel inside the C task. A job is never dropped: if the
    /// pool refuses or cancels it (after a shutdown), it runs on a thread of
    /// its own instead (or, if no thread can be made, on the caller).
    public func enqueue(_ job: consuming ExecutorJob) {
        var payload = ExecutorPayload(job: UnownedJob(job), executor: asUnownedTaskExecutor())
        var desc = ctp_task_desc()
        ctp_task_desc_init(&desc, { runExecutorJob($0) }, nil)
        desc.on_cancel = { rescueExecutorJob($0) }
        let rc = withUnsafeMutablePointer(to: &payload) { p in
            ctp_submit_inline(handle, &desc, p, MemoryLayout<ExecutorPayload>.size, nil)
        }
        if rc != Int32(CTP_OK) {
            runElsewhere(payload)
        }
    }
}

/// Trivially copyable: moved into the task by memcpy.
private struct ExecutorPayload: Sendable {
    let job: UnownedJob
    let executor: UnownedTaskExecutor
}

private func runExecutorJob(_ p: UnsafeMutableRawPointer?) {
    let payload = p!.load(as: ExecutorPayload.self)
    payload.job.runSynchronously(on: payload.executor)
}

private func rescueExecutorJob(_ p: UnsafeMutableRawPointer?) {
    runElsewhere(p!.load(as: ExecutorPayload.self))
}

/// A job the pool will not run: on a thread of its own, else right here.
private func runElsewhere(_ payload: ExecutorPayload) {
    if !detachThread({ payload.job.runSynchronously(on: payload.executor) }) {
        payload.job.runSynchronously(on: payload.executor)
    }
}
