/// The window figures one evaluation reads, taken from `LatencyWindows` at `now`.
///
/// `long` and `surge` are plain windows (classification and surge detection). The deciding
/// windows (`up`, `timeouts`, `down`) start no earlier than `origin` — the last recommendation
/// or the end of the last surge — so a decision rests only on what was measured since.
struct Measurements {
    /// The up-average window, unclipped.
    let long: Totals
    /// The surge window and the rest of the up-average window before it.
    let surge: Totals
    let baseline: Totals
    /// Deciding windows and their lengths in seconds after clipping.
    let up: Totals
    let upSeconds: Int
    let timeouts: Totals
    let timeoutSeconds: Int
    let down: Totals
    let downSeconds: Int

    /// Surge detection and classification only (they do not depend on the origin).
    struct Unclipped {
        let long: Totals
        let surge: Totals
        let baseline: Totals

        init(windows: LatencyWindows, now: UInt64, policy: ScalingPolicy) {
            long = windows.totals(windowSeconds: policy.upAverageWindowSeconds, now: now)
            surge = windows.totals(windowSeconds: policy.surgeWindowSeconds, now: now)
            baseline = long.subtracting(surge)
        }

        /// The short window's mean is far above the rest's and above the absolute floor. Without
        /// earlier requests to compare with (a cold start) there is no surge.
        func surging(_ policy: ScalingPolicy) -> Bool {
            surge.requests > 0 && baseline.requests > 0 && surge.averageSeconds > policy.surgeMinimumSeconds
                && surge.averageSeconds > policy.surgeFactor * baseline.averageSeconds
        }
    }

    init(windows: LatencyWindows, now: UInt64, origin: UInt64?, unclipped: Unclipped, policy: ScalingPolicy) {
        func clipped(_ window: Int) -> Int {
            guard let origin else { return window }
            return Int(min(UInt64(window), now > origin ? now - origin : 0))
        }
        long = unclipped.long
        surge = unclipped.surge
        baseline = unclipped.baseline
        upSeconds = clipped(policy.upAverageWindowSeconds)
        up = windows.totals(windowSeconds: upSeconds, now: now)
        timeoutSeconds = clipped(policy.upTimeoutWindowSeconds)
        timeouts = windows.totals(windowSeconds: timeoutSeconds, now: now)
        downSeconds = clipped(policy.downAverageWindowSeconds)
        down = windows.totals(windowSeconds: downSeconds, now: now)
    }

    /// The mean is above `upAverageSeconds` with enough requests.
    func averageHigh(_ policy: ScalingPolicy) -> Bool {
        up.requests >= policy.minimumRequests && up.averageSeconds > policy.upAverageSeconds
    }

    /// The timeout rate is above `upTimeoutRate` with enough requests.
    func timeoutsHigh(_ policy: ScalingPolicy) -> Bool {
        timeouts.requests >= policy.minimumRequests && timeouts.timeoutRate > policy.upTimeoutRate
    }

    /// The mean is below `downAverageSeconds` with enough requests.
    func averageLow(_ policy: ScalingPolicy) -> Bool {
        down.requests >= policy.minimumRequests && down.averageSeconds < policy.downAverageSeconds
    }
}
