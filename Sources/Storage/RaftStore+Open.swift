import Logging
import RaftCore
import Sharding
import SQLite

extension RaftStore {
    /// Writes the meta shard's `raft_groups` row (the file enters Raft mode), in one transaction.
    ///
    /// - `bootstrap`: the founder of a group. The documents already stored (a Mach I node's)
    ///   are the state at a compaction point `P = max(applied_index, 1)`, term 1, with
    ///   configuration `{voters: [self]}`; hard state `(term 1, no vote, commit P)`,
    ///   `applied_index = P`, and `selfMember` (admitted at `P`) in `members`. New entries
    ///   start at `P + 1`.
    /// - otherwise a joining node: everything empty (compaction point 0, empty configuration);
    ///   it receives a snapshot. Refused when the store holds documents or an applied index.
    static func initialize(_ connection: Connection, bootstrap: Bool, selfMember: Member, logger: Logger) throws(StorageError) {
        try sqlite { () throws(SQLite.Error) in try connection.begin(.immediate) }
        do throws(StorageError) {
            let (applied, documents) = try sqlite { () throws(SQLite.Error) in
                (UInt64(try connection.scalarInt64("SELECT value FROM meta WHERE key = 'applied_index'") ?? 0),
                 try connection.scalarInt64("SELECT count(*) FROM documents") ?? 0)
            }
            let insert = try sqlite { () throws(SQLite.Error) in
                try connection.prepare("""
                    INSERT INTO raft_groups (shard, term, vote, commit_index, compact_index, compact_term, conf_state,
                                             applied_index, first_bucket, last_bucket, range_version)
                    VALUES (1, ?1, 0, ?2, ?2, ?3, ?4, NULL, 1, 1000, 1)
                    """)
            }
            if bootstrap {
                let point = max(applied, 1)
                let attributes = NodeAttributes(level: UInt8(selfMember.level))
                let conf = ConfState(voters: [selfMember.raftID], attributes: [selfMember.raftID: attributes])
                try sqlite { () throws(SQLite.Error) in
                    try connection.execute("DELETE FROM raft_log; DELETE FROM members; DELETE FROM raft_groups")
                    try insert.bind(Int64(1), at: 1)
                    try insert.bind(Int64(bitPattern: point), at: 2)
                    try insert.bind(Int64(1), at: 3)
                    try insert.bind(blob: conf.encoded(), at: 4)
                    try insert.run()
                    try connection.execute("UPDATE meta SET value = \(Int64(bitPattern: point)) WHERE key = 'applied_index'")
                    let member = try connection.prepare("""
                        INSERT INTO members (raft_id, id, url, level, joined_at_index) VALUES (?1, ?2, ?3, ?4, ?5)
                        """)
                    try member.bind(Int64(bitPattern: selfMember.raftID), at: 1)
                    try member.bind(selfMember.id, at: 2)
                    try member.bind(selfMember.url, at: 3)
                    try member.bind(selfMember.level, at: 4)
                    try member.bind(Int64(bitPattern: point), at: 5)
                    try member.run()
                }
                logger.info("raft group bootstrapped", metadata: [
                    "index": "\(point)", "documents": "\(documents)", "node": "\(selfMember.id)", "raft_id": "\(selfMember.raftID)",
                ])
            } else {
                guard applied == 0 && documents == 0 else {
                    throw .invalidCommand("""
                        a joining node must start empty; this store holds \(documents) documents \
                        (applied index \(applied))
                        """)
                }
                try sqlite { () throws(SQLite.Error) in
                    try connection.execute("DELETE FROM raft_log; DELETE FROM members; DELETE FROM raft_groups")
                    try insert.bind(Int64(0), at: 1)
                    try insert.bind(Int64(0), at: 2)
                    try insert.bind(Int64(0), at: 3)
                    try insert.bind(blob: ConfState.empty.encoded(), at: 4)
                    try insert.run()
                }
                logger.info("raft storage created for a joining node", metadata: ["node": "\(selfMember.id)"])
            }
            try sqlite { () throws(SQLite.Error) in try connection.commit() }
        } catch {
            try? connection.rollback()
            throw error
        }
    }

    /// The Raft state read back from the file.
    struct Loaded {
        var cache: RaftLogCache
        var hardState: HardState
        var applied: UInt64
        var conf: ConfState
        var members: [Member]
        var descriptor: ShardDescriptor
    }

    /// Reads the Raft state and checks its invariants: the log is contiguous from the
    /// compaction point + 1, its terms never decrease, and the applied index lies between
    /// the compaction point and the last index.
    static func load(_ connection: Connection, shard: Int, cachedEntries: Int) throws(StorageError) -> Loaded {
        var loaded: Loaded
        do {
            loaded = try loadLog(connection, shard: shard, cachedEntries: cachedEntries)
        } catch let .sqlite(error) where error.code == .corrupt && error.sql == nil {
            throw .corrupt(error.message)  // an invariant check of ours, not SQLite's
        }
        loaded.members = try readMembers(connection)
        return loaded
    }

    private static func loadLog(_ connection: Connection, shard: Int, cachedEntries: Int) throws(StorageError) -> Loaded {
        let low = keyBase(shard: shard), high = keyBase(shard: shard + 1)
        return try sqlite { () throws(SQLite.Error) in
            let row = try connection.prepare("""
                SELECT term, vote, commit_index, compact_index, compact_term, conf_state, applied_index,
                       first_bucket, last_bucket, range_version
                FROM raft_groups WHERE shard = ?1
                """)
            try row.bind(shard, at: 1)
            guard try row.step() else { throw SQLite.Error(code: .corrupt, message: "raft_groups has no row for shard \(shard)") }
            let descriptor = ShardDescriptor(id: shard, firstBucket: row.int(at: 7), lastBucket: row.int(at: 8),
                                             version: UInt64(bitPattern: row.int64(at: 9)))
            let groupApplied = UInt64(bitPattern: row.int64(at: 6))
            let hardState = HardState(term: UInt64(bitPattern: row.int64(at: 0)), vote: UInt64(bitPattern: row.int64(at: 1)),
                                      commit: UInt64(bitPattern: row.int64(at: 2)))
            let compactIndex = UInt64(bitPattern: row.int64(at: 3))
            let compactTerm = UInt64(bitPattern: row.int64(at: 4))
            let conf: ConfState
            do {
                conf = try ConfState(decoding: row.blob(at: 5))
            } catch {
                throw SQLite.Error(code: .corrupt, message: "raft_groups.conf_state of shard \(shard) does not decode: \(error)")
            }
            let applied = shard == 1
                ? UInt64(try connection.scalarInt64("SELECT value FROM meta WHERE key = 'applied_index'") ?? 0) : groupApplied

            let extent = try connection.prepare("SELECT count(*), min(idx), max(idx) FROM raft_log WHERE idx >= \(low) AND idx < \(high)")
            _ = try extent.step()
            let count = UInt64(extent.int64(at: 0))
            var lastIndex = compactIndex
            if count > 0 {
                let first = UInt64(bitPattern: extent.int64(at: 1) - low)
                lastIndex = UInt64(bitPattern: extent.int64(at: 2) - low)
                guard first == compactIndex + 1, lastIndex - first + 1 == count else {
                    throw SQLite.Error(code: .corrupt, message: """
                        raft_log is not contiguous after the compaction point \(compactIndex): \
                        \(count) entries from \(first) to \(lastIndex)
                        """)
                }
            }
            guard applied >= compactIndex, applied <= lastIndex else {
                throw SQLite.Error(code: .corrupt, message: """
                    applied index \(applied) is outside the log (compaction point \(compactIndex), last index \(lastIndex))
                    """)
            }

            var runs: [(start: UInt64, term: UInt64)] = []
            let grouped = try connection.prepare(
                "SELECT min(idx), term FROM raft_log WHERE idx >= \(low) AND idx < \(high) GROUP BY term ORDER BY 1")
            while try grouped.step() {
                let run = (start: UInt64(bitPattern: grouped.int64(at: 0) - low), term: UInt64(bitPattern: grouped.int64(at: 1)))
                if let previous = runs.last, previous.term >= run.term {
                    throw SQLite.Error(code: .corrupt, message: "raft_log terms decrease at index \(run.start)")
                }
                runs.append(run)
            }
            if let first = runs.first, first.term < compactTerm {
                throw SQLite.Error(code: .corrupt, message: "raft_log term \(first.term) is below the compaction term \(compactTerm)")
            }

            var tail: [Entry] = []
            if count > 0 {
                let from = lastIndex - min(count, UInt64(cachedEntries)) + 1
                let select = try connection.prepare(
                    "SELECT idx, term, kind, data FROM raft_log WHERE idx >= ?1 AND idx < \(high) ORDER BY idx")
                try select.bind(low + Int64(bitPattern: from), at: 1)
                while try select.step() { tail.append(try RaftStore.entry(select, keyBase: low)) }
            }
            var cache = RaftLogCache(compactIndex: compactIndex, compactTerm: compactTerm,
                                     maxEntries: cachedEntries, maxBytes: RaftStore.cachedByteLimit)
            cache.load(lastIndex: lastIndex, runs: runs, tail: tail)
            return Loaded(cache: cache, hardState: hardState, applied: applied, conf: conf, members: [], descriptor: descriptor)
        }
    }
}
