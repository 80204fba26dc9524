import JSON
import Scaling
import Sync
import Synchronization

/// What the Load Manager measures about the client requests it answers (DESIGN §7): per
/// route class (read, write, query) and overall, response times and timeouts over sliding
/// windows (per-second buckets for two minutes, per-minute ones for an hour: bounded memory),
/// the read/write mix, and requests per data bucket (for split points).
///
/// Thread-safe; `record` is called once per answered client request.
public final class LoadMeasurement: Sendable {
    private struct State {
        var all = LatencyWindows()
        var byKind: [RequestKind: LatencyWindows] = Dictionary(uniqueKeysWithValues: RequestKind.allCases.map { ($0, LatencyWindows()) })
        var buckets = BucketCounts()
        var history = LoadHistory()
    }

    private let state = Mutex(State())
    /// Monotonic time of creation: windows count seconds from here.
    private let origin = monotonicNanoseconds()

    public init() {}

    /// Seconds since this measurement started (the windows' clock).
    public var now: UInt64 { (monotonicNanoseconds() - origin) / 1_000_000_000 }

    /// Records one answered request: its class, latency, whether it timed out (504, or a 503
    /// write-timeout) and the data bucket it touched (nil for none or several).
    public func record(kind: RequestKind, seconds: Double, timedOut: Bool, bucket: Int?) {
        let second = now
        state.withLock { state in
            state.all.record(second: second, seconds: seconds, kind: kind, timedOut: timedOut)
            state.byKind[kind]?.record(second: second, seconds: seconds, kind: kind, timedOut: timedOut)
            if let bucket { state.buckets.record(bucket: bucket, minute: second / 60) }
        }
    }

    /// A copy of the overall windows (for the scaling policy).
    public var overall: LatencyWindows { state.withLock { $0.all } }

    /// Statistics over `windowSeconds` for every class and overall.
    public func stats(windowSeconds: Int) -> (all: WindowStats, byKind: [RequestKind: WindowStats]) {
        let second = now
        return state.withLock { state in
            var byKind: [RequestKind: WindowStats] = [:]
            for (kind, windows) in state.byKind { byKind[kind] = windows.stats(windowSeconds: windowSeconds, now: second) }
            return (state.all.stats(windowSeconds: windowSeconds, now: second), byKind)
        }
    }

    /// Requests per data bucket over the last hour: 1000 entries, index 0 = bucket 1.
    public func bucketCounts() -> [Int] {
        let minute = now / 60
        return state.withLock { $0.buckets.counts(now: minute) }
    }

    /// Appends a sample to the history for every second that ended since the last call (those
    /// still in the per-second ring: the last 120). Called once a second by the scaling
    /// thread and before the history is read.
    public func sampleHistory() {
        let nanoseconds = monotonicNanoseconds()
        let wall = wallClockMilliseconds()
        let second = (nanoseconds - origin) / 1_000_000_000
        let origin = self.origin
        state.withLock { state in
            state.history.catchUp(before: second, all: state.all, byKind: state.byKind) { sampled in
                wall - Int64((nanoseconds - (origin + (sampled + 1) * 1_000_000_000)) / 1_000_000)
            }
        }
    }

    /// The per-second samples that ended after `afterMilliseconds` (wall clock), oldest first,
    /// and the history's bound.
    public func history(after afterMilliseconds: Int64) -> (samples: [LoadHistory.Sample], capacity: Int) {
        sampleHistory()
        return state.withLock { ($0.history.samples(after: afterMilliseconds), $0.history.capacity) }
    }

    /// Samples held in the history now, and its bound (for `/metrics`).
    public var historyDepth: (count: Int, capacity: Int) { state.withLock { ($0.history.count, $0.history.capacity) } }

    /// The busiest data buckets over the last hour.
    public func topBuckets(_ count: Int) -> [(bucket: Int, count: Int)] {
        let minute = now / 60
        return state.withLock { $0.buckets.top(count, now: minute) }
    }

    /// The standard windows shown to people: 10 s, 1 min, 5 min, 1 h.
    public static let reportedWindows = [10, 60, 300, 3_600]

    /// `{"10": {"all": {...}, "read": {...}, ...}, ...}` plus the busiest buckets.
    public var json: JSON {
        var windows: [(String, JSON)] = []
        for window in Self.reportedWindows {
            let (all, byKind) = stats(windowSeconds: window)
            var fields: [(String, JSON)] = [("all", all.json)]
            for kind in RequestKind.allCases { if let s = byKind[kind] { fields.append((kind.rawValue, s.json)) } }
            windows.append((String(window), .object(fields)))
        }
        let top = topBuckets(10).map { JSON.object([("bucket", .int($0.bucket)), ("requests", .int($0.count))]) }
        return .object([("windows", .object(windows)), ("top_buckets", .array(top))])
    }
}
