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

    func testRoutes() {
        XCTAssertEqual(InternalRoutes.streamPath, "/internal/v1/raft/stream")
        XCTAssertEqual(InternalRoutes.snapshotPath(shard: 7, token: "snap-12.a_b~"), "/internal/v1/raft/7/snapshots/snap-12.a_b~")
        XCTAssertEqual(InternalRoutes.snapshotPath(shard: 1, token: "a/b c"), "/internal/v1/raft/1/snapshots/a%2Fb%20c")
    }
}
