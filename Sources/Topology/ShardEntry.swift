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

    public init(id: Int, firstBucket: Int, lastBucket: Int, writer: String?, voters: [String], learners: [String]) {
        self.id = id
        self.firstBucket = firstBucket
        self.lastBucket = lastBucket
        self.writer = writer
        self.voters = voters
        self.learners = learners
    }

    /// The single shard of an unsharded cluster: id 1, buckets 1...1000, no members yet.
    static let unsharded = ShardEntry(id: 1, firstBucket: 1, lastBucket: 1000, writer: nil, voters: [], learners: [])
}
