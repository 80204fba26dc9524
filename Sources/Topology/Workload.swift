/// What the Load Managers measure about the traffic (DESIGN §7).
public struct Workload: Sendable, Equatable {
    /// Share of requests that are reads, 0...1; nil while unknown.
    public var readFraction: Double?

    public init(readFraction: Double? = nil) { self.readFraction = readFraction }
}
