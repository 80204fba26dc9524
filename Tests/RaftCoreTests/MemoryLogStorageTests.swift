import RaftCore
import XCTest

final class MemoryLogStorageTests: XCTestCase {
    private func entries(_ range: ClosedRange<UInt64>, term: UInt64) -> [Entry] {
        range.map { Entry(term: term, index: $0, data: [UInt8(truncatingIfNeeded: $0)]) }
    }

    func testAppendReplacesSuffixAndRefusesGaps() throws {
        let s = MemoryLogStorage()
        try s.append(entries(1...5, term: 1))
        try s.append(entries(4...6, term: 2))
        XCTAssertEqual(try s.lastIndex(), 6)
        XCTAssertEqual(try s.term(at: 3), 1)
        XCTAssertEqual(try s.term(at: 4), 2)
        XCTAssertThrowsError(try s.append(entries(9...9, term: 2)))
        XCTAssertEqual(try s.entries(from: 2, to: 7, maxBytes: .max).map(\.index), [2, 3, 4, 5, 6])
        XCTAssertEqual(try s.entries(from: 2, to: 7, maxBytes: 1).map(\.index), [2], "at least one")
        XCTAssertThrowsError(try s.entries(from: 2, to: 8, maxBytes: .max))
        XCTAssertThrowsError(try s.term(at: 7)) { XCTAssertEqual($0 as? RaftError, .unavailable(index: 7)) }
    }

    func testSnapshotAndCompaction() throws {
        let s = MemoryLogStorage()
        try s.append(entries(1...10, term: 1))
        XCTAssertThrowsError(try s.compact(upTo: 5), "cannot pass the snapshot")
        try s.createSnapshot(index: 6, confState: ConfState(voters: [1]), data: [1])
        try s.compact(upTo: 4)
        XCTAssertEqual(try s.firstIndex(), 5)
        XCTAssertEqual(try s.term(at: 4), 1, "the compaction point keeps its term")
        XCTAssertThrowsError(try s.term(at: 3)) { XCTAssertEqual($0 as? RaftError, .compacted(index: 3)) }
        XCTAssertThrowsError(try s.entries(from: 4, to: 6, maxBytes: .max))
        try s.compact(upTo: 6)
        XCTAssertEqual(try s.firstIndex(), 7)
        XCTAssertThrowsError(try s.createSnapshot(index: 5, confState: .empty, data: []))
        // Entries already compacted are skipped on append.
        try s.append(entries(5...11, term: 1))
        XCTAssertEqual(try s.lastIndex(), 11)
    }

    func testApplySnapshotReplacesTheLog() throws {
        let s = MemoryLogStorage()
        try s.append(entries(1...3, term: 1))
        let snap = Snapshot(metadata: SnapshotMetadata(index: 20, term: 4, confState: ConfState(voters: [1, 2])), data: [9])
        try s.applySnapshot(snap)
        XCTAssertEqual(try s.firstIndex(), 21)
        XCTAssertEqual(try s.lastIndex(), 20)
        XCTAssertEqual(try s.term(at: 20), 4)
        XCTAssertEqual(try s.snapshot(), snap)
        XCTAssertThrowsError(try s.applySnapshot(snap)) { XCTAssertEqual($0 as? RaftError, .snapshotOutOfDate) }
    }

    func testBootstrapLog() throws {
        let conf = ConfState(voters: [1, 2], learners: [3], attributes: [2: NodeAttributes(level: 4)])
        let s = MemoryLogStorage(bootstrap: conf)
        XCTAssertEqual(try s.hardState(), HardState(term: 1, vote: 0, commit: 3))
        let log = try s.entries(from: 1, to: 4, maxBytes: .max)
        var rebuilt = ConfState.empty
        for e in log {
            XCTAssertEqual(e.kind, .confChange)
            rebuilt = rebuilt.applying(try ConfChange(decoding: e.data))
        }
        XCTAssertEqual(rebuilt, conf)
    }
}
