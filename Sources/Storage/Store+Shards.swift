import RaftCore
import Logging
import Sharding
import SQLite
import Synchronization

/// What the Raft groups of this node published: each one's bucket range (for routing) and
/// applied index (for reads that wait for an index). Shard 1's applied index is the store's
/// ``Store/appliedIndex``.
final class ShardsState: Sendable {
    let table = Mutex(ShardTable([]))
    let applied = Mutex<[Int: UInt64]>([:])
    let observer = Mutex<ShardAppliedObserver?>(nil)
    /// The meta shard's node directory and configuration, for the other groups.
    let directory = Mutex<(generation: UInt64, members: [Member], conf: ConfState)>((0, [], .empty))
    /// Moved shards' placements as the replicated map lists them: Raft ids and the shard
    /// version the move was asked at (see ``Store/placement(shard:)``).
    let placements = Mutex<[Int: (nodes: Set<UInt64>, version: UInt64)]>([:])
    /// The writer connection every group uses, once Raft started (see `SharedWriter`).
    let writer = Mutex<SharedWriter?>(nil)
}

final class ShardAppliedObserver: Sendable {
    let call: @Sendable (Int, UInt64) -> Void
    init(_ call: @escaping @Sendable (Int, UInt64) -> Void) { self.call = call }
}

extension Store {
    /// The shards whose groups this node holds, with their ranges as of their applied
    /// indexes. A standalone node (no Raft) owns every bucket as shard 1.
    public var shardTable: ShardTable {
        let table = shardsState.table.withLock { $0 }
        return table.shards.isEmpty ? ShardTable() : table
    }

    /// The last entry shard `shard`'s group applied here (0 when this node holds no replica of it).
    public func appliedIndex(shard: Int) -> UInt64 {
        shard == 1 ? appliedIndex : shardsState.applied.withLock { $0[shard] ?? 0 }
    }

    /// Registers the function called (on a Raft thread, after the entries are durable) with
    /// each new applied index of a group other than shard 1 (shard 1 reports to
    /// ``onApplied(_:)``). Set once.
    public func onShardApplied(_ observer: @escaping @Sendable (_ shard: Int, _ index: UInt64) -> Void) {
        shardsState.observer.withLock { $0 = ShardAppliedObserver(observer) }
    }

    func publishApplied(shard: Int, index: UInt64) {
        if shard == 1 {
            state.appliedIndex.store(index, ordering: .releasing)
        } else {
            shardsState.applied.withLock { $0[shard] = index }
        }
    }

    func notifyApplied(shard: Int, index: UInt64) {
        if shard == 1 {
            if let observer = state.observer.withLock({ $0 }) { observer.function(index) }
        } else if let observer = shardsState.observer.withLock({ $0 }) {
            observer.call(shard, index)
        }
    }

    /// Transactions the Raft groups committed together, and the group saves they carried
    /// (their ratio: how often groups shared a commit and its fsync); zero before Raft starts.
    public var sharedCommits: (commits: UInt64, saves: UInt64) {
        guard let writer = shardsState.writer.withLock({ $0 }) else { return (0, 0) }
        let statistics = writer.statistics
        return (statistics.commits, statistics.jobs)
    }

    /// The node directory as the meta shard's Raft thread last published it.
    public var members: [Member] { shardsState.directory.withLock { $0.members } }
    /// Changes whenever ``members`` or ``metaConfState`` does.
    public var membersGeneration: UInt64 { shardsState.directory.withLock { $0.generation } }
    /// The meta shard's configuration: the other groups mirror its voters and learners.
    public var metaConfState: ConfState { shardsState.directory.withLock { $0.conf } }

    public func publishMembers(_ members: [Member]) {
        shardsState.directory.withLock { $0.members = members; $0.generation += 1 }
    }

    /// The nodes (Raft ids) shard `shard` was moved to, while the move still applies to the
    /// shard's range as this node applied it (a split since cancels it); nil: the shard follows
    /// the meta shard's configuration (docs/ARCHITECTURE.md, "Moving a shard").
    public func placement(shard: Int) -> Set<UInt64>? {
        guard let placed = shardsState.placements.withLock({ $0[shard] }),
              let descriptor = shardTable[shard], descriptor.version == placed.version else { return nil }
        return placed.nodes
    }

    /// The nodes (Raft ids) the map places shard `shard` on, whatever its version; nil when
    /// the shard is on every node.
    public func placementNodes(shard: Int) -> Set<UInt64>? {
        shardsState.placements.withLock { $0[shard]?.nodes }
    }

    /// Replaces the placements (from each newly applied cluster map).
    public func publishPlacements(_ placements: [Int: (nodes: Set<UInt64>, version: UInt64)]) {
        shardsState.placements.withLock { $0 = placements }
    }

    func publishMetaConf(_ conf: ConfState) {
        shardsState.directory.withLock { if $0.conf != conf { $0.conf = conf; $0.generation += 1 } }
    }

    func publishDescriptor(_ descriptor: ShardDescriptor) {
        shardsState.table.withLock { table in
            table.remove(descriptor.id)
            table.merge(descriptor)
        }
    }

    /// The groups stored in the file other than shard 1 (to open at startup).
    public func storedGroups() throws(StorageError) -> [ShardDescriptor] {
        try readers.withReader { reader throws(StorageError) in try Schema.groups(reader.connection) }.filter { $0.id != 1 }
    }

    /// Opens the storage of shard `shard`'s group on the node's shared writer connection (its
    /// transactions take turns with the other groups'). The group's row must exist: made by a
    /// split applied here, or by ``createGroup(shard:)``.
    public func openGroup(shard: Int) throws(StorageError) -> RaftStore {
        guard shard > 1 else { throw .invalidCommand("shard 1 is opened by startRaft") }
        guard let writer = shardsState.writer.withLock({ $0 }) else {
            throw .invalidCommand("Raft has not started on this store: no groups to open")
        }
        let placeholder = Member(id: "", raftID: 0, url: "", level: 1, joinedAtIndex: 0)
        return try RaftStore(store: self, writer: writer, shard: shard, bootstrap: false, selfMember: placeholder)
    }

    /// Records an empty group for shard `shard` (no range, no configuration): a node that
    /// holds no data of it yet and will receive a snapshot from its leader. Does nothing
    /// when the group exists.
    public func createGroup(shard: Int) throws(StorageError) {
        guard shard > 1 else { throw .invalidCommand("shard 1 is created by startRaft") }
        guard let writer = shardsState.writer.withLock({ $0 }) else {
            throw .invalidCommand("Raft has not started on this store: no groups to create")
        }
        let connection = writer.connection
        try writer.locked { () throws(StorageError) in try sqlite { () throws(SQLite.Error) in
            let statement = try connection.prepare("""
                INSERT OR IGNORE INTO raft_groups (shard, term, vote, commit_index, compact_index, compact_term, conf_state,
                                                   applied_index, first_bucket, last_bucket, range_version)
                VALUES (?1, 0, 0, 0, 0, 0, ?2, 0, 1, 0, 0)
                """)
            try statement.bind(shard, at: 1)
            try statement.bind(blob: RaftCore.ConfState.empty.encoded(), at: 2)
            try statement.run()
        } }
    }
}

extension Store {
    /// Forgets shard `shard`'s group on this node — its row, its log and the documents of its
    /// range — once it no longer holds a replica of it (the shard was moved to other nodes;
    /// docs/ARCHITECTURE.md, "Moving a shard"). Its replica must be stopped first. Documents
    /// of buckets another group here owns are kept; collection counts are recomputed.
    public func dropGroup(shard: Int) throws(StorageError) {
        guard shard > 1 else { throw .invalidCommand("shard 1 (the meta shard) lives on every node") }
        guard let writer = shardsState.writer.withLock({ $0 }) else { return }
        let table = shardTable
        let others = table.shards.values.filter { $0.id != shard }.compactMap(\.buckets)
        let owned = table[shard]?.buckets
        let connection = writer.connection
        let documents = try writer.locked { () throws(StorageError) -> Int in
            try sqlite { () throws(SQLite.Error) -> Int in
                try connection.begin(.immediate)
                do throws(SQLite.Error) {
                    if let owned {  // by runs of buckets no other group here owns
                        var first: Int?
                        for bucket in owned.lowerBound...(owned.upperBound + 1) {
                            let free = bucket <= owned.upperBound && !others.contains { $0.contains(bucket) }
                            if free, first == nil { first = bucket }
                            if !free, let start = first {
                                try connection.execute("DELETE FROM documents WHERE bucket BETWEEN \(start) AND \(bucket - 1)")
                                first = nil
                            }
                        }
                    }
                    try connection.execute("""
                        DELETE FROM raft_log WHERE idx >= \(RaftStore.keyBase(shard: shard)) AND idx < \(RaftStore.keyBase(shard: shard + 1));
                        DELETE FROM raft_groups WHERE shard = \(shard);
                        DELETE FROM collections;
                        INSERT INTO collections (name, count) SELECT collection, count(*) FROM documents
                            WHERE deleted = 0 GROUP BY collection
                        """)
                    let live = Int(try connection.scalarInt64("SELECT coalesce(sum(count), 0) FROM collections") ?? 0)
                    try connection.commit()
                    return live
                } catch {
                    try? connection.rollback()
                    throw error
                }
            }
        }
        shardsState.table.withLock { $0.remove(shard) }
        _ = shardsState.applied.withLock { $0.removeValue(forKey: shard) }
        state.documentCount.store(documents, ordering: .relaxed)
        state.settingsGeneration.add(1, ordering: .releasing)
    }
}
