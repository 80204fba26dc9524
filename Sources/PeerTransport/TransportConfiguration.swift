import RaftCore

/// Settings of one node's peer transport. Defaults suit a LAN cluster on this class of machine.
public struct TransportConfiguration: Sendable {
    /// This node's Raft id, sent in the stream handshake so the receiver knows who talks.
    public var nodeID: NodeID
    /// The shared secret sent as `Authorization: Bearer <token>` in the stream handshake; nil
    /// sends no `Authorization` header (see `InternalAuth` for what the receiver accepts).
    public var clusterToken: String?
    /// Frames waiting per peer; when full, `send` drops and reports the peer unreachable.
    public var queueCapacityPerPeer: Int = 4096
    /// Connecting plus the upgrade answer, at most.
    public var connectTimeoutMilliseconds: Int = 1000
    /// A write that cannot proceed this long (the peer stopped reading) breaks the link.
    public var sendTimeoutMilliseconds: Int = 2000
    /// An idle link sends a heartbeat frame this often.
    public var heartbeatMilliseconds: Int = 500
    /// A receiver that hears nothing (not even a heartbeat) this long drops the link.
    public var idleTimeoutMilliseconds: Int = 3000
    /// Pause after a failed connect; doubles on consecutive failures up to 16×, resets on success.
    public var backoffMilliseconds: Int = 100

    public init(nodeID: NodeID, clusterToken: String? = nil) {
        self.nodeID = nodeID
        self.clusterToken = clusterToken
    }

    public func validate() throws(TransportError) {
        func check(_ ok: Bool, _ what: String) throws(TransportError) {
            if !ok { throw .invalidConfiguration(what) }
        }
        if let clusterToken {
            try check(InternalAuth.isValidToken(clusterToken),
                      "cluster token must be 1...512 visible ASCII characters without spaces")
        }
        try check(nodeID != 0, "node id must not be 0")
        try check((1...1_000_000).contains(queueCapacityPerPeer), "queue capacity per peer must be 1...1000000")
        try check((10...600_000).contains(connectTimeoutMilliseconds), "connect timeout must be 10...600000 ms")
        try check((10...600_000).contains(sendTimeoutMilliseconds), "send timeout must be 10...600000 ms")
        try check((10...60_000).contains(heartbeatMilliseconds), "heartbeat must be 10...60000 ms")
        try check(idleTimeoutMilliseconds >= 2 * heartbeatMilliseconds, "idle timeout must be at least two heartbeats")
        try check((1...60_000).contains(backoffMilliseconds), "backoff must be 1...60000 ms")
    }
}
