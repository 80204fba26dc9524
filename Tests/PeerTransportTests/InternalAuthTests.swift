import PeerTransport
import RaftCore
import XCTest

final class InternalAuthTests: XCTestCase {
    func testBearerTokenRules() {
        let cases: [(header: String?, token: String?, accepted: Bool)] = [
            ("Bearer s3cret", "s3cret", true),
            ("bearer s3cret", "s3cret", true),
            ("BEARER   s3cret  ", "s3cret", true),
            ("Bearer s3cre", "s3cret", false),
            ("Bearer s3cret2", "s3cret", false),
            ("Bearer S3CRET", "s3cret", false),
            ("Basic s3cret", "s3cret", false),
            ("s3cret", "s3cret", false),
            ("Bearer", "s3cret", false),
            ("Bearer ", "s3cret", false),
            (nil, "s3cret", false),
            // No token configured: only requests without credentials pass.
            (nil, nil, true),
            (nil, "", true),
            ("Bearer s3cret", nil, false),
            ("Bearer admin-token", nil, false),
        ]
        for (header, token, accepted) in cases {
            XCTAssertEqual(InternalAuth.check(authorizationHeader: header, clusterToken: token), accepted,
                           "header \(header ?? "nil"), token \(token ?? "nil")")
        }
        XCTAssertEqual(InternalAuth.headerValue(clusterToken: "t"), "Bearer t")
        XCTAssertNil(InternalAuth.headerValue(clusterToken: nil))
    }

    func testMessageBatchDecoding() throws {
        let messages = [appendMessage(to: 2, index: 1), Message(kind: .heartbeat, from: 1, to: 2, term: 4, context: [9])]
        let body = Message.encodeBatch(messages)
        XCTAssertEqual(try MessageBatch.decode(body, maxBytes: 1 << 20), messages)

        func error(_ body: [UInt8], maxBytes: Int = 1 << 20) -> TransportError? {
            do { _ = try MessageBatch.decode(body, maxBytes: maxBytes); return nil } catch { return error }
        }
        XCTAssertEqual(error([])?.status, 400)
        XCTAssertEqual(error([1, 2, 3])?.status, 400)
        XCTAssertEqual(error(Array(body.dropLast()))?.status, 400)
        XCTAssertEqual(error(body + [0])?.status, 400)
        XCTAssertEqual(error(body, maxBytes: body.count - 1), .batchTooLarge(bytes: body.count, limit: body.count - 1))
        XCTAssertEqual(error(body, maxBytes: body.count - 1)?.status, 413)
    }

    func testRoutes() {
        XCTAssertEqual(InternalRoutes.messagesPath(shard: 1), "/internal/v1/raft/1/messages")
        XCTAssertEqual(InternalRoutes.snapshotPath(shard: 7, token: "snap-12.a_b~"), "/internal/v1/raft/7/snapshots/snap-12.a_b~")
        XCTAssertEqual(InternalRoutes.snapshotPath(shard: 1, token: "a/b c"), "/internal/v1/raft/1/snapshots/a%2Fb%20c")
    }
}
