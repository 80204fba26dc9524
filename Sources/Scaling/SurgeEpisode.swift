import JSON

/// One surge from its detection to its end, with the figures that show it (DESIGN §7): what
/// `ScalingPolicyEngine` reports, once it is over, as an informational `surge`.
///
/// Times are the caller's monotonic seconds. The figures come from the surge window and the
/// baseline (the rest of the up-average window before it), whose lengths are kept with the
/// episode so its evidence names them even if the policy changes later.
public struct SurgeEpisode: Sendable, Equatable {
    /// The first evaluation that detected it.
    public var start: UInt64
    /// The first evaluation that no longer detected it; nil while it lasts. A surge detected
    /// again before the episode is resolved continues it (`end` goes back to nil).
    public var end: UInt64?
    /// Window lengths in seconds: the surge window and the baseline before it.
    public var surgeWindowSeconds: Int
    public var baselineWindowSeconds: Int
    /// The baseline when the surge was first detected: what it rose from.
    public var baselineAverageSeconds: Double
    public var baselineRequests: Int
    /// The highest mean response time, request count and timeout rate the surge window showed
    /// while it lasted (each its own maximum, not necessarily of the same second).
    public var peakAverageSeconds: Double
    public var peakRequests: Int
    public var peakTimeoutRate: Double

    public init(
        start: UInt64, end: UInt64? = nil, surgeWindowSeconds: Int, baselineWindowSeconds: Int,
        baselineAverageSeconds: Double, baselineRequests: Int, peakAverageSeconds: Double = 0, peakRequests: Int = 0,
        peakTimeoutRate: Double = 0
    ) {
        self.start = start
        self.end = end
        self.surgeWindowSeconds = surgeWindowSeconds
        self.baselineWindowSeconds = baselineWindowSeconds
        self.baselineAverageSeconds = baselineAverageSeconds
        self.baselineRequests = baselineRequests
        self.peakAverageSeconds = peakAverageSeconds
        self.peakRequests = peakRequests
        self.peakTimeoutRate = peakTimeoutRate
    }

    /// A new episode detected at `now` with these windows.
    init(now: UInt64, surge: Totals, baseline: Totals, policy: ScalingPolicy) {
        self.init(
            start: now, surgeWindowSeconds: policy.surgeWindowSeconds,
            baselineWindowSeconds: policy.upAverageWindowSeconds - policy.surgeWindowSeconds,
            baselineAverageSeconds: baseline.averageSeconds, baselineRequests: baseline.requests)
        observe(surge)
    }

    /// Raises the peaks to what the surge window shows now.
    mutating func observe(_ surge: Totals) {
        peakAverageSeconds = max(peakAverageSeconds, surge.averageSeconds)
        peakRequests = max(peakRequests, surge.requests)
        peakTimeoutRate = max(peakTimeoutRate, surge.timeoutRate)
    }

    /// Whole seconds it was detected for; nil while it lasts.
    public var durationSeconds: Int? { end.map { ScalingPolicyEngine.elapsed(from: start, to: $0) } }

    /// The peak mean over the baseline mean; nil when the baseline mean is 0.
    public var ratio: Double? { baselineAverageSeconds > 0 ? peakAverageSeconds / baselineAverageSeconds : nil }

    /// The report's figures, keyed by figure and window length in seconds:
    /// `duration_seconds`, `peak_average_seconds_<surge>`, `peak_requests_<surge>`,
    /// `peak_timeout_rate_<surge>`, `baseline_average_seconds_<baseline>`,
    /// `baseline_requests_<baseline>` and (with a baseline mean above 0) `peak_ratio`.
    public var evidence: [String: Double] {
        var evidence: [String: Double] = [
            "duration_seconds": Double(durationSeconds ?? 0),
            "peak_average_seconds_\(surgeWindowSeconds)": peakAverageSeconds,
            "peak_requests_\(surgeWindowSeconds)": Double(peakRequests),
            "peak_timeout_rate_\(surgeWindowSeconds)": peakTimeoutRate,
            "baseline_average_seconds_\(baselineWindowSeconds)": baselineAverageSeconds,
            "baseline_requests_\(baselineWindowSeconds)": Double(baselineRequests),
        ]
        if let ratio { evidence["peak_ratio"] = ratio }
        return evidence
    }

    /// One sentence for people with the figures.
    public var reason: String {
        let baseline = Format.preciseSeconds(baselineAverageSeconds)
        let before = ratio.map { "\(Format.decimal($0, places: 1)) × the \(baseline) mean of the \(baselineWindowSeconds) s before" }
            ?? "from \(baseline) over the \(baselineWindowSeconds) s before"
        return "Surge: the mean response time over \(surgeWindowSeconds) s rose to \(Format.preciseSeconds(peakAverageSeconds)) "
            + "(\(before)) and fell back after \(durationSeconds ?? 0) s; "
            + "back pressure absorbed it, nothing to scale."
    }

    /// The episode for the admin view (engine times; `end` null while it lasts).
    public var json: JSON {
        .object([
            ("start", .int(start)),
            ("end", end.map { .int($0) } ?? .null),
            ("evidence", .object(evidence.sorted { $0.key < $1.key }.map { ($0.key, .double($0.value)) })),
        ])
    }
}
