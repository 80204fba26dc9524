import JSON

/// The evaluator's memory between calls; the caller owns it, starts from `.init()` and passes
/// back the `state` of each `Evaluation` into the next call.
///
/// Times are the caller's monotonic seconds. Losing it (a Load Manager restart) is safe: the
/// sustain timers and the cooldown start afresh.
public struct ScalingState: Sendable, Equatable {
    /// Since when the up condition has held (outside any surge); nil when it does not hold.
    public var upSince: UInt64?
    /// Since when the down condition has held (outside any surge); nil when it does not hold.
    public var downSince: UInt64?
    /// When the last recommendation was made, and of which kind.
    public var lastRecommendation: UInt64?
    public var lastRecommendationKind: RecommendationKind?
    /// When the last scale-up recommendation was made (add_node, bigger_leader, split_shard).
    public var lastScaleUp: UInt64?
    /// The current read/write class (kept while the window has too few requests to say).
    public var workload: WorkloadClass
    /// Whether a surge is under way, since when, and when the last one ended.
    public var surging: Bool
    public var surgeSince: UInt64?
    public var surgeEnded: UInt64?
    /// The surge episode not yet resolved: under way, or ended and waiting to be reported or
    /// dropped (see `ScalingPolicyEngine`); nil when there is none.
    public var surgeEpisode: SurgeEpisode?

    public init(
        upSince: UInt64? = nil, downSince: UInt64? = nil, lastRecommendation: UInt64? = nil,
        lastRecommendationKind: RecommendationKind? = nil, lastScaleUp: UInt64? = nil,
        workload: WorkloadClass = .balanced, surging: Bool = false, surgeSince: UInt64? = nil, surgeEnded: UInt64? = nil,
        surgeEpisode: SurgeEpisode? = nil
    ) {
        self.upSince = upSince
        self.downSince = downSince
        self.lastRecommendation = lastRecommendation
        self.lastRecommendationKind = lastRecommendationKind
        self.lastScaleUp = lastScaleUp
        self.workload = workload
        self.surging = surging
        self.surgeSince = surgeSince
        self.surgeEnded = surgeEnded
        self.surgeEpisode = surgeEpisode
    }

    /// The state for the admin view; absent times are null.
    public var json: JSON {
        func time(_ value: UInt64?) -> JSON { value.map { .int($0) } ?? .null }
        return .object([
            ("up_since", time(upSince)),
            ("down_since", time(downSince)),
            ("last_recommendation", time(lastRecommendation)),
            ("last_recommendation_kind", lastRecommendationKind.map { .string($0.rawValue) } ?? .null),
            ("last_scale_up", time(lastScaleUp)),
            ("workload", .string(workload.rawValue)),
            ("surging", .bool(surging)),
            ("surge_since", time(surgeSince)),
            ("surge_ended", time(surgeEnded)),
            ("surge_episode", surgeEpisode?.json ?? .null),
        ])
    }
}
