/// What the planner asks the operator to do; it never adds nodes or splits shards itself.
public enum RecommendationKind: String, Sendable, Hashable {
    case addNode = "add_node"
    case removeNode = "remove_node"
    case replaceNode = "replace_node"
    case biggerLeader = "bigger_leader"
    case splitShard = "split_shard"
}

/// One recommendation recorded in the cluster map (oldest first, bounded by policy).
public struct Recommendation: Sendable, Equatable {
    /// 1, 2, 3... per map (`ClusterMap.nextRecommendationSeq`).
    public var seq: UInt64
    public var kind: RecommendationKind
    /// A node id (`replace_node`: the failed node), "shard <id>" for `split_shard`, or nil.
    public var target: String?
    /// One human sentence.
    public var reason: String
    /// The stage number of the map that recorded it.
    public var stage: Int
    /// The map version that recorded it.
    public var mapVersion: UInt64

    public init(seq: UInt64, kind: RecommendationKind, target: String?, reason: String, stage: Int, mapVersion: UInt64) {
        self.seq = seq
        self.kind = kind
        self.target = target
        self.reason = reason
        self.stage = stage
        self.mapVersion = mapVersion
    }
}
