import RaftCore
import XCTest

final class CodecTests: XCTestCase {
    private var rng = TestRandom(seed: 71)

    private func randomBytes(_ max: Int) -> [UInt8] {
        (0..<rng.below(max + 1)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    private func randomU64() -> UInt64 {
        switch rng.below(4) {
        case 0: 0
        case 1: UInt64(rng.below(200))
        case 2: UInt64.max - UInt64(rng.below(3))
        default: rng.next()
        }
    }

    private func randomEntry() -> Entry {
        Entry(term: randomU64(), index: randomU64(), kind: [.normal, .confChange, .noop][rng.below(3)], data: randomBytes(40))
    }

    private func randomConf() -> ConfState {
        let voters = (0..<rng.below(5)).map { _ in randomU64() | 1 }
        let learners = (0..<rng.below(3)).map { _ in randomU64() | 1 }
        var attrs: [NodeID: NodeAttributes] = [:]
        for id in voters where rng.percent(50) {
            attrs[id] = NodeAttributes(level: UInt8(1 + rng.below(5)), priority: UInt8(rng.below(3)), autoPromote: rng.percent(50))
        }
        return ConfState(voters: voters, learners: learners, attributes: attrs)
    }

    private func randomMessage() -> Message {
        Message(
            kind: Message.Kind.allCases[rng.below(Message.Kind.allCases.count)],
            from: randomU64(), to: randomU64(), term: randomU64(), logTerm: randomU64(), index: randomU64(),
            commit: randomU64(), commitTerm: randomU64(),
            entries: (0..<rng.below(4)).map { _ in randomEntry() },
            reject: rng.percent(50), rejectHint: randomU64(), transfer: rng.percent(50),
            context: randomBytes(12),
            snapshot: rng.percent(30)
                ? Snapshot(metadata: SnapshotMetadata(index: randomU64(), term: randomU64(), confState: randomConf()), data: randomBytes(30))
                : nil)
    }

    func testMessagesRoundTrip() throws {
        for _ in 0..<500 {
            let m = randomMessage()
            XCTAssertEqual(try Message(decoding: m.encoded()), m)
        }
        let batch = (0..<20).map { _ in randomMessage() }
        XCTAssertEqual(try Message.decodeBatch(Message.encodeBatch(batch)), batch)
        XCTAssertEqual(try Message.decodeBatch(Message.encodeBatch([])), [])
    }

    func testValuesRoundTrip() throws {
        for _ in 0..<200 {
            let e = randomEntry()
            XCTAssertEqual(try Entry(decoding: e.encoded()), e)
            let hs = HardState(term: randomU64(), vote: randomU64(), commit: randomU64())
            XCTAssertEqual(try HardState(decoding: hs.encoded()), hs)
            let conf = randomConf()
            XCTAssertEqual(try ConfState(decoding: conf.encoded()), conf)
            let cc = ConfChange(kind: [.addVoter, .addLearner, .remove, .promote, .updateAttributes][rng.below(5)],
                                nodeID: randomU64(), attributes: NodeAttributes(level: UInt8(rng.below(6)), priority: UInt8(rng.below(9))))
            XCTAssertEqual(try ConfChange(decoding: cc.encoded()), cc)
            let snap = Snapshot(metadata: SnapshotMetadata(index: randomU64(), term: randomU64(), confState: conf), data: randomBytes(20))
            XCTAssertEqual(try Snapshot(decoding: snap.encoded()), snap)
        }
    }

    /// Every truncation, and trailing garbage, is refused with an error (never a trap).
    func testMalformedInputIsRefused() {
        for _ in 0..<50 {
            let bytes = randomMessage().encoded()
            for cut in 0..<bytes.count {
                XCTAssertThrowsError(try Message(decoding: Array(bytes[..<cut])))
            }
            XCTAssertThrowsError(try Message(decoding: bytes + [0]))
        }
        XCTAssertThrowsError(try Message(decoding: [2, 0]))  // unknown version
        XCTAssertThrowsError(try Entry(decoding: [1, 1, 9, 0]))  // unknown kind
        XCTAssertThrowsError(try HardState(decoding: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0, 0]))
        // A huge claimed count does not allocate.
        XCTAssertThrowsError(try Message.decodeBatch([0xFF, 0xFF, 0xFF, 0xFF, 0x0F]))
    }

    func testRandomBytesNeverTrap() {
        for _ in 0..<3_000 {
            let bytes = randomBytes(60)
            _ = try? Message(decoding: bytes)
            _ = try? Message(decoding: [1] + bytes)
            _ = try? Entry(decoding: bytes)
            _ = try? ConfState(decoding: bytes)
            _ = try? Snapshot(decoding: bytes)
        }
    }

    /// The format is fixed: changing it breaks mixed-version clusters. Pinned example.
    func testEncodingIsStable() {
        let m = Message(kind: .append, from: 1, to: 2, term: 3, logTerm: 2, index: 300, commit: 299,
                        entries: [Entry(term: 3, index: 301, kind: .normal, data: [0xAB])])
        XCTAssertEqual(m.encoded(), [1, 4, 1, 2, 3, 2, 0xAC, 0x02, 0xAB, 0x02, 0, 0, 0, 0, 1, 3, 0xAD, 0x02, 0, 1, 0xAB])
    }
}
