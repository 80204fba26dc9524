import RaftCore

/// Counters of one peer's sender, for `/metrics` and `/admin/v1/cluster`. Counts are totals
/// since the peer was added (a peer whose URL changes starts again from zero).
public struct PeerStatistics: Sendable, Equatable {
    public var id: NodeID
    public var url: String
    /// Messages waiting in the peer's queue now.
    public var queueDepth: Int
    public var queueCapacity: Int
    /// Messages and requests the peer acknowledged (2xx).
    public var sentMessages: UInt64 = 0
    public var sentBatches: UInt64 = 0
    /// Request body bytes the peer acknowledged.
    public var sentBytes: UInt64 = 0
    /// Messages refused by `send` because the queue was full.
    public var droppedQueueFull: UInt64 = 0
    /// Messages given up because their request failed (or that were queued when the peer was removed).
    public var droppedFailed: UInt64 = 0
    /// Failed requests (connect error, timeout, non-2xx), and how many in a row until now.
    public var failures: UInt64 = 0
    public var consecutiveFailures: UInt64 = 0
    /// The last failure, for people; nil before the first.
    public var lastError: String?

    /// Every message this peer will never receive from us.
    public var dropped: UInt64 { droppedQueueFull + droppedFailed }
}

/// A snapshot of the whole transport's counters.
public struct TransportStatistics: Sendable, Equatable {
    public var peers: [NodeID: PeerStatistics]
    /// Messages addressed to a node that is not a peer (or sent after `close`).
    public var droppedUnknownPeer: UInt64
}
