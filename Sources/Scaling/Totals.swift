/// Additive counters over a window (no histogram); what the policy engine reads.
struct Totals: Sendable, Equatable {
    var sumSeconds: Double = 0
    var timeouts = 0
    var reads = 0
    var writes = 0
    var queries = 0

    var requests: Int { reads + writes + queries }
    var averageSeconds: Double { requests > 0 ? sumSeconds / Double(requests) : 0 }
    var timeoutRate: Double { requests > 0 ? Double(timeouts) / Double(requests) : 0 }
    var readFraction: Double { requests > 0 ? Double(reads + queries) / Double(requests) : 0 }
    var writeFraction: Double { requests > 0 ? Double(writes) / Double(requests) : 0 }

    /// `self` minus a window it contains (counts clamp at 0).
    func subtracting(_ other: Totals) -> Totals {
        Totals(
            sumSeconds: max(0, sumSeconds - other.sumSeconds), timeouts: max(0, timeouts - other.timeouts),
            reads: max(0, reads - other.reads), writes: max(0, writes - other.writes),
            queries: max(0, queries - other.queries))
    }
}
