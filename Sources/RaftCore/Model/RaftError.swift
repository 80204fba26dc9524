/// Every error of the Raft core. Proposal errors are fail-fast answers the caller can act
/// on (retry elsewhere, later, or report back pressure); storage errors come from
/// `LogStorage` implementations.
public enum RaftError: Error, Sendable, Equatable {
    /// `Config.validate()` refused the configuration.
    case invalidConfig(String)
    /// This node is not the leader; `leader` is the one it knows of, if any.
    case notLeader(leader: NodeID?)
    /// A leadership transfer to `to` is in progress; proposals are refused until it ends.
    case transferInProgress(to: NodeID)
    /// Back pressure: the leader's uncommitted log bytes would exceed the limit.
    case uncommittedBytesExceeded(uncommitted: UInt64, limit: UInt64)
    /// A configuration change is proposed but not yet applied at `index`.
    case confChangePending(index: UInt64)
    /// The configuration change is not valid in the current configuration.
    case invalidConfChange(String)
    /// `transferLeadership(to:)` named a node that cannot lead.
    case invalidTransferTarget(NodeID, reason: String)
    /// Too many read-index requests wait for leadership confirmation.
    case readIndexQueueFull(limit: Int)
    /// This node is not a voter in its configuration and cannot campaign.
    case notVoter
    /// A message addressed to another node was stepped into this one.
    case wrongRecipient(NodeID)

    /// Storage: the requested index is below the first available one (compacted).
    case compacted(index: UInt64)
    /// Storage: the requested index is beyond the last one.
    case unavailable(index: UInt64)
    /// Storage: no snapshot can be produced right now; the leader retries later.
    case snapshotTemporarilyUnavailable
    /// Storage: the snapshot is older than the one already held.
    case snapshotOutOfDate
    /// Storage: anything else (I/O, corruption). Fatal to the core when it must read its log.
    case storage(String)

    /// Binary decoding failed.
    case decoding(String)
}
