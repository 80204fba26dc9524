import JSON
import Scaling

/// The last ten minutes of measured load, one sample per second, for the console's charts
/// (docs/ARCHITECTURE.md, "Console").
///
/// A bounded ring: `capacity` samples (600 by default), the oldest overwritten. Samples are
/// taken from `LatencyWindows`' per-second ring after each second has ended (see
/// `LoadMeasurement.sampleHistory`), so a second is sampled once and never changes after.
/// Memory: `capacity` samples of four `WindowStats` each (about 0.4 MB for the default).
/// A value type: `LoadMeasurement` serializes access.
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
