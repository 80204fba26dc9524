/// A role a node plays for its shard (DESIGN §1); a node holds any subset, in canonical order.
public enum NodeRole: String, Sendable, Hashable, CaseIterable {
    /// Leads the shard's Raft group and accepts writes.
    case writer
    /// Serves client reads from its applied copy.
    case replica
    /// Public entry point: routes, fans out, applies back pressure.
    case loadManager = "load_manager"

    /// `roles` without duplicates, in canonical (`allCases`) order: writer, replica, load_manager.
    public static func canonical(_ roles: some Sequence<NodeRole>) -> [NodeRole] {
        let present = Set(roles)
        return allCases.filter { present.contains($0) }
    }
}
