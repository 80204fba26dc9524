/// A single-server membership change, carried by an `Entry` of kind `.confChange` and
/// applied by every member when that entry is applied.
///
/// Only one change may be pending (proposed but not applied at the leader) at a time, and a
/// new leader proposes none until it has applied its whole log up to the start of its term;
/// together with single-server steps this keeps every old and new majority overlapping.
public struct ConfChange: Sendable, Hashable {
    public enum Kind: UInt8, Sendable, Hashable {
        /// Add a voter (a learner is promoted instead).
        case addVoter = 0
        /// Add a non-voting learner; the way new members should join.
        case addLearner = 1
        /// Remove a voter or learner.
        case remove = 2
        /// Turn a learner into a voter.
        case promote = 3
        /// Replace a member's attributes (level, priority, auto-promotion).
        case updateAttributes = 4
    }

    public var kind: Kind
    public var nodeID: NodeID
    /// Attributes for `addVoter`, `addLearner` and `updateAttributes`; ignored otherwise.
    public var attributes: NodeAttributes

    public init(kind: Kind, nodeID: NodeID, attributes: NodeAttributes = .default) {
        self.kind = kind
        self.nodeID = nodeID
        self.attributes = attributes
    }

    // Shorthands for each kind.
    public static func addVoter(_ id: NodeID, _ attributes: NodeAttributes = .default) -> ConfChange {
        ConfChange(kind: .addVoter, nodeID: id, attributes: attributes)
    }
    public static func addLearner(_ id: NodeID, _ attributes: NodeAttributes = .default) -> ConfChange {
        ConfChange(kind: .addLearner, nodeID: id, attributes: attributes)
    }
    public static func remove(_ id: NodeID) -> ConfChange { ConfChange(kind: .remove, nodeID: id) }
    public static func promote(_ id: NodeID) -> ConfChange { ConfChange(kind: .promote, nodeID: id) }
    public static func updateAttributes(_ id: NodeID, _ attributes: NodeAttributes) -> ConfChange {
        ConfChange(kind: .updateAttributes, nodeID: id, attributes: attributes)
    }
}
