/// Sliding-window response-time measurements in bounded memory: a ring of per-second buckets
/// and a ring of per-minute buckets.
///
/// Time is whole monotonic seconds chosen by the caller (no clock here). Every observation goes
/// into its second's bucket and its minute's bucket; a bucket holds the request counts per
/// kind, the timeouts, the sum of latencies and a 173-bin log-scale histogram (`Histogram`).
/// A slot is reset when a newer second/minute reuses it, so gaps without traffic read as empty;
/// an observation older than its ring can hold is dropped.
///
/// Memory: `(fineSeconds + coarseMinutes) × 740` bytes of bucket storage (48 bytes of counters
/// and 173 × 4 bytes of histogram per bucket), allocated in `init` and never grown:
/// 133,940 bytes for the defaults (120 + 61 buckets), plus two small array headers each.
///
/// A value type: the owner (the Load Manager) serializes `record` and `stats` itself.
public struct LatencyWindows: Sendable {
    /// Seconds held by the per-second ring.
    public let fineSeconds: Int
    /// Minutes held by the per-minute ring.
    public let coarseMinutes: Int
    private(set) var fine: Ring
    private(set) var coarse: Ring

    /// Bytes of storage per bucket: counters plus histogram.
    public static let bytesPerBucket = MemoryLayout<Ring.Tally>.stride + Histogram.binCount * MemoryLayout<UInt32>.stride
    /// Latencies above this are recorded as this (they land in the last histogram bin anyway).
    public static let maximumLatencySeconds = 86_400.0

    /// Allocates both rings. Traps unless both sizes are >= 1 (a programming error).
    public init(fineSeconds: Int = 120, coarseMinutes: Int = 61) {
        precondition(fineSeconds >= 1 && coarseMinutes >= 1, "LatencyWindows needs at least one bucket per ring")
        self.fineSeconds = fineSeconds
        self.coarseMinutes = coarseMinutes
        fine = Ring(slots: fineSeconds)
        coarse = Ring(slots: coarseMinutes)
    }

    /// Bytes of bucket storage held (constant: `(fineSeconds + coarseMinutes) × bytesPerBucket`).
    public var storageBytes: Int { fine.storageBytes + coarse.storageBytes }

    /// The longest window `stats` measures in full at every `now`: the fine ring, or the coarse
    /// ring less the partly elapsed current minute.
    public var longestWindowSeconds: Int { max(fineSeconds, (coarseMinutes - 1) * 60) }

    /// Records one finished request that completed during `second`.
    ///
    /// `latency` is its response time in seconds; NaN and negative values count as 0 and values
    /// above `maximumLatencySeconds` as that. `timedOut` marks a request that hit its deadline
    /// (record it with the time it was given).
    public mutating func record(second: UInt64, seconds latency: Double, kind: RequestKind, timedOut: Bool) {
        let seconds = latency.isNaN || latency < 0 ? 0 : min(latency, Self.maximumLatencySeconds)
        let bin = Histogram.bin(for: seconds)
        fine.record(unit: second, seconds: seconds, bin: bin, kind: kind, timedOut: timedOut)
        coarse.record(unit: second / 60, seconds: seconds, bin: bin, kind: kind, timedOut: timedOut)
    }

    /// Statistics over the last `windowSeconds` seconds up to and including `now`.
    ///
    /// A window of at most `fineSeconds` is exact (per-second buckets). A longer one uses the
    /// per-minute buckets of every minute that overlaps it, so it covers between `windowSeconds`
    /// and `windowSeconds + 59` seconds, and at most `coarseMinutes` minutes (a longer window is
    /// cut to what the ring holds). `windowSeconds <= 0` gives empty statistics.
    public func stats(windowSeconds: Int, now: UInt64) -> WindowStats {
        var totals = Totals()
        var histogram = [UInt64](repeating: 0, count: Histogram.binCount)
        if let (useFine, units) = span(windowSeconds: windowSeconds, now: now) {
            let ring = useFine ? fine : coarse
            ring.add(units: units, into: &totals)
            ring.addHistograms(units: units, into: &histogram)
        }
        return WindowStats(windowSeconds: windowSeconds, totals: totals, histogram: histogram)
    }

    /// The counters of `stats` without the histogram (cheap: what the policy engine reads).
    func totals(windowSeconds: Int, now: UInt64) -> Totals {
        var totals = Totals()
        if let (useFine, units) = span(windowSeconds: windowSeconds, now: now) {
            (useFine ? fine : coarse).add(units: units, into: &totals)
        }
        return totals
    }

    /// Which ring, and which of its units, a window reads.
    private func span(windowSeconds: Int, now: UInt64) -> (fine: Bool, units: ClosedRange<UInt64>)? {
        guard windowSeconds > 0 else { return nil }
        let back = UInt64(windowSeconds - 1)
        let firstSecond = now >= back ? now - back : 0
        if windowSeconds <= fineSeconds { return (true, firstSecond...now) }
        let lastMinute = now / 60
        let oldestHeld = lastMinute - min(lastMinute, UInt64(coarseMinutes - 1))
        return (false, max(firstSecond / 60, oldestHeld)...lastMinute)
    }
}
