import RaftCore
import Sharding
import SQLite

extension ShardDescriptor {
    /// ``StorageError/shardMismatch(bucket:current:)`` for the first operation of `command`
    /// whose bucket this shard does not own, or nil.
    public func refusal(of command: WriteCommand) -> StorageError? {
        for operation in command.operations {
            let bucket = Bucket.of(operation.id)
            if !contains(bucket) { return .shardMismatch(bucket: bucket, current: self) }
        }
        return nil
    }
}

extension RaftStore {
    /// Inside ``save(_:)``'s transaction: applies the split entry at (`index`, `term`). When the
    /// range is still at `expectedVersion` and `at` lies inside it, the parent keeps
    /// `first ..< at`, and the child group `newShard` is created on this node with `at ... last`,
    /// the parent's configuration, the documents already here, and an empty log after the split
    /// entry's own position (index, term): every member that applies the split starts the child
    /// from the same point, copying nothing, and the child's indexes continue above the
    /// parent's at the split (a read waiting for a child index on a node that has not applied
    /// the split yet waits past it). Returns the child's descriptor, or nil when the entry is
    /// stale (the same on every replica: it depends only on the log).
    func split(newShard: Int, at: Int, expectedVersion: UInt64, index: UInt64, term: UInt64,
               _ outcome: inout SaveOutcome) throws(StorageError) -> ShardDescriptor? {
        let current = outcome.descriptor
        if current.version != expectedVersion || current.refusesSplit(at: at) != nil || newShard != at {
            logger.warning("split entry refused", metadata: [
                "shard": "\(shard)", "at": "\(at)", "new_shard": "\(newShard)", "expected_version": "\(expectedVersion)",
                "current": "\(current)",
            ])
            return nil
        }
        let existing = try sqlite { () throws(SQLite.Error) -> (term: UInt64, vote: UInt64, initialized: Bool)? in
            let row = try connection.prepare("SELECT term, vote, first_bucket <= last_bucket FROM raft_groups WHERE shard = ?1")
            try row.bind(newShard, at: 1)
            guard try row.step() else { return nil }
            return (UInt64(bitPattern: row.int64(at: 0)), UInt64(bitPattern: row.int64(at: 1)), row.int64(at: 2) != 0)
        }
        if let existing, existing.initialized {
            logger.warning("split entry names a shard this node already holds", metadata: ["shard": "\(newShard)"])
            return nil
        }
        let (parent, child) = current.split(at: at)
        // A group created empty (this node heard from the child before applying the split)
        // keeps any vote it gave: never vote twice in a term.
        let startTerm = term, startIndex = index
        let term = max(existing?.term ?? 0, startTerm)
        let vote = existing.map { $0.term == term ? $0.vote : 0 } ?? 0
        try sqlite { () throws(SQLite.Error) in
            let shrink = try connection.prepare("UPDATE raft_groups SET last_bucket = ?1, range_version = ?2 WHERE shard = ?3")
            try shrink.bind(parent.lastBucket, at: 1)
            try shrink.bind(Int64(bitPattern: parent.version), at: 2)
            try shrink.bind(shard, at: 3)
            try shrink.run()
            let create = try connection.prepare("""
                INSERT OR REPLACE INTO raft_groups (shard, term, vote, commit_index, compact_index, compact_term, conf_state,
                                                    applied_index, first_bucket, last_bucket, range_version)
                VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?4, ?7, ?8, ?9)
                """)
            try create.bind(newShard, at: 1)
            try create.bind(Int64(bitPattern: term), at: 2)
            try create.bind(Int64(bitPattern: vote), at: 3)
            try create.bind(Int64(bitPattern: startIndex), at: 4)
            try create.bind(Int64(bitPattern: startTerm), at: 5)
            try create.bind(blob: outcome.conf.encoded(), at: 6)
            try create.bind(child.firstBucket, at: 7)
            try create.bind(child.lastBucket, at: 8)
            try create.bind(Int64(bitPattern: child.version), at: 9)
            try create.run()
            let low = RaftStore.keyBase(shard: newShard), high = RaftStore.keyBase(shard: newShard + 1)
            try connection.execute("DELETE FROM raft_log WHERE idx >= \(low) AND idx < \(high)")
        }
        outcome.descriptor = parent
        logger.info("shard split", metadata: [
            "shard": "\(shard)", "kept": "\(parent.firstBucket)-\(parent.lastBucket)", "new_shard": "\(newShard)",
            "moved": "\(child.firstBucket)-\(child.lastBucket)", "version": "\(parent.version)",
        ])
        return child
    }
}
