/// The versioned document that says which node plays which role (DESIGN §5).
///
/// Only `Planner.plan` produces successors; it bumps `version` by exactly 1 iff anything else
/// changed. `nodes` is sorted by `joinOrder`; `recommendations` is oldest first and bounded.
public struct ClusterMap: Sendable, Equatable {
    public var version: UInt64
    public var nodes: [MapNode]
    public var shards: [ShardEntry]
    public var recommendations: [Recommendation]
    /// The `joinOrder` the next entering node gets.
    public var nextJoinOrder: UInt64
    /// The `seq` the next recommendation gets.
    public var nextRecommendationSeq: UInt64
    /// The cluster-wide configuration; nil until the meta shard's leader seeds it.
    public var settings: ClusterSettings?

    public init(
        version: UInt64, nodes: [MapNode], shards: [ShardEntry], recommendations: [Recommendation],
        nextJoinOrder: UInt64, nextRecommendationSeq: UInt64, settings: ClusterSettings? = nil
    ) {
        self.version = version
        self.nodes = nodes
        self.shards = shards
        self.recommendations = recommendations
        self.nextJoinOrder = nextJoinOrder
        self.nextRecommendationSeq = nextRecommendationSeq
        self.settings = settings
    }

    /// The map of a node that has not received one yet: version 0, no nodes, no shards.
    public static let empty = ClusterMap(
        version: 0, nodes: [], shards: [], recommendations: [], nextJoinOrder: 1, nextRecommendationSeq: 1)

    /// Mach I: version 1, the founder active with all three roles, sole voter and Writer of shard 1.
    public static func initial(founder id: String, url: String, level: Int) -> ClusterMap {
        let founder = MapNode(
            id: id, url: url, level: MapNode.clampLevel(level), roles: NodeRole.allCases, state: .active,
            joinOrder: 1, primaryLoadManager: true)
        var shard = ShardEntry.unsharded
        shard.writer = id
        shard.voters = [id]
        return ClusterMap(
            version: 1, nodes: [founder], shards: [shard], recommendations: [], nextJoinOrder: 2,
            nextRecommendationSeq: 1)
    }

    /// The node with this id, if the map holds it.
    public func node(_ id: String) -> MapNode? { nodes.first { $0.id == id } }

    /// Nodes holding `role`, in join order.
    public func nodes(with role: NodeRole) -> [MapNode] { nodes.filter { $0.roles.contains(role) } }

    /// The Load Manager clients should use (the newest one), if any.
    public var primaryLoadManager: MapNode? { nodes.first { $0.primaryLoadManager } }
}
