/// What a successful operation did.
public struct WriteResult: Sendable, Equatable {
    public let collection: String
    public let id: String
    /// The document's new rev (a delete's is the tombstone's).
    public let rev: UInt64
    public let bucket: Int
    /// True when no live document existed before (a put that created).
    public let created: Bool
    /// True for a delete.
    public let deleted: Bool

    public init(collection: String, id: String, rev: UInt64, bucket: Int, created: Bool, deleted: Bool) {
        self.collection = collection
        self.id = id
        self.rev = rev
        self.bucket = bucket
        self.created = created
        self.deleted = deleted
    }
}

/// Why an operation was not applied (it changed nothing).
public enum WriteFailure: Sendable, Equatable {
    /// PATCH or DELETE of a document that is absent or deleted.
    case notFound
    /// The precondition did not hold; `currentRev` is the live rev, nil when not live.
    case preconditionFailed(currentRev: UInt64?)
    /// PATCH of a document whose body is not JSON.
    case notJSON
    /// The PATCH result would nest deeper than `maxJSONDepth`.
    case patchResultTooDeep
}

/// The outcome of one operation.
public enum WriteOutcome: Sendable, Equatable {
    case written(WriteResult)
    case failed(WriteFailure)
}

/// The outcome of a durable command.
public struct CommandResult: Sendable {
    /// The command's index (`X-Machdb-Index`).
    public let index: UInt64
    /// One outcome per operation, in operation order.
    public let outcomes: [WriteOutcome]

    public init(index: UInt64, outcomes: [WriteOutcome]) {
        self.index = index
        self.outcomes = outcomes
    }
}
