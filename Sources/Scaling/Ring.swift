/// A ring of time buckets (one per second or one per minute) reused as time advances.
///
/// Slot `unit % slots` holds unit `unit`; a slot is reset when a newer unit claims it, and an
/// observation for a unit older than the one its slot holds (more than `slots` units in the
/// past) is dropped. Storage is allocated once in `init` and never grows.
struct Ring: Sendable {
    /// The scalar counters of one bucket; `unit` says which second/minute it holds.
    struct Tally: Sendable {
        static let vacant = UInt64.max
        var unit: UInt64 = vacant
        var sumSeconds: Double = 0
        var timeouts: Int = 0
        var reads: Int = 0
        var writes: Int = 0
        var queries: Int = 0
    }

    private(set) var tallies: [Tally]
    /// `slots × Histogram.binCount` counts, slot-major.
    private(set) var bins: [UInt32]

    init(slots: Int) {
        tallies = Array(repeating: Tally(), count: slots)
        bins = Array(repeating: 0, count: slots * Histogram.binCount)
    }

    var slots: Int { tallies.count }

    /// Bytes held by the two arrays' elements (constant for a ring's life).
    var storageBytes: Int {
        tallies.count * MemoryLayout<Tally>.stride + bins.count * MemoryLayout<UInt32>.stride
    }

    mutating func record(unit: UInt64, seconds: Double, bin: Int, kind: RequestKind, timedOut: Bool) {
        let slot = Int(unit % UInt64(tallies.count))
        let held = tallies[slot].unit
        if held != unit {
            if held != Tally.vacant, held > unit { return }
            tallies[slot] = Tally(unit: unit)
            let base = slot * Histogram.binCount
            for index in base..<(base + Histogram.binCount) { bins[index] = 0 }
        }
        tallies[slot].sumSeconds += seconds
        if timedOut { tallies[slot].timeouts += 1 }
        switch kind {
        case .read: tallies[slot].reads += 1
        case .write: tallies[slot].writes += 1
        case .query: tallies[slot].queries += 1
        }
        let index = slot * Histogram.binCount + bin
        if bins[index] < UInt32.max { bins[index] += 1 }
    }

    /// Adds the counters of the buckets of `units` (at most `slots` of them) to `totals`.
    func add(units: ClosedRange<UInt64>, into totals: inout Totals) {
        for unit in units {
            let tally = tallies[Int(unit % UInt64(tallies.count))]
            guard tally.unit == unit else { continue }
            totals.sumSeconds += tally.sumSeconds
            totals.timeouts += tally.timeouts
            totals.reads += tally.reads
            totals.writes += tally.writes
            totals.queries += tally.queries
        }
    }

    /// Adds the histograms of the buckets of `units` to `histogram` (`Histogram.binCount` counts).
    func addHistograms(units: ClosedRange<UInt64>, into histogram: inout [UInt64]) {
        for unit in units {
            let slot = Int(unit % UInt64(tallies.count))
            guard tallies[slot].unit == unit else { continue }
            let base = slot * Histogram.binCount
            for bin in 0..<Histogram.binCount { histogram[bin] += UInt64(bins[base + bin]) }
        }
    }
}
