/// When the Load Manager recommends scaling (DESIGN §7); call `validate()` before handing one to
/// `ScalingPolicyEngine.evaluate`.
///
/// Durations are whole seconds, thresholds are seconds of mean response time or fractions.
/// The defaults are the design's: up when the mean exceeds 3 s over 60 min or timeouts exceed
/// 1 % over 5 min, down when the mean is under 0.5 s over 60 min; fast up (60 s sustain),
/// slow down (15 min sustain); one recommendation per 10 min; no scale-in within 30 min of a
/// scale-up.
public struct ScalingPolicy: Sendable, Equatable {
    /// Scale up when the mean response time over `upAverageWindowSeconds` is above this.
    public var upAverageSeconds: Double = 3.0
    public var upAverageWindowSeconds: Int = 3600
    /// ... or when timeouts / requests over `upTimeoutWindowSeconds` is above this (0 < rate < 1).
    public var upTimeoutRate: Double = 0.01
    public var upTimeoutWindowSeconds: Int = 300
    /// Scale down when the mean response time over `downAverageWindowSeconds` is below this
    /// (and below `upAverageSeconds`).
    public var downAverageSeconds: Double = 0.5
    public var downAverageWindowSeconds: Int = 3600
    /// The up condition must hold continuously this long before a scale-up.
    public var sustainUpSeconds: Int = 60
    /// The down condition must hold continuously this long before a scale-down (>= sustainUpSeconds).
    public var sustainDownSeconds: Int = 900
    /// After any recommendation, no other one for this long (>= 1).
    public var cooldownSeconds: Int = 600
    /// After a scale-up recommendation, no scale-down for this long.
    public var downCooldownSeconds: Int = 1800
    /// The short window compared with the rest of the up-average window to detect a surge.
    public var surgeWindowSeconds: Int = 10
    /// Surge when the short window's mean is above this many times the rest's mean (> 1) ...
    public var surgeFactor: Double = 4.0
    /// ... and above this absolute floor (>= 0), so jitter around a millisecond is no surge.
    public var surgeMinimumSeconds: Double = 0.25
    /// Read-intensive when (reads + queries) / requests >= enter; stays until it drops below leave.
    public var readIntensiveEnter: Double = 0.80
    public var readIntensiveLeave: Double = 0.70
    /// Write-intensive when writes / requests >= enter; stays until it drops below leave.
    public var writeIntensiveEnter: Double = 0.80
    public var writeIntensiveLeave: Double = 0.70
    /// A window with fewer requests than this decides nothing (>= 1).
    public var minimumRequests: Int = 100
    /// Never recommend remove_node while live nodes <= this (>= 3: a 3-voter quorum).
    public var minimumNodes: Int = 3

    /// Upper bound on every duration (7 days), so window arithmetic stays far from overflow.
    public static let maximumSeconds = 604_800

    public init() {}

    /// Throws `.invalidPolicy` naming the first field (snake_case key) out of range.
    ///
    /// Rules: windows in 1...maximumSeconds, the surge window shorter than the up-average
    /// window; sustains, cooldowns in 0...maximumSeconds with `sustain_down >= sustain_up` and
    /// `cooldown >= 1`; `0 < down_average < up_average`; `0 < up_timeout_rate < 1`;
    /// `surge_factor > 1`; `surge_minimum >= 0`; each band `0 < leave < enter <= 1` with
    /// `enter > 0.5`, and one class's leave plus the other's enter above 1 (so the classes
    /// never overlap); `minimum_requests >= 1`; `minimum_nodes >= 3`.
    public func validate() throws(ScalingError) {
        for (key, value) in [
            ("up_average_window_seconds", upAverageWindowSeconds), ("up_timeout_window_seconds", upTimeoutWindowSeconds),
            ("down_average_window_seconds", downAverageWindowSeconds), ("surge_window_seconds", surgeWindowSeconds),
        ] where !(1...Self.maximumSeconds).contains(value) {
            throw .invalidPolicy("\(key) must be in 1...\(Self.maximumSeconds), got \(value)")
        }
        for (key, value) in [
            ("sustain_up_seconds", sustainUpSeconds), ("sustain_down_seconds", sustainDownSeconds),
            ("cooldown_seconds", cooldownSeconds), ("down_cooldown_seconds", downCooldownSeconds),
        ] where !(0...Self.maximumSeconds).contains(value) {
            throw .invalidPolicy("\(key) must be in 0...\(Self.maximumSeconds), got \(value)")
        }
        guard surgeWindowSeconds < upAverageWindowSeconds else {
            throw .invalidPolicy(
                "surge_window_seconds (\(surgeWindowSeconds)) must be shorter than up_average_window_seconds (\(upAverageWindowSeconds))")
        }
        guard sustainDownSeconds >= sustainUpSeconds else {
            throw .invalidPolicy("sustain_down_seconds (\(sustainDownSeconds)) must be >= sustain_up_seconds (\(sustainUpSeconds))")
        }
        guard cooldownSeconds >= 1 else { throw .invalidPolicy("cooldown_seconds must be >= 1, got \(cooldownSeconds)") }
        guard upAverageSeconds.isFinite, upAverageSeconds > 0 else {
            throw .invalidPolicy("up_average_seconds must be > 0, got \(upAverageSeconds)")
        }
        guard downAverageSeconds.isFinite, downAverageSeconds > 0, downAverageSeconds < upAverageSeconds else {
            throw .invalidPolicy("down_average_seconds must be > 0 and < up_average_seconds (\(upAverageSeconds)), got \(downAverageSeconds)")
        }
        guard upTimeoutRate > 0, upTimeoutRate < 1 else {
            throw .invalidPolicy("up_timeout_rate must be > 0 and < 1, got \(upTimeoutRate)")
        }
        guard surgeFactor.isFinite, surgeFactor > 1 else { throw .invalidPolicy("surge_factor must be > 1, got \(surgeFactor)") }
        guard surgeMinimumSeconds.isFinite, surgeMinimumSeconds >= 0 else {
            throw .invalidPolicy("surge_minimum_seconds must be >= 0, got \(surgeMinimumSeconds)")
        }
        for (name, enter, leave) in [
            ("read_intensive", readIntensiveEnter, readIntensiveLeave), ("write_intensive", writeIntensiveEnter, writeIntensiveLeave),
        ] {
            guard enter > 0.5, enter <= 1 else { throw .invalidPolicy("\(name)_enter must be > 0.5 and <= 1, got \(enter)") }
            guard leave > 0, leave < enter else {
                throw .invalidPolicy("\(name)_leave must be > 0 and < \(name)_enter (\(enter)), got \(leave)")
            }
        }
        guard readIntensiveLeave + writeIntensiveEnter > 1, writeIntensiveLeave + readIntensiveEnter > 1 else {
            throw .invalidPolicy("read/write bands overlap: each class's leave plus the other's enter must be > 1")
        }
        guard minimumRequests >= 1 else { throw .invalidPolicy("minimum_requests must be >= 1, got \(minimumRequests)") }
        guard minimumNodes >= 3 else { throw .invalidPolicy("minimum_nodes must be >= 3, got \(minimumNodes)") }
    }

    /// `validate()`, and also that `windows` measures every window of this policy in full
    /// (each at most `windows.longestWindowSeconds`; 3600 for the default rings).
    public func validate(for windows: LatencyWindows) throws(ScalingError) {
        try validate()
        for (key, value) in [
            ("up_average_window_seconds", upAverageWindowSeconds), ("up_timeout_window_seconds", upTimeoutWindowSeconds),
            ("down_average_window_seconds", downAverageWindowSeconds), ("surge_window_seconds", surgeWindowSeconds),
        ] where value > windows.longestWindowSeconds {
            throw .invalidPolicy("\(key) (\(value)) is longer than the measurement windows hold (\(windows.longestWindowSeconds) s)")
        }
    }
}
