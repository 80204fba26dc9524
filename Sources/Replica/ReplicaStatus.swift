import RaftCore
import Storage

/// What the Raft runtime publishes after every loop turn, for routing, `/admin/v1/cluster`
/// and `/metrics`. A consistent value, read without touching the Raft thread.
public struct ReplicaStatus: Sendable {
    public struct MemberStatus: Sendable {
        public var id: String
        public var raftID: NodeID
        public var url: String
        public var level: Int
        public var isVoter: Bool
        public var isLearner: Bool
        /// Leader's view: highest index known replicated there, and how far behind it is.
        public var match: UInt64?
        public var lag: UInt64?
        public var replicationState: String?
        /// Raft priority attribute (0: a Load Manager's silent replica, never preferred as leader).
        public var priority: Int
        /// Leader's view: milliseconds since this member was last heard from (nil for itself).
        public var sinceContactMilliseconds: UInt64?
        /// Leader's view: replicated within the promotion lag and past the compaction point.
        public var caughtUp: Bool
        /// The Raft index that admitted it (orders nodes by arrival).
        public var joinedAtIndex: UInt64
    }

    public var role: Role = .follower
    public var term: UInt64 = 0
    public var leaderID: String?
    public var leaderURL: String?
    public var commit: UInt64 = 0
    public var applied: UInt64 = 0
    public var lastIndex: UInt64 = 0
    /// First index still in the log (entries below it are compacted).
    public var firstIndex: UInt64 = 0
    /// Leader: it has committed an entry of its term (its view of the log is complete).
    public var committedInTerm = false
    public var members: [MemberStatus] = []
    public var pendingProposals: Int = 0
    /// Requests queued for the Raft thread, and peer messages in its own lane.
    public var mailboxDepth: Int = 0
    public var peerLaneDepth: Int = 0
    /// Peer messages dropped because the peer lane was full (Raft resends).
    public var peerMessagesDropped: UInt64 = 0
    /// Writes forwarded to the leader and waiting for its answer.
    public var forwardedWaiting: Int = 0
    /// Snapshot being received (follower) or sent (leader), if any.
    public var snapshotTransfer: SnapshotTransfer?

    public struct SnapshotTransfer: Sendable {
        public var token: String
        public var direction: String
        public var bytes: Int64
        public var total: Int64
        public var etaSeconds: Double?
    }

    public var isLeader: Bool { role == .leader }
}
