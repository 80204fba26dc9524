/// One Raft operation the controller should perform; Raft allows one membership change at a time,
/// so the controller executes the first feasible action of a plan and plans again.
public enum Action: Sendable, Equatable {
    /// Learner -> voter.
    case promote(String)
    /// Set the Raft priority attribute (0 or 1).
    case setPriority(String, Int)
    /// Hand leadership of the shard group to this voter.
    case transferLeadership(to: String)
    /// Remove from Raft membership (and from the directory).
    case remove(String)
}
