/// What a node knows of one shard's key space: its id, its bucket range and the version of
/// that range (docs/ARCHITECTURE.md, "Shards").
///
/// The version only increases: a split raises the parent's, and the child starts at the
/// parent's new version. A write is checked against the range when it is proposed and
/// again when it is applied, so a write proposed before a split and committed after it is
/// refused the same way on every replica.
public struct ShardDescriptor: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var id: Int
    public var firstBucket: Int
    public var lastBucket: Int
    public var version: UInt64

    public init(id: Int, firstBucket: Int, lastBucket: Int, version: UInt64) {
        self.id = id
        self.firstBucket = firstBucket
        self.lastBucket = lastBucket
        self.version = version
    }

    /// The single shard of an unsplit cluster.
    public static let whole = ShardDescriptor(id: 1, firstBucket: 1, lastBucket: Int(Bucket.count), version: 1)

    /// A group created before its data arrived (a node that joined after a split): it owns
    /// nothing until a snapshot tells it its range.
    public static func uninitialized(_ id: Int) -> ShardDescriptor {
        ShardDescriptor(id: id, firstBucket: 0, lastBucket: -1, version: 0)
    }

    public var isInitialized: Bool { firstBucket <= lastBucket }
    public var buckets: ClosedRange<Int>? { isInitialized ? firstBucket...lastBucket : nil }

    public func contains(_ bucket: Int) -> Bool { bucket >= firstBucket && bucket <= lastBucket }

    public func overlaps(_ other: ShardDescriptor) -> Bool {
        isInitialized && other.isInitialized && firstBucket <= other.lastBucket && other.firstBucket <= lastBucket
    }

    public var description: String { "shard \(id) [\(firstBucket)-\(lastBucket)] v\(version)" }

    /// Why splitting this shard at `at` (the first bucket of the new shard) is refused, or
    /// nil when it is allowed: the new shard must start strictly inside the range.
    public func refusesSplit(at bucket: Int) -> String? {
        guard isInitialized else { return "shard \(id) holds no range yet" }
        guard bucket > firstBucket && bucket <= lastBucket else {
            return "bucket \(bucket) is not inside shard \(id)'s range \(firstBucket + 1)...\(lastBucket) (the new shard's first bucket)"
        }
        return nil
    }

    /// The two halves of a split at `at`: this shard keeps `firstBucket ..< at`, the new one
    /// `at ... lastBucket`; both carry the next version.
    ///
    /// A shard's id is the first bucket it was created with (shard 1 holds bucket 1): a range
    /// only ever loses its upper part, so a bucket starts a new shard at most once, and every
    /// replica derives the same id from the split entry alone.
    public func split(at bucket: Int) -> (parent: ShardDescriptor, child: ShardDescriptor) {
        let next = version + 1
        return (ShardDescriptor(id: id, firstBucket: firstBucket, lastBucket: bucket - 1, version: next),
                ShardDescriptor(id: bucket, firstBucket: bucket, lastBucket: lastBucket, version: next))
    }
}

/// The shards a node knows, for routing: bucket → shard. Newer descriptors replace older
/// ones (by version, never downgraded).
public struct ShardTable: Sendable, Equatable {
    public private(set) var shards: [Int: ShardDescriptor]

    public init(_ descriptors: [ShardDescriptor] = [.whole]) {
        shards = [:]
        for descriptor in descriptors { shards[descriptor.id] = descriptor }
    }

    /// The shard that owns `bucket` (the newest descriptor covering it).
    public func shard(for bucket: Int) -> ShardDescriptor? {
        var best: ShardDescriptor?
        for descriptor in shards.values where descriptor.contains(bucket) {
            if best == nil || descriptor.version > best!.version { best = descriptor }
        }
        return best
    }

    public subscript(id: Int) -> ShardDescriptor? { shards[id] }

    /// Splices in `descriptor` unless a newer version of that shard is already known.
    /// Returns true when the table changed.
    @discardableResult
    public mutating func merge(_ descriptor: ShardDescriptor) -> Bool {
        if let known = shards[descriptor.id], known.version >= descriptor.version, known.isInitialized || !descriptor.isInitialized {
            return false
        }
        shards[descriptor.id] = descriptor
        return true
    }

    public mutating func remove(_ id: Int) { shards.removeValue(forKey: id) }

    /// Sorted by first bucket (uninitialized groups last, by id).
    public var sorted: [ShardDescriptor] {
        shards.values.sorted { ($0.isInitialized ? $0.firstBucket : Int.max, $0.id) < ($1.isInitialized ? $1.firstBucket : Int.max, $1.id) }
    }

}
