/// The read/write character of the traffic, which decides how to scale up.
public enum WorkloadClass: String, Sendable, CaseIterable {
    case balanced
    /// (reads + queries) / requests entered the read band: scale out with replicas.
    case readIntensive = "read_intensive"
    /// writes / requests entered the write band: scale the leader up.
    case writeIntensive = "write_intensive"

    /// The class after observing the given fractions, with hysteresis: a class is entered at
    /// `fraction >= enter` and kept while `fraction >= leave`; leaving one class may enter the
    /// other directly. (With a validated policy the two bands never both apply.)
    public func next(readFraction: Double, writeFraction: Double, policy: ScalingPolicy) -> WorkloadClass {
        switch self {
        case .readIntensive where readFraction >= policy.readIntensiveLeave: return .readIntensive
        case .writeIntensive where writeFraction >= policy.writeIntensiveLeave: return .writeIntensive
        default: break
        }
        if readFraction >= policy.readIntensiveEnter { return .readIntensive }
        if writeFraction >= policy.writeIntensiveEnter { return .writeIntensive }
        return .balanced
    }
}
