import Foundation
import JSON
import LoadManager
import XCTest

final class OutboxTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws { directory = try temporaryDirectory("outbox") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func open(maxPending: Int = 1000, maxHistory: Int = 500) throws -> Outbox {
        try Outbox(path: directory + "/hook.sqlite", maxPending: maxPending, maxHistory: maxHistory, logger: quietLogger)
    }

    @discardableResult
    private func enqueue(_ outbox: Outbox, kind: String = "add_node", node: String = "n9", now: Int64 = 1_700_000_000_000) throws -> Outbox.Recommendation {
        try outbox.enqueue(kind: kind, reason: "average response time 3.4 s over 60 min", stage: "Mach III", stageNumber: 3,
                           target: .object([("level", .int(1)), ("join_url", .string("http://127.0.0.1:7001")), ("node", .string(node))]),
                           evidence: .object([("avg_ms", .double(3400.5)), ("window_s", .int(3600))]), source: "n1", now: now)
    }

    func testEnqueueAssignsSeqIdAndTheBody() throws {
        let outbox = try open()
        let first = try enqueue(outbox)
        let second = try enqueue(outbox, kind: "remove_node")
        XCTAssertEqual(first.seq, 1)
        XCTAssertEqual(second.seq, 2)
        XCTAssertNotNil(first.id.range(of: #"^rec-n1-1-[0-9a-f]{8}$"#, options: .regularExpression), first.id)
        XCTAssertNotEqual(first.id, second.id)

        let body = try JSON.parse(first.body)
        XCTAssertEqual(body.members.map(\.key),
                       ["id", "seq", "kind", "reason", "stage", "stage_number", "target", "evidence", "created_at", "source"])
        XCTAssertEqual(body["id"]?.stringValue, first.id)
        XCTAssertEqual(body["seq"]?.intValue, 1)
        XCTAssertEqual(body["kind"]?.stringValue, "add_node")
        XCTAssertEqual(body["stage"]?.stringValue, "Mach III")
        XCTAssertEqual(body["stage_number"]?.intValue, 3)
        XCTAssertEqual(body["target"]?["join_url"]?.stringValue, "http://127.0.0.1:7001")
        XCTAssertEqual(body["evidence"]?["avg_ms"]?.doubleValue, 3400.5)
        XCTAssertEqual(body["created_at"]?.intValue, 1_700_000_000_000)
        XCTAssertEqual(body["source"]?.stringValue, "n1")

        let pending = try outbox.pending()
        XCTAssertEqual(pending.map(\.seq), [1, 2])
        XCTAssertEqual(pending[0].body, first.body)  // stored byte for byte
        XCTAssertEqual(try outbox.stats(), Outbox.Stats(pending: 2, delivered: 0, dropped: 0, attempts: 0, lastSeq: 2))
    }

    /// A surge is informational and carries its episode between the evidence and `created_at`.
    func testSurgeCarriesItsEpisode() throws {
        let outbox = try open()
        let episode = JSON.object([
            ("started_at", .int(1_699_999_990_000)), ("ended_at", .int(1_699_999_997_000)), ("duration_seconds", .int(7)),
        ])
        let surge = try outbox.enqueue(kind: "surge", reason: "Surge: ...", stage: "Mach I", stageNumber: 1, target: .object([]),
                                       evidence: .object([("duration_seconds", .double(7))]), episode: episode, source: "n1",
                                       now: 1_700_000_000_000)
        let body = try JSON.parse(surge.body)
        XCTAssertEqual(body.members.map(\.key),
                       ["id", "seq", "kind", "reason", "stage", "stage_number", "target", "evidence", "episode", "created_at", "source"])
        XCTAssertEqual(body["kind"]?.stringValue, "surge")
        XCTAssertEqual(body["episode"], episode)
        XCTAssertEqual(body["target"]?.count, 0)
    }

    func testUnknownKindIsRefusedAndNothingStored() throws {
        let outbox = try open()
        XCTAssertThrowsError(try enqueue(outbox, kind: "reboot_everything")) { error in
            guard case OutboxError.unknownKind("reboot_everything") = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try outbox.stats().lastSeq, 0)
    }

    func testInvalidConfigurationIsRefused() {
        XCTAssertThrowsError(try Outbox(path: directory + "/x.sqlite", maxPending: 0, logger: quietLogger))
        XCTAssertThrowsError(try Outbox(path: "", logger: quietLogger))
    }

    func testFullOutboxDropsTheOldestUndelivered() throws {
        let outbox = try open(maxPending: 10)
        for _ in 0..<20 { try enqueue(outbox) }
        let pending = try outbox.pending(limit: 100)
        XCTAssertEqual(pending.map(\.seq), Array(11...20))
        let stats = try outbox.stats()
        XCTAssertEqual(stats.pending, 10)
        XCTAssertEqual(stats.dropped, 10)
        XCTAssertEqual(stats.lastSeq, 20)
    }

    func testDeliveredHistoryIsTrimmedNewestFirst() throws {
        let outbox = try open(maxHistory: 3)
        for _ in 0..<6 { try enqueue(outbox) }
        for seq in 1...5 { XCTAssertTrue(try outbox.markDelivered(seq: Int64(seq), at: 1_700_000_001_000 + Int64(seq))) }
        XCTAssertFalse(try outbox.markDelivered(seq: 5), "delivered twice")
        XCTAssertFalse(try outbox.markDelivered(seq: 99), "unknown seq")

        let history = try outbox.history(limit: 100)
        XCTAssertEqual(history.map(\.seq), [6, 5, 4, 3])  // the pending one and the last three delivered
        XCTAssertNil(history[0].deliveredAt)
        XCTAssertEqual(history[1].deliveredAt, 1_700_000_001_005)
        XCTAssertEqual(history[1].attempts, 1)
        XCTAssertEqual(history[1].json["state"]?.stringValue, "delivered")
        XCTAssertEqual(history[1].json["body"]?["seq"]?.intValue, 5)
        XCTAssertEqual(try outbox.history(limit: 2).map(\.seq), [6, 5])
        let stats = try outbox.stats()
        XCTAssertEqual(stats.delivered, 5)
        XCTAssertEqual(stats.pending, 1)
        XCTAssertEqual(stats.attempts, 5)
    }

    func testStateSurvivesReopenAndSeqIsNeverReused() throws {
        var outbox: Outbox? = try open(maxHistory: 0)
        let first = try enqueue(outbox!)
        let second = try enqueue(outbox!)
        XCTAssertTrue(try outbox!.recordFailure(seq: first.seq, error: "HTTP 500: boom", nextAttemptAt: 1_700_000_009_000))
        XCTAssertTrue(try outbox!.recordFailure(seq: first.seq, error: "connection refused", nextAttemptAt: 1_700_000_019_000))
        XCTAssertTrue(try outbox!.markDelivered(seq: first.seq))  // history 0: deleted at once
        outbox = nil

        let reopened = try open(maxHistory: 0)
        let pending = try reopened.pending()
        XCTAssertEqual(pending.map(\.seq), [second.seq])
        XCTAssertEqual(pending[0].id, second.id)
        XCTAssertEqual(pending[0].body, second.body)
        XCTAssertEqual(try reopened.history().map(\.seq), [second.seq])
        XCTAssertEqual(try reopened.stats(), Outbox.Stats(pending: 1, delivered: 1, dropped: 0, attempts: 3, lastSeq: 2))

        XCTAssertTrue(try reopened.recordFailure(seq: second.seq, error: "HTTP 503", nextAttemptAt: 1_700_000_029_000))
        XCTAssertTrue(try reopened.markDelivered(seq: second.seq))
        let third = try enqueue(reopened)
        XCTAssertEqual(third.seq, 3, "seq continues after every row was trimmed")

        XCTAssertTrue(try reopened.recordFailure(seq: third.seq, error: String(repeating: "x", count: 2000), nextAttemptAt: 1_700_000_039_000))
        let failed = try XCTUnwrap(try reopened.recommendation(seq: third.seq))
        XCTAssertEqual(failed.attempts, 1)
        XCTAssertEqual(failed.nextAttemptAt, 1_700_000_039_000)
        XCTAssertLessThanOrEqual(failed.lastError?.count ?? 0, 501)
    }
}
