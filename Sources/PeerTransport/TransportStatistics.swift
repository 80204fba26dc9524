import RaftCore

/// Counters of one peer's links, for `/metrics` and `/admin/v1/cluster`. Counts are totals
/// since the peer was added (a peer whose URL changes starts again from zero).
public struct PeerStatistics: Sendable, Equatable {
    public var id: NodeID
    public var url: String
    /// Frames waiting in the peer's send queue now, and its bound.
    public var queueDepth: Int
    public var queueCapacity: Int
    /// Whether the outgoing stream is connected now.
    public var connected = false
    /// Frames, bytes and Raft messages written to the outgoing stream (heartbeats included in
    /// frames and bytes).
    public var sentFrames: UInt64 = 0
    public var sentBytes: UInt64 = 0
    public var sentMessages: UInt64 = 0
    /// Frames, bytes and Raft messages read from the peer's stream to us.
    public var receivedFrames: UInt64 = 0
    public var receivedBytes: UInt64 = 0
    public var receivedMessages: UInt64 = 0
    /// Frames refused by `send` because the queue was full.
    public var droppedQueueFull: UInt64 = 0
    /// Frames given up because the link failed (queued while it was down, or in a failed write).
    public var droppedFailed: UInt64 = 0
    /// Streams opened again after the first, and connect or write failures.
    public var reconnects: UInt64 = 0
    public var failures: UInt64 = 0
    public var consecutiveFailures: UInt64 = 0
    /// The last failure, for people; nil before the first.
    public var lastError: String?

    /// Frames this peer will never receive from us.
    public var dropped: UInt64 { droppedQueueFull + droppedFailed }
}

/// A snapshot of the whole transport's counters.
public struct TransportStatistics: Sendable, Equatable {
    public var peers: [NodeID: PeerStatistics]
    /// Messages addressed to a node that is not a peer (or sent after `close`).
    public var droppedUnknownPeer: UInt64
    /// Incoming streams open now.
    public var incomingStreams: Int
}
