/// One node as the cluster map describes it.
///
/// `roles` is kept canonical (see `NodeRole.canonical`) by the planner and by `init(json:)`;
/// the memberwise initializer stores what it is given.
public struct MapNode: Sendable, Equatable {
    public var id: String
    public var url: String
    /// Hardware level, 1...5 (bigger is stronger).
    public var level: Int
    public var roles: [NodeRole]
    public var state: NodeState
    /// Assigned once, when the node first enters the map; higher = newer.
    public var joinOrder: UInt64
    /// True on exactly one node: the Load Manager clients should use.
    public var primaryLoadManager: Bool

    public init(
        id: String, url: String, level: Int, roles: [NodeRole], state: NodeState, joinOrder: UInt64,
        primaryLoadManager: Bool
    ) {
        self.id = id
        self.url = url
        self.level = level
        self.roles = roles
        self.state = state
        self.joinOrder = joinOrder
        self.primaryLoadManager = primaryLoadManager
    }

    /// Whether the node holds `role`.
    public func has(_ role: NodeRole) -> Bool { roles.contains(role) }

    /// Valid hardware levels.
    static let levels = 1...5

    /// `level` clamped into `levels`.
    static func clampLevel(_ level: Int) -> Int { min(max(level, levels.lowerBound), levels.upperBound) }
}
