import JSON
import Scaling

/// The last ten minutes of measured load, one sample per second, for the console's charts
/// (docs/ARCHITECTURE.md, "Console").
///
/// A bounded ring: `capacity` samples (600 by default), the oldest overwritten. Samples are
/// taken from `LatencyWindows`' per-second ring after each second has ended (`catchUp`, driven
/// once a second by `LoadMeasurement.sampleHistory`), so a second is sampled once and never
/// changes after. Memory: `capacity` samples of four `WindowStats` each (about 0.4 MB for the
/// default). A value type without a clock: the caller says which second it is and when each
/// one ended; `LoadMeasurement` serializes access.
public struct LoadHistory: Sendable {
    /// One second of load: when it ended (wall clock, ms since the epoch) and the statistics
    /// of the requests answered in it, overall and per class.
    public struct Sample: Sendable {
        public let second: UInt64
        public let endedAtMilliseconds: Int64
        public let all: WindowStats
        public let byKind: [RequestKind: WindowStats]
    }

    public static let defaultCapacity = 600

    public let capacity: Int
    private var samples: [Sample] = []
    /// Index of the oldest sample once the ring is full.
    private var head = 0
    /// The last second sampled (nil before the first).
    private(set) var lastSecond: UInt64?

    public init(capacity: Int = Self.defaultCapacity) {
        precondition(capacity >= 1, "LoadHistory needs room for one sample")
        self.capacity = capacity
        samples.reserveCapacity(capacity)
    }

    /// Samples held (at most `capacity`).
    public var count: Int { samples.count }

    /// Samples each second before `current` (the second under way) that has not been sampled
    /// yet and that the per-second rings still hold (`all.fineSeconds` back at most; older
    /// seconds are skipped). `endedAt` gives the wall-clock time (ms) at which a second ended.
    public mutating func catchUp(before current: UInt64, all: LatencyWindows, byKind: [RequestKind: LatencyWindows],
                                 endedAt: (UInt64) -> Int64) {
        let held = UInt64(max(1, all.fineSeconds - 1))
        let oldest = current > held ? current - held : 0
        let first = max(lastSecond.map { $0 + 1 } ?? 0, oldest)
        guard first < current else { return }
        for second in first..<current {
            var stats: [RequestKind: WindowStats] = [:]
            for (kind, windows) in byKind { stats[kind] = windows.stats(windowSeconds: 1, now: second) }
            append(Sample(second: second, endedAtMilliseconds: endedAt(second), all: all.stats(windowSeconds: 1, now: second),
                          byKind: stats))
        }
    }

    mutating func append(_ sample: Sample) {
        lastSecond = sample.second
        if samples.count < capacity {
            samples.append(sample)
        } else {
            samples[head] = sample
            head = (head + 1) % capacity
        }
    }

    /// The samples that ended after `afterMilliseconds`, oldest first.
    public func samples(after afterMilliseconds: Int64) -> [Sample] {
        let ordered = samples.count < capacity ? samples : Array(samples[head...] + samples[..<head])
        return ordered.filter { $0.endedAtMilliseconds > afterMilliseconds }
    }
}

extension LoadHistory.Sample {
    /// `{"at": ms, "all": {...}, "read": {...}, ...}`; a class without requests in that second
    /// is left out (and `all` is `{"requests": 0}`).
    public var json: JSON {
        var fields: [(String, JSON)] = [("at", .int(endedAtMilliseconds)), ("all", Self.compact(all))]
        for kind in RequestKind.allCases {
            if let stats = byKind[kind], stats.requests > 0 { fields.append((kind.rawValue, Self.compact(stats))) }
        }
        return .object(fields)
    }

    private static func compact(_ stats: WindowStats) -> JSON {
        guard stats.requests > 0 else { return .object([("requests", .int(0))]) }
        return .object([
            ("requests", .int(stats.requests)), ("reads", .int(stats.reads)), ("writes", .int(stats.writes)),
            ("queries", .int(stats.queries)), ("timeouts", .int(stats.timeouts)),
            ("average_seconds", .double(stats.averageSeconds)), ("p50_seconds", .double(stats.p50)),
            ("p95_seconds", .double(stats.p95)), ("p99_seconds", .double(stats.p99)),
        ])
    }
}
