import Glibc
import RaftCore
import SQLite
import Storage
import XCTest

final class RaftSnapshotTests: RaftStoreTestCase {
    private func copyFile(_ source: String, to destination: String) throws {
        let input = try XCTUnwrap(fopen(source, "rb"))
        defer { fclose(input) }
        let output = try XCTUnwrap(fopen(destination, "wb"))
        defer { fclose(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = fread(&buffer, 1, buffer.count, input)
            if count == 0 { break }
            XCTAssertEqual(fwrite(buffer, 1, count, output), count)
        }
    }

    private func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    func testASnapshotMadeOnOneNodeInstallsOnAnother() throws {
        // Node A: a Mach I store with documents (and a tombstone) becomes a group, then applies
        // Raft writes and membership changes.
        let a = try openStore()
        _ = try apply(a, put("carts", "c1", #"{"a": 1}"#), putRaw("files", "f", [0, 1, 255]), time: 5)
        _ = try apply(a, delete("carts", "c1"), time: 6)
        let raftA = try a.startRaft(bootstrap: true, selfRaftID: 1, selfMember: Self.n1)
        XCTAssertEqual(raftA.appliedIndex, 2)
        try persist(raftA, [
            commandEntry(3, term: 2, .setClusterMap(expectedVersion: 0, version: 2, body: Array(#"{"v":2}"#.utf8))),
            writeEntry(4, term: 2, put("carts", "c2", #"{"b": [1, 2]}"#), put("carts", "c1", "{}")),
            commandEntry(5, term: 2, .upsertMember(Self.n2)),
            confEntry(6, term: 2, .addLearner(2)),
        ], term: 2)

        raftA.liveSnapshots = true
        let snapshot = try raftA.snapshot()
        XCTAssertEqual(snapshot.metadata, SnapshotMetadata(index: 6, term: 2, confState: raftA.confState))
        let token = String(decoding: snapshot.data, as: UTF8.self)
        XCTAssertEqual(token, "snap-6-2")
        let file = try XCTUnwrap(raftA.snapshotFile(token: token))
        XCTAssertEqual(file.path, directory + "/snapshots/snap-6-2.sqlite")
        let measured = try SnapshotFiles.checksum(ofFile: file.path)
        XCTAssertEqual(measured.size, file.size)
        XCTAssertEqual(measured.checksum, file.checksum)
        XCTAssertEqual(try scalar(file.path, "SELECT count(*) FROM raft_log"), 0, "the image carries no log")
        XCTAssertEqual(try scalar(file.path, "SELECT value FROM meta WHERE key = 'applied_index'"), 6)
        XCTAssertEqual(try documentsDigest(file.path), try documentsDigest(databasePath))
        XCTAssertEqual(try raftA.snapshot(), snapshot, "reused while the log holds what follows it")
        XCTAssertNil(raftA.snapshotFile(token: "snap-1-1"))

        // Node B joins: the runtime downloads the image, then saves the Ready that carries it
        // (here with an entry that followed it in the same Ready).
        let directoryB = nodeDirectory("b")
        var (b, raftB) = try openRaft(bootstrap: false, member: Self.n2, in: directoryB)
        let incoming = raftB.incomingSnapshotPath(token: token)
        XCTAssertEqual(incoming, directoryB + "/snapshots/incoming-snap-6-2.sqlite")
        try copyFile(file.path, to: incoming)
        let next = writeEntry(7, term: 2, patch("carts", "c2", #"{"c": true}"#), put("more", "m", "1"))
        let applied = try raftB.save(Ready(hardState: HardState(term: 2, vote: 0, commit: 7), snapshot: snapshot,
                                           entries: [next], committedEntries: [next], mustSync: true))
        XCTAssertEqual(applied.map(\.index), [7])
        XCTAssertFalse(exists(incoming), "the incoming image is deleted once installed")
        try persist(raftA, [next], term: 2)

        func assertSameState(_ message: String) throws {
            XCTAssertEqual(try documentsDigest(directoryB + "/machdb.sqlite"), try documentsDigest(databasePath), message)
            XCTAssertEqual(raftB.members(), raftA.members(), message)
            XCTAssertEqual(b.clusterMap, a.clusterMap, message)
            XCTAssertEqual(b.clusterMap?.version, 2, message)
            XCTAssertEqual(raftB.confState, raftA.confState, message)
            XCTAssertEqual(raftB.appliedIndex, 7, message)
            XCTAssertEqual(b.appliedIndex, 7, message)
            XCTAssertEqual(b.statistics.documentCount, a.statistics.documentCount, message)
            XCTAssertEqual(try b.collections().map { "\($0.name)=\($0.count)" }, try a.collections().map { "\($0.name)=\($0.count)" })
            XCTAssertEqual(try raftB.firstIndex(), 7, message)
            XCTAssertEqual(try raftB.lastIndex(), 7, message)
            XCTAssertEqual(try raftB.term(at: 6), 2, message)
            XCTAssertEqual(try raftB.hardState(), HardState(term: 2, vote: 0, commit: 7), message)
        }
        try assertSameState("after the install")
        XCTAssertEqual(b.statistics.documentCount, 4)
        (b, raftB) = try reopen(b, in: directoryB)
        try assertSameState("after a restart")
        // Tombstones came along: re-creating c1 after a delete continues its rev.
        try persist(raftB, [writeEntry(8, term: 2, delete("carts", "c1")), writeEntry(9, term: 2, put("carts", "c1", "[]"))], term: 2)
        XCTAssertEqual(try b.document(collection: "carts", id: "c1")?.rev, 5)

        // Images: a new one once the log is compacted past the old; two are kept.
        try persist(raftA, [noop(8, term: 2)], term: 2)
        try raftA.compact(keepingAfter: 7)
        let second = try raftA.snapshot()
        XCTAssertEqual(second.metadata.index, 8)
        try persist(raftA, [noop(9, term: 2)], term: 2)
        try raftA.compact(keepingAfter: 9)
        XCTAssertEqual(String(decoding: try raftA.snapshot().data, as: UTF8.self), "snap-9-2")
        XCTAssertNil(raftA.snapshotFile(token: token))
        XCTAssertFalse(exists(file.path))
        XCTAssertNotNil(raftA.snapshotFile(token: "snap-8-2"))
        XCTAssertNotNil(raftA.snapshotFile(token: "snap-9-2"))
    }

    func testInstallKeepsTheLogAfterAMatchingSnapshotEntry() throws {
        let a = try openStore()
        for n in 1...3 { _ = try written(write(a, put("c", "d\(n)", "{}"))) }
        let raftA = try a.startRaft(bootstrap: true, selfRaftID: 1, selfMember: Self.n1)
        raftA.liveSnapshots = true
        let snapshot = try raftA.snapshot()
        XCTAssertEqual(snapshot.metadata.index, 3)
        let file = try XCTUnwrap(raftA.snapshotFile(token: "snap-3-1"))

        let directoryB = nodeDirectory("b")
        let (b, raftB) = try openRaft(bootstrap: false, member: Self.n2, in: directoryB)
        try persist(raftB, (1...5).map { noop($0, term: 1) }, term: 1, commit: false)
        try copyFile(file.path, to: raftB.incomingSnapshotPath(token: "snap-3-1"))
        XCTAssertEqual(try raftB.save(Ready(hardState: HardState(term: 1, vote: 0, commit: 3), snapshot: snapshot, mustSync: true)).count, 0)
        XCTAssertEqual(raftB.appliedIndex, 3)
        XCTAssertEqual(try raftB.firstIndex(), 4)
        XCTAssertEqual(try raftB.lastIndex(), 5, "entries after the snapshot's were kept")
        XCTAssertEqual(try raftB.entries(from: 4, to: 6, maxBytes: .max), [noop(4, term: 1), noop(5, term: 1)])
        XCTAssertEqual(try documentsDigest(directoryB + "/machdb.sqlite"), try documentsDigest(databasePath))
        XCTAssertEqual(b.statistics.documentCount, 3)
        XCTAssertEqual(raftB.members(), [Member(id: "n1", raftID: 1, url: Self.n1.url, level: 3, joinedAtIndex: 3)])
    }

    func testABadImageIsRefusedAndChangesNothing() throws {
        let a = try openStore()
        for n in 1...3 { _ = try written(write(a, put("c", "d\(n)", "{}"))) }
        let raftA = try a.startRaft(bootstrap: true, selfRaftID: 1, selfMember: Self.n1)
        raftA.liveSnapshots = true
        let good = try raftA.snapshot()
        let file = try XCTUnwrap(raftA.snapshotFile(token: "snap-3-1"))

        let directoryB = nodeDirectory("b")
        let (_, raftB) = try openRaft(bootstrap: false, member: Self.n2, in: directoryB)
        func install(_ snapshot: Snapshot) throws {
            _ = try raftB.save(Ready(hardState: HardState(term: 1, vote: 0, commit: snapshot.metadata.index), snapshot: snapshot, mustSync: true))
        }
        XCTAssertThrowsError(try install(good), "not downloaded") { error in
            guard case .io = error as? StorageError else { return XCTFail("\(error)") }
        }
        // An image of another index than the snapshot's.
        var later = good
        later.metadata.index = 4
        later.data = Array("snap-4-1".utf8)
        try copyFile(file.path, to: raftB.incomingSnapshotPath(token: "snap-4-1"))
        XCTAssertThrowsError(try install(later)) { error in
            guard case let .corrupt(detail) = error as? StorageError else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("state at 3"), detail)
        }
        // Not a database at all.
        let garbage = raftB.incomingSnapshotPath(token: "snap-3-1")
        let handle = try XCTUnwrap(fopen(garbage, "wb"))
        fputs(String(repeating: "not a database ", count: 500), handle)
        fclose(handle)
        XCTAssertThrowsError(try install(good))
        XCTAssertEqual(raftB.appliedIndex, 0)
        XCTAssertEqual(try raftB.lastIndex(), 0)
        XCTAssertEqual(raftB.hardStateValue, HardState())
        // A token from the network cannot leave the snapshot directory.
        XCTAssertEqual(raftB.incomingSnapshotPath(token: "../../etc/x y"), directoryB + "/snapshots/incoming-..%2F..%2Fetc%2Fx%20y.sqlite")
        // The good image still installs afterwards.
        try copyFile(file.path, to: garbage)
        try install(good)
        XCTAssertEqual(raftB.appliedIndex, 3)
    }

    // MARK: End to end with RaftCore

    /// A single bootstrapped node driven by RaftCore's RawNode over the RaftStore: campaign,
    /// propose encoded writes, loop ready → save → advance.
    func testRawNodeOverRaftStore() throws {
        var store = try openStore()
        _ = try written(write(store, put("carts", "mach1", "{}")))
        var raft = try store.startRaft(bootstrap: true, selfRaftID: 1, selfMember: Self.n1)

        var appliedEntries: [AppliedEntry] = []
        func makeNode() throws -> RawNode {
            var config = Config(id: 1, randomSeed: 7)
            config.applied = raft.appliedIndex
            let node = try RawNode(config: config, storage: raft)
            raft.liveSnapshots = true
            return node
        }
        func drive(_ node: RawNode) throws {
            var rounds = 0
            while node.hasReady {
                let ready = node.ready()
                XCTAssertTrue(ready.messages.isEmpty, "a single node sends nothing")
                appliedEntries += try raft.save(ready)
                node.advance(ready)
                rounds += 1
                XCTAssertLessThan(rounds, 100)
            }
        }
        func propose(_ node: RawNode, _ sequence: UInt64, _ operation: WriteOperation) throws -> LogPosition {
            let command = LogCommand.write(WriteCommand(operations: [operation], timestampMilliseconds: 1_000 + Int64(sequence)),
                                           proposal: ProposalID(node: 1, sequence: sequence))
            return try node.propose(command.encoded())
        }

        var node = try makeNode()
        try node.campaign()
        try drive(node)
        XCTAssertEqual(node.softState.role, .leader)
        var positions: [UInt64: LogPosition] = [:]
        for sequence: UInt64 in 1...5 {
            positions[sequence] = try propose(node, sequence, put("carts", "c\(sequence)", #"{"n": \#(sequence)}"#))
        }
        positions[6] = try propose(node, 6, patch("carts", "c1", #"{"patched": true}"#))
        try drive(node)

        XCTAssertEqual(positions[1]?.index, 3, "after the bootstrap point (1) and the new leader's empty entry (2)")
        for (sequence, position) in positions {
            let entry = try XCTUnwrap(appliedEntries.first { $0.proposal?.sequence == sequence })
            XCTAssertEqual(entry.index, position.index)
            XCTAssertEqual(entry.term, position.term)
            XCTAssertEqual(entry.result?.index, position.index)
        }
        for sequence: UInt64 in 2...5 {
            XCTAssertEqual(try store.document(collection: "carts", id: "c\(sequence)")?.writeIndex, positions[sequence]?.index)
        }
        XCTAssertEqual(try store.document(collection: "carts", id: "c1")?.writeIndex, positions[6]?.index)
        XCTAssertEqual(try store.document(collection: "carts", id: "mach1")?.writeIndex, 1)
        XCTAssertEqual(store.appliedIndex, 8)
        XCTAssertEqual(node.status.applied, 8)
        XCTAssertEqual(raft.hardStateValue, node.hardState)
        XCTAssertEqual(store.statistics.documentCount, 6)

        // Compaction under a live node, then a restart: nothing is applied twice, and the log
        // continues where it was.
        try raft.compact(keepingAfter: 6)
        XCTAssertEqual(try raft.snapshot().metadata.index, 8)
        let term = node.hardState.term
        appliedEntries = []
        (store, raft) = try reopen(store)
        node = try makeNode()
        XCTAssertEqual(node.status.applied, 8)
        XCTAssertEqual(node.hardState.term, term)
        try node.campaign()
        try drive(node)
        XCTAssertEqual(appliedEntries.map(\.proposal), [nil], "only the new leader's empty entry")
        let again = try propose(node, 7, put("carts", "c1", "[]"))
        try drive(node)
        XCTAssertEqual(again.index, 10)
        XCTAssertEqual(try store.document(collection: "carts", id: "c1")?.rev, 3)
        XCTAssertEqual(try store.document(collection: "carts", id: "c1")?.writeIndex, 10)
        XCTAssertEqual(store.appliedIndex, 10)
    }
}
