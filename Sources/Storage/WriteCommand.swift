/// A condition a write checks against the document's current state before changing anything.
public enum Precondition: Sendable, Equatable {
    /// No condition.
    case none
    /// `If-Match: "r1", "r2"`: the document must be live with one of these revs.
    case ifMatch([UInt64])
    /// `If-Match: *`: the document must be live.
    case ifExists
    /// `If-None-Match: *`: the document must not be live (absent or deleted).
    case ifAbsent
}

/// One change to one document.
public enum WriteOperation: Sendable, Equatable {
    /// Creates or replaces the document with `body`, stored byte-exact. When `isJSON`, `body`
    /// must be valid JSON nested at most `maxJSONDepth` levels: the caller has checked it.
    case put(collection: String, id: String, contentType: String, body: [UInt8], isJSON: Bool, precondition: Precondition)
    /// Applies an RFC 7396 merge patch (`patch` is valid JSON, checked by the caller) to a live
    /// JSON document; the result is re-encoded compactly and keeps the content type.
    case patch(collection: String, id: String, patch: [UInt8], precondition: Precondition)
    /// Deletes a live document, leaving a tombstone so its rev keeps counting.
    case delete(collection: String, id: String, precondition: Precondition)

    public var collection: String {
        switch self {
        case let .put(collection, _, _, _, _, _), let .patch(collection, _, _, _), let .delete(collection, _, _): collection
        }
    }

    public var id: String {
        switch self {
        case let .put(_, id, _, _, _, _), let .patch(_, id, _, _), let .delete(_, id, _): id
        }
    }
}

/// The unit of ordering and durability: one command takes one index (a bulk request is one
/// command with many operations; with Raft, one log entry).
///
/// Applying a command is deterministic: everything that depends on time or randomness (the
/// timestamp, server-chosen ids) is decided before it is submitted.
public struct WriteCommand: Sendable, Equatable {
    /// Applied in order; each succeeds or fails on its own.
    public var operations: [WriteOperation]
    /// Stored as `updated_at` of every document the command writes (ms since the Unix epoch).
    public var timestampMilliseconds: Int64

    public init(operations: [WriteOperation], timestampMilliseconds: Int64) {
        self.operations = operations
        self.timestampMilliseconds = timestampMilliseconds
    }
}
