/// Volatile state worth reporting when it changes; never persisted.
public struct SoftState: Sendable, Hashable {
    /// The leader this node follows (itself when leader); nil when unknown.
    public var leader: NodeID?
    public var role: Role

    public init(leader: NodeID?, role: Role) {
        self.leader = leader
        self.role = role
    }
}
