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

    public init(id: Int, firstBucket: Int, lastBucket: Int, writer: String?, voters: [String], learners: [String],
                version: UInt64 = 1) {
        self.id = id
        self.firstBucket = firstBucket
        self.lastBucket = lastBucket
        self.writer = writer
        self.voters = voters
        self.learners = learners
        self.version = version
    }

    /// The single shard of an unsharded cluster: id 1, buckets 1...1000, no members yet.
    static let unsharded = ShardEntry(id: 1, firstBucket: 1, lastBucket: 1000, writer: nil, voters: [], learners: [])
}
