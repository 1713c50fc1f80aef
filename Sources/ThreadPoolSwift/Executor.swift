import CThreadPool
import Synchronization

/// Swift concurrency on the pool: `withTaskExecutorPreference(pool) { ... }`
/// and `Task(executorPreference: pool) { ... }` run async code, and the child
/// tasks of task groups created there, on the pool's workers.
extension ThreadPool: TaskExecutor {
    /// Runs `job` on a worker. The job, this executor and the pool's rescue
    /// queue (four words, no allocation) travel inside the C task.
    ///
    /// A job is never dropped: one the pool refuses (it is shut down, or its
    /// bounded queue is full) or drops (a cancelling shutdown) runs on the
    /// pool's rescue thread instead: one thread per pool, started the first
    /// time it is needed, that runs such jobs one after another. However many
    /// jobs are refused, at most that one extra thread runs them.
    ///
    /// The job's Swift priority picks the pool's level:
    /// `Task(executorPreference: pool, priority: .high)` runs ahead of the
    /// pool's `.normal` work, `.background` behind its `.low`.
    public func enqueue(_ job: consuming ExecutorJob) {
        let level = executorPriority(job.priority)
        var payload = ExecutorPayload(job: UnownedJob(job), executor: asUnownedTaskExecutor(),
                                      rescue: Unmanaged.passUnretained(rescue))
        assert(MemoryLayout<ExecutorPayload>.size <= Int(CTP_INLINE_CAPACITY))
        let rc = withUnsafeMutablePointer(to: &payload) { p in
            ctp_submit_inline(handle, executorDesc + level.rawValue, p, MemoryLayout<ExecutorPayload>.size, nil)
        }
        if rc != Int32(CTP_OK) {
            rescue.run(payload)
        }
    }
}

/// The pool's level for an executor job of Swift priority `priority`:
/// `.high` and above (user-initiated, user-interactive) run as
/// ``ThreadPool/Priority/high``; `.medium` and a job with no priority as
/// `.normal`; `.low` (utility) as `.low`; `.background` as `.idle`. None
/// runs as `.critical`, which stays for work submitted as such.
func executorPriority(_ priority: JobPriority) -> ThreadPool.Priority {
    let raw = priority.rawValue
    switch raw {
    case 0: return .normal // unspecified
    case TaskPriority.high.rawValue...: return .high
    case TaskPriority.medium.rawValue...: return .normal
    case (TaskPriority.background.rawValue + 1)...: return .low
    default: return .idle
    }
}

/// The task descriptions executor jobs are submitted with, one per priority
/// level, indexed by ``ThreadPool/Priority`` (the C runtime copies them):
/// made once per pool, not per job.
func makeExecutorDesc() -> UnsafeMutablePointer<ctp_task_desc> {
    let count = ThreadPool.Priority.allCases.count
    let descs = UnsafeMutablePointer<ctp_task_desc>.allocate(capacity: count)
    for level in ThreadPool.Priority.allCases {
        let desc = descs + level.rawValue
        desc.initialize(to: ctp_task_desc())
        ctp_task_desc_init(desc, { runExecutorJob($0) }, nil)
        desc.pointee.on_cancel = { rescueExecutorJob($0) }
        desc.pointee.priority = level.c
    }
    return descs
}

/// Trivially copyable: moved into the task by memcpy.
struct ExecutorPayload: Sendable {
    let job: UnownedJob
    let executor: UnownedTaskExecutor
    /// The pool's rescue queue, unretained: it outlives the C pool (see
    /// ``ThreadPool/rescue``), so it is alive whenever the C pool calls
    /// `on_cancel`.
    let rescue: Unmanaged<ExecutorRescue>

    func run() { job.runSynchronously(on: executor) }
}

private func runExecutorJob(_ p: UnsafeMutableRawPointer?) {
    p!.load(as: ExecutorPayload.self).run()
}

private func rescueExecutorJob(_ p: UnsafeMutableRawPointer?) {
    let payload = p!.load(as: ExecutorPayload.self)
    payload.rescue.takeUnretainedValue().run(payload)
}

/// The jobs a pool will not run, and the one thread that runs them.
///
/// Why a thread of its own and not the caller: `enqueue` is called by the
/// Swift runtime wherever a task becomes runnable: inside another job that
/// resumes a continuation or finishes a child task, from a C worker that is
/// cancelling the queue during a shutdown, perhaps with a lock held.
/// Running the job right there would nest one task's execution inside
/// another's on the same stack (without bound, when the nested job enqueues
/// again) and could deadlock on whatever the caller holds. And why not a
/// thread per job, as before: a pool that refuses (shut down, queue full)
/// refuses every job, so that made one thread per job, unbounded. One lazily
/// started thread per pool drains a Mutex-protected array, woken by a
/// semaphore; refused jobs run in order, one at a time. (So a rescued job
/// must not block its thread waiting for another rescued job, which async
/// code, whose blocking calls are `noasync`, does not do.)
///
/// The thread exits once the pool is gone (``close()``) and the queue is
/// empty; a job that still arrives after that (a shutdown cancelling tasks
/// on the deinit's detached thread) starts it again. Only if no thread can
/// be made at all does a job run on the caller, as the last resort (a
/// dropped job would leave its task suspended forever).
final class ExecutorRescue: Sendable {
    private struct State: Sendable {
        var jobs: [ExecutorPayload] = []
        var threadRunning = false
        var closed = false
    }

    private let state = Mutex(State())
    /// One signal per queued job and one for `close()`.
    private let wake = Semaphore()

    /// Queues `payload` for the rescue thread, starting the thread if it is
    /// not running.
    func run(_ payload: ExecutorPayload) {
        let start = state.withLock { s -> Bool in
            s.jobs.append(payload)
            if s.threadRunning { return false }
            s.threadRunning = true
            return true
        }
        wake.signal()
        if start && !detachThread({ [self] in drain() }) {
            // No thread: run what is queued here. Jobs queued after the flag
            // is cleared start their own attempt.
            let jobs = state.withLock { s -> [ExecutorPayload] in
                s.threadRunning = false
                let jobs = s.jobs
                s.jobs = []
                return jobs
            }
            for job in jobs { job.run() }
        }
    }

    /// The pool is gone: the thread exits once the queue is empty.
    func close() {
        state.withLock { $0.closed = true }
        wake.signal()
    }

    /// The rescue thread's loop.
    private func drain() {
        while true {
            wake.wait()
            let batch = state.withLock { s -> [ExecutorPayload]? in
                if !s.jobs.isEmpty {
                    let jobs = s.jobs
                    s.jobs = []
                    return jobs
                }
                if s.closed {
                    s.threadRunning = false
                    return nil
                }
                return [] // a signal for a job an earlier batch already took
            }
            guard let batch else { return }
            for job in batch { job.run() }
        }
    }
}
