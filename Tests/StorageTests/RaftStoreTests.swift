import Glibc
import RaftCore
import SQLite
import Storage
import Synchronization
import XCTest

final class RaftStoreTests: RaftStoreTestCase {
    // MARK: Switching to Raft mode

    func testBootstrapAnEmptyStore() throws {
        XCTAssertFalse(try Store.isRaftMode(path: databasePath), "no file yet")
        let (store, raft) = try openRaft()
        XCTAssertTrue(store.isRaftMode)
        XCTAssertTrue(try Store.isRaftMode(path: databasePath))
        XCTAssertEqual(raft.appliedIndex, 1, "compaction point max(applied, 1)")
        XCTAssertEqual(store.appliedIndex, 1)
        XCTAssertEqual(try raft.firstIndex(), 2)
        XCTAssertEqual(try raft.lastIndex(), 1)
        XCTAssertEqual(try raft.term(at: 1), 1)
        XCTAssertEqual(try raft.hardState(), HardState(term: 1, vote: 0, commit: 1))
        XCTAssertEqual(raft.confState.voters, [1])
        XCTAssertEqual(raft.confState.attributes(of: 1).level, 3)
        XCTAssertEqual(raft.members(), [Member(id: "n1", raftID: 1, url: "http://127.0.0.1:7001", level: 3, joinedAtIndex: 1)])
        let snapshot = try raft.snapshot()
        XCTAssertEqual(snapshot.metadata, SnapshotMetadata(index: 1, term: 1, confState: raft.confState))
        XCTAssertEqual(String(decoding: snapshot.data, as: UTF8.self), "snap-1-1")
        XCTAssertFalse(store.submit(WriteCommand(operations: [put("a", "b", "{}")], timestampMilliseconds: 1)) { _ in XCTFail() })
        XCTAssertThrowsError(try store.startRaft(bootstrap: true, selfRaftID: 1, selfMember: Self.n1), "handed over once")
        // A Ready with nothing to persist (messages only) is no transaction and no change.
        XCTAssertEqual(try raft.save(Ready(softState: SoftState(leader: 1, role: .leader))).count, 0)

        let foreign = directory + "/foreign.sqlite"
        try Connection(path: foreign).execute("CREATE TABLE t (x)")
        XCTAssertThrowsError(try Store.isRaftMode(path: foreign)) { error in
            guard case .corrupt = error as? StorageError else { return XCTFail("\(error)") }
        }
    }

    func testBootstrapAMachIStoreContinuesAfterItsAppliedIndex() throws {
        let store = try openStore()
        for n in 1...3 { _ = try written(write(store, put("carts", "c\(n)", #"{"n": \#(n)}"#))) }
        // A command queued just before the switch is committed by the committer, not lost.
        let queued = expectation(description: "queued command committed")
        XCTAssertTrue(store.submit(WriteCommand(operations: [put("carts", "c4", "{}")], timestampMilliseconds: 1)) { result in
            XCTAssertEqual(try? result.get().index, 4)
            queued.fulfill()
        })
        let raft = try store.startRaft(bootstrap: true, selfRaftID: 1, selfMember: Self.n1)
        wait(for: [queued], timeout: 5)
        XCTAssertEqual(raft.appliedIndex, 4)
        XCTAssertEqual(raft.compactedIndex, 4)
        XCTAssertEqual(try raft.term(at: 4), 1)
        XCTAssertEqual(raft.hardStateValue, HardState(term: 1, vote: 0, commit: 4))
        XCTAssertEqual(raft.members().map(\.joinedAtIndex), [4])

        let applied = try persist(raft, [noop(5, term: 2), writeEntry(6, term: 2, put("carts", "c5", "{}"))], term: 2)
        XCTAssertEqual(applied.map(\.index), [5, 6])
        XCTAssertEqual(try store.document(collection: "carts", id: "c5")?.writeIndex, 6)
        XCTAssertEqual(try store.document(collection: "carts", id: "c1")?.writeIndex, 1, "old documents keep their index")
        XCTAssertEqual(store.statistics.documentCount, 5)
        XCTAssertEqual(store.appliedIndex, 6)
    }

    func testAJoiningNodeStartsEmptyAndMustHaveNoDocuments() throws {
        let dataDirectory = nodeDirectory("b")
        let (store, raft) = try openRaft(bootstrap: false, member: Self.n2, in: dataDirectory)
        XCTAssertTrue(store.isRaftMode)
        XCTAssertEqual(raft.appliedIndex, 0)
        XCTAssertEqual(try raft.firstIndex(), 1)
        XCTAssertEqual(try raft.lastIndex(), 0)
        XCTAssertEqual(try raft.term(at: 0), 0)
        XCTAssertEqual(try raft.hardState(), HardState())
        XCTAssertEqual(raft.confState, ConfState())
        XCTAssertTrue(try raft.snapshot().isEmpty)
        XCTAssertEqual(raft.members(), [])

        let full = try openStore()
        _ = try written(write(full, put("a", "b", "{}")))
        XCTAssertThrowsError(try full.startRaft(bootstrap: false, selfRaftID: 2, selfMember: Self.n2)) { error in
            guard case .invalidCommand = error as? StorageError else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(try Store.isRaftMode(path: databasePath), "a refused switch leaves the file as it was")
        XCTAssertThrowsError(try full.startRaft(bootstrap: true, selfRaftID: 2, selfMember: Self.n1), "ids disagree")
        XCTAssertEqual(try full.startRaft(bootstrap: true, selfRaftID: 1, selfMember: Self.n1).appliedIndex, 1, "a corrected call works")
    }

    func testAVersion1FileIsMigrated() throws {
        // A file as the first release wrote it: schema version 1, no Raft tables.
        do {
            let connection = try Connection(path: databasePath)
            try connection.execute("""
                PRAGMA journal_mode = WAL;
                CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO meta (key, value) VALUES ('schema_version', 1), ('applied_index', 7);
                CREATE TABLE documents (
                    collection TEXT NOT NULL, id TEXT NOT NULL, rev INTEGER NOT NULL CHECK (rev >= 1),
                    bucket INTEGER NOT NULL CHECK (bucket BETWEEN 1 AND 1000), content_type TEXT NOT NULL,
                    json TEXT, raw BLOB, updated_at INTEGER NOT NULL,
                    deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
                    write_index INTEGER NOT NULL CHECK (write_index >= 1), UNIQUE (collection, id),
                    CHECK (CASE deleted WHEN 1 THEN json IS NULL AND raw IS NULL ELSE (json IS NULL) <> (raw IS NULL) END));
                CREATE INDEX documents_by_bucket ON documents (bucket);
                CREATE TABLE collections (name TEXT PRIMARY KEY, count INTEGER NOT NULL CHECK (count >= 0)) WITHOUT ROWID;
                INSERT INTO documents VALUES ('a', 'x', 2, 5, 'application/json', '{}', NULL, 1, 0, 7);
                INSERT INTO collections VALUES ('a', 1);
                PRAGMA application_id = 1835098984; PRAGMA user_version = 1
                """)
        }
        XCTAssertFalse(try Store.isRaftMode(path: databasePath))
        let store = try openStore()
        XCTAssertEqual(store.appliedIndex, 7)
        XCTAssertEqual(try store.document(collection: "a", id: "x")?.rev, 2)
        XCTAssertEqual(try scalar(databasePath, "SELECT value FROM meta WHERE key = 'schema_version'"), 4)
        XCTAssertEqual(try written(write(store, put("a", "y", "{}"))).rev, 1, "Mach I keeps working on a migrated file")
        XCTAssertEqual(store.appliedIndex, 8)
        let raft = try store.startRaft(bootstrap: true, selfRaftID: 1, selfMember: Self.n1)
        XCTAssertEqual(raft.appliedIndex, 8)
    }

    // MARK: Persisting

    func testSaveAppendsOverwritesASuffixAndKeepsTheHardState() throws {
        var (store, raft) = try openRaft()
        try persist(raft, (2...6).map { noop($0, term: 2) }, term: 2, commit: false)
        XCTAssertEqual(try raft.lastIndex(), 6)
        XCTAssertEqual(try raft.hardState(), HardState(term: 2, vote: 1, commit: 1))
        XCTAssertEqual(raft.appliedIndex, 1)

        // A new leader's entries replace the suffix from index 4.
        _ = try raft.save(Ready(entries: [writeEntry(4, term: 3, put("a", "x", "{}")), noop(5, term: 3)], mustSync: true))
        XCTAssertEqual(try raft.lastIndex(), 5)
        XCTAssertEqual(try (1...5).map { try raft.term(at: $0) }, [1, 2, 2, 3, 3])
        XCTAssertEqual(try raft.hardState(), HardState(term: 2, vote: 1, commit: 1), "a Ready without a hard state keeps it")
        XCTAssertEqual(try raft.entries(from: 2, to: 6, maxBytes: .max).map(\.term), [2, 2, 3, 3])
        XCTAssertThrowsError(try raft.term(at: 6)) { XCTAssertEqual($0 as? RaftError, .unavailable(index: 6)) }
        XCTAssertThrowsError(try raft.term(at: 0)) { XCTAssertEqual($0 as? RaftError, .compacted(index: 0)) }
        XCTAssertThrowsError(try raft.entries(from: 1, to: 3, maxBytes: .max)) { XCTAssertEqual($0 as? RaftError, .compacted(index: 1)) }
        XCTAssertThrowsError(try raft.entries(from: 2, to: 7, maxBytes: .max)) { XCTAssertEqual($0 as? RaftError, .unavailable(index: 6)) }

        // A gap is refused and changes nothing.
        XCTAssertThrowsError(try raft.save(Ready(entries: [noop(9, term: 3)], mustSync: true)))
        XCTAssertEqual(try raft.lastIndex(), 5)

        // Entries at or below the compaction point are skipped.
        _ = try raft.save(Ready(entries: [noop(1, term: 1), noop(2, term: 4)], mustSync: true))
        XCTAssertEqual(try raft.lastIndex(), 2)
        XCTAssertEqual(try raft.term(at: 2), 4)
        _ = try raft.save(Ready(hardState: HardState(term: 4, vote: 2, commit: 2), entries: [noop(3, term: 4)],
                                committedEntries: [noop(2, term: 4)], mustSync: true))

        let expected = try raft.entries(from: 2, to: 4, maxBytes: .max)
        (store, raft) = try reopen(store)
        XCTAssertEqual(try raft.hardState(), HardState(term: 4, vote: 2, commit: 2))
        XCTAssertEqual(try raft.firstIndex(), 2)
        XCTAssertEqual(try raft.lastIndex(), 3)
        XCTAssertEqual(try raft.entries(from: 2, to: 4, maxBytes: .max), expected)
        XCTAssertEqual(raft.appliedIndex, 2)
        XCTAssertEqual(store.appliedIndex, 2)
    }

    func testCommittedWritesApplyAtTheirLogIndex() throws {
        let (store, raft) = try openRaft()
        let observed = Mutex<[UInt64]>([])
        store.onApplied { index in observed.withLock { $0.append(index) } }
        let entries = [
            noop(2, term: 2),
            writeEntry(3, term: 2, put("carts", "c1", #"{"a": 1}"#), put("carts", "c2", "[]"), sequence: 10),
            writeEntry(4, term: 2, put("carts", "c1", "{}", .ifAbsent), sequence: 11),
            writeEntry(5, term: 2, patch("carts", "c1", #"{"b": 2}"#), delete("carts", "c2"), sequence: 12),
            writeEntry(6, term: 2, patch("carts", "c1", "not json"), sequence: 13),
        ]
        let applied = try persist(raft, entries, term: 2)
        XCTAssertEqual(applied.map(\.index), [2, 3, 4, 5, 6])
        XCTAssertEqual(applied.map(\.term), [2, 2, 2, 2, 2])
        XCTAssertEqual(applied.map(\.proposal), [nil, ProposalID(node: 1, sequence: 10), ProposalID(node: 1, sequence: 11),
                                                 ProposalID(node: 1, sequence: 12), ProposalID(node: 1, sequence: 13)])
        XCTAssertNil(applied[0].result)
        XCTAssertEqual(applied[1].result?.index, 3)
        XCTAssertEqual(applied[1].result?.outcomes.count, 2)
        XCTAssertEqual(applied[2].result?.outcomes, [.failed(.preconditionFailed(currentRev: 1))], "a failed write consumes its index")
        XCTAssertEqual(try written(XCTUnwrap(applied[3].result?.outcomes.first)).rev, 2)
        XCTAssertNil(applied[4].result)
        guard case .invalidCommand? = applied[4].refusal else { return XCTFail("\(applied[4])") }

        let document = try XCTUnwrap(store.document(collection: "carts", id: "c1"))
        XCTAssertEqual(document.writeIndex, 5)
        XCTAssertEqual(String(decoding: document.body, as: UTF8.self), #"{"a":1,"b":2}"#)
        XCTAssertNil(try store.document(collection: "carts", id: "c2"))
        XCTAssertEqual(store.appliedIndex, 6)
        XCTAssertEqual(raft.appliedIndex, 6)
        XCTAssertEqual(observed.withLock { $0 }, [6])
        let statistics = store.statistics
        XCTAssertEqual(statistics.documentCount, 1)
        XCTAssertEqual(statistics.appliedIndex, 6)
        XCTAssertEqual(statistics.batchesCommitted, 1)
        XCTAssertEqual(statistics.commandsCommitted, 3)
        XCTAssertEqual(try scalar(databasePath, "SELECT value FROM meta WHERE key = 'applied_index'"), 6)
    }

    func testExactlyOnceAcrossRestart() throws {
        var (store, raft) = try openRaft()
        let first = [writeEntry(2, term: 2, put("c", "d", "1")), writeEntry(3, term: 2, put("c", "d", "2"))]
        try persist(raft, first, term: 2)
        // Persisted but not yet committed when the node "crashes".
        let later = [writeEntry(4, term: 2, put("c", "d", "3")), writeEntry(5, term: 2, put("c", "e", "1"))]
        try persist(raft, later, term: 2, commit: false)

        (store, raft) = try reopen(store)
        XCTAssertEqual(raft.appliedIndex, 3)
        XCTAssertEqual(try store.document(collection: "c", id: "d")?.rev, 2)
        XCTAssertEqual(try raft.entries(from: 4, to: 6, maxBytes: .max), later)
        // The runtime re-feeds committed entries; those already applied are skipped.
        let applied = try raft.save(Ready(hardState: HardState(term: 2, vote: 1, commit: 5), committedEntries: first + later))
        XCTAssertEqual(applied.map(\.index), [4, 5])
        XCTAssertEqual(try store.document(collection: "c", id: "d")?.rev, 3, "entries 2 and 3 were not applied twice")
        XCTAssertEqual(try store.document(collection: "c", id: "d")?.writeIndex, 4)
        XCTAssertEqual(try raft.save(Ready(committedEntries: later)).count, 0)

        (store, raft) = try reopen(store)
        XCTAssertEqual(raft.appliedIndex, 5)
        XCTAssertEqual(store.statistics.documentCount, 2)
        // A committed entry that skips one is a broken contract.
        XCTAssertThrowsError(try raft.save(Ready(entries: [noop(6, term: 2), noop(7, term: 2)], committedEntries: [noop(7, term: 2)])))
        XCTAssertEqual(try raft.lastIndex(), 5, "rolled back")
    }

    func testAnUndecodableEntryIsFatal() throws {
        let (store, raft) = try openRaft()
        let garbage = Entry(term: 2, index: 2, kind: .normal, data: [1, 1, 200])
        XCTAssertThrowsError(try persist(raft, [garbage], term: 2)) { error in
            guard case .corrupt = error as? StorageError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(raft.appliedIndex, 1)
        XCTAssertEqual(try raft.lastIndex(), 1, "nothing of the Ready was kept")
        XCTAssertEqual(store.appliedIndex, 1)
        XCTAssertThrowsError(try persist(raft, [Entry(term: 2, index: 2, kind: .confChange, data: [9])], term: 2))
    }

    // MARK: Membership

    func testConfChangesAndMembers() throws {
        var (store, raft) = try openRaft()
        let n3 = Member(id: "n3", raftID: 3, url: "http://h3", level: 2, joinedAtIndex: 3)
        let applied = try persist(raft, [
            confEntry(2, term: 2, .addLearner(3, NodeAttributes(level: 2))),
            commandEntry(3, term: 2, .upsertMember(n3)),
            confEntry(4, term: 2, .promote(3)),
            writeEntry(5, term: 2, put("a", "b", "{}")),
        ], term: 2)
        XCTAssertEqual(applied.map(\.membershipChanged), [true, true, true, false])
        XCTAssertEqual(raft.confState.voters, [1, 3])
        XCTAssertEqual(raft.confState.attributes(of: 3).level, 2)
        XCTAssertEqual(raft.members().map(\.id), ["n1", "n3"])
        XCTAssertEqual(try raft.snapshot().metadata.confState, raft.confState)

        // Same Raft id: updated; same name, another Raft id: the old row goes.
        var moved = n3
        moved.url = "http://h3b"
        let renamed = Member(id: "n3", raftID: 33, url: "http://h33", level: 4, joinedAtIndex: 7)
        try persist(raft, [commandEntry(6, term: 2, .upsertMember(moved))], term: 2)
        XCTAssertEqual(raft.members().last, moved)
        try persist(raft, [commandEntry(7, term: 2, .upsertMember(renamed)), confEntry(8, term: 2, .remove(3)),
                           commandEntry(9, term: 2, .removeMember(raftID: 1))], term: 2)
        XCTAssertEqual(raft.members(), [renamed])
        XCTAssertEqual(raft.confState.voters, [1])
        // An invalid change is ignored alike by every member (ConfState.applying).
        try persist(raft, [confEntry(10, term: 2, .remove(1))], term: 2)
        XCTAssertEqual(raft.confState.voters, [1])

        let conf = raft.confState
        (store, raft) = try reopen(store)
        XCTAssertEqual(raft.confState, conf)
        XCTAssertEqual(raft.members(), [renamed])
        _ = store
    }

    func testClusterMapIsACompareAndSetAndSurvivesARestart() throws {
        var (store, raft) = try openRaft()
        let seen = Mutex<[UInt64]>([])
        store.onClusterMapChanged { map in seen.withLock { $0.append(map.version) } }
        XCTAssertNil(store.clusterMap)
        let first = Array(#"{"version":2}"#.utf8), second = Array(#"{"version":3}"#.utf8)
        try persist(raft, [
            commandEntry(2, term: 2, .setClusterMap(expectedVersion: 0, version: 2, body: first)),
            commandEntry(3, term: 2, .setClusterMap(expectedVersion: 1, version: 9, body: second)),  // stale: ignored
            commandEntry(4, term: 2, .setClusterMap(expectedVersion: 2, version: 2, body: second)),  // not newer: ignored
        ], term: 2)
        XCTAssertEqual(store.clusterMap, StoredClusterMap(version: 2, body: first))
        try persist(raft, [commandEntry(5, term: 2, .setClusterMap(expectedVersion: 2, version: 3, body: second))], term: 2)
        XCTAssertEqual(store.clusterMap, StoredClusterMap(version: 3, body: second))
        XCTAssertEqual(seen.withLock { $0 }, [2, 3])
        // A member admitted without an index gets the index of the entry that admitted it.
        try persist(raft, [commandEntry(6, term: 2, .upsertMember(Member(id: "n4", raftID: 4, url: "u", level: 1, joinedAtIndex: 0)))],
                    term: 2)
        XCTAssertEqual(raft.members().first { $0.id == "n4" }?.joinedAtIndex, 6)
        (store, raft) = try reopen(store)
        XCTAssertEqual(store.clusterMap, StoredClusterMap(version: 3, body: second))
        _ = raft
    }

    // MARK: Reading the log

    func testEntriesHonourTheByteLimitFromMemoryAndFromDisk() throws {
        var (store, raft) = try openRaft()
        let count: UInt64 = 5_000  // more than the in-memory window
        let entries = (2...count + 1).map { Entry(term: 2, index: $0, kind: .normal, data: [UInt8](repeating: 7, count: 76)) }
        _ = try raft.save(Ready(entries: entries, mustSync: true))
        XCTAssertEqual(try raft.lastIndex(), count + 1)
        for low: UInt64 in [2, 100, count - 10] {  // from disk, then from memory
            XCTAssertEqual(try raft.entries(from: low, to: low + 5, maxBytes: .max).map(\.index), Array(low..<low + 5))
            XCTAssertEqual(try raft.entries(from: low, to: low + 5, maxBytes: 0).map(\.index), [low], "always one")
            XCTAssertEqual(try raft.entries(from: low, to: low + 5, maxBytes: 100).count, 1)
            XCTAssertEqual(try raft.entries(from: low, to: low + 5, maxBytes: 200).count, 2)
            XCTAssertEqual(try raft.entries(from: low, to: low + 5, maxBytes: 299).count, 2)
            XCTAssertEqual(try raft.entries(from: low, to: low + 5, maxBytes: 300).count, 3)
            XCTAssertEqual(try raft.entries(from: low, to: low, maxBytes: 300), [])
        }
        XCTAssertEqual(try raft.entries(from: 2, to: count + 2, maxBytes: .max), entries)
        (store, raft) = try reopen(store)
        XCTAssertEqual(try raft.entries(from: 2, to: count + 2, maxBytes: .max), entries)
        XCTAssertEqual(try raft.term(at: 3), 2)
        _ = store
    }

    // MARK: Compaction

    func testCompaction() throws {
        var (store, raft) = try openRaft()
        try persist(raft, (2...10).map { writeEntry($0, term: 2, put("c", "d\($0)", "{}")) }, term: 2)
        try persist(raft, (11...15).map { writeEntry($0, term: 3, put("c", "d\($0)", "{}")) }, term: 3)
        try persist(raft, (16...20).map { noop($0, term: 3) }, term: 3, commit: false)
        XCTAssertThrowsError(try raft.compact(keepingAfter: 16), "not applied yet")
        try raft.compact(keepingAfter: 12)
        XCTAssertEqual(try raft.firstIndex(), 13)
        XCTAssertEqual(try raft.lastIndex(), 20)
        XCTAssertEqual(raft.compactedIndex, 12)
        XCTAssertEqual(try raft.term(at: 12), 3)
        XCTAssertEqual(try raft.term(at: 13), 3)
        XCTAssertThrowsError(try raft.term(at: 11)) { XCTAssertEqual($0 as? RaftError, .compacted(index: 11)) }
        XCTAssertThrowsError(try raft.entries(from: 12, to: 14, maxBytes: .max)) { XCTAssertEqual($0 as? RaftError, .compacted(index: 12)) }
        XCTAssertEqual(try raft.entries(from: 13, to: 21, maxBytes: .max).map(\.index), Array(13...20))
        XCTAssertEqual(try scalar(databasePath, "SELECT count(*) FROM raft_log"), 8)
        try raft.compact(keepingAfter: 5)  // below the compaction point: nothing to do
        XCTAssertEqual(try raft.firstIndex(), 13)
        XCTAssertEqual(try raft.snapshot().metadata.index, 15)
        XCTAssertEqual(try raft.snapshot().metadata.term, 3)

        (store, raft) = try reopen(store)
        XCTAssertEqual(try raft.firstIndex(), 13)
        XCTAssertEqual(try raft.term(at: 12), 3)
        XCTAssertEqual(try raft.lastIndex(), 20)
        XCTAssertEqual(raft.appliedIndex, 15)
        // Compacting everything applied leaves an empty log that still answers the point's term.
        _ = try raft.save(Ready(hardState: HardState(term: 3, vote: 1, commit: 20), committedEntries: (16...20).map { noop($0, term: 3) }))
        try raft.compact(keepingAfter: 20)
        XCTAssertEqual(try raft.firstIndex(), 21)
        XCTAssertEqual(try raft.lastIndex(), 20)
        XCTAssertEqual(try raft.term(at: 20), 3)
        try persist(raft, [noop(21, term: 4)], term: 4)
        XCTAssertEqual(try raft.term(at: 21), 4)
        _ = store
    }
}

/// The log reads (served from memory or disk) against a plain model, under random appends
/// that overwrite suffixes, applies, compactions and restarts.
final class RaftLogModelTests: RaftStoreTestCase {
    private struct Random: RandomNumberGenerator {
        var source: SplitMix64
        init(state: UInt64) { source = SplitMix64(seed: state) }
        mutating func next() -> UInt64 { source.next() }
        mutating func below(_ bound: UInt64) -> UInt64 { bound == 0 ? 0 : next() % bound }
        mutating func inRange(_ range: ClosedRange<UInt64>) -> UInt64 { range.lowerBound + below(range.upperBound - range.lowerBound + 1) }
    }

    func testReadsMatchAModel() throws {
        var random = Random(state: 2026)
        var (store, raft) = try openRaft()
        // The model: the compaction point and the entries after it.
        var compact: (index: UInt64, term: UInt64) = (1, 1)
        var log: [Entry] = []
        var applied: UInt64 = 1
        var term: UInt64 = 1
        var last: UInt64 { compact.index + UInt64(log.count) }
        func modelTerm(_ index: UInt64) -> UInt64 { index == compact.index ? compact.term : log[Int(index - compact.index - 1)].term }

        var maxHeld = 0
        for step in 0..<300 {
            switch random.below(10) {
            case 0...5:  // append, possibly overwriting a suffix above the applied index
                let start = random.below(4) == 0 ? random.inRange(applied + 1...last + 1) : last + 1
                term = max(term, modelTerm(start - 1)) + random.below(2)
                let count = random.inRange(1...400)
                let entries = (0..<count).map { offset in
                    Entry(term: term, index: start + offset, kind: .normal, data: [UInt8](repeating: UInt8(step % 251), count: Int(random.below(40))))
                }
                _ = try raft.save(Ready(entries: entries))
                log.removeSubrange(Int(start - compact.index - 1)...)
                log += entries
            case 6, 7:  // apply up to a point
                guard last > applied else { continue }
                let upTo = random.inRange(applied + 1...last)
                let committed = Array(log[Int(applied - compact.index)..<Int(upTo - compact.index)])
                    .map { Entry(term: $0.term, index: $0.index, kind: .noop) }  // applying data is not the point here
                _ = try raft.save(Ready(hardState: HardState(term: term, vote: 1, commit: upTo), committedEntries: committed))
                applied = upTo
            case 8:  // compact (now and then)
                guard applied > compact.index, random.below(3) == 0 else { continue }
                var to = random.inRange(compact.index + 1...applied)
                // Often right around a term boundary, where the term bookkeeping is subtle.
                let boundaries = log.indices.dropFirst().filter { log[$0].term != log[$0 - 1].term }.map { log[$0].index }
                if random.below(2) == 0, let boundary = boundaries.randomElement(using: &random) {
                    to = min(max(boundary + random.below(3), compact.index + 3) - 2, applied)
                }
                try raft.compact(keepingAfter: to)
                let pointTerm = modelTerm(to)
                log.removeFirst(Int(to - compact.index))
                compact = (to, pointTerm)
            default:  // restart
                (store, raft) = try reopen(store)
            }
            maxHeld = max(maxHeld, log.count)
            XCTAssertEqual(try raft.firstIndex(), compact.index + 1, "step \(step)")
            XCTAssertEqual(try raft.lastIndex(), last, "step \(step)")
            XCTAssertEqual(raft.appliedIndex, applied, "step \(step)")
            // Terms: the ends, both sides of every term boundary, and random points.
            var probes = [compact.index, min(compact.index + 1, last), last]
            for position in log.indices.dropFirst() where log[position].term != log[position - 1].term {
                probes += [log[position].index - 1, log[position].index]
            }
            probes += (0..<20).map { _ in random.inRange(compact.index...last) }
            for index in probes {
                XCTAssertEqual(try raft.term(at: index), modelTerm(index), "step \(step) index \(index)")
            }
            guard last > compact.index else { continue }
            for _ in 0..<5 {
                let low = random.inRange(compact.index + 1...last)
                let high = random.inRange(low...last + 1)
                let budget = random.below(2) == 0 ? UInt64.max : random.below(3_000)
                var expected: [Entry] = []
                var size: UInt64 = 0
                for entry in log[Int(low - compact.index - 1)..<Int(high - compact.index - 1)] {
                    size += entry.byteSize
                    if !expected.isEmpty && size > budget { break }
                    expected.append(entry)
                }
                XCTAssertEqual(try raft.entries(from: low, to: high, maxBytes: budget), expected, "step \(step) \(low)..<\(high) budget \(budget)")
            }
        }
        XCTAssertGreaterThan(maxHeld, 5_000, "the log outgrew the in-memory window, so reads also came from disk")
        _ = store
    }
}
