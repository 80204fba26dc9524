@testable import PeerTransport
import RaftCore
import XCTest

/// The peer stream's framing (`PeerFrame`, `FrameReader`): pure, no sockets.
final class FrameTests: XCTestCase {
    /// One frame of every kind, with payloads that exercise the edges (empty, large ids, several messages).
    private let samples: [PeerFrame] = [
        .messages(shard: 1, [appendMessage(to: 2, index: 7)]),
        .messages(shard: 4_000_000_000, [appendMessage(to: 2, index: 1), Message(kind: .heartbeat, from: 1, to: 2, term: 9, commit: 4),
                                          Message(kind: .voteResponse, from: 3, to: 2, term: 9, reject: true)]),
        .messages(shard: 2, []),
        .heartbeat,
        .call(id: 1, shard: 3, payload: [1, 2, 3]),
        .call(id: UInt64.max, shard: 0, payload: []),
        .reply(id: 42, payload: Array(0...255)),
        .reply(id: 0, payload: []),
    ]

    func testEveryKindRoundTrips() throws {
        for frame in samples {
            var reader = FrameReader()
            reader.feed(wire([frame]))
            let body = try XCTUnwrap(try reader.next(), "\(frame)")
            XCTAssertTrue(same(try PeerFrame.decode(body), frame), "\(frame)")
            XCTAssertNil(try reader.next(), "exactly one frame")
        }
        // The length prefix counts everything after itself, little-endian.
        let bytes = wire([.call(id: 0x0102, shard: 5, payload: [9])])
        XCTAssertEqual(bytes, [14, 0, 0, 0, 3, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 9])
        XCTAssertEqual(wire([.heartbeat]), [1, 0, 0, 0, 2])
    }

    func testReaderSplitsTheStreamAtEveryByteBoundary() throws {
        let stream = wire(samples)
        for split in 0...stream.count {
            var reader = FrameReader()
            var decoded: [PeerFrame] = []
            for part in [stream[..<split], stream[split...]] {
                reader.feed(Array(part))
                while let body = try reader.next() { decoded.append(try PeerFrame.decode(body)) }
            }
            XCTAssertEqual(decoded.count, samples.count, "split at \(split)")
            for (got, want) in zip(decoded, samples) { XCTAssertTrue(same(got, want), "split at \(split): \(got)") }
        }
        // One byte at a time, with `next()` asked after every byte.
        var reader = FrameReader()
        var decoded: [PeerFrame] = []
        for byte in stream {
            reader.feed([byte])
            while let body = try reader.next() { decoded.append(try PeerFrame.decode(body)) }
        }
        XCTAssertEqual(decoded.count, samples.count)
        for (got, want) in zip(decoded, samples) { XCTAssertTrue(same(got, want)) }
    }

    func testMalformedFramesAreRejected() {
        // Body-level errors (kind + payload, after the length).
        let badBodies: [(String, [UInt8])] = [
            ("unknown kind 0", [0]),
            ("unknown kind 9", [9, 1, 2]),
            ("empty body", []),
            ("heartbeat with a payload", [2, 0]),
            ("call without a full id", [3, 1, 2, 3]),
            ("call without a shard", [3, 1, 0, 0, 0, 0, 0, 0, 0, 7]),
            ("reply without a full id", [4, 1]),
            ("messages without a shard", [1, 1, 0]),
            ("messages whose batch is truncated", [1, 1, 0, 0, 0] + Array(Message.encodeBatch([appendMessage(to: 2, index: 1)]).dropLast())),
            ("messages with trailing bytes", [1, 1, 0, 0, 0] + Message.encodeBatch([appendMessage(to: 2, index: 1)]) + [0]),
        ]
        for (what, body) in badBodies {
            XCTAssertThrowsError(try PeerFrame.decode(body[...]), what) { error in
                guard case .badFrame = error as? TransportError else { return XCTFail("\(what): \(error)") }
            }
        }
        // Length-level errors: zero, and past the bound (refused before any byte of the body).
        for length in [0, UInt32(PeerFrame.maxFrameBytes) + 1, UInt32.max] {
            var reader = FrameReader()
            withUnsafeBytes(of: length.littleEndian) { reader.feed(Array($0)) }
            XCTAssertThrowsError(try reader.next(), "length \(length)") { error in
                guard case .badFrame = error as? TransportError else { return XCTFail("length \(length): \(error)") }
            }
        }
        // A truncated frame is not an error, just not complete yet.
        var reader = FrameReader()
        reader.feed(Array(wire([.reply(id: 1, payload: [1, 2, 3])]).dropLast()))
        XCTAssertNil(try reader.next())
        reader.feed([3])
        XCTAssertNotNil(try reader.next())
    }
}

/// Whether two frames carry the same thing (`PeerFrame` is not `Equatable`).
func same(_ a: PeerFrame, _ b: PeerFrame) -> Bool {
    switch (a, b) {
    case let (.messages(s1, m1), .messages(s2, m2)): s1 == s2 && m1 == m2
    case (.heartbeat, .heartbeat): true
    case let (.call(i1, s1, p1), .call(i2, s2, p2)): i1 == i2 && s1 == s2 && p1 == p2
    case let (.reply(i1, p1), .reply(i2, p2)): i1 == i2 && p1 == p2
    default: false
    }
}
