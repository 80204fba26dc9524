import Sharding
import SQLite

/// Why a store operation failed. None of these changes stored data: a write that fails was not
/// applied, and nothing acknowledged is lost.
///
/// Descriptions are for logs: ``sqlite(_:)`` may quote SQL and bound values (user data), so
/// clients get only a generic message.
public enum StorageError: Swift.Error, Sendable, CustomStringConvertible {
    /// SQLite failed (I/O error, disk full, locked, ...). The payload says what was running.
    case sqlite(SQLite.Error)
    /// The store was closed (or is closing) and accepts no more work.
    case closed
    /// A query ran past `queryTimeoutMilliseconds`, or no read connection freed up in that time.
    case queryTimeout
    /// A ``StoreConfiguration`` setting is out of range.
    case invalidConfiguration(String)
    /// The database holds something this build cannot use: not a machdb database, a newer
    /// schema, or contents that break an invariant.
    case corrupt(String)
    /// A file-system call failed (`operation` on `path`, with `errno`).
    case io(operation: String, path: String, errno: Int32)
    /// ``Store/restore(from:to:)`` refused: the target exists, or the source is not a valid
    /// machdb database.
    case restoreRefused(String)
    /// A command broke the caller's side of the contract (e.g. a PATCH body that is not
    /// JSON); rejected before anything was applied.
    case invalidCommand(String)
    /// A write for a bucket the group does not own (any more): refused whole, identically on
    /// every replica; `current` is the group's descriptor at that point.
    case shardMismatch(bucket: Int, current: ShardDescriptor)

    public var description: String {
        switch self {
        case let .sqlite(error): "storage: \(error)"
        case .closed: "storage: the store is closed"
        case .queryTimeout: "storage: query timed out"
        case let .invalidConfiguration(detail): "storage: invalid configuration: \(detail)"
        case let .corrupt(detail): "storage: corrupt or foreign database: \(detail)"
        case let .io(operation, path, errno): "storage: \(operation) \(path) failed: \(errnoDescription(errno)) (errno \(errno))"
        case let .restoreRefused(detail): "storage: restore refused: \(detail)"
        case let .invalidCommand(detail): "storage: invalid command: \(detail)"
        case let .shardMismatch(bucket, current): "storage: bucket \(bucket) is not in \(current)"
        }
    }
}

/// Runs SQLite calls, turning their error into ``StorageError/sqlite(_:)``.
@inline(__always)
func sqlite<T>(_ body: () throws(SQLite.Error) -> T) throws(StorageError) -> T {
    do { return try body() } catch { throw .sqlite(error) }
}
