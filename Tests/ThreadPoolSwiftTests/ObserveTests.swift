import Foundation
import Synchronization
import Testing
import ThreadPoolSwift

/// Waits (bounded: a hang detector, not a timing check) until `done()` holds.
private func waitUntil(_ done: () -> Bool) {
    for _ in 0..<60_000 where !done() { usleep(500) }
}

private func temporaryPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("ctp-\(name)-\(UUID().uuidString).json").path
}

/// Stall reports, worker snapshots, task labels, thread hooks and traces.
@Suite(.serialized) struct ObserveTests {
    @Test func aLongTaskIsReportedOncePerStallWithItsLabel() async throws {
        let threshold = Duration.milliseconds(20)
        let reports = Mutex<[ThreadPool.StallReport]>([])
        let pool = try ThreadPool(configuration: .init(workers: 2, stallThreshold: threshold, onStall: { r in
            reports.withLock { $0.append(r) }
        }))
        // Each closure sleeps 10x the threshold in threshold-long steps. On
        // a loaded machine the monitor thread may not have run by then: the
        // closure then waits for its report (bounded), so that the count
        // below is about episodes, not scheduling.
        func slow(_ expected: Int) -> @Sendable () -> Int {
            {
                for _ in 0..<10 { usleep(20_000) }
                waitUntil { reports.withLock { $0.count >= expected } }
                return ThreadPool.currentWorkerIndex ?? -1
            }
        }
        // Awaited, not waited: a blocking wait could run the task on this
        // thread (helping), outside the workers the monitor watches.
        let first = try await pool.submit(label: "slow-bot", slow(1)).value
        let second = try await pool.submit(label: "slower-bot", slow(2)).value
        try await pool.shutdownGracefully() // the monitor has stopped: no report can still come
        let r = reports.withLock { $0 }
        // One report per stalled run: not one per threshold elapsed.
        #expect(r.count == 2)
        #expect(r.map(\.kind) == [.task, .task])
        #expect(r.map(\.label) == ["slow-bot", "slower-bot"])
        #expect(r.map(\.worker) == [first, second])
        #expect(r.allSatisfy { $0.elapsed >= threshold })
        #expect(r.allSatisfy { $0.queued == 0 })
    }

    @Test func queuedWorkBehindBlockedWorkersIsAQueueStall() throws {
        let reports = Mutex<[ThreadPool.StallReport]>([])
        let pool = try ThreadPool(configuration: .init(workers: 1, stallThreshold: .milliseconds(20), onStall: { r in
            reports.withLock { $0.append(r) }
        }))
        let gate = Gate()
        try pool.submit(label: "blocker") { gate.block() }
        gate.waitEntered(1)
        try pool.submit(label: "waiting") {}
        waitUntil { reports.withLock { r in r.contains { $0.kind == .queue } } }
        gate.release()
        try pool.shutdown()
        let r = reports.withLock { $0 }
        let queue = r.filter { $0.kind == .queue }
        let task = r.filter { $0.kind == .task }
        #expect(queue.count == 1)
        #expect(queue.first?.worker == nil)
        #expect(queue.first?.label == nil)
        #expect(queue.first?.queued == 1)
        #expect(task.count == 1)
        #expect(task.first?.worker == 0)
        #expect(task.first?.label == "blocker")
    }

    @Test func snapshotShowsTheLabelledTaskRunning() async throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        let gate = Gate()
        try pool.submit(label: "blocker") { gate.block() }
        gate.waitEntered(1)
        let snap = pool.snapshot()
        #expect(snap.map(\.index) == [0, 1])
        let running = snap.filter { $0.state == .running }
        #expect(running.count == 1)
        #expect(running.first?.label == "blocker")
        #expect(running.first?.runningTime == nil) // no stall threshold, no trace: tasks are not timed
        #expect(snap.allSatisfy { $0.state == .running || $0.label == nil })
        // From inside a task: its own worker runs it, with its label; so do
        // work-group closures and single-scalar labels.
        let inside = try await pool.submit(label: "x") { (ThreadPool.currentWorkerIndex, pool.snapshot()) }.value
        let me = try #require(inside.0)
        #expect(inside.1[me].state == .running)
        #expect(inside.1[me].label == "x")
        gate.release()
        // A worker shows its task running until the closure has returned and
        // the worker has recorded that (after "x"'s value and the blocker's
        // release are seen here); wait for both before the next check.
        var spins = 0
        while pool.snapshot().contains(where: { $0.state == .running }) && spins < 10_000_000 {
            spins += 1
            await Task.yield()
        }
        let group = try WorkGroup(pool: pool)
        let gate2 = Gate()
        try group.submit(label: "grouped") { gate2.block() }
        gate2.waitEntered(1)
        #expect(pool.snapshot().filter { $0.state == .running }.compactMap(\.label) == ["grouped"])
        gate2.release()
        try await group.wait()
        try await pool.shutdownGracefully()
        let after = pool.snapshot()
        #expect(after.count == 2 && after.allSatisfy { $0.state != .running })
        #expect(after.map(\.executed).reduce(0, +) == pool.stats.executed)
    }

    @Test func runningTimeWhileTheStallMonitorTimesTasks() throws {
        let pool = try ThreadPool(configuration: .init(workers: 1, stallThreshold: .seconds(3600)))
        let gate = Gate()
        try pool.submit(label: "timed") { gate.block() }
        gate.waitEntered(1)
        let w = try #require(pool.snapshot().first)
        #expect(w.state == .running && w.label == "timed")
        #expect(w.runningTime.map { $0 > .zero } == true)
        gate.release()
        try pool.shutdown()
    }

    @Test func threadHooksRunOnEveryWorkerBeforeInitAndShutdownReturn() throws {
        final class Captured: Sendable {}
        weak var captured: Captured?
        do {
            let started = Mutex<[Int]>([])
            let stopped = Mutex<[Int]>([])
            let onItsWorker = Atomic<Int>(0)
            let object = Captured()
            captured = object
            let pool = try ThreadPool(configuration: .init(workers: 3, onThreadStart: { i in
                if ThreadPool.currentWorkerIndex == i { onItsWorker.add(1, ordering: .relaxed) }
                started.withLock { $0.append(i) }
            }, onThreadStop: { i in
                withExtendedLifetime(object) {}
                if ThreadPool.currentWorkerIndex == i { onItsWorker.add(1, ordering: .relaxed) }
                stopped.withLock { $0.append(i) }
            }))
            #expect(started.withLock { $0.sorted() } == [0, 1, 2])
            #expect(stopped.withLock { $0.isEmpty })
            for _ in 0..<100 { try pool.submit {} }
            try pool.shutdown()
            #expect(stopped.withLock { $0.sorted() } == [0, 1, 2])
            #expect(started.withLock { $0.count } == 3)
            #expect(onItsWorker.load(ordering: .relaxed) == 6)
        }
        // The pool is gone: so are its closures and what they captured.
        #expect(captured == nil)
    }

    @Test func traceIsWrittenAsChromeJSON() throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        try pool.startTrace(eventsPerWorker: 4096)
        let group = try WorkGroup(pool: pool)
        for _ in 0..<100 { try group.submit(label: "traced") {} }
        try group.wait()
        let path = temporaryPath("trace")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try pool.stopTrace(to: path)
        let data = try #require(FileManager.default.contents(atPath: path))
        #expect(data.first == UInt8(ascii: "{"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let events = try #require(json["traceEvents"] as? [[String: Any]])
        let begins = events.filter { $0["ph"] as? String == "B" && $0["name"] as? String == "traced" }
        #expect(begins.count == 100)
        try pool.shutdown()
    }

    @Test func aBadTracePathThrowsAndTheTraceKeepsRunning() throws {
        let pool = try ThreadPool(configuration: .init(workers: 2))
        #expect(throws: ThreadPoolError.self) { try pool.stopTrace(to: temporaryPath("none")) } // none running
        #expect(throws: ThreadPoolError.invalidArgument("eventsPerWorker must be 1...16777216, got 0")) {
            try pool.startTrace(eventsPerWorker: 0)
        }
        try pool.startTrace()
        #expect(throws: ThreadPoolError.self) { try pool.startTrace() } // already running
        for _ in 0..<10 { try pool.submit(label: "before") {} }
        let bad = "/nonexistent-ctp-directory/\(UUID().uuidString)/trace.json"
        #expect(throws: ThreadPoolError.self) { try pool.stopTrace(to: bad) }
        let group = try WorkGroup(pool: pool)
        for _ in 0..<10 { try group.submit(label: "after") {} }
        try group.wait()
        let path = temporaryPath("good")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try pool.stopTrace(to: path)
        let text = try #require(FileManager.default.contents(atPath: path)).map { Character(UnicodeScalar($0)) }
        #expect(text.first == "{")
        #expect(String(text).contains("\"after\""))
        // Stopped: a new trace can start, and stopping twice is refused.
        #expect(throws: ThreadPoolError.self) { try pool.stopTrace(to: path) }
        try pool.startTrace(eventsPerWorker: 1)
        try pool.stopTrace(to: path)
        try pool.shutdown()
    }

    @Test func stallSettingsAreCheckedWithSwiftNames() throws {
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
        #expect(message(.init(stallThreshold: .microseconds(999)))
            == "Configuration.stallThreshold must be 0.001 seconds...3600.0 seconds, got 0.000999 seconds (nil means off)")
        #expect(message(.init(stallThreshold: .seconds(3601)))?.hasPrefix("Configuration.stallThreshold must be") == true)
        #expect(message(.init(stallThreshold: .zero))?.hasPrefix("Configuration.stallThreshold must be") == true)
        #expect(message(.init(onStall: { _ in }))
            == "Configuration.onStall is set but Configuration.stallThreshold is nil (stall detection off)")
        #expect(message(.init(workers: 1, stallThreshold: .milliseconds(1))) == nil)
        #expect(message(.init(workers: 1, stallThreshold: .seconds(3600), onStall: { _ in })) == nil)
        // Equality compares the settings and whether each closure is set.
        let a = ThreadPool.Configuration(stallThreshold: .seconds(1), onStall: { _ in })
        let b = ThreadPool.Configuration(stallThreshold: .seconds(1), onStall: { _ in print("other") })
        #expect(a == b)
        #expect(a != ThreadPool.Configuration(stallThreshold: .seconds(1)))
        #expect(a != ThreadPool.Configuration(stallThreshold: .seconds(2), onStall: { _ in }))
        #expect(ThreadPool.Configuration(onThreadStart: { _ in }) != ThreadPool.Configuration())
        // wakeElsewhere: on by default, compared, and accepted either way.
        #expect(ThreadPool.Configuration().wakeElsewhere)
        #expect(ThreadPool.Configuration(wakeElsewhere: false) != ThreadPool.Configuration())
        #expect(message(.init(workers: 2, wakeElsewhere: false)) == nil)
    }
}
