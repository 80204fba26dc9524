/// What a recommendation asks the operator to do (the hook's `kind`).
public enum RecommendationKind: String, Sendable, CaseIterable {
    case addNode = "add_node"
    case removeNode = "remove_node"
    /// Produced by the topology planner for a failed node, never by `ScalingPolicyEngine`.
    case replaceNode = "replace_node"
    case biggerLeader = "bigger_leader"
    case splitShard = "split_shard"

    /// Whether this kind adds capacity (starts the down cooldown).
    public var isScaleUp: Bool {
        switch self {
        case .addNode, .biggerLeader, .splitShard: true
        case .removeNode, .replaceNode: false
        }
    }
}
