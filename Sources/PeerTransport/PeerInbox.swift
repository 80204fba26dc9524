import RaftCore

/// Where a `PeerTransport` hands what it receives, and what it could not send. Implemented by
/// the node's Raft runtime (one inbox for every shard's group on the node).
///
/// Every method is called on a transport thread (a receiver or a sender) and must not block.
public protocol PeerInbox: AnyObject, Sendable {
    /// Raft messages of `shard`'s group from the peer `from`.
    func deliver(_ messages: [Message], shard: Int, from: NodeID)
    /// A request from `from` that expects a `PeerTransport.reply` with the same `id`.
    func call(id: UInt64, shard: Int, payload: [UInt8], from: NodeID)
    /// The answer to a `PeerTransport.call` this node made.
    func reply(id: UInt64, payload: [UInt8], from: NodeID)
    /// Traffic to `peer` was lost (connect or write failed, or its queue was full): Raft stops
    /// pipelining to it and probes.
    func unreachable(_ peer: NodeID)
    /// Calls to `peer` that certainly never reached its socket (dropped while queued).
    func callsNotSent(_ ids: [UInt64], to peer: NodeID)
    /// A stream with `peer` broke (a write to it failed, or its stream to us ended without being
    /// replaced): calls already sent to it may never be answered — their outcome is unknown.
    func linkLost(_ peer: NodeID)
}
