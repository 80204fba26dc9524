import RaftCore
import Sharding

/// Settings of one node's Raft runtime. Time is in milliseconds here; the core counts ticks.
public struct ReplicaConfiguration: Sendable {
    /// The node's name (`n1`) and its Raft id (`RaftID.of(name)`).
    public var nodeID: String
    public var raftID: NodeID
    /// URL peers and clients use to reach this node.
    public var url: String
    /// Size class 1...5 (Smart Raft: bigger nodes lead).
    public var level: Int = 1
    /// Length of one Raft tick.
    public var tickMilliseconds: Int = 50
    /// Election timeout in ticks (randomized by the core between this and twice this).
    public var electionTicks: Int = 20
    public var heartbeatTicks: Int = 2
    /// A proposal not applied within this time fails (its outcome is then unknown to the client).
    public var proposalTimeoutMilliseconds: Int = 10_000
    /// The Raft group (shard) this replica belongs to.
    public var shard: Int = 1
    /// Campaign as soon as the group starts (the parent's leader does for a new shard, so
    /// writes to the moved range wait one election round trip, not an election timeout).
    public var campaignAtStart = false
    /// Proposals accepted and not yet answered, at most; beyond: refused at once with
    /// `overloaded` (back pressure, 503 + Retry-After), not queued.
    public var maxPendingProposals: Int = 4_096
    /// Requests (proposals and others) queued for the Raft thread, at most.
    public var mailboxCapacity: Int = 16_384
    /// Peer messages queued for the Raft thread, at most (its own lane, taken first).
    public var peerLaneCapacity: Int = 65_536
    /// Writes forwarded to the leader and waiting for its answer, at most.
    public var maxForwardedWrites: Int = 8_192
    /// Linearizable reads waiting for their read index, at most.
    public var maxPendingReads: Int = 10_000
    /// Compact the log once it holds this many applied entries, keeping `keepEntries` of them
    /// for followers that are only a little behind.
    public var compactionThreshold: UInt64 = 20_000
    public var keepEntries: UInt64 = 2_000
    /// A learner within this many entries of the leader is promoted to voter.
    public var promotionLag: UInt64 = 200
    /// Seed for the core's randomized election timeouts.
    public var randomSeed: UInt64

    public init(nodeID: String, raftID: NodeID, url: String, randomSeed: UInt64) {
        self.nodeID = nodeID
        self.raftID = raftID
        self.url = url
        self.randomSeed = randomSeed
    }

    public func validate() throws(ReplicaError) {
        func check(_ ok: Bool, _ what: String) throws(ReplicaError) {
            if !ok { throw .invalidConfiguration(what) }
        }
        try check((1...5).contains(level), "level must be 1...5")
        try check((1...10_000).contains(tickMilliseconds), "tick must be 1...10000 ms")
        try check(electionTicks > heartbeatTicks && heartbeatTicks >= 1, "election ticks must exceed heartbeat ticks")
        try check(proposalTimeoutMilliseconds >= tickMilliseconds, "proposal timeout must be at least one tick")
        try check(maxPendingProposals > 0 && mailboxCapacity > 0 && maxPendingReads > 0 && peerLaneCapacity > 0
                  && maxForwardedWrites > 0, "bounds must be positive")
        try check(shard >= 1, "shard must be >= 1")
        try check(keepEntries < compactionThreshold, "keep entries must be below the compaction threshold")
    }
}

/// The shard that owns a bucket on the node that answered, and its leader there.
public struct ShardOwner: Sendable, Equatable {
    public var shard: ShardDescriptor
    public var leader: NodeID
    public init(shard: ShardDescriptor, leader: NodeID) {
        self.shard = shard
        self.leader = leader
    }
}

/// Raft ids from node names: FNV-1a 64 of the name, the hash buckets use too (never 0,
/// Raft's "nobody").
public enum RaftID {
    public static func of(_ nodeID: String) -> NodeID {
        let hash = Bucket.fnv1a64(nodeID.utf8)
        return hash == 0 ? 1 : hash
    }
}

/// Why a replica request failed.
public enum ReplicaError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidConfiguration(String)
    /// This node is not the leader; `leaderURL` when one is known.
    case notLeader(leaderURL: String?)
    /// Too much queued or uncommitted: retry later.
    case overloaded(String)
    /// Not applied in time: the write may or may not have happened.
    case timeout
    /// The replica is stopping.
    case stopped
    /// A forwarded write never left this node (the link to the leader was down or full):
    /// nothing happened.
    case notSent
    /// The core refused (e.g. a transfer target that is not a caught-up voter).
    case rejected(String)
    /// The write names a bucket the group does not own (any more): nothing happened;
    /// `current` is the group's range; `owner` the shard that owns the bucket there now and
    /// its leader, when the answering node knows them (a forwarded write's reply), for the
    /// caller to route again.
    case shardMismatch(ShardDescriptor, owner: ShardOwner? = nil)

    public var description: String {
        switch self {
        case let .invalidConfiguration(what): "invalid replica configuration: \(what)"
        case let .notLeader(url): "not the leader" + (url.map { " (leader: \($0))" } ?? " (no leader known)")
        case let .overloaded(what): "overloaded: \(what)"
        case .timeout: "not applied in time"
        case .stopped: "replica stopped"
        case .notSent: "could not reach the leader"
        case let .rejected(why): why
        case let .shardMismatch(current, _): "the write belongs to another shard (this group is \(current))"
        }
    }
}
