/// Settings of the operator-hook outbox.
public struct OutboxConfiguration: Sendable {
    /// The SQLite file holding the outbox (created with its own schema if missing). It must not
    /// be the node's document database: the outbox is node-local state, never replicated.
    public var path: String
    /// Undelivered recommendations kept at most; when full, the oldest undelivered one is
    /// dropped (counted in `Outbox.Stats.dropped`) so that newer information wins.
    public var maxPending: Int = 1000
    /// Delivered recommendations kept for `history(limit:)`; older ones are deleted.
    public var maxHistory: Int = 500

    public init(path: String, maxPending: Int = 1000, maxHistory: Int = 500) {
        self.path = path
        self.maxPending = maxPending
        self.maxHistory = maxHistory
    }

    public func validate() throws(OutboxError) {
        guard !path.isEmpty else { throw .invalidConfiguration("outbox path must not be empty") }
        guard (1...1_000_000).contains(maxPending) else { throw .invalidConfiguration("max pending must be 1...1000000") }
        guard (0...1_000_000).contains(maxHistory) else { throw .invalidConfiguration("max history must be 0...1000000") }
    }
}
