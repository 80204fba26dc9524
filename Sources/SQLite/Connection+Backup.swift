import CSQLite

extension Connection {
    /// Copies this database's main schema into a new or existing database file at `path` using
    /// SQLite's online backup API, in one step: the copy is a consistent snapshot (in WAL mode,
    /// the one this connection reads when the backup starts) and writers are not blocked.
    /// Whatever `path` held is replaced. The copy is a standalone file in rollback-journal mode
    /// (no `-wal` beside it), whatever this database's journal mode.
    public func backup(into path: String) throws(Error) {
        let destination = try Connection(path: path, mode: .readWriteCreate)
        try destination.setBusyTimeout(milliseconds: 5_000)
        guard let backup = sqlite3_backup_init(destination.handle, "main", handle, "main") else {
            throw Error(code: sqlite3_errcode(destination.handle), connection: destination.handle, sql: nil)
        }
        let stepCode = sqlite3_backup_step(backup, -1)
        let finishCode = sqlite3_backup_finish(backup)  // always frees `backup`
        guard stepCode == SQLITE_DONE else {
            throw Error(code: stepCode, connection: destination.handle, sql: nil, arguments: nil)
        }
        guard finishCode == SQLITE_OK else {
            throw Error(code: finishCode, connection: destination.handle, sql: nil)
        }
        // The copied header keeps the source's WAL flag; switching the copy to DELETE mode
        // checkpoints and clears it, so the file opens without side files.
        try destination.execute("PRAGMA journal_mode=DELETE")
    }

    /// Writes a compacted copy of the main database to `path` (`VACUUM INTO`); the file must
    /// not exist. Like ``backup(into:)`` it is a consistent snapshot.
    public func vacuum(into path: String) throws(Error) {
        let statement = try prepare("VACUUM INTO ?1")
        try statement.bind(path, at: 1)
        try statement.run()
    }
}
