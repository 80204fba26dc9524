import Digest
import JSON
import Logging
import Scaling
import SQLite
import Sync
import Synchronization

/// The bounded, persisted queue of scaling recommendations waiting for the operator hook
/// (DESIGN §7): each is stored with the exact body bytes to POST, ordered by `seq`.
///
/// Durability: an `enqueue` that returned is on disk (WAL, `synchronous = FULL`), so a
/// recommendation survives a restart of the Load Manager; so do the attempt count and the next
/// attempt time, so a restart does not turn into a burst of retries.
///
/// Bounds: at most `maxPending` undelivered rows — when full, `enqueue` drops the OLDEST
/// undelivered one (counted and logged: newer information wins); at most `maxHistory`
/// delivered rows are kept.
///
/// Thread safety: every method may be called from any thread; one `Mutex` serializes use of the
/// single SQLite connection (the traffic is a few rows a minute).
public final class Outbox: Sendable {
    /// The recommendation kinds the hook payload may carry.
    public static let kinds = Set(RecommendationKind.allCases.map(\.rawValue))

    public let configuration: OutboxConfiguration
    private let connection: Mutex<Connection>
    private let logger: Logger

    /// Opens (creating if missing) the outbox file. Throws `.invalidConfiguration`,
    /// `.unsupportedSchema` or `.storage` (the file cannot be opened or written).
    public init(configuration: OutboxConfiguration, logger: Logger = Logger(label: "machdb.hook")) throws(OutboxError) {
        try configuration.validate()
        let connection: Connection
        do {
            connection = try Connection(path: configuration.path)
        } catch {
            throw .storage(error)
        }
        try Self.prepare(connection)
        self.configuration = configuration
        self.connection = Mutex(connection)
        self.logger = logger
    }

    /// Opens the outbox at `path` with the given bounds.
    public convenience init(path: String, maxPending: Int = 1000, maxHistory: Int = 500,
                            logger: Logger = Logger(label: "machdb.hook")) throws(OutboxError) {
        try self.init(configuration: OutboxConfiguration(path: path, maxPending: maxPending, maxHistory: maxHistory), logger: logger)
    }

    // MARK: Writing

    /// Stores a new recommendation and returns it: `seq` is the last one plus one, `id` is
    /// `rec-<source>-<seq>-<8 random hex>`, and the body is encoded once, here, as
    /// `{id, seq, kind, reason, stage, stage_number, target, evidence, episode, created_at, source}`
    /// (`episode` only when given: a `surge`'s start and end).
    ///
    /// When `maxPending` recommendations are already waiting, the oldest waiting ones are
    /// deleted first (`Stats.dropped`). Throws `.unknownKind` for a kind not in `kinds`, and
    /// `.storage` when nothing was stored. Call `HookSender.wake()` afterwards.
    ///
    /// `id`: a caller-chosen id for a recommendation that several nodes may record (the
    /// topology planner's `replace_node`, handed on by whichever node is the Load Manager):
    /// the same id reaches the operator from every node, so it acts once. When this outbox
    /// already holds that id, nothing is added and the held one is returned.
    @discardableResult
    public func enqueue(kind: String, reason: String, stage: String, stageNumber: Int, target: JSON, evidence: JSON,
                        episode: JSON? = nil, source: String, id fixedID: String? = nil,
                        now: Int64 = wallClockMilliseconds()) throws(OutboxError) -> Recommendation {
        guard Self.kinds.contains(kind) else { throw .unknownKind(kind) }
        if let fixedID, let held = try recommendation(id: fixedID) { return held }
        let random = UInt32.random(in: .min ... .max)
        let suffix = HMACSHA256.hex([UInt8(random >> 24), UInt8(random >> 16 & 0xFF), UInt8(random >> 8 & 0xFF), UInt8(random & 0xFF)])
        let maxPending = configuration.maxPending
        let (recommendation, dropped) = try locked { connection in
            try connection.transaction(.immediate) { () throws -> (Recommendation, [(Int64, String)]) in
                let maxSeq = try connection.scalarInt64("SELECT max(seq) FROM recommendations") ?? 0
                let seq = max(try Self.meta(connection, "last_seq"), maxSeq) + 1
                let id = fixedID ?? "rec-\(source)-\(seq)-\(suffix)"
                var members: [(String, JSON)] = [
                    ("id", .string(id)), ("seq", .int(seq)), ("kind", .string(kind)), ("reason", .string(reason)),
                    ("stage", .string(stage)), ("stage_number", .int(stageNumber)), ("target", target),
                    ("evidence", evidence),
                ]
                if let episode { members.append(("episode", episode)) }
                members += [("created_at", .int(now)), ("source", .string(source))]
                let body = JSON.object(members).encoded()

                var dropped: [(Int64, String)] = []
                let waiting = try connection.scalarInt64("SELECT count(*) FROM recommendations WHERE delivered_at IS NULL") ?? 0
                if waiting >= Int64(maxPending) {
                    let oldest = try connection.cached(
                        "SELECT seq, id FROM recommendations WHERE delivered_at IS NULL ORDER BY seq LIMIT ?")
                    try oldest.bind(waiting - Int64(maxPending) + 1, at: 1)
                    while try oldest.step() { dropped.append((oldest.int64(at: 0), oldest.text(at: 1))) }
                    oldest.reset()
                    let delete = try connection.cached("DELETE FROM recommendations WHERE seq = ?")
                    for (seq, _) in dropped {
                        try delete.bind(seq, at: 1)
                        try delete.run()
                        delete.reset()
                    }
                    try Self.add(connection, "dropped", Int64(dropped.count))
                }

                let insert = try connection.cached("""
                    INSERT INTO recommendations (seq, id, kind, body, created_at, attempts, next_attempt_at)
                    VALUES (?, ?, ?, ?, ?, 0, 0)
                    """)
                try insert.bind(seq, at: 1)
                try insert.bind(id, at: 2)
                try insert.bind(kind, at: 3)
                try insert.bind(blob: body, at: 4)
                try insert.bind(now, at: 5)
                try insert.run()
                try Self.set(connection, "last_seq", seq)
                let recommendation = Recommendation(seq: seq, id: id, kind: kind, body: body, createdAt: now, attempts: 0,
                                                    nextAttemptAt: 0, lastError: nil, deliveredAt: nil)
                return (recommendation, dropped)
            }
        }
        for (seq, id) in dropped {
            logger.warning("outbox full: dropped the oldest undelivered recommendation", metadata: [
                "seq": "\(seq)", "id": "\(id)", "max_pending": "\(maxPending)", "new_seq": "\(recommendation.seq)",
            ])
        }
        logger.info("recommendation queued for the operator hook", metadata: [
            "seq": "\(recommendation.seq)", "id": "\(recommendation.id)", "kind": "\(kind)", "reason": "\(reason)",
        ])
        return recommendation
    }

    /// Records the 2xx answer for `seq` at `at` (wall-clock ms) and trims the history to
    /// `maxHistory`. Returns false (and changes nothing) when `seq` is no longer pending:
    /// delivered already, or dropped while it was being sent.
    @discardableResult
    public func markDelivered(seq: Int64, at: Int64 = wallClockMilliseconds()) throws(OutboxError) -> Bool {
        let maxHistory = configuration.maxHistory
        return try locked { connection in
            try connection.transaction(.immediate) { () throws -> Bool in
                let update = try connection.cached("""
                    UPDATE recommendations SET delivered_at = ?, attempts = attempts + 1, next_attempt_at = 0
                    WHERE seq = ? AND delivered_at IS NULL
                    """)
                try update.bind(at, at: 1)
                try update.bind(seq, at: 2)
                try update.run()
                guard connection.changes == 1 else { return false }
                try Self.add(connection, "delivered", 1)
                try Self.add(connection, "attempts", 1)
                let trim = try connection.cached("""
                    DELETE FROM recommendations WHERE delivered_at IS NOT NULL AND seq NOT IN
                        (SELECT seq FROM recommendations WHERE delivered_at IS NOT NULL ORDER BY seq DESC LIMIT ?)
                    """)
                try trim.bind(maxHistory, at: 1)
                try trim.run()
                return true
            }
        }
    }

    /// Records a failed attempt for `seq`: one more attempt, `error` (cut to 500 characters) as
    /// the last error, and no new attempt before `nextAttemptAt` (wall-clock ms). Returns false
    /// when `seq` is no longer pending.
    @discardableResult
    public func recordFailure(seq: Int64, error: String, nextAttemptAt: Int64) throws(OutboxError) -> Bool {
        let message = error.count > 500 ? String(error.prefix(500)) + "…" : error
        return try locked { connection in
            try connection.transaction(.immediate) { () throws -> Bool in
                let update = try connection.cached("""
                    UPDATE recommendations SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?
                    WHERE seq = ? AND delivered_at IS NULL
                    """)
                try update.bind(message, at: 1)
                try update.bind(nextAttemptAt, at: 2)
                try update.bind(seq, at: 3)
                try update.run()
                guard connection.changes == 1 else { return false }
                try Self.add(connection, "attempts", 1)
                return true
            }
        }
    }

    // MARK: Reading

    /// Undelivered recommendations, lowest `seq` first (the sender's delivery order).
    public func pending(limit: Int = 100) throws(OutboxError) -> [Recommendation] {
        try rows("SELECT \(Self.columns) FROM recommendations WHERE delivered_at IS NULL ORDER BY seq LIMIT ?", limit)
    }

    /// The next recommendation to deliver, if any.
    public func head() throws(OutboxError) -> Recommendation? { try pending(limit: 1).first }

    /// Pending and delivered recommendations together, newest (highest `seq`) first.
    public func history(limit: Int = 100) throws(OutboxError) -> [Recommendation] {
        try rows("SELECT \(Self.columns) FROM recommendations ORDER BY seq DESC LIMIT ?", limit)
    }

    /// The recommendation with `seq`, if still held.
    public func recommendation(seq: Int64) throws(OutboxError) -> Recommendation? {
        try rows("SELECT \(Self.columns) FROM recommendations WHERE seq = ?", Int(seq)).first
    }

    /// The recommendation with `id`, if still held.
    public func recommendation(id: String) throws(OutboxError) -> Recommendation? {
        try locked { connection in
            let statement = try connection.cached("SELECT seq FROM recommendations WHERE id = ?")
            defer { statement.reset() }
            try statement.bind(id, at: 1)
            return try statement.step() ? statement.int64(at: 0) : nil
        }.flatMap { seq throws(OutboxError) in try recommendation(seq: seq) }
    }

    /// Current counters.
    public func stats() throws(OutboxError) -> Stats {
        try locked { connection in
            Stats(pending: Int(try connection.scalarInt64("SELECT count(*) FROM recommendations WHERE delivered_at IS NULL") ?? 0),
                  delivered: try Self.meta(connection, "delivered"), dropped: try Self.meta(connection, "dropped"),
                  attempts: try Self.meta(connection, "attempts"), lastSeq: try Self.meta(connection, "last_seq"))
        }
    }

    private func rows(_ sql: String, _ argument: Int) throws(OutboxError) -> [Recommendation] {
        try locked { connection in
            let statement = try connection.cached(sql)
            defer { statement.reset() }
            try statement.bind(max(0, argument), at: 1)
            var result: [Recommendation] = []
            while try statement.step() { result.append(Self.row(statement)) }
            return result
        }
    }

    /// Runs `body` holding the connection; maps every failure to `OutboxError`.
    private func locked<T: Sendable>(_ body: (Connection) throws -> T) throws(OutboxError) -> T {
        let result: Result<T, OutboxError> = connection.withLock { connection in
            do {
                return .success(try body(connection))
            } catch let error as OutboxError {
                return .failure(error)
            } catch let error as SQLite.Error {
                return .failure(.storage(error))
            } catch {
                return .failure(.storage(SQLite.Error(code: .error, message: "\(error)")))
            }
        }
        return try result.get()
    }
}
