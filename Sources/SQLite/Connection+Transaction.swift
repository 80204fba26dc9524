import CSQLite

extension Connection {
    /// How a transaction takes its locks (`BEGIN DEFERRED | IMMEDIATE | EXCLUSIVE`).
    public enum TransactionKind: Sendable {
        /// Locks are taken by the first read or write.
        case deferred
        /// The write lock is taken at once (waits per the busy timeout): no upgrade deadlock later.
        case immediate
        /// Like immediate; in rollback-journal mode also keeps readers out.
        case exclusive

        var sql: String {
            switch self {
            case .deferred: "BEGIN DEFERRED"
            case .immediate: "BEGIN IMMEDIATE"
            case .exclusive: "BEGIN EXCLUSIVE"
            }
        }
    }

    /// Starts a transaction.
    public func begin(_ kind: TransactionKind = .deferred) throws(Error) {
        try cached(kind.sql).run()
    }

    /// Commits the current transaction. On failure the transaction may still be open:
    /// call ``rollback()`` (``isInTransaction`` tells).
    public func commit() throws(Error) {
        try cached("COMMIT").run()
    }

    /// Rolls the current transaction back. Does nothing outside a transaction (SQLite may
    /// already have rolled back after an I/O or full-disk error).
    public func rollback() throws(Error) {
        guard isInTransaction else { return }
        try cached("ROLLBACK").run()
    }

    /// Runs `body` in a transaction: commits when it returns, rolls back when it throws (or
    /// when the commit fails), then rethrows. Not reentrant: nest with savepoints instead.
    public func transaction<T>(_ kind: TransactionKind = .deferred, _ body: () throws -> T) throws -> T {
        try begin(kind)
        do {
            let value = try body()
            try commit()
            return value
        } catch {
            // The original error matters more than a failure to roll back, which leaves the
            // connection in a transaction that `isInTransaction` reports.
            try? rollback()
            throw error
        }
    }
}
