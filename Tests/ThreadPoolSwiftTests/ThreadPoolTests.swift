import CThreadPool
import Foundation
import Synchronization
import Testing
import ThreadPoolSwift

/// Counts live instances, so tests can see every captured value released once.
final class Tracker: Sendable {
    static let live = Atomic<Int>(0)
    static let ran = Atomic<Int>(0)
    init() { Tracker.live.add(1, ordering: .relaxed) }
    deinit { Tracker.live.subtract(1, ordering: .relaxed) }
    func touch() { Tracker.ran.add(1, ordering: .relaxed) }
}

struct Boom: Error, Equatable { let id: Int }

/// A gate a closure can block a worker on.
final class Gate: @unchecked Sendable {
    private let c = NSCondition()
    private var open = false
    let entered = Atomic<Int>(0)
    func block() {
        entered.add(1, ordering: .relaxed)
        c.lock(); while !open { c.wait() }; c.unlock()
    }
    func release() { c.lock(); open = true; c.broadcast(); c.unlock() }
    func waitEntered(_ n: Int) { while entered.load(ordering: .relaxed) < n { usleep(100) } }
}

/// Plain threads that run a closure each, for blocking waits from outside the pool.
final class WorkerThreads: @unchecked Sendable {
    private var threads: [Thread] = []
    private let done = NSCondition()
    private var finished = 0
    init(count: Int, _ body: @escaping @Sendable () -> Void) {
        for _ in 0..<count {
            let t = Thread { [self] in
                body()
                done.lock(); finished += 1; done.broadcast(); done.unlock()
            }
            threads.append(t)
            t.start()
        }
    }
    func join() {
        done.lock(); while finished < threads.count { done.wait() }; done.unlock()
    }
}

@Suite(.serialized) struct ThreadPoolTests {
    @Test func closuresRunExactlyOnceUnderLoad() async throws {
        let pool = try ThreadPool(configuration: .init())
        let tasks = 8, perTask = 20_000
        let counts = UnsafeMutableBufferPointer<Atomic<UInt8>>.allocate(capacity: tasks * perTask)
        for i in 0..<counts.count { (counts.baseAddress! + i).initialize(to: Atomic<UInt8>(0)) }
        defer { counts.deallocate() }
        struct Counts: @unchecked Sendable { let p: UnsafeMutableBufferPointer<Atomic<UInt8>> }
        let c = Counts(p: counts)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<tasks {
                group.addTask {
                    for i in 0..<perTask {
                        let id = t * perTask + i
                        try pool.submit(priority: ThreadPool.Priority.allCases[id % 5]) { _ = c.p[id].add(1, ordering: .relaxed) }
                    }
                }
            }
            try await group.waitForAll()
        }
        try await pool.shutdownGracefully(.drain)
        var wrong = 0
        for i in 0..<counts.count where counts[i].load(ordering: .relaxed) != 1 { wrong += 1 }
        #expect(wrong == 0)
        #expect(pool.stats.executed == UInt64(tasks * perTask))
    }

    @Test func valuesAndErrorsComeBackThroughHandles() async throws {
        let pool = try ThreadPool(configuration: .init())
        let h = try pool.submit { 6 * 7 }
        #expect(try await h.value == 42)
        let bad = try pool.submit { () throws -> Int in throw Boom(id: 7) }
        await #expect(throws: Boom(id: 7)) { try await bad.value }
        #expect(throws: Boom(id: 7)) { try bad.wait() }
        // Waiting on a worker of a one-worker pool helps instead of deadlocking.
        let one = try ThreadPool(configuration: { var c = ThreadPool.Configuration(); c.workers = 1; return c }())
        let outer = try one.submit { () throws -> Int in
            let inner = try one.submit { 5 }
            return try inner.wait() + 1
        }
        #expect(try await outer.value == 6)
        try await one.shutdownGracefully()
        try await pool.shutdownGracefully()
    }

    @Test func blockingWaitsFromManyThreads() throws {
        // Two workers busy behind a gate; eight outside threads wait on one
        // handle: they help (running the queued closures) or block until
        // it completes, with no polling.
        let pool = try ThreadPool(configuration: { var c = ThreadPool.Configuration(); c.workers = 2; return c }())
        let gate = Gate()
        let slow = try pool.submit { () -> Int in gate.block(); return 9 }
        let results = Atomic<Int>(0)
        let waiters = WorkerThreads(count: 8) { _ = results.add((try? slow.wait()) ?? -100, ordering: .relaxed) }
        gate.waitEntered(1)
        usleep(20_000)
        gate.release()
        waiters.join()
        #expect(results.load(ordering: .relaxed) == 72)
        // A worker waiting on a closure another worker runs blocks, then wakes.
        let gate2 = Gate()
        let running = try pool.submit { () -> Int in gate2.block(); return 1 }
        gate2.waitEntered(1)
        let waiting = try pool.submit { try running.wait() + 1 }
        usleep(20_000)
        gate2.release()
        #expect(try waiting.wait() == 2)
        try pool.shutdown()
    }

    @Test func awaitingAValueHonoursCancellation() async throws {
        let pool = try ThreadPool(configuration: { var c = ThreadPool.Configuration(); c.workers = 1; return c }())
        let gate = Gate()
        try pool.submit { gate.block() }
        gate.waitEntered(1)
        let queued = try pool.submit { 11 }
        let waiter = Task { try await queued.value }
        try await Task.sleep(for: .milliseconds(10))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        // Already cancelled before awaiting: throws at once too.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await queued.value
        }
        await #expect(throws: CancellationError.self) { try await early.value }
        gate.release()
        #expect(try await queued.value == 11) // the closure itself still ran
        try await pool.shutdownGracefully()
    }

    @Test func asyncCodeUnderPreferenceRunsOnWorkers() async throws {
        let pool = try ThreadPool(configuration: .init())
        let onWorker = await withTaskExecutorPreference(pool) { ctp_worker_index() >= 0 }
        #expect(onWorker)
        let t = Task(executorPreference: pool) { ThreadPool.currentWorkerIndex != nil }
        #expect(await t.value)
        // Shutting down from async code running on the pool itself: the wait
        // happens on a thread of its own, the task resumes afterwards.
        try await withTaskExecutorPreference(pool) { try await pool.shutdownGracefully() }
        #expect(throws: ThreadPoolError.shutdown) { try pool.submit {} }
    }

    /// Executor jobs take the pool's level from their Swift priority; every
    /// job ran at .normal before. Counted in executedByPriority (each task
    /// is at least one job; none runs as .critical).
    @Test func executorJobsKeepTheirTaskPriority() async throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let cases: [(TaskPriority, ThreadPool.Priority)] =
            [(.high, .high), (.medium, .normal), (.low, .low), (.background, .idle)]
        for (swift, level) in cases {
            let before = pool.stats.executedByPriority[level]
            let onWorker = await Task(executorPreference: pool, priority: swift) {
                ThreadPool.currentWorkerIndex != nil
            }.value
            #expect(onWorker)
            // A worker counts a task after its function returns, which can
            // be just after the awaiting code resumed.
            var polls = 0
            while pool.stats.executedByPriority[level] <= before && polls < 5_000 {
                try await Task.sleep(for: .milliseconds(1))
                polls += 1
            }
            #expect(pool.stats.executedByPriority[level] > before, "\(swift) did not run as \(level)")
        }
        #expect(pool.stats.executedByPriority[.critical] == 0)
        try await pool.shutdownGracefully()
    }

    @Test func taskGroupOf100kChildrenUnderPreference() async throws {
        let pool = try ThreadPool(configuration: .init())
        let (total, onWorkers) = await withTaskExecutorPreference(pool) {
            await withTaskGroup(of: Int.self) { group in
                for _ in 0..<100_000 { group.addTask { ctp_worker_index() >= 0 ? 1 : 0 } }
                var n = 0, w = 0
                for await x in group { n += 1; w += x }
                return (n, w)
            }
        }
        #expect(total == 100_000)
        #expect(onWorkers == 100_000)
        try await pool.shutdownGracefully()
    }

    @Test func cancelReleasesClosuresAndFailsHandles() async throws {
        Tracker.ran.store(0, ordering: .relaxed)
        let before = Tracker.live.load(ordering: .relaxed)
        let pool = try ThreadPool(configuration: { var c = ThreadPool.Configuration(); c.workers = 1; return c }())
        let gate = Gate()
        try pool.submit { gate.block() }
        gate.waitEntered(1)
        for _ in 0..<100 {
            let t = Tracker()
            try pool.submit { t.touch() }
        }
        let handle = try pool.submit { 1 }
        #expect(Tracker.live.load(ordering: .relaxed) == before + 100)
        async let stop: Void = pool.shutdownGracefully(.cancel)
        try await Task.sleep(for: .milliseconds(20))
        gate.release()
        try await stop
        #expect(Tracker.ran.load(ordering: .relaxed) == 0)
        for _ in 0..<10_000 where Tracker.live.load(ordering: .relaxed) != before { usleep(1000) }
        #expect(Tracker.live.load(ordering: .relaxed) == before) // all released, none leaked
        #expect(throws: ThreadPoolError.cancelled) { try handle.wait() }
        #expect(pool.stats.cancelled == 101)
    }

    @Test func invalidConfigurationsThrowWithSwiftNames() {
        func message(_ edit: (inout ThreadPool.Configuration) -> Void) -> String? {
            var c = ThreadPool.Configuration()
            edit(&c)
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
        #expect(message { $0.workers = 5000 } == "Configuration.workers must be 1...1024, got 5000 (nil means one per CPU)")
        #expect(message { $0.workers = -1 }?.hasPrefix("Configuration.workers must be 1...1024, got -1") == true)
        #expect(message { $0.queueCapacity = -3 }?.hasPrefix("Configuration.queueCapacity must be 1 or more, got -3") == true)
        #expect(message { $0.spinTime = .seconds(2) } == "Configuration.spinTime must be .zero...1.0 seconds, got 2.0 seconds")
        #expect(message { $0.backoffTime = .seconds(-1) }?.hasPrefix("Configuration.backoffTime must be .zero...60.0 seconds") == true)
        #expect(message { $0.backoffTime = .seconds(61) }?.hasPrefix("Configuration.backoffTime must be") == true)
        #expect(message { $0.stackSize = 100 }?.hasPrefix("Configuration.stackSize must be at least 65536 (64 KiB), got 100") == true)
        #expect(message { $0.wakeFanout = -1 }?.hasPrefix("Configuration.wakeFanout must be 1...4294967295, got -1") == true)
        #expect(message { $0.wakeFanout = Int(UInt32.max) + 1 }?.hasPrefix("Configuration.wakeFanout must be") == true)
        // 0, which the C runtime reads as "default", is refused when set
        // explicitly: nil is how to ask for the default.
        #expect(message { $0.workers = 0 }?.hasPrefix("Configuration.workers must be 1...1024, got 0") == true)
        #expect(message { $0.queueCapacity = 0 }?.hasPrefix("Configuration.queueCapacity must be 1 or more, got 0") == true)
        #expect(message { $0.wakeFanout = 0 }?.hasPrefix("Configuration.wakeFanout must be 1...4294967295, got 0") == true)
        #expect(message { $0.stackSize = 0 }?.hasPrefix("Configuration.stackSize must be at least 65536") == true)
        // The C topology parser's message, with the Swift property's name.
        let topology = message { $0.topology = "0-3;3-4" }
        #expect(topology?.hasPrefix("Configuration.topology: ") == true)
        #expect(topology?.contains("listed twice") == true)
        // The edges of each range are accepted; so is .zero for the times.
        #expect(message {
            $0.workers = 1; $0.queueCapacity = 1; $0.spinTime = .zero; $0.backoffTime = .seconds(60)
            $0.wakeFanout = Int(UInt32.max); $0.stackSize = 64 << 10
        } == nil)
        #expect(message { $0.spinTime = .seconds(1); $0.backoffTime = .zero; $0.wakeFanout = 1 } == nil)
    }

    @Test func configurationValuesReachThePool() async throws {
        // nil workers: one per CPU (there is at least one).
        let defaults = try ThreadPool(configuration: .init())
        #expect(defaults.stats.workers >= 1)
        try await defaults.shutdownGracefully()
        // An explicit worker count and queue capacity are what the pool uses.
        let pool = try ThreadPool(configuration: .init(workers: 3, queueCapacity: 2, stackSize: 256 << 10, name: "cfgtest"))
        #expect(pool.stats.workers == 3)
        let gates = (0..<3).map { _ in Gate() }
        for g in gates { // one at a time, so that the queue never holds two of them
            try pool.submit { g.block() }
            g.waitEntered(1)
        }
        // Every worker busy: two more fit in the queue, the third is refused.
        try pool.submit {}
        try pool.submit {}
        #expect(throws: ThreadPoolError.queueFull) { try pool.submit {} }
        for g in gates { g.release() }
        try await pool.shutdownGracefully()
        // Unbounded by default: far more than any small capacity is accepted.
        let one = try ThreadPool(configuration: .init(workers: 1))
        let gate = Gate()
        try one.submit { gate.block() }
        gate.waitEntered(1)
        for _ in 0..<1000 { try one.submit {} }
        gate.release()
        try await one.shutdownGracefully()
        #expect(one.stats.executed == 1001)
    }

    @Test func executedCountsIndexedByPriority() async throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        for _ in 0..<30 { try pool.submit(priority: .high) {} }
        for _ in 0..<7 { try pool.submit(priority: .idle) {} }
        for _ in 0..<2 { try pool.submit(priority: .critical) {} }
        try await pool.shutdownGracefully()
        let counts = pool.stats.executedByPriority
        #expect(counts[.critical] == 2)
        #expect(counts[.high] == 30)
        #expect(counts[.normal] == 0)
        #expect(counts[.low] == 0)
        #expect(counts[.idle] == 7)
        #expect(counts.total == 39)
        #expect(counts.total == pool.stats.executed)
        var edited = ThreadPool.PriorityCounts()
        #expect(edited.total == 0)
        edited[.low] = 5
        #expect(edited[.low] == 5 && edited[.normal] == 0)
        #expect(edited != counts)
    }

    @Test func refusedExecutorJobsShareOneRescueThread() async throws {
        let pool = try ThreadPool(configuration: .init(workers: 1))
        try await pool.shutdownGracefully()
        // Every job enqueued now is refused (the pool is shut down). Each task
        // below is one job: it records its thread and how many rescued jobs
        // run at once (they overlap if each gets a thread of its own).
        let n = 200
        let threads = Mutex<Set<UInt>>([])
        let running = Atomic<Int>(0)
        let mostAtOnce = Atomic<Int>(0)
        let caller = startRefusedTasks(n, on: pool) {
            let now = running.add(1, ordering: .relaxed).newValue
            _ = mostAtOnce.max(now, ordering: .relaxed)
            threads.withLock { _ = $0.insert(UInt(bitPattern: Int(bitPattern: pthread_self()))) }
            usleep(200)
            running.subtract(1, ordering: .relaxed)
            return 1
        }
        var ran = 0
        for t in caller.tasks { ran += await t.value }
        #expect(ran == n) // all of them ran
        let used = threads.withLock { $0 }
        #expect(used.count == 1) // on one extra thread...
        #expect(!used.contains(caller.thread)) // ... not the enqueuing thread
        #expect(mostAtOnce.load(ordering: .relaxed) == 1)
        // A later refusal reuses the same thread.
        let again = Task(executorPreference: pool) { UInt(bitPattern: Int(bitPattern: pthread_self())) }
        #expect(await again.value == used.first)
    }

    @Test func executorJobsDroppedByCancellingShutdownStillRun() async throws {
        let pool = try ThreadPool(configuration: .init(workers: 1))
        let gate = Gate()
        try pool.submit { gate.block() }
        gate.waitEntered(1)
        // Queued behind the gate, then dropped by the cancelling shutdown:
        // they run on the rescue thread instead.
        let tasks = (0..<50).map { i in Task(executorPreference: pool) { i } }
        async let stop: Void = pool.shutdownGracefully(.cancel)
        try await Task.sleep(for: .milliseconds(20))
        gate.release()
        try await stop
        var sum = 0
        for t in tasks { sum += await t.value }
        #expect(sum == 49 * 50 / 2)
        #expect(pool.stats.cancelled >= 1)
    }

    @Test func shutdownModesAndAfterwards() async throws {
        let pool = try ThreadPool(configuration: .init())
        let ran = Atomic<Int>(0)
        for _ in 0..<1000 { try pool.submit { _ = ran.add(1, ordering: .relaxed) } }
        try await pool.shutdownGracefully(.drain)
        #expect(ran.load(ordering: .relaxed) == 1000)
        #expect(throws: ThreadPoolError.shutdown) { try pool.submit {} }
        #expect(throws: ThreadPoolError.shutdown) { _ = try pool.submit { 1 } }
        #expect(throws: ThreadPoolError.shutdown) { _ = try WorkGroup(pool: pool) }
        try await pool.shutdownGracefully(.cancel) // already stopped: fine
    }

    @Test func noBoxedClosureLeaks() throws {
        let before = Tracker.live.load(ordering: .relaxed)
        do {
            let pool = try ThreadPool(configuration: .init())
            var handles: [TaskHandle<Int>] = []
            for i in 0..<1000 {
                let t = Tracker()
                try pool.submit { t.touch() }
                handles.append(try pool.submit { t.touch(); return i })
            }
            for (i, h) in handles.enumerated() { #expect(try h.wait() == i) }
            try pool.shutdown()
        }
        // A handle completes before the worker drops the closure that completed
        // it, so the last releases may trail by a moment: wait for them
        // (bounded; a leak never gets there).
        for _ in 0..<10_000 where Tracker.live.load(ordering: .relaxed) != before { usleep(1000) }
        #expect(Tracker.live.load(ordering: .relaxed) == before)
    }

    @Test func workGroupParallelForAndConcurrentMap() throws {
        let pool = try ThreadPool(configuration: .init())
        let group = try WorkGroup(pool: pool)
        let n = Atomic<Int>(0)
        for _ in 0..<500 { try group.submit { _ = n.add(1, ordering: .relaxed) } }
        try group.wait()
        #expect(n.load(ordering: .relaxed) == 500)
        let gate = Gate()
        try group.submit { gate.block() }
        gate.waitEntered(1)
        #expect(try group.wait(timeout: .milliseconds(10)) == false)
        gate.release()
        #expect(try group.wait(timeout: .seconds(30)))
        // Throwing closures: all run, the first error comes back once.
        for i in 0..<100 { try group.submit { _ = n.add(1, ordering: .relaxed); if i == 42 { throw Boom(id: i) } } }
        #expect(throws: Boom(id: 42)) { try group.wait() }
        #expect(n.load(ordering: .relaxed) == 600)
        try group.wait() // forgotten once rethrown

        let hits = UnsafeMutableBufferPointer<Atomic<Int>>.allocate(capacity: 1000)
        for i in 0..<1000 { (hits.baseAddress! + i).initialize(to: Atomic<Int>(0)) }
        defer { hits.deallocate() }
        struct Hits: @unchecked Sendable { let p: UnsafeMutableBufferPointer<Atomic<Int>> }
        let h = Hits(p: hits)
        try pool.parallelFor(100..<900, grain: 7) { r in for i in r { _ = h.p[i].add(1, ordering: .relaxed) } }
        for i in 0..<1000 { #expect(hits[i].load(ordering: .relaxed) == (i >= 100 && i < 900 ? 1 : 0)) }

        // A range wider than Int.max has no Int count: split by its span
        // (it used to trap on range.count). Chunks cover it, in order, once.
        let chunks = Mutex<[Range<Int>]>([])
        try pool.parallelFor(Int.min..<Int.max, grain: Int.max / 4) { r in chunks.withLock { $0.append(r) } }
        let sorted = chunks.withLock { $0 }.sorted { $0.lowerBound < $1.lowerBound }
        #expect(sorted.first?.lowerBound == Int.min)
        #expect(sorted.last?.upperBound == Int.max)
        #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(sorted.count >= 8)

        // Negative timeouts, sub-second ones too, mean "do not wait" (a
        // sub-second negative Duration used to trap converting to UInt64).
        let held = Gate()
        let slow = try WorkGroup(pool: pool)
        try slow.submit { held.block() }
        #expect(try slow.wait(timeout: .nanoseconds(-5)) == false)
        #expect(try slow.wait(timeout: .milliseconds(-1)) == false)
        #expect(try slow.wait(timeout: .seconds(-2)) == false)
        // A timeout of about 584 years, whose fraction of a second takes the
        // nanoseconds past 2^64: it saturates (it wrapped to 0.8 s, and the
        // wait returned false at once).
        let huge = Atomic<Int>(0) // 0: still waiting; 1: true; 2: false
        Thread.detachNewThread {
            let done = (try? slow.wait(timeout: .seconds(18_446_744_073) + .milliseconds(800))) ?? false
            huge.store(done ? 1 : 2, ordering: .releasing)
        }
        usleep(100_000)
        #expect(huge.load(ordering: .acquiring) == 0)
        held.release()
        while huge.load(ordering: .acquiring) == 0 { usleep(200) }
        #expect(huge.load(ordering: .acquiring) == 1)
        try slow.wait()

        let squares = try pool.concurrentMap(Array(0..<10_000)) { $0 * $0 }
        #expect(squares == (0..<10_000).map { $0 * $0 })
        #expect(throws: Boom(id: 3)) {
            _ = try pool.concurrentMap(Array(0..<100)) { x -> Int in if x == 3 { throw Boom(id: 3) }; return x }
        }
        try pool.shutdown()
    }

    @Test func workGroupAwaitedFromAsyncCode() async throws {
        let pool = try ThreadPool(configuration: { var c = ThreadPool.Configuration(); c.workers = 2; return c }())
        let group = try WorkGroup(pool: pool)
        let n = Atomic<Int>(0)
        for _ in 0..<500 { try group.submit { _ = n.add(1, ordering: .relaxed) } }
        try await group.wait()
        #expect(n.load(ordering: .relaxed) == 500)
        let gate = Gate()
        try group.submit { gate.block() }
        gate.waitEntered(1)
        #expect(try await group.wait(timeout: .milliseconds(10)) == false)
        gate.release()
        #expect(try await group.wait(timeout: .seconds(30)))
        try group.submit { throw Boom(id: 1) }
        await #expect(throws: Boom(id: 1)) { try await group.wait() }
        // The async twins of parallelFor and concurrentMap.
        let sum = Atomic<Int>(0)
        try await pool.parallelFor(0..<1000, grain: 10) { r in for i in r { _ = sum.add(i, ordering: .relaxed) } }
        #expect(sum.load(ordering: .relaxed) == 499_500)
        #expect(try await pool.concurrentMap(Array(0..<100)) { $0 + 1 } == Array(1...100))
        await #expect(throws: Boom(id: 5)) {
            _ = try await pool.concurrentMap(Array(0..<10)) { x -> Int in if x == 5 { throw Boom(id: 5) }; return x }
        }
        try await pool.shutdownGracefully()
        try await group.wait() // the pool stopped: a thread of its own waits
    }

    @Test func asyncGroupWaitHoldsNoWorker() async throws {
        // Two workers. The group's one closure blocks one of them on a
        // semaphore; a second closure, submitted to the pool on its own,
        // signals it and then stays on the other worker until the awaiting
        // task has returned (at most 10 s). A wait that needs a worker to
        // return (the old one ran ctp_group_wait as a pool task) could only
        // return after that closure gave up; one resumed by the group's
        // completion notification returns while it still waits.
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let group = try WorkGroup(pool: pool)
        let semaphore = DispatchSemaphore(value: 0)
        final class Flags: Sendable {
            let entered = Atomic<Bool>(false)
            let returned = Atomic<Bool>(false)
        }
        let flags = Flags()
        try group.submit {
            flags.entered.store(true, ordering: .releasing)
            semaphore.wait()
        }
        while !flags.entered.load(ordering: .acquiring) { usleep(100) }
        let waiter = Task {
            try await group.wait()
            flags.returned.store(true, ordering: .releasing)
        }
        try await Task.sleep(for: .milliseconds(20)) // the wait suspends (or, if it ran on a worker, starts)
        let signaller = try pool.submit { () -> Bool in
            semaphore.signal()
            let clock = ContinuousClock(), until = clock.now + .seconds(10)
            while !flags.returned.load(ordering: .acquiring) && clock.now < until { usleep(200) }
            return flags.returned.load(ordering: .acquiring)
        }
        try await waiter.value
        #expect(try await signaller.value, "the group's awaiter returned only after the signalling closure gave up its worker")
        try await pool.shutdownGracefully()
    }

    @Test func asyncGroupWaitsOverRoundsWithTimeouts() async throws {
        // One group reused for many rounds. A second task keeps timing out
        // on it, leaving notifications registered that fire at the end of
        // a round. Every other round ends in a poll, so the next round
        // starts (and its waiter joins) while the last one's notification
        // may still be on its way to resume its waiters: a waiter must never
        // return before its own round's closures all ran.
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let group = try WorkGroup(pool: pool)
        final class Counts: Sendable {
            let ran = Atomic<Int>(0)
            let done = Atomic<Bool>(false)
        }
        let counts = Counts()
        let pollers = (0..<3).map { _ in
            Task {
                while !counts.done.load(ordering: .relaxed) {
                    // A finished group returns without suspending: yield,
                    // or the pollers keep the test's own task off its threads.
                    if try await group.wait(timeout: .microseconds(20)) { await Task.yield() }
                }
            }
        }
        var early = 0
        for round in 1...2000 {
            for _ in 0..<3 { try group.submit { _ = counts.ran.add(1, ordering: .relaxed) } }
            switch round % 3 {
            case 0: while try await !group.wait(timeout: .zero) { await Task.yield() }
            case 1: try await group.wait()
            default: #expect(try await group.wait(timeout: .seconds(30)))
            }
            if counts.ran.load(ordering: .relaxed) != round * 3 { early += 1 }
        }
        counts.done.store(true, ordering: .relaxed)
        for p in pollers { try await p.value }
        #expect(early == 0, "a wait returned before its round's closures all ran")
        // A timed-out wait does not end the others, nor keep later rounds
        // from being awaited; errors still come back once.
        let gate = Gate()
        try group.submit { gate.block() }
        gate.waitEntered(1)
        let untimed = Task { try await group.wait() }
        #expect(try await group.wait(timeout: .milliseconds(20)) == false)
        gate.release()
        try await untimed.value
        try group.submit { throw Boom(id: 7) }
        await #expect(throws: Boom(id: 7)) { try await group.wait() }
        try await group.wait()
        try await pool.shutdownGracefully()
    }

    @Test func releasingNeverBlocks() throws {
        let pool = try ThreadPool(configuration: { var c = ThreadPool.Configuration(); c.workers = 1; return c }())
        let gate = Gate()
        let ran = Atomic<Int>(0)
        do {
            // Released with a closure blocked and one queued: deinit returns at once.
            let group = try WorkGroup(pool: pool)
            try group.submit { gate.block() }
            try group.submit { _ = ran.add(1, ordering: .relaxed) }
            gate.waitEntered(1)
        }
        gate.release()
        // A group released inside its own closure (the closure held the last
        // reference) is freed later too.
        let gate2 = Gate()
        do {
            let g = try WorkGroup(pool: pool)
            try g.submit { [g] in gate2.block(); _ = g; _ = ran.add(1, ordering: .relaxed) }
        }
        gate2.waitEntered(1)
        gate2.release()
        _ = try WorkGroup(pool: pool) // frees the finished ones
        // Shutting down from one of the pool's own tasks would wait for itself.
        let inside = try pool.submit { () -> Bool in
            do { try pool.shutdown(timeout: .seconds(1)); return false } catch ThreadPoolError.deadlock { return true }
        }
        #expect(try inside.wait())
        try pool.shutdown()
        #expect(ran.load(ordering: .relaxed) == 2)
    }

    @Test func nodeHelpersOnASimulatedTopology() async throws {
        var c = ThreadPool.Configuration()
        c.topology = "0;1"
        c.workers = 2
        let pool = try ThreadPool(configuration: c)
        #expect(pool.nodeCount == 2)
        #expect(pool.node(ofWorker: 0) == 0)
        #expect(pool.node(ofWorker: 1) == 1)
        #expect(pool.node(ofWorker: 2) == nil)
        let h = try pool.submit(node: 1) { ThreadPool.currentNode }
        #expect(try await h.value != nil) // awaited, not waited: a worker ran it
        #expect(throws: ThreadPoolError.self) { try pool.submit(node: 5) {} }
        #expect(pool.nodeStats(1) != nil)
        #expect(pool.nodeStats(9) == nil)
        try await pool.shutdownGracefully()
    }
}

/// Starts `n` tasks preferring `pool` from a synchronous function (so the
/// enqueues happen on one known thread), each running `body` once.
func startRefusedTasks(_ n: Int, on pool: ThreadPool, _ body: @escaping @Sendable () -> Int)
    -> (tasks: [Task<Int, Never>], thread: UInt) {
    let thread = UInt(bitPattern: Int(bitPattern: pthread_self()))
    let tasks = (0..<n).map { _ in Task(executorPreference: pool) { body() } }
    return (tasks, thread)
}
