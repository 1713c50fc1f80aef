import CThreadPool

/// A closure and what to do if it is dropped, stored inside a C task node
/// with `ctp_submit_inline` (two closures and a reference: 40 bytes, within
/// `CTP_INLINE_CAPACITY`), so submitting allocates no box of its own.
struct Job {
    let run: @Sendable () throws -> Void
    let cancel: (@Sendable () -> Void)?
    /// Where an error thrown by `run` goes (a work group's first error).
    var errors: ErrorSlot? = nil
}

private func runJob(_ payload: UnsafeMutableRawPointer?) {
    let job = payload!.assumingMemoryBound(to: Job.self).move()
    do {
        try job.run()
    } catch {
        job.errors?.set(error)
    }
}

private func cancelJob(_ payload: UnsafeMutableRawPointer?) {
    let job = payload!.assumingMemoryBound(to: Job.self).move()
    job.cancel?()
}

private func relocateJob(_ dst: UnsafeMutableRawPointer?, _ src: UnsafeMutableRawPointer?) {
    dst!.initializeMemory(as: Job.self, to: src!.assumingMemoryBound(to: Job.self).move())
}

/// Submits `job`; on error the job is released here and the error thrown.
func submitJob(_ pool: OpaquePointer, _ job: Job, priority: ThreadPool.Priority, node: Int?,
               label: StaticString? = nil, group: OpaquePointer?) throws {
    var desc = ctp_task_desc()
    ctp_task_desc_init(&desc, { runJob($0) }, nil)
    desc.on_cancel = { cancelJob($0) }
    desc.priority = priority.c
    desc.node = Int32(clamping: node ?? -1)
    desc.group = group
    desc.label = TaskLabel.cString(label)
    let rc = withUnsafeTemporaryAllocation(of: Job.self, capacity: 1) { buffer -> Int32 in
        buffer.initializeElement(at: 0, to: job)
        let rc = ctp_submit_inline(pool, &desc, buffer.baseAddress, MemoryLayout<Job>.size, { relocateJob($0, $1) })
        if rc != Int32(CTP_OK) {
            _ = buffer.moveElement(from: 0) // not relocated: still ours
        }
        return rc
    }
    try check(rc)
}
