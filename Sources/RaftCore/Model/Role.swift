/// The role a node plays in its current term.
public enum Role: UInt8, Sendable, Hashable, CustomStringConvertible {
    case follower
    /// Asking for pre-votes (PreVote): the term is not yet incremented.
    case preCandidate
    case candidate
    case leader

    public var description: String {
        switch self {
        case .follower: "follower"
        case .preCandidate: "pre-candidate"
        case .candidate: "candidate"
        case .leader: "leader"
        }
    }
}
