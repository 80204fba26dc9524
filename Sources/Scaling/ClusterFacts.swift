/// What the caller knows about the cluster at one evaluation (read from the cluster map).
public struct ClusterFacts: Sendable, Equatable {
    /// Live node count (the Mach stage number).
    public var stage: Int
    /// The stage's display name, e.g. "Mach IV".
    public var stageName: String
    /// Read Replicas of the shard now.
    public var readReplicas: Int
    /// The most Read Replicas a shard may have (topology policy); at it, reads scale by splitting.
    public var maxReplicas: Int
    /// The Writer's machine level, 1...maximumLevel.
    public var leaderLevel: Int
    /// True while any replica is behind the leader: scale-in is held.
    public var anyReplicaLagging: Bool
    /// The node a scale-in would remove (chosen by the caller); nil means none may go.
    public var removableNode: String?
    /// Where a new node should join (copied into add_node and bigger_leader targets).
    public var joinURL: String?
    /// The shard a split_shard recommendation names (chosen by the caller, e.g. the hottest).
    public var splitShard: Int
    /// Where that shard would split (the new shard's first bucket, chosen by the caller from
    /// the load per bucket); nil when it cannot usefully be split (one hot bucket, a single
    /// bucket): the policy then recommends no split.
    public var splitAt: Int?

    /// The highest machine level; a write-intensive cluster at it scales by splitting.
    public static let maximumLevel = 5

    public init(
        stage: Int, stageName: String, readReplicas: Int, maxReplicas: Int, leaderLevel: Int,
        anyReplicaLagging: Bool = false, removableNode: String? = nil, joinURL: String? = nil, splitShard: Int = 1,
        splitAt: Int? = nil
    ) {
        self.stage = stage
        self.stageName = stageName
        self.readReplicas = readReplicas
        self.maxReplicas = maxReplicas
        self.leaderLevel = leaderLevel
        self.anyReplicaLagging = anyReplicaLagging
        self.removableNode = removableNode
        self.joinURL = joinURL
        self.splitShard = splitShard
        self.splitAt = splitAt
    }
}
