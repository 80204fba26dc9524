import CShims
import CSQLite

/// One SQLite database connection. Owns its `sqlite3` handle and closes it in `deinit`.
///
/// The handle is opened with `SQLITE_OPEN_NOMUTEX`: use a connection (and its statements) on
/// one thread at a time; hand it to another thread only through a synchronizing queue or lock.
/// Only ``interrupt()`` may be called from any thread at any time.
public final class Connection: @unchecked Sendable {
    /// How to open the file.
    public enum Mode: Sendable {
        /// Read and write; create the file if missing.
        case readWriteCreate
        /// Read and write; the file must exist.
        case readWrite
        /// Read only; the file must exist.
        case readOnly

        var flags: Int32 {
            switch self {
            case .readWriteCreate: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
            case .readWrite: SQLITE_OPEN_READWRITE
            case .readOnly: SQLITE_OPEN_READONLY
            }
        }
    }

    let handle: OpaquePointer
    /// The path the connection was opened with.
    public let path: String
    /// Most statements the cache keeps; the least recently used one is dropped beyond that.
    public let statementCacheCapacity: Int

    private var cache: [String: CacheEntry] = [:]
    private var cacheClock: UInt64 = 0
    /// The progress handler SQLite may call; kept alive here (see Connection+Progress).
    var progressHandler: ProgressHandler? = nil

    private struct CacheEntry {
        let statement: Statement
        var lastUse: UInt64
    }

    /// Opens (or creates) the database at `path`. Extended result codes are enabled.
    public init(path: String, mode: Mode = .readWriteCreate, statementCacheCapacity: Int = 64) throws(Error) {
        var database: OpaquePointer? = nil
        let flags = mode.flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let code = sqlite3_open_v2(path, &database, flags, nil)
        guard code == SQLITE_OK, let database else {
            // Even a failed open may allocate a handle (to carry the message): always close it.
            let error = Error(code: code == SQLITE_OK ? SQLITE_NOMEM : code, connection: database, sql: nil)
            sqlite3_close_v2(database)
            throw Error(code: error.extendedCode, message: "\(error.message) (opening \(path))")
        }
        self.handle = database
        self.path = path
        self.statementCacheCapacity = max(1, statementCacheCapacity)
    }

    deinit {
        // Finalize cached statements first; `close_v2` defers the close until statements still
        // held elsewhere are finalized too, so statement and connection lifetimes are independent.
        cache.removeAll()
        if progressHandler != nil { sqlite3_progress_handler(handle, 0, nil, nil) }
        sqlite3_close_v2(handle)  // SQLITE_OK by contract of close_v2 (zombie until finalized)
    }

    func check(_ code: Int32, sql: String? = nil) throws(Error) {
        guard code == SQLITE_OK else { throw Error(code: code, connection: handle, sql: sql) }
    }

    // MARK: SQL

    /// Runs one or more `;`-separated statements that take no parameters, discarding rows.
    public func execute(_ sql: String) throws(Error) {
        var message: UnsafeMutablePointer<CChar>? = nil
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        guard code == SQLITE_OK else {
            let text = message.map { String(cString: $0) }
            let recorded = sqlite3_extended_errcode(handle)
            let extended = recorded & 0xFF == code & 0xFF ? recorded : code
            throw Error(code: ResultCode(rawValue: extended), message: text, sql: sql)
        }
    }

    /// Compiles one statement. `persistent` tells SQLite the statement will be reused many times.
    public func prepare(_ sql: String, persistent: Bool = false) throws(Error) -> Statement {
        try Statement(database: handle, sql: sql, persistent: persistent)
    }

    /// The cached statement for `sql` (compiled on first use), reset and with every parameter NULL.
    ///
    /// The statement stays owned by the cache: it is valid until the next `cached` call for the
    /// same SQL, and must not be used after that. Reset it (``Statement/reset()``) when done
    /// reading rows so it does not hold a read snapshot open.
    public func cached(_ sql: String) throws(Error) -> Statement {
        cacheClock &+= 1
        if let index = cache.index(forKey: sql) {
            cache.values[index].lastUse = cacheClock
            let statement = cache.values[index].statement
            statement.prepareForReuse()
            return statement
        }
        let statement = try Statement(database: handle, sql: sql, persistent: true)
        if cache.count >= statementCacheCapacity, let oldest = cache.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            cache.removeValue(forKey: oldest.key)
        }
        cache[sql] = CacheEntry(statement: statement, lastUse: cacheClock)
        return statement
    }

    /// Number of statements in the cache.
    public var cachedStatementCount: Int { cache.count }

    /// Drops every cached statement (finalizing those not held elsewhere).
    public func clearStatementCache() { cache.removeAll() }

    /// Runs a query expected to return one row with one integer column; nil when no row or NULL.
    public func scalarInt64(_ sql: String) throws(Error) -> Int64? {
        let statement = try prepare(sql)
        guard try statement.step(), !statement.isNull(at: 0) else { return nil }
        return statement.int64(at: 0)
    }

    /// Runs a query expected to return one row with one text column; nil when no row or NULL.
    public func scalarText(_ sql: String) throws(Error) -> String? {
        let statement = try prepare(sql)
        guard try statement.step(), !statement.isNull(at: 0) else { return nil }
        return statement.text(at: 0)
    }

    // MARK: State

    /// Row id of the most recent successful INSERT on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Rows changed by the most recent INSERT, UPDATE or DELETE.
    public var changes: Int { Int(sqlite3_changes64(handle)) }

    /// Rows changed since the connection opened.
    public var totalChanges: Int { Int(sqlite3_total_changes64(handle)) }

    /// Statements of this connection not yet finalized, cached ones included (`sqlite3_next_stmt`).
    public var unfinalizedStatementCount: Int {
        var count = 0
        var statement = sqlite3_next_stmt(handle, nil)
        while let current = statement {
            count += 1
            statement = sqlite3_next_stmt(handle, current)
        }
        return count
    }

    /// True inside an explicit transaction (not in autocommit mode).
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Sets how long a statement waits for a lock held by another connection before SQLITE_BUSY.
    public func setBusyTimeout(milliseconds: Int32) throws(Error) {
        try check(sqlite3_busy_timeout(handle, milliseconds))
    }

    /// Makes the running statement (on whichever thread) stop with SQLITE_INTERRUPT as soon as
    /// possible. Safe to call from any thread while the connection is open.
    public func interrupt() { sqlite3_interrupt(handle) }
}
