#if canImport(Glibc)
import Glibc
#endif
import RaftCore
import SQLite

extension Store {
    /// True when this store's file belongs to a Raft group: it was opened in Raft mode or
    /// ``startRaft(bootstrap:selfRaftID:selfMember:)`` switched it.
    public var isRaftMode: Bool { raftMode.load(ordering: .acquiring) }

    /// True when the database at `path` belongs to a Raft group (false when the file does not
    /// exist or is a single node's), so the executable knows at startup whether the data
    /// directory already has a cluster. Throws ``StorageError/corrupt(_:)`` for a file that is
    /// not a machdb database.
    public static func isRaftMode(path: String) throws(StorageError) -> Bool {
        guard FileSystem.exists(path) else { return false }
        let connection = try sqlite { () throws(SQLite.Error) in
            let connection = try Connection(path: path, mode: .readOnly)
            try connection.setBusyTimeout(milliseconds: 5_000)
            return connection
        }
        let objects = try sqlite { () throws(SQLite.Error) in try connection.scalarInt64("SELECT count(*) FROM sqlite_schema") ?? 0 }
        guard objects > 0 else { return false }
        _ = try Schema.version(of: connection)
        return try Schema.isRaftMode(connection)
    }

    /// Switches the store to Raft replication and returns the storage the replica thread
    /// drives. Call it on the thread that will own the result (the replica thread).
    ///
    /// Stops the committer first: commands already queued are committed, then ``submit(_:completion:)``
    /// returns false for good. The writer connection passes to the ``RaftStore``. Then:
    /// - the file is already in Raft mode (a restart): its Raft state is opened as stored;
    ///   `bootstrap` and `selfMember` are not used;
    /// - `bootstrap` (the first node of a group, possibly a Mach I node with documents): the
    ///   existing documents become the state at a compaction point `max(appliedIndex, 1)`,
    ///   term 1, with `selfRaftID` the only voter (at `selfMember.level`) and `selfMember`
    ///   (admitted at that index) the only member; new entries follow that index;
    /// - otherwise (a node joining a group): the Raft state starts empty and the node awaits
    ///   a snapshot; refused when the store holds documents.
    ///
    /// Create the `RawNode` with `Config.applied = raftStore.appliedIndex`.
    public func startRaft(bootstrap: Bool, selfRaftID: UInt64, selfMember: Member) throws(StorageError) -> RaftStore {
        if !isRaftMode {
            guard selfRaftID != 0, selfMember.raftID == selfRaftID else {
                throw .invalidCommand("the Raft id must not be 0 and must be the member's (\(selfRaftID), \(selfMember.raftID))")
            }
            guard (1...5).contains(selfMember.level) else { throw .invalidCommand("level \(selfMember.level) is not in 1...5") }
            guard !selfMember.id.isEmpty else { throw .invalidCommand("the member's name is empty") }
        }
        let onCommitter = committerThread.withLock { thread in thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
        guard !onCommitter else { throw .invalidCommand("startRaft called from a write completion (the committer thread)") }
        stopCommitter()
        guard let writer = writerSlot.withLock({ slot in
            defer { slot = nil }
            return slot
        }) else {
            throw isRaftMode ? .invalidCommand("the store is already handed to Raft") : .closed
        }
        do {
            let shared = SharedWriter(writer)
            let raft = try RaftStore(store: self, writer: shared, bootstrap: bootstrap, selfMember: selfMember)
            shardsState.writer.withLock { $0 = shared }
            raftMode.store(true, ordering: .releasing)
            return raft
        } catch {
            // Give the connection back so a corrected call can retry.
            writerSlot.withLock { $0 = writer }
            throw error
        }
    }
}
