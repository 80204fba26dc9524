import JSON
import Sharding
import SQLite

/// Applies write commands to the writer connection inside a transaction the caller owns.
///
/// Deterministic: the same commands applied to the same database state give the same rows and
/// outcomes (time comes from the command). Every check of an operation runs before it writes,
/// so a failed operation writes nothing. Collection counts are accumulated per batch and
/// written by ``finishBatch(appliedIndex:)``, inside the same transaction.
///
/// Confined to the committer thread (it owns the writer connection's statements).
final class Applier {
    private let maxJSONDepth: Int
    private let lookup: Statement
    private let lookupBody: Statement
    private let insert: Statement
    private let replace: Statement
    private let patchUpdate: Statement
    private let tombstone: Statement
    private let countDelta: Statement
    private let countPrune: Statement
    private let recordApplied: Statement

    /// Live-document changes per collection in the current batch.
    private var countDeltas: [String: Int] = [:]
    /// Net live-document change of the current batch.
    private(set) var liveDelta = 0
    /// Whether the current batch wrote a collection's settings (see `CollectionSettings`).
    private(set) var touchedSettings = false

    /// `shard`: the Raft group whose applied index ``finishBatch(appliedIndex:)`` records
    /// (shard 1, and a standalone node, in `meta`; other groups in their `raft_groups` row).
    init(connection: Connection, maxJSONDepth: Int, shard: Int = 1) throws(StorageError) {
        self.maxJSONDepth = maxJSONDepth
        func prepare(_ sql: String) throws(StorageError) -> Statement {
            try sqlite { () throws(SQLite.Error) in try connection.prepare(sql, persistent: true) }
        }
        lookup = try prepare("SELECT rowid, rev, deleted, bucket FROM documents WHERE collection = ?1 AND id = ?2")
        lookupBody = try prepare("SELECT rowid, rev, deleted, bucket, json FROM documents WHERE collection = ?1 AND id = ?2")
        insert = try prepare("""
            INSERT INTO documents (collection, id, rev, bucket, content_type, json, raw, updated_at, deleted, write_index)
            VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, 0, ?8)
            """)
        replace = try prepare("""
            UPDATE documents SET rev = ?2, content_type = ?3, json = ?4, raw = ?5, updated_at = ?6, deleted = 0, write_index = ?7
            WHERE rowid = ?1
            """)
        patchUpdate = try prepare("UPDATE documents SET rev = ?2, json = ?3, updated_at = ?4, write_index = ?5 WHERE rowid = ?1")
        tombstone = try prepare("""
            UPDATE documents SET rev = ?2, json = NULL, raw = NULL, updated_at = ?3, deleted = 1, write_index = ?4
            WHERE rowid = ?1
            """)
        countDelta = try prepare("""
            INSERT INTO collections (name, count) VALUES (?1, max(?2, 0))
            ON CONFLICT (name) DO UPDATE SET count = count + ?2
            """)
        countPrune = try prepare("DELETE FROM collections WHERE name = ?1 AND count = 0")
        recordApplied = try prepare(shard == 1 ? "UPDATE meta SET value = ?1 WHERE key = 'applied_index'"
                                                : "UPDATE raft_groups SET applied_index = ?1 WHERE shard = \(shard)")
    }

    // MARK: Batches

    /// Writes the batch's collection counts and `applied_index`; call last, before COMMIT.
    func finishBatch(appliedIndex: UInt64) throws(StorageError) {
        try sqlite { () throws(SQLite.Error) in
            for (name, delta) in countDeltas where delta != 0 {
                defer { countDelta.reset() }
                try countDelta.bind(name, at: 1)
                try countDelta.bind(delta, at: 2)
                try countDelta.run()
                if delta < 0 {
                    defer { countPrune.reset() }
                    try countPrune.bind(name, at: 1)
                    try countPrune.run()
                }
            }
            defer { recordApplied.reset() }
            try recordApplied.bind(Int64(appliedIndex), at: 1)
            try recordApplied.run()
        }
        countDeltas.removeAll(keepingCapacity: true)
    }

    /// Forgets the batch's accumulated counts (after a rollback).
    func discardBatch() {
        beginBatch()
    }

    /// Starts counting a new batch.
    func beginBatch() {
        countDeltas.removeAll(keepingCapacity: true)
        liveDelta = 0
        touchedSettings = false
    }

    private func count(_ collection: String, _ delta: Int) {
        countDeltas[collection, default: 0] += delta
        liveDelta += delta
    }

    // MARK: Commands

    /// Applies every operation of `command` as index `index`; outcomes in operation order.
    /// Throws only when SQLite fails (or stored data breaks an invariant): the caller must then
    /// roll the whole transaction back.
    func apply(_ command: WriteCommand, index: UInt64) throws(StorageError) -> [WriteOutcome] {
        var outcomes: [WriteOutcome] = []
        outcomes.reserveCapacity(command.operations.count)
        for operation in command.operations {
            if operation.collection == CollectionSettings.collection { touchedSettings = true }
            let outcome: WriteOutcome
            switch operation {
            case let .put(collection, id, contentType, body, isJSON, precondition):
                outcome = try put(collection, id, contentType, body, isJSON, precondition, command.timestampMilliseconds, index)
            case let .patch(collection, id, patch, precondition):
                outcome = try self.patch(collection, id, patch, precondition, command.timestampMilliseconds, index)
            case let .delete(collection, id, precondition):
                outcome = try delete(collection, id, precondition, command.timestampMilliseconds, index)
            }
            outcomes.append(outcome)
        }
        return outcomes
    }

    /// The stored row of a document, live or tombstone.
    private struct Row {
        let rowid: Int64
        let rev: UInt64
        let deleted: Bool
        let bucket: Int
        /// The JSON body (only read by `lookupBody`, for a live JSON document).
        var json: [UInt8]? = nil

        var liveRev: UInt64? { deleted ? nil : rev }
    }

    private func find(_ collection: String, _ id: String, withBody: Bool = false) throws(StorageError) -> Row? {
        let statement = withBody ? lookupBody : lookup
        return try sqlite { () throws(SQLite.Error) in
            defer { statement.reset() }
            try statement.bind(collection, at: 1)
            try statement.bind(id, at: 2)
            guard try statement.step() else { return nil }
            var row = Row(rowid: statement.int64(at: 0), rev: UInt64(statement.int64(at: 1)), deleted: statement.int64(at: 2) != 0, bucket: statement.int(at: 3))
            if withBody && !row.deleted && !statement.isNull(at: 4) { row.json = statement.textBytes(at: 4) }
            return row
        }
    }

    /// nil when `precondition` holds for a document whose live rev is `liveRev`.
    private func violation(of precondition: Precondition, liveRev: UInt64?) -> WriteFailure? {
        switch precondition {
        case .none: nil
        case let .ifMatch(revs): liveRev.map(revs.contains) == true ? nil : .preconditionFailed(currentRev: liveRev)
        case .ifExists: liveRev == nil ? .preconditionFailed(currentRev: nil) : nil
        case .ifAbsent: liveRev.map { .preconditionFailed(currentRev: $0) }
        }
    }

    private func put(_ collection: String, _ id: String, _ contentType: String, _ body: [UInt8], _ isJSON: Bool,
                     _ precondition: Precondition, _ timestamp: Int64, _ index: UInt64) throws(StorageError) -> WriteOutcome
    {
        let row = try find(collection, id)
        if let failure = violation(of: precondition, liveRev: row?.liveRev) { return .failed(failure) }
        func bindBody(_ statement: Statement, json: Int32, raw: Int32) throws(SQLite.Error) {
            if isJSON {
                try statement.bind(utf8Text: body, at: json)
                try statement.bindNull(at: raw)
            } else {
                try statement.bindNull(at: json)
                try statement.bind(blob: body, at: raw)
            }
        }
        if let row {
            let rev = row.rev + 1
            try sqlite { () throws(SQLite.Error) in
                defer { replace.reset() }
                try replace.bind(row.rowid, at: 1)
                try replace.bind(Int64(rev), at: 2)
                try replace.bind(contentType, at: 3)
                try bindBody(replace, json: 4, raw: 5)
                try replace.bind(timestamp, at: 6)
                try replace.bind(Int64(index), at: 7)
                try replace.run()
            }
            if row.deleted { count(collection, 1) }
            return .written(WriteResult(collection: collection, id: id, rev: rev, bucket: row.bucket, created: row.deleted, deleted: false))
        }
        let bucket = Bucket.of(id)
        try sqlite { () throws(SQLite.Error) in
            defer { insert.reset() }
            try insert.bind(collection, at: 1)
            try insert.bind(id, at: 2)
            try insert.bind(bucket, at: 3)
            try insert.bind(contentType, at: 4)
            try bindBody(insert, json: 5, raw: 6)
            try insert.bind(timestamp, at: 7)
            try insert.bind(Int64(index), at: 8)
            try insert.run()
        }
        count(collection, 1)
        return .written(WriteResult(collection: collection, id: id, rev: 1, bucket: bucket, created: true, deleted: false))
    }

    private func patch(_ collection: String, _ id: String, _ patch: [UInt8], _ precondition: Precondition,
                       _ timestamp: Int64, _ index: UInt64) throws(StorageError) -> WriteOutcome
    {
        guard let row = try find(collection, id, withBody: true), !row.deleted else { return .failed(.notFound) }
        if let failure = violation(of: precondition, liveRev: row.rev) { return .failed(failure) }
        guard let stored = row.json else { return .failed(.notJSON) }
        let document: JSON
        let changes: JSON
        do {
            document = try JSON.parse(stored, maxDepth: .max)
        } catch {
            throw .corrupt("stored JSON of \(collection)/\(id) does not parse: \(error)")
        }
        do {
            changes = try JSON.parse(patch, maxDepth: .max)
        } catch {
            throw .invalidCommand("patch of \(collection)/\(id) is not JSON: \(error)")
        }
        let merged = document.mergePatched(with: changes).encoded()
        let depth = merged.withUnsafeBytes { JSON.nestingDepth($0, stopAbove: maxJSONDepth) }
        guard depth <= maxJSONDepth else { return .failed(.patchResultTooDeep) }
        let rev = row.rev + 1
        try sqlite { () throws(SQLite.Error) in
            defer { patchUpdate.reset() }
            try patchUpdate.bind(row.rowid, at: 1)
            try patchUpdate.bind(Int64(rev), at: 2)
            try patchUpdate.bind(utf8Text: merged, at: 3)
            try patchUpdate.bind(timestamp, at: 4)
            try patchUpdate.bind(Int64(index), at: 5)
            try patchUpdate.run()
        }
        return .written(WriteResult(collection: collection, id: id, rev: rev, bucket: row.bucket, created: false, deleted: false))
    }

    private func delete(_ collection: String, _ id: String, _ precondition: Precondition,
                        _ timestamp: Int64, _ index: UInt64) throws(StorageError) -> WriteOutcome
    {
        guard let row = try find(collection, id), !row.deleted else { return .failed(.notFound) }
        if let failure = violation(of: precondition, liveRev: row.rev) { return .failed(failure) }
        let rev = row.rev + 1
        try sqlite { () throws(SQLite.Error) in
            defer { tombstone.reset() }
            try tombstone.bind(row.rowid, at: 1)
            try tombstone.bind(Int64(rev), at: 2)
            try tombstone.bind(timestamp, at: 3)
            try tombstone.bind(Int64(index), at: 4)
            try tombstone.run()
        }
        count(collection, -1)
        return .written(WriteResult(collection: collection, id: id, rev: rev, bucket: row.bucket, created: false, deleted: true))
    }
}
