import Foundation
import Synchronization
import Testing
import ThreadPoolSwift

/// Counts live instances and runs of its own (other suites run in parallel
/// with this one and use `Tracker`).
private final class Captured: Sendable {
    static let live = Atomic<Int>(0)
    static let ran = Atomic<Int>(0)
    init() { Captured.live.add(1, ordering: .relaxed) }
    deinit { Captured.live.subtract(1, ordering: .relaxed) }
    func touch() { Captured.ran.add(1, ordering: .relaxed) }
}

/// One counter per item, to see every item run exactly once.
private final class Hits: @unchecked Sendable {
    let counts: UnsafeMutableBufferPointer<Atomic<Int>>
    init(_ n: Int) {
        counts = .allocate(capacity: n)
        for i in 0..<n { (counts.baseAddress! + i).initialize(to: Atomic<Int>(0)) }
    }
    deinit { counts.deallocate() }
    func hit(_ i: Int) { _ = counts[i].add(1, ordering: .relaxed) }
    func reset() { for i in 0..<counts.count { counts[i].store(0, ordering: .relaxed) } }
    /// Indices not hit exactly once.
    var wrong: [Int] { (0..<counts.count).filter { counts[$0].load(ordering: .relaxed) != 1 } }
}

/// Waits (bounded: a hang detector, not a timing check) until `done()` holds.
private func waitUntil(_ done: () -> Bool) {
    var polls = 0
    while !done() && polls < 60_000 {
        usleep(500)
        polls += 1
    }
}

/// Batch submission (issue 17): `TaskBatch` into a pool, a group or a tick.
@Suite(.serialized) struct BatchTests {
    @Test func everyItemRunsExactlyOnceAndTheBatchIsReused() throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let n = 5_000
        let hits = Hits(n)
        let batch = TaskBatch()
        let group = try WorkGroup(pool: pool)
        // Several batches through one builder and one group (a server's ticks).
        for round in 0..<6 {
            hits.reset()
            for i in 0..<n {
                batch.add(priority: ThreadPool.Priority.allCases[(i + round) % 5]) { hits.hit(i) }
            }
            #expect(batch.count == n)
            try group.submit(batch)
            #expect(batch.isEmpty)
            try group.wait()
            #expect(hits.wrong.isEmpty, "round \(round): items not run exactly once: \(hits.wrong.prefix(10))")
        }
        // Fire and forget on the pool, and into a tick (whose report counts them).
        hits.reset()
        for i in 0..<n { batch.add { hits.hit(i) } }
        try pool.submit(batch)
        #expect(batch.isEmpty)
        waitUntil { hits.wrong.isEmpty }
        #expect(hits.wrong.isEmpty)
        hits.reset()
        let tick = try pool.beginTick()
        for i in 0..<n { batch.add(label: "item") { hits.hit(i) } }
        try tick.submit(batch)
        let report = try tick.end()
        #expect(report.tasks == UInt64(n))
        #expect(hits.wrong.isEmpty)
        // A batch submitted from inside a worker (its own deque), and an empty one.
        hits.reset()
        try group.submit {
            let inner = TaskBatch(minimumCapacity: n)
            for i in 0..<n { inner.add { hits.hit(i) } }
            try group.submit(inner)
        }
        try group.submit(TaskBatch())
        try group.wait()
        #expect(hits.wrong.isEmpty)
        try pool.shutdown()
    }

    @Test func aThrowingItemsErrorComesBackFromTheWait() throws {
        struct Bad: Error, Equatable { let i: Int }
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let group = try WorkGroup(pool: pool)
        let ran = Atomic<Int>(0)
        let batch = TaskBatch()
        for i in 0..<100 {
            batch.add {
                _ = ran.add(1, ordering: .relaxed)
                if i == 17 { throw Bad(i: i) }
            }
        }
        try group.submit(batch)
        #expect(throws: Bad(i: 17)) { try group.wait() }
        #expect(ran.load(ordering: .relaxed) == 100) // every item ran regardless
        try group.wait() // rethrown once
        try pool.shutdown()
    }

    @Test func aRefusedBatchRunsNoneAndReleasesEveryClosure() throws {
        Captured.ran.store(0, ordering: .relaxed)
        let before = Captured.live.load(ordering: .relaxed)
        let batch = TaskBatch()
        func fill(_ n: Int, node: (Int) -> Int? = { _ in nil }) {
            for i in 0..<n {
                let c = Captured()
                batch.add(node: node(i)) { c.touch() }
            }
            #expect(Captured.live.load(ordering: .relaxed) == before + n)
        }
        func expectReleased(_ what: Comment) {
            #expect(batch.isEmpty, what)
            #expect(Captured.live.load(ordering: .relaxed) == before, what)
        }

        // A bounded queue without room for the whole batch: all or none
        // (600 items: more than the 256 a large batch is published in at a
        // time, so the refusal comes before any part is queued).
        let gate = Gate()
        let pool = try ThreadPool(configuration: .init(workers: 1, queueCapacity: 8))
        try pool.submit { gate.block() }
        gate.waitEntered(1)
        fill(600)
        let group = try WorkGroup(pool: pool)
        #expect(throws: ThreadPoolError.queueFull) { try group.submit(batch) }
        expectReleased("queue full")
        // A node the pool does not have (one item of many): the error names it.
        fill(50) { $0 == 37 ? 3 : nil }
        #expect {
            try group.submit(batch)
        } throws: { error in
            guard case ThreadPoolError.invalidArgument(let why) = error else { return false }
            return why.contains("item 37") && why.contains("node 3")
        }
        expectReleased("bad node")
        fill(10) { _ in -2 }
        #expect(throws: ThreadPoolError.self) { try pool.submit(batch) }
        expectReleased("negative node")
        gate.release()
        try group.wait()
        #expect(Captured.ran.load(ordering: .relaxed) == 0)

        // An ended tick.
        let tick = try pool.beginTick()
        _ = try tick.end()
        fill(20)
        #expect(throws: ThreadPoolError.self) { try tick.submit(batch) }
        expectReleased("ended tick")

        // A stopped pool.
        try pool.shutdown()
        fill(600)
        #expect(throws: ThreadPoolError.shutdown) { try pool.submit(batch) }
        expectReleased("pool stopped")
        fill(600)
        #expect(throws: ThreadPoolError.shutdown) { try group.submit(batch) }
        expectReleased("pool stopped, group")
        #expect(Captured.ran.load(ordering: .relaxed) == 0)

        // Released unsubmitted, and removeAll.
        fill(30)
        batch.removeAll()
        expectReleased("removeAll")
        do {
            let dropped = TaskBatch()
            for _ in 0..<30 {
                let c = Captured()
                dropped.add { c.touch() }
            }
        }
        #expect(Captured.live.load(ordering: .relaxed) == before)
    }

    @Test func aBatchRunsCriticalFirstBehindABlockedWorker() throws {
        let pool = try ThreadPool(configuration: .init(workers: 1))
        let gate = Gate()
        try pool.submit { gate.block() }
        gate.waitEntered(1)
        let order = Mutex<[Int]>([])
        let batch = TaskBatch()
        // Interleaved, lowest first, so queue order alone would be wrong.
        for i in 0..<200 {
            let p = ThreadPool.Priority(rawValue: 4 - i % 5)!
            batch.add(priority: p) { order.withLock { $0.append(p.rawValue) } }
        }
        try pool.submit(batch)
        gate.release()
        // No helping wait here: only the pool's one worker runs the batch.
        waitUntil { order.withLock { $0.count } == 200 }
        let ran = order.withLock { $0 }
        #expect(ran.count == 200)
        #expect(ran == ran.sorted(), "priorities out of order: \(ran.prefix(20))...")
        #expect(pool.stats.executedByPriority[.critical] == 40)
        try pool.shutdown()
    }

    @Test func nodesAreHonouredOnASimulatedTopology() throws {
        // Two nodes, one worker each; another node's NORMAL work is left to
        // its own worker for 100 ms (the longest grace), far more than the
        // batch takes.
        let pool = try ThreadPool(configuration: .init(workers: 2, topology: "0;1",
                                                       remoteStealDelay: .milliseconds(100)))
        #expect(pool.nodeCount == 2)
        let perNode = 300
        let ranOn = Mutex<[Int: [Int?]]>([0: [], 1: []])
        let batch = TaskBatch()
        for i in 0..<(2 * perNode) {
            let node = i % 2
            batch.add(priority: i % 3 == 0 ? .low : .normal, node: node) {
                let here = ThreadPool.currentNode
                ranOn.withLock { $0[node]!.append(here) }
            }
        }
        let start = ContinuousClock.now
        try pool.submit(batch)
        // Not a helping wait: a thread outside the pool would run items itself.
        waitUntil { ranOn.withLock { $0[0]!.count + $0[1]!.count } == 2 * perNode }
        let elapsed = ContinuousClock.now - start
        let seen = ranOn.withLock { $0 }
        #expect(seen[0]!.count == perNode && seen[1]!.count == perNode)
        // Counted by the pool too: every affine task ran, and where.
        let home = (0..<2).map { pool.nodeStats($0)!.affineHome }
        #expect(home.reduce(0, +) <= UInt64(2 * perNode))
        if elapsed < .milliseconds(90) {
            // Within the grace period no worker may take the other node's work.
            #expect(seen[0]!.allSatisfy { $0 == 0 }, "node 0 items ran on \(Set(seen[0]!.map { $0 ?? -1 }))")
            #expect(seen[1]!.allSatisfy { $0 == 1 }, "node 1 items ran on \(Set(seen[1]!.map { $0 ?? -1 }))")
            #expect(home == [UInt64(perNode), UInt64(perNode)])
        }
        try pool.shutdown()
    }

    @Test func aPinnedBatchRunsOnlyOnTheOwner() throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let queue = try pool.makePinnedQueue()
        let owner = pthread_self()
        let onOwner = Atomic<Int>(0), elsewhere = Atomic<Int>(0)
        let group = try WorkGroup(pool: pool)
        let batch = TaskBatch()
        for i in 0..<500 {
            batch.add(priority: i % 2 == 0 ? .high : .low, node: 1) {
                // node is ignored for pinned closures (1 is not a node here)
                if pthread_equal(pthread_self(), owner) != 0 {
                    _ = onOwner.add(1, ordering: .relaxed)
                } else {
                    _ = elsewhere.add(1, ordering: .relaxed)
                }
            }
        }
        try group.submit(batch, pinnedTo: queue)
        try group.wait() // runs them here, on the owner
        #expect(onOwner.load(ordering: .relaxed) == 500)
        #expect(elsewhere.load(ordering: .relaxed) == 0)
        try queue.close()
        // A closed queue refuses the whole batch and releases it.
        let before = Captured.live.load(ordering: .relaxed)
        for _ in 0..<10 {
            let c = Captured()
            batch.add { c.touch() }
        }
        #expect(throws: ThreadPoolError.self) { try group.submit(batch, pinnedTo: queue) }
        #expect(batch.isEmpty)
        #expect(Captured.live.load(ordering: .relaxed) == before)
        try pool.shutdown()
    }

    @Test func asyncWaitsBlockNoCooperativeThread() async throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let group = try WorkGroup(pool: pool)
        // Finished (nothing submitted): returns without suspending.
        try await group.wait()
        #expect(try await group.wait(timeout: .zero))
        let gate = Gate()
        let ran = Atomic<Int>(0)
        let batch = TaskBatch()
        batch.add(priority: .low) { gate.block() }
        for _ in 0..<1_000 { batch.add { _ = ran.add(1, ordering: .relaxed) } }
        try group.submit(batch)
        gate.waitEntered(1)
        #expect(try await group.wait(timeout: .zero) == false) // polls
        #expect(try await group.wait(timeout: .milliseconds(5)) == false)
        // More waiting tasks than the global executor has threads, then a
        // probe task. This test's own thread keeps running (it polls without
        // suspending), so the waiters and the probe share the others: if a
        // wait blocked its thread, the probe could not start until the gate
        // opens, which happens only after the probe ran or the poll gave up.
        let waiters = 4 * ProcessInfo.processInfo.activeProcessorCount + 4
        final class Count: Sendable { let value = Atomic<Int>(0) }
        let returned = Count(), probe = Count()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for _ in 0..<waiters {
                tasks.addTask {
                    try await group.wait()
                    _ = returned.value.add(1, ordering: .relaxed)
                }
            }
            Task.detached { probe.value.store(1, ordering: .relaxed) }
            var polls = 0
            while probe.value.load(ordering: .relaxed) == 0 && polls < 5_000 {
                usleep(1_000)
                polls += 1
            }
            #expect(probe.value.load(ordering: .relaxed) == 1,
                    "no task could start while the group waits were pending: they block threads")
            #expect(returned.value.load(ordering: .relaxed) == 0) // still waiting: the gate is shut
            gate.release()
            try await tasks.waitForAll()
        }
        #expect(returned.value.load(ordering: .relaxed) == waiters)
        #expect(ran.load(ordering: .relaxed) == 1_000)
        try await pool.shutdownGracefully()
    }

    @Test func aBatchAwaitedFromTheOnlyWorker() async throws {
        // One worker: the awaiting task itself runs on it, so the wait must
        // suspend (not block) for the batch to run at all.
        let pool = try ThreadPool(configuration: .init(workers: 1))
        let total = try await withTaskExecutorPreference(pool) {
            let group = try WorkGroup(pool: pool)
            let sum = Atomic<Int>(0)
            let batch = TaskBatch()
            for tick in 0..<20 {
                for i in 0..<500 { batch.add(priority: i % 7 == 0 ? .high : .normal) { _ = sum.add(1, ordering: .relaxed) } }
                try group.submit(batch)
                try await group.wait()
                #expect(sum.load(ordering: .relaxed) == (tick + 1) * 500)
            }
            batch.add { throw CancellationError() }
            try group.submit(batch)
            await #expect(throws: CancellationError.self) { try await group.wait() }
            return sum.load(ordering: .relaxed)
        }
        #expect(total == 10_000)
        try await pool.shutdownGracefully()
    }

    /// -1 is C's "any node", but in Swift only nil means any: a submission
    /// or batch item with -1 (or any negative node, or one past Int32) is
    /// refused, with the node given in the message, and runs nothing. Both
    /// were accepted (-1 ran on any node) and the batch's message showed the
    /// clamped value.
    @Test func negativeNodesAreRefused() throws {
        let pool = try ThreadPool(configuration: .init(workers: 1))
        let ran = Atomic<Int>(0)
        for node in [-1, -2, Int.min, Int(Int32.max) + 10] {
            #expect(throws: ThreadPoolError.self) { try pool.submit(node: node) { _ = ran.add(1, ordering: .relaxed) } }
            do {
                try pool.submit(node: node) {}
            } catch let ThreadPoolError.invalidArgument(why) {
                #expect(why.contains("node \(node) "), "message: \(why)")
            }
            let batch = TaskBatch()
            batch.add { _ = ran.add(1, ordering: .relaxed) }
            batch.add(node: node) { _ = ran.add(1, ordering: .relaxed) }
            do {
                try pool.submit(batch)
                Issue.record("a batch item with node \(node) was accepted")
            } catch let ThreadPoolError.invalidArgument(why) {
                #expect(why.contains("item 1: node \(node) "), "message: \(why)")
            }
            #expect(batch.isEmpty)
            // The batch is usable again, and a good item after a bad one's
            // refusal carries no stale node.
            batch.add(node: 0) { _ = ran.add(1, ordering: .relaxed) }
            try pool.submit(batch)
        }
        try pool.shutdown()
        #expect(ran.load(ordering: .relaxed) == 4)
    }

    /// NUMA off on a two-node topology: node 1 is one of the topology's
    /// nodes, accepted and ignored; node 2 and 5 are refused, and the error
    /// names the item that was refused and the topology's range. Node 1
    /// used to be refused alone, node 2's message said 0..<1, and a batch
    /// of nodes 1 and 5 blamed item 0.
    @Test func numaOffAcceptsTheTopologysNodes() throws {
        let pool = try ThreadPool(configuration: .init(workers: 2, numaMode: .off, topology: "0;1"))
        #expect(pool.nodeCount == 1)
        #expect(pool.topologyNodeCount == 2)
        let ran = Atomic<Int>(0)
        try pool.submit(node: 1) { _ = ran.add(1, ordering: .relaxed) }
        do {
            try pool.submit(node: 2) {}
            Issue.record("node 2 was accepted")
        } catch let ThreadPoolError.invalidArgument(why) {
            #expect(why.contains("node 2 ") && why.contains("0..<2"), "message: \(why)")
        }
        let batch = TaskBatch()
        batch.add(node: 1) { _ = ran.add(1, ordering: .relaxed) }
        batch.add(node: 5) { _ = ran.add(1, ordering: .relaxed) }
        do {
            try pool.submit(batch)
            Issue.record("a batch item with node 5 was accepted")
        } catch let ThreadPoolError.invalidArgument(why) {
            #expect(why.contains("item 1: node 5 ") && why.contains("0..<2"), "message: \(why)")
        }
        batch.add(node: 1) { _ = ran.add(1, ordering: .relaxed) }
        try pool.submit(batch)
        try pool.shutdown()
        #expect(ran.load(ordering: .relaxed) == 2)
    }

    /// Async waits with a timeout too large for the clock (now + timeout
    /// overflows) wait as if with none. They crashed the process ("Not
    /// enough bits to represent the passed value") in the timer's sleep.
    @Test func asyncWaitsTakeAnyTimeout() async throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        for timeout in [Duration.seconds(Int64.max), .seconds(Int64(1) << 40), .seconds(100 * 365 * 86_400)] {
            let gate = Gate()
            let group = try WorkGroup(pool: pool)
            try group.submit { gate.block() }
            let waiting = Task { try await group.wait(timeout: timeout) }
            gate.waitEntered(1)
            try await Task.sleep(for: .milliseconds(50)) // the wait's timer has started
            gate.release()
            #expect(try await waiting.value)
            let tick = try pool.beginTick()
            let tickGate = Gate()
            try tick.submit { tickGate.block() }
            let ending = Task { try await tick.end(timeout: timeout) }
            tickGate.waitEntered(1)
            try await Task.sleep(for: .milliseconds(50))
            tickGate.release()
            #expect(try await ending.value.tasks == 1)
        }
        try await pool.shutdownGracefully()
    }

    /// Cancelling a task that awaits a group or a tick's end ends the wait
    /// with `CancellationError` while the closures still run (the tick
    /// stays open); waiting again then waits for them. The waits ignored
    /// cancellation until 2026-12-03 (helper-40's attack): a cancelled
    /// task stayed suspended until the group finished, for good on a group
    /// whose pinned closures nobody ran.
    @Test func asyncWaitsEndOnCancellation() async throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let gate = Gate()
        // Were cancellation ignored, the waits would end only with the
        // closures: let them go after 10 s, so that such a build fails here
        // instead of hanging.
        let fallback = Task.detached { try? await Task.sleep(for: .seconds(10)); gate.release() }
        defer { fallback.cancel() }
        let group = try WorkGroup(pool: pool)
        try group.submit { gate.block() }
        gate.waitEntered(1)
        let untimed = Task { try await group.wait() }
        let timed = Task { try await group.wait(timeout: .seconds(3600)) }
        try await Task.sleep(for: .milliseconds(20)) // both suspended (or about to: cancelling first works too)
        untimed.cancel()
        timed.cancel()
        await #expect(throws: CancellationError.self) { try await untimed.value }
        await #expect(throws: CancellationError.self) { _ = try await timed.value }
        let tick = try pool.beginTick()
        try tick.submit { gate.block() }
        gate.waitEntered(2)
        let ending = Task { try await tick.end() }
        try await Task.sleep(for: .milliseconds(20))
        ending.cancel()
        await #expect(throws: CancellationError.self) { _ = try await ending.value }
        #expect(!tick.hasEnded)
        gate.release() // only now do the closures end
        try await group.wait()
        #expect(try await tick.end().tasks == 1)
        try await pool.shutdownGracefully()
    }
}
