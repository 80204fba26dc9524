/// Where to split a shard, from the requests counted per bucket (docs/ARCHITECTURE.md,
/// "Choosing the split point").
///
/// The new shard's first bucket is the boundary that best balances the load of the two
/// halves (`|left - right| / total` smallest); with no load measured, the middle of the
/// range. A bucket that carries about half of the load or more, when no boundary balances
/// the halves, is a hot spot a split cannot divide (a hot document): the chooser refuses and
/// says which bucket.
public enum SplitPoint {
    public enum Choice: Sendable, Equatable {
        /// Split here (the new shard's first bucket); `balance` is `|left - right| / total`
        /// (0 when there was no load to balance).
        case at(bucket: Int, balance: Double)
        /// One bucket carries `share` of the range's load: splitting cannot help.
        case hotBucket(bucket: Int, share: Double)
        /// The range has a single bucket.
        case tooSmall
    }

    /// Share of the load from which one bucket is called hot...
    public static let hotShare = 0.45
    /// ...when even the best boundary leaves the halves this unbalanced (`|l - r| / total`).
    public static let unbalanced = 0.1

    /// `counts[b]` is the load of bucket `b` (missing buckets count 0).
    public static func choose(range: ClosedRange<Int>, counts: (Int) -> UInt64) -> Choice {
        guard range.count >= 2 else { return .tooSmall }
        var total: UInt64 = 0
        var hottest = (bucket: range.lowerBound, load: UInt64(0))
        for bucket in range {
            let load = counts(bucket)
            total += load
            if load > hottest.load { hottest = (bucket, load) }
        }
        guard total > 0 else {
            return .at(bucket: range.lowerBound + range.count / 2, balance: 0)
        }
        // Candidate boundary b: left = buckets < b, right = buckets >= b.
        var left: UInt64 = 0
        var best = (bucket: range.lowerBound + 1, imbalance: UInt64.max)
        for bucket in (range.lowerBound + 1)...range.upperBound {
            left += counts(bucket - 1)
            let right = total - left
            let imbalance = left > right ? left - right : right - left
            if imbalance < best.imbalance { best = (bucket, imbalance) }
        }
        let balance = Double(best.imbalance) / Double(total)
        let share = Double(hottest.load) / Double(total)
        // One bucket with about half the load or more, that no boundary balances: splitting
        // only moves the hot spot. (Two hot buckets, or one beside as much other load, do split.)
        if share >= hotShare && balance >= unbalanced { return .hotBucket(bucket: hottest.bucket, share: share) }
        return .at(bucket: best.bucket, balance: balance)
    }
}
