import Storage
import XCTest

final class LogCommandTests: XCTestCase {
    static let samples: [LogCommand] = [
        .write(WriteCommand(operations: [
            put("carts", "c1", #"{"a": 1}"#),
            putRaw("files", "bin", [0, 0xFF, 0x80, 10], contentType: "image/png"),
            putRaw("files", "empty", []),
            patch("carts", "c1", #"{"b": null}"#, .ifMatch([1, 300, UInt64.max])),
            delete("carts", "c2", .ifExists),
            put("ünïcødé", "ключ/✓", "[]", .ifAbsent),
            .put(collection: "", id: "", contentType: "", body: [], isJSON: true, precondition: .ifMatch([])),
        ], timestampMilliseconds: 1_700_000_000_123), proposal: ProposalID(node: 3, sequence: 42)),
        .write(WriteCommand(operations: [], timestampMilliseconds: -5), proposal: ProposalID(node: .max, sequence: 0)),
        .write(WriteCommand(operations: [delete("c", "d")], timestampMilliseconds: .min), proposal: ProposalID(node: 1, sequence: .max)),
        .upsertMember(Member(id: "n1", raftID: 0x8000_0000_0000_0001, url: "http://127.0.0.1:7001", level: 5, joinedAtIndex: 12)),
        .upsertMember(Member(id: "", raftID: 0, url: "", level: -3, joinedAtIndex: 0)),
        .removeMember(raftID: 7),
        .setClusterMap(expectedVersion: 3, version: 4, body: Array(#"{"nodes":[]}"#.utf8)),
        .setClusterMap(expectedVersion: 0, version: 0, body: []),
    ]

    func testRoundTrip() throws {
        for command in Self.samples {
            let bytes = command.encoded()
            XCTAssertEqual(bytes.first, LogCommand.encodingVersion)
            XCTAssertEqual(try LogCommand(decoding: bytes), command)
            XCTAssertEqual(command.encoded(), bytes, "deterministic")
        }
    }

    func testEncodingIsCompact() {
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 1000)
        let command = LogCommand.write(WriteCommand(operations: [
            .put(collection: "carts", id: "cart-00001", contentType: "application/json", body: body, isJSON: true, precondition: .none),
        ], timestampMilliseconds: 1_700_000_000_000), proposal: ProposalID(node: 1, sequence: 1))
        // The strings, the body, and 20 bytes of framing at most.
        XCTAssertLessThanOrEqual(command.encoded().count, body.count + "cartscart-00001application/json".utf8.count + 20)
    }

    func testEveryTruncationAndTrailingByteIsRefused() {
        for command in Self.samples {
            let bytes = command.encoded()
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try LogCommand(decoding: Array(bytes[..<length])), "\(command) cut at \(length)")
            }
            XCTAssertThrowsError(try LogCommand(decoding: bytes + [0]))
        }
    }

    func testMalformedInputIsRefused() {
        let valid = LogCommand.removeMember(raftID: 1).encoded()
        XCTAssertThrowsError(try LogCommand(decoding: [2] + valid.dropFirst()), "unknown version") { error in
            guard case let .invalidCommand(detail) = error as? StorageError else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("version"), detail)
        }
        XCTAssertThrowsError(try LogCommand(decoding: [1, 9, 0]), "unknown kind")
        // A string that is not UTF-8.
        let member = LogCommand.upsertMember(Member(id: "ab", raftID: 1, url: "u", level: 1, joinedAtIndex: 1)).encoded()
        var broken = member
        broken[3] = 0xFF
        XCTAssertThrowsError(try LogCommand(decoding: broken))
        // A count larger than the input.
        XCTAssertThrowsError(try LogCommand(decoding: [1, 1, 1, 1, 0, 0xFF, 0xFF, 0xFF, 0x0F]))
        // An overlong varint.
        XCTAssertThrowsError(try LogCommand(decoding: [1, 3] + [UInt8](repeating: 0xFF, count: 10) + [1]))
    }
}
