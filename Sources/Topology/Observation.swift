/// The controller's view of one Raft member (voter or learner), as seen from the leader.
public struct Observation: Sendable, Equatable {
    public var id: String
    public var url: String
    /// Hardware level, 1...5 (the planner clamps values outside).
    public var level: Int
    /// Heard from within the failure timeout; the leader itself is always alive.
    public var alive: Bool
    /// How long it has not answered; 0 when alive.
    public var downForMilliseconds: UInt64
    public var membership: Membership
    /// Current Raft priority: 0 (votes, never preferred as leader) or 1.
    public var priority: Int
    /// Replicated within the promotion lag and past the compaction point (the leader: true).
    public var caughtUp: Bool
    /// True for the node running the planner (normally exactly one observation).
    public var isLeader: Bool
    /// An operator asked it to leave gracefully.
    public var leaving: Bool

    public init(
        id: String, url: String, level: Int, alive: Bool, downForMilliseconds: UInt64, membership: Membership,
        priority: Int, caughtUp: Bool, isLeader: Bool, leaving: Bool
    ) {
        self.id = id
        self.url = url
        self.level = level
        self.alive = alive
        self.downForMilliseconds = downForMilliseconds
        self.membership = membership
        self.priority = priority
        self.caughtUp = caughtUp
        self.isLeader = isLeader
        self.leaving = leaving
    }
}
