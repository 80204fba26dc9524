/// A point-in-time view of the store, for `/metrics`.
public struct StoreStatistics: Sendable {
    /// Commands waiting for the committer.
    public let queueDepth: Int
    public let queueCapacity: Int
    /// Transactions committed (each one fsync) and the commands they held.
    public let batchesCommitted: UInt64
    public let commandsCommitted: UInt64
    /// Batches rolled back after a SQLite error, and the commands they failed.
    public let batchesFailed: UInt64
    public let commandsFailed: UInt64
    /// Sizes of committed batches.
    public let batchSizes: BatchSizeHistogram
    /// The database file plus its WAL, in bytes.
    public let databaseBytes: Int64
    /// Live documents in all collections.
    public let documentCount: Int
    /// The last applied (and durable) index.
    public let appliedIndex: UInt64
}

/// A Prometheus-style histogram of batch sizes with cumulative buckets `le` 1, 2, 4, ..., 1024.
public struct BatchSizeHistogram: Sendable, Equatable {
    /// The bucket bounds: 1, 2, 4, ..., 1024 (the implicit `+Inf` bucket is ``count``).
    public static let upperBounds: [Int] = (0...10).map { 1 << $0 }

    /// `cumulativeCounts[i]` = batches with at most `upperBounds[i]` commands.
    public let cumulativeCounts: [UInt64]
    /// Total commands over all batches.
    public let sum: UInt64
    /// Number of batches.
    public let count: UInt64
}

/// Counters the committer updates once per batch.
struct CommitCounters {
    var batchesCommitted: UInt64 = 0
    var commandsCommitted: UInt64 = 0
    var batchesFailed: UInt64 = 0
    var commandsFailed: UInt64 = 0
    /// Non-cumulative: `bucketCounts[i]` counts batches in (bound[i-1], bound[i]]; the last
    /// slot counts batches above 1024.
    var bucketCounts = [UInt64](repeating: 0, count: BatchSizeHistogram.upperBounds.count + 1)

    mutating func recordCommit(size: Int) {
        batchesCommitted += 1
        commandsCommitted += UInt64(size)
        var slot = 0
        while slot < BatchSizeHistogram.upperBounds.count && size > BatchSizeHistogram.upperBounds[slot] { slot += 1 }
        bucketCounts[slot] += 1
    }

    mutating func recordFailure(size: Int) {
        batchesFailed += 1
        commandsFailed += UInt64(size)
    }

    var histogram: BatchSizeHistogram {
        var running: UInt64 = 0
        var cumulative: [UInt64] = []
        for slot in BatchSizeHistogram.upperBounds.indices {
            running += bucketCounts[slot]
            cumulative.append(running)
        }
        return BatchSizeHistogram(cumulativeCounts: cumulative, sum: commandsCommitted, count: batchesCommitted)
    }
}
