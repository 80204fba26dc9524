import LoadManager
import Sync
import Synchronization
import XCTest

/// Records what happened to each request, by name.
private final class Log: Sendable {
    let events = Mutex<[String]>([])
    func add(_ event: String) { events.withLock { $0.append(event) } }
    var all: [String] { events.withLock { $0 } }
}

final class GatewayTests: XCTestCase {
    private func gateway(limit: Int, waiting: Int) throws -> Gateway {
        var configuration = Gateway.Configuration()
        configuration.maxUpstreamPerTarget = limit
        configuration.maxWaiting = waiting
        return try Gateway(configuration: configuration)
    }

    private let far = UInt64.max / 2

    private func ask(_ gateway: Gateway, _ name: String, _ priority: Gateway.Priority, target: String = "a",
                     deadline: UInt64? = nil, log: Log) {
        gateway.acquire(target: target, priority: priority, deadline: deadline ?? far, start: { log.add("start \(name)") },
                        refuse: { log.add("refuse \(name) \($0)") })
    }

    func testSlotsPerTargetThenPriorityThenAge() throws {
        let g = try gateway(limit: 2, waiting: 10)
        let log = Log()
        ask(g, "w1", .write, log: log)
        ask(g, "w2", .write, log: log)
        ask(g, "other", .query, target: "b", log: log)  // another target has its own slots
        ask(g, "q1", .query, log: log)
        ask(g, "r1", .read, log: log)
        ask(g, "w3", .write, log: log)
        ask(g, "r2", .read, log: log)
        XCTAssertEqual(log.all, ["start w1", "start w2", "start other"])
        XCTAssertEqual(g.outstanding("a"), 2)
        XCTAssertEqual(g.snapshot.waiting, 4)
        for _ in 0..<4 { g.release(target: "a") }
        XCTAssertEqual(Array(log.all.dropFirst(3)), ["start w3", "start r1", "start r2", "start q1"])
        XCTAssertEqual(g.outstanding("a"), 2, "each release handed its slot on")
        g.release(target: "a")
        g.release(target: "a")
        XCTAssertEqual(g.outstanding("a"), 0)
        g.shutdown()
    }

    func testControlIsNeverQueued() throws {
        let g = try gateway(limit: 1, waiting: 0)
        let log = Log()
        ask(g, "w", .write, log: log)
        ask(g, "admin", .control, log: log)
        ask(g, "r", .read, log: log)
        XCTAssertEqual(log.all, ["start w", "start admin", "refuse r overloaded(retryAfterSeconds: 1)"])
        g.shutdown()
    }

    func testAFullQueueRefusesOrPushesOutTheLeastUrgent() throws {
        let g = try gateway(limit: 1, waiting: 2)
        let log = Log()
        ask(g, "busy", .write, log: log)
        ask(g, "q1", .query, log: log)
        ask(g, "q2", .query, log: log)
        ask(g, "q3", .query, log: log)  // same class as the worst: refused
        ask(g, "w", .write, log: log)   // more urgent: pushes out the newest query
        XCTAssertEqual(log.all, ["start busy", "refuse q3 overloaded(retryAfterSeconds: 1)", "refuse q2 overloaded(retryAfterSeconds: 1)"])
        g.release(target: "a")
        XCTAssertEqual(log.all.last, "start w")
        XCTAssertEqual(g.snapshot.counters.evicted, 1)
        XCTAssertEqual(g.snapshot.counters.refusedFull, 1)
        g.shutdown()
    }

    func testWaitersPastTheirDeadlineAreRefused() throws {
        let g = try gateway(limit: 1, waiting: 10)
        let log = Log()
        ask(g, "busy", .write, log: log)
        ask(g, "late", .read, deadline: monotonicNanoseconds() + 50_000_000, log: log)
        let deadline = Date().addingTimeInterval(2)
        while log.all.count < 2 && Date() < deadline { usleep(5_000) }
        XCTAssertEqual(log.all, ["start busy", "refuse late deadlineExceeded"])
        g.release(target: "a")
        XCTAssertEqual(g.outstanding("a"), 0)
        g.shutdown()
    }

    func testLeastOutstanding() throws {
        let g = try gateway(limit: 10, waiting: 10)
        let log = Log()
        ask(g, "1", .read, target: "x", log: log)
        ask(g, "2", .read, target: "x", log: log)
        ask(g, "3", .read, target: "y", log: log)
        XCTAssertEqual(g.leastOutstanding(["x", "y", "z"]), "z")
        XCTAssertEqual(g.leastOutstanding(["x", "y"]), "y")
        g.shutdown()
    }

    func testShutdownRefusesWaitersOnceAndNewcomers() throws {
        let g = try gateway(limit: 1, waiting: 10)
        let log = Log()
        ask(g, "busy", .write, log: log)
        ask(g, "w", .write, log: log)
        g.shutdown()
        ask(g, "after", .read, log: log)
        XCTAssertEqual(log.all, ["start busy", "refuse w closed", "refuse after closed"])
    }
}
