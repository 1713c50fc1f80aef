import Foundation
import Synchronization
import Testing
import ThreadPoolSwift

/// Waits (bounded: a hang detector, not a timing check) until `done()` holds.
private func waitUntil(_ done: () -> Bool) {
    for _ in 0..<60_000 where !done() { usleep(500) }
}

/// The calling thread, comparable with `pthread_equal`.
private struct ThreadID: @unchecked Sendable {
    let id = pthread_self()
    var isCurrent: Bool { pthread_equal(id, pthread_self()) != 0 }
}

/// Whether a closure started by `startThread` has returned.
private final class Finished: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }

    /// Polls (bounded) until set; false if `timeout` passed first.
    func wait(timeout: Duration) -> Bool {
        let end = ContinuousClock.now + timeout
        while !isSet && ContinuousClock.now < end { usleep(1_000) }
        return isSet
    }

    /// Suspends (polling, bounded) until set; false if `timeout` passed first.
    func wait(timeout: Duration) async throws -> Bool {
        let end = ContinuousClock.now + timeout
        while !isSet && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(1)) }
        return isSet
    }
}

/// Runs `body` on a thread of its own (a test that must fail, not hang, if
/// `body` never returns: the thread is then left behind).
private func startThread(_ body: @escaping @Sendable () -> Void) -> Finished {
    let finished = Finished()
    Thread {
        body()
        finished.set()
    }.start()
    return finished
}

/// The blocking end, callable from a thread started by async code.
private func endBlocking(_ tick: Tick) throws -> ThreadPool.TickReport { try tick.end() }

/// Pre-wake, tick scopes (report, budget) and pinned queues (issue 15).
@Suite(.serialized) struct TickTests {
    @Test func aTickReportCountsEveryClosureOnce() throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        for _ in 0..<8 {
            let tick = try pool.beginTick()
            let ran = Atomic<Int>(0)
            // 100 closures that each submit 4 more into the tick from a
            // worker, and one labelled closure that runs a little longer.
            for _ in 0..<100 {
                try tick.submit(label: "spawn") {
                    _ = ran.add(1, ordering: .relaxed)
                    for _ in 0..<4 { try tick.submit(label: "leaf") { _ = ran.add(1, ordering: .relaxed) } }
                }
            }
            try tick.submit(label: "the long one") { usleep(20_000); _ = ran.add(1, ordering: .relaxed) }
            let r = try tick.end()
            #expect(ran.load(ordering: .relaxed) == 501)
            #expect(r.isRecorded)
            #expect(r.tasks == 501)
            #expect(r.workers.count == 2)
            #expect(r.workers.reduce(0) { $0 + $1.tasks } + r.outside.tasks == 501)
            #expect(r.outside.idle == .zero)
            #expect(r.waitP50 <= r.waitP99 && r.waitP99 <= r.waitMax)
            #expect(r.taskTime >= r.longest && r.wall >= r.longest)
            #expect(r.firstStart != nil)
            #expect(r.longestLabel != nil)
            #expect(r.budget == nil && !r.overran && r.startedPastBudget == 0)
            #expect(tick.hasEnded && tick.report == r)
            // Ended once: no more submissions, no second end.
            #expect(throws: ThreadPoolError.invalidArgument("Tick.submit: the tick has ended")) { try tick.submit {} }
            #expect(throws: ThreadPoolError.invalidArgument("Tick.end: the tick has already ended")) { _ = try tick.end() }
        }
        // Without report or budget nothing is recorded, but the closures run.
        let quiet = try pool.beginTick(report: false)
        let ran = Atomic<Int>(0)
        for _ in 0..<10 { try quiet.submit { _ = ran.add(1, ordering: .relaxed) } }
        let r = try quiet.end()
        #expect(ran.load(ordering: .relaxed) == 10)
        #expect(!r.isRecorded && r.tasks == 0 && r.firstStart == nil)
        // A throwing closure: every closure runs, end rethrows the first
        // error, and the report is still there.
        let failing = try pool.beginTick()
        for i in 0..<20 { try failing.submit { if i == 7 { throw Boom(id: i) } } }
        #expect(throws: Boom(id: 7)) { _ = try failing.end() }
        #expect(failing.report?.tasks == 20)
        try pool.shutdown()
    }

    @Test func endWithATimeoutKeepsTheTickOpen() throws {
        let pool = try ThreadPool(configuration: .init(workers: 1))
        let tick = try pool.beginTick()
        let gate = Gate()
        try tick.submit { gate.block() }
        gate.waitEntered(1)
        #expect(throws: ThreadPoolError.timedOut) { _ = try tick.end(timeout: .milliseconds(5)) }
        #expect(!tick.hasEnded)
        try tick.submit {} // still open
        gate.release()
        #expect(try tick.end(timeout: .seconds(60)).tasks == 2)
        try pool.shutdown()
    }

    @Test func aTickEndedFromAsyncCode() async throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let tick = try pool.beginTick()
        let ran = Atomic<Int>(0)
        for _ in 0..<200 { try tick.submit { _ = ran.add(1, ordering: .relaxed) } }
        let r = try await tick.end()
        #expect(ran.load(ordering: .relaxed) == 200)
        #expect(r.tasks == 200)
        #expect(r.workers.reduce(0) { $0 + $1.tasks } + r.outside.tasks == 200)
        await #expect(throws: ThreadPoolError.invalidArgument("Tick.end: the tick has already ended")) {
            _ = try await tick.end()
        }
        let failing = try pool.beginTick()
        try failing.submit { throw Boom(id: 3) }
        await #expect(throws: Boom(id: 3)) { _ = try await failing.end() }
        try await pool.shutdownGracefully()
    }

    /// `await tick.end()` while one of the tick's closures waits, inside the
    /// tick, for other work: the end must not become a pool task that such a
    /// nested wait could run inside the closure it waits for (it used to be
    /// a CRITICAL task that the nested wait ran first, then waited forever).
    @Test func anAsyncEndWhileAClosureWaitsInsideTheTick() async throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let inner = try WorkGroup(pool: pool)
        let held = Gate()
        try inner.submit { held.block() } // holds one worker
        held.waitEntered(1)
        let tick = try pool.beginTick(report: true)
        let waiting = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        try tick.submit {
            waiting.store(1, ordering: .relaxed)
            try inner.wait() // a nested (helping) wait on the other worker
            done.store(1, ordering: .relaxed)
        }
        while waiting.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let ending = Task { try await tick.end() }
        try await Task.sleep(for: .milliseconds(50)) // the end is under way while the closure waits
        #expect(!tick.hasEnded)
        held.release()
        let r = try await ending.value
        #expect(done.load(ordering: .relaxed) == 1)
        #expect(r.tasks == 1)
        #expect(tick.hasEnded)
        // A timeout while a closure is held: timedOut, the tick stays open.
        let second = try pool.beginTick()
        let held2 = Gate()
        try second.submit { held2.block() }
        await #expect(throws: ThreadPoolError.timedOut) { _ = try await second.end(timeout: .milliseconds(20)) }
        await #expect(throws: ThreadPoolError.timedOut) { _ = try await second.end(timeout: .nanoseconds(-1)) }
        #expect(!second.hasEnded)
        held2.release()
        _ = try await second.end()
        try await pool.shutdownGracefully()
    }

    /// The last reference to a tick dropped inside its own `onOverrun`, on
    /// the monitor thread, with its closures done: ending it right there
    /// would wait for the running callback, that is for itself (the monitor
    /// thread hung, and so did the pool's shutdown joining it). A detached
    /// thread ends it instead.
    @Test func aTickReleasedInsideItsOwnOverrunCallback() throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let holder = Mutex<Tick?>(nil)
        let fired = Atomic<Int>(0)
        let ran = Atomic<Int>(0)
        let stored = Atomic<Bool>(false)
        do {
            let tick = try pool.beginTick(budget: .milliseconds(5), onOverrun: { _ in
                // The budget may run out before the test stored the tick
                // (a loaded machine): wait for it, or nothing releases it.
                var polls = 0
                while !stored.load(ordering: .acquiring) && polls < 20_000 {
                    usleep(500)
                    polls += 1
                }
                let last = holder.withLock { h -> Tick? in
                    defer { h = nil }
                    return h
                }
                fired.add(1, ordering: .relaxed)
                withExtendedLifetime(last) {} // the last reference goes here, on the monitor thread
            })
            try tick.submit { _ = ran.add(1, ordering: .relaxed) }
            waitUntil { ran.load(ordering: .relaxed) == 1 }
            holder.withLock { $0 = tick }
            stored.store(true, ordering: .releasing)
        }
        waitUntil { fired.load(ordering: .relaxed) == 1 }
        #expect(fired.load(ordering: .relaxed) == 1)
        try pool.shutdown() // joins the monitor thread
        #expect(holder.withLock { $0 == nil })
    }

    /// `onOverrun` submits into its tick after the tick's closures are done,
    /// while `end()` waits for the callback: the closure is accepted, runs,
    /// and is counted (it was refused: the end had sealed the tick). Ending
    /// the tick from the callback throws `deadlock` at once.
    @Test func anOverrunCallbackSubmitsIntoItsEndingTick() throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        for _ in 0..<2 {
            let holder = Mutex<Tick?>(nil)
            let fired = Atomic<Bool>(false)
            let firstDone = Atomic<Bool>(false)
            let lateRan = Atomic<Bool>(false)
            let outcome = Mutex<String>("not fired")
            let tick = try pool.beginTick(budget: .milliseconds(5), onOverrun: { _ in
                fired.store(true, ordering: .releasing)
                waitUntil { firstDone.load(ordering: .acquiring) }
                usleep(30_000) // end() has seen the closures done and waits for this callback
                guard let t = holder.withLock({ $0 }) else { return }
                do {
                    _ = try t.end()
                    outcome.withLock { $0 = "end returned" }
                    return
                } catch ThreadPoolError.deadlock {
                } catch {
                    outcome.withLock { $0 = "end threw \(error)" }
                    return
                }
                do {
                    try t.submit { usleep(5_000); lateRan.store(true, ordering: .releasing) }
                    outcome.withLock { $0 = "accepted" }
                } catch {
                    outcome.withLock { $0 = "refused: \(error)" }
                }
            })
            holder.withLock { $0 = tick }
            // Runs until the callback has started (count-based, so a slow
            // monitor cannot miss the budget), then a little longer.
            try tick.submit {
                waitUntil { fired.load(ordering: .acquiring) }
                usleep(5_000)
                firstDone.store(true, ordering: .releasing)
            }
            let r = try tick.end()
            holder.withLock { $0 = nil }
            #expect(outcome.withLock { $0 } == "accepted")
            let late = lateRan.load(ordering: .acquiring)
            #expect(late)
            #expect(r.tasks == 2)
            #expect(throws: ThreadPoolError.invalidArgument("Tick.submit: the tick has ended")) {
                try tick.submit {}
            }
        }
        try pool.shutdown()
    }

    /// `await tick.end(timeout:)` while the tick's `onOverrun` runs after
    /// every closure is done: it keeps its timeout (throws `timedOut`, the
    /// tick stays open) and holds no thread meanwhile. It used to retry in
    /// a loop that never suspended (helper-40's attack, 2026-12-03): the
    /// timeout was ignored, and on a one-worker pool, with the end running
    /// on the pool's executor and the callback waiting for a pool closure,
    /// the end kept the only worker and nothing could move.
    @Test func asyncEndKeepsItsTimeoutWhileOnOverrunRuns() async throws {
        // The timeout: the callback runs until the test lets it go.
        do {
            let pool = try ThreadPool(configuration: .init(workers: 2))
            let fired = Atomic<Bool>(false)
            let release = Atomic<Bool>(false)
            let tick = try pool.beginTick(budget: .milliseconds(1), onOverrun: { _ in
                fired.store(true, ordering: .releasing)
                var polls = 0
                while !release.load(ordering: .acquiring) && polls < 20_000 { usleep(500); polls += 1 } // 10 s at most
            })
            try tick.submit { waitUntil { fired.load(ordering: .acquiring) } }
            while !fired.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(1)) }
            try await Task.sleep(for: .milliseconds(20)) // the closure is done; the callback runs
            await #expect(throws: ThreadPoolError.timedOut) {
                _ = try await tick.end(timeout: .milliseconds(50))
            }
            #expect(!tick.hasEnded)
            release.store(true, ordering: .releasing)
            let r = try await tick.end()
            #expect(r.tasks == 1)
            try await pool.shutdownGracefully()
        }
        // No thread held: one worker; the end runs on it; the callback
        // waits for a closure that only that worker can run.
        do {
            let pool = try ThreadPool(configuration: .init(workers: 1))
            let fired = Atomic<Bool>(false)
            let helped = Atomic<Bool>(false)
            let tick = try pool.beginTick(budget: .milliseconds(1), onOverrun: { _ in
                fired.store(true, ordering: .releasing)
                try? pool.submit { helped.store(true, ordering: .releasing) }
                var polls = 0
                while !helped.load(ordering: .acquiring) && polls < 20_000 { usleep(500); polls += 1 } // 10 s at most
            })
            try tick.submit { waitUntil { fired.load(ordering: .acquiring) } }
            let tasks = try await Task(executorPreference: pool) {
                try await tick.end(timeout: .seconds(30)).tasks
            }.value
            #expect(tasks == 1)
            let didHelp = helped.load(ordering: .acquiring)
            #expect(didHelp) // the callback's closure ran: the worker was free
            try await pool.shutdownGracefully()
        }
    }

    @Test func aBudgetOverrunFiresOnce() throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        #expect(throws: ThreadPoolError.invalidArgument(
            "beginTick(budget:) must be at least 1 nanosecond, got 0.0 seconds (nil means no budget)")) {
            _ = try pool.beginTick(budget: .zero)
        }
        #expect(throws: ThreadPoolError.invalidArgument("beginTick(onOverrun:) needs a budget")) {
            _ = try pool.beginTick(onOverrun: { _ in })
        }
        for _ in 0..<3 {
            let fired = Atomic<Int>(0)
            let elapsed = Mutex<Duration>(.zero)
            let tick = try pool.beginTick(budget: .milliseconds(20), onOverrun: { e in
                elapsed.withLock { $0 = e }
                fired.add(1, ordering: .relaxed)
            })
            // The closure runs until the overrun was reported: count-based,
            // and it shows the callback is not blocked by the late work.
            try tick.submit(label: "late") { waitUntil { fired.load(ordering: .relaxed) >= 1 } }
            let r = try tick.end()
            #expect(fired.load(ordering: .relaxed) == 1)
            #expect(elapsed.withLock { $0 } >= .milliseconds(20))
            #expect(r.overran)
            #expect(r.budget == .milliseconds(20))
            #expect(r.finishedPastBudget == 1)
        }
        // Inside its budget: no callback; a budget records without `report`.
        let fired = Atomic<Int>(0)
        let tick = try pool.beginTick(report: false, budget: .seconds(3600), onOverrun: { _ in
            fired.add(1, ordering: .relaxed)
        })
        try tick.submit {}
        let r = try tick.end()
        #expect(fired.load(ordering: .relaxed) == 0)
        #expect(!r.overran && r.isRecorded && r.tasks == 1)
        try pool.shutdown()
    }

    @Test func aTickReleasedWithoutEndNeverBlocks() throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let gate = Gate()
        let ran = Atomic<Int>(0)
        let fired = Atomic<Int>(0)
        do {
            let tick = try pool.beginTick(budget: .milliseconds(1), onOverrun: { _ in fired.add(1, ordering: .relaxed) })
            // Blocked until released, then until the overrun was reported
            // (count-based): the closure is kept alive for the monitor.
            try tick.submit {
                gate.block()
                waitUntil { fired.load(ordering: .relaxed) >= 1 }
                _ = ran.add(1, ordering: .relaxed)
            }
            try tick.submit { _ = ran.add(1, ordering: .relaxed) }
            gate.waitEntered(1)
        } // released with a closure blocked: a thread of its own ends it
        do {
            let done = try pool.beginTick()
            try done.submit { _ = ran.add(1, ordering: .relaxed) }
            waitUntil { ran.load(ordering: .relaxed) == 2 } // on the other worker
        } // released with its closures done: ended right here
        gate.release()
        waitUntil { ran.load(ordering: .relaxed) == 3 }
        #expect(ran.load(ordering: .relaxed) == 3)
        try pool.shutdown()
        #expect(fired.load(ordering: .relaxed) == 1)
    }

    @Test func pinnedClosuresRunOnlyOnTheOwnerWhileItEndsTheTick() throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let queue = try pool.makePinnedQueue()
        let owner = ThreadID()
        #expect(queue.isOwnerThread)
        let onOwner = Atomic<Int>(0)
        let elsewhere = Atomic<Int>(0)
        let record: @Sendable () -> Void = {
            if owner.isCurrent { onOwner.add(1, ordering: .relaxed) } else { elsewhere.add(1, ordering: .relaxed) }
        }
        var want = 0
        for _ in 0..<30 {
            let tick = try pool.beginTick()
            // Worker closures hand pinned closures to this thread, at every
            // priority (a bot update handing its action to the world's owner).
            for _ in 0..<40 {
                try tick.submit {
                    for p in ThreadPool.Priority.allCases {
                        try tick.submit(priority: p, label: "apply", pinnedTo: queue, record)
                    }
                }
            }
            try tick.submit(pinnedTo: queue, record)
            let r = try tick.end()
            want += 40 * 5 + 1
            #expect(r.tasks == UInt64(40 + 40 * 5 + 1))
            #expect(r.outside.tasks >= UInt64(40 * 5 + 1)) // every pinned one ran on this thread
        }
        #expect(onOwner.load(ordering: .relaxed) == want)
        #expect(elsewhere.load(ordering: .relaxed) == 0)
        #expect(pool.stats.queued == 0)

        // Pinned to the pool and to a work group: run(max:) and the
        // owner's group wait run them; a worker cannot.
        let value = try pool.submit(pinnedTo: queue) { () -> Bool in owner.isCurrent }
        // Awaited by polling, not by wait(): a helping wait could run the
        // closure on this thread, the owner.
        let fromWorker = Mutex<String?>(nil)
        try pool.submit {
            let got: String
            do { try queue.run(); got = "ran" } catch ThreadPoolError.invalidArgument { got = "refused" } catch { got = "\(error)" }
            fromWorker.withLock { $0 = got }
        }
        waitUntil { fromWorker.withLock { $0 } != nil }
        #expect(fromWorker.withLock { $0 } == "refused")
        #expect(try queue.run(max: 10) == 1)
        #expect(try value.wait())
        #expect(try queue.run() == 0)
        // The owner's wait() on a pinned closure's handle runs the queue.
        let own = try pool.submit(priority: .low, pinnedTo: queue) { () -> Bool in owner.isCurrent }
        #expect(try own.wait())
        let group = try WorkGroup(pool: pool)
        for _ in 0..<10 { try group.submit(pinnedTo: queue, record) }
        try group.wait()
        #expect(onOwner.load(ordering: .relaxed) == want + 10)
        #expect(throws: ThreadPoolError.self) { _ = try pool.makePinnedQueue() } // one per thread

        // Not from a closure the owner runs: the run loop still uses the
        // queue. Refused, and the queue goes on working.
        let refused = Atomic<Bool>(false)
        try pool.submit(pinnedTo: queue) {
            do { try queue.close() } catch ThreadPoolError.invalidArgument(_) { refused.store(true, ordering: .relaxed) } catch {}
        }
        #expect(try queue.run() == 1)
        let wasRefused = refused.load(ordering: .relaxed)
        #expect(wasRefused)
        #expect(!queue.isClosed)
        try pool.submit(pinnedTo: queue, record)
        #expect(try queue.run() == 1)
        #expect(onOwner.load(ordering: .relaxed) == want + 11)

        // close() drops what is still queued and refuses what comes later.
        let dropped = try pool.submit(pinnedTo: queue) { 1 }
        try queue.close()
        #expect(queue.isClosed)
        #expect(throws: ThreadPoolError.cancelled) { _ = try dropped.wait() }
        #expect(throws: ThreadPoolError.invalidArgument("pinnedTo: the pinned queue is closed")) {
            try pool.submit(pinnedTo: queue) {}
        }
        try queue.close() // again: nothing
        #expect(elsewhere.load(ordering: .relaxed) == 0)
        // The thread may own a new queue now.
        let next = try pool.makePinnedQueue()
        try next.close()
        try pool.shutdown()
    }

    /// A second `await tick.end()` throws at once. It used to wait on the
    /// tick's C group before it looked at the tick's phase, and the first
    /// end had freed that group: the runtime recycles groups, so it waited
    /// on (or registered its notification with) some other group, here one
    /// of 64 whose closures spin, and hung instead of throwing.
    @Test func aSecondAsyncEndThrowsAtOnceWhileOtherGroupsRun() async throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let tick = try pool.beginTick()
        try tick.submit {}
        _ = try await tick.end()
        let spin = Atomic<Bool>(true)
        var groups: [WorkGroup] = []
        for _ in 0..<64 {
            let g = try WorkGroup(pool: pool)
            try g.submit { while spin.load(ordering: .relaxed) { usleep(1_000) } }
            groups.append(g)
        }
        let outcome = Mutex<ThreadPoolError??>(nil) // nil: still running; .some(nil): returned a report
        let finished = Finished()
        Task {
            let e: ThreadPoolError?
            do { _ = try await tick.end(); e = nil } catch let error as ThreadPoolError { e = error } catch {
                e = .invalidArgument("unexpected error \(error)")
            }
            outcome.withLock { $0 = .some(e) }
            finished.set()
        }
        let inTime = try await finished.wait(timeout: .seconds(5))
        #expect(inTime, "the second async end was still waiting after 5 s")
        spin.store(false, ordering: .relaxed)
        if try await finished.wait(timeout: .seconds(5)) { // at once if in time
            #expect(outcome.withLock { $0 } == .some(.invalidArgument("Tick.end: the tick has already ended")))
        }
        for g in groups { try await g.wait() }
        // Once more, every group idle now: still refused at once.
        await #expect(throws: ThreadPoolError.invalidArgument("Tick.end: the tick has already ended")) {
            _ = try await tick.end()
        }
        try await pool.shutdownGracefully()
    }

    /// While an async end waits for the tick's closures, the tick is being
    /// ended: a blocking end on another thread, or another async end, throws
    /// at once (without touching the tick's group), and the async end then
    /// ends the tick.
    @Test func anEndDuringAnAsyncEndsWaitThrowsBeingEnded() async throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let tick = try pool.beginTick()
        let gate = Gate()
        try tick.submit { gate.block() }
        while gate.entered.load(ordering: .relaxed) < 1 { try await Task.sleep(for: .milliseconds(1)) }
        let asyncEnded = Finished()
        let ending = Task {
            defer { asyncEnded.set() }
            return try await tick.end()
        }
        try await Task.sleep(for: .milliseconds(100)) // the async end is waiting by now
        let blocking = Mutex<String?>(nil)
        let blockingEnded = startThread {
            let got: String
            do { _ = try endBlocking(tick); got = "ended the tick" } catch { got = "\(error)" }
            blocking.withLock { $0 = got }
        }
        let refusedInTime = try await blockingEnded.wait(timeout: .seconds(5))
        #expect(refusedInTime, "the blocking end was still waiting after 5 s")
        if refusedInTime {
            #expect(blocking.withLock { $0 }
                    == "\(ThreadPoolError.invalidArgument("Tick.end: the tick is being ended on another thread"))")
        }
        await #expect(throws: ThreadPoolError.invalidArgument("Tick.end: the tick is being ended on another thread")) {
            _ = try await tick.end(timeout: .milliseconds(1))
        }
        #expect(!tick.hasEnded)
        try tick.submit {} // still open for submissions while it is being ended
        gate.release()
        if try await asyncEnded.wait(timeout: .seconds(10)) {
            let r = await ending.result
            #expect((try? r.get())?.tasks == 2, "the async end: \(r)")
            #expect(tick.hasEnded)
        } else {
            Issue.record("the async end did not return within 10 s of its closures' end")
        }
        _ = try await blockingEnded.wait(timeout: .seconds(10))
        // A timed-out async end gives the tick back: a later end ends it.
        let open = try pool.beginTick()
        let held = Gate()
        try open.submit { held.block() }
        await #expect(throws: ThreadPoolError.timedOut) { _ = try await open.end(timeout: .milliseconds(20)) }
        #expect(!open.hasEnded)
        held.release()
        #expect(try await open.end().tasks == 1)
        try await pool.shutdownGracefully()
    }

    /// The owner thread of a pinned queue waits on a handle whose closure
    /// (not pinned: it runs on a worker) hands work to the owner and waits
    /// for it. The owner's `wait()` must run that pinned work: it used to
    /// sleep on the handle, where nothing woke it for pinned submissions (a
    /// deadlock). Both a single pinned submission and a pinned batch.
    @Test func theOwnersHandleWaitRunsClosuresPinnedToItMeanwhile() throws {
        let outcome = Mutex<String?>(nil)
        let finished = startThread {
            let got: String
            do {
                let pool = try ThreadPool(configuration: .init(workers: 2))
                let queue = try pool.makePinnedQueue()
                let owner = ThreadID()
                let single = try pool.submit { () throws -> Bool in
                    usleep(100_000) // the owner sleeps in wait() by now
                    return try pool.submit(pinnedTo: queue) { owner.isCurrent }.wait()
                }
                let onOwner = try single.wait()
                let batched = try pool.submit { () throws -> Int in
                    usleep(100_000)
                    let group = try WorkGroup(pool: pool)
                    let ran = Atomic<Int>(0)
                    let batch = TaskBatch()
                    for _ in 0..<3 { batch.add { if owner.isCurrent { ran.add(1, ordering: .relaxed) } } }
                    try group.submit(batch, pinnedTo: queue)
                    try group.wait()
                    return ran.load(ordering: .relaxed)
                }
                let batchOnOwner = try batched.wait()
                try queue.close()
                try pool.shutdown()
                got = "pinned closure on the owner: \(onOwner), batch closures on the owner: \(batchOnOwner)"
            } catch {
                got = "error: \(error)"
            }
            outcome.withLock { $0 = got }
        }
        let inTime = finished.wait(timeout: .seconds(10))
        #expect(inTime, "the owner's wait() was still blocked after 10 s (deadlock)")
        if inTime {
            #expect(outcome.withLock { $0 } == "pinned closure on the owner: true, batch closures on the owner: 3")
        }
    }

    @Test func prewakeThenASubmissionRuns() throws {
        let pool = try ThreadPool(configuration: .init(workers: 2, prewakeLead: .milliseconds(20)))
        let ran = Atomic<Int>(0)
        for round in 1...5 {
            let at = ContinuousClock.now + .milliseconds(30)
            pool.prewake(at: at)
            while ContinuousClock.now < at { usleep(500) }
            try pool.submit { _ = ran.add(1, ordering: .relaxed) }
            waitUntil { ran.load(ordering: .relaxed) == round }
            #expect(ran.load(ordering: .relaxed) == round)
        }
        // A pre-wake long past, one cancelled, one far ahead: submissions
        // still run (whoever wakes the workers).
        pool.prewake(at: .now - .seconds(10))
        try pool.submit { _ = ran.add(1, ordering: .relaxed) }
        pool.prewake(at: .now + .seconds(10))
        pool.cancelPrewake()
        try pool.submit { _ = ran.add(1, ordering: .relaxed) }
        pool.prewake(at: .now + .seconds(3600))
        try pool.submit { _ = ran.add(1, ordering: .relaxed) }
        waitUntil { ran.load(ordering: .relaxed) == 8 }
        #expect(ran.load(ordering: .relaxed) == 8)
        try pool.shutdown()
        #expect(pool.stats.executed == 8)
    }

    @Test func prewakeLeadIsCheckedWithItsSwiftName() throws {
        func message(_ c: ThreadPool.Configuration) -> String? {
            do {
                let pool = try ThreadPool(configuration: c)
                try? pool.shutdown()
                return nil
            } catch ThreadPoolError.invalidArgument(let why) {
                return why
            } catch {
                return "wrong error: \(error)"
            }
        }
        #expect(message(.init(prewakeLead: .zero))?.hasPrefix("Configuration.prewakeLead must be") == true)
        #expect(message(.init(prewakeLead: .milliseconds(51)))?.hasPrefix("Configuration.prewakeLead must be") == true)
        #expect(message(.init(prewakeLead: .nanoseconds(-1)))?.hasPrefix("Configuration.prewakeLead must be") == true)
        #expect(message(.init(workers: 1, prewakeLead: .nanoseconds(1))) == nil)
        #expect(message(.init(workers: 1, prewakeLead: .milliseconds(50))) == nil)
        #expect(ThreadPool.Configuration(prewakeLead: .milliseconds(1)) != ThreadPool.Configuration())
    }
}
