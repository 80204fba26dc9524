/// The state a node must persist (with `Ready.entries`, in the same durable write) before it
/// sends any message of the same `Ready`.
public struct HardState: Sendable, Hashable {
    /// The latest term this node has seen; never decreases.
    public var term: UInt64
    /// The candidate this node voted for in `term`; `0` when none.
    public var vote: NodeID
    /// The highest log index known to be committed; never decreases.
    public var commit: UInt64

    public init(term: UInt64 = 0, vote: NodeID = 0, commit: UInt64 = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }

    public static let empty = HardState()
}
