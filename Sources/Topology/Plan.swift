/// The planner's output: the next cluster map and the Raft actions, most urgent first.
///
/// Replicate `map` when its version differs from the input's; execute the first feasible action.
public struct Plan: Sendable, Equatable {
    public var map: ClusterMap
    public var actions: [Action]

    public init(map: ClusterMap, actions: [Action]) {
        self.map = map
        self.actions = actions
    }
}
