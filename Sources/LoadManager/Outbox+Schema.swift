import SQLite

extension Outbox {
    /// The schema version this build writes (`PRAGMA user_version`).
    static let schemaVersion: Int64 = 1

    /// Creates the tables if missing and sets the durability pragmas. Idempotent.
    ///
    /// `recommendations` holds pending rows (`delivered_at IS NULL`) and the delivered history;
    /// `outbox_meta` holds counters that must outlive trimmed rows (the last seq, so a seq is
    /// never reused, and the totals of `Stats`).
    static func prepare(_ connection: Connection) throws(OutboxError) {
        do {
            try connection.setBusyTimeout(milliseconds: 5_000)
            try connection.execute("PRAGMA journal_mode = WAL")
            try connection.execute("PRAGMA synchronous = FULL")
            let version = try connection.scalarInt64("PRAGMA user_version") ?? 0
            guard version <= schemaVersion else { throw OutboxError.unsupportedSchema(version: version) }
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS recommendations (
                    seq INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    kind TEXT NOT NULL,
                    body BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT,
                    delivered_at INTEGER
                );
                CREATE INDEX IF NOT EXISTS recommendations_pending ON recommendations (delivered_at, seq);
                CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                INSERT OR IGNORE INTO outbox_meta (key, value) VALUES
                    ('last_seq', 0), ('delivered', 0), ('dropped', 0), ('attempts', 0);
                PRAGMA user_version = \(schemaVersion);
                """)
        } catch let error as OutboxError {
            throw error
        } catch let error as SQLite.Error {
            throw .storage(error)
        } catch {
            throw .storage(SQLite.Error(code: .error, message: "\(error)"))
        }
    }

    static let columns = "seq, id, kind, body, created_at, attempts, next_attempt_at, last_error, delivered_at"

    /// The row the statement is on, selected with `columns`.
    static func row(_ statement: Statement) -> Recommendation {
        Recommendation(
            seq: statement.int64(at: 0), id: statement.text(at: 1), kind: statement.text(at: 2),
            body: statement.blob(at: 3), createdAt: statement.int64(at: 4), attempts: statement.int(at: 5),
            nextAttemptAt: statement.int64(at: 6),
            lastError: statement.isNull(at: 7) ? nil : statement.text(at: 7),
            deliveredAt: statement.isNull(at: 8) ? nil : statement.int64(at: 8))
    }

    static func meta(_ connection: Connection, _ key: String) throws(SQLite.Error) -> Int64 {
        let statement = try connection.cached("SELECT value FROM outbox_meta WHERE key = ?")
        defer { statement.reset() }
        try statement.bind(key, at: 1)
        return try statement.step() ? statement.int64(at: 0) : 0
    }

    static func add(_ connection: Connection, _ key: String, _ delta: Int64) throws(SQLite.Error) {
        let statement = try connection.cached("UPDATE outbox_meta SET value = value + ? WHERE key = ?")
        try statement.bind(delta, at: 1)
        try statement.bind(key, at: 2)
        try statement.run()
    }

    static func set(_ connection: Connection, _ key: String, _ value: Int64) throws(SQLite.Error) {
        let statement = try connection.cached("UPDATE outbox_meta SET value = ? WHERE key = ?")
        try statement.bind(value, at: 1)
        try statement.bind(key, at: 2)
        try statement.run()
    }
}
