/// The fixed log-scale bin layout shared by every latency bucket.
///
/// Bin 0 holds [0, 10 µs]; bin k in 1...171 holds (10 µs × 1.1^(k−1), 10 µs × 1.1^k]; bin 172
/// holds everything above 10 µs × 1.1^171 ≈ 119.6 s. A bin is reported by its geometric
/// midpoint (lower bound × √1.1), so a percentile read back is within 4.9 % of the true value
/// for latencies between 10 µs and 119.6 s; values above report ≈ 125 s, values below 10 µs
/// report 10 µs.
enum Histogram {
    static let binCount = 173
    static let smallest = 0.000_01
    static let growth = 1.1

    /// Upper bounds of bins 0...171 (bin 172 is unbounded), computed once.
    static let upperBounds: [Double] = {
        var bounds: [Double] = []
        bounds.reserveCapacity(binCount - 1)
        var bound = smallest
        for _ in 0..<(binCount - 1) {
            bounds.append(bound)
            bound *= growth
        }
        return bounds
    }()

    /// The bin holding `seconds` (finite and >= 0): the first bin whose upper bound is >= it.
    static func bin(for seconds: Double) -> Int {
        var low = 0
        var high = upperBounds.count
        while low < high {
            let middle = (low + high) / 2
            if seconds <= upperBounds[middle] { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// The value a percentile falling into `bin` reports.
    static func representative(of bin: Int) -> Double {
        bin == 0 ? smallest : upperBounds[bin - 1] * growth.squareRoot()
    }

    /// The `quantile` (0...1) of `histogram` (binCount counts holding `total` observations):
    /// the representative of the bin holding the observation of rank ⌈quantile × total⌉.
    /// 0 when `total` is 0.
    static func percentile(_ quantile: Double, of histogram: [UInt64], total: UInt64) -> Double {
        guard total > 0 else { return 0 }
        let wanted = (quantile * Double(total)).rounded(.up)
        let rank = UInt64(min(max(wanted, 1), Double(total)))
        var seen: UInt64 = 0
        for (bin, count) in histogram.enumerated() {
            seen += count
            if seen >= rank { return representative(of: bin) }
        }
        return representative(of: binCount - 1)
    }
}
