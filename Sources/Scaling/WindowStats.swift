import JSON

/// Request statistics over one window, as `LatencyWindows.stats` measured them.
public struct WindowStats: Sendable, Equatable {
    /// The window asked for, in seconds.
    public let windowSeconds: Int
    public let requests: Int
    public let reads: Int
    public let writes: Int
    public let queries: Int
    public let timeouts: Int
    /// Mean response time; 0 without requests.
    public let averageSeconds: Double
    /// Percentiles read from the histogram (a bin's geometric midpoint, within 4.9 % of the
    /// true value); 0 without requests.
    public let p50: Double
    public let p95: Double
    public let p99: Double
    /// timeouts / requests; 0 without requests.
    public let timeoutRate: Double
    /// (reads + queries) / requests; 0 without requests.
    public let readFraction: Double
    /// writes / requests; 0 without requests.
    public let writeFraction: Double

    init(windowSeconds: Int, totals: Totals, histogram: [UInt64]) {
        self.windowSeconds = windowSeconds
        requests = totals.requests
        reads = totals.reads
        writes = totals.writes
        queries = totals.queries
        timeouts = totals.timeouts
        averageSeconds = totals.averageSeconds
        let counted = histogram.reduce(0, +)
        p50 = Histogram.percentile(0.50, of: histogram, total: counted)
        p95 = Histogram.percentile(0.95, of: histogram, total: counted)
        p99 = Histogram.percentile(0.99, of: histogram, total: counted)
        timeoutRate = totals.timeoutRate
        readFraction = totals.readFraction
        writeFraction = totals.writeFraction
    }

    /// The statistics as shown by the admin API (snake_case keys, seconds as reals).
    public var json: JSON {
        .object([
            ("window_seconds", .int(windowSeconds)),
            ("requests", .int(requests)),
            ("reads", .int(reads)),
            ("writes", .int(writes)),
            ("queries", .int(queries)),
            ("timeouts", .int(timeouts)),
            ("average_seconds", .double(averageSeconds)),
            ("p50_seconds", .double(p50)),
            ("p95_seconds", .double(p95)),
            ("p99_seconds", .double(p99)),
            ("timeout_rate", .double(timeoutRate)),
            ("read_fraction", .double(readFraction)),
            ("write_fraction", .double(writeFraction)),
        ])
    }
}
