import Synchronization

/// What kind of work a request is, for admission, metrics and (later) scaling signals.
public enum RouteClass: String, Sendable, CaseIterable {
    case read, write, query, admin, health, `internal`, other
}

/// A cumulative histogram with fixed upper bounds (Prometheus style).
public struct Histogram: Sendable {
    public let bounds: [Double]
    public private(set) var counts: [UInt64]
    public private(set) var sum: Double = 0
    public private(set) var count: UInt64 = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count)
    }

    public mutating func observe(_ value: Double) {
        sum += value
        count += 1
        if let slot = bounds.firstIndex(where: { value <= $0 }) { counts[slot] += 1 }
    }

    /// Appends Prometheus text lines for this histogram.
    func render(name: String, labels: String, into out: inout String) {
        var cumulative: UInt64 = 0
        let prefix = labels.isEmpty ? "" : labels + ","
        for (bound, c) in zip(bounds, counts) {
            cumulative += c
            out += "\(name)_bucket{\(prefix)le=\"\(bound)\"} \(cumulative)\n"
        }
        out += "\(name)_bucket{\(prefix)le=\"+Inf\"} \(count)\n"
        let braces = labels.isEmpty ? "" : "{\(labels)}"
        out += "\(name)_sum\(braces) \(sum)\n"
        out += "\(name)_count\(braces) \(count)\n"
    }
}

/// Request metrics of one node: counts by class and status, latency histograms by class.
/// Bounded: a fixed set of classes; status codes are counted per exact code (a small, closed set).
public final class RequestMetrics: Sendable {
    static let latencyBounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private struct State {
        var latency: [RouteClass: Histogram] = Dictionary(
            uniqueKeysWithValues: RouteClass.allCases.map { ($0, Histogram(bounds: RequestMetrics.latencyBounds)) })
        var responses: [RouteClass: [Int: UInt64]] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func record(_ routeClass: RouteClass, status: Int, seconds: Double) {
        state.withLock { state in
            state.latency[routeClass]!.observe(seconds)
            state.responses[routeClass, default: [:]][status, default: 0] += 1
        }
    }

    /// Appends this node's request metrics as Prometheus text.
    public func render(into out: inout String) {
        let snapshot = state.withLock { $0 }
        out += "# HELP machdb_http_requests_total HTTP requests answered, by route class and status code.\n"
        out += "# TYPE machdb_http_requests_total counter\n"
        for routeClass in RouteClass.allCases {
            for (status, count) in (snapshot.responses[routeClass] ?? [:]).sorted(by: { $0.key < $1.key }) {
                out += "machdb_http_requests_total{class=\"\(routeClass.rawValue)\",code=\"\(status)\"} \(count)\n"
            }
        }
        out += "# HELP machdb_http_errors_total HTTP requests answered with a 4xx or 5xx status, by route class.\n"
        out += "# TYPE machdb_http_errors_total counter\n"
        for routeClass in RouteClass.allCases {
            let errors = (snapshot.responses[routeClass] ?? [:]).filter { $0.key >= 400 }.values.reduce(0, +)
            out += "machdb_http_errors_total{class=\"\(routeClass.rawValue)\"} \(errors)\n"
        }
        out += "# HELP machdb_http_request_duration_seconds Time from request head to response, by route class.\n"
        out += "# TYPE machdb_http_request_duration_seconds histogram\n"
        for routeClass in RouteClass.allCases {
            snapshot.latency[routeClass]!.render(name: "machdb_http_request_duration_seconds",
                                                 labels: "class=\"\(routeClass.rawValue)\"", into: &out)
        }
    }
}
