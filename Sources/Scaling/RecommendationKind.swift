/// What a recommendation asks the operator to do (the hook's `kind`).
public enum RecommendationKind: String, Sendable, CaseIterable {
    case addNode = "add_node"
    case removeNode = "remove_node"
    /// Produced by the topology planner for a failed node, never by `ScalingPolicyEngine`.
    case replaceNode = "replace_node"
    case biggerLeader = "bigger_leader"
    case splitShard = "split_shard"
    /// Informational: a surge episode ended (`SurgeEpisode`); back pressure absorbed it and the
    /// operator has nothing to do. Never a `Proposal`, never starts a cooldown.
    case surge

    /// Whether this kind adds capacity (starts the down cooldown).
    public var isScaleUp: Bool {
        switch self {
        case .addNode, .biggerLeader, .splitShard: true
        case .removeNode, .replaceNode, .surge: false
        }
    }

    /// Whether this kind only reports (the operator logs it and acts on nothing).
    public var isInformational: Bool { self == .surge }
}
