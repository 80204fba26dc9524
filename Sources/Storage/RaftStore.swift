#if canImport(Glibc)
import Glibc
#endif
import Logging
import RaftCore
import Sharding
import SQLite

/// What applying one committed entry did, for the runtime to complete the request waiting
/// for it (matched by `proposal`, or by `(index, term)` against `RawNode.propose`'s answer).
public struct AppliedEntry: Sendable {
    public let index: UInt64
    public let term: UInt64
    /// The proposal of a ``LogCommand/write(_:proposal:)`` entry; nil for other entries.
    public let proposal: ProposalID?
    /// The write's outcomes (`result.index == index`); nil for other entries and for a
    /// refused write.
    public let result: CommandResult?
    /// A write refused as a whole (a PATCH body that is not JSON: the proposer should have
    /// checked): nothing of it was applied, its index is consumed all the same.
    public let refusal: StorageError?
    /// The entry changed the directory (`members`) or the Raft configuration.
    public let membershipChanged: Bool
    /// A split applied by this entry: the new shard's descriptor (its group now exists in
    /// the file, on this node, ready to be opened with ``Store/openGroup(shard:)``).
    public var split: ShardDescriptor? = nil
}

/// The Raft side of the node's SQLite file: the log, the hard state, the compaction point,
/// the configuration and the applied index, in the same database (and transactions) as the
/// documents. Conforms to RaftCore's `LogStorage` (reads served from memory, see
/// ``RaftLogCache``) and persists each `Ready` with ``save(_:)``.
///
/// Made by ``Store/startRaft(bootstrap:selfRaftID:selfMember:)``. Not `Sendable`: one thread
/// (the replica thread) owns it, its `RawNode` and the writer connection. Only
/// ``snapshots`` (a `Sendable` registry) may be handed to other threads.
///
/// A method that throws leaves the database as it was before the call (its transaction is
/// rolled back) but the `RawNode` may have moved on: the runtime must then stop the node
/// (restart from disk).
public final class RaftStore: LogStorage {
    /// The Raft group (shard) this is the storage of.
    public let shard: Int
    /// Added to an index to make its `raft_log` key (see `Schema`).
    let keyBase: Int64
    /// The group's bucket range and its version, as of the applied index.
    public private(set) var descriptor: ShardDescriptor
    public let store: Store
    /// The node's writer connection, shared with the other groups: used only holding `writer`'s lock.
    let writer: SharedWriter
    var connection: Connection { writer.connection }
    let applier: Applier
    let logger: Logger
    let statements: RaftStatements
    var cache: RaftLogCache
    var hard: HardState
    var applied: UInt64
    var conf: ConfState
    var memberList: [Member]

    /// Once true, ``snapshot()`` materializes the image other nodes download (set it after
    /// creating the `RawNode`, whose initialization reads the snapshot metadata only).
    public var liveSnapshots = false
    /// When false (the default), a `Ready` whose `mustSync` is false (it only applies
    /// committed entries or moves the commit index) commits without an fsync (WAL
    /// `synchronous=NORMAL`): the log and votes stay durable, a crash can only lose applied
    /// state that the log re-applies. True: every `save` fsyncs.
    public var alwaysSync = false
    /// The images made for other nodes, and where incoming ones go.
    public let snapshots: SnapshotFiles

    /// Most entries (and entry bytes) kept in memory for `entries(from:to:maxBytes:)`.
    static let cachedEntryLimit = 4096
    static let cachedByteLimit: UInt64 = 64 << 20
    /// Images kept on disk.
    static let keptImages = 2

    /// Opens the Raft state of `connection` (the store's writer, its committer stopped),
    /// creating it when the file is not yet in Raft mode (see ``Store/startRaft``).
    init(store: Store, writer: SharedWriter, shard: Int = 1, bootstrap: Bool, selfMember: Member) throws(StorageError) {
        self.shard = shard
        self.keyBase = RaftStore.keyBase(shard: shard)
        self.store = store
        self.writer = writer
        self.logger = store.logger
        let connection = writer.connection
        let (applier, statements, loaded) = try writer.locked { () throws(StorageError) in
            let applier = try Applier(connection: connection, maxJSONDepth: store.configuration.maxJSONDepth, shard: shard)
            let statements = try RaftStatements(connection, shard: shard)
            if shard == 1, !(try Schema.isRaftMode(connection)) {
                try RaftStore.initialize(connection, bootstrap: bootstrap, selfMember: selfMember, logger: store.logger)
            }
            return (applier, statements, try RaftStore.load(connection, shard: shard, cachedEntries: RaftStore.cachedEntryLimit))
        }
        self.applier = applier
        self.statements = statements
        let directory = FileSystem.directory(of: store.configuration.path) + "/snapshots"
        self.snapshots = SnapshotFiles(directory: shard == 1 ? directory : directory + "/shard-\(shard)")
        cache = loaded.cache
        hard = loaded.hardState
        applied = loaded.applied
        conf = loaded.conf
        memberList = loaded.members
        descriptor = loaded.descriptor
        if shard == 1 { store.publishMetaConf(conf) }
        try prepareSnapshotDirectory()
        store.publishApplied(shard: shard, index: applied)
        store.publishDescriptor(descriptor)
        logger.info("raft storage opened", metadata: [
            "shard": "\(shard)", "range": "\(descriptor.firstBucket)-\(descriptor.lastBucket)",
            "applied_index": "\(applied)", "first_index": "\(cache.firstIndex)", "last_index": "\(cache.lastIndex)",
            "term": "\(hard.term)", "commit": "\(hard.commit)", "voters": "\(conf.voters)", "learners": "\(conf.learners)",
        ])
    }

    // MARK: State

    /// The last entry applied (the documents are the state after it); give it to the
    /// `RawNode` as `Config.applied`.
    public var appliedIndex: UInt64 { applied }

    /// The persisted hard state.
    public var hardStateValue: HardState { hard }

    /// The configuration as of ``appliedIndex``.
    public var confState: ConfState { conf }

    /// The compaction point: entries up to it are gone (``firstIndexValue`` is one above).
    public var compactedIndex: UInt64 { cache.compactIndex }

    /// The first and last entries held (first > last when the log is empty).
    public var firstIndexValue: UInt64 { cache.firstIndex }
    public var lastIndexValue: UInt64 { cache.lastIndex }

    /// The replicated directory as of ``appliedIndex``, sorted by name.
    public func members() -> [Member] { memberList }

    // MARK: LogStorage

    public func hardState() throws(RaftError) -> HardState { hard }

    public func firstIndex() throws(RaftError) -> UInt64 { cache.firstIndex }

    public func lastIndex() throws(RaftError) -> UInt64 { cache.lastIndex }

    public func term(at index: UInt64) throws(RaftError) -> UInt64 {
        guard index >= cache.compactIndex else { throw .compacted(index: index) }
        guard index <= cache.lastIndex else { throw .unavailable(index: index) }
        guard let term = cache.term(at: index) else { throw .storage("no term known for index \(index)") }
        return term
    }

    public func entries(from low: UInt64, to high: UInt64, maxBytes: UInt64) throws(RaftError) -> [Entry] {
        guard low > cache.compactIndex else { throw .compacted(index: low) }
        guard high <= cache.lastIndex + 1 else { throw .unavailable(index: high - 1) }
        guard low < high else { return [] }
        if let cached = cache.cachedEntries(from: low, to: high, maxBytes: maxBytes) { return cached }
        do {
            return try writer.locked { () throws(StorageError) in try readEntries(from: low, to: high, maxBytes: maxBytes) }
        } catch {
            throw .storage("reading log entries \(low)..<\(high): \(error)")
        }
    }

    /// Entries `low ..< high` from the table (all present: the caller checked the range).
    private func readEntries(from low: UInt64, to high: UInt64, maxBytes: UInt64) throws(StorageError) -> [Entry] {
        let statement = statements.selectEntries
        return try sqlite { () throws(SQLite.Error) in
            defer { statement.reset() }
            try statement.bind(keyBase + Int64(bitPattern: low), at: 1)
            try statement.bind(keyBase + Int64(bitPattern: high), at: 2)
            var result: [Entry] = []
            var size: UInt64 = 0
            var expected = low
            while try statement.step() {
                let entry = try RaftStore.entry(statement, keyBase: keyBase)
                guard entry.index == expected else {
                    throw SQLite.Error(code: .corrupt, message: "raft_log has no entry \(expected) (found \(entry.index))")
                }
                size += entry.byteSize
                if !result.isEmpty && size > maxBytes { break }
                result.append(entry)
                expected += 1
            }
            guard !result.isEmpty else { throw SQLite.Error(code: .corrupt, message: "raft_log has no entry \(low)") }
            return result
        }
    }

    /// The entry in the current row of `SELECT idx, term, kind, data`.
    static func entry(_ statement: Statement, keyBase: Int64) throws(SQLite.Error) -> Entry {
        let raw = statement.int64(at: 2)
        let index = UInt64(bitPattern: statement.int64(at: 0) - keyBase)
        guard let kind = UInt8(exactly: raw).flatMap(Entry.Kind.init(rawValue:)) else {
            throw SQLite.Error(code: .corrupt, message: "raft_log entry \(index) has kind \(raw)")
        }
        return Entry(term: UInt64(bitPattern: statement.int64(at: 1)), index: index, kind: kind, data: statement.blob(at: 3))
    }

    /// The `raft_log` key of index 0 of `shard`'s log (see `Schema`).
    static func keyBase(shard: Int) -> Int64 { Int64(shard - 1) << 48 }

    // MARK: Persisting a Ready

    /// Persists and applies `ready` in ONE transaction, in the order RaftCore's `Ready`
    /// prescribes: installs `ready.snapshot` (its image must be at
    /// `snapshots.incomingPath(token:)`), appends `ready.entries` (replacing any stored suffix
    /// from the first one's index), writes `ready.hardState`, then applies the
    /// `committedEntries` above the applied index, in order, and records the new applied
    /// index. The commit is fsynced when `ready.mustSync` (or a snapshot is installed, or
    /// ``alwaysSync``). Then the new applied index is published like the committer does
    /// (``Store/appliedIndex``, the document count, the `onApplied` observer).
    ///
    /// Returns what each newly applied entry did. A write whose preconditions fail still
    /// consumes its index. Throws ``StorageError/corrupt(_:)`` for an entry that does not
    /// decode, and for a `Ready` that breaks the contract (a gap in the log or in the applied
    /// entries).
    public func save(_ ready: Ready) throws(StorageError) -> [AppliedEntry] {
        // Nothing to persist (only messages, read states or a role change): no transaction.
        guard ready.snapshot != nil || !ready.entries.isEmpty || (ready.hardState.map { $0 != hard } ?? false)
            || (ready.committedEntries.last?.index ?? 0) > applied else { return [] }
        guard ready.snapshot == nil else {
            // A snapshot's image is attached to the connection, outside any transaction: alone.
            return try writer.locked { () throws(StorageError) in
                let image = try attachImage(for: ready.snapshot!)
                defer { detachImage() }
                try writer.setSync(full: true)
                try sqlite { () throws(SQLite.Error) in try connection.begin(.immediate) }
                let staged: Staged
                do throws(StorageError) {
                    staged = try stage(ready, image: image)
                    try sqlite { () throws(SQLite.Error) in try connection.commit() }
                } catch {
                    try? connection.rollback()
                    discard(error)
                    throw error
                }
                try? FileSystem.remove(image.path)
                return finish(ready, staged)
            }
        }
        // Everything else joins whatever other groups commit at the same moment: one
        // transaction, one fsync (see `SharedWriter.commit`).
        let job = SharedWriter.Job(fullSync: alwaysSync || ready.mustSync)
        var staged: Staged?
        job.work = { () throws(StorageError) in staged = try self.stage(ready, image: nil) }
        job.undo = { error in self.discard(error) }
        try writer.commit(job)
        return finish(ready, staged!)
    }

    /// What the transaction part of a save did, for ``finish(_:_:)`` once it is durable.
    struct Staged {
        var outcome: SaveOutcome
        var results: [AppliedEntry]
        var previousApplied: UInt64
        /// Read in the transaction when they changed.
        var members: [Member]?
        var clusterMap: StoredClusterMap??
        var installed: Bool
    }

    /// Inside the transaction: installs the snapshot (`image`), appends, writes the hard state,
    /// applies the committed entries and records the applied index and configuration.
    private func stage(_ ready: Ready, image: AttachedImage?) throws(StorageError) -> Staged {
        var outcome = SaveOutcome(applied: applied, conf: conf, persistedConf: conf, compactIndex: cache.compactIndex,
                                  compactTerm: cache.compactTerm, lastIndex: cache.lastIndex, descriptor: descriptor)
        applier.beginBatch()
        if let image, let snapshot = ready.snapshot { try install(snapshot, image, &outcome) }
        try append(ready.entries, &outcome)
        if let hardState = ready.hardState, hardState != hard { try writeHardState(hardState) }
        let results = try apply(ready.committedEntries, &outcome)
        if outcome.applied != applied || image != nil { try applier.finishBatch(appliedIndex: outcome.applied) }
        if outcome.conf != outcome.persistedConf { try writeConfState(outcome.conf) }
        var staged = Staged(outcome: outcome, results: results, previousApplied: applied, installed: image != nil)
        if outcome.membersChanged || image != nil { staged.members = try RaftStore.readMembers(connection) }
        if outcome.clusterMapChanged { staged.clusterMap = .some(try? Store.readClusterMap(connection)) }
        return staged
    }

    /// After a rolled-back transaction: forget the batch's counts.
    private func discard(_ error: StorageError) {
        applier.discardBatch()
        logger.error("raft save rolled back", metadata: ["error": "\(error)", "applied_index": "\(applied)"])
    }

    /// Durable: brings the mirrors up to date, then publishes.
    private func finish(_ ready: Ready, _ staged: Staged) -> [AppliedEntry] {
        let outcome = staged.outcome, results = staged.results
        if let snapshot = ready.snapshot {
            let meta = snapshot.metadata
            if outcome.keptLogAfterSnapshot { cache.compact(to: meta.index, term: meta.term) } else { cache.reset(index: meta.index, term: meta.term) }
        }
        if let first = outcome.appendedFrom { cache.append(ready.entries[first...]) }
        if let hardState = ready.hardState { hard = hardState }
        applied = outcome.applied
        conf = outcome.conf
        if shard == 1 { store.publishMetaConf(conf) }
        if outcome.descriptor != descriptor {
            descriptor = outcome.descriptor
            store.publishDescriptor(descriptor)
        }
        for split in results.compactMap(\.split) { store.publishDescriptor(split) }
        if let members = staged.members { memberList = members }
        if let map = staged.clusterMap { store.publishClusterMap(map) }
        if applied != staged.previousApplied { publish(outcome, writes: results.count(where: { $0.result != nil })) }
        return results
    }

    /// What a save changed, committed or not yet.
    struct SaveOutcome {
        var applied: UInt64
        var conf: ConfState
        /// The configuration the `raft_state` row holds in this transaction.
        var persistedConf: ConfState
        var compactIndex: UInt64
        var compactTerm: UInt64
        var lastIndex: UInt64
        /// Position in `ready.entries` of the first entry written (entries at or below the
        /// compaction point are skipped).
        var appendedFrom: Int? = nil
        var membersChanged = false
        /// The group's range as of the entries applied so far.
        var descriptor: ShardDescriptor
        var clusterMapChanged = false
        var keptLogAfterSnapshot = false
        /// Live documents right after a snapshot install (before the entries applied after it).
        var installedDocumentCount: Int? = nil
    }


    private func append(_ entries: [Entry], _ outcome: inout SaveOutcome) throws(StorageError) {
        guard let start = entries.firstIndex(where: { $0.index > outcome.compactIndex }) else { return }
        let first = entries[start].index
        guard first <= outcome.lastIndex + 1 else {
            throw .corrupt("appending entry \(first) would leave a gap after the last index \(outcome.lastIndex)")
        }
        try sqlite { () throws(SQLite.Error) in
            if first <= outcome.lastIndex {
                let truncate = statements.deleteFrom
                defer { truncate.reset() }
                try truncate.bind(keyBase + Int64(bitPattern: first), at: 1)
                try truncate.run()
            }
            let insert = statements.insertEntry
            var expected = first
            for entry in entries[start...] {
                guard entry.index == expected else {
                    throw SQLite.Error(code: .misuse, message: "Ready.entries are not consecutive at \(entry.index)")
                }
                defer { insert.reset() }
                try insert.bind(keyBase + Int64(bitPattern: entry.index), at: 1)
                try insert.bind(Int64(bitPattern: entry.term), at: 2)
                try insert.bind(Int64(entry.kind.rawValue), at: 3)
                try insert.bind(blob: entry.data, at: 4)
                try insert.run()
                expected += 1
            }
        }
        outcome.appendedFrom = start
        outcome.lastIndex = entries[entries.count - 1].index
    }

    private func writeHardState(_ hardState: HardState) throws(StorageError) {
        let statement = statements.updateHardState
        try sqlite { () throws(SQLite.Error) in
            defer { statement.reset() }
            try statement.bind(Int64(bitPattern: hardState.term), at: 1)
            try statement.bind(Int64(bitPattern: hardState.vote), at: 2)
            try statement.bind(Int64(bitPattern: hardState.commit), at: 3)
            try statement.run()
        }
    }

    private func writeConfState(_ confState: ConfState) throws(StorageError) {
        let statement = statements.updateConfState
        try sqlite { () throws(SQLite.Error) in
            defer { statement.reset() }
            try statement.bind(blob: confState.encoded(), at: 1)
            try statement.run()
        }
    }

    /// Applies the committed entries above `outcome.applied`, in order.
    private func apply(_ entries: [Entry], _ outcome: inout SaveOutcome) throws(StorageError) -> [AppliedEntry] {
        var results: [AppliedEntry] = []
        for entry in entries where entry.index > outcome.applied {
            guard entry.index == outcome.applied + 1 else {
                throw .corrupt("committed entry \(entry.index) does not follow the applied index \(outcome.applied)")
            }
            guard entry.index <= outcome.lastIndex else {
                throw .corrupt("committed entry \(entry.index) is not in the log (last index \(outcome.lastIndex))")
            }
            results.append(try apply(entry, &outcome))
            outcome.applied = entry.index
        }
        return results
    }

    private func apply(_ entry: Entry, _ outcome: inout SaveOutcome) throws(StorageError) -> AppliedEntry {
        func done(proposal: ProposalID? = nil, result: CommandResult? = nil, refusal: StorageError? = nil,
                  membership: Bool = false) -> AppliedEntry {
            AppliedEntry(index: entry.index, term: entry.term, proposal: proposal, result: result, refusal: refusal,
                         membershipChanged: membership)
        }
        switch entry.kind {
        case .noop:
            return done()
        case .confChange:
            let change: ConfChange
            do {
                change = try ConfChange(decoding: entry.data)
            } catch {
                throw .corrupt("log entry \(entry.index): undecodable configuration change: \(error)")
            }
            outcome.conf = outcome.conf.applying(change)
            return done(membership: true)
        case .normal:
            guard !entry.data.isEmpty else { return done() }
            let command: LogCommand
            do {
                command = try LogCommand(decoding: entry.data)
            } catch {
                throw .corrupt("log entry \(entry.index): \(error)")
            }
            switch command {
            case let .write(write, proposal):
                if let refusal = Store.invalidPatch(in: write) { return done(proposal: proposal, refusal: refusal) }
                if let refusal = outcome.descriptor.refusal(of: write) { return done(proposal: proposal, refusal: refusal) }
                let outcomes = try applier.apply(write, index: entry.index)
                return done(proposal: proposal, result: CommandResult(index: entry.index, outcomes: outcomes))
            case let .upsertMember(member):
                var member = member
                if member.joinedAtIndex == 0 { member.joinedAtIndex = entry.index }  // admitted by this entry
                try upsert(member)
                outcome.membersChanged = true
                return done(membership: true)
            case let .removeMember(raftID):
                try removeMember(raftID)
                outcome.membersChanged = true
                return done(membership: true)
            case let .setClusterMap(expectedVersion, version, body):
                if try setClusterMap(expectedVersion: expectedVersion, version: version, body: body) {
                    outcome.clusterMapChanged = true
                }
                return done()
            case let .split(newShard, at, expectedVersion):
                var applied = done()
                applied.split = try split(newShard: newShard, at: at, expectedVersion: expectedVersion, index: entry.index,
                                          term: entry.term, &outcome)
                return applied
            }
        }
    }

    func upsert(_ member: Member) throws(StorageError) {
        try sqlite { () throws(SQLite.Error) in
            let evict = statements.deleteMemberNamed
            do {
                defer { evict.reset() }
                try evict.bind(member.id, at: 1)
                try evict.bind(Int64(bitPattern: member.raftID), at: 2)
                try evict.run()
            }
            let upsert = statements.upsertMember
            defer { upsert.reset() }
            try upsert.bind(Int64(bitPattern: member.raftID), at: 1)
            try upsert.bind(member.id, at: 2)
            try upsert.bind(member.url, at: 3)
            try upsert.bind(member.level, at: 4)
            try upsert.bind(Int64(bitPattern: member.joinedAtIndex), at: 5)
            try upsert.run()
        }
    }

    /// Compare-and-set of the map row; true when it was replaced.
    private func setClusterMap(expectedVersion: UInt64, version: UInt64, body: [UInt8]) throws(StorageError) -> Bool {
        try sqlite { () throws(SQLite.Error) -> Bool in
            let current = UInt64(try connection.scalarInt64("SELECT version FROM cluster_map WHERE singleton = 1") ?? 0)
            guard current == expectedVersion, version > current else { return false }
            let statement = try connection.cached("INSERT OR REPLACE INTO cluster_map (singleton, version, body) VALUES (1, ?1, ?2)")
            defer { statement.reset() }
            try statement.bind(Int64(bitPattern: version), at: 1)
            try statement.bind(blob: body, at: 2)
            try statement.run()
            return true
        }
    }

    private func removeMember(_ raftID: UInt64) throws(StorageError) {
        let statement = statements.deleteMember
        try sqlite { () throws(SQLite.Error) in
            defer { statement.reset() }
            try statement.bind(Int64(bitPattern: raftID), at: 1)
            try statement.run()
        }
    }

    static func readMembers(_ connection: Connection) throws(StorageError) -> [Member] {
        try sqlite { () throws(SQLite.Error) in
            let statement = try connection.prepare("SELECT id, raft_id, url, level, joined_at_index FROM members ORDER BY id")
            var members: [Member] = []
            while try statement.step() {
                members.append(Member(id: statement.text(at: 0), raftID: UInt64(bitPattern: statement.int64(at: 1)),
                                      url: statement.text(at: 2), level: statement.int(at: 3),
                                      joinedAtIndex: UInt64(bitPattern: statement.int64(at: 4))))
            }
            return members
        }
    }

    /// Publishes the new applied index exactly like the committer.
    private func publish(_ outcome: SaveOutcome, writes: Int) {
        let state = store.state
        store.publishApplied(shard: shard, index: applied)
        if let base = outcome.installedDocumentCount {
            state.documentCount.store(base + applier.liveDelta, ordering: .relaxed)
        } else {
            state.documentCount.add(applier.liveDelta, ordering: .relaxed)
        }
        if applier.touchedSettings || outcome.installedDocumentCount != nil {
            state.settingsGeneration.add(1, ordering: .releasing)
        }
        if writes > 0 { state.counters.withLock { $0.recordCommit(size: writes) } }
        store.notifyApplied(shard: shard, index: applied)
    }

    // MARK: Compaction

    /// Deletes the log entries up to `index` (at most the applied index) and records the new
    /// compaction point. Does nothing when `index` is at or below the current one. Followers
    /// that need the deleted entries get a snapshot instead.
    public func compact(keepingAfter index: UInt64) throws(StorageError) {
        guard index > cache.compactIndex else { return }
        guard index <= applied else {
            throw .invalidCommand("cannot compact the log to \(index): only \(applied) is applied")
        }
        guard let term = cache.term(at: index) else { throw .corrupt("no term known for index \(index)") }
        try writer.locked { () throws(StorageError) in try compact(through: index, term: term) }
        cache.compact(to: index, term: term)
        logger.debug("raft log compacted", metadata: ["index": "\(index)", "term": "\(term)", "last_index": "\(cache.lastIndex)"])
    }

    /// The compaction's transaction (holding the writer).
    private func compact(through index: UInt64, term: UInt64) throws(StorageError) {
        try writer.setSync(full: true)
        do throws(StorageError) {
            try sqlite { () throws(SQLite.Error) in
                try connection.begin(.immediate)
                let delete = statements.deleteThrough
                do {
                    defer { delete.reset() }
                    try delete.bind(keyBase + Int64(bitPattern: index), at: 1)
                    try delete.run()
                }
                let record = statements.updateCompaction
                defer { record.reset() }
                try record.bind(Int64(bitPattern: index), at: 1)
                try record.bind(Int64(bitPattern: term), at: 2)
                try record.run()
                try connection.commit()
            }
        } catch {
            try? connection.rollback()
            throw error
        }
    }
}

/// The statements ``RaftStore`` runs often, prepared once on the writer connection.
struct RaftStatements {
    let insertEntry: Statement
    let deleteFrom: Statement
    let deleteThrough: Statement
    let selectEntries: Statement
    let updateHardState: Statement
    let updateConfState: Statement
    let updateCompaction: Statement
    let deleteMemberNamed: Statement
    let upsertMember: Statement
    let deleteMember: Statement

    /// Statements of `shard`'s group: log keys are shard-qualified by the caller (`keyBase`);
    /// range deletes stay inside the group's key range.
    init(_ connection: Connection, shard: Int) throws(StorageError) {
        func prepare(_ sql: String) throws(StorageError) -> Statement {
            try sqlite { () throws(SQLite.Error) in try connection.prepare(sql, persistent: true) }
        }
        let low = RaftStore.keyBase(shard: shard), high = RaftStore.keyBase(shard: shard + 1)
        insertEntry = try prepare("INSERT INTO raft_log (idx, term, kind, data) VALUES (?1, ?2, ?3, ?4)")
        deleteFrom = try prepare("DELETE FROM raft_log WHERE idx >= ?1 AND idx < \(high)")
        deleteThrough = try prepare("DELETE FROM raft_log WHERE idx <= ?1 AND idx >= \(low)")
        selectEntries = try prepare("SELECT idx, term, kind, data FROM raft_log WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")
        updateHardState = try prepare("UPDATE raft_groups SET term = ?1, vote = ?2, commit_index = ?3 WHERE shard = \(shard)")
        updateConfState = try prepare("UPDATE raft_groups SET conf_state = ?1 WHERE shard = \(shard)")
        updateCompaction = try prepare("UPDATE raft_groups SET compact_index = ?1, compact_term = ?2 WHERE shard = \(shard)")
        deleteMemberNamed = try prepare("DELETE FROM members WHERE id = ?1 AND raft_id <> ?2")
        upsertMember = try prepare("""
            INSERT INTO members (raft_id, id, url, level, joined_at_index) VALUES (?1, ?2, ?3, ?4, ?5)
            ON CONFLICT (raft_id) DO UPDATE SET id = excluded.id, url = excluded.url, level = excluded.level,
                joined_at_index = excluded.joined_at_index
            """)
        deleteMember = try prepare("DELETE FROM members WHERE raft_id = ?1")
    }
}
