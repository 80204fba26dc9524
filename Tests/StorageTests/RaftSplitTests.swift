import RaftCore
import Sharding
import Storage
import XCTest

/// A split applied by one group's storage: the parent's range shrinks, the child group exists
/// in the same file over the documents already there, starting after the split entry; writes
/// outside a group's range are refused at apply; the state survives a restart.
final class RaftSplitTests: RaftStoreTestCase {
    /// A document id whose bucket is in `range`.
    private func id(in range: ClosedRange<Int>) -> String {
        var n = 0
        while !range.contains(Bucket.of("doc-\(n)")) { n += 1 }
        return "doc-\(n)"
    }

    func testASplitShrinksTheParentAndStartsTheChildOverTheSameDocuments() throws {
        var (store, raft) = try openRaft()
        let low = id(in: 1...499), high = id(in: 500...1000)
        try persist(raft, [writeEntry(2, term: 2, put("c", low, "1"), put("c", high, "2"))], term: 2)
        // A stale split (wrong version) changes nothing, the same on every replica.
        let stale = try persist(raft, [commandEntry(3, term: 2, .split(newShard: 500, at: 500, expectedVersion: 7))], term: 2)
        XCTAssertNil(stale[0].split)
        XCTAssertEqual(store.shardTable.sorted, [.whole])
        let applied = try persist(raft, [
            commandEntry(4, term: 2, .split(newShard: 500, at: 500, expectedVersion: 1)),
            // A straggler: proposed for the old range, committed after the split.
            writeEntry(5, term: 2, put("c", high, "3")),
            writeEntry(6, term: 2, put("c", low, "4")),
        ], term: 2)
        let child = ShardDescriptor(id: 500, firstBucket: 500, lastBucket: 1000, version: 2)
        XCTAssertEqual(applied[0].split, child)
        guard case .shardMismatch(let bucket, let current)? = applied[1].refusal else { return XCTFail("\(applied[1])") }
        XCTAssertEqual(bucket, Bucket.of(high))
        XCTAssertEqual(current, ShardDescriptor(id: 1, firstBucket: 1, lastBucket: 499, version: 2))
        XCTAssertNotNil(applied[2].result, "the parent keeps writing its own range")
        XCTAssertEqual(raft.descriptor, current)
        XCTAssertEqual(store.shardTable.sorted, [current, child])
        XCTAssertEqual(try store.document(collection: "c", id: high)?.rev, 1, "the straggler did not apply")

        // The child group: same file, same documents, an empty log after the split entry.
        let group = try store.openGroup(shard: 500)
        XCTAssertEqual(group.descriptor, child)
        XCTAssertEqual(group.appliedIndex, 4)
        XCTAssertEqual(try group.lastIndex(), 4)
        XCTAssertEqual(try group.term(at: 4), 2)
        XCTAssertEqual(group.confState, raft.confState)
        let childWrites = try persist(group, [noop(5, term: 3), writeEntry(6, term: 3, put("c", high, "5")),
                                              writeEntry(7, term: 3, put("c", low, "6"))], term: 3)
        XCTAssertEqual(try XCTUnwrap(childWrites[1].result).index, 6)
        guard case .shardMismatch? = childWrites[2].refusal else { return XCTFail("\(childWrites[2])") }
        XCTAssertEqual(try store.document(collection: "c", id: high)?.rev, 2)
        XCTAssertEqual(try store.document(collection: "c", id: low)?.rev, 2)
        XCTAssertEqual(store.appliedIndex(shard: 500), 7)
        XCTAssertEqual(store.appliedIndex(shard: 1), 6)
        XCTAssertEqual(try raft.entries(from: 5, to: 7, maxBytes: .max).count, 2, "the logs of the two groups stay apart")

        // A restart finds both groups as they were.
        (store, raft) = try reopen(store)
        XCTAssertEqual(raft.descriptor, current)
        XCTAssertEqual(try store.storedGroups(), [child])
        let reopened = try store.openGroup(shard: 500)
        XCTAssertEqual(reopened.appliedIndex, 7)
        XCTAssertEqual(try reopened.lastIndex(), 7)
        XCTAssertEqual(store.statistics.documentCount, 2)
    }

    func testASplitOutsideTheRangeOrAtItsFirstBucketIsStale() throws {
        let (store, raft) = try openRaft()
        let applied = try persist(raft, [
            commandEntry(2, term: 2, .split(newShard: 500, at: 1, expectedVersion: 1)),  // would take everything
            commandEntry(3, term: 2, .split(newShard: 600, at: 601, expectedVersion: 1)),  // id must be the first bucket
        ], term: 2)
        XCTAssertEqual(applied.compactMap(\.split), [])
        XCTAssertEqual(store.shardTable.sorted, [.whole])
        XCTAssertThrowsError(try store.openGroup(shard: 600))
    }

    /// A shard moved away: its group, log and documents go; the other group's stay, counts
    /// are recomputed, and a restart does not find it again.
    func testDroppingAGroupDeletesItsRangeOnly() throws {
        var (store, raft) = try openRaft()
        let low = id(in: 1...499), high = id(in: 500...1000)
        try persist(raft, [writeEntry(2, term: 2, put("c", low, "1"), put("c", high, "2"), put("d", high, "3"))], term: 2)
        try persist(raft, [commandEntry(3, term: 2, .split(newShard: 500, at: 500, expectedVersion: 1))], term: 2)
        let group = try store.openGroup(shard: 500)
        try persist(group, [noop(4, term: 3), writeEntry(5, term: 3, put("e", high, "4"))], term: 3)
        XCTAssertThrowsError(try store.dropGroup(shard: 1), "the meta shard is never dropped")
        try store.dropGroup(shard: 500)
        XCTAssertEqual(store.shardTable.sorted, [ShardDescriptor(id: 1, firstBucket: 1, lastBucket: 499, version: 2)])
        XCTAssertNil(try store.document(collection: "c", id: high))
        XCTAssertNil(try store.document(collection: "e", id: high))
        XCTAssertEqual(try store.document(collection: "c", id: low)?.rev, 1)
        XCTAssertEqual(try store.collections().map(\.name), ["c"])
        XCTAssertEqual(store.statistics.documentCount, 1)
        XCTAssertEqual(store.appliedIndex(shard: 500), 0)
        (store, raft) = try reopen(store)
        XCTAssertEqual(try store.storedGroups(), [])
        XCTAssertEqual(try store.collections().map(\.count), [1])
        XCTAssertEqual(try raft.lastIndex(), 3, "shard 1's log is intact")
    }

    /// Collection settings documents sit in bucket 1, which shard 1 (held by every node)
    /// never gives away.
    func testCollectionSettingsArePinnedToBucketOne() {
        XCTAssertEqual(Bucket.of(CollectionSettings.documentID(of: "carts")), 1)
        XCTAssertEqual(Bucket.of(CollectionSettings.documentID(of: "x")), 1)
    }
}
