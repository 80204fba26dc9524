/// One shard: its bucket range, its Writer and its Raft membership.
public struct ShardEntry: Sendable, Equatable {
    public var id: Int
    public var firstBucket: Int
    public var lastBucket: Int
    /// Node id of the shard's Writer (= the Raft leader), nil while unknown.
    public var writer: String?
    /// Voter ids, sorted.
    public var voters: [String]
    /// Learner ids, sorted.
    public var learners: [String]
    /// The range's version (raised by every split of this shard; see `ShardDescriptor`).
    public var version: UInt64
    /// The nodes this shard should live on, when an operator or the planner moved it; nil:
    /// on every node, like the meta shard (docs/ARCHITECTURE.md, "Moving a shard").
    public var placement: ShardPlacement?

    public init(id: Int, firstBucket: Int, lastBucket: Int, writer: String?, voters: [String], learners: [String],
                version: UInt64 = 1, placement: ShardPlacement? = nil) {
        self.id = id
        self.firstBucket = firstBucket
        self.lastBucket = lastBucket
        self.writer = writer
        self.voters = voters
        self.learners = learners
        self.version = version
        self.placement = placement
    }

    /// The nodes holding the shard's data: every member, or a moved shard's voters (its
    /// learners may still be catching up).
    public var holders: Set<String> { Set(voters + (placement == nil ? learners : [])) }

    /// True while the shard's members are not yet exactly its placement, all of them voters
    /// (a placed node still a learner has not caught up: the move is not done).
    public var moving: Bool {
        guard let placement else { return false }
        return Set(voters) != Set(placement.nodes) || !learners.isEmpty
    }

    /// The single shard of an unsharded cluster: id 1, buckets 1...1000, no members yet.
    static let unsharded = ShardEntry(id: 1, firstBucket: 1, lastBucket: 1000, writer: nil, voters: [], learners: [])
}

/// Where a moved shard lives: its nodes, and the shard version the move was asked for (a
/// split of the shard since then cancels the move: the shard follows the meta shard again).
public struct ShardPlacement: Sendable, Equatable {
    /// Node ids, sorted.
    public var nodes: [String]
    public var version: UInt64

    public init(nodes: [String], version: UInt64) {
        self.nodes = nodes.sorted()
        self.version = version
    }
}
