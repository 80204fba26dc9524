/// A snapshot of a node's state for monitoring, tests and the runtime's decisions.
public struct Status: Sendable, Equatable {
    /// The leader's view of one member's replication.
    public struct MemberProgress: Sendable, Equatable {
        public enum State: String, Sendable { case probe, replicate, snapshot }
        public var match: UInt64
        public var next: UInt64
        public var state: State
        public var recentActive: Bool
        public var isLearner: Bool
        /// Appends sent and not yet acknowledged (the pipelining window in use).
        public var inflightMessages: Int
    }

    public var id: NodeID
    public var hardState: HardState
    public var softState: SoftState
    /// Highest index the application reported applied.
    public var applied: UInt64
    /// The log holds `firstIndex...lastIndex` (persisted or not).
    public var lastIndex: UInt64
    public var firstIndex: UInt64
    /// The configuration in force (the latest in the log, possibly uncommitted).
    public var confState: ConfState
    /// The configuration as of `applied` (what a snapshot taken at `applied` records).
    public var appliedConfState: ConfState
    /// Leader only: every member's replication progress.
    public var progress: [NodeID: MemberProgress]
    /// Leader only: the target of a leadership transfer in progress.
    public var transferee: NodeID?
    /// Leader only: payload bytes proposed in this term and not yet applied.
    public var uncommittedBytes: UInt64
    /// The node's randomized election timeout, in ticks.
    public var electionTimeout: Int

    public var term: UInt64 { hardState.term }
    public var commit: UInt64 { hardState.commit }
    public var role: Role { softState.role }
    public var leader: NodeID? { softState.leader }
}
