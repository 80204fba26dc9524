import Digest
import Foundation
import JSON
import LoadManager
import XCTest

final class HookSenderTests: XCTestCase {
    let secret = "hook-secret-3f1a"
    var directory: String!
    var senders: [HookSender] = []
    var servers: [HookServer] = []

    override func setUpWithError() throws { directory = try temporaryDirectory("hook") }

    override func tearDown() {
        for sender in senders { sender.stop() }
        for server in servers { server.close() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func outbox(maxPending: Int = 1000, maxHistory: Int = 500) throws -> Outbox {
        try Outbox(path: directory + "/hook.sqlite", maxPending: maxPending, maxHistory: maxHistory, logger: quietLogger)
    }

    private func server(_ receiver: HookReceiver = HookReceiver(), port: UInt16 = 0) throws -> HookServer {
        let server = try HookServer(receiver: receiver, port: port)
        servers.append(server)
        return server
    }

    private func sender(_ outbox: Outbox, url: String, configuration: HookConfiguration = fastHookConfiguration()) throws -> HookSender {
        let sender = try HookSender(outbox: outbox, url: url, secret: secret, configuration: configuration, logger: quietLogger)
        senders.append(sender)
        return sender
    }

    @discardableResult
    private func enqueue(_ outbox: Outbox, _ kind: String = "add_node") throws -> Outbox.Recommendation {
        try outbox.enqueue(kind: kind, reason: "test", stage: "Mach III", stageNumber: 3,
                           target: .object([("join_url", .string("http://127.0.0.1:7001"))]),
                           evidence: .object([("p99_ms", .int(4200))]), source: "n1")
    }

    // MARK: Backoff (pure)

    func testBackoffDoublesUpToTheCap() {
        var configuration = HookConfiguration()
        configuration.jitter = 0
        let delays = (0...10).map { HookSender.backoffMilliseconds(failures: $0, configuration: configuration, unit: 0.5) }
        XCTAssertEqual(delays, [0, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000])
        XCTAssertEqual(HookSender.backoffMilliseconds(failures: 10_000, configuration: configuration, unit: 0.5), 60_000)
    }

    func testBackoffJitterStaysInItsBand() {
        let configuration = HookConfiguration()  // jitter 20 %
        let table: [(failures: Int, unit: Double, expected: Int64)] = [
            (1, 0.0, 400), (1, 0.5, 500), (1, 0.999_999, 600),
            (3, 0.0, 1_600), (3, 1.0, 2_400),
            (20, 0.0, 48_000), (20, 1.0, 60_000),  // never above the cap
            (1, -5, 400), (1, 7, 600),  // unit is clamped to [0, 1]
        ]
        for row in table {
            XCTAssertEqual(HookSender.backoffMilliseconds(failures: row.failures, configuration: configuration, unit: row.unit),
                           row.expected, "\(row)")
        }
        for _ in 0..<1000 {
            let delay = HookSender.backoffMilliseconds(failures: 2, configuration: configuration, unit: Double.random(in: 0..<1))
            XCTAssertTrue((800...1_200).contains(delay), "\(delay)")
        }
    }

    func testConfigurationIsValidated() throws {
        var configuration = HookConfiguration()
        XCTAssertNoThrow(try configuration.validate())
        configuration.maxBackoffMilliseconds = configuration.initialBackoffMilliseconds - 1
        XCTAssertThrowsError(try configuration.validate())
        configuration = HookConfiguration()
        configuration.jitter = 1.5
        XCTAssertThrowsError(try configuration.validate())
        XCTAssertThrowsError(try HookSender(outbox: try outbox(), url: "ftp://x", secret: secret, logger: quietLogger))
    }

    // MARK: Delivery

    func testSignedDeliveriesInSeqOrder() throws {
        let receiver = try server()
        let box = try outbox()
        let queued = try (0..<5).map { _ in try enqueue(box) }
        let hook = try sender(box, url: receiver.url)
        hook.start()
        XCTAssertTrue(eventually { receiver.receiver.accepted.count == 5 })
        let later = try enqueue(box, "remove_node")
        hook.wake()
        XCTAssertTrue(eventually { receiver.receiver.accepted.count == 6 })

        let deliveries = receiver.receiver.accepted
        XCTAssertEqual(deliveries.map(\.seq), ["1", "2", "3", "4", "5", "6"])
        XCTAssertEqual(deliveries.map(\.deliveryID), (queued + [later]).map(\.id))
        for (delivery, recommendation) in zip(deliveries, queued + [later]) {
            XCTAssertEqual(delivery.body, recommendation.body)
            XCTAssertEqual(delivery.contentType, "application/json")
            XCTAssertTrue(SignatureHeader.verify(delivery.signature, secret: secret, body: delivery.body))
            XCTAssertFalse(SignatureHeader.verify(delivery.signature, secret: "wrong", body: delivery.body))
            XCTAssertEqual(try JSON.parse(delivery.body)["id"]?.stringValue, delivery.deliveryID)
        }
        XCTAssertTrue(eventually { (try? box.stats().delivered) == 6 })
        let status = hook.status
        XCTAssertEqual(status.pending, 0)
        XCTAssertEqual(status.delivered, 6)
        XCTAssertNil(status.lastError)
        XCTAssertNil(status.nextAttemptInMilliseconds)
        XCTAssertTrue(status.running)
    }

    func testFailuresAreRetriedWithGrowingGapsAndTheHeadBlocksTheRest() throws {
        let receiver = try server(HookReceiver(script: [500, 500, 500, 200]))
        let box = try outbox()
        let first = try enqueue(box)
        let second = try enqueue(box)
        let hook = try sender(box, url: receiver.url, configuration: fastHookConfiguration(initial: 80, max: 2_000))
        hook.start()
        XCTAssertTrue(eventually { receiver.receiver.accepted.count == 2 })

        let deliveries = receiver.receiver.deliveries
        XCTAssertEqual(deliveries.map(\.status), [500, 500, 500, 200, 200])
        XCTAssertEqual(deliveries.map(\.deliveryID), [first.id, first.id, first.id, first.id, second.id],
                       "the second waits until the first is delivered")
        XCTAssertEqual(Set(deliveries.prefix(4).map(\.body)), [first.body], "retries resend identical bytes")
        XCTAssertEqual(Set(deliveries.prefix(4).map(\.signature)).count, 1)
        let gaps = zip(deliveries.dropFirst(), deliveries).prefix(3).map { Double($0.receivedAt - $1.receivedAt) / 1e6 }
        XCTAssertGreaterThanOrEqual(gaps[0], 75, "\(gaps)")
        XCTAssertGreaterThanOrEqual(gaps[1], 155, "\(gaps)")
        XCTAssertGreaterThanOrEqual(gaps[2], 315, "\(gaps)")
        XCTAssertLessThan(gaps[0], gaps[2])  // (the lower bounds above already show the doubling)

        XCTAssertTrue(eventually { (try? box.stats().delivered) == 2 })
        let history = try box.history()
        XCTAssertEqual(history.first { $0.seq == first.seq }?.attempts, 4)
        XCTAssertEqual(history.first { $0.seq == first.seq }?.lastError, #"HTTP 500: {"ok":true}"#)
        XCTAssertEqual(try box.stats().attempts, 5)
    }

    func testStatusReportsTheFailureAndTheNextAttempt() throws {
        let box = try outbox()
        try enqueue(box)
        let hook = try sender(box, url: "http://127.0.0.1:\(try HookServer.deadPort())/hook",
                              configuration: fastHookConfiguration(initial: 5_000, max: 60_000))
        hook.start()
        XCTAssertTrue(eventually { hook.status.lastError != nil })
        let status = hook.status
        XCTAssertEqual(status.pending, 1)
        XCTAssertEqual(status.headSeq, 1)
        XCTAssertEqual(status.headAttempts, 1)
        XCTAssertGreaterThan(status.nextAttemptInMilliseconds ?? 0, 3_000)
        XCTAssertEqual(status.json["pending"]?.intValue, 1)
        XCTAssertTrue(hook.stop())
        XCTAssertFalse(hook.status.running)
    }

    func testReceiverDownThenUpLosesNothing() throws {
        let port = try HookServer.deadPort()
        let box = try outbox()
        let queued = try (0..<3).map { _ in try enqueue(box) }
        let hook = try sender(box, url: "http://127.0.0.1:\(port)/hook", configuration: fastHookConfiguration(initial: 30, max: 200))
        hook.start()
        XCTAssertTrue(eventually { (try? box.stats().attempts) ?? 0 >= 4 }, "attempts while the receiver is down")
        XCTAssertEqual(try box.stats().pending, 3)
        XCTAssertEqual(try box.head()?.seq, 1)

        let receiver = try server(port: port)
        XCTAssertTrue(eventually { receiver.receiver.accepted.count == 3 })
        XCTAssertEqual(receiver.receiver.accepted.map(\.deliveryID), queued.map(\.id))
        XCTAssertEqual(receiver.receiver.accepted.map(\.body), queued.map(\.body))
        XCTAssertTrue(eventually { (try? box.stats().pending) == 0 })
    }

    func testRestartDeliversPendingWithTheSameIdAndBytes() throws {
        let deadURL = "http://127.0.0.1:\(try HookServer.deadPort())/hook"
        var box: Outbox? = try outbox()
        let queued = try (0..<3).map { _ in try enqueue(box!) }
        var hook: HookSender? = try sender(box!, url: deadURL, configuration: fastHookConfiguration(initial: 30, max: 100))
        hook!.start()
        XCTAssertTrue(eventually { (try? box!.head()?.attempts) ?? 0 >= 2 })
        XCTAssertTrue(hook!.stop())
        senders.removeAll()
        let attemptsBefore = try XCTUnwrap(try box!.head()).attempts
        hook = nil
        box = nil  // the "crash": nothing but the file remains

        let reopened = try outbox()
        let pending = try reopened.pending()
        XCTAssertEqual(pending.map(\.id), queued.map(\.id))
        XCTAssertEqual(pending.map(\.body), queued.map(\.body))
        XCTAssertEqual(pending[0].attempts, attemptsBefore, "attempts survive the restart")
        XCTAssertGreaterThan(pending[0].nextAttemptAt, 0, "so does the schedule")

        let receiver = try server()
        let restarted = try sender(reopened, url: receiver.url, configuration: fastHookConfiguration(initial: 30, max: 100))
        restarted.start()
        XCTAssertTrue(eventually { receiver.receiver.accepted.count == 3 })
        let deliveries = receiver.receiver.accepted
        XCTAssertEqual(deliveries.map(\.deliveryID), queued.map(\.id))
        XCTAssertEqual(deliveries.map(\.body), queued.map(\.body))
        XCTAssertEqual(deliveries.map(\.signature), queued.map { SignatureHeader.value(secret: secret, body: $0.body) })
        let next = try enqueue(reopened)
        restarted.wake()
        XCTAssertEqual(next.seq, 4)
        XCTAssertTrue(eventually { receiver.receiver.accepted.count == 4 })
    }

    func testBoundWhileUndeliverable() throws {
        let maxPending = 25
        let box = try outbox(maxPending: maxPending)
        let hook = try sender(box, url: "http://127.0.0.1:\(try HookServer.deadPort())/hook")
        hook.start()
        for _ in 0..<(maxPending + 10) {
            try enqueue(box)
            hook.wake()
        }
        let stats = try box.stats()
        XCTAssertEqual(stats.pending, maxPending)
        XCTAssertEqual(stats.dropped, 10)
        XCTAssertEqual(try box.pending(limit: 1000).map(\.seq), Array(11...Int64(maxPending + 10)))
        XCTAssertEqual(hook.status.dropped, 10)
    }

    func testHistoryIsTrimmedAfterDelivery() throws {
        let receiver = try server()
        let box = try outbox(maxHistory: 5)
        let hook = try sender(box, url: receiver.url)
        hook.start()
        for _ in 0..<12 {
            try enqueue(box)
            hook.wake()
        }
        XCTAssertTrue(eventually { (try? box.stats().delivered) == 12 })
        XCTAssertEqual(try box.history(limit: 100).map(\.seq), [12, 11, 10, 9, 8])
        XCTAssertEqual(receiver.receiver.accepted.map(\.seq), (1...12).map { String($0) })
    }
}
