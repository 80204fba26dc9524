/// Request counts per data bucket (1...1000) over the last `minutes` minutes, in per-minute
/// rings: which buckets are hot, as evidence for a split.
///
/// Time is whole monotonic minutes chosen by the caller. A minute's slot is reset when a newer
/// minute reuses it; a record for a minute older than the ring holds is dropped.
///
/// Memory: `minutes × 1000 × 4` bytes of counts plus `minutes × 8` bytes of slot stamps,
/// allocated in `init`: 240,480 bytes for the default 60 minutes. A count saturates at
/// `UInt32.max` per bucket and minute.
public struct BucketCounts: Sendable {
    /// Data buckets are numbered 1...bucketCount.
    public static let bucketCount = 1000
    /// Minutes held by the ring.
    public let minutes: Int
    private var stamps: [UInt64]
    private var tallies: [UInt32]

    private static let vacant = UInt64.max

    /// Traps unless `minutes >= 1` (a programming error).
    public init(minutes: Int = 60) {
        precondition(minutes >= 1, "BucketCounts needs at least one minute")
        self.minutes = minutes
        stamps = Array(repeating: Self.vacant, count: minutes)
        tallies = Array(repeating: 0, count: minutes * Self.bucketCount)
    }

    /// Bytes of storage held (constant).
    public var storageBytes: Int {
        stamps.count * MemoryLayout<UInt64>.stride + tallies.count * MemoryLayout<UInt32>.stride
    }

    /// Counts one request for `bucket` during `minute`; buckets outside 1...1000 are ignored.
    public mutating func record(bucket: Int, minute: UInt64) {
        guard (1...Self.bucketCount).contains(bucket) else { return }
        let slot = Int(minute % UInt64(minutes))
        if stamps[slot] != minute {
            if stamps[slot] != Self.vacant, stamps[slot] > minute { return }
            stamps[slot] = minute
            let base = slot * Self.bucketCount
            for index in base..<(base + Self.bucketCount) { tallies[index] = 0 }
        }
        let index = slot * Self.bucketCount + bucket - 1
        if tallies[index] < UInt32.max { tallies[index] += 1 }
    }

    /// Requests per bucket over the last `minutes` minutes up to and including minute `now`:
    /// 1000 entries, index 0 = bucket 1.
    public func counts(now: UInt64) -> [Int] {
        var result = [Int](repeating: 0, count: Self.bucketCount)
        let first = now - min(now, UInt64(minutes - 1))
        for minute in first...now {
            let slot = Int(minute % UInt64(minutes))
            guard stamps[slot] == minute else { continue }
            let base = slot * Self.bucketCount
            for index in 0..<Self.bucketCount { result[index] += Int(tallies[base + index]) }
        }
        return result
    }

    /// The `n` busiest buckets over the same window as `counts`, busiest first (ties: lower
    /// bucket first); buckets without requests are never listed, so fewer than `n` may come back.
    public func top(_ n: Int, now: UInt64) -> [(bucket: Int, count: Int)] {
        guard n > 0 else { return [] }
        let ranked = counts(now: now).enumerated()
            .filter { $0.element > 0 }
            .map { (bucket: $0.offset + 1, count: $0.element) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.bucket < $1.bucket }
        return Array(ranked.prefix(n))
    }
}
