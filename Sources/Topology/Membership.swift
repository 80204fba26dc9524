/// A node's kind of Raft membership in its shard group.
public enum Membership: String, Sendable, Hashable {
    /// Counts for quorum and may lead.
    case voter
    /// Receives the log but neither votes nor leads.
    case learner
}
