import CThreadPool
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A queue of closures pinned to one thread outside the pool: the thread
/// that created it (a server's main thread, which owns its world). The C
/// side: `ctp_pinned_create`, `ctp_pinned_run`, `ctp_pinned_destroy`.
///
/// Submit with `pinnedTo: queue` on ``ThreadPool``, ``WorkGroup`` or
/// ``Tick`` (from any thread: workers, the pool's tasks, other threads).
/// Those closures run only on the owner thread, highest priority first and
/// FIFO within one, never on a worker:
/// - while the owner waits in the blocking ``WorkGroup/wait()`` or
///   ``Tick/end(timeout:)`` (it runs its pinned closures before
///   it looks for other work, and a pinned submission wakes it),
/// - while the owner waits in ``TaskHandle/wait()`` on a handle of this
///   pool, whatever closure the handle belongs to (it runs its pinned
///   closures before it looks for other work; a pinned submission made
///   through this API, with `pinnedTo:`, wakes it; one made through the C
///   API directly does not), and
/// - when the owner calls ``run(max:)``.
///
/// The async waits (`await group.wait()`, `await tick.end()`,
/// `await handle.value`) do not run them: they suspend, and run nothing.
/// Pinned closures keep their priority, group and tick, and count in the
/// tick's report (as run by ``ThreadPool/TickReport/outside``).
///
/// ## Owned by a thread: create, run and close it there
///
/// ``ThreadPool/makePinnedQueue()``, ``run(max:)`` and ``close()`` must be
/// called on the owner thread (they are unavailable from async code, whose
/// thread is not fixed); ``run(max:)`` and ``close()`` called elsewhere
/// throw ``ThreadPoolError/invalidArgument(_:)``. A thread owns at most one
/// queue at a time.
///
/// **Call ``close()`` before the last reference goes away.** It drops the
/// closures still queued (as a cancelling shutdown does: value-returning
/// tasks' handles throw ``ThreadPoolError/cancelled``, groups and ticks are
/// counted down) and refuses later submissions. The queue object is
/// `Sendable` and tasks may hold it, so its last reference may well go away
/// on a worker, where the C queue cannot be destroyed. Releasing an open
/// queue is therefore a programming error: debug builds stop at an
/// assertion; release builds log a line to standard error and then close it
/// if the release happens on the owner thread, and otherwise leave the C
/// queue behind (the thread keeps owning it until the pool is destroyed, and
/// closures queued in it never run, so a draining shutdown waits for them
/// until its timeout).
///
/// The pool's shutdown waits for pinned closures like for any task: run them
/// (``run(max:)``) or ``close()`` the queue before shutting down. The queue
/// keeps its pool alive.
public final class PinnedQueue: @unchecked Sendable {
    let pool: ThreadPool
    let handle: OpaquePointer
    /// Refuses submissions once the queue is closing (see `SubmitGate`).
    let gate = SubmitGate()
    private let owner: pthread_t
    /// Set (by the owner only) once the C queue is destroyed.
    private let closed = Atomic<Bool>(false)
    /// The semaphore the owner sleeps on in ``TaskHandle/wait()``, while it
    /// sleeps: every pinned submission through the Swift API signals it.
    private let ownerSleeper = Mutex<Semaphore?>(nil)

    init(pool: ThreadPool) throws {
        var q: OpaquePointer?
        let rc = ctp_pinned_create(pool.handle, &q)
        if rc == Int32(CTP_EINVAL) {
            throw ThreadPoolError.invalidArgument(
                "makePinnedQueue(): the calling thread already owns a pinned queue, or is one of the pool's "
                    + "workers or runs one of its tasks")
        }
        try check(rc)
        self.pool = pool
        handle = q!
        owner = pthread_self()
        pool.registerPinnedQueue(self, owner: owner)
    }

    deinit {
        pool.unregisterPinnedQueue(ObjectIdentifier(self))
        if closed.load(ordering: .relaxed) { return }
        assertionFailure("PinnedQueue released without close(); call close() on its owner thread first")
        if pthread_equal(pthread_self(), owner) != 0 {
            gate.seal() // nobody else holds it: nothing can be in flight
            if ctp_pinned_destroy(handle) == Int32(CTP_OK) {
                logError("ThreadPoolSwift: a PinnedQueue was released without close(); closed on its owner thread")
            } else {
                // Released by one of its own closures while the owner's run or
                // wait still uses the C queue: C refuses to free it there.
                logError("ThreadPoolSwift: a PinnedQueue was released without close() inside a closure its owner "
                         + "runs; its C queue is left behind, closures still queued in it never run, and its pool "
                         + "is never freed")
            }
        } else {
            logError("ThreadPoolSwift: a PinnedQueue was released without close() away from its owner thread; "
                     + "its C queue is left behind, closures still queued in it never run, and its pool's memory "
                     + "and threads are never freed (the C pool refuses to be destroyed while a queue is open)")
        }
    }

    /// Whether the calling thread is the queue's owner (the thread that
    /// created it).
    public var isOwnerThread: Bool { pthread_equal(pthread_self(), owner) != 0 }

    /// Whether ``close()`` has completed.
    public var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// Runs up to `max` queued closures on this thread (the owner), highest
    /// priority first; returns how many ran (0 if none was queued). Does not
    /// wait for closures to arrive. A closure that throws counts as run (its
    /// error goes where its submission sends errors: a group's or tick's
    /// next wait).
    /// - Throws: ``ThreadPoolError/invalidArgument(_:)`` if `max` is
    ///   negative, the queue is closed, or this is not the owner thread.
    @available(*, noasync, message: "a pinned queue belongs to a thread; run it from that thread's synchronous code")
    @discardableResult
    public func run(max: Int = Int.max) throws -> Int {
        guard max >= 0 else { throw ThreadPoolError.invalidArgument("run(max:) needs max >= 0, got \(max)") }
        try checkOwner("run(max:)")
        if max == 0 { return 0 }
        let rc = ctp_pinned_run(handle, max)
        try check(rc < 0 ? rc : Int32(CTP_OK))
        return Int(rc)
    }

    /// Destroys the queue: closures still queued are dropped without running
    /// (value-returning tasks' handles throw ``ThreadPoolError/cancelled``;
    /// their groups and ticks are counted down), and later submissions
    /// pinned to it throw ``ThreadPoolError/invalidArgument(_:)``. A
    /// submission racing the close either got in (and is dropped) or is
    /// refused. Closing again does nothing. Afterwards this thread may create
    /// a new queue.
    /// - Throws: ``ThreadPoolError/invalidArgument(_:)`` if this is not the
    ///   owner thread, or if it is called from a closure the owner runs (a
    ///   pinned closure, or one its wait took: the call that runs it still
    ///   uses the queue). The queue stays open.
    @available(*, noasync, message: "a pinned queue belongs to a thread; close it from that thread's synchronous code")
    public func close() throws {
        if closed.load(ordering: .relaxed) { return }
        try checkOwner("close()")
        gate.seal()
        let rc = ctp_pinned_destroy(handle)
        if rc != Int32(CTP_OK) {
            gate.unseal() // still open: it takes submissions again
            if rc == Int32(CTP_EINVAL) {
                throw ThreadPoolError.invalidArgument(
                    "PinnedQueue.close(): called from a closure the owner thread runs (a pinned closure, or one "
                        + "its wait took); the queue is still in use there, close it after that returns")
            }
            try check(rc)
        }
        closed.store(true, ordering: .releasing)
        pool.unregisterPinnedQueue(ObjectIdentifier(self))
    }

    /// The owner is about to sleep on `s` (in ``TaskHandle/wait()``): pinned
    /// submissions signal it until `endSleep(_:)`. Owner thread only.
    func beginSleep(_ s: Semaphore) {
        ownerSleeper.withLock { $0 = s }
    }

    /// The owner no longer sleeps on `s`. (A nested wait may have replaced
    /// it meanwhile; then that one's is left alone.)
    func endSleep(_ s: Semaphore) {
        ownerSleeper.withLock { if $0 === s { $0 = nil } }
    }

    /// Wakes the owner if it sleeps in ``TaskHandle/wait()``: called after
    /// every successful pinned submission through the Swift API. An extra
    /// signal only makes that wait look again.
    func wakeOwner() {
        ownerSleeper.withLock { $0 }?.signal()
    }

    private func checkOwner(_ what: String) throws {
        if closed.load(ordering: .relaxed) {
            throw ThreadPoolError.invalidArgument("PinnedQueue.\(what): the queue is closed")
        }
        guard isOwnerThread else {
            throw ThreadPoolError.invalidArgument(
                "PinnedQueue.\(what) must be called on the queue's owner thread (the one that created it)")
        }
    }
}

extension ThreadPool {
    /// Creates a queue of closures pinned to the calling thread (see
    /// ``PinnedQueue``): submissions with `pinnedTo:` run only here. Close
    /// it with ``PinnedQueue/close()`` on this thread before releasing it.
    /// - Throws: ``ThreadPoolError/invalidArgument(_:)`` if this thread
    ///   already owns a queue, or is one of the pool's workers or runs one of
    ///   its tasks; ``ThreadPoolError/shutdown``; ``ThreadPoolError/outOfMemory``.
    @available(*, noasync, message: "a pinned queue belongs to a thread; create it from that thread's synchronous code")
    public func makePinnedQueue() throws -> PinnedQueue {
        try PinnedQueue(pool: self)
    }
}
