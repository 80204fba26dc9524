/// Where a node stands, as the planner last saw it.
public enum NodeState: String, Sendable, Hashable {
    /// Answering; eligible for roles.
    case active
    /// Not heard from within the failure timeout; holds no role, removed after `removeAfterMilliseconds`.
    case failed
    /// An operator asked it to leave; removed from membership once it no longer leads.
    case leaving
}
