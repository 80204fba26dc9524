#if canImport(Glibc)
import Glibc
#endif
import SQLite

extension Store {
    /// Writes a consistent snapshot of the database to `path` (replacing it atomically: temp
    /// file, fsync, rename) and returns the applied index the snapshot contains. Writers keep
    /// going meanwhile. The file is a standalone SQLite database (no `-wal`).
    public func backup(to path: String) throws(StorageError) -> UInt64 {
        let temporary = path + ".partial"
        try FileSystem.remove(temporary)
        try FileSystem.remove(temporary + "-journal")
        let index = try readers.withReader { reader throws(StorageError) in
            let connection = reader.connection
            return try sqlite { () throws(SQLite.Error) in
                // One read transaction: the index and the pages copied come from the same snapshot.
                try connection.begin(.deferred)
                defer { try? connection.rollback() }
                let index = try connection.scalarInt64("SELECT value FROM meta WHERE key = 'applied_index'") ?? 0
                try connection.backup(into: temporary)
                return UInt64(index)
            }
        }
        do throws(StorageError) {
            try FileSystem.sync(temporary)
            try FileSystem.rename(temporary, to: path)
            try FileSystem.sync(FileSystem.directory(of: path), directory: true)
        } catch {
            try? FileSystem.remove(temporary)
            throw error
        }
        logger.info("backup written", metadata: ["path": "\(path)", "applied_index": "\(index)"])
        return index
    }

    /// Installs the backup file `backup` as the database at `path`, for a node that is not
    /// running. Refuses when `path` (or its `-wal`) exists, or when `backup` is not an intact
    /// machdb database (application id, tables, schema version, `PRAGMA integrity_check`).
    /// The copy appears atomically: it is written next to `path`, synced, then renamed.
    public static func restore(from backup: String, to path: String) throws(StorageError) {
        for existing in [path, path + "-wal"] where FileSystem.exists(existing) {
            throw .restoreRefused("\(existing) already exists; restore only into an empty data directory")
        }
        guard FileSystem.exists(backup) else { throw .restoreRefused("\(backup) does not exist") }
        let source: Connection
        do throws(StorageError) {
            source = try sqlite { () throws(SQLite.Error) in try Connection(path: backup, mode: .readOnly) }
            let integrity = try sqlite { () throws(SQLite.Error) in try source.scalarText("PRAGMA integrity_check") }
            guard integrity == "ok" else { throw .corrupt("integrity_check: \(integrity ?? "no answer")") }
            let version = try Schema.version(of: source)
            guard version <= Schema.currentVersion else {
                throw .corrupt("schema version \(version) is newer than this build supports (\(Schema.currentVersion))")
            }
        } catch {
            throw .restoreRefused("\(backup) is not a valid machdb database: \(reason(error))")
        }
        let temporary = path + ".restoring"
        try FileSystem.remove(temporary)
        try FileSystem.remove(temporary + "-journal")
        do throws(StorageError) {
            try sqlite { () throws(SQLite.Error) in try source.backup(into: temporary) }
            try FileSystem.sync(temporary)
            try FileSystem.rename(temporary, to: path)
            try FileSystem.sync(FileSystem.directory(of: path), directory: true)
        } catch {
            try? FileSystem.remove(temporary)
            throw error
        }
    }

    private static func reason(_ error: StorageError) -> String {
        switch error {
        case let .corrupt(detail): detail
        case let .sqlite(error): error.message
        default: error.description
        }
    }
}
