/// Settings of one node's Raft transport. Defaults suit a LAN cluster on this class of machine.
public struct TransportConfiguration: Sendable {
    /// The shared secret sent as `Authorization: Bearer <token>` on every internal request;
    /// nil sends no `Authorization` header (see `InternalAuth` for what the receiver accepts).
    public var clusterToken: String?
    /// The Raft group the messages belong to (the `{shard}` path segment).
    public var shard: Int = 1
    /// Messages waiting per peer; when full, `send` drops (Raft retransmits).
    public var queueCapacityPerPeer: Int = 4096
    /// Largest request body (estimated encoded bytes); a larger backlog goes in several requests.
    /// A single larger message is sent alone. The receiver's body limit must be above this.
    public var maxBatchBytes: Int = 4 << 20
    /// Whole-request timeout (connect + send + answer) for one batch.
    public var requestTimeoutMilliseconds: Int = 2000
    /// Pause after a failed batch; doubles on consecutive failures up to 16×, resets on success.
    public var backoffMilliseconds: Int = 100

    public init(clusterToken: String? = nil, shard: Int = 1) {
        self.clusterToken = clusterToken
        self.shard = shard
    }

    public func validate() throws(TransportError) {
        func check(_ ok: Bool, _ what: String) throws(TransportError) {
            if !ok { throw .invalidConfiguration(what) }
        }
        if let clusterToken {
            try check(InternalAuth.isValidToken(clusterToken),
                      "cluster token must be 1...512 visible ASCII characters without spaces")
        }
        try check(shard >= 1, "shard must be >= 1")
        try check((1...1_000_000).contains(queueCapacityPerPeer), "queue capacity per peer must be 1...1000000")
        try check((4 << 10...(1 << 30)).contains(maxBatchBytes), "max batch bytes must be 4 KiB...1 GiB")
        try check((10...600_000).contains(requestTimeoutMilliseconds), "request timeout must be 10...600000 ms")
        try check((1...60_000).contains(backoffMilliseconds), "backoff must be 1...60000 ms")
    }
}
