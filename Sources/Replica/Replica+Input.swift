import RaftCore
import Storage

/// Work handed to the Raft thread through its bounded mailbox.
enum ReplicaInput: Sendable {
    typealias ProposalCompletion = @Sendable (Result<CommandResult, ReplicaError>) -> Void
    typealias Completion = @Sendable (Result<Void, ReplicaError>) -> Void
    typealias ReadCompletion = @Sendable (Result<UInt64, ReplicaError>) -> Void

    case propose(WriteCommand, deadline: UInt64, completion: ProposalCompletion)
    case readIndex(deadline: UInt64, completion: ReadCompletion)
    case transfer(to: NodeID, completion: Completion)
    case addMember(Member, deadline: UInt64, completion: Completion)
    /// A membership change decided by the topology controller (promote, attributes, remove).
    case changeMembership(ConfChange, deadline: UInt64, completion: Completion)
    /// A control entry (e.g. the cluster map): completes with its index once applied.
    case proposeControl(LogCommand, deadline: UInt64, completion: ReadCompletion)
    /// A snapshot message whose image has been downloaded: step it now.
    case snapshotFetched(Message)
    case snapshotFetchFailed(token: String)
    /// Directory entries learned outside the log (e.g. from the join answer).
    case knownPeers([Member])
    /// The transport could not reach this peer.
    case unreachable(NodeID)
}
