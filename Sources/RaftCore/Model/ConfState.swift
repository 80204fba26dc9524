/// A group configuration: who votes, who only replicates, and each member's attributes.
///
/// Invariants (kept by `init` and `applying(_:)`): `voters` and `learners` are sorted, free
/// of duplicates and disjoint; `attributes` has keys only for members.
public struct ConfState: Sendable, Hashable {
    /// Members that vote and count toward quorum.
    public private(set) var voters: [NodeID]
    /// Members that receive the log but never vote, never count, never campaign.
    public private(set) var learners: [NodeID]
    /// Attributes of members that differ from `NodeAttributes.default`.
    public private(set) var attributes: [NodeID: NodeAttributes]

    public init(voters: [NodeID] = [], learners: [NodeID] = [], attributes: [NodeID: NodeAttributes] = [:]) {
        let v = Array(Set(voters)).sorted()
        let vs = Set(v)
        self.voters = v
        self.learners = Array(Set(learners).subtracting(vs)).sorted()
        let members = vs.union(self.learners)
        // Canonical form: defaults are implied, so equal configurations compare equal.
        self.attributes = attributes.filter { members.contains($0.key) && $0.value != .default }
    }

    public static let empty = ConfState()

    public func isVoter(_ id: NodeID) -> Bool { voters.contains(id) }
    public func isLearner(_ id: NodeID) -> Bool { learners.contains(id) }
    public func isMember(_ id: NodeID) -> Bool { isVoter(id) || isLearner(id) }

    /// All members, voters first.
    public var members: [NodeID] { voters + learners }

    /// The attributes of `id` (defaults for unknown ids).
    public func attributes(of id: NodeID) -> NodeAttributes { attributes[id] ?? .default }

    /// Votes (or acknowledgements) needed from `voters`: a strict majority.
    public var quorum: Int { voters.count / 2 + 1 }

    /// True when the voters in `ids` form a quorum of this configuration; ids that are not
    /// voters (learners, strangers) are ignored.
    func hasQuorum<S: Sequence>(_ ids: S) -> Bool where S.Element == NodeID {
        var n = 0
        for id in ids where voters.contains(id) { n += 1 }
        return n >= quorum
    }
}
