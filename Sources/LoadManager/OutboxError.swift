import SQLite

/// Why an outbox operation failed.
public enum OutboxError: Swift.Error, Sendable, CustomStringConvertible {
    /// A setting is out of range.
    case invalidConfiguration(String)
    /// `kind` is not one of `Outbox.kinds`.
    case unknownKind(String)
    /// The file holds an outbox schema newer than this build understands.
    case unsupportedSchema(version: Int64)
    /// SQLite failed (I/O, full disk, corrupt file); the operation had no effect.
    case storage(SQLite.Error)

    public var description: String {
        switch self {
        case let .invalidConfiguration(what): "invalid outbox configuration: \(what)"
        case let .unknownKind(kind): "unknown recommendation kind \(kind)"
        case let .unsupportedSchema(version): "outbox schema version \(version) is newer than this build supports"
        case let .storage(error): "outbox storage: \(error)"
        }
    }
}
